package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/localstack/sqsmem"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/signing"
	"github.com/hookline/hookline/worker"
)

// The behaviour suite's settings: short enough that the real-time back end
// finishes in seconds, long enough for the worker's startup check (the
// visibility timeout must hold three heartbeats plus one SQS call).
const (
	suiteVisibility      = 6 * time.Second
	suiteMaxReceiveCount = 10
	suiteCallTimeout     = 2 * time.Second
	suiteGrace           = 4 * time.Second
	suiteWaitSeconds     = 1
	suiteApp             = "app"
	suiteKey             = "app-key"
	suiteSecret          = "app-secret"
)

// suiteWebhooks is the suite's webhooks section: a 50 ms batching window
// and retries after 1 s (800 ms ± 20 % jitter, rounded up to whole seconds:
// always exactly 1 s, so retry envelopes of one batch come back together).
const suiteWebhooks = `{"batching":{"enabled":true,"duration":50},
	"retry":{"max_attempts":5,"initial_backoff_ms":800,"max_backoff_ms":800,"max_elapsed_time_ms":120000}}`

// backend is one SQS the behaviour suite runs against.
type backend struct {
	name string
	// virtual is set when the suite runs on synctest's fake clock: timing
	// bounds are then deterministic and may be asserted.
	virtual bool
	// run runs one scenario: in a synctest bubble, or as it is.
	run func(t *testing.T, body func(t *testing.T))
	// queues creates a fresh queue pair (visibility suiteVisibility, redrive
	// after suiteMaxReceiveCount receives) and returns the client the worker
	// uses, the client the test uses to set up and inspect, and the URLs.
	queues func(t *testing.T, fifo bool) (client worker.SQS, admin adminClient, mainURL, dlqURL string)
}

// limit bounds every wait of a scenario: long in virtual time (it costs
// nothing), generous in real time.
func (b *backend) limit() time.Duration {
	if b.virtual {
		return 10 * time.Minute
	}
	return 90 * time.Second
}

// adminClient is what the suite calls on SQS itself, outside the worker.
type adminClient interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var (
	_ adminClient = (*sqs.Client)(nil)
	_ adminClient = (*sqsmem.Client)(nil)
	_ worker.SQS  = (*sqsmem.Client)(nil)
	_ worker.SQS  = (*faultSQS)(nil)
)

// ---------------------------------------------------------------------------
// Fault injection at the worker's SQS seam.

// faultSQS wraps any worker.SQS: it counts the worker's calls and entries by
// operation, fails scripted calls or entries, and tells observers about
// every call. The same faults work on every back end.
type faultSQS struct {
	next worker.SQS
	// heartbeat is the queue's visibility timeout in seconds: what the
	// worker's heartbeat entries set (releases and delays set other values).
	heartbeat int32

	mu         sync.Mutex
	calls      map[string]int                     // by operation
	entries    map[string]int                     // entries (messages for ReceiveMessage) by operation
	ok         map[string]int                     // entries answered as successful
	failCalls  map[string][]error                 // the next calls of an op fail with these errors, in order
	entryFault map[string]func(e sqsEntry) string // per entry: a non-empty error code fails it
	lost       map[string]bool                    // receipt handles reported lost
	deletes    []string                           // receipt handles of every DeleteMessageBatch entry sent
	waiters    []*countWaiter
	observers  []func(sqsCall)
	hold       *heldCall
}

// sqsEntry is one entry of a batch call (or one received message), as the
// worker sent it.
type sqsEntry struct {
	ID         string
	Handle     string // delete, visibility, receive
	Visibility int32  // visibility
	Body       string // send, receive
	Delay      int32  // send
}

// sqsCall is one call, after it returned.
type sqsCall struct {
	Op, Queue string
	Entries   []sqsEntry
	Failed    map[string]string // entry id → error code (injected or the back end's)
	Err       error
}

// succeeded lists the entries that were answered as successful.
func (c sqsCall) succeeded() []sqsEntry {
	if c.Err != nil {
		return nil
	}
	var out []sqsEntry
	for _, e := range c.Entries {
		if _, failed := c.Failed[e.ID]; !failed {
			out = append(out, e)
		}
	}
	return out
}

