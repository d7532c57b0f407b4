// Package producer enqueues Pusher webhook events on Hookline's SQS queue
// (DESIGN.md §3 and §7): a batched, bounded, backpressured SendMessageBatch
// publisher.
//
// # Publishing
//
// [Producer.Publish] hands events of one app to the producer and blocks until
// SQS accepted all of them, or until they failed. Events of one app that
// arrive within [Options.Linger] of the first are packed into one
// [payload.Envelope] (one SQS message), up to [Options.MaxEvents] events and
// [Options.MaxEnvelopeBytes] encoded bytes; apps are never mixed in one
// envelope. Sealed envelopes are sent with SendMessageBatch, up to 10 per call
// and 1 MiB per call (SQS limits), with at most [Options.Concurrency] calls in
// flight. A call that is not full waits up to [Options.BatchLinger] (50 ms)
// for envelopes of other apps to fill it, so that under load SQS bills one
// request per ten envelopes; while all calls are busy, sealed envelopes queue
// up and fill the next call.
//
// Events built in Go must carry client event data in Event.Data as a string
// (JSON text for objects), as Pusher does; events decoded from JSON are
// normalised that way by [payload.Event]. A zero Event.TimeMS is set to the
// time of the Publish call.
//
// # Outcomes
//
// Every event handed to the producer ends in exactly one outcome reported to
// its caller; nothing is dropped silently:
//
//   - nil: SQS accepted every event of the call;
//   - ctx.Err(): ctx ended while Publish waited for buffer room; nothing was
//     handed off or sent;
//   - [ErrClosed]: the producer was closed before the events were handed off;
//   - an error matching [ErrOutcomeUnknown]: ctx ended after the events were
//     handed off. They stay in the producer and are still sent (or fail) in
//     the background: they may or may not be enqueued;
//   - a [*SendError]: SQS refused the events (SenderFault), or retries were
//     exhausted, or [Producer.Close]'s deadline passed first. When the
//     SendError also matches [ErrOutcomeUnknown] an earlier attempt's outcome
//     was unknown (a network error, a 5xx), so SQS may nonetheless hold them;
//   - an error matching [ErrTooLarge], or a validation error: nothing of the
//     call was handed off.
//
// The events of one call may span several envelopes; a send failure reports
// only the events of the envelopes that failed (SendError.Events), and those
// of other envelopes may be enqueued.
//
// # Retries
//
// Retries happen in one place, per SendMessageBatch call: entries SQS reports
// Failed without SenderFault (InternalError, throttling) and whole-call errors
// that are not client faults (network errors, 5xx, throttling) are re-sent
// with exponential backoff with jitter, at most 5 attempts in all, and never
// past Close's deadline. The SDK's own retries are turned off for these calls
// so attempts do not multiply. A retried envelope keeps its id, so on FIFO
// queues SQS de-duplicates a re-send whose first attempt did arrive.
//
// # Backpressure
//
// At most [Options.BufferEvents] events are handed off and not yet settled;
// Publish waits for room, first come first served, until its ctx ends.
//
// # Queue types
//
// On FIFO queues each message has MessageGroupId = app_id and
// MessageDeduplicationId = the envelope id, and the producer keeps the order
// in which envelopes of an app were sealed: at most one envelope of an app is
// in flight at a time. On standard queues with [Options.FairQueues] each
// message has MessageGroupId = app_id (SQS fair queues).
package producer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/payload"
)

