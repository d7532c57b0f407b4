package dlq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/payload"
)

// DefaultRedriveVisibility is how long Redrive keeps a received DLQ
// message invisible: long enough to hold the messages it leaves in place
// (filtered out, skipped, failed) until the run ends and releases them.
const DefaultRedriveVisibility = 5 * time.Minute

// redriveWait is the receives' long-poll wait (see inspectWait).
const redriveWait = time.Second

// idleReceives is how many receives in a row that bring nothing new end a
// run: only messages seen before (their visibility ran out during a long
// run), or nothing although the queue reports visible messages (a receive
// can come back empty early: SQS is distributed, and emulators do it too).
// An empty receive from a queue with nothing visible ends it at once.
const idleReceives = 3

// attrPrefix marks Hookline's dead-letter attributes, dropped on redrive.
const attrPrefix = "hookline-"

// RedriveOptions configure Redrive. Zero fields take the defaults.
type RedriveOptions struct {
	// Filter selects the messages redriven; the others stay in the DLQ.
	Filter Filter
	// Max stops the run after this many messages were redriven; 0: no limit.
	Max int
	// Visibility is the receives' visibility timeout, whole seconds. Default
	// 5 min. Messages left in place are released (visibility 0) when the
	// run ends; a run longer than this sees some of them again (they are
	// recognised by MessageId and not counted twice).
	Visibility time.Duration
	// Progress, when set, is called after each batch with the counts so far.
	Progress func(Counts)
}

// Counts is what a Redrive run did.
type Counts struct {
	// Redriven messages were accepted by the main queue and deleted from
	// the DLQ (or their delete failed: see NotDeleted).
	Redriven int
	// Skipped messages are not envelopes (malformed-body, sockudo-job, ...):
	// the worker would dead-letter them again. They stay in the DLQ.
	Skipped int
	// Unmatched messages did not pass the filter. They stay in the DLQ.
	Unmatched int
	// Failed messages were refused by the main queue. They stay in the DLQ.
	Failed int
	// Again messages are new dead letters of envelopes this run redrove
	// already: redriven, they failed again (the cause is not fixed yet).
	// They stay in the DLQ for the next run; redriving them again would
	// loop.
	Again int
	// NotDeleted messages were accepted by the main queue but their delete
	// from the DLQ failed: they are in both queues (a later redrive sends
	// them again; receivers de-duplicate on event ids).
	NotDeleted int
	// Errors describe the first few failures ("<message id>: <code>: <message>").
	Errors []string
}

// Seen is every distinct message the run looked at.
func (c Counts) Seen() int { return c.Redriven + c.Skipped + c.Unmatched + c.Failed + c.Again }

// maxErrors is how many failure descriptions Counts keeps.
const maxErrors = 10

func (c *Counts) addError(format string, args ...any) {
	if len(c.Errors) < maxErrors {
		c.Errors = append(c.Errors, fmt.Sprintf(format, args...))
	}
}

// Redrive moves dead letters that pass opts.Filter back to the main queue:
// each envelope with its attempts reset (attempt, first_attempt_ms and
// not_before cleared; id, events and targets kept, so only the webhook
// that failed is tried again) and without the hookline-* attributes. It
// receives batches of 10, sends the rewritten envelopes with one
// SendMessageBatch, and deletes from the DLQ only the entries the send
// reported Successful. Messages left in place (filtered out, not
// envelopes, refused by the main queue, or a new dead letter of an
// envelope this run redrove — it failed again, and redriving it again would
// loop) are made visible again when the run ends.
//
// A cancelled ctx ends the run after the batch in hand; Redrive then
// returns the counts and ctx's error. Any other error is an SQS call that
// failed outright (a receive, or the release at the end); the counts say
// what was done before it.
func Redrive(ctx context.Context, api API, q Queues, opts RedriveOptions) (Counts, error) {
	if opts.Visibility < time.Second {
		opts.Visibility = DefaultRedriveVisibility
	}
	var c Counts
	// The envelopes (and their targets) this run redrove: a dead letter of
	// one of them seen later is that redrive failing again.
	redriven := map[string]bool{}
	seen := map[string]bool{}
	kept := map[string]types.Message{} // left in place, by MessageId: released at the end
	work := context.WithoutCancel(ctx)
	idle := 0
	var runErr error
	for idle < idleReceives && (opts.Max == 0 || c.Redriven < opts.Max) {
		if ctx.Err() != nil {
			runErr = ctx.Err()
			break
		}
		n := maxBatch
		if opts.Max > 0 {
			n = min(n, opts.Max-c.Redriven)
		}
		msgs, err := receive(ctx, api, q.DeadLetter, n, opts.Visibility, redriveWait)
		if err != nil {
			if ctx.Err() != nil {
				// Interrupted during the long poll: whatever it
				// received returns after the visibility timeout.
				runErr = ctx.Err()
			} else {
				runErr = err
			}
			break
		}
		var batch []*Message
		fresh := 0
		for _, raw := range msgs {
			m := Parse(raw)
			if seen[m.MessageID] {
				kept[m.MessageID] = raw // the newer receipt handle
				continue
			}
			seen[m.MessageID] = true
			fresh++
			switch {
			case m.Envelope && redriven[redriveKey(m)]:
				c.Again++
				kept[m.MessageID] = raw
			case !opts.Filter.Match(m):
				c.Unmatched++
				kept[m.MessageID] = raw
			case !m.Envelope:
				c.Skipped++
				kept[m.MessageID] = raw
			default:
				batch = append(batch, m)
			}
		}
		if len(msgs) == 0 && !visibleLeft(ctx, api, q.DeadLetter) {
			if ctx.Err() != nil {
				runErr = ctx.Err() // interrupted, not done
			}
			break // nothing visible is left: the DLQ is done
		}
		if fresh == 0 {
			idle++
		} else {
			idle = 0
		}
		if len(batch) > 0 {
			for _, m := range batch {
				redriven[redriveKey(m)] = true
			}
			redriveBatch(work, api, q, batch, &c, kept)
		}
		if opts.Progress != nil {
			opts.Progress(c)
		}
	}
	rctx, cancel := context.WithTimeout(work, callTimeout)
	defer cancel()
	if _, err := release(rctx, api, q.DeadLetter, slices.Collect(maps.Values(kept))); err != nil && runErr == nil {
		runErr = err
	}
	return c, runErr
}

