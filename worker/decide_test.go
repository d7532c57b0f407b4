package worker

import (
	"reflect"
	"testing"
	"time"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
)

// decide is pure: every row is a message's parts and what must happen.
func TestDecide(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	pol := config.Retry{Enabled: true, MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: 8 * time.Second,
		MaxElapsedTime: time.Minute}
	part := func(target string, k resultKind) partOutcome {
		return partOutcome{Target: target, Policy: pol, Result: result{kind: k}}
	}
	dead := func(target, reason string) partOutcome {
		return partOutcome{Target: target, Policy: pol, Result: result{kind: resultDead, reason: reason}}
	}
	base := func(attempt int, parts ...partOutcome) settleInput {
		return settleInput{Attempt: attempt, FirstAttempt: now.Add(-time.Second), Now: now, DeferDelay: 2 * time.Second, Parts: parts}
	}
	tests := []struct {
		name string
		in   settleInput
		want decision
	}{
		{"all delivered: delete", base(1, part("a", resultDelivered), part("b", resultDelivered)),
			decision{act: actDelete, onSendFailure: -1}},
		{"matched nothing: delete", base(1),
			decision{act: actDelete, onSendFailure: -1}},
		{"ownership lost: nothing, whatever the parts say", func() settleInput {
			in := base(1, part("a", resultRetry))
			in.Lost = true
			return in
		}(), decision{act: actDrop}},
		{"one webhook failed: retry envelope for it alone, attempt+1, backoff", base(1, part("a", resultDelivered), part("b", resultRetry)),
			decision{act: actDelete, onSendFailure: -1, retry: &sendBack{targets: []string{"b"}, attempt: 2, delay: time.Second, retry: true}, retrying: true}},
		{"backoff doubles with the attempt", base(2, part("b", resultRetry)),
			decision{act: actDelete, onSendFailure: -1, retry: &sendBack{targets: []string{"b"}, attempt: 3, delay: 2 * time.Second, retry: true}, retrying: true}},
		{"attempts used up: dead letter, retries-exhausted", base(3, part("a", resultDelivered), part("b", resultRetry)),
			decision{act: actDelete, onSendFailure: -1, dead: []deadCopy{{part: 1, reason: reasonExhausted}}}},
		{"elapsed time used up: dead letter", func() settleInput {
			in := base(1, part("b", resultRetry))
			in.FirstAttempt = now.Add(-2 * time.Minute)
			return in
		}(), decision{act: actDelete, onSendFailure: -1, dead: []deadCopy{{part: 0, reason: reasonExhausted}}}},
		{"Retry-After longer than the backoff wins", func() settleInput {
			p := part("b", resultRetry)
			p.Result.outcome = delivery.Outcome{Class: delivery.Retryable, RetryAfter: 30 * time.Second}
			return base(1, p)
		}(), decision{act: actDelete, onSendFailure: -1, retry: &sendBack{targets: []string{"b"}, attempt: 2, delay: 30 * time.Second, retry: true}, retrying: true}},
		{"permanent failure: dead letter with its reason, others delivered", base(1, part("a", resultDelivered), dead("b", reasonPermanent)),
			decision{act: actDelete, onSendFailure: -1, dead: []deadCopy{{part: 1, reason: reasonPermanent}}}},
		{"event too large and a retry for the same webhook: both", base(1, part("b", resultRetry), dead("b", reasonTooLarge)),
			decision{act: actDelete, onSendFailure: -1, dead: []deadCopy{{part: 1, reason: reasonTooLarge}},
				retry: &sendBack{targets: []string{"b"}, attempt: 2, delay: time.Second, retry: true}, retrying: true}},
		{"handed back (waited too long): same attempt, defer delay", base(2, part("a", resultDelivered), part("b", resultDeferred)),
			decision{act: actDelete, onSendFailure: -1, handBack: &sendBack{targets: []string{"b"}, attempt: 2, delay: 2 * time.Second}}},
		{"retry and hand-back in one message: two envelopes", base(1, part("a", resultRetry), part("b", resultDeferred)),
			decision{act: actDelete, onSendFailure: -1,
				retry: &sendBack{targets: []string{"a"}, attempt: 2, delay: time.Second, retry: true}, retrying: true,
				handBack: &sendBack{targets: []string{"b"}, attempt: 1, delay: 2 * time.Second}}},
		{"shutdown before any delivery started: release as is", base(1, part("a", resultReleased), part("b", resultReleased)),
			decision{act: actVisibility, visibility: 0, onSendFailure: -1}},
		{"shutdown after one webhook was delivered: hand back the rest at once", func() settleInput {
			in := base(1, part("a", resultDelivered), part("b", resultReleased))
			in.Started = true
			return in
		}(), decision{act: actDelete, onSendFailure: -1, handBack: &sendBack{targets: []string{"b"}, attempt: 1, delay: 0}}},
		{"unknown app retried, keeping the envelope's targets", func() settleInput {
			in := base(1, partOutcome{Target: "app:x", AppLevel: true, Policy: pol, Result: result{kind: resultRetry, reason: reasonUnknownApp}})
			in.EnvTargets = []string{"h1"}
			return in
		}(), decision{act: actDelete, onSendFailure: -1, retry: &sendBack{targets: []string{"h1"}, attempt: 2, delay: time.Second, retry: true}, retrying: true}},
		{"unknown app exhausted: dead letter unknown-app", base(3, partOutcome{Target: "app:x", AppLevel: true, Policy: pol,
			Result: result{kind: resultRetry, reason: reasonUnknownApp}}),
			decision{act: actDelete, onSendFailure: -1, dead: []deadCopy{{part: 0, reason: reasonUnknownApp}}}},
		{"retries disabled: dead letter at once", base(1, partOutcome{Target: "b", Policy: config.Retry{Enabled: false, MaxAttempts: 3},
			Result: result{kind: resultRetry}}),
			decision{act: actDelete, onSendFailure: -1, dead: []deadCopy{{part: 0, reason: reasonExhausted}}}},
		{"FIFO retry: keep in place, delayed by visibility", func() settleInput {
			in := base(1, part("a", resultDelivered), part("b", resultRetry))
			in.FIFO = true
			return in
		}(), decision{act: actVisibility, visibility: time.Second, onSendFailure: 2 * time.Second, retrying: true}},
		{"FIFO dead letter: copy, then delete", func() settleInput {
			in := base(1, dead("b", reasonPermanent))
			in.FIFO = true
			return in
		}(), decision{act: actDelete, onSendFailure: 2 * time.Second, dead: []deadCopy{{part: 0, reason: reasonPermanent}}}},
		{"FIFO hand-back: visibility defer delay", func() settleInput {
			in := base(1, part("b", resultDeferred))
			in.FIFO = true
			return in
		}(), decision{act: actVisibility, visibility: 2 * time.Second, onSendFailure: 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := decide(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decide:\n got %+v\nwant %+v", show(got), show(tt.want))
			}
		})
	}
}

