package worker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/payload"
)

// metrics are the worker's Prometheus series, registered on the registry
// passed in Options (no globals).
type metrics struct {
	received         prometheus.Counter
	deleted          prometheus.Counter
	deletesAbandoned prometheus.Counter
	reReceived       prometheus.Counter
	noMatch          prometheus.Counter
	futureVersion    prometheus.Counter
	ownershipLost    prometheus.Counter
	heartbeats       prometheus.Counter
	retries          prometheus.Counter
	released         prometheus.Counter
	halved           prometheus.Counter
	eventsDelivered  prometheus.Counter
	deferred         *prometheus.CounterVec
	deadLettered     *prometheus.CounterVec
	requests         *prometheus.CounterVec
	sqsErrors        *prometheus.CounterVec
	sqsCalls         *prometheus.CounterVec
	requestSeconds   prometheus.Histogram
	eventAge         prometheus.Histogram
	batchEvents      prometheus.Histogram
	queueMessages    *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hookline", Subsystem: "worker", Name: name, Help: help})
	}
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "hookline", Subsystem: "worker", Name: name, Help: help}, labels)
	}
	m := &metrics{
		received:         counter("messages_received_total", "SQS messages received."),
		deleted:          counter("messages_deleted_total", "SQS messages deleted after settling."),
		deletesAbandoned: counter("deletes_abandoned_total", "Settled messages not deleted (the delete failed until the lease ran out, or at shutdown): each is received and delivered again."),
		reReceived:       counter("messages_received_again_total", "Messages received again while in flight (lease lapsed); the new receipt handle was taken over."),
		noMatch:          counter("messages_unmatched_total", "Messages no webhook's filter selected; deleted."),
		futureVersion:    counter("envelopes_future_version_total", "Envelopes of a newer version, released without an attempt."),
		ownershipLost:    counter("ownership_lost_total", "Receipt handles SQS reported invalid; never used to delete."),
		heartbeats:       counter("visibility_extensions_total", "Visibility extensions by the heartbeat."),
		retries:          counter("retries_total", "Retry envelopes sent (FIFO: visibility delays)."),
		released:         counter("messages_released_total", "Messages released unattempted (shutdown, FIFO messages behind a retry)."),
		halved:           counter("batches_halved_total", "Batches halved after a 413."),
		eventsDelivered:  counter("events_delivered_total", "Events in accepted requests."),
		deferred:         vec("handbacks_total", "Work handed back with a short delay, not an attempt.", "cause"),
		deadLettered:     vec("dead_letters_total", "Messages copied to the DLQ.", "reason"),
		requests:         vec("requests_total", "Delivery attempts by outcome class.", "class"),
		sqsErrors:        vec("sqs_errors_total", "Failed SQS calls and batch entries.", "op"),
		sqsCalls:         vec("sqs_calls_total", "SQS API calls by operation and outcome (ok, empty receive, error).", "op", "outcome"),
		requestSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hookline", Subsystem: "worker", Name: "request_duration_seconds",
			Help: "Duration of delivery attempts.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		eventAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hookline", Subsystem: "worker", Name: "event_age_seconds",
			Help:    "End-to-end age of delivered events: the event's time_ms to the target's acceptance.",
			Buckets: []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600},
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hookline", Subsystem: "worker", Name: "batch_events",
			Help: "Events per delivery request.", Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
		queueMessages: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "hookline", Subsystem: "worker", Name: "queue_messages",
			Help: "Approximate messages in the main queue and the DLQ by state (visible, in_flight, delayed), from GetQueueAttributes every --queue-stats-interval.",
		}, []string{"queue", "state"}),
	}
	for _, c := range []prometheus.Collector{m.received, m.deleted, m.deletesAbandoned, m.reReceived, m.noMatch, m.futureVersion,
		m.ownershipLost, m.heartbeats, m.retries, m.released, m.halved, m.eventsDelivered, m.deferred,
		m.deadLettered, m.requests, m.sqsErrors, m.sqsCalls, m.requestSeconds, m.eventAge, m.batchEvents, m.queueMessages} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("worker: metrics: %w", err)
		}
	}
	// Labelled series exist from the start, at zero.
	for _, c := range []string{causeWebhookQueue, causeWebhookWait, causeShutdown} {
		m.deferred.WithLabelValues(c)
	}
	for _, r := range []string{reasonExhausted, reasonPermanent, reasonTargetRemoved, reasonAppDisabled, reasonUnknownApp,
		reasonTooLarge, payload.ReasonMalformed, payload.ReasonSockudoJob, payload.ReasonUnsupportedVersion, payload.ReasonInvalid} {
		m.deadLettered.WithLabelValues(r)
	}
	for _, op := range []string{"ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch", "SendMessageBatch", "GetQueueAttributes"} {
		for _, o := range []string{"ok", "error"} {
			m.sqsCalls.WithLabelValues(op, o)
		}
	}
	m.sqsCalls.WithLabelValues("ReceiveMessage", "empty")
	for _, c := range []delivery.Class{delivery.Delivered, delivery.Retryable, delivery.Permanent, delivery.TooLarge} {
		m.requests.WithLabelValues(c.String())
	}
	for _, op := range []string{"receive", "delete", "send", "send-dlq", "visibility", "heartbeat"} {
		m.sqsErrors.WithLabelValues(op)
	}
	for _, q := range []string{"main", "dlq"} {
		for _, st := range []string{"visible", "in_flight", "delayed"} {
			m.queueMessages.WithLabelValues(q, st)
		}
	}
	return m, nil
}
