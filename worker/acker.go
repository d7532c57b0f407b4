package worker

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// maxAckCalls is how many batch calls the acker runs at once.
const maxAckCalls = 8

// ackOp is one decision being carried out: the sends first (retry
// envelope, hand-back, DLQ copies), then, when all were accepted, the
// delete or visibility change of the original.
type ackOp struct {
	m      *message
	handle string
	lease  time.Time // the handle is not used after this
	d      decision
	sends  []*sendEntry

	// guarded by acker.mu
	left   int // sends not yet answered
	failed bool

	deleteTries int // failed DeleteMessageBatch attempts (acker's goroutines only)
}

// sendEntry is one message for SendMessageBatch.
type sendEntry struct {
	op      *ackOp
	dlq     bool
	entry   types.SendMessageBatchRequestEntry
	size    int
	kind    string // "retry", "hand-back", "dead-letter", "copy"
	reason  string // dead letters: hookline-reason
	logArgs []any
}

// visEntry is one ChangeMessageVisibilityBatch entry: a settle's
// visibility change (op set) or a heartbeat (beat set).
type visEntry struct {
	op     *ackOp
	beat   *beatEntry
	handle string
	secs   int32
}

type beatEntry struct{ sqsID, handle string }

// laterDelete is a delete to try again at a time.
type laterDelete struct {
	op *ackOp
	at time.Time
}

// deleteRetryDelay is the wait before the n-th retry of a failed delete.
func deleteRetryDelay(n int) time.Duration {
	return min(250*time.Millisecond<<min(n-1, 4), 2*time.Second)
}

// acker carries out decisions with batch calls across messages, ≤ 10
// entries each, after a short linger when a batch is not full, and reports
// every finished message to the engine. A failed send is not retried here
// (the SDK retries transport errors): it keeps the original, which comes
// back after its visibility timeout. A failed delete is retried with backoff
// while the lease lasts (the delivery already happened: a delete given up
// is a duplicate delivery later), then given up.
type acker struct {
	w *Worker

	mu      sync.Mutex
	main    []*sendEntry
	dlq     []*sendEntry
	deletes []*ackOp
	later   []laterDelete // failed deletes waiting for their retry
	vis     []visEntry
	beats   []visEntry
	beating map[string]int // handles with a heartbeat call in flight
	since   [4]time.Time   // when main, dlq, deletes, vis got their oldest entry
	urgent  bool           // shutdown: no linger
	closed  bool
	wake    chan struct{}

	sem   chan struct{}
	calls sync.WaitGroup
}

func newAcker(w *Worker) *acker {
	return &acker{w: w, wake: make(chan struct{}, 1), sem: make(chan struct{}, maxAckCalls), beating: map[string]int{}}
}

func (a *acker) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// submit takes a decision to carry out.
func (a *acker) submit(op *ackOp) {
	if len(op.sends) == 0 {
		a.afterSends(op)
		return
	}
	a.mu.Lock()
	op.left = len(op.sends)
	now := a.w.now()
	for _, s := range op.sends {
		if s.dlq {
			a.dlq = appendAt(a.dlq, s, &a.since[1], now)
		} else {
			a.main = appendAt(a.main, s, &a.since[0], now)
		}
	}
	a.mu.Unlock()
	a.poke()
}

// beat queues heartbeat extensions; they go out at once.
func (a *acker) beat(entries []beatEntry) {
	vt := int32(a.w.cfg.Queue.VisibilityTimeout / time.Second)
	a.mu.Lock()
	for i := range entries {
		a.beats = append(a.beats, visEntry{beat: &entries[i], handle: entries[i].handle, secs: vt})
	}
	a.mu.Unlock()
	a.poke()
}

// setUrgent starts the shutdown: no more lingering, and failed deletes
// waiting for their retry get it at once (later failures wait as usual,
// while the lease lasts, until close).
func (a *acker) setUrgent() {
	a.mu.Lock()
	a.urgent = true
	now := a.w.now()
	for i := range a.later {
		a.later[i].at = now
	}
	a.mu.Unlock()
	a.poke()
}

