package worker_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/localstack/sqsmem"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/queues"
	"github.com/hookline/hookline/worker"
)

// The worker's behaviour suite (DESIGN §4, docs/delivery-semantics.md): the
// same scenarios against the in-memory SQS under testing/synctest (virtual
// time: deterministic, milliseconds) and against the local SQS emulator
// (fauxqs, or LocalStack when AWS_ENDPOINT_URL_SQS is set; real time). The
// worker talks to SQS through one fault-injecting wrapper (faultSQS) and
// delivers to an in-process recording sender (recorder), so every fault and
// every assertion is the same on both back ends.

// TestSuiteMem runs the suite against sqsmem, each scenario in its own
// synctest bubble with its own Server.
func TestSuiteMem(t *testing.T) {
	runSuite(t, &backend{
		name:    "sqsmem",
		virtual: true,
		run:     func(t *testing.T, body func(t *testing.T)) { synctest.Test(t, body) },
		queues: func(t *testing.T, fifo bool) (worker.SQS, adminClient, string, string) {
			srv := sqsmem.New()
			mainURL, dlqURL := srv.CreatePair("suite", fifo, suiteVisibility, suiteMaxReceiveCount)
			c := srv.Client()
			return c, c, mainURL, dlqURL
		},
	})
}

// TestSuiteSQS runs the suite against the harness's SQS (fauxqs, or
// AWS_ENDPOINT_URL_SQS), each scenario on its own queue pair, in parallel.
func TestSuiteSQS(t *testing.T) {
	localstack.SQSEndpoint(t) // skips (fails in CI) when there is no SQS
	client := localstack.SQSClient(t, region)
	runSuite(t, &backend{
		name: "sqs",
		run:  func(t *testing.T, body func(t *testing.T)) { body(t) },
		queues: func(t *testing.T, fifo bool) (worker.SQS, adminClient, string, string) {
			spec := queues.Spec{Name: localstack.UniqueQueueName(t, "s"), FIFO: fifo,
				VisibilityTimeout: suiteVisibility, MaxReceiveCount: suiteMaxReceiveCount}
			res, err := queues.Ensure(context.Background(), client, spec)
			if err != nil {
				t.Fatal(err)
			}
			return client, client, res.Main.URL, res.DeadLetter.URL
		},
	})
}

func runSuite(t *testing.T, b *backend) {
	for _, sc := range []struct {
		name string
		fifo bool
		run  func(s *suite)
		bug  string // a known worker bug makes it fail: skipped unless HOOKLINE_SUITE_BUGS is set
	}{
		{"HealthyDrain", false, suiteHealthyDrain, ""},
		{"Retry", false, suiteRetry, ""},
		{"PermanentFailure", false, suitePermanentFailure, ""},
		{"RetriesExhausted", false, suiteRetriesExhausted, ""},
		{"Heartbeat", false, suiteHeartbeat, ""},
		{"LostOwnership", false, suiteLostOwnership, ""},
		{"TakeOverAfterLapsedLease", false, suiteTakeOver, ""},
		{"PartialDeleteFailure", false, suitePartialDeleteFailure, ""},
		{"DeleteFailsForTheWholeLease", false, suiteDeleteAbandoned, ""},
		{"ThrottledRetryHandOff", false, suiteThrottledRetryHandOff, ""},
		{"PartialSendFailure", false, suitePartialSendFailure, ""},
		{"HungWebhookIsolation", false, suiteHungWebhookIsolation, ""},
		{"Shutdown", false, suiteShutdown, ""},
		{"Poison", false, suitePoison, ""},
		{"FIFOOrderThroughRetry", true, suiteFIFOOrder, ""},
		{"FIFORetryDelayVersusHeartbeat", true, suiteFIFORetryVersusHeartbeat, ""},
	} {
		t.Run(sc.name, func(t *testing.T) {
			if sc.bug != "" && os.Getenv("HOOKLINE_SUITE_BUGS") == "" {
				t.Skip("BUG: " + sc.bug + "; set HOOKLINE_SUITE_BUGS=1 to run it")
			}
			t.Parallel() // each scenario has its own queues (and, in memory, its own bubble and Server)
			b.run(t, func(t *testing.T) { sc.run(newSuite(t, b, sc.fifo)) })
		})
	}
}

