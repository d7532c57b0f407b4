package worker

import (
	"context"
	"sync"
	"time"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/payload"
)

// message is one received SQS message while the worker owns it.
type message struct {
	sqsID string
	body  string
	size  int64
	env   *payload.Envelope
	app   *config.App
	// attempt is the delivery attempt this message represents (1-based).
	attempt      int
	firstAttempt time.Time

	// group is the FIFO message group (the app id); claimed is set when the
	// message was registered before routing (waiting behind its group).
	group   string
	claimed bool

	mu      sync.Mutex
	handle  string
	lost    bool // a heartbeat or delete said the handle is invalid
	parts   []*part
	pending int  // parts not yet done
	started bool // some delivery of this message began
}

func (m *message) receiptHandle() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.handle
}

// part is what one message owes one webhook: the events its filter selects.
type part struct {
	msg *message
	// hook is nil for parts settled without delivery (unknown app, app
	// disabled, target removed).
	hook *config.Webhook
	// target is the webhook id (or "app:<id>" for app-level outcomes).
	target string
	// appLevel marks an outcome for the whole message (unknown app, app
	// disabled) rather than one webhook.
	appLevel bool
	events   []payload.Event
	bytes    int64

	// guarded by msg.mu
	chunks int // chunks not yet reported
	result result
}

// resultKind orders outcomes: a part's result is the worst of its chunks'.
type resultKind int

const (
	resultDelivered resultKind = iota
	resultReleased             // never attempted (shutdown): no attempt used
	resultDeferred             // handed back over a cap: no attempt used
	resultRetry                // a real attempt failed, retryable
	resultDead                 // permanent failure: dead-letter
)

type result struct {
	kind    resultKind
	outcome delivery.Outcome
	reason  string // DLQ reason for resultDead
}

// chunk is a slice of one part's events inside one request.
type chunk struct {
	part   *part
	events []payload.Event
	bytes  int64
}

// report records a chunk's result; it returns true when this completed the
// whole message (every part done), so the caller settles it.
func (p *part) report(r result) (messageDone bool) {
	m := p.msg
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.kind > p.result.kind {
		p.result = r
	}
	p.chunks--
	if p.chunks > 0 {
		return false
	}
	m.pending--
	return m.pending == 0
}

// registry maps SQS message ids to the messages the worker owns.
type registry struct {
	mu   sync.Mutex
	msgs map[string]*message
}

func newRegistry() *registry { return &registry{msgs: map[string]*message{}} }

// swapHandle reports whether a message with m's SQS id is already owned
// (received again after its lease lapsed); if so it takes over m's receipt
// handle, the only one that still works.
func (r *registry) swapHandle(m *message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.msgs[m.sqsID]
	if !ok {
		return false
	}
	old.mu.Lock()
	old.handle = m.handle
	old.lost = false
	old.mu.Unlock()
	return true
}

// claim registers m; it returns false if its SQS id is already owned.
func (r *registry) claim(m *message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.msgs[m.sqsID]; ok {
		return false
	}
	r.msgs[m.sqsID] = m
	return true
}

// drop stops tracking m (and so stops its heartbeat).
func (r *registry) drop(m *message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.msgs[m.sqsID] == m {
		delete(r.msgs, m.sqsID)
	}
}

func (r *registry) snapshot() []*message {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*message, 0, len(r.msgs))
	for _, m := range r.msgs {
		out = append(out, m)
	}
	return out
}

func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// capacity bounds in-flight messages and bytes, and each app's share.
type capacity struct {
	mu       sync.Mutex
	maxMsgs  int
	maxBytes int64
	perApp   int
	msgs     int
	bytes    int64
	apps     map[string]int
	changed  chan struct{} // closed and replaced whenever capacity frees
}

func newCapacity(maxMsgs int, maxBytes int64, perApp int) *capacity {
	return &capacity{maxMsgs: maxMsgs, maxBytes: maxBytes, perApp: perApp,
		apps: map[string]int{}, changed: make(chan struct{})}
}

// reserve blocks until there is room, then reserves up to most message
// slots and returns how many; 0 when ctx is done. Receives are sized to
// the reservation, so concurrent pollers never overshoot the message bound;
// the byte bound is checked before a receive and may be overshot by one
// batch.
func (c *capacity) reserve(ctx context.Context, most int) int {
	for {
		c.mu.Lock()
		free := c.maxMsgs - c.msgs
		if free > 0 && c.bytes < c.maxBytes {
			n := min(free, most)
			c.msgs += n
			c.mu.Unlock()
			return n
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0
		case <-ch:
		}
	}
}

// unreserve returns n reserved slots that received no message.
func (c *capacity) unreserve(n int) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs -= n
	c.notifyLocked()
}

// take turns one reserved slot into a held message of app. It returns
// false, changing nothing, when the app already holds its share.
func (c *capacity) take(app string, bytes int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apps[app] >= c.perApp {
		return false
	}
	c.apps[app]++
	c.bytes += bytes
	return true
}

func (c *capacity) release(app string, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.apps[app]--
	if c.apps[app] <= 0 {
		delete(c.apps, app)
	}
	c.msgs--
	c.bytes -= bytes
	c.notifyLocked()
}

// notifyLocked wakes every reserve waiting for room.
func (c *capacity) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *capacity) usage() (msgs int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs, c.bytes
}