// SQS is the part of *sqs.Client the producer calls.
type SQS interface {
	SendMessageBatch(ctx context.Context, params *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	GetQueueAttributes(ctx context.Context, params *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var _ SQS = (*sqs.Client)(nil)

// Defaults for Options fields left zero.
const (
	DefaultLinger           = 10 * time.Millisecond
	DefaultBatchLinger      = 50 * time.Millisecond
	DefaultMaxEvents        = 100 // webhooks.batching.size
	DefaultMaxEnvelopeBytes = 64 << 10
	DefaultBufferEvents     = 10000
	DefaultConcurrency      = 4
)

// SQS limits.
const (
	maxBatchEntries = 10      // SQS limit: entries per SendMessageBatch call
	maxBatchBytes   = 1 << 20 // SQS limit: sum of the message sizes in one SendMessageBatch call
	maxMessageBytes = 1 << 20 // SQS limit: largest MaximumMessageSize
	maxIDLen        = 128     // SQS limit on MessageDeduplicationId; payload's limit on envelope ids
)

const (
	// attributeRoom is kept free below the queue's MaximumMessageSize for
	// message attributes (DESIGN.md §3).
	attributeRoom = 1 << 10
	// defaultQueueMaxBytes is assumed when the queue does not report
	// MaximumMessageSize: the limit older queues have.
	defaultQueueMaxBytes = 256 << 10
	// maxAttempts bounds the SendMessageBatch attempts for one envelope.
	maxAttempts = 5
	// retryInitial and retryMax shape the backoff between attempts.
	retryInitial = 100 * time.Millisecond
	retryMax     = 5 * time.Second
	// callTimeout bounds one SendMessageBatch call.
	callTimeout = 10 * time.Second
)

// ErrClosed is returned by Publish and PublishEnvelope after Close started;
// nothing of the call was handed off.
var ErrClosed = errors.New("producer: closed")

// ErrOutcomeUnknown is matched (errors.Is) by the error Publish returns when
// its ctx ended after the events were handed off, and by a SendError when an
// attempt's outcome was unknown: the events may or may not be enqueued. It
// never matches context.Canceled or context.DeadlineExceeded, which mean
// nothing was handed off.
var ErrOutcomeUnknown = errors.New("producer: outcome unknown: the events may or may not be enqueued")

// ErrTooLarge is matched by the error of a Publish whose event cannot fit in
// any envelope, or of a PublishEnvelope whose envelope is over the limit
// (HTTP ingest answers 413). Nothing of the call was handed off.
var ErrTooLarge = errors.New("producer: too large")

// ErrInvalid is matched by the error of a Publish that fails validation (an
// empty app id, a missing Name, a negative TimeMS, more events than
// Options.BufferEvents in one call). Nothing of the call was handed off.
var ErrInvalid = errors.New("producer: invalid events")

// SendError is a send failure of Events events of app AppID: SQS refused
// them (SenderFault), retries ran out, or Close's deadline passed. Code is
// the last SQS error code, "" for network errors and the close deadline.
// When Err matches ErrOutcomeUnknown SQS may nonetheless hold the events.
type SendError struct {
	AppID       string
	Events      int
	Code        string
	SenderFault bool
	Err         error
}

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "producer: send %d events of app %q", e.Events, e.AppID)
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.SenderFault {
		b.WriteString(" (sender fault)")
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *SendError) Unwrap() error { return e.Err }

// Options configure a Producer. Zero fields take the documented defaults.
type Options struct {
	// QueueURL is the queue's URL as GetQueueUrl or CreateQueue returned it
	// (emulators accept only that spelling). Required.
	QueueURL string
	// FIFO selects a FIFO queue (the URL ends in ".fifo"): MessageGroupId =
	// app_id, MessageDeduplicationId = envelope id, order kept per app.
	FIFO bool
	// FairQueues sets MessageGroupId = app_id on a standard queue (SQS fair
	// queues; config queue.sqs.fair_queues, on by default there). Ignored
	// with FIFO, which always sets it.
	FairQueues bool
	// Linger is how long an app's open envelope waits for more events after
	// its first. Default 10 ms.
	Linger time.Duration
	// BatchLinger is how long a sealed envelope waits for others, of any
	// app, to fill its SendMessageBatch call (10 entries or 1 MiB) before
	// the call goes out anyway: fuller calls, fewer billed requests. Default
	// 50 ms (Sockudo's batching duration); negative: send at once.
	BatchLinger time.Duration
	// MaxEvents is the most events per envelope (webhooks.batching.size).
	// Default 100.
	MaxEvents int
	// MaxEnvelopeBytes is the largest encoded envelope, in bytes. Default
	// 64 KiB (SQS bills each 64 KiB as one request). It is lowered to the
	// queue's MaximumMessageSize minus 1 KiB, read once in New.
	MaxEnvelopeBytes int
	// BufferEvents is the most events handed off and not yet settled;
	// Publish waits for room. A call with more events fails. Default 10000.
	BufferEvents int
	// Concurrency is the most SendMessageBatch calls in flight. Default 4.
	Concurrency int
	// NewID makes envelope ids: unique, printable ASCII without spaces,
	// '"' or '\', at most 128 bytes. Default 32 random hex digits.
	NewID func() string

	// Logger defaults to discarding.
	Logger *slog.Logger
	// Registry receives the producer's metrics; default a private registry.
	Registry prometheus.Registerer
	// Now is the clock for events' zero TimeMS; default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.BatchLinger == 0 {
		o.BatchLinger = DefaultBatchLinger
	}
	if o.MaxEvents == 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.MaxEnvelopeBytes == 0 {
		o.MaxEnvelopeBytes = DefaultMaxEnvelopeBytes
	}
	if o.BufferEvents == 0 {
		o.BufferEvents = DefaultBufferEvents
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.NewID == nil {
		o.NewID = randomID
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) validate() error {
	if o.QueueURL == "" {
		return errors.New("producer: Options.QueueURL: required")
	}
	if fifoURL := strings.HasSuffix(o.QueueURL, ".fifo"); fifoURL != o.FIFO {
		return fmt.Errorf("producer: Options.FIFO is %t but QueueURL %q is a %s queue", o.FIFO, o.QueueURL,
			map[bool]string{true: "FIFO", false: "standard"}[fifoURL])
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Linger", int64(o.Linger)},
		{"MaxEvents", int64(o.MaxEvents)},
		{"MaxEnvelopeBytes", int64(o.MaxEnvelopeBytes)},
		{"BufferEvents", int64(o.BufferEvents)},
		{"Concurrency", int64(o.Concurrency)},
	} {
		if f.v < 0 {
			return fmt.Errorf("producer: Options.%s: %d is negative", f.name, f.v)
		}
	}
	return nil
}

// randomID returns 128 random bits as 32 hex digits.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// Producer packs and sends events. Create it with New; it is safe for
// concurrent use. Close it to flush.
type Producer struct {
	client SQS
	opts   Options
	log    *slog.Logger
	m      *metrics

	maxBytes int // effective envelope limit

	buf *buffer

	sendCtx     context.Context // ends at Close's deadline
	cancelSends context.CancelFunc
	closing     chan struct{} // closed when Close starts
	drained     chan struct{} // closed when closed and nothing is left
	wg          sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	isDrain bool
	open    map[string]*envelope // app id → envelope accepting events
	pending []*envelope          // sealed, waiting for a call slot
	// batchTimer dispatches a partial batch when its linger ends.
	batchTimer *time.Timer
	inflight   int             // SendMessageBatch goroutines
	busy       map[string]bool // FIFO: apps with an envelope in flight

	onHandOff func() // tests only: called after a call was handed off
}

// New checks opts, reads the queue's MaximumMessageSize (GetQueueAttributes
// under ctx) and returns a running Producer. ctx is not kept.
func New(ctx context.Context, client SQS, opts Options) (*Producer, error) {
	if client == nil {
		return nil, errors.New("producer: nil SQS client")
	}
	userMax := opts.MaxEnvelopeBytes
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	queueMax, err := queueMaxBytes(ctx, client, opts.QueueURL)
	if err != nil {
		return nil, err
	}
	limit := min(opts.MaxEnvelopeBytes, queueMax-attributeRoom)
	if limit < 1 {
		return nil, fmt.Errorf("producer: queue %s: MaximumMessageSize %d leaves no room for an envelope (%d bytes are kept for attributes)",
			opts.QueueURL, queueMax, attributeRoom)
	}
	if userMax > limit {
		opts.Logger.Warn("producer: Options.MaxEnvelopeBytes is above the queue's MaximumMessageSize minus 1 KiB; lowered",
			"max_envelope_bytes", userMax, "queue_max_bytes", queueMax, "limit", limit)
	}
	opts.MaxEnvelopeBytes = limit

	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	p := &Producer{
		client:   client,
		opts:     opts,
		log:      opts.Logger,
		m:        m,
		maxBytes: limit,
		closing:  make(chan struct{}),
		drained:  make(chan struct{}),
		open:     make(map[string]*envelope),
		busy:     make(map[string]bool),
	}
	p.buf = newBuffer(opts.BufferEvents, p.closing, m.buffered)
	p.sendCtx, p.cancelSends = context.WithCancel(context.Background())
	return p, nil
}

// queueMaxBytes reads the queue's MaximumMessageSize, capped at the SQS limit.
func queueMaxBytes(ctx context.Context, client SQS, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameMaximumMessageSize},
	})
	if err != nil {
		return 0, fmt.Errorf("producer: read MaximumMessageSize of %s: %w", url, err)
	}
	s, ok := out.Attributes[string(types.QueueAttributeNameMaximumMessageSize)]
	if !ok {
		return defaultQueueMaxBytes, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("producer: queue %s: MaximumMessageSize %q is not a positive integer", url, s)
	}
	return min(n, maxMessageBytes), nil
}

