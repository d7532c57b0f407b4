package sqsmem

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// Where the fake's queues live: URLs and ARNs have the shape of real ones in this region and
// account.
const (
	Region    = "us-east-1"
	AccountID = "000000000000"
	urlPrefix = "https://sqs." + Region + ".amazonaws.com/" + AccountID + "/"
	arnPrefix = "arn:aws:sqs:" + Region + ":" + AccountID + ":"
)

// serverIDs numbers servers, so handles of one server are never valid on another.
var serverIDs atomic.Uint64

// Server is an in-memory SQS: queues, visibility timers, receipt handles, delays, redrive to a
// dead-letter queue. It reads the time only through package time (time.Now, timers), so inside
// a testing/synctest bubble everything runs on the bubble's virtual clock. It starts no
// goroutines. It is safe for concurrent use.
type Server struct {
	id uint64

	mu      sync.Mutex
	seq     uint64              // message ids and receipt handles
	queues  map[string]*queue   // by URL
	byName  map[string]*queue   // by name
	byARN   map[string]*queue   // by ARN
	handles map[string]*receipt // every handle ever issued
	calls   map[string]int      // by operation
	fault   Fault
	stale   StaleDelete
}

// receipt is what a receipt handle refers to.
type receipt struct {
	q *queue
	m *message
}

// New returns an empty Server. Under testing/synctest, use it from one bubble only.
func New() *Server {
	return &Server{
		id:      serverIDs.Add(1),
		queues:  map[string]*queue{},
		byName:  map[string]*queue{},
		byARN:   map[string]*queue{},
		handles: map[string]*receipt{},
		calls:   map[string]int{},
	}
}

// Client returns a client of s whose methods have exactly the signatures of *sqs.Client's, so
// it satisfies any consumer-side interface listing them (worker.SQS, queues.API). The
// functional options are ignored.
func (s *Server) Client() *Client { return &Client{s: s} }

// CreatePair creates a dead-letter queue and a main queue that redrives to it after
// maxReceiveCount receives (no redrive policy when maxReceiveCount <= 0), both with the given
// visibility timeout (rounded up to whole seconds), and returns their URLs. Names: name and
// name+"-dlq", or for FIFO name+".fifo" and name+"-dlq.fifo". It is idempotent, and neither
// counted in Calls nor subject to faults. It panics on invalid arguments: it is for test setup.
func (s *Server) CreatePair(name string, fifo bool, visibility time.Duration, maxReceiveCount int) (mainURL, dlqURL string) {
	base := strings.TrimSuffix(name, ".fifo")
	mainName, dlqName := base, base+"-dlq"
	attrs := map[string]string{attrVisibilityTimeout: itoa(int((visibility + time.Second - 1) / time.Second))}
	if fifo {
		mainName, dlqName = base+".fifo", base+"-dlq.fifo"
		attrs[attrFifoQueue] = "true"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	dlq, err := s.createQueue(dlqName, attrs, now)
	if err != nil {
		panic(fmt.Sprintf("sqsmem: CreatePair(%q): create %s: %v", name, dlqName, err))
	}
	if maxReceiveCount > 0 {
		attrs[attrRedrivePolicy] = redriveJSON(dlq.arn, maxReceiveCount)
	}
	q, err := s.createQueue(mainName, attrs, now)
	if err != nil {
		panic(fmt.Sprintf("sqsmem: CreatePair(%q): create %s: %v", name, mainName, err))
	}
	return q.url, dlq.url
}

// Fault injects failures. Hooks run outside the server's lock (they may call the Server) and
// must be safe for concurrent use when the code under test calls concurrently.
//
// There are no SDK retries in the fake: each call is one attempt, and an error a hook returns
// reaches the caller as the API error of a *smithy.OperationError. (A real *sqs.Client would
// retry throttling and 5xx errors up to 3 times before returning them.)
type Fault struct {
	// Call, when set, is asked before each call that passed the SDK's client-side validation
	// (op is the API name, e.g. "DeleteMessageBatch"); a non-nil error fails the whole call
	// without effect. Use &smithy.GenericAPIError{Code: "ThrottlingException"} for throttling,
	// or a smithy.GenericAPIError with Fault smithy.FaultServer and Code "InternalError" for a
	// 500.
	Call func(op string) error
	// Entry, when set, is asked for each entry of a *Batch call that passed the batch-level
	// checks; a non-empty code fails that entry without effect (a BatchResultErrorEntry with
	// that Code; SenderFault is true except for InternalError, InternalFailure and
	// ServiceUnavailable).
	Entry func(op string, entryID string) (code string)
}

// SetFault replaces the fault hooks; Fault{} removes them.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// StaleDelete is what DeleteMessage does with an older receipt handle of a standard-queue
// message that has been received again since (its latest handle belongs to someone else).
// Real SQS documents "the request succeeds, but the message will not be deleted", yet also
// sometimes deletes it, or answers InvalidParameterValue; choose the behaviour a test needs.
// On FIFO queues such a handle is always rejected (InvalidParameterValue "The receipt handle
// has expired."), as on real SQS.
type StaleDelete int

const (
	// StaleDeleteIgnored (the default, and fauxqs's behaviour): the call succeeds, the message
	// stays in flight under its latest handle.
	StaleDeleteIgnored StaleDelete = iota
	// StaleDeleteDeletes: the call succeeds and the message is deleted.
	StaleDeleteDeletes
	// StaleDeleteRejected: the entry fails with InvalidParameterValue.
	StaleDeleteRejected
)

// SetStaleDelete sets the behaviour of stale receipt handles on delete (see StaleDelete).
func (s *Server) SetStaleDelete(p StaleDelete) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale = p
}

