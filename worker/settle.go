package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/cenkalti/backoff/v4"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/payload"
)

// Dead-letter reasons (the hookline-reason attribute).
const (
	reasonExhausted     = "retries-exhausted"
	reasonPermanent     = "permanent-failure"
	reasonTargetRemoved = "target-removed"
	reasonAppDisabled   = "app-disabled"
	reasonUnknownApp    = "unknown-app"
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

func (w *Worker) settleAsync(m *message) {
	w.settleWG.Add(1)
	go func() {
		defer w.settleWG.Done()
		w.settle(m)
	}()
}

// settle decides what happens to a message whose parts are all done, and
// does it: hand what is still owed back to SQS first, delete after.
func (w *Worker) settle(m *message) {
	ctx := w.sqsCtx
	w.owned.drop(m) // stops the heartbeat before any hand-off
	defer w.inflight.release(m.env.AppID, m.size)
	if w.opts.FIFO {
		deleted := false
		defer func() { w.nextInGroup(ctx, m, deleted) }()
		w.settleMessage(ctx, m, &deleted)
		return
	}
	w.settleMessage(ctx, m, nil)
}

// settleMessage settles m; on FIFO queues it reports whether m was deleted.
func (w *Worker) settleMessage(ctx context.Context, m *message, deleted *bool) {
	m.mu.Lock()
	lost, started := m.lost, m.started
	m.mu.Unlock()
	if lost {
		// Another receiver owns the message now; our handle is stale and
		// must not delete it.
		w.m.ownershipLost.Inc()
		w.log.Warn("settle skipped: ownership lost", "message_id", m.sqsID, "envelope_id", m.env.ID)
		return
	}

	var dead, retry, deferred []*part
	released := 0
	for _, p := range m.parts {
		switch p.result.kind {
		case resultDead:
			dead = append(dead, p)
		case resultRetry:
			if w.exhausted(m, p) {
				p.result.kind, p.result.reason = resultDead, reasonExhausted
				if p.result.outcome.Reason == reasonUnknownApp {
					p.result.reason = reasonUnknownApp
				}
				dead = append(dead, p)
			} else {
				retry = append(retry, p)
			}
		case resultDeferred:
			deferred = append(deferred, p)
		case resultReleased:
			released++
			deferred = append(deferred, p)
		}
	}

	// Nothing was attempted (shutdown before any delivery started): release
	// the message as it is, visibility 0, no attempt used.
	if released > 0 && released == len(deferred) && len(dead) == 0 && len(retry) == 0 && !started {
		if err := w.setVisibility(ctx, m.receiptHandle(), 0); err != nil {
			w.log.Error("release failed; the message returns after its visibility timeout", "message_id", m.sqsID, "error", err)
		}
		w.m.released.Inc()
		return
	}

	ok := true
	for _, p := range dead {
		ok = w.deadLetter(ctx, m, p) && ok
	}
	if w.opts.FIFO {
		*deleted = w.settleFIFO(ctx, m, ok, retry, deferred)
		return
	}
	if len(retry) > 0 {
		ok = w.sendRetry(ctx, m, retry) && ok
	}
	if len(deferred) > 0 {
		delay := w.opts.DeferDelay
		if released == len(deferred) {
			delay = 0
		}
		ok = w.sendBack(ctx, m, targets(m, deferred), m.attempt, delay, "hand-back") && ok
	}
	if !ok {
		// Something owed could not be handed to SQS: keep the original so
		// nothing is lost; it returns after its visibility timeout.
		w.log.Error("settle incomplete; the message will be received again", "message_id", m.sqsID, "envelope_id", m.env.ID)
		return
	}
	w.deleteMessages(ctx, []*message{m})
}

// settleFIFO: retries keep the message in place (re-sending would reorder
// the app's messages), delayed by changing its visibility. It reports
// whether the message was deleted.
func (w *Worker) settleFIFO(ctx context.Context, m *message, ok bool, retry, deferred []*part) bool {
	var delay time.Duration
	switch {
	case !ok:
		delay = w.opts.DeferDelay
	case len(retry) > 0:
		delay = w.retryDelay(m, retry)
		w.m.retries.Inc()
	case len(deferred) > 0:
		delay = w.opts.DeferDelay
	default:
		w.deleteMessages(ctx, []*message{m})
		return true
	}
	if err := w.setVisibility(ctx, m.receiptHandle(), delay); err != nil {
		w.log.Error("retry delay failed; the message returns after its visibility timeout", "message_id", m.sqsID, "error", err)
	}
	return false
}

// nextInGroup moves m's FIFO group on: after a delete, the next message of
// the group received with it is delivered; otherwise (a retry, a release, a
// lost lease, shutdown) the ones waiting are released to come back after m.
func (w *Worker) nextInGroup(ctx context.Context, m *message, deleted bool) {
	next, release := w.groups.finish(m.group, deleted && !w.isStopping())
	for _, r := range release {
		w.owned.drop(r)
		if err := w.setVisibility(ctx, r.receiptHandle(), 0); err != nil {
			w.log.Error("release failed; the message returns after its visibility timeout", "message_id", r.sqsID, "error", err)
		}
		w.inflight.release(r.env.AppID, r.size)
		w.m.released.Inc()
	}
	if next != nil {
		w.route(next)
	}
}

// exhausted reports whether a retryable part has no attempts left.
func (w *Worker) exhausted(m *message, p *part) bool {
	pol := w.policy(p)
	return !pol.Enabled || m.attempt >= pol.MaxAttempts ||
		(pol.MaxElapsedTime > 0 && w.now().Sub(m.firstAttempt) >= pol.MaxElapsedTime)
}

func (w *Worker) policy(p *part) config.Retry {
	if p.hook != nil {
		return p.hook.Retry
	}
	return w.cfg.Webhooks.Retry
}

// retryDelay is the backoff before the next attempt: the shortest of the
// failing webhooks' backoffs, but no shorter than a Retry-After they asked
// for.
func (w *Worker) retryDelay(m *message, retry []*part) time.Duration {
	var delay, after time.Duration
	for i, p := range retry {
		d := backoffDelay(w.policy(p), m.attempt)
		if i == 0 || d < delay {
			delay = d
		}
		after = max(after, p.result.outcome.RetryAfter)
	}
	return max(delay, after)
}

// backoffDelay is the wait after the given failed attempt: exponential from
// the initial backoff, capped, with jitter.
func backoffDelay(pol config.Retry, attempt int) time.Duration {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(pol.InitialBackoff),
		backoff.WithMaxInterval(pol.MaxBackoff),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.2),
		backoff.WithMaxElapsedTime(0),
	)
	d := b.NextBackOff()
	for i := 1; i < attempt; i++ {
		d = b.NextBackOff()
	}
	return d
}

