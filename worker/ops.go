package worker

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/payload"
)

// Message attributes on dead-lettered messages.
const (
	AttrReason   = "hookline-reason"
	AttrTarget   = "hookline-target"
	AttrStatus   = "hookline-status"
	AttrAttempts = "hookline-attempts"
	AttrDetail   = "hookline-detail"
	AttrWebhook  = "hookline-webhook"
)

const maxDetail = 512

// buildOp turns a decision into the acker's work: the copies to send and
// the original's handle and lease.
func (w *Worker) buildOp(m *message, d decision, now time.Time) (*ackOp, error) {
	op := &ackOp{m: m, handle: m.handle, lease: m.leaseUntil, d: d}
	if m.early != nil {
		switch {
		case m.early.kind == earlyDeadRaw && d.act == actDelete:
			op.sends = append(op.sends, w.rawDeadLetter(op, m))
		case m.early.kind == earlyFuture && d.act == actDelete:
			op.sends = append(op.sends, w.freshCopy(op, m))
		}
		return op, nil
	}
	for _, sb := range []*sendBack{d.retry, d.handBack} {
		if sb == nil {
			continue
		}
		s, err := w.sendBackEntry(op, m, sb, now)
		if err != nil {
			return nil, err
		}
		op.sends = append(op.sends, s)
	}
	if d.retrying {
		w.m.retries.Inc()
	}
	for _, dc := range d.dead {
		s, err := w.deadLetterEntry(op, m, dc)
		if err != nil {
			return nil, err
		}
		op.sends = append(op.sends, s)
	}
	return op, nil
}

// envelopeFor is m's envelope as it goes back to SQS: the original events
// and unknown keys, spliced; the given targets and attempt.
func (m *message) envelopeFor(targets []string, attempt int, notBefore int64) ([]byte, error) {
	env := *m.env
	env.Targets = targets
	env.Attempt = attempt
	env.FirstAttemptMS = m.firstAttempt.UnixMilli()
	env.NotBeforeMS = notBefore
	return payload.AppendEnvelope(nil, &env)
}

// sendBackEntry is a retry envelope or a hand-back for the main queue.
// Delays past SQS's 15 minutes ride in not_before.
func (w *Worker) sendBackEntry(op *ackOp, m *message, sb *sendBack, now time.Time) (*sendEntry, error) {
	secs := int32((sb.delay + time.Second - 1) / time.Second)
	var notBefore int64
	if sb.delay > maxDelaySeconds*time.Second {
		notBefore = now.Add(sb.delay).UnixMilli()
		secs = maxDelaySeconds
	}
	body, err := m.envelopeFor(sb.targets, sb.attempt, notBefore)
	if err != nil {
		return nil, err
	}
	e := types.SendMessageBatchRequestEntry{MessageBody: aws.String(string(body)), DelaySeconds: secs}
	if w.cfg.Queue.FairQueues {
		e.MessageGroupId = aws.String(m.env.AppID)
	}
	kind := "hand-back"
	if sb.retry {
		kind = "retry"
	}
	return &sendEntry{op: op, entry: e, size: len(body), kind: kind, logArgs: []any{
		"envelope_id", m.env.ID, "app_id", m.env.AppID, "targets", strings.Join(sb.targets, ","),
		"attempt", sb.attempt, "delay", (time.Duration(secs) * time.Second).String()}}, nil
}