// Calls returns how many calls of each operation reached the server (passed the SDK's
// client-side validation and a non-cancelled context), faulted ones included.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// ResetCalls sets all counts of Calls to zero.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

// Message is a snapshot of one message on a queue, for assertions.
type Message struct {
	MessageID         string
	Body              string
	MessageAttributes map[string]types.MessageAttributeValue
	GroupID           string // MessageGroupId, "" when not set
	DeduplicationID   string // FIFO: MessageDeduplicationId (explicit or content-based)
	SequenceNumber    string // FIFO only
	ReceiveCount      int    // ApproximateReceiveCount
	State             State
	SentAt            time.Time
	// VisibleAt is when a Delayed or InFlight message becomes visible.
	VisibleAt time.Time
	// ReceiptHandle is the latest receipt handle, "" before the first receive.
	ReceiptHandle string
	// DeadLetterSourceARN is the queue a dead-lettered message came from.
	DeadLetterSourceARN string
}

// Peek returns the messages of the queue at url, in delivery order (oldest first), without
// changing them; nil when there is no such queue.
func (s *Server) Peek(url string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[url]
	if q == nil {
		return nil
	}
	now := time.Now()
	q.expire(now)
	var out []Message
	for _, m := range q.msgs {
		if m.gone {
			continue
		}
		pm := Message{
			MessageID: m.id, Body: m.body, MessageAttributes: copyAttributes(m.attrs),
			GroupID: m.group, DeduplicationID: m.dedupID, SequenceNumber: m.sequence,
			ReceiveCount: m.receives, State: m.state(now), SentAt: m.sent, ReceiptHandle: m.handle,
			DeadLetterSourceARN: m.dlqSource,
		}
		if pm.State != Visible {
			pm.VisibleAt = m.visibleAt
		}
		out = append(out, pm)
	}
	return out
}

// begin admits one call of op: the context must not be done, then the call is counted and the
// fault hook asked.
func (s *Server) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return opError(op, fmt.Errorf("canceled, %w", err))
	}
	s.mu.Lock()
	s.calls[op]++
	hook := s.fault.Call
	s.mu.Unlock()
	if hook != nil {
		if err := hook(op); err != nil {
			return opError(op, err)
		}
	}
	return nil
}

