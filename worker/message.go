package worker

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/payload"
)

// message is one received SQS message while the worker owns it. The poller
// fills it; from the engine's input channel on, only the engine goroutine
// reads or writes it.
type message struct {
	sqsID        string
	handle       string
	body         string
	size         int64
	receiveCount int
	group        string // MessageGroupId (FIFO, fair queues)
	attrs        map[string]types.MessageAttributeValue
	received     time.Time

	// env is the decoded envelope; nil when early is set.
	env *payload.RawEnvelope
	// idPrefix is payload.IDPrefix(env.ID) when events get delivery ids.
	idPrefix string
	// ownIDs: some event of the envelope carries its own "id", which is its
	// delivery id (see withID).
	ownIDs bool
	// early is an outcome decided at receive, before any routing.
	early *early
	app   *config.App
	// attempt is the delivery attempt this message represents (1-based).
	attempt      int
	firstAttempt time.Time

	parts []*part
	open  int // parts not yet resolved

	state      msgState
	admitted   bool // FIFO: holds its group (groups.admit)
	started    bool // some delivery of this message began
	lost       bool // the heartbeat said the current handle is invalid
	leaseUntil time.Time
	// newerHandle is the handle of a receive of this message that came while
	// its settle was in progress: used once that settle is done.
	newerHandle   string
	newerReceived time.Time
	deletedOnce   bool
}

// msgState is where a message is in the engine.
type msgState int

const (
	stateActive  msgState = iota // routed: parts queued or being delivered
	stateWaiting                 // FIFO: behind the message of its group in progress
	stateDecided                 // handed to the acker; no longer heartbeated
)

// earlyKind is an outcome decided from the body alone.
type earlyKind int

const (
	earlyDeadRaw earlyKind = iota // not a usable envelope: DLQ as is, with a reason
	earlyFuture                   // a newer envelope version: release for later
	earlyNotDue                   // a retry whose not_before is still ahead
)

type early struct {
	kind   earlyKind
	reason string // earlyDeadRaw: the DLQ reason
	detail string
	wait   time.Duration // earlyNotDue
}

// part is what one message owes one webhook: the events its filter selects.
type part struct {
	msg *message
	// hook is nil for app-level parts (unknown app, app disabled) and for
	// removed targets.
	hook *config.Webhook
	// target is the webhook id (or "app:<id>" for app-level outcomes).
	target string
	// appLevel marks an outcome for the whole message (unknown app, app
	// disabled) rather than one webhook.
	appLevel bool
	events   []payload.RawEvent
	bytes    int64 // the events' sizes plus the commas between them
	// base is the index in the envelope of events[0] when events are the
	// envelope's own and get their delivery ids ("<id>:<index>") spliced
	// in as they are written; -1 when each event carries its id (a
	// filtered copy, or event ids off).
	base int

	open   int // events not yet resolved; the part is resolved at 0
	result result
}

// resultKind orders outcomes: a part's result is the worst of its chunks'.
type resultKind int

const (
	resultDelivered resultKind = iota
	resultReleased             // never attempted (shutdown): no attempt used
	resultDeferred             // handed back (a cap, waited too long): no attempt used
	resultRetry                // a real attempt failed, retryable
	resultDead                 // permanent failure: dead-letter
)

type result struct {
	kind    resultKind
	outcome delivery.Outcome
	reason  string // DLQ reason for resultDead (and unknown-app retries)
	cause   string // hand-back cause for resultDeferred
}

// worse reports whether r should replace cur as a part's result.
func (r result) worse(cur result) bool { return r.kind > cur.kind }

// chunk is a slice of one part's events that fits one request.
type chunk struct {
	part     *part
	events   []payload.RawEvent
	first    int // the envelope index of events[0] (see part.base); -1: events carry their ids
	bytes    int64
	charge   int64 // what the chunk adds to its webhook's queued bytes until it resolves
	queuedAt time.Time
	// iso is the channel of events that travel in requests of their own
	// (isolation), "" for all others; a chunk's events share it.
	iso string
}

// eventSize is the size of the chunk's i-th event in a body.
func (c *chunk) eventSize(i int) int64 {
	if c.first >= 0 {
		return int64(c.events[i].SizeIndexed(c.part.msg.idPrefix, c.first+i))
	}
	return int64(c.events[i].Size())
}

// appendEvents writes the chunk's events, comma-separated, into a body.
func (c *chunk) appendEvents(dst []byte) []byte {
	for i := range c.events {
		if i > 0 {
			dst = append(dst, ',')
		}
		if c.first >= 0 {
			dst = payload.AppendEventIndexed(dst, &c.events[i], c.part.msg.idPrefix, c.first+i)
		} else {
			dst = payload.AppendEvent(dst, &c.events[i])
		}
	}
	return dst
}

// size is the chunk's events' size with the commas between them.
func (c *chunk) size() int64 {
	var n int64
	for i := range c.events {
		if i > 0 {
			n++
		}
		n += c.eventSize(i)
	}
	return n
}

// capacity bounds in-flight messages and bytes. Pollers reserve message
// slots before a receive; each received message keeps one (take) until it
// is done (release), the rest are returned (unreserve).
type capacity struct {
	mu        sync.Mutex
	maxMsgs   int
	maxBytes  int64
	msgs      int // reserved + held
	bytes     int64
	heldMsgs  int
	heldBytes int64
	changed   chan struct{} // closed and replaced whenever capacity frees
}

func newCapacity(maxMsgs int, maxBytes int64) *capacity {
	return &capacity{maxMsgs: maxMsgs, maxBytes: maxBytes, changed: make(chan struct{})}
}

// reserve blocks until there is room, then reserves up to most message
// slots and returns how many; 0 when ctx is done. Receives are sized to
// the reservation, so concurrent pollers never overshoot the message bound;
// the byte bound is checked before a receive and may be overshot by one
// receive.
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

// take turns one reserved slot into a held message of the given size.
func (c *capacity) take(bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bytes += bytes
	c.heldMsgs++
	c.heldBytes += bytes
}

// release frees a held message's slot and bytes.
func (c *capacity) release(bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs--
	c.bytes -= bytes
	c.heldMsgs--
	c.heldBytes -= bytes
	c.notifyLocked()
}

// notifyLocked wakes every reserve waiting for room.
func (c *capacity) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// usage is what is reserved or held.
func (c *capacity) usage() (msgs int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs, c.bytes
}

// held is what received messages hold (not the pollers' reservations).
func (c *capacity) held() (msgs int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.heldMsgs, c.heldBytes
}