// sendRetry sends the retry envelope: same id and events, targets still
// owed, attempt + 1, delayed by the backoff.
func (w *Worker) sendRetry(ctx context.Context, m *message, retry []*part) bool {
	w.m.retries.Inc()
	return w.sendBack(ctx, m, targets(m, retry), m.attempt+1, w.retryDelay(m, retry), "retry")
}

// sendBack puts a copy of the message's envelope for targets back on the
// main queue with a delay. Delays past SQS's 15 minutes ride in not_before.
func (w *Worker) sendBack(ctx context.Context, m *message, targets []string, attempt int, delay time.Duration, why string) bool {
	env := *m.env
	env.Targets = targets
	env.Attempt = attempt
	env.FirstAttemptMS = m.firstAttempt.UnixMilli()
	env.NotBeforeMS = 0
	secs := int32((delay + time.Second - 1) / time.Second)
	if delay > maxDelaySeconds*time.Second {
		env.NotBeforeMS = w.now().Add(delay).UnixMilli()
		secs = maxDelaySeconds
	}
	body, err := payload.Encode(&env)
	if err != nil {
		w.log.Error("cannot encode "+why+" envelope", "message_id", m.sqsID, "error", err)
		return false
	}
	in := &sqs.SendMessageInput{
		QueueUrl:     aws.String(w.opts.QueueURL),
		MessageBody:  aws.String(string(body)),
		DelaySeconds: secs,
	}
	if w.cfg.Queue.FairQueues {
		in.MessageGroupId = aws.String(env.AppID)
	}
	if err := w.send(ctx, in); err != nil {
		w.m.sqsErrors.WithLabelValues("send").Inc()
		w.log.Error(why+" send failed", "message_id", m.sqsID, "envelope_id", env.ID, "error", err)
		return false
	}
	w.log.Info(why, "envelope_id", env.ID, "app_id", env.AppID, "targets", strings.Join(targets, ","),
		"attempt", attempt, "delay", time.Duration(secs)*time.Second)
	return true
}