// entryFaults asks the Entry hook about each batch entry id.
func (s *Server) entryFaults(op string, ids []string) []string {
	s.mu.Lock()
	hook := s.fault.Entry
	s.mu.Unlock()
	codes := make([]string, len(ids))
	if hook != nil {
		for i, id := range ids {
			codes[i] = hook(op, id)
		}
	}
	return codes
}

// faultEntry is the failed entry for an injected fault code.
func faultEntry(id, code string) types.BatchResultErrorEntry {
	e := entryError(id, &smithy.GenericAPIError{Code: code, Message: "sqsmem: injected fault"})
	return e
}

// queue returns the queue at url. Like fauxqs, and unlike real SQS, only the exact URL the
// server issued is accepted.
func (s *Server) queue(url string) (*queue, error) {
	q := s.queues[url]
	if q == nil {
		return nil, errQueueDoesNotExist()
	}
	return q, nil
}

// createQueue creates a queue, or returns the existing one when every given attribute matches.
func (s *Server) createQueue(name string, attrs map[string]string, now time.Time) (*queue, error) {
	fifo := strings.EqualFold(attrs[attrFifoQueue], "true")
	if !validQueueName(name, fifo) {
		if !fifo && strings.HasSuffix(name, ".fifo") {
			return nil, errInvalidParameter("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length. Set FifoQueue=true to create one.")
		}
		return nil, errInvalidParameter("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	existing := s.byName[name]
	norm, err := validateQueueAttributes(name, fifo, nil, attrs, func(arn string) *queue { return s.byARN[arn] })
	if err != nil {
		return nil, err
	}
	if existing != nil {
		for k, v := range norm {
			if existing.attrs[k] != v {
				return nil, errQueueNameExists(k)
			}
		}
		return existing, nil
	}
	q := newQueue(name, urlPrefix+name, arnPrefix+name, fifo, norm, now)
	s.queues[q.url] = q
	s.byName[name] = q
	s.byARN[q.arn] = q
	return q, nil
}

// nextID returns a new number unique within s.
func (s *Server) nextID() uint64 {
	s.seq++
	return s.seq
}

func (s *Server) newMessageID() string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", s.id, s.nextID())
}

func (s *Server) newHandle(q *queue, m *message) string {
	h := fmt.Sprintf("sqsmem-%d-%d-%s", s.id, s.nextID(), m.id)
	s.handles[h] = &receipt{q: q, m: m}
	return h
}

// deliver hands m out to one receiver for vis and returns the new receipt handle.
func (s *Server) deliver(q *queue, m *message, now time.Time, vis time.Duration) string {
	m.receives++
	if m.firstReceive.IsZero() {
		m.firstReceive = now
	}
	m.receivedAt = now
	m.visibleAt = now.Add(vis)
	m.handle = s.newHandle(q, m)
	return m.handle
}

// redrive moves m to q's dead-letter queue when this receive would exceed maxReceiveCount,
// and reports whether it did. The message keeps its id, body, attributes, group, SentTimestamp
// and receive count, and gains DeadLetterQueueSourceArn.
func (s *Server) redrive(q *queue, m *message, now time.Time) bool {
	if q.redrive == nil || m.receives < q.redrive.maxReceiveCount {
		return false
	}
	dlq := s.byARN[q.redrive.target]
	if dlq == nil {
		return false
	}
	q.remove(m)
	c := &message{
		id: m.id, body: m.body, bodyMD5: m.bodyMD5, attrs: m.attrs, attrsMD5: m.attrsMD5,
		traceHeader: m.traceHeader, group: m.group, dedupID: m.dedupID, sent: m.sent,
		retainFrom: m.retainFrom, dlqSource: q.arn, receives: m.receives, firstReceive: m.firstReceive,
		visibleAt: now,
	}
	if dlq.fifo {
		dlq.seq++
		c.sequence = fmt.Sprintf("%020d", dlq.seq)
		c.retainFrom = now // FIFO: the retention period restarts in the dead-letter queue
	}
	dlq.msgs = append(dlq.msgs, c)
	dlq.notify()
	return true
}