type countWaiter struct {
	op string
	n  int
	ch chan struct{}
}

func newFaultSQS(next worker.SQS) *faultSQS {
	return &faultSQS{
		next:       next,
		heartbeat:  int32(suiteVisibility / time.Second),
		calls:      map[string]int{},
		entries:    map[string]int{},
		ok:         map[string]int{},
		failCalls:  map[string][]error{},
		entryFault: map[string]func(sqsEntry) string{},
		lost:       map[string]bool{},
	}
}

// failNext makes the next n calls of op fail with err, without reaching SQS.
func (f *faultSQS) failNext(op string, n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.failCalls[op] = append(f.failCalls[op], err)
	}
}

// failEntries fails every entry of op for which fn returns an error code;
// the other entries of the call go to SQS. fn runs without f's lock held.
func (f *faultSQS) failEntries(op string, fn func(e sqsEntry) string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entryFault[op] = fn
}

// failFirstEntry fails the first entry of op the worker ever sends (only
// that one) with code, and returns a channel that receives that entry.
func (f *faultSQS) failFirstEntry(op, code string) <-chan sqsEntry {
	failed := make(chan sqsEntry, 1)
	var once sync.Once
	f.failEntries(op, func(e sqsEntry) string {
		c := ""
		once.Do(func() { c = code; failed <- e })
		return c
	})
	return failed
}

// loseHeartbeats reports heartbeat entries (visibility changes to the
// queue's visibility timeout) whose handle matches (nil: every one) as
// ReceiptHandleIsInvalid: another receiver owns the message now. The
// handles are remembered (deletedWithLostHandles).
func (f *faultSQS) loseHeartbeats(match func(handle string) bool) {
	f.failEntries("ChangeMessageVisibilityBatch", func(e sqsEntry) string {
		if e.Visibility != f.heartbeat || (match != nil && !match(e.Handle)) {
			return ""
		}
		f.mu.Lock()
		f.lost[e.Handle] = true
		f.mu.Unlock()
		return "ReceiptHandleIsInvalid"
	})
}

// deleteHandles lists the handles of every DeleteMessageBatch entry sent.
func (f *faultSQS) deleteHandles() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deletes)
}

// holdHeartbeat makes the next heartbeat call (a ChangeMessageVisibilityBatch
// with a heartbeat entry) wait before it reaches SQS, as a slow call would:
// held is closed once it waits, and release lets it go on.
func (f *faultSQS) holdHeartbeat() (held <-chan struct{}, release func()) {
	h, r := make(chan struct{}), make(chan struct{})
	f.mu.Lock()
	f.hold = &heldCall{held: h, release: r}
	f.mu.Unlock()
	var once sync.Once
	return h, func() { once.Do(func() { close(r) }) }
}

type heldCall struct{ held, release chan struct{} }

// takeHold returns the hold to apply to a visibility call, if any.
func (f *faultSQS) takeHold(entries []sqsEntry) *heldCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hold == nil {
		return nil
	}
	for _, e := range entries {
		if e.Visibility == f.heartbeat {
			h := f.hold
			f.hold = nil
			return h
		}
	}
	return nil
}

// observe calls fn after every call (from the worker's goroutines; fn must
// not block for long).
func (f *faultSQS) observe(fn func(sqsCall)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.observers = append(f.observers, fn)
}

// awaitOK returns a channel closed once n entries of op (messages, for
// ReceiveMessage) were answered as successful.
func (f *faultSQS) awaitOK(op string, n int) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &countWaiter{op: op, n: n, ch: make(chan struct{})}
	if f.ok[op] >= n {
		close(w.ch)
	} else {
		f.waiters = append(f.waiters, w)
	}
	return w.ch
}

// counts returns the calls and entries of op so far.
func (f *faultSQS) counts(op string) (calls, entries int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op], f.entries[op]
}

