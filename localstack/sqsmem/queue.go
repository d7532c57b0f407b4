package sqsmem

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Queue attribute names.
const (
	attrVisibilityTimeout        = "VisibilityTimeout"
	attrDelaySeconds             = "DelaySeconds"
	attrMaximumMessageSize       = "MaximumMessageSize"
	attrMessageRetentionPeriod   = "MessageRetentionPeriod"
	attrReceiveWaitTimeSeconds   = "ReceiveMessageWaitTimeSeconds"
	attrRedrivePolicy            = "RedrivePolicy"
	attrRedriveAllowPolicy       = "RedriveAllowPolicy"
	attrPolicy                   = "Policy"
	attrFifoQueue                = "FifoQueue"
	attrContentBasedDedup        = "ContentBasedDeduplication"
	attrDeduplicationScope       = "DeduplicationScope"
	attrFifoThroughputLimit      = "FifoThroughputLimit"
	attrSqsManagedSseEnabled     = "SqsManagedSseEnabled"
	attrKmsMasterKeyID           = "KmsMasterKeyId"
	attrKmsDataKeyReusePeriod    = "KmsDataKeyReusePeriodSeconds"
	attrQueueArn                 = "QueueArn"
	attrApproxMessages           = "ApproximateNumberOfMessages"
	attrApproxMessagesNotVisible = "ApproximateNumberOfMessagesNotVisible"
	attrApproxMessagesDelayed    = "ApproximateNumberOfMessagesDelayed"
	attrCreatedTimestamp         = "CreatedTimestamp"
	attrLastModifiedTimestamp    = "LastModifiedTimestamp"
)

// intRanges are the integer queue attributes and their valid ranges.
var intRanges = map[string][2]int{
	attrVisibilityTimeout:      {0, maxVisibilitySeconds},
	attrDelaySeconds:           {0, maxDelaySeconds},
	attrMaximumMessageSize:     {1024, defaultMaxSize},
	attrMessageRetentionPeriod: {60, 1209600},
	attrReceiveWaitTimeSeconds: {0, maxWaitSeconds},
	attrKmsDataKeyReusePeriod:  {60, 86400},
}

// fifoOnly are the attributes only FIFO queues have.
var fifoOnly = map[string][]string{
	attrContentBasedDedup:   {"true", "false"},
	attrDeduplicationScope:  {"queue", "messageGroup"},
	attrFifoThroughputLimit: {"perQueue", "perMessageGroupId"},
}

// redrive is a parsed RedrivePolicy.
type redrive struct {
	target          string // dead-letter queue ARN
	maxReceiveCount int
}

// queue is one SQS queue. All fields are guarded by Server.mu.
type queue struct {
	name, url, arn string
	fifo           bool
	attrs          map[string]string // settable attributes, normalised
	created        time.Time
	modified       time.Time

	// Parsed from attrs.
	visibility time.Duration
	delay      time.Duration
	maxSize    int
	retention  time.Duration
	wait       time.Duration
	redrive    *redrive

	msgs    []*message // in enqueue order; deleted ones are compacted away
	deleted int        // deleted messages still in msgs
	dedup   map[string]dedupEntry
	seq     uint64 // FIFO sequence numbers
	purged  time.Time

	// wake is closed (and cleared) whenever the queue changes; long polls wait on it. It is made
	// by the waiting poller, so under testing/synctest it belongs to the poller's bubble.
	wake chan struct{}
}

type dedupEntry struct {
	messageID, sequence string
	at                  time.Time
}

// message is one message of a queue. All fields are guarded by Server.mu.
type message struct {
	id, body, bodyMD5 string
	attrs             map[string]types.MessageAttributeValue
	attrsMD5          string
	traceHeader       string
	group, dedupID    string
	sequence          string // FIFO only
	sent              time.Time
	retainFrom        time.Time // start of the retention period
	dlqSource         string    // ARN of the queue it was dead-lettered from

	visibleAt    time.Time // delayed (never received) or in flight (received) until then
	receivedAt   time.Time // latest receive: the 12-hour visibility limit counts from it
	receives     int
	firstReceive time.Time
	handle       string // latest receipt handle; "" before the first receive
	gone         bool   // deleted, purged, expired or moved to the dead-letter queue
}