// close flushes what is queued and makes run return once every call is
// done.
func (a *acker) close() {
	a.mu.Lock()
	a.closed, a.urgent = true, true
	a.mu.Unlock()
	a.poke()
}

func appendAt[T any](list []T, v T, since *time.Time, now time.Time) []T {
	if len(list) == 0 {
		*since = now
	}
	return append(list, v)
}

// run starts batch calls as lists fill or their linger ends.
func (a *acker) run() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		a.mu.Lock()
		now := a.w.now()
		calls, next := a.takeLocked(now)
		idle := a.closed && len(a.main)+len(a.dlq)+len(a.deletes)+len(a.vis)+len(a.beats)+len(a.later) == 0
		a.mu.Unlock()
		for _, c := range calls {
			a.sem <- struct{}{}
			a.calls.Add(1)
			go func() {
				defer a.calls.Done()
				defer func() { <-a.sem }()
				c()
			}()
		}
		if idle && len(calls) == 0 {
			a.calls.Wait()
			a.mu.Lock()
			empty := len(a.main)+len(a.dlq)+len(a.deletes)+len(a.vis)+len(a.beats)+len(a.later) == 0
			a.mu.Unlock()
			if empty {
				return
			}
			continue
		}
		if next.IsZero() {
			t.Reset(time.Hour)
		} else {
			t.Reset(max(next.Sub(now), 0))
		}
		select {
		case <-a.wake:
		case <-t.C:
		}
	}
}

// takeLocked cuts the calls that are due: full batches at once, others
// after the linger (at once when urgent). It returns them and when the next
// linger ends.
func (a *acker) takeLocked(now time.Time) (calls []func(), next time.Time) {
	w := a.w
	linger := w.opts.AckLinger
	due := func(i, n int) bool {
		if n == 0 {
			return false
		}
		if a.urgent || n >= maxBatch || !now.Before(a.since[i].Add(linger)) {
			return true
		}
		next = earliest(next, a.since[i].Add(linger))
		return false
	}
	for due(0, len(a.main)) {
		var batch []*sendEntry
		batch, a.main = cutSends(a.main)
		calls = append(calls, func() { a.sendBatch(w.opts.QueueURL, batch, false) })
		a.since[0] = now
		if len(a.main) < maxBatch && !a.urgent {
			break
		}
	}
	for due(1, len(a.dlq)) {
		var batch []*sendEntry
		batch, a.dlq = cutSends(a.dlq)
		calls = append(calls, func() { a.sendBatch(w.opts.DeadLetterQueueURL, batch, true) })
		a.since[1] = now
		if len(a.dlq) < maxBatch && !a.urgent {
			break
		}
	}
	// Failed deletes whose retry is due (all of them at shutdown) rejoin
	// the deletes.
	kept := a.later[:0]
	for _, l := range a.later {
		if a.closed || !now.Before(l.at) {
			a.deletes = appendAt(a.deletes, l.op, &a.since[2], now)
			continue
		}
		next = earliest(next, l.at)
		kept = append(kept, l)
	}
	a.later = kept
	for due(2, len(a.deletes)) {
		n := min(maxBatch, len(a.deletes))
		batch := a.deletes[:n:n]
		a.deletes = a.deletes[n:]
		calls = append(calls, func() { a.deleteBatch(batch) })
		a.since[2] = now
		if len(a.deletes) < maxBatch && !a.urgent {
			break
		}
	}
	// Heartbeats go out at once. A settle's visibility change waits while
	// a heartbeat of the same handle is in flight: landing after it, the
	// heartbeat would undo the change (a FIFO retry delay, a release).
	for len(a.beats) > 0 {
		n := min(maxBatch, len(a.beats))
		batch := a.beats[:n:n]
		a.beats = a.beats[n:]
		for _, v := range batch {
			a.beating[v.handle]++
		}
		calls = append(calls, func() {
			a.visibilityBatch(batch)
			a.mu.Lock()
			for _, v := range batch {
				if a.beating[v.handle]--; a.beating[v.handle] <= 0 {
					delete(a.beating, v.handle)
				}
			}
			a.mu.Unlock()
			a.poke()
		})
	}
	for due(3, a.readyVis()) {
		var batch, rest []visEntry
		for _, v := range a.vis {
			if len(batch) < maxBatch && a.beating[v.handle] == 0 {
				batch = append(batch, v)
			} else {
				rest = append(rest, v)
			}
		}
		a.vis = rest
		calls = append(calls, func() { a.visibilityBatch(batch) })
		a.since[3] = now
		if a.readyVis() < maxBatch && !a.urgent {
			break
		}
	}
	for i, n := range [4]int{len(a.main), len(a.dlq), len(a.deletes), a.readyVis()} {
		if n > 0 {
			next = earliest(next, a.since[i].Add(linger))
		}
	}
	return calls, next
}