// deletedWithLostHandles lists the DeleteMessageBatch entries sent with a
// handle that had been reported lost.
func (f *faultSQS) deletedWithLostHandles() (bad []string, lost int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.deletes {
		if f.lost[h] {
			bad = append(bad, h)
		}
	}
	return bad, len(f.lost)
}

// begin counts a call and returns the scripted error that fails it, if any.
func (f *faultSQS) begin(op string, entries []sqsEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	f.entries[op] += len(entries)
	if op == "DeleteMessageBatch" {
		for _, e := range entries {
			f.deletes = append(f.deletes, e.Handle)
		}
	}
	if list := f.failCalls[op]; len(list) > 0 {
		f.failCalls[op] = list[1:]
		return list[0]
	}
	return nil
}

// injected returns the error codes of the entries of op to fail.
func (f *faultSQS) injected(op string, entries []sqsEntry) map[string]string {
	f.mu.Lock()
	fn := f.entryFault[op]
	f.mu.Unlock()
	codes := map[string]string{}
	if fn == nil {
		return codes
	}
	for _, e := range entries {
		if code := fn(e); code != "" {
			codes[e.ID] = code
		}
	}
	return codes
}

// finish records a call's outcome and tells the waiters and observers.
func (f *faultSQS) finish(c sqsCall) {
	ok := len(c.succeeded())
	f.mu.Lock()
	f.ok[c.Op] += ok
	var ready []chan struct{}
	keep := f.waiters[:0]
	for _, w := range f.waiters {
		if w.op == c.Op && f.ok[c.Op] >= w.n {
			ready = append(ready, w.ch)
		} else {
			keep = append(keep, w)
		}
	}
	f.waiters = keep
	observers := slices.Clone(f.observers)
	f.mu.Unlock()
	for _, ch := range ready {
		close(ch)
	}
	for _, fn := range observers {
		fn(c)
	}
}

// apiError is an error as the SDK returns it for an API error code.
func apiError(op, code string) error {
	return &smithy.OperationError{ServiceID: "SQS", OperationName: op,
		Err: &smithy.GenericAPIError{Code: code, Message: "injected by the test", Fault: smithy.FaultServer}}
}

// batchFailure is a failed batch entry as SQS reports it.
func batchFailure(id, code string) types.BatchResultErrorEntry {
	server := code == "InternalError" || code == "InternalFailure" || code == "ServiceUnavailable"
	return types.BatchResultErrorEntry{Id: aws.String(id), Code: aws.String(code), Message: aws.String("injected by the test"),
		SenderFault: !server}
}

func (f *faultSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	const op = "ReceiveMessage"
	if err := f.begin(op, nil); err != nil {
		f.finish(sqsCall{Op: op, Queue: aws.ToString(in.QueueUrl), Err: err})
		return nil, err
	}
	out, err := f.next.ReceiveMessage(ctx, in, optFns...)
	c := sqsCall{Op: op, Queue: aws.ToString(in.QueueUrl), Err: err}
	if err == nil {
		for _, m := range out.Messages {
			c.Entries = append(c.Entries, sqsEntry{ID: aws.ToString(m.MessageId), Handle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body)})
		}
		f.mu.Lock()
		f.entries[op] += len(out.Messages)
		f.mu.Unlock()
	}
	f.finish(c)
	return out, err
}

func (f *faultSQS) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	const op = "DeleteMessageBatch"
	c := sqsCall{Op: op, Queue: aws.ToString(in.QueueUrl), Failed: map[string]string{}}
	for _, e := range in.Entries {
		c.Entries = append(c.Entries, sqsEntry{ID: aws.ToString(e.Id), Handle: aws.ToString(e.ReceiptHandle)})
	}
	if c.Err = f.begin(op, c.Entries); c.Err != nil {
		f.finish(c)
		return nil, c.Err
	}
	codes := f.injected(op, c.Entries)
	fwd := *in
	fwd.Entries = nil
	for _, e := range in.Entries {
		if codes[aws.ToString(e.Id)] == "" {
			fwd.Entries = append(fwd.Entries, e)
		}
	}
	out := &sqs.DeleteMessageBatchOutput{}
	if len(fwd.Entries) > 0 {
		out, c.Err = f.next.DeleteMessageBatch(ctx, &fwd, optFns...)
	}
	if c.Err != nil {
		f.finish(c)
		return nil, c.Err
	}
	for id, code := range codes {
		out.Failed = append(out.Failed, batchFailure(id, code))
	}
	for _, e := range out.Failed {
		c.Failed[aws.ToString(e.Id)] = aws.ToString(e.Code)
	}
	f.finish(c)
	return out, nil
}

