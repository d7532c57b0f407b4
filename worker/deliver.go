package worker

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/signing"
)

// job is one request to one webhook: chunks of one or more messages.
type job struct {
	app    *config.App
	hook   *config.Webhook
	chunks []*chunk
	// halved is set on the halves of a batch the target rejected as too
	// large; they are not halved again.
	halved bool
}

// dispatch starts a flushed batch's delivery; the caller has counted it in
// deliverWG.
func (w *Worker) dispatch(b *batch) {
	go func() {
		defer w.deliverWG.Done()
		w.deliver(&job{app: b.app, hook: b.hook, chunks: b.chunks})
	}()
}

// deliver takes a slot of the webhook, builds and signs the body, sends it
// and reports the outcome to every chunk. The wait for a slot holds nothing
// else; when the grace period ends first, the chunks are released unsent.
func (w *Worker) deliver(j *job) {
	sem := w.hooks.sem(j.hook.ID)
	select {
	case sem <- struct{}{}:
	case <-w.workCtx.Done():
		w.finish(j, result{kind: resultReleased})
		return
	}
	out, ok := w.attempt(j)
	<-sem
	if !ok {
		return
	}

	switch out.Class {
	case delivery.Delivered:
		w.finish(j, result{kind: resultDelivered, outcome: out})
	case delivery.TooLarge:
		if halves := j.halve(); halves != nil {
			w.m.halved.Inc()
			for _, h := range halves {
				w.deliver(h)
			}
			return
		}
		w.finish(j, result{kind: resultDead, reason: reasonPermanent, outcome: out})
	case delivery.Permanent:
		w.finish(j, result{kind: resultDead, reason: reasonPermanent, outcome: out})
	default:
		if w.workCtx.Err() != nil {
			// Cut off by the end of the grace period: not the target's
			// fault, and not an attempt.
			w.finish(j, result{kind: resultReleased, outcome: out})
			return
		}
		w.finish(j, result{kind: resultRetry, outcome: out})
	}
}

// attempt sends the job once. ok is false when it could not be built (the
// chunks are then already settled).
func (w *Worker) attempt(j *job) (out delivery.Outcome, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("delivery panicked", "panic", fmt.Sprint(p), "webhook", j.hook.ID, "stack", string(debug.Stack()))
			out, ok = delivery.Outcome{Class: delivery.Retryable, Reason: "panic"}, true
		}
	}()
	attempt := 0
	var events []payload.Event
	for _, c := range j.chunks {
		m := c.part.msg
		m.mu.Lock()
		m.started = true
		m.mu.Unlock()
		attempt = max(attempt, m.attempt)
		events = append(events, c.events...)
	}
	// Built and signed right before it is written: the top-level time_ms is
	// this attempt's, so retries stay within receivers' 5-minute window.
	body, err := payload.EncodeBody(w.now().UnixMilli(), events)
	if err != nil {
		w.log.Error("cannot encode body", "webhook", j.hook.ID, "error", err)
		w.finish(j, result{kind: resultDead, reason: reasonPermanent,
			outcome: delivery.Outcome{Class: delivery.Permanent, Reason: "encode-error", Detail: err.Error()}})
		return delivery.Outcome{}, false
	}
	req := &delivery.Request{
		AppKey:    j.app.Key,
		Signature: signing.Sign(j.app.Secret.Reveal(), body),
		Body:      body,
		Webhook:   j.hook,
		Attempt:   attempt,
		Events:    len(events),
	}
	out = w.sender.Send(w.workCtx, req)
	w.m.requests.WithLabelValues(out.Class.String()).Inc()
	w.m.requestSeconds.Observe(out.Duration.Seconds())
	level := slog.LevelDebug
	if out.Class != delivery.Delivered {
		level = slog.LevelWarn
	}
	w.log.Log(w.workCtx, level, "delivery", "app_id", j.app.ID, "webhook", j.hook.ID, "target", j.hook.Target(),
		"events", len(events), "attempt", attempt, "class", out.Class.String(), "status", out.Status,
		"reason", out.Reason, "duration", out.Duration)
	if out.Class == delivery.Delivered {
		w.m.eventsDelivered.Add(float64(len(events)))
	}
	return out, true
}

// finish reports r to every chunk of the job and settles the messages it
// completes.
func (w *Worker) finish(j *job, r result) {
	for _, c := range j.chunks {
		w.hooks.dequeue(j.hook.ID, c.bytes)
		if c.part.report(r) {
			w.settleAsync(c.part.msg)
		}
	}
}

// halve splits a job the target rejected as too large in two, once. A job
// of one event cannot be halved.
func (j *job) halve() []*job {
	if j.halved {
		return nil
	}
	chunks := j.chunks
	if len(chunks) == 1 {
		c := chunks[0]
		if len(c.events) < 2 {
			return nil
		}
		mid := len(c.events) / 2
		a := &chunk{part: c.part, events: c.events[:mid], bytes: eventBytes(c.events[:mid])}
		b := &chunk{part: c.part, events: c.events[mid:], bytes: c.bytes - a.bytes}
		c.part.msg.mu.Lock()
		c.part.chunks++ // one chunk became two
		c.part.msg.mu.Unlock()
		chunks = []*chunk{a, b}
	}
	mid := len(chunks) / 2
	return []*job{
		{app: j.app, hook: j.hook, chunks: chunks[:mid], halved: true},
		{app: j.app, hook: j.hook, chunks: chunks[mid:], halved: true},
	}
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