// deadLetterEntry is the DLQ copy of m for one part, with the reason.
func (w *Worker) deadLetterEntry(op *ackOp, m *message, dc deadCopy) (*sendEntry, error) {
	p := m.parts[dc.part]
	targets := []string{p.target}
	if p.appLevel {
		targets = m.env.Targets
	}
	body, err := m.envelopeFor(targets, m.attempt, 0)
	if err != nil {
		return nil, err
	}
	target := p.target
	if p.hook != nil {
		target = p.hook.Target()
	}
	status := statusText(dc.outcome)
	attrs := map[string]types.MessageAttributeValue{
		AttrReason:   stringAttr(dc.reason),
		AttrTarget:   stringAttr(target),
		AttrStatus:   stringAttr(status),
		AttrAttempts: numberAttr(m.attempt),
		AttrWebhook:  stringAttr(p.target),
	}
	if d := dc.outcome.Detail; d != "" {
		attrs[AttrDetail] = stringAttr(truncate(d, maxDetail))
	}
	e := types.SendMessageBatchRequestEntry{MessageBody: aws.String(string(body)), MessageAttributes: attrs}
	if w.opts.FIFO {
		e.MessageGroupId = aws.String(m.env.AppID)
		// Per main-queue message and webhook: a crash's second copy of the
		// same message is dropped by SQS, while a redriven message (a new
		// SQS message with the same envelope id, its attempts reset) that
		// fails again gets a copy of its own, even within SQS's 5-minute
		// deduplication window.
		e.MessageDeduplicationId = aws.String(dedupID(m.sqsID + ":" + p.target))
	}
	return &sendEntry{op: op, dlq: true, entry: e, size: len(body) + attrsSize(attrs), kind: "dead-letter", reason: dc.reason,
		logArgs: []any{"envelope_id", m.env.ID, "app_id", m.env.AppID, "reason", dc.reason, "webhook", p.target,
			"target", target, "status", status, "attempts", m.attempt}}, nil
}

// rawDeadLetter moves a message that is not a valid envelope to the DLQ
// unchanged; it is never retried.
func (w *Worker) rawDeadLetter(op *ackOp, m *message) *sendEntry {
	attrs := map[string]types.MessageAttributeValue{
		AttrReason:   stringAttr(m.early.reason),
		AttrStatus:   stringAttr("none"),
		AttrAttempts: numberAttr(max(1, m.receiveCount)),
		AttrDetail:   stringAttr(truncate(m.early.detail, maxDetail)),
	}
	for k, v := range m.attrs {
		if len(attrs) >= maxAttributes {
			break
		}
		if _, taken := attrs[k]; !taken {
			attrs[k] = v
		}
	}
	e := types.SendMessageBatchRequestEntry{MessageBody: aws.String(m.body), MessageAttributes: attrs}
	if w.opts.FIFO {
		group := m.group
		if group == "" {
			group = "malformed"
		}
		e.MessageGroupId = aws.String(group)
		e.MessageDeduplicationId = aws.String(dedupID(m.sqsID))
	}
	return &sendEntry{op: op, dlq: true, entry: e, size: len(m.body) + attrsSize(attrs), kind: "dead-letter", reason: m.early.reason,
		logArgs: []any{"reason", m.early.reason, "detail", truncate(m.early.detail, 200)}}
}

// freshCopy puts an envelope of a newer version back on the main queue
// unchanged, delayed, so its receive count starts again (the redrive policy
// would otherwise move it to the DLQ without a reason).
func (w *Worker) freshCopy(op *ackOp, m *message) *sendEntry {
	secs := int32(min(w.opts.FutureVersionDelay, maxDelaySeconds*time.Second) / time.Second)
	attrs := map[string]types.MessageAttributeValue{}
	for k, v := range m.attrs {
		if len(attrs) < maxAttributes {
			attrs[k] = v
		}
	}
	e := types.SendMessageBatchRequestEntry{MessageBody: aws.String(m.body), MessageAttributes: attrs}
	switch {
	case w.opts.FIFO:
		e.MessageGroupId = aws.String(m.group)
		e.MessageDeduplicationId = aws.String(dedupID(m.sqsID + ":" + strconv.Itoa(m.receiveCount)))
	default:
		e.DelaySeconds = secs
		if m.group != "" {
			e.MessageGroupId = aws.String(m.group)
		}
	}
	return &sendEntry{op: op, entry: e, size: len(m.body) + attrsSize(attrs), kind: "future-version copy",
		logArgs: []any{"receive_count", m.receiveCount}}
}

// attrsSize is what message attributes add to a message's size.
func attrsSize(attrs map[string]types.MessageAttributeValue) int {
	n := 0
	for k, v := range attrs {
		n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// dedupID fits a deduplication id into SQS's 128 characters.
func dedupID(s string) string {
	if len(s) <= 128 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