func (f *faultSQS) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput,
	optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	const op = "ChangeMessageVisibilityBatch"
	c := sqsCall{Op: op, Queue: aws.ToString(in.QueueUrl), Failed: map[string]string{}}
	for _, e := range in.Entries {
		c.Entries = append(c.Entries, sqsEntry{ID: aws.ToString(e.Id), Handle: aws.ToString(e.ReceiptHandle), Visibility: e.VisibilityTimeout})
	}
	if c.Err = f.begin(op, c.Entries); c.Err != nil {
		f.finish(c)
		return nil, c.Err
	}
	if h := f.takeHold(c.Entries); h != nil {
		close(h.held)
		<-h.release
	}
	codes := f.injected(op, c.Entries)
	fwd := *in
	fwd.Entries = nil
	for _, e := range in.Entries {
		if codes[aws.ToString(e.Id)] == "" {
			fwd.Entries = append(fwd.Entries, e)
		}
	}
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	if len(fwd.Entries) > 0 {
		out, c.Err = f.next.ChangeMessageVisibilityBatch(ctx, &fwd, optFns...)
	}
	if c.Err != nil {
		f.finish(c)
		return nil, c.Err
	}
	for id, code := range codes {
		out.Failed = append(out.Failed, batchFailure(id, code))
	}
	for _, e := range out.Failed {
		c.Failed[aws.ToString(e.Id)] = aws.ToString(e.Code)
	}
	f.finish(c)
	return out, nil
}

func (f *faultSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	const op = "SendMessageBatch"
	c := sqsCall{Op: op, Queue: aws.ToString(in.QueueUrl), Failed: map[string]string{}}
	for _, e := range in.Entries {
		c.Entries = append(c.Entries, sqsEntry{ID: aws.ToString(e.Id), Body: aws.ToString(e.MessageBody), Delay: e.DelaySeconds})
	}
	if c.Err = f.begin(op, c.Entries); c.Err != nil {
		f.finish(c)
		return nil, c.Err
	}
	codes := f.injected(op, c.Entries)
	fwd := *in
	fwd.Entries = nil
	for _, e := range in.Entries {
		if codes[aws.ToString(e.Id)] == "" {
			fwd.Entries = append(fwd.Entries, e)
		}
	}
	out := &sqs.SendMessageBatchOutput{}
	if len(fwd.Entries) > 0 {
		out, c.Err = f.next.SendMessageBatch(ctx, &fwd, optFns...)
	}
	if c.Err != nil {
		f.finish(c)
		return nil, c.Err
	}
	for id, code := range codes {
		out.Failed = append(out.Failed, batchFailure(id, code))
	}
	for _, e := range out.Failed {
		c.Failed[aws.ToString(e.Id)] = aws.ToString(e.Code)
	}
	f.finish(c)
	return out, nil
}

func (f *faultSQS) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	const op = "GetQueueAttributes"
	c := sqsCall{Op: op, Queue: aws.ToString(in.QueueUrl)}
	if c.Err = f.begin(op, nil); c.Err != nil {
		f.finish(c)
		return nil, c.Err
	}
	out, err := f.next.GetQueueAttributes(ctx, in, optFns...)
	c.Err = err
	f.finish(c)
	return out, err
}

// ---------------------------------------------------------------------------
// The recording sender.

// reply scripts one answer of the recording sender.
type reply struct {
	// class is the outcome (Delivered when zero); status its HTTP status
	// (0: 200, 503, 410 or 413 by class).
	class  delivery.Class
	status int
	// after delays the answer (a time.Timer, so it runs on synctest's
	// clock); a done ctx answers early, as a cancelled request.
	after time.Duration
	// hang never answers: the request ends when ctx is done or when the
	// webhook's RequestTimeout passes (then as a timeout).
	hang bool
	// block delays the answer until it is closed (or ctx is done).
	block <-chan struct{}
}