// readyVis counts the settle visibility changes that may go out now (no
// heartbeat of their handle in flight).
func (a *acker) readyVis() int {
	n := 0
	for _, v := range a.vis {
		if a.beating[v.handle] == 0 {
			n++
		}
	}
	return n
}

// cutSends takes up to 10 entries that fit one SendMessageBatch.
func cutSends(list []*sendEntry) (batch, rest []*sendEntry) {
	size := 0
	n := 0
	for n < len(list) && n < maxBatch {
		if n > 0 && size+list[n].size > maxBatchBytes {
			break
		}
		size += list[n].size
		n++
	}
	return list[:n:n], list[n:]
}

// call runs one non-polling SQS call under the call timeout, and keeps the
// health and the call counter.
func (w *Worker) call(op string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(w.sqsCtx, w.opts.SQSCallTimeout)
	defer cancel()
	err := f(ctx)
	if err != nil {
		w.m.sqsCalls.WithLabelValues(op, "error").Inc()
		w.health.failed(w.now(), err)
		return err
	}
	w.m.sqsCalls.WithLabelValues(op, "ok").Inc()
	w.health.ok()
	return nil
}

// expired reports whether op's handle may no longer be used: a call that
// starts now may take the whole call timeout, and must land within the
// lease.
func (a *acker) expired(op *ackOp, now time.Time) bool {
	return !op.lease.IsZero() && now.Add(a.w.opts.SQSCallTimeout).After(op.lease)
}

func (a *acker) sendBatch(url string, batch []*sendEntry, dlq bool) {
	w := a.w
	label := "send"
	if dlq {
		label = "send-dlq"
	}
	now := a.w.now()
	var live []*sendEntry
	for _, s := range batch {
		if a.expired(s.op, now) {
			w.log.Warn("lease ran out before the settle; nothing sent, the message will be received again",
				"message_id", s.op.m.sqsID)
			a.sendDone(s, false)
			continue
		}
		live = append(live, s)
	}
	if len(live) == 0 {
		return
	}
	entries := make([]types.SendMessageBatchRequestEntry, len(live))
	for i, s := range live {
		entries[i] = s.entry
		entries[i].Id = aws.String(strconv.Itoa(i))
	}
	var out *sqs.SendMessageBatchOutput
	err := w.call("SendMessageBatch", func(ctx context.Context) (err error) {
		out, err = w.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		return err
	})
	ok := make([]bool, len(live))
	if err != nil {
		w.m.sqsErrors.WithLabelValues(label).Add(float64(len(live)))
		w.ackErrors.log(w.log, "send batch failed; the messages are kept and will be received again",
			"queue", label, "entries", len(live), "error", err)
	} else {
		ok = succeeded(len(live), out.Successful, func(r types.SendMessageBatchResultEntry) *string { return r.Id })
		for _, f := range out.Failed {
			i, found := entryIndex(f.Id, len(live))
			if !found {
				continue
			}
			w.m.sqsErrors.WithLabelValues(label).Inc()
			w.log.Error(live[i].kind+" send failed; the message is kept", "message_id", live[i].op.m.sqsID,
				"code", aws.ToString(f.Code), "detail", aws.ToString(f.Message))
		}
	}
	for i, s := range live {
		if ok[i] {
			a.sent(s)
		}
		a.sendDone(s, ok[i])
	}
}

