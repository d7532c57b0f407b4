package worker

import (
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
)

// Dead-letter reasons (the hookline-reason attribute).
const (
	reasonExhausted     = "retries-exhausted"
	reasonPermanent     = "permanent-failure"
	reasonTargetRemoved = "target-removed"
	reasonAppDisabled   = "app-disabled"
	reasonUnknownApp    = "unknown-app"
	reasonTooLarge      = "event-too-large"
)

// Hand-back causes (the handbacks_total label).
const (
	causeWebhookQueue = "webhook-queue" // the webhook's queued bytes over their cap
	causeWebhookWait  = "webhook-wait"  // waited longer than the webhook's request timeout
	causeShutdown     = "shutdown"      // not attempted before the grace period ended
)

// action is what happens to the original message once a decision's sends
// (if any) were accepted.
type action int

const (
	actDelete     action = iota // delete it
	actVisibility               // change its visibility to decision.visibility (0: release now)
	actDrop                     // nothing: ownership was lost, the handle must not be used
)

func (a action) String() string {
	switch a {
	case actDelete:
		return "delete"
	case actVisibility:
		return "visibility"
	default:
		return "drop"
	}
}

// sendBack is a copy of the envelope for the main queue: a retry envelope
// (attempt + 1) or a hand-back (same attempt).
type sendBack struct {
	targets []string // nil: every webhook of the app
	attempt int
	delay   time.Duration
	retry   bool // a real attempt failed (retry), else a hand-back
}

// deadCopy is one DLQ copy: the part (its index in settleInput.Parts) and
// why.
type deadCopy struct {
	part    int
	reason  string
	outcome delivery.Outcome
}

// decision is everything that must happen to one message.
type decision struct {
	act        action
	visibility time.Duration // actVisibility
	retry      *sendBack
	handBack   *sendBack
	dead       []deadCopy
	// retrying is set when a real attempt failed and another is planned
	// (a retry envelope, or on FIFO a visibility delay).
	retrying bool
	// onSendFailure is the visibility to set when a send fails (FIFO:
	// DeferDelay), or -1 to leave the message as it is (it returns after
	// its visibility timeout). Either way the original is not deleted.
	onSendFailure time.Duration
}

// partOutcome is one part as decide sees it.
type partOutcome struct {
	Target   string
	AppLevel bool
	Policy   config.Retry
	Result   result
}

// settleInput is everything decide needs to know about a message whose
// parts are all resolved.
type settleInput struct {
	FIFO    bool
	Lost    bool // the heartbeat said the handle is invalid
	Started bool // some delivery of the message began
	Attempt int
	// FirstAttempt and Now bound the retry policy's elapsed time.
	FirstAttempt, Now time.Time
	DeferDelay        time.Duration
	// EnvTargets is the envelope's targets (nil: every webhook).
	EnvTargets []string
	Parts      []partOutcome
	// Jitter returns a backoff's randomisation in [0, 1); nil: 0.5 (no
	// jitter), for tests.
	Jitter func() float64
}

// decide is the one decision per message: delivered (delete), retry (which
// targets, what delay), dead-letter (reason, target, status), release, or
// hand back. It is pure: the acker carries the result out.
func decide(in settleInput) decision {
	if in.Lost {
		// Another receiver owns the message now; our handle is stale and
		// must not be used.
		return decision{act: actDrop}
	}
	var dead []deadCopy
	var retry, deferred []int
	released := 0
	for i, p := range in.Parts {
		switch p.Result.kind {
		case resultDead:
			dead = append(dead, deadCopy{part: i, reason: p.Result.reason, outcome: p.Result.outcome})
		case resultRetry:
			if exhausted(p.Policy, in) {
				reason := reasonExhausted
				if p.Result.reason == reasonUnknownApp {
					reason = reasonUnknownApp
				}
				dead = append(dead, deadCopy{part: i, reason: reason, outcome: p.Result.outcome})
			} else {
				retry = append(retry, i)
			}
		case resultDeferred:
			deferred = append(deferred, i)
		case resultReleased:
			released++
			deferred = append(deferred, i)
		}
	}
	d := decision{dead: dead, onSendFailure: -1}

	// Nothing was attempted (shutdown before any delivery started): release
	// the message as it is, visibility 0, no attempt used.
	if released > 0 && released == len(deferred) && len(dead) == 0 && len(retry) == 0 && !in.Started {
		return decision{act: actVisibility, visibility: 0, onSendFailure: -1}
	}

	if in.FIFO {
		// Retries keep the message in place (re-sending would reorder the
		// app's messages), delayed by its visibility.
		d.onSendFailure = in.DeferDelay
		switch {
		case len(retry) > 0:
			d.act, d.visibility, d.retrying = actVisibility, retryDelay(in, retry), true
		case len(deferred) > 0:
			d.act, d.visibility = actVisibility, in.DeferDelay
			if released == len(deferred) {
				d.visibility = 0
			}
		default:
			d.act = actDelete
		}
		return d
	}

	d.act = actDelete
	if len(retry) > 0 {
		d.retry = &sendBack{targets: targets(in, retry), attempt: in.Attempt + 1, delay: retryDelay(in, retry), retry: true}
		d.retrying = true
	}
	if len(deferred) > 0 {
		delay := in.DeferDelay
		if released == len(deferred) {
			delay = 0
		}
		d.handBack = &sendBack{targets: targets(in, deferred), attempt: in.Attempt, delay: delay}
	}
	return d
}

// exhausted reports whether a retryable part has no attempts left.
func exhausted(pol config.Retry, in settleInput) bool {
	return !pol.Enabled || in.Attempt >= pol.MaxAttempts ||
		(pol.MaxElapsedTime > 0 && in.Now.Sub(in.FirstAttempt) >= pol.MaxElapsedTime)
}

// retryDelay is the backoff before the next attempt: the shortest of the
// failing webhooks' backoffs, but no shorter than a Retry-After they asked
// for.
func retryDelay(in settleInput, retry []int) time.Duration {
	var delay, after time.Duration
	for k, i := range retry {
		p := in.Parts[i]
		d := backoffDelay(p.Policy, in.Attempt, in.Jitter)
		if k == 0 || d < delay {
			delay = d
		}
		after = max(after, p.Result.outcome.RetryAfter)
	}
	return max(delay, after)
}

// backoffDelay is the wait after the given failed attempt: exponential from
// the initial backoff, capped, with ±20 % jitter.
func backoffDelay(pol config.Retry, attempt int, jitter func() float64) time.Duration {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(pol.InitialBackoff),
		backoff.WithMaxInterval(pol.MaxBackoff),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0),
		backoff.WithMaxElapsedTime(0),
	)
	d := b.NextBackOff()
	for i := 1; i < attempt; i++ {
		d = b.NextBackOff()
	}
	r := 0.5
	if jitter != nil {
		r = jitter()
	}
	return time.Duration(float64(d) * (0.8 + 0.4*r))
}

// targets lists the webhook ids the parts are owed to; an app-level part
// (unknown app) owes whatever the message owed.
func targets(in settleInput, parts []int) []string {
	out := make([]string, len(parts))
	for k, i := range parts {
		p := in.Parts[i]
		if p.AppLevel {
			return in.EnvTargets
		}
		out[k] = p.Target
	}
	return out
}