// reqInfo is what a script sees of a request.
type reqInfo struct {
	Hook    string
	Attempt int
	N       int      // the webhook's nth request, from 1
	IDs     []string // the event ids, in body order
}

// sentRequest is one recorded request.
type sentRequest struct {
	reqInfo
	Events []payload.Event
	At     time.Time // when Send was called
	Class  delivery.Class
	Done   bool // answered
}

// recorder is an in-process delivery.Sender: it checks each request as a
// receiver would (signature, body), records it, and answers as scripted.
// No sockets: it works inside a synctest bubble.
type recorder struct {
	secrets map[string]string // app key → secret
	script  func(reqInfo) reply

	mu        sync.Mutex
	reqs      []*sentRequest
	perHook   map[string]int
	delivered map[string]map[string]int // webhook → event id → times delivered
	problems  []string
	waiters   []*recWaiter
}

type recWaiter struct {
	hook      string // "" any
	n         int
	delivered bool // unique delivered events, else requests started
	ch        chan struct{}
}

func newRecorder(script func(reqInfo) reply) *recorder {
	return &recorder{
		secrets:   map[string]string{suiteKey: suiteSecret},
		script:    script,
		perHook:   map[string]int{},
		delivered: map[string]map[string]int{},
	}
}

var _ delivery.Sender = (*recorder)(nil)

// Send is the delivery.Sender.
func (r *recorder) Send(ctx context.Context, req *delivery.Request) delivery.Outcome {
	start := time.Now()
	rec, problems := r.check(req)
	r.mu.Lock()
	r.perHook[rec.Hook]++
	rec.N = r.perHook[rec.Hook]
	r.reqs = append(r.reqs, rec)
	r.problems = append(r.problems, problems...)
	ready := r.readyLocked()
	r.mu.Unlock()
	closeAll(ready)

	rep := reply{}
	if r.script != nil {
		rep = r.script(rec.reqInfo)
	}
	out := r.answer(ctx, req, rep)
	out.Duration = time.Since(start)

	r.mu.Lock()
	rec.Class, rec.Done = out.Class, true
	if out.Class == delivery.Delivered {
		m := r.delivered[rec.Hook]
		if m == nil {
			m = map[string]int{}
			r.delivered[rec.Hook] = m
		}
		for _, id := range rec.IDs {
			m[id]++
		}
	}
	ready = r.readyLocked()
	r.mu.Unlock()
	closeAll(ready)
	return out
}

// check verifies a request as a Pusher receiver would and records it.
func (r *recorder) check(req *delivery.Request) (*sentRequest, []string) {
	rec := &sentRequest{At: time.Now(), Class: -1}
	rec.Attempt = req.Attempt
	if req.Webhook != nil {
		rec.Hook = req.Webhook.ID
	}
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("webhook %s: ", rec.Hook)+fmt.Sprintf(format, args...))
	}
	secret, ok := r.secrets[req.AppKey]
	switch {
	case !ok:
		bad("unknown app key %q", req.AppKey)
	case !signing.Verify(secret, req.Body, req.Signature):
		bad("signature %q does not verify", req.Signature)
	}
	if req.Attempt < 1 {
		bad("attempt %d", req.Attempt)
	}
	if req.Webhook != nil && len(req.Body) > req.Webhook.MaxBodyBytes {
		bad("body of %d bytes over max_body_bytes %d", len(req.Body), req.Webhook.MaxBodyBytes)
	}
	body, err := payload.DecodeBody(slices.Clone(req.Body))
	if err != nil {
		bad("body: %v", err)
		return rec, problems
	}
	if len(body.Events) != req.Events {
		bad("body has %d events, Request.Events %d", len(body.Events), req.Events)
	}
	rec.Events = body.Events
	for _, e := range body.Events {
		rec.IDs = append(rec.IDs, e.ID)
	}
	return rec, problems
}

