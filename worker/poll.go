package worker

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/cenkalti/backoff/v4"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/payload"
)

// poll is one long-polling receive loop. It asks for as many messages as
// there are free in-flight slots and stops asking while there are none.
func (w *Worker) poll(ctx context.Context, id int) {
	bo := backoff.NewExponentialBackOff(backoff.WithInitialInterval(200*time.Millisecond),
		backoff.WithMaxInterval(10*time.Second), backoff.WithMaxElapsedTime(0))
	for {
		n := w.inflight.reserve(ctx, min(maxBatch, w.cfg.Queue.MaxMessages))
		if n == 0 {
			return
		}
		msgs, err := w.receive(ctx, n)
		w.inflight.unreserve(n - len(msgs)) // each received message holds or returns its own slot
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.m.sqsErrors.WithLabelValues("receive").Inc()
			w.receiveErrors.log(w.log, "receive failed; backing off", "poller", id, "error", err)
			t := time.NewTimer(bo.NextBackOff())
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		bo.Reset()
		w.lastReceive.Store(w.now().UnixNano())
		for _, sm := range msgs {
			w.accept(sm)
		}
	}
}

// accept takes ownership of one received message and routes its events to
// the batches of the webhooks they match, or settles it at once. It holds
// one reserved in-flight slot, kept by the message once taken, else
// returned.
func (w *Worker) accept(sm types.Message) {
	taken := false
	defer func() {
		if !taken {
			w.inflight.unreserve(1)
		}
	}()
	w.m.received.Inc()
	ctx := w.sqsCtx
	body := aws.ToString(sm.Body)
	m := &message{
		sqsID:  aws.ToString(sm.MessageId),
		body:   body,
		size:   int64(len(body)),
		handle: aws.ToString(sm.ReceiptHandle),
	}
	if w.owned.swapHandle(m) {
		// Received again while still in flight: the lease lapsed. Keep
		// processing the first copy with the new handle.
		w.m.reReceived.Inc()
		w.log.Warn("message received again while in flight; took over the new receipt handle", "message_id", m.sqsID)
		return
	}

	env, err := payload.Decode([]byte(body))
	if err != nil {
		if errors.Is(err, payload.ErrFutureVersion) {
			w.m.futureVersion.Inc()
			w.log.Warn("envelope version newer than this worker; released (upgrade workers before producers)",
				"message_id", m.sqsID, "delay", w.opts.FutureVersionDelay)
			if err := w.setVisibility(ctx, m.handle, w.opts.FutureVersionDelay); err != nil {
				w.log.Error("release failed", "message_id", m.sqsID, "error", err)
			}
			return
		}
		reason := payload.ReasonMalformed
		var de *payload.DecodeError
		if errors.As(err, &de) {
			reason = de.Reason
		}
		w.deadLetterRaw(ctx, m, sm, reason, err.Error())
		return
	}
	m.env = env

	if w.opts.FIFO {
		m.attempt = max(1, receiveCount(sm))
	} else {
		m.attempt = max(1, env.Attempt)
	}
	now := w.now()
	m.firstAttempt = now
	if env.FirstAttemptMS > 0 {
		m.firstAttempt = time.UnixMilli(env.FirstAttemptMS)
	}
	if env.NotBeforeMS > 0 {
		if wait := time.UnixMilli(env.NotBeforeMS).Sub(now); wait > 0 {
			// A backoff longer than SQS's 15-minute delay: wait out the
			// rest invisible. Not an attempt.
			if err := w.setVisibility(ctx, m.handle, wait); err != nil {
				w.log.Error("re-release of a delayed retry failed", "message_id", m.sqsID, "error", err)
			}
			return
		}
	}

	if !w.inflight.take(env.AppID, m.size) {
		// The app holds its share of the in-flight slots: hand the message
		// back with a short delay so other apps are not starved.
		w.m.deferred.WithLabelValues("app-share").Inc()
		w.handBack(ctx, m)
		return
	}
	taken = true
	if w.opts.FIFO {
		// Owned (heartbeated) from now, also while it waits behind a
		// message of its group; registered before admit publishes it.
		m.group = sm.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
		m.claimed = w.owned.claim(m) // a new SQS id: swapHandle above caught re-receives
		if !w.groups.admit(m) {
			return // routed when the message ahead of it is settled
		}
	}
	w.route(m)
}

// route builds the message's parts and hands them to the batches.
func (w *Worker) route(m *message) {
	env := m.env
	m.app = w.cfg.App(env.AppID)
	var parts, settled []*part
	switch {
	case m.app == nil:
		// Config rollout lag: retried like a failed delivery, then
		// dead-lettered.
		settled = append(settled, &part{msg: m, target: "app:" + env.AppID, appLevel: true,
			result: result{kind: resultRetry, reason: reasonUnknownApp,
				outcome: deliveryOutcome(reasonUnknownApp, "app "+env.AppID+" is not in this worker's config")}})
	case !m.app.Enabled:
		settled = append(settled, &part{msg: m, target: "app:" + env.AppID, appLevel: true,
			result: result{kind: resultDead, reason: reasonAppDisabled}})
	default:
		events := make([]payload.Event, len(env.Events))
		copy(events, env.Events)
		if w.cfg.Webhooks.EventIDs {
			for i := range events {
				events[i].ID = env.ID + ":" + strconv.Itoa(i)
			}
		}
		var hooks []*config.Webhook
		if env.Targets == nil {
			for i := range m.app.Webhooks {
				hooks = append(hooks, &m.app.Webhooks[i])
			}
		}
		for _, id := range env.Targets {
			if h := m.app.Webhook(id); h != nil {
				hooks = append(hooks, h)
			} else {
				settled = append(settled, &part{msg: m, target: id,
					result: result{kind: resultDead, reason: reasonTargetRemoved}})
			}
		}
		for _, h := range hooks {
			sel := h.Filter.Select(events)
			if len(sel) == 0 {
				continue
			}
			parts = append(parts, &part{msg: m, hook: h, target: h.ID, events: sel, bytes: eventBytes(sel)})
		}
	}
	m.parts = append(parts, settled...)
	m.pending = len(parts)
	if len(m.parts) == 0 {
		w.m.noMatch.Inc()
	}
	if !m.claimed && !w.owned.claim(m) {
		w.inflight.release(env.AppID, m.size)
		if w.opts.FIFO {
			w.nextInGroup(w.sqsCtx, m, false)
		}
		return
	}
	if m.pending == 0 {
		w.settleAsync(m)
		return
	}
	for _, p := range parts {
		w.batches.add(p)
	}
}

// eventBytes estimates the encoded size of events in a request body.
func eventBytes(events []payload.Event) int64 {
	var n int64
	for i := range events {
		b, _ := json.Marshal(&events[i]) // cannot fail: decoded from JSON
		n += int64(len(b)) + 1
	}
	return n
}

// rateLog logs a repeated loop error at most once per interval.
type rateLog struct {
	mu   sync.Mutex
	last time.Time
	skip int
}

func (r *rateLog) log(l interface {
	Error(msg string, args ...any)
}, msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.last) < 30*time.Second {
		r.skip++
		r.mu.Unlock()
		return
	}
	skipped := r.skip
	r.last, r.skip = now, 0
	r.mu.Unlock()
	l.Error(msg, append(args, "suppressed", skipped)...)
}