// redriveKey names what a dead letter asks to be delivered: the envelope
// and the webhooks it still owes.
func redriveKey(m *Message) string {
	return m.AppID + "\x00" + m.EnvelopeID + "\x00" + strings.Join(m.Targets, "\x00")
}

// visibleLeft reports whether the queue says it has visible messages; on
// an error it says no, so a run always ends.
func visibleLeft(ctx context.Context, api API, url string) bool {
	d, err := QueueDepth(ctx, api, url)
	return err == nil && d.Visible > 0
}

// redriveBatch sends batch to the main queue and deletes from the DLQ what
// the main queue accepted. Failed sends join kept.
func redriveBatch(ctx context.Context, api API, q Queues, batch []*Message, c *Counts, kept map[string]types.Message) {
	entries := make([]types.SendMessageBatchRequestEntry, 0, len(batch))
	byID := map[string]*Message{}
	for i, m := range batch {
		e, err := mainEntry(m, q)
		if err != nil { // an envelope that decoded but will not encode: leave it
			c.Failed++
			c.addError("%s: %v", m.MessageID, err)
			kept[m.MessageID] = m.raw
			continue
		}
		id := strconv.Itoa(i)
		e.Id = aws.String(id)
		entries = append(entries, e)
		byID[id] = m
	}
	if len(entries) == 0 {
		return
	}
	// refused leaves m in the DLQ, counted as failed.
	refused := func(m *Message) {
		c.Failed++
		kept[m.MessageID] = m.raw
	}
	sctx, cancel := context.WithTimeout(ctx, callTimeout)
	out, err := api.SendMessageBatch(sctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.Main), Entries: entries})
	cancel()
	if err != nil {
		for _, m := range byID {
			refused(m)
		}
		c.addError("send to %s: %v", q.Main, err)
		return
	}
	for _, f := range out.Failed {
		m := byID[aws.ToString(f.Id)]
		if m == nil {
			continue
		}
		delete(byID, aws.ToString(f.Id))
		refused(m)
		c.addError("%s: %s: %s", m.MessageID, aws.ToString(f.Code), aws.ToString(f.Message))
	}
	var dels []types.DeleteMessageBatchRequestEntry
	for _, s := range out.Successful {
		m := byID[aws.ToString(s.Id)]
		if m == nil {
			continue
		}
		delete(byID, aws.ToString(s.Id))
		c.Redriven++
		dels = append(dels, types.DeleteMessageBatchRequestEntry{Id: s.Id, ReceiptHandle: m.raw.ReceiptHandle})
	}
	// An entry SQS reported neither way was not accepted as far as we know.
	for _, m := range byID {
		refused(m)
		c.addError("%s: no result in the SendMessageBatch response", m.MessageID)
	}
	if len(dels) == 0 {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, callTimeout)
	dout, err := api.DeleteMessageBatch(dctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.DeadLetter), Entries: dels})
	cancel()
	if err != nil {
		c.NotDeleted += len(dels)
		c.addError("delete from %s: %v", q.DeadLetter, err)
		return
	}
	for _, f := range dout.Failed {
		c.NotDeleted++
		c.addError("delete %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message))
	}
}

// mainEntry is m's envelope as it goes back to the main queue: attempts
// reset, hookline-* attributes dropped, other attributes kept.
func mainEntry(m *Message, q Queues) (types.SendMessageBatchRequestEntry, error) {
	env := *m.env
	env.Attempt = 0
	env.FirstAttemptMS = 0
	env.NotBeforeMS = 0
	body, err := payload.AppendEnvelope(nil, &env)
	if err != nil {
		return types.SendMessageBatchRequestEntry{}, fmt.Errorf("dlq: re-encode envelope: %w", err)
	}
	e := types.SendMessageBatchRequestEntry{MessageBody: aws.String(string(body))}
	for k, v := range m.raw.MessageAttributes {
		if strings.HasPrefix(k, attrPrefix) {
			continue
		}
		if e.MessageAttributes == nil {
			e.MessageAttributes = map[string]types.MessageAttributeValue{}
		}
		e.MessageAttributes[k] = v
	}
	switch {
	case q.FIFO:
		e.MessageGroupId = aws.String(env.AppID)
		// The DLQ copy's own id: a repeated redrive of the same copy (its
		// delete failed) is dropped by SQS as a duplicate, while a later
		// dead letter of the same envelope is a new copy with a new id.
		e.MessageDeduplicationId = aws.String(dedupID(env.ID + ":redrive:" + m.MessageID))
	case q.GroupByApp:
		e.MessageGroupId = aws.String(env.AppID)
	}
	return e, nil
}

// dedupID fits a deduplication id into SQS's 128 characters.
func dedupID(s string) string {
	if len(s) <= 128 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