func (r *recorder) answer(ctx context.Context, req *delivery.Request, rep reply) delivery.Outcome {
	cancelled := delivery.Outcome{Class: delivery.Retryable, Reason: "canceled", Detail: "context done"}
	switch {
	case rep.hang:
		timeout := time.Hour
		if req.Webhook != nil && req.Webhook.RequestTimeout > 0 {
			timeout = req.Webhook.RequestTimeout
		}
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return cancelled
		case <-t.C:
			return delivery.Outcome{Class: delivery.Retryable, Reason: "timeout", Detail: "no answer within " + timeout.String()}
		}
	case rep.after > 0:
		t := time.NewTimer(rep.after)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return cancelled
		case <-t.C:
		}
	case rep.block != nil:
		select {
		case <-ctx.Done():
			return cancelled
		case <-rep.block:
		}
	}
	status := rep.status
	if status == 0 {
		status = map[delivery.Class]int{delivery.Delivered: 200, delivery.Retryable: 503, delivery.Permanent: 410, delivery.TooLarge: 413}[rep.class]
	}
	return delivery.Outcome{Class: rep.class, Status: status, Reason: "http-" + strconv.Itoa(status)}
}

// readyLocked takes the waiters whose condition holds.
func (r *recorder) readyLocked() []chan struct{} {
	var ready []chan struct{}
	keep := r.waiters[:0]
	for _, w := range r.waiters {
		if r.countLocked(w) >= w.n {
			ready = append(ready, w.ch)
		} else {
			keep = append(keep, w)
		}
	}
	r.waiters = keep
	return ready
}

func (r *recorder) countLocked(w *recWaiter) int {
	n := 0
	if w.delivered {
		for hook, m := range r.delivered {
			if w.hook == "" || w.hook == hook {
				n += len(m)
			}
		}
		return n
	}
	for hook, k := range r.perHook {
		if w.hook == "" || w.hook == hook {
			n += k
		}
	}
	return n
}

func (r *recorder) await(hook string, n int, delivered bool) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := &recWaiter{hook: hook, n: n, delivered: delivered, ch: make(chan struct{})}
	if r.countLocked(w) >= n {
		close(w.ch)
	} else {
		r.waiters = append(r.waiters, w)
	}
	return w.ch
}

// awaitDelivered returns a channel closed once n distinct events were
// delivered to hook.
func (r *recorder) awaitDelivered(hook string, n int) <-chan struct{} { return r.await(hook, n, true) }

// awaitRequests returns a channel closed once n requests to hook started.
func (r *recorder) awaitRequests(hook string, n int) <-chan struct{} { return r.await(hook, n, false) }

// requests returns copies of the requests to hook, in the order they
// started.
func (r *recorder) requests(hook string) []sentRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sentRequest
	for _, q := range r.reqs {
		if q.Hook == hook {
			out = append(out, *q)
		}
	}
	return out
}

// deliveredTo returns event id → times delivered to hook.
func (r *recorder) deliveredTo(hook string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for id, n := range r.delivered[hook] {
		out[id] = n
	}
	return out
}

// verify reports every request that a receiver would have rejected.
func (r *recorder) verify(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Error(p)
	}
}

// summary describes what was recorded, for failure messages.
func (r *recorder) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for hook, n := range r.perHook {
		fmt.Fprintf(&b, "%s: %d requests, %d distinct events delivered; ", hook, n, len(r.delivered[hook]))
	}
	if b.Len() == 0 {
		return "no requests"
	}
	return b.String()
}

func closeAll(chs []chan struct{}) {
	for _, ch := range chs {
		close(ch)
	}
}

// assertExactlyOnce checks that hook got each of want delivered exactly
// once and nothing else.
func assertExactlyOnce(t *testing.T, got map[string]int, want []string, who string) {
	t.Helper()
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("%s: event %s delivered %d times, want exactly once", who, id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d distinct events delivered, want %d", who, len(got), len(want))
	}
}

// ---------------------------------------------------------------------------
// One scenario's world.

