package worker

import (
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/payload"
)

// engine owns every message from the moment a poller hands it over until
// the acker reports it done. It runs as one goroutine (run); everything in
// it but the channels and unsettled is touched by that goroutine only.
type engine struct {
	w *Worker

	in      chan []*message // from the pollers; closed when they have all stopped
	results chan jobResult  // from deliveries
	done    chan ackDone    // from the acker
	beats   chan beatResult // from the acker: heartbeat outcomes
	signals chan signal     // from Run
	gone    chan struct{}   // closed when run returns: nobody reads the channels above

	owned  map[string]*message // by SQS message id
	queues map[batchKey]*hookQueue
	active map[*hookQueue]struct{} // queues with pending chunks
	groups *groups

	stopping bool // shutdown began: no new deliveries of new messages; windows closed
	cutoff   bool // the grace period is nearly over: release what has not started
	hard     bool // the grace period is over

	running   int          // deliveries in flight
	unsettled atomic.Int64 // owned messages, for the final log line

	timer *time.Timer
}

type signal int

const (
	signalStop signal = iota
	signalCutoff
	signalHard
)

// batchKey is one (app, webhook) pair: events of many messages merge into
// one request per key.
type batchKey struct{ app, hook string }

// hookQueue is one webhook's pending chunks and its request slots.
type hookQueue struct {
	key       batchKey
	app       *config.App
	hook      *config.Webhook
	pending   []*chunk
	events    int   // in pending
	bytes     int64 // in pending
	queued    int64 // bytes pending or being sent, for WebhookQueuedBytes
	running   int
	maxEvents int
	maxBytes  int64 // for the events and their commas
}

// ackDone reports that the acker finished with a message.
type ackDone struct {
	m       *message
	deleted bool
}

// beatResult is the outcome of one heartbeat entry.
type beatResult struct {
	sqsID, handle string
	ok, lost      bool
	sent          time.Time
}

func newEngine(w *Worker) *engine {
	return &engine{
		w:       w,
		in:      make(chan []*message, w.cfg.Queue.Concurrency),
		results: make(chan jobResult, 64),
		done:    make(chan ackDone, 256),
		beats:   make(chan beatResult, 256),
		signals: make(chan signal, 4),
		gone:    make(chan struct{}),
		owned:   map[string]*message{},
		queues:  map[batchKey]*hookQueue{},
		active:  map[*hookQueue]struct{}{},
		groups:  newGroups(),
	}
}

// signal tells the engine about the shutdown's progress; it never blocks
// for long (the channel holds every signal Run sends).
func (e *engine) signal(s signal) { e.signals <- s }

// run is the engine's loop. It returns when the pollers have stopped and no
// message is owned, or when the grace period is over.
func (e *engine) run() {
	w := e.w
	defer close(e.gone)
	e.timer = time.NewTimer(time.Hour)
	defer e.timer.Stop()
	beat := time.NewTicker(w.heartbeatPeriod())
	defer beat.Stop()
	in := e.in
	for {
		select {
		case batch, ok := <-in:
			if !ok {
				in = nil
				break
			}
			now := w.now()
			for _, m := range batch {
				e.admit(m, now)
			}
		case r := <-e.results:
			e.finishJob(r)
		case d := <-e.done:
			e.finishAck(d)
		case b := <-e.beats:
			e.beatDone(b)
		case <-beat.C:
			e.heartbeat()
		case s := <-e.signals:
			e.onSignal(s)
		case <-e.timer.C:
		}
		if in == nil && len(e.owned) == 0 && e.running == 0 {
			return
		}
		if e.hard {
			return
		}
		e.tick()
	}
}

func (e *engine) onSignal(s signal) {
	switch s {
	case signalStop:
		e.stopping = true
	case signalCutoff:
		e.stopping, e.cutoff = true, true
	case signalHard:
		e.stopping, e.cutoff, e.hard = true, true, true
	}
	e.w.ack.setUrgent()
}

