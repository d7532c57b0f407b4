package worker

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/cenkalti/backoff/v4"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/payload"
)

// poll is one long-polling receive loop. It asks for as many messages as
// there are free in-flight slots, stops asking while there are none, and
// hands what it receives, decoded and routed, to the engine. A receive in
// progress when ctx is cancelled is let finish (the engine releases what it
// brings), so no message is left invisible by an aborted poll.
func (w *Worker) poll(ctx context.Context, id int) {
	bo := backoff.NewExponentialBackOff(backoff.WithInitialInterval(200*time.Millisecond),
		backoff.WithMaxInterval(10*time.Second), backoff.WithMaxElapsedTime(0))
	for ctx.Err() == nil {
		if !w.gate.wait(ctx, id) {
			return // parked while the queue was dry, until shutdown
		}
		n := w.capacity.reserve(ctx, min(maxBatch, w.cfg.Queue.MaxMessages))
		if n == 0 {
			return
		}
		msgs, err := w.receive(w.sqsCtx, n)
		w.capacity.unreserve(n - len(msgs)) // each received message holds its own slot
		if err != nil {
			if w.sqsCtx.Err() != nil {
				return
			}
			w.m.sqsCalls.WithLabelValues("ReceiveMessage", "error").Inc()
			w.m.sqsErrors.WithLabelValues("receive").Inc()
			w.health.failed(w.now(), err)
			w.receiveErrors.log(w.log, "receive failed; backing off", "poller", id, "error", err)
			if !sleep(ctx, bo.NextBackOff()) {
				return
			}
			continue
		}
		bo.Reset()
		w.health.ok()
		w.gate.result(n, len(msgs))
		outcome := "ok"
		if len(msgs) == 0 {
			outcome = "empty"
		}
		w.m.sqsCalls.WithLabelValues("ReceiveMessage", outcome).Inc()
		if len(msgs) == 0 {
			continue
		}
		now := w.now()
		batch := make([]*message, len(msgs))
		for i := range msgs {
			batch[i] = w.prepare(&msgs[i], now)
		}
		select {
		case w.eng.in <- batch:
		case <-w.eng.gone:
			return // the grace period is over
		}
		if len(msgs) < maxBatch && w.opts.ReceivePace > 0 {
			// A partial receive: the queue is not backed up. Wait a little so
			// the next receive carries several messages (fewer calls), never
			// more than half the batching window.
			if !sleep(ctx, w.opts.ReceivePace) {
				return
			}
		}
	}
}

// pollGate steps pollers down while the queue is dry and up again as it
// fills: it keeps a number of active pollers between Options.MinPollers and
// queue.sqs.concurrency; an empty receive lowers it by one, a full receive
// (as many messages as asked for) raises it by one, a partial one keeps it.
// Poller i polls while i < active and parks otherwise. The pollers that
// keep polling long-poll, so work is picked up as fast as before (within
// one long poll), with fewer empty receives, which SQS bills like any other.
type pollGate struct {
	mu      sync.Mutex
	min     int
	max     int
	active  int
	changed chan struct{}
}

func newPollGate(least, most int) *pollGate {
	least = max(1, min(least, most))
	return &pollGate{min: least, max: most, active: most, changed: make(chan struct{})}
}

// result records a receive that asked for asked messages and got n.
func (g *pollGate) result(asked, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case n == 0 && g.active > g.min:
		g.active--
	case n > 0 && n >= asked && g.active < g.max:
		g.active++
		close(g.changed)
		g.changed = make(chan struct{})
	}
}