// MaxEnvelopeBytes is the effective envelope limit: Options.MaxEnvelopeBytes
// lowered to the queue's MaximumMessageSize minus 1 KiB.
func (p *Producer) MaxEnvelopeBytes() int { return p.maxBytes }

// Publish hands events of app appID to the producer and blocks until SQS
// accepted all of them or they failed; see the package documentation for
// the outcomes. Events are validated first (a Name is required, TimeMS must
// not be negative, each must fit in an envelope): an invalid call enqueues
// nothing. Publish with no events returns nil.
//
// Event.Data must be a string: for a client event whose data is an object,
// pass its JSON text (payload.Event's JSON decoding already does this). A zero
// Event.TimeMS is set to Options.Now. The producer copies the events; the
// caller may reuse them once Publish returns.
func (p *Producer) Publish(ctx context.Context, appID string, events ...payload.Event) error {
	if appID == "" {
		return fmt.Errorf("%w: empty app id", ErrInvalid)
	}
	if len(events) == 0 {
		return nil
	}
	if len(events) > p.opts.BufferEvents {
		return fmt.Errorf("%w: %d events in one call; the buffer holds %d (Options.BufferEvents)", ErrInvalid, len(events), p.opts.BufferEvents)
	}
	header := headerSize(appID)
	// The producer keeps its own copy: the caller may reuse its slice as
	// soon as Publish returns, even with ErrOutcomeUnknown.
	evs := make([]payload.Event, len(events))
	sizes := make([]int, len(events))
	var nowMS int64
	for i := range events {
		ev := events[i]
		if ev.Name == "" {
			return fmt.Errorf(`%w: events[%d]: missing "name"`, ErrInvalid, i)
		}
		if ev.TimeMS < 0 {
			return fmt.Errorf(`%w: events[%d]: "time_ms": negative (%d)`, ErrInvalid, i, ev.TimeMS)
		}
		if ev.TimeMS == 0 {
			if nowMS == 0 {
				nowMS = p.opts.Now().UnixMilli()
			}
			ev.TimeMS = nowMS
		}
		size := payload.EventSize(&ev)
		if header+size > p.maxBytes {
			return fmt.Errorf("%w: events[%d] encodes to %d bytes, %d with the envelope; the limit is %d",
				ErrTooLarge, i, size, header+size, p.maxBytes)
		}
		evs[i], sizes[i] = ev, size
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.buf.acquire(ctx, len(evs)); err != nil {
		return err
	}
	c := &call{refs: 1, done: make(chan struct{})} // Publish holds one reference while packing
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.buf.release(len(evs))
		return ErrClosed
	}
	for i := range evs {
		p.addLocked(appID, header, evs[i], sizes[i], c)
	}
	p.dispatchLocked()
	p.mu.Unlock()
	c.finish(nil)
	return p.wait(ctx, c)
}

