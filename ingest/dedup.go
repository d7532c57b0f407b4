package ingest

import (
	"context"
	"sync"
	"time"
)

// dedup remembers the ids of POSTs that were enqueued, for a window, and
// joins concurrent identical POSTs onto one publish.
type dedup struct {
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	done    map[string]time.Time // id -> when it succeeded
	order   []string             // ids in success order, for expiry
	running map[string]*flight
}

type flight struct {
	finished chan struct{}
	err      error
}

func newDedup(window time.Duration, now func() time.Time) *dedup {
	return &dedup{window: window, now: now, done: map[string]time.Time{}, running: map[string]*flight{}}
}

// do runs publish for id unless id succeeded within the window (then it
// reports a duplicate) or is running (then it waits for that run's result).
// Only successes are remembered: a failed POST is enqueued again on retry.
func (d *dedup) do(ctx context.Context, id string, publish func() error) (duplicate bool, err error) {
	d.mu.Lock()
	d.expireLocked()
	if _, ok := d.done[id]; ok {
		d.mu.Unlock()
		return true, nil
	}
	if f, ok := d.running[id]; ok {
		d.mu.Unlock()
		select {
		case <-f.finished:
			return f.err == nil, f.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	f := &flight{finished: make(chan struct{})}
	d.running[id] = f
	d.mu.Unlock()

	f.err = publish()

	d.mu.Lock()
	delete(d.running, id)
	if f.err == nil {
		d.done[id] = d.now()
		d.order = append(d.order, id)
	}
	d.mu.Unlock()
	close(f.finished)
	return false, f.err
}

func (d *dedup) expireLocked() {
	cutoff := d.now().Add(-d.window)
	n := 0
	for n < len(d.order) && !d.done[d.order[n]].After(cutoff) {
		delete(d.done, d.order[n])
		n++
	}
	d.order = d.order[n:]
}
