package producer

import (
	"container/list"
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// buffer counts the events handed off and not yet settled: a weighted
// semaphore, first come first served, that Close wakes with ErrClosed.
type buffer struct {
	size    int
	closing <-chan struct{}
	gauge   prometheus.Gauge

	mu      sync.Mutex
	used    int
	waiters list.List // of *waiter, oldest first
}

type waiter struct {
	n     int
	ready chan struct{} // closed when the room was granted
}

func newBuffer(size int, closing <-chan struct{}, gauge prometheus.Gauge) *buffer {
	return &buffer{size: size, closing: closing, gauge: gauge}
}

// acquire waits for room for n events (n <= size). It returns ctx's error
// or ErrClosed, having taken nothing, when either comes first.
func (b *buffer) acquire(ctx context.Context, n int) error {
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.used+n <= b.size {
		b.used += n
		b.gauge.Add(float64(n))
		b.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	el := b.waiters.PushBack(w)
	b.mu.Unlock()

	var err error
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-b.closing:
		err = ErrClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		b.releaseLocked(n)
	default:
		front := b.waiters.Front() == el
		b.waiters.Remove(el)
		if front {
			b.grantLocked() // the next waiter may fit now
		}
	}
	return err
}

// release returns room for n events.
func (b *buffer) release(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked(n)
}

func (b *buffer) releaseLocked(n int) {
	b.used -= n
	b.gauge.Sub(float64(n))
	b.grantLocked()
}

// grantLocked wakes waiters in order while the oldest fits.
func (b *buffer) grantLocked() {
	for {
		el := b.waiters.Front()
		if el == nil {
			return
		}
		w := el.Value.(*waiter)
		if b.used+w.n > b.size {
			return
		}
		b.used += w.n
		b.gauge.Add(float64(w.n))
		b.waiters.Remove(el)
		close(w.ready)
	}
}