// State is where a message is in its life on a queue.
type State int

const (
	// Visible messages can be received.
	Visible State = iota
	// InFlight messages were received and their visibility timeout has not expired.
	InFlight
	// Delayed messages were sent with a delay that has not passed yet.
	Delayed
)

func (st State) String() string {
	switch st {
	case Visible:
		return "visible"
	case InFlight:
		return "in-flight"
	case Delayed:
		return "delayed"
	}
	return "State(" + strconv.Itoa(int(st)) + ")"
}

func (m *message) state(now time.Time) State {
	if now.Before(m.visibleAt) {
		if m.receives == 0 {
			return Delayed
		}
		return InFlight
	}
	return Visible
}

func (m *message) inFlight(now time.Time) bool { return m.receives > 0 && now.Before(m.visibleAt) }

// notify wakes every long poll waiting on q.
func (q *queue) notify() {
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
}

// waiter returns the channel closed at the next change of q.
func (q *queue) waiter() <-chan struct{} {
	if q.wake == nil {
		q.wake = make(chan struct{})
	}
	return q.wake
}

// remove marks m gone; expire compacts msgs later (never while a caller ranges over it).
func (q *queue) remove(m *message) {
	if m.gone {
		return
	}
	m.gone = true
	q.deleted++
	q.notify()
}

// expire compacts msgs once half of it is gone, and drops messages past the retention period.
// Every operation that scans the queue calls it first.
func (q *queue) expire(now time.Time) {
	if q.deleted > 32 && q.deleted > len(q.msgs)/2 {
		live := q.msgs[:0]
		for _, m := range q.msgs {
			if !m.gone {
				live = append(live, m)
			}
		}
		clear(q.msgs[len(live):])
		q.msgs = live
		q.deleted = 0
	}
	for _, m := range q.msgs {
		if !m.gone && !now.Before(m.retainFrom.Add(q.retention)) {
			q.remove(m)
		}
	}
}

// nextChange is the earliest time after now at which a message of q becomes visible (a delay
// or a visibility timeout ending); zero if none.
func (q *queue) nextChange(now time.Time) time.Time {
	var next time.Time
	for _, m := range q.msgs {
		if !m.gone && m.visibleAt.After(now) && (next.IsZero() || m.visibleAt.Before(next)) {
			next = m.visibleAt
		}
	}
	return next
}

// counts returns the approximate numbers of visible, in-flight and delayed messages.
func (q *queue) counts(now time.Time) (visible, inFlight, delayed int) {
	for _, m := range q.msgs {
		if m.gone {
			continue
		}
		switch m.state(now) {
		case Visible:
			visible++
		case InFlight:
			inFlight++
		case Delayed:
			delayed++
		}
	}
	return visible, inFlight, delayed
}

// candidates returns, in delivery order, the messages a receive may take now (before redrive):
// on standard queues every visible message, oldest first; on FIFO queues the visible messages
// of unlocked groups, group by group (SQS returns as many messages of one group as it can),
// each group in order up to its first message that is not visible.
func (q *queue) candidates(now time.Time) []*message {
	var out []*message
	if !q.fifo {
		for _, m := range q.msgs {
			if !m.gone && !now.Before(m.visibleAt) {
				out = append(out, m)
			}
		}
		return out
	}
	locked := map[string]bool{}
	for _, m := range q.msgs {
		if !m.gone && m.inFlight(now) {
			locked[m.group] = true
		}
	}
	var order []string
	groups := map[string][]*message{}
	blocked := map[string]bool{}
	for _, m := range q.msgs {
		if m.gone || locked[m.group] || blocked[m.group] {
			continue
		}
		if now.Before(m.visibleAt) { // delayed: it and everything after it in its group wait
			blocked[m.group] = true
			continue
		}
		if _, seen := groups[m.group]; !seen {
			order = append(order, m.group)
		}
		groups[m.group] = append(groups[m.group], m)
	}
	for _, g := range order {
		out = append(out, groups[g]...)
	}
	return out
}