// sent records an accepted copy.
func (a *acker) sent(s *sendEntry) {
	w := a.w
	switch s.kind {
	case "dead-letter":
		w.m.deadLettered.WithLabelValues(s.reason).Inc()
		w.log.Warn("dead-lettered", append([]any{"message_id", s.op.m.sqsID}, s.logArgs...)...)
	default:
		w.log.Debug(s.kind, append([]any{"message_id", s.op.m.sqsID}, s.logArgs...)...)
	}
}

// sendDone counts a send's answer; after the op's last one, the original
// is deleted or its visibility changed, or, when a send failed, kept.
func (a *acker) sendDone(s *sendEntry, ok bool) {
	op := s.op
	a.mu.Lock()
	op.left--
	if !ok {
		op.failed = true
	}
	last := op.left == 0
	a.mu.Unlock()
	if last {
		a.afterSends(op)
	}
}

func (a *acker) afterSends(op *ackOp) {
	if op.failed {
		if op.d.onSendFailure >= 0 {
			a.queueVisibility(op, op.d.onSendFailure)
			return
		}
		a.w.log.Error("settle incomplete; the message will be received again", "message_id", op.m.sqsID)
		a.report(op, false)
		return
	}
	switch op.d.act {
	case actDelete:
		a.mu.Lock()
		a.deletes = appendAt(a.deletes, op, &a.since[2], a.w.now())
		a.mu.Unlock()
		a.poke()
	case actVisibility:
		a.queueVisibility(op, op.d.visibility)
	default:
		a.report(op, false)
	}
}

func (a *acker) queueVisibility(op *ackOp, d time.Duration) {
	// Whole seconds, rounded up; SQS caps the visibility since the receive
	// at 12 h, so leave room for the time already held.
	secs := int32((min(d, maxVisibility-a.w.cfg.Queue.VisibilityTimeout) + time.Second - 1) / time.Second)
	a.mu.Lock()
	a.vis = appendAt(a.vis, visEntry{op: op, handle: op.handle, secs: secs}, &a.since[3], a.w.now())
	a.mu.Unlock()
	a.poke()
}

// report tells the engine the acker is done with op's message.
func (a *acker) report(op *ackOp, deleted bool) {
	select {
	case a.w.eng.done <- ackDone{m: op.m, deleted: deleted}:
	case <-a.w.eng.gone:
	}
}

func (a *acker) deleteBatch(batch []*ackOp) {
	w := a.w
	now := a.w.now()
	var live []*ackOp
	for _, op := range batch {
		if a.expired(op, now) {
			w.m.ownershipLost.Inc()
			w.m.deletesAbandoned.Inc()
			w.log.Warn("lease ran out before the delete; the message will be received again", "message_id", op.m.sqsID,
				"delete_attempts", op.deleteTries)
			a.report(op, false)
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	entries := make([]types.DeleteMessageBatchRequestEntry, len(live))
	for i, op := range live {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(op.handle)}
	}
	var out *sqs.DeleteMessageBatchOutput
	err := w.call("DeleteMessageBatch", func(ctx context.Context) (err error) {
		out, err = w.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(w.opts.QueueURL), Entries: entries})
		return err
	})
	deleted := make([]bool, len(live))
	retry := make([]bool, len(live))
	if err != nil {
		w.m.sqsErrors.WithLabelValues("delete").Add(float64(len(live)))
		w.ackErrors.log(w.log, "delete batch failed; retrying while the lease lasts", "entries", len(live), "error", err)
		for i := range retry {
			retry[i] = true
		}
	} else {
		deleted = succeeded(len(live), out.Successful, func(r types.DeleteMessageBatchResultEntry) *string { return r.Id })
		for _, f := range out.Failed {
			i, found := entryIndex(f.Id, len(live))
			if !found {
				continue
			}
			if lostHandle(aws.ToString(f.Code)) {
				w.m.ownershipLost.Inc()
				w.log.Warn("delete: ownership lost; another receiver has the message", "message_id", live[i].m.sqsID,
					"code", aws.ToString(f.Code))
			} else {
				w.m.sqsErrors.WithLabelValues("delete").Inc()
				w.log.Warn("delete failed; retrying while the lease lasts", "message_id", live[i].m.sqsID,
					"code", aws.ToString(f.Code), "detail", aws.ToString(f.Message))
				retry[i] = true
			}
		}
	}
	n := 0
	var later []laterDelete
	for i, op := range live {
		if deleted[i] {
			n++
		}
		if !deleted[i] && retry[i] {
			op.deleteTries++
			later = append(later, laterDelete{op: op, at: now.Add(deleteRetryDelay(op.deleteTries))})
			continue
		}
		a.report(op, deleted[i])
	}
	w.m.deleted.Add(float64(n))
	if len(later) > 0 {
		a.mu.Lock()
		closed := a.closed
		if !closed {
			a.later = append(a.later, later...)
		}
		a.mu.Unlock()
		if closed { // shut down: no more tries; the messages come back by themselves
			w.m.deletesAbandoned.Add(float64(len(later)))
			w.log.Warn("shutting down with failed deletes; those messages will be received again", "messages", len(later))
			for _, l := range later {
				a.report(l.op, false)
			}
		}
		a.poke()
	}
}