// suite is one scenario on one back end: a fresh queue pair, the fault
// wrapper the worker talks through, and helpers to send and inspect.
type suite struct {
	t       *testing.T
	b       *backend
	sqs     *faultSQS
	admin   adminClient
	mainURL string
	dlqURL  string
	fifo    bool
	seq     int
}

func newSuite(t *testing.T, b *backend, fifo bool) *suite {
	t.Helper()
	client, admin, mainURL, dlqURL := b.queues(t, fifo)
	s := &suite{t: t, b: b, sqs: newFaultSQS(client), admin: admin, mainURL: mainURL, dlqURL: dlqURL, fifo: fifo}
	s.trace()
	return s
}

// trace records the worker's SQS calls (but empty receives) and logs them
// if the scenario fails: in real time, the order and timing of the calls
// is what explains a failure. The cleanup is registered before any worker
// starts, so it runs after the workers stopped.
func (s *suite) trace() {
	start := time.Now()
	var mu sync.Mutex
	var lines []string
	s.sqs.observe(func(c sqsCall) {
		if c.Op == "ReceiveMessage" && len(c.Entries) == 0 && c.Err == nil {
			return
		}
		line := fmt.Sprintf("%9.3fs %s", time.Since(start).Seconds(), c.Op)
		if c.Queue == s.dlqURL {
			line += " (DLQ)"
		}
		line += fmt.Sprintf(" entries=%d", len(c.Entries))
		if len(c.Failed) > 0 {
			line += fmt.Sprintf(" failed=%v", c.Failed)
		}
		if c.Err != nil {
			line += fmt.Sprintf(" error=%v", c.Err)
		}
		mu.Lock()
		lines = append(lines, line)
		mu.Unlock()
	})
	s.t.Cleanup(func() {
		if !s.t.Failed() {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		s.t.Logf("the worker's SQS calls:\n%s", strings.Join(lines, "\n"))
	})
}

// hookJSON is a webhook object of the suite's app; extra is more JSON
// members (with their leading comma).
func hookJSON(id, extra string) string {
	return fmt.Sprintf(`{"id":%q,"url":"http://%s.hookline.test/hook","event_types":["member_added","client_event"]%s}`, id, id, extra)
}

// config loads a config with the suite's app and the given webhooks.
func (s *suite) config(webhooks string, hooks ...string) *config.Config {
	s.t.Helper()
	doc := fmt.Sprintf(`{"app_manager":{"driver":"memory","array":{"apps":[
			{"id":%q,"key":%q,"secret":%q,"webhooks":[%s]}]}},
		"webhooks":%s,
		"queue":{"driver":"sqs","sqs":{"region":%q,"queue_name":"suite","fifo":%t,
			"visibility_timeout":%d,"wait_time_seconds":%d,"concurrency":2}}}`,
		suiteApp, suiteKey, suiteSecret, strings.Join(hooks, ","), webhooks, region, s.fifo,
		int(suiteVisibility/time.Second), suiteWaitSeconds)
	cfg, err := config.Parse([]byte(doc), config.Sources{}, config.Overrides{})
	if err != nil {
		s.t.Fatalf("config: %v\n%s", err, doc)
	}
	return cfg
}

// start runs a worker through the fault wrapper; it is stopped when the
// scenario ends.
func (s *suite) start(cfg *config.Config, opts worker.Options, sender delivery.Sender) *running {
	s.t.Helper()
	opts.QueueURL, opts.DeadLetterQueueURL, opts.FIFO = s.mainURL, s.dlqURL, s.fifo
	if opts.SQSCallTimeout == 0 {
		opts.SQSCallTimeout = suiteCallTimeout
	}
	if opts.GracePeriod == 0 {
		opts.GracePeriod = suiteGrace
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(s.t)
	}
	r := &running{done: make(chan error, 1), reg: prometheus.NewRegistry()}
	opts.Registry = r.reg
	w, err := worker.New(cfg, opts, s.sqs, sender)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- w.Run(ctx) }()
	s.t.Cleanup(func() { r.stop(s.t, time.Minute) })
	return r
}

