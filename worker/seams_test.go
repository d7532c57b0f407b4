package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/worker"
)

// faultySQS is the real client with scripted faults at the seam.
type faultySQS struct {
	*sqs.Client
	mu             sync.Mutex
	loseHeartbeats bool          // every visibility extension fails: ReceiptHandleIsInvalid
	beats          int           // heartbeat calls so far
	secondBeat     chan struct{} // closed on the second heartbeat call: the first one's result is handled
	failSends      int           // the next n SendMessageBatch calls fail
	deletes        []string
}

func (f *faultySQS) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput,
	opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	f.mu.Lock()
	lose := f.loseHeartbeats
	f.beats++
	if f.beats == 2 && f.secondBeat != nil {
		close(f.secondBeat)
	}
	f.mu.Unlock()
	if !lose {
		return f.Client.ChangeMessageVisibilityBatch(ctx, in, opts...)
	}
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		out.Failed = append(out.Failed, types.BatchResultErrorEntry{
			Id: e.Id, Code: aws.String("ReceiptHandleIsInvalid"), SenderFault: true})
	}
	return out, nil
}

func (f *faultySQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	fail := f.failSends > 0
	if fail {
		f.failSends--
	}
	f.mu.Unlock()
	if fail {
		return nil, errors.New("scripted send failure")
	}
	return f.Client.SendMessageBatch(ctx, in, opts...)
}

func (f *faultySQS) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	f.mu.Lock()
	for _, e := range in.Entries {
		f.deletes = append(f.deletes, aws.ToString(e.ReceiptHandle))
	}
	f.mu.Unlock()
	return f.Client.DeleteMessageBatch(ctx, in, opts...)
}

func (f *faultySQS) deleteCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.deletes)
}

// When the heartbeat reports ownership lost, the worker never deletes with
// that stale handle; the message is received again and delivered again.
func TestLostOwnershipIsNeverFollowedByDelete(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	gate := make(chan struct{})
	rec.Respond(func(_ *receiver.Delivery, n int) receiver.Response {
		if n == 1 {
			return receiver.Response{Status: 200, Block: gate}
		}
		return receiver.Response{Status: 200}
	})
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["member_added"],"request_timeout_ms":20000}`, srv.URL),
	}}}, fastRetry, false)
	h.send("app", payload.Event{Name: "member_added", Channel: "presence-x", TimeMS: 1})
	f := &faultySQS{Client: h.client, loseHeartbeats: true, secondBeat: make(chan struct{})}
	w := h.startOn(f, worker.Options{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rec.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Heartbeats run one after another: once the second starts, the first
	// one's ReceiptHandleIsInvalid has been handled.
	select {
	case <-f.secondBeat:
	case <-ctx.Done():
		t.Fatal("no second heartbeat")
	}
	close(gate)
	w.stop(t, time.Minute)
	if n := f.deleteCalls(); n != 0 {
		t.Errorf("deleted %d times after ownership was lost", n)
	}
	if got := w.counter(t, "hookline_worker_ownership_lost_total"); got < 2 {
		t.Errorf("ownership_lost_total = %v, want the heartbeat's and the settle's", got)
	}
}

// If the retry envelope cannot be sent, the original is not deleted:
// nothing is lost, it comes back after its visibility timeout.
func TestFailedRetryHandOffKeepsTheOriginal(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	rec.Respond(receiver.Sequence(500, 200))
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["member_added"]}`, srv.URL),
	}}}, fastRetry, false)
	h.send("app", payload.Event{Name: "member_added", Channel: "presence-x", TimeMS: 1})
	f := &faultySQS{Client: h.client, failSends: 1}
	w := h.startOn(f, worker.Options{}, nil)
	waitEvents(t, rec, 1, 30*time.Second) // after the 6 s visibility timeout
	w.stop(t, time.Minute)
	h.assertDrained()
	ds := rec.Deliveries()
	if len(ds) != 2 || ds[1].Attempt != 1 {
		t.Errorf("want the original redelivered (attempt 1) after the failed hand-off; got %d requests", len(ds))
	}
	if got := w.counter(t, "hookline_worker_sqs_errors_total", "op", "send"); got != 1 {
		t.Errorf("sqs_errors_total{send} = %v", got)
	}
}

// releaseSpy reports the visibility of every ChangeMessageVisibilityBatch
// entry that is not a heartbeat (releases and delays).
type releaseSpy struct {
	*faultySQS
	heartbeat int32 // the queue's visibility timeout, which heartbeats set
	released  chan int32
}

func (r *releaseSpy) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput,
	opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	out, err := r.faultySQS.ChangeMessageVisibilityBatch(ctx, in, opts...)
	for _, e := range in.Entries {
		if e.VisibilityTimeout != r.heartbeat {
			r.released <- e.VisibilityTimeout
		}
	}
	return out, err
}

