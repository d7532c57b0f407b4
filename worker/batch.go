package worker

import (
	"sync"
	"time"

	"github.com/hookline/hookline/config"
)

// batchKey is one (app, webhook) pair: events of many messages merge into
// one request per key.
type batchKey struct{ app, hook string }

// batch is an open window of chunks for one key.
type batch struct {
	key    batchKey
	hook   *config.Webhook
	app    *config.App
	chunks []*chunk
	events int
	bytes  int64
	timer  *time.Timer
}

// batcher holds the open batches. A window opens with the first event and
// flushes on webhooks.batching.size events, the webhook's max_body_bytes, or
// webhooks.batching.duration.
type batcher struct {
	w    *Worker
	mu   sync.Mutex
	open map[batchKey]*batch
}

func newBatcher(w *Worker) *batcher {
	return &batcher{w: w, open: map[batchKey]*batch{}}
}

// bodyOverhead is the size of {"time_ms":…,"events":[]} around the events.
const bodyOverhead = 48

// limits returns the most events and bytes of one request to hook.
func (b *batcher) limits(hook *config.Webhook) (events int, bytes int64) {
	bc := b.w.cfg.Webhooks.Batching
	events = bc.Size
	if !bc.Enabled {
		events = 1
	}
	return events, int64(hook.MaxBodyBytes) - bodyOverhead
}

// add splits a part into chunks that fit one request each and appends them
// to the webhook's open batch, flushing it as it fills. A webhook whose
// queue is over its byte cap gets nothing: the part is handed back.
func (b *batcher) add(p *part) {
	w := b.w
	if !w.hooks.enqueue(p.hook.ID, p.bytes) {
		w.m.deferred.WithLabelValues("webhook-queue").Inc()
		if p.report(result{kind: resultDeferred}) {
			w.settleAsync(p.msg)
		}
		return
	}
	maxEvents, maxBytes := b.limits(p.hook)
	chunks := splitPart(p, maxEvents, maxBytes)
	p.msg.mu.Lock()
	p.chunks = len(chunks)
	p.msg.mu.Unlock()

	key := batchKey{p.msg.app.ID, p.hook.ID}
	var full []*batch
	b.mu.Lock()
	for _, c := range chunks {
		cur := b.open[key]
		if cur != nil && (cur.events+len(c.events) > maxEvents || cur.bytes+c.bytes > maxBytes) {
			full = append(full, b.detach(cur))
			cur = nil
		}
		if cur == nil {
			cur = &batch{key: key, hook: p.hook, app: p.msg.app}
			b.open[key] = cur
			if w.cfg.Webhooks.Batching.Enabled && w.cfg.Webhooks.Batching.Duration > 0 && !w.isStopping() {
				cur.timer = time.AfterFunc(w.cfg.Webhooks.Batching.Duration, func() { b.flushKey(cur) })
			}
		}
		cur.chunks = append(cur.chunks, c)
		cur.events += len(c.events)
		cur.bytes += c.bytes
		if cur.events >= maxEvents || cur.bytes >= maxBytes || cur.timer == nil {
			full = append(full, b.detach(cur))
		}
	}
	w.deliverWG.Add(len(full)) // under b.mu: see flushAll
	b.mu.Unlock()
	for _, f := range full {
		w.dispatch(f)
	}
}

// detach removes bt from the open set; b.mu is held.
func (b *batcher) detach(bt *batch) *batch {
	if bt.timer != nil {
		bt.timer.Stop()
	}
	if b.open[bt.key] == bt {
		delete(b.open, bt.key)
	}
	return bt
}

// flushKey is the window timer: it flushes bt if it is still open.
func (b *batcher) flushKey(bt *batch) {
	b.mu.Lock()
	if b.open[bt.key] != bt {
		b.mu.Unlock()
		return
	}
	b.detach(bt)
	b.w.deliverWG.Add(1)
	b.mu.Unlock()
	b.w.dispatch(bt)
}

// flushAll flushes every open batch now (shutdown). Every dispatch is
// counted in deliverWG while b.mu is held, so a window timer racing with
// shutdown either counted its batch before this returns or finds nothing:
// Run's deliverWG.Wait never races with an Add.
func (b *batcher) flushAll() {
	b.mu.Lock()
	var all []*batch
	for _, bt := range b.open {
		all = append(all, b.detach(bt))
	}
	b.w.deliverWG.Add(len(all))
	b.mu.Unlock()
	for _, bt := range all {
		b.w.dispatch(bt)
	}
}

// splitPart cuts a part's events into chunks of at most maxEvents events
// and about maxBytes bytes (a single event larger than that is a chunk of
// its own: the receiver decides).
func splitPart(p *part, maxEvents int, maxBytes int64) []*chunk {
	var out []*chunk
	cur := &chunk{part: p}
	for i := range p.events {
		size := eventBytes(p.events[i : i+1])
		if len(cur.events) > 0 && (len(cur.events) >= maxEvents || cur.bytes+size > maxBytes) {
			out = append(out, cur)
			cur = &chunk{part: p}
		}
		cur.events = append(cur.events, p.events[i])
		cur.bytes += size
	}
	return append(out, cur)
}

// hookLimits holds each webhook's concurrency slots and queued bytes.
type hookLimits struct {
	concurrency int
	maxQueued   int64
	mu          sync.Mutex
	slots       map[string]chan struct{}
	queued      map[string]int64
}

func newHookLimits(concurrency int, maxQueued int64) *hookLimits {
	return &hookLimits{concurrency: concurrency, maxQueued: maxQueued,
		slots: map[string]chan struct{}{}, queued: map[string]int64{}}
}

// sem returns the webhook's slot semaphore.
func (h *hookLimits) sem(hook string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.slots[hook]
	if !ok {
		s = make(chan struct{}, h.concurrency)
		h.slots[hook] = s
	}
	return s
}

// enqueue accounts n bytes waiting for hook; false when over the cap. A
// webhook with nothing queued always accepts, so one large part cannot be
// handed back forever.
func (h *hookLimits) enqueue(hook string, n int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if q := h.queued[hook]; q > 0 && q+n > h.maxQueued {
		return false
	}
	h.queued[hook] += n
	return true
}

func (h *hookLimits) dequeue(hook string, n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queued[hook] -= n
	if h.queued[hook] <= 0 {
		delete(h.queued, hook)
	}
}