// wait returns at once while poller id is active, else when it becomes
// active (true) or ctx is done (false).
func (g *pollGate) wait(ctx context.Context, id int) bool {
	for {
		g.mu.Lock()
		if id < g.active {
			g.mu.Unlock()
			return true
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// prepare turns a received SQS message into a message: decoded (events stay
// raw) and routed to the parts it owes each webhook, or with an early
// outcome when the body cannot be delivered as it is. It only reads the
// config, so pollers run it in parallel.
func (w *Worker) prepare(sm *types.Message, now time.Time) *message {
	body := aws.ToString(sm.Body)
	m := &message{
		sqsID:        aws.ToString(sm.MessageId),
		handle:       aws.ToString(sm.ReceiptHandle),
		body:         body,
		size:         int64(len(body)),
		receiveCount: receiveCount(sm),
		group:        sm.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)],
		attrs:        sm.MessageAttributes,
		received:     now,
	}
	// The events stay sub-slices of the body: view its bytes instead of
	// copying them. Nothing writes to them (payload only reads its input
	// and appends to other buffers), and strings are immutable anyway.
	env, err := payload.DecodeRaw(unsafe.Slice(unsafe.StringData(body), len(body)))
	if err != nil {
		if errors.Is(err, payload.ErrFutureVersion) {
			m.early = &early{kind: earlyFuture, detail: err.Error()}
			return m
		}
		reason := payload.ReasonMalformed
		var de *payload.DecodeError
		if errors.As(err, &de) {
			reason = de.Reason
		}
		m.early = &early{kind: earlyDeadRaw, reason: reason, detail: err.Error()}
		return m
	}
	m.env = env
	if w.opts.FIFO {
		m.attempt = max(1, m.receiveCount)
	} else {
		m.attempt = max(1, env.Attempt)
	}
	m.firstAttempt = now
	if env.FirstAttemptMS > 0 {
		m.firstAttempt = time.UnixMilli(env.FirstAttemptMS)
	}
	if env.NotBeforeMS > 0 {
		if wait := time.UnixMilli(env.NotBeforeMS).Sub(now); wait > 0 {
			m.early = &early{kind: earlyNotDue, wait: wait}
			return m
		}
	}
	w.route(m)
	return m
}

// route builds the message's parts: for each webhook still owed, the events
// its filter selects. Outcomes known without a delivery (unknown app, app
// disabled, target removed, an event too large for the webhook) are parts
// resolved from the start.
func (w *Worker) route(m *message) {
	env := m.env
	app, err := w.opts.Apps.App(context.Background(), env.AppID)
	m.app = app
	switch {
	case m.app == nil:
		// Config rollout lag, or an app registry that could not be asked:
		// retried like a failed delivery, then dead-lettered.
		detail := "app " + env.AppID + " is not in this worker's config"
		if err != nil {
			detail = err.Error()
		}
		m.parts = []*part{{msg: m, target: "app:" + env.AppID, appLevel: true,
			result: result{kind: resultRetry, reason: reasonUnknownApp,
				outcome: deliveryOutcome(reasonUnknownApp, detail)}}}
		return
	case !m.app.Enabled:
		m.parts = []*part{{msg: m, target: "app:" + env.AppID, appLevel: true,
			result: result{kind: resultDead, reason: reasonAppDisabled}}}
		return
	}
	if w.cfg.Webhooks.EventIDs {
		m.idPrefix = payload.IDPrefix(env.ID)
	}
	for i := range env.Events {
		if env.Events[i].ID != "" {
			m.ownIDs = true
			break
		}
	}
	var settled []*part
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
			settled = append(settled, &part{msg: m, target: id, base: -1, result: result{kind: resultDead, reason: reasonTargetRemoved}})
		}
	}
	for _, h := range hooks {
		_, maxBytes := w.limits(h)
		p := w.selectEvents(m, h, maxBytes)
		if p.tooLarge > 0 {
			settled = append(settled, &part{msg: m, hook: h, target: h.ID, base: -1, result: result{kind: resultDead, reason: reasonTooLarge,
				outcome: deliveryOutcome(reasonTooLarge, strconv.Itoa(p.tooLarge)+" event(s) larger than the webhook's max_body_bytes ("+
					strconv.Itoa(h.MaxBodyBytes)+") with the body around them")}})
		}
		if len(p.events) == 0 {
			continue
		}
		m.parts = append(m.parts, &part{msg: m, hook: h, target: h.ID, events: p.events, bytes: p.bytes, base: p.base, open: len(p.events)})
		m.open++
	}
	m.parts = append(m.parts, settled...)
}

// selection is what a webhook's filter selects of a message's events.
type selection struct {
	events   []payload.RawEvent
	bytes    int64 // with the commas between them
	base     int   // see part.base
	tooLarge int   // selected events that cannot fit any body
}

// selectEvents returns the events hook's filter selects that fit one body.
// The selection is the envelope's own slice when it is all of them and no
// event carries its own id (their delivery ids are spliced in when
// written), else a copy with each event's delivery id set.
func (w *Worker) selectEvents(m *message, h *config.Webhook, maxBytes int64) selection {
	events := m.env.Events
	ids := w.cfg.Webhooks.EventIDs
	size := func(i int) int64 {
		switch {
		case m.ownIDs:
			ev := withID(m, ids, i)
			return int64(ev.Size())
		case ids:
			return int64(events[i].SizeIndexed(m.idPrefix, i))
		}
		return int64(events[i].Size())
	}
	var s selection
	copying := m.ownIDs // events with their own ids are always copied
	if copying {
		s.events = make([]payload.RawEvent, 0, len(events))
	}
	n := 0
	for i := range events {
		ev := &events[i]
		ok := h.Filter.MatchNameChannel(ev.Name, ev.Channel)
		sz := size(i)
		if ok && sz > maxBytes {
			s.tooLarge++
			ok = false
		}
		if !ok {
			if !copying {
				s.events = make([]payload.RawEvent, 0, len(events)-1)
				for k := range i {
					s.events = append(s.events, withID(m, ids, k))
				}
				copying = true
			}
			continue
		}
		if n > 0 {
			s.bytes++ // the comma
		}
		s.bytes += sz
		n++
		if copying {
			s.events = append(s.events, withID(m, ids, i))
		}
	}
	if !copying {
		s.events, s.base = events, -1
		if ids {
			s.base = 0
		}
	} else {
		s.base = -1
	}
	return s
}

// withID is a copy of the message's i-th event with its delivery id set
// when ids are on: its own id when the producer gave it one (ingest does, so
// that a POST's events keep their ids whatever envelope they share), else
// "<envelope id>:<index>"; both are the same on every attempt. With ids off
// the event has none.
func withID(m *message, ids bool, i int) payload.RawEvent {
	ev := m.env.Events[i]
	switch {
	case !ids:
		ev.ID = ""
	case ev.ID == "":
		ev.ID = m.env.ID + ":" + strconv.Itoa(i)
	}
	return ev
}

func receiveCount(m *types.Message) int {
	n, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
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
