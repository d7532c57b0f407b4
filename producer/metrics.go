package producer

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the producer's Prometheus series, registered on the registry
// passed in Options (no globals).
type metrics struct {
	eventsPublished prometheus.Counter
	eventsFailed    prometheus.Counter
	envelopesSent   prometheus.Counter
	batchCalls      prometheus.Counter
	retries         prometheus.Counter
	failedEntries   *prometheus.CounterVec
	callErrors      *prometheus.CounterVec
	sqsCalls        *prometheus.CounterVec
	buffered        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hookline", Subsystem: "producer", Name: name, Help: help})
	}
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "hookline", Subsystem: "producer", Name: name, Help: help}, labels)
	}
	m := &metrics{
		eventsPublished: counter("events_published_total", "Events SQS accepted."),
		eventsFailed:    counter("events_failed_total", "Events handed off whose send failed (their callers got a SendError)."),
		envelopesSent:   counter("envelopes_sent_total", "Envelopes (SQS messages) SQS accepted."),
		batchCalls:      counter("batch_calls_total", "SendMessageBatch calls made, retries included."),
		retries:         counter("retries_total", "Envelopes sent again after a retryable failure."),
		failedEntries:   vec("failed_entries_total", "SendMessageBatch entries SQS reported Failed, by error code.", "code"),
		callErrors:      vec("call_errors_total", "SendMessageBatch calls that failed as a whole, by error code (\"\" for network errors).", "code"),
		sqsCalls:        vec("sqs_calls_total", "SQS API calls by operation and outcome (ok, error; a call with Failed entries is ok).", "op", "outcome"),
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "hookline", Subsystem: "producer", Name: "buffer_events",
			Help: "Events handed off and not yet settled (bounded by Options.BufferEvents)."}),
	}
	for _, c := range []prometheus.Collector{m.eventsPublished, m.eventsFailed, m.envelopesSent, m.batchCalls,
		m.retries, m.failedEntries, m.callErrors, m.sqsCalls, m.buffered} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("producer: metrics: %w", err)
		}
	}
	for _, o := range []string{"ok", "error"} {
		m.sqsCalls.WithLabelValues("SendMessageBatch", o)
	}
	return m, nil
}