// PublishEnvelope sends env as it is (its id, events and any retry fields)
// as one SQS message, through the same SendMessageBatch batcher, and blocks
// like Publish: for a caller that builds envelopes itself. env
// must pass payload.Encode and fit Options.MaxEnvelopeBytes (else an error
// matching ErrTooLarge); on FIFO queues env.ID is the deduplication id.
func (p *Producer) PublishEnvelope(ctx context.Context, env *payload.Envelope) error {
	body, err := payload.Encode(env)
	if err != nil {
		return fmt.Errorf("producer: envelope: %w", err)
	}
	if len(body) > p.maxBytes {
		return fmt.Errorf("%w: envelope %q encodes to %d bytes; the limit is %d", ErrTooLarge, env.ID, len(body), p.maxBytes)
	}
	n := len(env.Events)
	if n > p.opts.BufferEvents {
		return fmt.Errorf("%w: envelope %q has %d events; the buffer holds %d (Options.BufferEvents)", ErrInvalid, env.ID, n, p.opts.BufferEvents)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.buf.acquire(ctx, n); err != nil {
		return err
	}
	c := &call{refs: 1, done: make(chan struct{})} // the envelope's one part
	e := &envelope{appID: env.AppID, id: env.ID, body: string(body), size: len(body), n: n, parts: []part{{c: c, n: n}}, sealed: time.Now()}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.buf.release(n)
		return ErrClosed
	}
	p.pending = append(p.pending, e)
	p.dispatchLocked()
	p.mu.Unlock()
	return p.wait(ctx, c)
}