// 1. A healthy single-app drain: every event delivered exactly once, the
// queues empty, SQS writes batched, nothing handed back.
func suiteHealthyDrain(s *suite) {
	t := s.t
	const n = 200
	cfg := s.config(suiteWebhooks, hookJSON("hook", ""))
	rec := newRecorder(nil)
	want := s.sendMany(n)
	w := s.start(cfg, worker.Options{}, rec)
	s.wait(rec.awaitDelivered("hook", n), "every event delivered", rec)
	s.wait(s.sqs.awaitOK("DeleteMessageBatch", n), "every message deleted", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	assertExactlyOnce(t, rec.deliveredTo("hook"), want, "hook")
	s.assertDrained()
	deletes, deleted := s.sqs.counts("DeleteMessageBatch")
	if limit := n/10 + 5; deletes > limit {
		t.Errorf("%d DeleteMessageBatch calls for %d messages, want at most %d (batched)", deletes, n, limit)
	}
	if deleted != n {
		t.Errorf("%d delete entries sent, want %d", deleted, n)
	}
	if sends, _ := s.sqs.counts("SendMessageBatch"); sends != 0 {
		t.Errorf("%d SendMessageBatch calls in a healthy single-app run, want 0 (nothing handed back)", sends)
	}
	receives, _ := s.sqs.counts("ReceiveMessage")
	beats, _ := s.sqs.counts("ChangeMessageVisibilityBatch")
	t.Logf("%d messages: %d DeleteMessageBatch, %d ReceiveMessage, %d ChangeMessageVisibilityBatch calls", n, deletes, receives, beats)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		// The worker's counters match the calls it made.
		{"hookline_worker_sqs_calls_total", []string{"op", "ReceiveMessage"}, float64(receives)},
		{"hookline_worker_sqs_calls_total", []string{"op", "ChangeMessageVisibilityBatch"}, float64(beats)},
		{"hookline_worker_sqs_calls_total", []string{"op", "DeleteMessageBatch"}, float64(deletes)},
		{"hookline_worker_sqs_calls_total", []string{"op", "DeleteMessageBatch", "outcome", "error"}, 0},
		{"hookline_worker_sqs_calls_total", []string{"op", "SendMessageBatch"}, 0},
		{"hookline_worker_messages_deleted_total", nil, n},
		{"hookline_worker_messages_received_total", nil, n},
		{"hookline_worker_events_delivered_total", nil, n},
		{"hookline_worker_handbacks_total", nil, 0},
		{"hookline_worker_dead_letters_total", nil, 0},
	} {
		if got := w.counter(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// 2. A webhook failing twice then recovering gets attempts 1, 2, 3 with the
// same event ids; a healthy webhook of the same app gets each event once.
func suiteRetry(s *suite) {
	t := s.t
	cfg := s.config(suiteWebhooks, hookJSON("flaky", ""), hookJSON("healthy", ""))
	rec := newRecorder(func(r reqInfo) reply {
		if r.Hook == "flaky" && r.Attempt < 3 {
			return reply{class: delivery.Retryable, status: 500}
		}
		return reply{}
	})
	id := s.send(event("u1"), event("u2"))
	want := []string{id + ":0", id + ":1"}
	w := s.start(cfg, worker.Options{}, rec)
	s.wait(rec.awaitDelivered("flaky", 2), "the flaky webhook's events", rec)
	s.wait(rec.awaitDelivered("healthy", 2), "the healthy webhook's events", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	flaky := rec.requests("flaky")
	if len(flaky) != 3 {
		t.Fatalf("flaky webhook got %d requests, want 3 (2 failures + 1 success)", len(flaky))
	}
	for i, r := range flaky {
		if r.Attempt != i+1 {
			t.Errorf("flaky request %d: attempt %d, want %d", i+1, r.Attempt, i+1)
		}
		if !slices.Equal(r.IDs, want) {
			t.Errorf("flaky request %d: event ids %v, want %v (stable across retries)", i+1, r.IDs, want)
		}
	}
	assertExactlyOnce(t, rec.deliveredTo("healthy"), want, "healthy")
	if hs := rec.requests("healthy"); len(hs) != 1 || hs[0].Attempt != 1 {
		t.Errorf("healthy webhook: %d requests, want 1 with attempt 1", len(hs))
	}
	if got := w.counter(t, "hookline_worker_retries_total"); got != 2 {
		t.Errorf("retries_total = %v, want 2", got)
	}
}

// 3. A permanent failure: one DLQ message naming the webhook and the status;
// the original is deleted; the app's other webhook gets the event once.
func suitePermanentFailure(s *suite) {
	t := s.t
	cfg := s.config(suiteWebhooks, hookJSON("gone", ""), hookJSON("fine", ""))
	rec := newRecorder(func(r reqInfo) reply {
		if r.Hook == "gone" {
			return reply{class: delivery.Permanent, status: 410}
		}
		return reply{}
	})
	id := s.send(event("u1"))
	w := s.start(cfg, worker.Options{}, rec)
	dead := s.dlq(1)
	s.wait(rec.awaitDelivered("fine", 1), "the healthy webhook's event", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	m := dead[0]
	for k, want := range map[string]string{worker.AttrReason: "permanent-failure", worker.AttrWebhook: "gone", worker.AttrStatus: "410", worker.AttrAttempts: "1"} {
		if got := attr(m, k); got != want {
			t.Errorf("DLQ %s = %q, want %q", k, got, want)
		}
	}
	env, err := payload.Decode([]byte(aws.ToString(m.Body)))
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != id || !slices.Equal(env.Targets, []string{"gone"}) {
		t.Errorf("DLQ envelope %s targets %v, want %s targets [gone]", env.ID, env.Targets, id)
	}
	if n := len(rec.requests("gone")); n != 1 {
		t.Errorf("permanent failure retried: %d requests", n)
	}
	assertExactlyOnce(t, rec.deliveredTo("fine"), []string{id + ":0"}, "fine")
}

// 4. Retries exhausted: the webhook's own max_attempts (3) requests, then
// the DLQ with the reason and the attempts.
func suiteRetriesExhausted(s *suite) {
	t := s.t
	cfg := s.config(suiteWebhooks, hookJSON("down", `,"retry":{"max_attempts":3}`))
	rec := newRecorder(func(reqInfo) reply { return reply{class: delivery.Retryable, status: 503} })
	s.send(event("u1"))
	w := s.start(cfg, worker.Options{}, rec)
	dead := s.dlq(1)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	for k, want := range map[string]string{worker.AttrReason: "retries-exhausted", worker.AttrWebhook: "down", worker.AttrStatus: "503", worker.AttrAttempts: "3"} {
		if got := attr(dead[0], k); got != want {
			t.Errorf("DLQ %s = %q, want %q", k, got, want)
		}
	}
	var attempts []int
	for _, r := range rec.requests("down") {
		attempts = append(attempts, r.Attempt)
	}
	if !slices.Equal(attempts, []int{1, 2, 3}) {
		t.Errorf("attempts %v, want [1 2 3]", attempts)
	}
}

// 5. A delivery that takes twice the visibility timeout, and a message
// waiting that long behind it for the webhook's only slot: the heartbeat
// keeps both owned, so each is requested and received exactly once.
func suiteHeartbeat(s *suite) {
	t := s.t
	cfg := s.config(`{"batching":{"enabled":false}}`, hookJSON("slow", `,"request_timeout_ms":60000`))
	rec := newRecorder(func(r reqInfo) reply {
		if r.N == 1 {
			return reply{after: 2 * suiteVisibility}
		}
		return reply{}
	})
	want := []string{s.send(event("u1")) + ":0", s.send(event("u2")) + ":0"}
	w := s.start(cfg, worker.Options{WebhookConcurrency: 1}, rec)
	s.wait(rec.awaitDelivered("slow", 2), "both deliveries", rec)
	s.wait(s.sqs.awaitOK("DeleteMessageBatch", 2), "both deletes", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	assertExactlyOnce(t, rec.deliveredTo("slow"), want, "slow")
	if n := len(rec.requests("slow")); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if got := w.counter(t, "hookline_worker_messages_received_total"); got != 2 {
		t.Errorf("messages_received_total = %v, want 2 (no lease lapsed, neither the running one's nor the waiting one's)", got)
	}
	if got := w.counter(t, "hookline_worker_visibility_extensions_total"); got < 2 {
		t.Errorf("visibility_extensions_total = %v, want at least 2", got)
	}
}

// 6. Lost ownership: every heartbeat entry comes back ReceiptHandleIsInvalid.
// The worker never deletes with a handle reported lost; the message comes
// back and is delivered again (a duplicate is allowed, a loss is not).
func suiteLostOwnership(s *suite) {
	t := s.t
	cfg := s.config(suiteWebhooks, hookJSON("hook", `,"request_timeout_ms":60000`))
	gate := make(chan struct{})
	rec := newRecorder(func(r reqInfo) reply {
		if r.N == 1 {
			return reply{block: gate}
		}
		return reply{}
	})
	s.sqs.loseHeartbeats(nil)
	// Heartbeats go out one beat period apart: once the second starts, the
	// engine has taken the first one's ReceiptHandleIsInvalid.
	secondBeat := make(chan struct{})
	var beats atomic.Int32
	s.sqs.observe(func(c sqsCall) {
		if c.Op == "ChangeMessageVisibilityBatch" && len(c.Failed) > 0 && beats.Add(1) == 2 {
			close(secondBeat)
		}
	})
	id := s.send(event("u1"))
	w := s.start(cfg, worker.Options{}, rec)
	s.wait(rec.awaitRequests("hook", 1), "the first request", rec)
	s.wait(secondBeat, "two lost heartbeats", rec)
	close(gate)
	s.wait(s.sqs.awaitOK("DeleteMessageBatch", 1), "a delete with a live handle", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	bad, lost := s.sqs.deletedWithLostHandles()
	if lost == 0 {
		t.Fatal("no heartbeat was reported lost; the scenario did not run")
	}
	if len(bad) > 0 {
		t.Errorf("DeleteMessageBatch sent with %d handle(s) reported lost: %v", len(bad), bad)
	}
	if got := rec.deliveredTo("hook")[id+":0"]; got < 1 {
		t.Errorf("event delivered %d times, want at least once", got)
	}
	if got := w.counter(t, "hookline_worker_ownership_lost_total"); got < 1 {
		t.Errorf("ownership_lost_total = %v, want at least 1", got)
	}
}

// 6b. The lease lapses while the delivery runs (the first handle's
// heartbeats are lost) and the same worker receives the message again: it
// takes over the new handle instead of delivering twice, and deletes with
// the new handle only.
func suiteTakeOver(s *suite) {
	t := s.t
	cfg := s.config(suiteWebhooks, hookJSON("hook", `,"request_timeout_ms":60000`))
	var first atomic.Value // the first receipt handle
	s.sqs.loseHeartbeats(func(h string) bool {
		first.CompareAndSwap(nil, h)
		return first.Load() == h
	})
	// A heartbeat that succeeds with another handle means the engine took
	// the new one over.
	tookOver := make(chan struct{})
	var once atomic.Bool
	s.sqs.observe(func(c sqsCall) {
		if c.Op != "ChangeMessageVisibilityBatch" {
			return
		}
		for _, e := range c.succeeded() {
			if e.Visibility == s.sqs.heartbeat && first.Load() != nil && e.Handle != first.Load() && once.CompareAndSwap(false, true) {
				close(tookOver)
			}
		}
	})
	rec := newRecorder(func(r reqInfo) reply { return reply{block: tookOver} })
	id := s.send(event("u1"))
	w := s.start(cfg, worker.Options{}, rec)
	s.wait(rec.awaitDelivered("hook", 1), "the delivery", rec)
	s.wait(s.sqs.awaitOK("DeleteMessageBatch", 1), "the delete", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	assertExactlyOnce(t, rec.deliveredTo("hook"), []string{id + ":0"}, "hook")
	if n := len(rec.requests("hook")); n != 1 {
		t.Errorf("%d requests, want 1: the message received again while in flight must not be delivered again", n)
	}
	if hs := s.sqs.deleteHandles(); len(hs) != 1 || hs[0] == first.Load() {
		t.Errorf("deleted with %d handle(s), the first one %v; want one delete with the new handle", len(hs), len(hs) > 0 && hs[0] == first.Load())
	}
	if got := w.counter(t, "hookline_worker_messages_received_again_total"); got != 1 {
		t.Errorf("messages_received_again_total = %v, want 1", got)
	}
	if got := w.counter(t, "hookline_worker_messages_received_total"); got != 2 {
		t.Errorf("messages_received_total = %v, want 2", got)
	}
}

// 7. A DeleteMessageBatch where one entry fails (InternalError): the others
// are deleted, and the failed one is deleted by a retry while its lease
// lasts: nothing lost and, the delivery having happened, no duplicate (a
// delete given up would bring the message back after its visibility
// timeout, to be delivered again).
func suitePartialDeleteFailure(s *suite) {
	t := s.t
	const n = 5
	cfg := s.config(suiteWebhooks, hookJSON("hook", ""))
	rec := newRecorder(nil)
	s.sqs.failFirstEntry("DeleteMessageBatch", "InternalError")
	want := s.sendMany(n)
	w := s.start(cfg, worker.Options{}, rec)
	s.wait(rec.awaitDelivered("hook", n), "every event", rec)
	s.wait(s.sqs.awaitOK("DeleteMessageBatch", n), "every message deleted", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	if _, entries := s.sqs.counts("DeleteMessageBatch"); entries != n+1 {
		t.Errorf("%d DeleteMessageBatch entries, want %d: every message once and the failed entry again", entries, n+1)
	}
	got := rec.deliveredTo("hook")
	total, twice := 0, 0
	for _, id := range want {
		total += got[id]
		if got[id] == 2 {
			twice++
		}
		if got[id] < 1 {
			t.Errorf("event %s lost", id)
		}
	}
	if total != n || twice != 0 {
		t.Errorf("%d deliveries (%d events twice), want %d: the failed delete is retried, not given up", total, twice, n)
	}
	if got := w.counter(t, "hookline_worker_messages_received_total"); got != n {
		t.Errorf("messages_received_total = %v, want %d (no redelivery)", got, n)
	}
	if got := w.counter(t, "hookline_worker_sqs_errors_total", "op", "delete"); got != 1 {
		t.Errorf("sqs_errors_total{op=delete} = %v, want 1", got)
	}
	if got := w.counter(t, "hookline_worker_ownership_lost_total"); got != 0 {
		t.Errorf("ownership_lost_total = %v: InternalError is not a lost handle", got)
	}
	if got := w.counter(t, "hookline_worker_deletes_abandoned_total"); got != 0 {
		t.Errorf("deletes_abandoned_total = %v, want 0", got)
	}
}

// 7b. Every delete of the first receipt fails (InternalError) until its
// lease ends: the worker stops trying before the handle lapses, counts the
// abandoned delete, and the message, received again, is delivered again
// (the one duplicate a lost delete costs) and then deleted. Nothing is lost
// and nothing retried for ever.
func suiteDeleteAbandoned(s *suite) {
	t := s.t
	cfg := s.config(suiteWebhooks, hookJSON("hook", ""))
	rec := newRecorder(nil)
	var first sync.Once
	var firstHandle atomic.Value
	s.sqs.failEntries("DeleteMessageBatch", func(e sqsEntry) string {
		first.Do(func() { firstHandle.Store(e.Handle) })
		if e.Handle == firstHandle.Load() {
			return "InternalError"
		}
		return ""
	})
	id := s.send(payload.Event{Name: "member_added", Channel: "presence-x", UserID: "u"})
	w := s.start(cfg, worker.Options{}, rec)
	s.wait(rec.awaitRequests("hook", 2), "the event delivered, then again after the lease ended", rec)
	s.wait(s.sqs.awaitOK("DeleteMessageBatch", 1), "the second receipt deleted", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	if got := rec.deliveredTo("hook")[id+":0"]; got != 2 {
		t.Errorf("event delivered %d times, want 2 (once per receipt)", got)
	}
	calls, entries := s.sqs.counts("DeleteMessageBatch")
	if entries < 3 || calls > 12 {
		t.Errorf("%d DeleteMessageBatch calls with %d entries: want the first handle retried a few times within its lease, then given up", calls, entries)
	}
	if got := w.counter(t, "hookline_worker_deletes_abandoned_total"); got != 1 {
		t.Errorf("deletes_abandoned_total = %v, want 1", got)
	}
	if got := w.counter(t, "hookline_worker_messages_received_total"); got != 2 {
		t.Errorf("messages_received_total = %v, want 2", got)
	}
}

// 8. The retry envelope's SendMessageBatch is throttled: the original is not
// deleted, comes back after its visibility timeout, and is delivered.
func suiteThrottledRetryHandOff(s *suite) {
	t := s.t
	cfg := s.config(suiteWebhooks, hookJSON("hook", ""))
	rec := newRecorder(func(r reqInfo) reply {
		if r.N == 1 {
			return reply{class: delivery.Retryable, status: 503}
		}
		return reply{}
	})
	s.sqs.failNext("SendMessageBatch", 1, apiError("SendMessageBatch", "ThrottlingException"))
	id := s.send(event("u1"))
	w := s.start(cfg, worker.Options{}, rec)
	s.wait(rec.awaitDelivered("hook", 1), "the event", rec)
	s.wait(s.sqs.awaitOK("DeleteMessageBatch", 1), "the delete", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	var attempts []int
	for _, r := range rec.requests("hook") {
		attempts = append(attempts, r.Attempt)
	}
	if !slices.Equal(attempts, []int{1, 1}) {
		t.Errorf("attempts %v, want [1 1]: the original, received again after the failed hand-off", attempts)
	}
	assertExactlyOnce(t, rec.deliveredTo("hook"), []string{id + ":0"}, "hook")
	if calls, _ := s.sqs.counts("SendMessageBatch"); calls != 1 {
		t.Errorf("%d SendMessageBatch calls, want 1 (the throttled one)", calls)
	}
	if _, entries := s.sqs.counts("DeleteMessageBatch"); entries != 1 {
		t.Errorf("%d delete entries, want 1: the original must not be deleted after the failed hand-off", entries)
	}
	if got := w.counter(t, "hookline_worker_messages_received_total"); got != 2 {
		t.Errorf("messages_received_total = %v, want 2", got)
	}
	if got := w.counter(t, "hookline_worker_sqs_calls_total", "op", "SendMessageBatch", "outcome", "error"); got != 1 {
		t.Errorf("sqs_calls_total{SendMessageBatch,error} = %v, want 1", got)
	}
}

// 8b. One retry envelope of a SendMessageBatch fails (InternalError): its
// original is kept and comes back after its visibility timeout (attempt 1
// again: no attempt used); the other message's retry goes on (attempt 2).
func suitePartialSendFailure(s *suite) {
	t := s.t
	cfg := s.config(suiteWebhooks, hookJSON("hook", ""))
	var mu sync.Mutex
	seen := map[string]bool{}
	rec := newRecorder(func(r reqInfo) reply {
		mu.Lock()
		defer mu.Unlock()
		fresh := false
		for _, id := range r.IDs {
			fresh = fresh || !seen[id]
			seen[id] = true
		}
		if fresh { // each event's first request fails
			return reply{class: delivery.Retryable, status: 503}
		}
		return reply{}
	})
	failed := s.sqs.failFirstEntry("SendMessageBatch", "InternalError")
	ids := []string{s.send(event("u1")), s.send(event("u2"))}
	w := s.start(cfg, worker.Options{}, rec)
	s.wait(rec.awaitDelivered("hook", 2), "both events", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	var kept string
	select {
	case e := <-failed:
		env, err := payload.Decode([]byte(e.Body))
		if err != nil {
			t.Fatal(err)
		}
		kept = env.ID
	default:
		t.Fatal("no SendMessageBatch entry was failed")
	}
	attempts := map[string][]int{}
	for _, r := range rec.requests("hook") {
		for _, id := range r.IDs {
			attempts[id] = append(attempts[id], r.Attempt)
		}
	}
	for _, id := range ids {
		want := []int{1, 2}
		if id == kept {
			want = []int{1, 1}
		}
		if got := attempts[id+":0"]; !slices.Equal(got, want) {
			t.Errorf("%s (retry send failed: %t): attempts %v, want %v", id, id == kept, got, want)
		}
	}
	assertExactlyOnce(t, rec.deliveredTo("hook"), []string{ids[0] + ":0", ids[1] + ":0"}, "hook")
	if got := w.counter(t, "hookline_worker_sqs_errors_total", "op", "send"); got != 1 {
		t.Errorf("sqs_errors_total{op=send} = %v, want 1", got)
	}
}

// 9. One of an app's two webhooks hangs (request timeout 2 s, one request
// slot). The healthy one gets every event, promptly; the hung one's waiting
// events are handed back and delivered once it recovers.
func suiteHungWebhookIsolation(s *suite) {
	t := s.t
	const n = 10
	const requestTimeout = 2 * time.Second
	cfg := s.config(`{"batching":{"enabled":false},
		"retry":{"max_attempts":20,"initial_backoff_ms":800,"max_backoff_ms":800,"max_elapsed_time_ms":300000}}`,
		hookJSON("hung", fmt.Sprintf(`,"request_timeout_ms":%d`, requestTimeout.Milliseconds())), hookJSON("healthy", ""))
	recovered := make(chan struct{})
	rec := newRecorder(func(r reqInfo) reply {
		if r.Hook != "hung" {
			return reply{}
		}
		select {
		case <-recovered:
			return reply{}
		default:
			return reply{hang: true}
		}
	})
	// Hand-backs are the main-queue sends delayed by DeferDelay (2 s);
	// retry envelopes are delayed by the 1 s backoff.
	const deferDelay = 2 * time.Second
	handedBack := make(chan struct{})
	var once atomic.Bool
	s.sqs.observe(func(c sqsCall) {
		if c.Op != "SendMessageBatch" || c.Queue != s.mainURL {
			return
		}
		for _, e := range c.succeeded() {
			if time.Duration(e.Delay)*time.Second == deferDelay && once.CompareAndSwap(false, true) {
				close(handedBack)
			}
		}
	})
	w := s.start(cfg, worker.Options{WebhookConcurrency: 1, DeferDelay: deferDelay}, rec)
	var want []string
	for i := range n {
		want = append(want, s.send(event(fmt.Sprint("u", i)))+":0")
		// The producer's pace, not an ordering device: events keep arriving
		// while the hung webhook holds its only slot.
		time.Sleep(300 * time.Millisecond)
	}
	s.wait(rec.awaitDelivered("healthy", n), "the healthy webhook's events", rec)
	s.wait(handedBack, "a hand-back of the hung webhook's waiting events", rec)
	close(recovered)
	s.wait(rec.awaitDelivered("hung", n), "the hung webhook's events after it recovered", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	assertExactlyOnce(t, rec.deliveredTo("healthy"), want, "healthy")
	if hung := rec.deliveredTo("hung"); len(hung) != n {
		t.Errorf("hung webhook: %d distinct events delivered, want %d", len(hung), n)
	}
	if got := w.counter(t, "hookline_worker_handbacks_total", "cause", "webhook-wait"); got == 0 {
		t.Error("handbacks_total{cause=webhook-wait} = 0: the hung webhook's queue was never bounded")
	}
	if got := w.counter(t, "hookline_worker_dead_letters_total"); got != 0 {
		t.Errorf("%v dead letters", got)
	}
	if s.b.virtual {
		// In virtual time the delay is exact: one request timeout at most,
		// plus the batching window and one long poll.
		bound := requestTimeout + cfg.Webhooks.Batching.Duration + suiteWaitSeconds*time.Second
		var worst time.Duration
		for _, r := range rec.requests("healthy") {
			for _, e := range r.Events {
				worst = max(worst, r.At.Sub(time.UnixMilli(e.TimeMS)))
			}
		}
		if worst > bound {
			t.Errorf("healthy webhook's worst delay %v, want at most %v", worst, bound)
		}
		t.Logf("healthy webhook's worst delay %v (bound %v)", worst, bound)
	}
}

// 10. Shutdown while a delivery is blocked: Run returns nil within the grace
// period; messages never started are released at once (visible right
// after Run returns, not after the visibility timeout); a second worker
// delivers the rest with attempt 1; together every event exactly once.
func suiteShutdown(s *suite) {
	t := s.t
	const n, first = 10, 3
	cfg := s.config(`{"batching":{"enabled":false}}`, hookJSON("hook", `,"request_timeout_ms":60000`))
	rec1 := newRecorder(func(r reqInfo) reply {
		if r.N <= first {
			return reply{}
		}
		return reply{hang: true} // until the grace period's cutoff
	})
	want := s.sendMany(n)
	// After the cutoff (the grace period less min(a fifth, the SQS call
	// timeout)) the settles of the cut-off delivery must fit before the
	// hard end. In virtual time 4 s leave 0.8 s of nothing; a cold
	// emulator in real time needs the full call timeout.
	grace := suiteGrace
	if !s.b.virtual {
		grace = 5 * suiteCallTimeout
	}
	w1 := s.start(cfg, worker.Options{WebhookConcurrency: 1, GracePeriod: grace}, rec1)
	s.wait(rec1.awaitDelivered("hook", first), "the first deliveries", rec1)
	s.wait(rec1.awaitRequests("hook", first+1), "the blocked delivery", rec1)
	took := w1.stop(t, time.Minute)
	visible, inFlight, delayed := s.depth(s.mainURL)

	limit := grace
	if !s.b.virtual {
		limit += time.Second // scheduling
	}
	if took > limit {
		t.Errorf("Run returned %v after the cancel, grace period %v", took, grace)
	}
	// Three delivered and deleted; the cut-off one handed back (a new,
	// visible message); six never started, released with visibility 0.
	if visible != n-first || inFlight != 0 || delayed != 0 {
		t.Errorf("right after Run returned: %d visible, %d in flight, %d delayed; want %d visible, none in flight or delayed",
			visible, inFlight, delayed, n-first)
	}
	if got := w1.counter(t, "hookline_worker_dead_letters_total"); got != 0 {
		t.Errorf("%v dead letters after a clean shutdown", got)
	}

	rec2 := newRecorder(nil)
	w2 := s.start(cfg, worker.Options{}, rec2)
	s.wait(rec2.awaitDelivered("hook", n-first), "the rest, by the second worker", rec2)
	w2.stop(t, time.Minute)

	rec1.verify(t)
	rec2.verify(t)
	s.assertDrained()
	for _, r := range rec2.requests("hook") {
		if r.Attempt != 1 {
			t.Errorf("second worker: attempt %d for %v, want 1 (a shutdown uses no attempt)", r.Attempt, r.IDs)
		}
	}
	union := rec1.deliveredTo("hook")
	for id, k := range rec2.deliveredTo("hook") {
		union[id] += k
	}
	assertExactlyOnce(t, union, want, "both workers")
}

// 11. Poison: bodies that are not deliverable envelopes go to the DLQ as
// they are, with their reason; a newer envelope version stays on the main
// queue; an event too large for the webhook is dead-lettered while its
// sibling is delivered.
func suitePoison(s *suite) {
	t := s.t
	cfg := s.config(suiteWebhooks, hookJSON("hook", `,"max_body_bytes":2048`))
	rec := newRecorder(nil)
	raw := map[string]string{
		"malformed-body":      `{"v":1,"id":"broken"`,
		"sockudo-job":         `{"app_secret":"s","payload":{"name":"member_added","channel":"presence-x"}}`,
		"unsupported-version": `{"v":0,"id":"old","app_id":"app","events":[{"name":"member_added","channel":"presence-x"}]}`,
	}
	for reason, body := range raw {
		s.sendRaw(body, reason)
	}
	s.sendRaw(`{"v":2,"id":"future","app_id":"app","events":[{"name":"member_added","channel":"presence-x"}],"new_field":1}`, "future")
	big := payload.Event{Name: "client_event", Channel: "private-x", Event: "client-big", Data: strings.Repeat("x", 3000), TimeMS: time.Now().UnixMilli()}
	bigID := s.send(event("small"), big)

	const futureDelay = 60 * time.Second
	released := make(chan struct{})
	var once atomic.Bool
	s.sqs.observe(func(c sqsCall) {
		if c.Op != "ChangeMessageVisibilityBatch" {
			return
		}
		for _, e := range c.succeeded() {
			if time.Duration(e.Visibility)*time.Second == futureDelay && once.CompareAndSwap(false, true) {
				close(released)
			}
		}
	})
	w := s.start(cfg, worker.Options{FutureVersionDelay: futureDelay}, rec)
	dead := s.dlq(4)
	s.wait(rec.awaitDelivered("hook", 1), "the small sibling event", rec)
	s.wait(released, "the newer version released", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	got := map[string]types.Message{}
	for _, m := range dead {
		got[attr(m, worker.AttrReason)] = m
	}
	for reason, body := range raw {
		m, ok := got[reason]
		if !ok {
			t.Errorf("no DLQ message with reason %s", reason)
			continue
		}
		if b := aws.ToString(m.Body); b != body {
			t.Errorf("%s: DLQ body %q, want the original byte for byte %q", reason, b, body)
		}
	}
	if m, ok := got["event-too-large"]; !ok {
		t.Errorf("no DLQ message with reason event-too-large; reasons: %v", keys(got))
	} else {
		env, err := payload.Decode([]byte(aws.ToString(m.Body)))
		if err != nil {
			t.Fatal(err)
		}
		if env.ID != bigID || !slices.Equal(env.Targets, []string{"hook"}) || attr(m, worker.AttrWebhook) != "hook" {
			t.Errorf("too-large DLQ copy: envelope %s targets %v webhook %q, want %s [hook] hook",
				env.ID, env.Targets, attr(m, worker.AttrWebhook), bigID)
		}
	}
	assertExactlyOnce(t, rec.deliveredTo("hook"), []string{bigID + ":0"}, "hook")
	if v, nv, d := s.depth(s.mainURL); v+nv+d != 1 {
		t.Errorf("main queue holds %d messages, want 1 (the newer version, released)", v+nv+d)
	}
	if v, nv, d := s.depth(s.dlqURL); v+nv+d != 0 {
		t.Errorf("DLQ holds %d more messages (the newer version must not be dead-lettered)", v+nv+d)
	}
	if got := w.counter(t, "hookline_worker_envelopes_future_version_total"); got != 1 {
		t.Errorf("envelopes_future_version_total = %v, want 1", got)
	}
}

// 12. FIFO: order per app is kept through a retry.
func suiteFIFOOrder(s *suite) {
	t := s.t
	const n = 5
	cfg := s.config(suiteWebhooks, hookJSON("hook", ""))
	var want []string
	for i := range n {
		want = append(want, s.send(event(fmt.Sprint("u", i)))+":0")
	}
	var failed atomic.Bool
	rec := newRecorder(func(r reqInfo) reply {
		if slices.Contains(r.IDs, want[1]) && failed.CompareAndSwap(false, true) {
			return reply{class: delivery.Retryable, status: 503}
		}
		return reply{}
	})
	w := s.start(cfg, worker.Options{}, rec)
	s.wait(rec.awaitDelivered("hook", n), "every event", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	var order []string
	seen := map[string]bool{}
	var second []int // attempts of the retried message's requests
	for _, r := range rec.requests("hook") {
		if slices.Contains(r.IDs, want[1]) {
			second = append(second, r.Attempt)
		}
		if r.Class != delivery.Delivered {
			continue
		}
		for _, id := range r.IDs {
			if !seen[id] {
				seen[id] = true
				order = append(order, id)
			}
		}
	}
	if !slices.Equal(order, want) {
		t.Errorf("delivery order %v, want %v", order, want)
	}
	if !slices.Equal(second, []int{1, 2}) {
		t.Errorf("retried message's attempts %v, want [1 2] (FIFO: the receive count)", second)
	}
	assertExactlyOnce(t, rec.deliveredTo("hook"), want, "hook")
}

// 12b. FIFO: a retry is a visibility change of the message itself (the
// backoff, 1 s). A heartbeat of that message that was already on its way to
// SQS when the retry was decided (an SQS call takes time; here it is held
// until the retry's visibility change was accepted) must not land after it
// and push the retry out to a whole visibility timeout.
func suiteFIFORetryVersusHeartbeat(s *suite) {
	t := s.t
	cfg := s.config(suiteWebhooks, hookJSON("hook", `,"request_timeout_ms":60000`))
	held, release := s.sqs.holdHeartbeat()
	t.Cleanup(release)
	// The held heartbeat is slow: it reaches SQS half a second after the
	// retry was decided (the failing delivery returns once the heartbeat
	// is in flight). The retry's visibility change must land after it.
	go func() {
		<-held
		time.Sleep(500 * time.Millisecond) // the scenario: a slow heartbeat call, not synchronisation
		release()
	}()
	rec := newRecorder(func(r reqInfo) reply {
		if r.N == 1 {
			// Fail while a heartbeat of the message is in flight.
			return reply{block: held, class: delivery.Retryable, status: 503}
		}
		return reply{}
	})
	retrySet := make(chan time.Time, 1)
	var once atomic.Bool
	s.sqs.observe(func(c sqsCall) {
		if c.Op != "ChangeMessageVisibilityBatch" {
			return
		}
		for _, e := range c.succeeded() {
			if e.Visibility == 1 && once.CompareAndSwap(false, true) {
				retrySet <- time.Now()
			}
		}
	})
	id := s.send(event("u1"))
	w := s.start(cfg, worker.Options{}, rec)
	s.wait(rec.awaitDelivered("hook", 1), "the retried delivery", rec)
	w.stop(t, time.Minute)

	rec.verify(t)
	s.assertDrained()
	assertExactlyOnce(t, rec.deliveredTo("hook"), []string{id + ":0"}, "hook")
	reqs := rec.requests("hook")
	var set time.Time
	select {
	case set = <-retrySet:
	default:
		t.Fatal("no retry visibility change (1 s) was seen")
	}
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	// The retry is due 1 s after its visibility change; allow one long poll
	// and, in real time, a second of scheduling.
	bound := time.Second + suiteWaitSeconds*time.Second
	if !s.b.virtual {
		bound += time.Second
	}
	if wait := reqs[1].At.Sub(set); wait > bound {
		t.Errorf("retry came %v after its 1 s visibility change, want at most %v: the in-flight heartbeat "+
			"(visibility %v) landed after it and overrode the backoff", wait.Round(time.Millisecond), bound, suiteVisibility)
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