// newQueue builds a queue from validated, normalised attributes.
func newQueue(name, url, arn string, fifo bool, attrs map[string]string, now time.Time) *queue {
	q := &queue{name: name, url: url, arn: arn, fifo: fifo, created: now, modified: now,
		attrs: map[string]string{
			attrVisibilityTimeout:      itoa(defaultVisibility),
			attrDelaySeconds:           "0",
			attrMaximumMessageSize:     itoa(defaultMaxSize),
			attrMessageRetentionPeriod: itoa(defaultRetention),
			attrReceiveWaitTimeSeconds: "0",
			attrSqsManagedSseEnabled:   "true",
		},
		dedup: map[string]dedupEntry{},
	}
	if fifo {
		q.attrs[attrFifoQueue] = "true"
		q.attrs[attrContentBasedDedup] = "false"
		q.attrs[attrDeduplicationScope] = "queue"
		q.attrs[attrFifoThroughputLimit] = "perQueue"
	}
	q.set(attrs, now)
	return q
}

// set applies validated, normalised attributes ("" removes RedrivePolicy and the policies).
func (q *queue) set(attrs map[string]string, now time.Time) {
	for k, v := range attrs {
		if v == "" && (k == attrRedrivePolicy || k == attrPolicy || k == attrRedriveAllowPolicy || k == attrKmsMasterKeyID) {
			delete(q.attrs, k)
			continue
		}
		q.attrs[k] = v
	}
	sec := func(name string) time.Duration {
		n, _ := strconv.Atoi(q.attrs[name])
		return time.Duration(n) * time.Second
	}
	q.visibility = sec(attrVisibilityTimeout)
	q.delay = sec(attrDelaySeconds)
	q.retention = sec(attrMessageRetentionPeriod)
	q.wait = sec(attrReceiveWaitTimeSeconds)
	q.maxSize, _ = strconv.Atoi(q.attrs[attrMaximumMessageSize])
	q.redrive = nil
	if p, ok := q.attrs[attrRedrivePolicy]; ok {
		target, n, _ := parseRedrive(p)
		q.redrive = &redrive{target: target, maxReceiveCount: n}
	}
	q.modified = now
	q.notify()
}

// redrivePolicy is the JSON of RedrivePolicy; maxReceiveCount may be a number or a string.
type redrivePolicy struct {
	DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
	MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
}

func parseRedrive(s string) (target string, maxReceiveCount int, err error) {
	var p redrivePolicy
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return "", 0, fmt.Errorf("not a JSON object: %v", err)
	}
	if p.DeadLetterTargetArn == "" {
		return "", 0, fmt.Errorf("deadLetterTargetArn is missing")
	}
	raw := strings.TrimSpace(string(p.MaxReceiveCount))
	if unq, err := strconv.Unquote(raw); err == nil {
		raw = strings.TrimSpace(unq)
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 1000 {
		return "", 0, fmt.Errorf("maxReceiveCount must be an integer between 1 and 1000")
	}
	return p.DeadLetterTargetArn, n, nil
}

// redriveJSON is RedrivePolicy as real SQS reports it: maxReceiveCount as a number.
func redriveJSON(target string, maxReceiveCount int) string {
	b, _ := json.Marshal(struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}{target, maxReceiveCount}) // cannot fail: a string and an int
	return string(b)
}

