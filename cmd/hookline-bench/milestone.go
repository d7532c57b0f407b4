package main

import (
	"sync"
	"time"
)

// milestone is a counter that remembers when it first reached a target, so
// the end of a run is timed where it happened (in the handler that counted
// the last event), not when the waiting goroutine woke up.
type milestone struct {
	target int64
	done   chan struct{} // closed when n reaches target

	mu sync.Mutex
	n  int64
	at time.Time // when n reached target; zero before
}

func newMilestone(target int64) *milestone {
	m := &milestone{target: target, done: make(chan struct{})}
	if target <= 0 {
		m.at = time.Now()
		close(m.done)
	}
	return m
}

// add adds d to the counter.
func (m *milestone) add(d int64) {
	if d == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n += d
	if m.n >= m.target && m.at.IsZero() {
		m.at = time.Now()
		close(m.done)
	}
}

// load returns the count.
func (m *milestone) load() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// reachedAt returns when the target was reached, and whether it was.
func (m *milestone) reachedAt() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.at, !m.at.IsZero()
}