// admit takes ownership of a received message and routes it, or settles it
// at once.
func (e *engine) admit(m *message, now time.Time) {
	w := e.w
	w.m.received.Inc()
	if old := e.owned[m.sqsID]; old != nil {
		// Received again while still owned: the lease lapsed. Keep the first
		// copy with the new handle, the only one that works now.
		w.capacity.unreserve(1)
		w.m.reReceived.Inc()
		if old.state == stateDecided {
			// Its settle uses the old handle; once that is done, the new one
			// deletes the message (if the settle deleted it: with a stale
			// handle SQS may not have) or releases it.
			old.newerHandle, old.newerReceived = m.handle, m.received
			w.log.Warn("message received again while its settle is in progress; the new receipt handle is used after it",
				"message_id", m.sqsID)
			return
		}
		old.handle, old.lost = m.handle, false
		old.leaseUntil = m.received.Add(w.cfg.Queue.VisibilityTimeout)
		w.log.Warn("message received again while in flight; took over the new receipt handle", "message_id", m.sqsID)
		return
	}
	e.owned[m.sqsID] = m
	e.unsettled.Add(1)
	w.capacity.take(m.size)
	m.leaseUntil = m.received.Add(w.cfg.Queue.VisibilityTimeout)

	switch {
	case e.stopping:
		// Received by a long poll that was in progress at shutdown: give it
		// back at once.
		e.settle(m, decision{act: actVisibility, visibility: 0, onSendFailure: -1}, now)
		w.m.released.Inc()
		return
	case m.early != nil:
		e.settleEarly(m, now)
		return
	}
	if w.opts.FIFO {
		m.admitted = true
		if !e.groups.admit(m) {
			m.state = stateWaiting // owned and heartbeated; routed when its turn comes
			return
		}
	}
	e.enqueue(m, now)
}

// enqueue hands a routed message's open parts to their webhooks' queues.
func (e *engine) enqueue(m *message, now time.Time) {
	w := e.w
	m.state = stateActive
	if len(m.parts) == 0 {
		w.m.noMatch.Inc()
	}
	if m.open == 0 {
		e.decide(m, now)
		return
	}
	for _, p := range m.parts {
		if p.open == 0 {
			continue
		}
		q := e.queue(m.app, p.hook)
		if q.queued > 0 && q.queued+p.bytes > w.opts.WebhookQueuedBytes {
			w.m.deferred.WithLabelValues(causeWebhookQueue).Inc()
			e.resolve(p, len(p.events), result{kind: resultDeferred, cause: causeWebhookQueue}, now)
			continue
		}
		for _, c := range splitPart(p, q.maxEvents, q.maxBytes) {
			c.queuedAt = now
			c.charge = c.bytes
			q.queued += c.charge
			q.pending = append(q.pending, c)
			q.events += len(c.events)
			q.bytes += c.bytes
		}
		e.active[q] = struct{}{}
	}
}

func (e *engine) queue(app *config.App, hook *config.Webhook) *hookQueue {
	key := batchKey{app.ID, hook.ID}
	q := e.queues[key]
	if q == nil {
		maxEvents, maxBytes := e.w.limits(hook)
		q = &hookQueue{key: key, app: app, hook: hook, maxEvents: maxEvents, maxBytes: maxBytes}
		e.queues[key] = q
	}
	return q
}

// tick dispatches what is ready, hands back what waited too long, and sets
// the timer for the next deadline.
func (e *engine) tick() {
	w := e.w
	now := w.now()
	var next time.Time
	window := w.cfg.Webhooks.Batching.Duration
	batching := w.cfg.Webhooks.Batching.Enabled && window > 0
	for q := range e.active {
		if e.cutoff {
			for _, c := range q.pending {
				e.resolveChunk(q, c, result{kind: resultReleased, cause: causeShutdown}, now)
			}
			q.pending, q.events, q.bytes = nil, 0, 0
		} else if !e.stopping {
			e.expire(q, now)
		}
		for len(q.pending) > 0 && q.running < w.opts.WebhookConcurrency {
			full := q.events >= q.maxEvents || q.bytes >= q.maxBytes
			due := q.pending[0].queuedAt.Add(window)
			if batching && !full && !e.stopping && now.Before(due) {
				next = earliest(next, due)
				break
			}
			e.dispatch(q, now)
		}
		if len(q.pending) == 0 {
			delete(e.active, q)
			continue
		}
		if !e.stopping {
			next = earliest(next, q.pending[0].queuedAt.Add(w.waitLimit(q.hook)))
		}
	}
	if next.IsZero() {
		next = now.Add(time.Hour)
	}
	e.timer.Reset(max(next.Sub(now), time.Millisecond))
}