// attribute returns the value of one queue attribute as GetQueueAttributes reports it.
func (q *queue) attribute(name string, now time.Time) (string, bool) {
	switch name {
	case attrQueueArn:
		return q.arn, true
	case attrApproxMessages, attrApproxMessagesNotVisible, attrApproxMessagesDelayed:
		v, f, d := q.counts(now)
		return itoa(map[string]int{attrApproxMessages: v, attrApproxMessagesNotVisible: f, attrApproxMessagesDelayed: d}[name]), true
	case attrCreatedTimestamp:
		return strconv.FormatInt(q.created.Unix(), 10), true
	case attrLastModifiedTimestamp:
		return strconv.FormatInt(q.modified.Unix(), 10), true
	}
	v, ok := q.attrs[name]
	return v, ok
}

// allAttributes lists the attributes GetQueueAttributes reports for "All", in a stable order.
var allAttributes = []string{
	attrQueueArn, attrApproxMessages, attrApproxMessagesNotVisible, attrApproxMessagesDelayed,
	attrCreatedTimestamp, attrLastModifiedTimestamp, attrVisibilityTimeout, attrMaximumMessageSize,
	attrMessageRetentionPeriod, attrDelaySeconds, attrReceiveWaitTimeSeconds, attrRedrivePolicy,
	attrRedriveAllowPolicy, attrPolicy, attrSqsManagedSseEnabled, attrKmsMasterKeyID, attrKmsDataKeyReusePeriod,
	attrFifoQueue, attrContentBasedDedup, attrDeduplicationScope, attrFifoThroughputLimit,
}

// validateQueueAttributes checks attributes for CreateQueue (existing == nil) or
// SetQueueAttributes and returns them normalised. lookup finds queues by ARN, for the redrive
// target.
func validateQueueAttributes(name string, fifo bool, existing *queue, in map[string]string,
	lookup func(arn string) *queue) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for k, v := range in {
		if r, ok := intRanges[k]; ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < r[0] || n > r[1] {
				return nil, errInvalidAttributeValue("Invalid value for the parameter %s.", k)
			}
			out[k] = itoa(n)
			continue
		}
		if allowed, ok := fifoOnly[k]; ok {
			if !fifo {
				return nil, errInvalidAttributeName("You can specify the %s only when FifoQueue is set to true.", k)
			}
			if !contains(allowed, v) {
				return nil, errInvalidAttributeValue("Invalid value for the parameter %s.", k)
			}
			out[k] = v
			continue
		}
		switch k {
		case attrFifoQueue:
			want := "false"
			if fifo {
				want = "true"
			}
			if !strings.EqualFold(v, want) {
				if existing != nil {
					return nil, errInvalidAttributeValue("Invalid value for the parameter FifoQueue. You cannot change the FifoQueue attribute of an existing queue.")
				}
				return nil, errInvalidParameter("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
			}
			if !fifo { // FifoQueue=false on a standard queue is accepted and not reported
				continue
			}
			out[k] = "true"
		case attrSqsManagedSseEnabled:
			if v != "true" && v != "false" {
				return nil, errInvalidAttributeValue("Invalid value for the parameter %s.", k)
			}
			out[k] = v
		case attrKmsMasterKeyID, attrPolicy, attrRedriveAllowPolicy:
			out[k] = v
		case attrRedrivePolicy:
			if v == "" {
				out[k] = ""
				continue
			}
			target, n, err := parseRedrive(v)
			if err != nil {
				return nil, errInvalidParameter("Value %s for parameter RedrivePolicy is invalid. Reason: %v.", v, err)
			}
			dlq := lookup(target)
			switch {
			case dlq == nil:
				return nil, errInvalidParameter("Value %s for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.", v)
			case dlq.fifo != fifo:
				return nil, errInvalidParameter("Value %s for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.", v)
			case dlq.name == name:
				return nil, errInvalidParameter("Value %s for parameter RedrivePolicy is invalid. Reason: A queue cannot be its own dead-letter queue.", v)
			}
			out[k] = redriveJSON(target, n)
		default:
			return nil, errInvalidAttributeName("Unknown Attribute %s.", k)
		}
	}
	return out, nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