// An envelope of a newer version is released for later without using an
// attempt: not delivered, not dead-lettered, still on the queue.
func TestFutureVersionIsReleasedNotDeadLettered(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["member_added"]}`, srv.URL),
	}}}, fastRetry, false)
	h.sendRaw(`{"v":2,"id":"from-the-future","app_id":"app","events":[{"name":"member_added"}],"new_field":true}`, "", "")
	spy := &releaseSpy{faultySQS: &faultySQS{Client: h.client}, heartbeat: int32(h.cfg.Queue.VisibilityTimeout / time.Second), released: make(chan int32, 10)}
	w := h.startOn(spy, worker.Options{FutureVersionDelay: 30 * time.Second}, nil)
	select {
	case vt := <-spy.released:
		if vt != 30 {
			t.Errorf("released for %d s, want 30", vt)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("not released")
	}
	w.stop(t, time.Minute)
	if v, nv, d := h.depth(h.mainURL); v+nv+d != 1 {
		t.Errorf("main queue holds %d messages, want the future one", v+nv+d)
	}
	if v, nv, d := h.depth(h.dlqURL); v+nv+d != 0 {
		t.Errorf("DLQ holds %d messages", v+nv+d)
	}
	if rec.Requests() != 0 || w.counter(t, "hookline_worker_envelopes_future_version_total") != 1 {
		t.Errorf("requests %d, future-version count %v", rec.Requests(), w.counter(t, "hookline_worker_envelopes_future_version_total"))
	}
}

// Config changed since the message was queued: a removed target and a
// disabled app go to the DLQ with their reasons; an unknown app is retried
// (rollout lag), then dead-lettered.
func TestConfigDriftReasons(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	h := newHarness(t, []app{
		{"app", "k", "s", []string{fmt.Sprintf(`{"id":"kept","url":%q,"event_types":["member_added"]}`, srv.URL)}},
		{"off", "k-off", "s", []string{fmt.Sprintf(`{"url":%q,"event_types":["member_added"]}`, srv.URL)}},
	}, `{"retry":{"max_attempts":2,"initial_backoff_ms":1000,"max_backoff_ms":1000}}`, false)
	h.cfg.Apps[1].Enabled = false
	send := func(env payload.Envelope) {
		env.V = payload.Version
		env.Events = []payload.Event{{Name: "member_added", Channel: "presence-x", TimeMS: 1}}
		b, err := payload.Encode(&env)
		if err != nil {
			t.Fatal(err)
		}
		h.sendRaw(string(b), "", "")
	}
	send(payload.Envelope{ID: "removed", AppID: "app", Targets: []string{"kept", "gone"}, Attempt: 2})
	send(payload.Envelope{ID: "disabled", AppID: "off"})
	send(payload.Envelope{ID: "unknown", AppID: "nobody"})
	w := h.start(worker.Options{}, nil)
	msgs := h.dlq(3, 30*time.Second)
	waitEvents(t, rec, 1, 30*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()
	got := map[string]string{}
	for _, m := range msgs {
		env, err := payload.Decode([]byte(*m.Body))
		if err != nil {
			t.Fatal(err)
		}
		got[env.ID] = attr(m, worker.AttrReason) + " " + attr(m, worker.AttrAttempts) + " " + fmt.Sprint(env.Targets)
	}
	want := map[string]string{
		"removed":  "target-removed 2 [gone]",
		"disabled": "app-disabled 1 []",
		"unknown":  "unknown-app 2 []",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: got %q, want %q", id, got[id], w)
		}
	}
	if ds := rec.Deliveries(); len(ds) != 1 || ds[0].Body.Events[0].ID != "removed:0" {
		t.Errorf("the kept target should get the removed-target message's event once; got %d requests", len(ds))
	}
}

// One app stuck behind a hung endpoint (it accepts requests and never
// answers) holds the in-flight capacity for about one request timeout at
// most: what waits longer for the webhook's only slot is handed back (no
// attempt), the hung requests time out and are retried, and another app's
// events flow while the endpoint is still hung. (This replaces the
// app-share test: a fixed share held back a healthy single app and, under a
// hung webhook, did not bound the other webhooks' delay; issue 8.)
func TestHungAppDoesNotHoldBackOtherApps(t *testing.T) {
	stuck, srvS := server(t, receiver.StaticApps{"ka": {ID: "a", Secret: "s"}})
	gate := make(chan struct{})
	stuck.Respond(func(*receiver.Delivery, int) receiver.Response { return receiver.Response{Status: 200, Block: gate} })
	fine, srvF := server(t, receiver.StaticApps{"kb": {ID: "b", Secret: "s"}})
	h := newHarness(t, []app{
		{"a", "ka", "s", []string{fmt.Sprintf(`{"url":%q,"event_types":["member_added"],"request_timeout_ms":2000}`, srvS.URL)}},
		{"b", "kb", "s", []string{fmt.Sprintf(`{"url":%q,"event_types":["member_added"]}`, srvF.URL)}},
	}, `{"batching":{"enabled":false},"retry":{"max_attempts":20,"initial_backoff_ms":1000,"max_backoff_ms":1000,"max_elapsed_time_ms":120000}}`, false)
	var want []string
	for i := range 12 {
		want = append(want, h.send("a", payload.Event{Name: "member_added", Channel: "presence-a", UserID: fmt.Sprint(i), TimeMS: 1})+":0")
	}
	for i := range 3 {
		h.send("b", payload.Event{Name: "member_added", Channel: "presence-b", UserID: fmt.Sprint(i), TimeMS: 1})
	}
	w := h.start(worker.Options{MaxInFlightMessages: 4, WebhookConcurrency: 1, DeferDelay: time.Second}, nil)
	waitEvents(t, fine, 3, 30*time.Second) // while app a's endpoint is still hung
	select {
	case <-gate:
		t.Fatal("gate closed early")
	default:
	}
	if got := w.counter(t, "hookline_worker_handbacks_total", "cause", "webhook-wait"); got == 0 {
		t.Error("no webhook-wait hand-backs counted: the hung webhook's queue was never bounded")
	}
	close(gate)
	waitUnique(t, stuck, len(want), 60*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()
	slices.Sort(want)
	if got := slices.Compact(eventIDs(stuck)); !slices.Equal(got, want) {
		t.Errorf("app a's events %v, want all of %v", got, want)
	}
	if n := len(fine.Deliveries()); n != 3 {
		t.Errorf("app b got %d requests, want 3 (no duplicates)", n)
	}
	if got := w.counter(t, "hookline_worker_dead_letters_total"); got != 0 {
		t.Errorf("%v dead letters", got)
	}
}