// wait blocks until c settled or ctx ended.
func (p *Producer) wait(ctx context.Context, c *call) error {
	if p.onHandOff != nil {
		p.onHandOff()
	}
	select {
	case <-c.done:
		return c.result()
	case <-ctx.Done():
		select {
		case <-c.done:
			return c.result()
		default:
		}
		return fmt.Errorf("%w (%v)", ErrOutcomeUnknown, context.Cause(ctx))
	}
}

// Close stops accepting events (Publish returns ErrClosed), seals every open
// envelope at once, and waits until everything handed off is settled and no
// send is in flight. The flush runs under context.WithoutCancel(ctx) bounded
// by ctx's deadline: cancelling ctx does not cut it short, its deadline
// does. At the deadline, sends in flight are abandoned and what is left fails
// with a *SendError; Close then returns an error matching
// context.DeadlineExceeded. Close may be called more than once.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
		for _, e := range p.open {
			p.sealLocked(e)
		}
		p.dispatchLocked()
	}
	p.mu.Unlock()

	flushCtx := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		flushCtx, cancel = context.WithDeadline(flushCtx, deadline)
		defer cancel()
	}
	var err error
	select {
	case <-p.drained:
	case <-flushCtx.Done():
		err = fmt.Errorf("producer: close: flush: %w", flushCtx.Err())
		p.cancelSends()
		p.mu.Lock()
		p.dispatchLocked() // fails what is still pending
		p.mu.Unlock()
		<-p.drained
	}
	p.cancelSends()
	p.wg.Wait()
	return err
}

// call tracks one Publish or PublishEnvelope: it is done when every envelope
// holding some of its events settled.
type call struct {
	mu   sync.Mutex
	refs int
	errs []error
	done chan struct{}
}

func (c *call) ref() {
	c.mu.Lock()
	c.refs++
	c.mu.Unlock()
}

// finish drops one reference, recording err.
func (c *call) finish(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs = append(c.errs, err)
	}
	c.refs--
	if c.refs == 0 {
		close(c.done)
	}
}

// result is the call's error once done: nil, one error, or several joined.
func (c *call) result() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) == 1 {
		return c.errs[0]
	}
	return errors.Join(c.errs...)
}