func show(d decision) map[string]any {
	out := map[string]any{"act": d.act.String(), "visibility": d.visibility, "onSendFailure": d.onSendFailure, "dead": d.dead,
		"retrying": d.retrying}
	if d.retry != nil {
		out["retry"] = *d.retry
	}
	if d.handBack != nil {
		out["handBack"] = *d.handBack
	}
	return out
}

// The jitter stays within ±20 % of the exponential schedule, capped.
func TestBackoffDelayJitter(t *testing.T) {
	pol := config.Retry{InitialBackoff: time.Second, MaxBackoff: 4 * time.Second}
	for _, tt := range []struct {
		attempt  int
		r        float64
		min, max time.Duration
	}{
		{1, 0, 800 * time.Millisecond, 800 * time.Millisecond},
		{1, 0.999, 1190 * time.Millisecond, 1200 * time.Millisecond},
		{3, 0.5, 4 * time.Second, 4 * time.Second},
		{10, 0.5, 4 * time.Second, 4 * time.Second},
	} {
		got := backoffDelay(pol, tt.attempt, func() float64 { return tt.r })
		if got < tt.min || got > tt.max {
			t.Errorf("attempt %d, r %v: %v, want in [%v, %v]", tt.attempt, tt.r, got, tt.min, tt.max)
		}
	}
}