func (a *acker) visibilityBatch(batch []visEntry) {
	w := a.w
	now := a.w.now()
	var live []visEntry
	for _, v := range batch {
		if v.op != nil && a.expired(v.op, now) {
			w.log.Warn("lease ran out before the visibility change; the message returns by itself", "message_id", v.op.m.sqsID)
			a.report(v.op, false)
			continue
		}
		live = append(live, v)
	}
	if len(live) == 0 {
		return
	}
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(live))
	for i, v := range live {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
			Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(v.handle), VisibilityTimeout: v.secs,
		}
	}
	sent := w.now()
	var out *sqs.ChangeMessageVisibilityBatchOutput
	err := w.call("ChangeMessageVisibilityBatch", func(ctx context.Context) (err error) {
		out, err = w.sqs.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(w.opts.QueueURL), Entries: entries,
		})
		return err
	})
	ok := make([]bool, len(live))
	lost := make([]bool, len(live))
	if err != nil {
		op := "visibility"
		if live[0].beat != nil {
			op = "heartbeat"
			w.heartbeatErrors.log(w.log, "heartbeat failed; will try again next beat", "messages", len(live), "error", err)
		} else {
			w.ackErrors.log(w.log, "visibility change failed; the messages return after their visibility timeout",
				"messages", len(live), "error", err)
		}
		w.m.sqsErrors.WithLabelValues(op).Add(float64(len(live)))
	} else {
		ok = succeeded(len(live), out.Successful, func(r types.ChangeMessageVisibilityBatchResultEntry) *string { return r.Id })
		for _, f := range out.Failed {
			i, found := entryIndex(f.Id, len(live))
			if !found {
				continue
			}
			if lostHandle(aws.ToString(f.Code)) {
				lost[i] = true
				continue
			}
			w.m.sqsErrors.WithLabelValues("visibility").Inc()
			w.log.Error("visibility change failed", "message_id", msgID(live[i]), "code", aws.ToString(f.Code),
				"detail", aws.ToString(f.Message))
		}
	}
	beats := 0
	for i, v := range live {
		if v.beat != nil {
			if ok[i] {
				beats++
			}
			select {
			case w.eng.beats <- beatResult{sqsID: v.beat.sqsID, handle: v.handle, ok: ok[i], lost: lost[i], sent: sent}:
			case <-w.eng.gone:
			}
			continue
		}
		a.report(v.op, false)
	}
	w.m.heartbeats.Add(float64(beats))
}

// succeeded marks the entries (by their index ids) a batch call answered
// as successful.
func succeeded[T any](n int, list []T, id func(T) *string) []bool {
	ok := make([]bool, n)
	for _, r := range list {
		if i, found := entryIndex(id(r), n); found {
			ok[i] = true
		}
	}
	return ok
}

// entryIndex reads a batch entry id the acker made (its index); false for
// an id it did not make.
func entryIndex(id *string, n int) (int, bool) {
	i, err := strconv.Atoi(aws.ToString(id))
	return i, err == nil && i >= 0 && i < n
}

func msgID(v visEntry) string {
	if v.beat != nil {
		return v.beat.sqsID
	}
	return v.op.m.sqsID
}
