package worker

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/signing"
)

// job is one request to one webhook: chunks of one or more messages. The
// delivery reads it; the engine owns it again once the result is back.
type job struct {
	app     *config.App
	hook    *config.Webhook
	queue   *hookQueue
	chunks  []*chunk
	attempt int // X-Hookline-Attempt: the highest attempt among its messages
}

// jobResult is what a delivery reports: a result for every chunk (halves
// of a chunk the target found too large are reported as chunks of their
// own).
type jobResult struct {
	job     *job
	results []chunkResult
}

type chunkResult struct {
	c *chunk
	r result
}

// bodyPool recycles request bodies: a sender never keeps a body after Send
// returns (delivery.Sender).
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// deliver sends a job and reports every chunk's result to the engine. A
// target that rejects the body as too large gets each half once.
func (w *Worker) deliver(j *job) {
	var results []chunkResult
	report := func(chunks []*chunk, r result) {
		for _, c := range chunks {
			results = append(results, chunkResult{c, r})
		}
	}
	out := w.attempt(j, j.chunks)
	switch out.Class {
	case delivery.Delivered:
		report(j.chunks, result{kind: resultDelivered, outcome: out})
	case delivery.TooLarge:
		halves := halve(j.chunks)
		if halves == nil {
			report(j.chunks, result{kind: resultDead, reason: reasonPermanent, outcome: out})
			break
		}
		w.m.halved.Inc()
		for _, h := range halves {
			o := w.attempt(j, h)
			report(h, w.classify(o, true))
		}
	default:
		report(j.chunks, w.classify(out, false))
	}
	select {
	case w.eng.results <- jobResult{job: j, results: results}:
	case <-w.eng.gone: // the grace period is over
	}
}

// classify turns an outcome other than a first TooLarge into a result.
func (w *Worker) classify(out delivery.Outcome, halved bool) result {
	switch out.Class {
	case delivery.Delivered:
		return result{kind: resultDelivered, outcome: out}
	case delivery.Permanent, delivery.TooLarge:
		return result{kind: resultDead, reason: reasonPermanent, outcome: out}
	}
	if w.workCtx.Err() != nil {
		// Cut off by the end of the grace period: not the target's fault,
		// and not an attempt.
		return result{kind: resultReleased, outcome: out, cause: causeShutdown}
	}
	return result{kind: resultRetry, outcome: out}
}

// attempt builds, signs and sends one body of the chunks' events. A panic
// in the sender is a retryable outcome, never a dead loop.
func (w *Worker) attempt(j *job, chunks []*chunk) (out delivery.Outcome) {
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("delivery panicked", "panic", fmt.Sprint(p), "webhook", j.hook.ID, "stack", string(debug.Stack()))
			out = delivery.Outcome{Class: delivery.Retryable, Reason: "panic"}
		}
	}()
	if w.workCtx.Err() != nil {
		return delivery.Outcome{Class: delivery.Retryable, Reason: "shutdown"}
	}
	n := 0
	for _, c := range chunks {
		n += len(c.events)
	}
	// Built and signed right before it is written: the top-level time_ms is
	// this attempt's, so retries stay within receivers' 5-minute window.
	// The events are spliced as they are, exactly as payload.AppendBody
	// writes them (with each delivery id).
	bp := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(bp)
	body := append((*bp)[:0], `{"time_ms":`...)
	body = strconv.AppendInt(body, w.now().UnixMilli(), 10)
	body = append(body, `,"events":[`...)
	for i, c := range chunks {
		if i > 0 {
			body = append(body, ',')
		}
		body = c.appendEvents(body)
	}
	body = append(body, ']', '}')
	*bp = body
	req := &delivery.Request{
		AppKey:    j.app.Key,
		Signature: signing.Sign(j.app.Secret.Reveal(), body),
		Body:      body,
		Webhook:   j.hook,
		Attempt:   j.attempt,
		Events:    n,
	}
	out = w.sender.Send(w.workCtx, req)
	w.m.requests.WithLabelValues(out.Class.String()).Inc()
	w.m.requestSeconds.Observe(out.Duration.Seconds())
	// Debug for a delivery, warn for a failure that will be retried, error
	// for one that dead-letters (an operator has to act). detail is the
	// cause in words: "dial tcp: lookup x: no such host", the TLS error,
	// "no response within 5s", the redirect's Location, the Lambda error.
	level := slog.LevelDebug
	switch out.Class {
	case delivery.Delivered:
	case delivery.Retryable, delivery.TooLarge: // a first 413 halves the batch
		level = slog.LevelWarn
	default:
		level = slog.LevelError
	}
	if w.log.Enabled(w.workCtx, level) {
		w.log.Log(w.workCtx, level, "delivery", "app_id", j.app.ID, "webhook", j.hook.ID, "target", j.hook.Target(),
			"events", n, "messages", len(chunks), "message_ids", messageIDs(chunks, 5), "attempt", j.attempt, "class", out.Class.String(), "status", out.Status,
			"reason", out.Reason, "detail", out.Detail, "duration_ms", out.Duration.Milliseconds())
	}
	w.m.batchEvents.Observe(float64(n))
	if out.Class == delivery.Delivered {
		w.m.eventsDelivered.Add(float64(n))
		nowMS := w.now().UnixMilli()
		for _, c := range chunks {
			for i := range c.events {
				if t := c.events[i].TimeMS; t > 0 {
					w.m.eventAge.Observe(float64(max(nowMS-t, 0)) / 1000)
				}
			}
		}
	}
	return out
}

// messageIDs lists the SQS ids of the chunks' first most messages, for
// logs.
func messageIDs(chunks []*chunk, most int) []string {
	out := make([]string, 0, min(len(chunks), most))
	for i, c := range chunks {
		if len(out) == most {
			break
		}
		if i > 0 && chunks[i-1].part.msg == c.part.msg {
			continue
		}
		out = append(out, c.part.msg.sqsID)
	}
	return out
}

// halve splits chunks the target rejected as too large in two; nil when
// they are a single event.
func halve(chunks []*chunk) [][]*chunk {
	if len(chunks) == 1 {
		c := chunks[0]
		if len(c.events) < 2 {
			return nil
		}
		mid := len(c.events) / 2
		a := sub(c, 0, mid, 0)
		a.bytes = a.size()
		a.charge = min(a.bytes, c.charge)
		b := sub(c, mid, len(c.events), c.bytes-a.bytes-1)
		b.charge = c.charge - a.charge // the halves give back what the chunk took
		return [][]*chunk{{a}, {b}}
	}
	mid := len(chunks) / 2
	return [][]*chunk{chunks[:mid:mid], chunks[mid:]}
}

// deliveryOutcome describes a failure that did not come from a request.
func deliveryOutcome(reason, detail string) delivery.Outcome {
	return delivery.Outcome{Class: delivery.Retryable, Reason: reason, Detail: detail}
}

// statusText is the hookline-status attribute: the HTTP status, or the
// outcome's reason when there was no response.
func statusText(o delivery.Outcome) string {
	if o.Status > 0 {
		return strconv.Itoa(o.Status)
	}
	if o.Reason != "" {
		return o.Reason
	}
	return "none"
}