// deadLetter copies the message to the DLQ for one part, with the reason.
func (w *Worker) deadLetter(ctx context.Context, m *message, p *part) bool {
	env := *m.env
	env.Targets = []string{p.target}
	if p.appLevel {
		env.Targets = m.env.Targets
	}
	env.Attempt = m.attempt
	env.FirstAttemptMS = m.firstAttempt.UnixMilli()
	env.NotBeforeMS = 0
	body, err := payload.Encode(&env)
	if err != nil {
		w.log.Error("cannot encode dead-letter envelope", "message_id", m.sqsID, "error", err)
		return false
	}
	target := p.target
	if p.hook != nil {
		target = p.hook.Target()
	}
	attrs := map[string]types.MessageAttributeValue{
		AttrReason:   stringAttr(p.result.reason),
		AttrTarget:   stringAttr(target),
		AttrStatus:   stringAttr(statusText(p.result.outcome)),
		AttrAttempts: numberAttr(m.attempt),
		AttrWebhook:  stringAttr(p.target),
	}
	if d := p.result.outcome.Detail; d != "" {
		attrs[AttrDetail] = stringAttr(truncate(d, maxDetail))
	}
	return w.sendDLQ(ctx, m.sqsID, string(body), env.AppID, env.ID+":"+strconv.Itoa(m.attempt)+":"+p.target, attrs,
		"reason", p.result.reason, "target", target, "status", statusText(p.result.outcome))
}

// deadLetterRaw moves a message that is not a valid envelope to the DLQ
// unchanged and deletes it; it is never retried.
func (w *Worker) deadLetterRaw(ctx context.Context, m *message, sm types.Message, reason, detail string) {
	attrs := map[string]types.MessageAttributeValue{
		AttrReason:   stringAttr(reason),
		AttrStatus:   stringAttr("none"),
		AttrAttempts: numberAttr(max(1, receiveCount(sm))),
		AttrDetail:   stringAttr(truncate(detail, maxDetail)),
	}
	for k, v := range sm.MessageAttributes {
		if len(attrs) >= maxAttributes {
			break
		}
		if _, taken := attrs[k]; !taken {
			attrs[k] = v
		}
	}
	group := sm.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
	if group == "" {
		group = "malformed"
	}
	if !w.sendDLQ(ctx, m.sqsID, m.body, group, m.sqsID, attrs, "reason", reason, "detail", truncate(detail, 200)) {
		return // kept: the redrive policy is the backstop
	}
	w.deleteMessages(ctx, []*message{m})
}

// sendDLQ sends one message to the DLQ. On FIFO it needs a group and a
// deduplication id unique per copy.
func (w *Worker) sendDLQ(ctx context.Context, sqsID, body, group, dedup string,
	attrs map[string]types.MessageAttributeValue, logArgs ...any) bool {
	in := &sqs.SendMessageInput{
		QueueUrl:          aws.String(w.opts.DeadLetterQueueURL),
		MessageBody:       aws.String(body),
		MessageAttributes: attrs,
	}
	if w.opts.FIFO {
		in.MessageGroupId = aws.String(group)
		in.MessageDeduplicationId = aws.String(dedupID(dedup))
	}
	if err := w.send(ctx, in); err != nil {
		w.m.sqsErrors.WithLabelValues("send-dlq").Inc()
		w.log.Error("dead-letter send failed; the message is kept", append([]any{"message_id", sqsID, "error", err}, logArgs...)...)
		return false
	}
	reason := attrs[AttrReason].StringValue
	w.m.deadLettered.WithLabelValues(aws.ToString(reason)).Inc()
	w.log.Warn("dead-lettered", append([]any{"message_id", sqsID}, logArgs...)...)
	return true
}

// dedupID fits a deduplication id into SQS's 128 characters.
func dedupID(s string) string {
	if len(s) <= 128 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// handBack re-queues a whole message with a short delay, not counting an
// attempt (over a cap), then deletes the original.
func (w *Worker) handBack(ctx context.Context, m *message) {
	if w.opts.FIFO {
		if err := w.setVisibility(ctx, m.handle, w.opts.DeferDelay); err != nil {
			w.log.Error("hand-back failed", "message_id", m.sqsID, "error", err)
		}
		return
	}
	if !w.sendBack(ctx, m, m.env.Targets, m.attempt, w.opts.DeferDelay, "hand-back") {
		return
	}
	w.deleteMessages(ctx, []*message{m})
}

// targets lists the webhook ids parts are owed to; an app-level part
// (unknown app) owes whatever the message owed.
func targets(m *message, parts []*part) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		if p.appLevel {
			return m.env.Targets
		}
		out[i] = p.target
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
