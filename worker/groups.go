package worker

import "sync"

// groups sequences a FIFO queue's messages per message group. SQS returns
// no message of a group while one of it is in flight, but one receive may
// hold several messages of a group: they are delivered one at a time, in
// order, the later ones waiting (owned, heartbeated) behind the first.
type groups struct {
	mu      sync.Mutex
	active  map[string]bool
	waiting map[string][]*message
}

func newGroups() *groups {
	return &groups{active: map[string]bool{}, waiting: map[string][]*message{}}
}

// admit reports whether m may be delivered now; otherwise it waits behind
// the message of its group in progress.
func (g *groups) admit(m *message) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.active[m.group] {
		g.active[m.group] = true
		return true
	}
	g.waiting[m.group] = append(g.waiting[m.group], m)
	return false
}

// finish ends the group's message in progress. When it was deleted
// (advance), the next waiting message, if any, is returned to deliver.
// Otherwise it stays on the queue ahead of the waiting ones, so they are
// all returned to be released: SQS hands them out again after it.
func (g *groups) finish(group string, advance bool) (next *message, release []*message) {
	g.mu.Lock()
	defer g.mu.Unlock()
	queue := g.waiting[group]
	if advance && len(queue) > 0 {
		next, queue = queue[0], queue[1:]
	} else if !advance {
		release, queue = queue, nil
	}
	if len(queue) == 0 {
		delete(g.waiting, group)
	} else {
		g.waiting[group] = queue
	}
	if next == nil {
		delete(g.active, group)
	}
	return next, release
}