// wait waits for ch, failing the scenario after the back end's limit.
func (s *suite) wait(ch <-chan struct{}, what string, rec *recorder) {
	s.t.Helper()
	t := time.NewTimer(s.b.limit())
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		state := ""
		if rec != nil {
			state = " (" + rec.summary() + ")"
		}
		s.t.Fatalf("%s: still waiting for %s after %v%s", s.b.name, what, s.b.limit(), state)
	}
}

// event is a member_added event happening now.
func event(user string) payload.Event {
	return payload.Event{Name: "member_added", Channel: "presence-suite", UserID: user, TimeMS: time.Now().UnixMilli()}
}

// nextID is a fresh envelope id.
func (s *suite) nextID() string {
	s.seq++
	return fmt.Sprintf("e%03d", s.seq)
}

// envelope encodes an envelope of the suite's app.
func (s *suite) envelope(id string, events ...payload.Event) string {
	s.t.Helper()
	body, err := payload.Encode(&payload.Envelope{V: payload.Version, ID: id, AppID: suiteApp, Events: events})
	if err != nil {
		s.t.Fatal(err)
	}
	return string(body)
}

// send enqueues one envelope with the events and returns its id.
func (s *suite) send(events ...payload.Event) string {
	s.t.Helper()
	id := s.nextID()
	s.sendRaw(s.envelope(id, events...), id)
	return id
}

// sendRaw enqueues a body as it is (dedup is the FIFO deduplication id).
func (s *suite) sendRaw(body, dedup string) {
	s.t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: aws.String(s.mainURL), MessageBody: aws.String(body)}
	if s.fifo {
		in.MessageGroupId, in.MessageDeduplicationId = aws.String(suiteApp), aws.String(dedup)
	}
	if _, err := s.admin.SendMessage(context.Background(), in); err != nil {
		s.t.Fatal(err)
	}
}

// sendMany enqueues n one-event envelopes, ten per call, and returns their
// event ids.
func (s *suite) sendMany(n int) []string {
	s.t.Helper()
	var ids []string
	for len(ids) < n {
		in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.mainURL)}
		for len(in.Entries) < 10 && len(ids) < n {
			id := s.nextID()
			e := types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(s.envelope(id, event(id)))}
			if s.fifo {
				e.MessageGroupId, e.MessageDeduplicationId = aws.String(suiteApp), aws.String(id)
			}
			in.Entries = append(in.Entries, e)
			ids = append(ids, id+":0")
		}
		out, err := s.admin.SendMessageBatch(context.Background(), in)
		if err != nil {
			s.t.Fatal(err)
		}
		if len(out.Failed) > 0 {
			s.t.Fatalf("send: %d entries failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
	}
	return ids
}

// depth returns the visible, in-flight and delayed messages of a queue.
func (s *suite) depth(url string) (visible, inFlight, delayed int) {
	s.t.Helper()
	out, err := s.admin.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	n := func(k types.QueueAttributeName) int { v, _ := strconv.Atoi(out.Attributes[string(k)]); return v }
	return n(types.QueueAttributeNameApproximateNumberOfMessages),
		n(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		n(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)
}

// assertDrained checks that the main queue and the DLQ hold nothing.
func (s *suite) assertDrained() {
	s.t.Helper()
	for _, q := range []struct{ name, url string }{{"main queue", s.mainURL}, {"DLQ", s.dlqURL}} {
		if v, nv, d := s.depth(q.url); v+nv+d != 0 {
			s.t.Errorf("%s not empty: %d visible, %d in flight, %d delayed", q.name, v, nv, d)
		}
	}
}

// dlq receives n messages from the DLQ, deleting them.
func (s *suite) dlq(n int) []types.Message {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.b.limit())
	defer cancel()
	var out []types.Message
	for len(out) < n {
		res, err := s.admin.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(s.dlqURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				s.t.Fatalf("DLQ: got %d messages, want %d", len(out), n)
			}
			s.t.Fatal(err)
		}
		for _, m := range res.Messages {
			out = append(out, m)
			if _, err := s.admin.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.dlqURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	return out
}