// expire hands back the chunks that have waited longer than the webhook's
// request timeout: a slow or hung webhook then holds its messages, and so
// the capacity others share, for about one request timeout at most.
func (e *engine) expire(q *hookQueue, now time.Time) {
	limit := e.w.waitLimit(q.hook)
	k := 0
	for k < len(q.pending) && now.Sub(q.pending[k].queuedAt) >= limit {
		k++
	}
	if k == 0 {
		return
	}
	for _, c := range q.pending[:k] {
		q.events -= len(c.events)
		q.bytes -= c.bytes
		e.resolveChunk(q, c, result{kind: resultDeferred, cause: causeWebhookWait}, now)
	}
	e.w.m.deferred.WithLabelValues(causeWebhookWait).Add(float64(k))
	q.pending = q.pending[k:]
}

// waitLimit is how long a webhook's chunks may wait for a request slot.
func (w *Worker) waitLimit(hook *config.Webhook) time.Duration {
	return max(hook.RequestTimeout, w.cfg.Webhooks.Batching.Duration+time.Second)
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// dispatch starts one request with the queue's oldest chunks, as many as fit.
func (e *engine) dispatch(q *hookQueue, now time.Time) {
	j := &job{app: q.app, hook: q.hook, queue: q}
	events, bytes := 0, int64(0)
	k := 0
	// A request holds chunks of one isolation key only (encrypted channels
	// travel alone, see isolation): the first pending chunk's. Chunks of
	// other keys are passed over and keep their order.
	iso := q.pending[0].iso
	rest := q.pending[:0:0]
	for k < len(q.pending) {
		c := q.pending[k]
		if c.iso != iso {
			rest = append(rest, c)
			k++
			continue
		}
		extra := c.bytes
		if len(j.chunks) > 0 {
			extra++ // the comma
		}
		if len(j.chunks) > 0 && (events+len(c.events) > q.maxEvents || bytes+extra > q.maxBytes) {
			break
		}
		events += len(c.events)
		bytes += extra
		j.chunks = append(j.chunks, c)
		c.part.msg.started = true
		j.attempt = max(j.attempt, c.part.msg.attempt)
		k++
	}
	if len(rest) == 0 {
		q.pending = q.pending[k:]
	} else {
		q.pending = append(rest, q.pending[k:]...)
	}
	q.events -= events
	for _, c := range j.chunks {
		q.bytes -= c.bytes
	}
	q.running++
	e.running++
	go e.w.deliver(j)
}

// finishJob takes a delivery's results.
func (e *engine) finishJob(r jobResult) {
	q := r.job.queue
	q.running--
	e.running--
	now := e.w.now()
	for _, cr := range r.results {
		e.resolveChunk(q, cr.c, cr.r, now)
	}
	if len(q.pending) > 0 {
		e.active[q] = struct{}{}
	}
}

// resolveChunk records a chunk's result.
func (e *engine) resolveChunk(q *hookQueue, c *chunk, r result, now time.Time) {
	q.queued -= c.charge
	e.resolve(c.part, len(c.events), r, now)
}

// resolve records the result of n events of a part; the message is decided
// when its last part is resolved.
func (e *engine) resolve(p *part, n int, r result, now time.Time) {
	if r.worse(p.result) {
		p.result = r
	}
	p.open -= n
	if p.open > 0 {
		return
	}
	m := p.msg
	m.open--
	if m.open == 0 {
		e.decide(m, now)
	}
}

// decide settles a message whose parts are all resolved.
func (e *engine) decide(m *message, now time.Time) {
	w := e.w
	in := settleInput{
		FIFO:         w.opts.FIFO,
		Lost:         m.lost,
		Started:      m.started,
		Attempt:      m.attempt,
		FirstAttempt: m.firstAttempt,
		Now:          now,
		DeferDelay:   w.opts.DeferDelay,
		EnvTargets:   m.env.Targets,
		Parts:        make([]partOutcome, len(m.parts)),
		Jitter:       rand.Float64,
	}
	for i, p := range m.parts {
		pol := w.cfg.Webhooks.Retry
		if p.hook != nil {
			pol = p.hook.Retry
		}
		in.Parts[i] = partOutcome{Target: p.target, AppLevel: p.appLevel, Policy: pol, Result: p.result}
	}
	e.settle(m, decide(in), now)
}

// settleEarly settles a message decided from its body alone.
func (e *engine) settleEarly(m *message, now time.Time) {
	w := e.w
	switch m.early.kind {
	case earlyDeadRaw:
		e.settle(m, decision{act: actDelete, onSendFailure: -1}, now)
	case earlyFuture:
		w.m.futureVersion.Inc()
		d := decision{act: actVisibility, visibility: w.opts.FutureVersionDelay, onSendFailure: -1}
		if w.maxReceiveCount > 0 && m.receiveCount+1 >= w.maxReceiveCount {
			// One more receive and the redrive policy would move it to the
			// DLQ without a reason: put a fresh copy back instead (its
			// receive count starts again), then delete this one.
			d = decision{act: actDelete, onSendFailure: -1}
		}
		w.log.Warn("envelope version newer than this worker; released (upgrade workers before producers)",
			"message_id", m.sqsID, "delay", w.opts.FutureVersionDelay.String(), "receive_count", m.receiveCount,
			"fresh_copy", d.act == actDelete)
		e.settle(m, d, now)
	case earlyNotDue:
		// A backoff longer than SQS's 15-minute delay: wait out the rest
		// invisible. Not an attempt.
		e.settle(m, decision{act: actVisibility, visibility: m.early.wait, onSendFailure: -1}, now)
	}
}

// settle stops the message's heartbeat and hands the decision to the acker.
func (e *engine) settle(m *message, d decision, now time.Time) {
	w := e.w
	m.state = stateDecided
	if d.act == actDrop {
		w.m.ownershipLost.Inc()
		w.log.Warn("settle skipped: ownership lost", "message_id", m.sqsID)
		e.finishAck(ackDone{m: m})
		return
	}
	op, err := w.buildOp(m, d, now)
	if err != nil {
		// An envelope that decoded cannot fail to encode; keep the message
		// so nothing is lost, and say so loudly.
		w.log.Error("cannot build the settle; the message will be received again", "message_id", m.sqsID, "error", err)
		e.finishAck(ackDone{m: m})
		return
	}
	w.ack.submit(op)
}

// finishAck ends the engine's ownership of a message.
func (e *engine) finishAck(d ackDone) {
	w := e.w
	m := d.m
	if m.newerHandle != "" {
		// Received again while the settle ran: finish with the new handle.
		m.deletedOnce = m.deletedOnce || d.deleted
		m.handle, m.newerHandle = m.newerHandle, ""
		m.leaseUntil = m.newerReceived.Add(w.cfg.Queue.VisibilityTimeout)
		next := decision{act: actVisibility, visibility: 0, onSendFailure: -1}
		if d.deleted {
			next.act = actDelete
		}
		w.ack.submit(&ackOp{m: m, handle: m.handle, lease: m.leaseUntil, d: next})
		return
	}
	d.deleted = d.deleted || m.deletedOnce
	if e.owned[m.sqsID] == m {
		delete(e.owned, m.sqsID)
		e.unsettled.Add(-1)
	}
	w.capacity.release(m.size)
	if !m.admitted {
		return
	}
	// FIFO: after a delete, the next message of the group received with it
	// is delivered; otherwise (a retry, a release, a lost lease, shutdown)
	// the ones waiting are released to come back after it.
	next, release := e.groups.finish(m.group, d.deleted && !e.stopping)
	now := w.now()
	for _, r := range release {
		w.m.released.Inc()
		r.admitted = false // it waited: it never held the group, so its own finish must not end it
		e.settle(r, decision{act: actVisibility, visibility: 0, onSendFailure: -1}, now)
	}
	if next != nil {
		e.enqueue(next, now)
	}
}

// heartbeat extends every owned message that is not decided yet.
func (e *engine) heartbeat() {
	w := e.w
	var entries []beatEntry
	for _, m := range e.owned {
		if m.state == stateDecided {
			continue
		}
		entries = append(entries, beatEntry{sqsID: m.sqsID, handle: m.handle})
	}
	if len(entries) > 0 {
		w.ack.beat(entries)
	}
}

// beatDone applies one heartbeat outcome, if the message is still owned
// with the handle that was extended.
func (e *engine) beatDone(b beatResult) {
	w := e.w
	m := e.owned[b.sqsID]
	if m == nil || m.handle != b.handle || m.state == stateDecided {
		return // settled meanwhile, or received again with a new handle
	}
	switch {
	case b.ok:
		m.leaseUntil = b.sent.Add(w.cfg.Queue.VisibilityTimeout)
	case b.lost:
		if !m.lost {
			m.lost = true
		}
		w.m.ownershipLost.Inc()
		w.log.Warn("heartbeat: ownership lost", "message_id", m.sqsID)
	}
}

// limits returns the most events and bytes (events and commas) of one
// request to hook.
func (w *Worker) limits(hook *config.Webhook) (events int, bytes int64) {
	bc := w.cfg.Webhooks.Batching
	events = bc.Size
	if !bc.Enabled || events < 1 {
		events = 1
	}
	return events, int64(hook.MaxBodyBytes) - int64(bodyOverhead)
}

// bodyOverhead is {"time_ms":…,"events":[]} for any time_ms of 13 digits
// (until the year 2286).
var bodyOverhead = payload.BodyOverhead(9_999_999_999_999)

// splitPart cuts a part's events into chunks of at most maxEvents events
// and maxBytes bytes, and of one isolation key each.
func splitPart(p *part, maxEvents int, maxBytes int64) []*chunk {
	whole := &chunk{part: p, events: p.events, first: p.base, bytes: p.bytes}
	uniform := true
	for i := range p.events {
		if isolation(p.events[i].Channel) != "" {
			uniform = false
			break
		}
	}
	if uniform && len(p.events) <= maxEvents && p.bytes <= maxBytes {
		return []*chunk{whole}
	}
	var out []*chunk
	start := 0
	var bytes int64
	iso := ""
	for i := range p.events {
		size := whole.eventSize(i)
		extra := size
		if i > start {
			extra++
		}
		k := isolation(p.events[i].Channel)
		if i == 0 {
			iso = k
		}
		if i > start && (k != iso || i-start >= maxEvents || bytes+extra > maxBytes) {
			c := sub(whole, start, i, bytes)
			c.iso = iso
			out = append(out, c)
			start, bytes, extra, iso = i, 0, size, k
		}
		bytes += extra
	}
	c := sub(whole, start, len(p.events), bytes)
	c.iso = iso
	return append(out, c)
}

// isolation is the key of events that must travel in requests of their
// own: the channel of a private-encrypted-* event (Pusher's Go SDK, for
// one, rejects a whole request when it cannot decrypt one of its events,
// so an encrypted channel's events never share a request with another
// channel's), "" for every other event.
func isolation(channel string) string {
	if strings.HasPrefix(channel, "private-encrypted-") {
		return channel
	}
	return ""
}

// sub is events [i, j) of c, of the given size.
func sub(c *chunk, i, j int, bytes int64) *chunk {
	s := &chunk{part: c.part, events: c.events[i:j:j], first: -1, bytes: bytes, queuedAt: c.queuedAt, iso: c.iso}
	if c.first >= 0 {
		s.first = c.first + i
	}
	return s
}
