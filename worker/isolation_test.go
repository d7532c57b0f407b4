package worker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/worker"
)

// Two webhooks of one app, one of them failing for a while (hanging until
// its 1 s request timeout): the healthy one gets every event exactly once
// and on time; the failing one eventually gets them all.
func TestFailingWebhookDoesNotHoldBackTheHealthyOne(t *testing.T) {
	apps := receiver.StaticApps{"k": {ID: "app", Secret: "s"}}
	healthy, srvH := server(t, apps)
	failing, srvF := server(t, apps)
	never := make(chan struct{}) // the failing endpoint's first answers never come
	t.Cleanup(func() { close(never) })
	failing.Respond(func(_ *receiver.Delivery, n int) receiver.Response {
		if n <= 3 {
			return receiver.Response{Block: never}
		}
		return receiver.Response{Status: 200}
	})
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"id":"healthy","url":%q,"event_types":["member_added"]}`, srvH.URL),
		fmt.Sprintf(`{"id":"failing","url":%q,"event_types":["member_added"],"request_timeout_ms":1000}`, srvF.URL),
	}}}, fastRetry, false)
	w := h.start(worker.Options{}, nil)

	const rounds, perRound = 5, 4
	var want []string
	var worst time.Duration
	for r := range rounds {
		sent := time.Now()
		for i := range perRound {
			id := h.send("app", payload.Event{Name: "member_added", Channel: "presence-x",
				UserID: fmt.Sprintf("u%d-%d", r, i), TimeMS: sent.UnixMilli()})
			want = append(want, id+":0")
		}
		waitEvents(t, healthy, (r+1)*perRound, 30*time.Second)
		worst = max(worst, time.Since(sent))
	}
	waitEvents(t, failing, rounds*perRound, 60*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()

	ids := func(rec *receiver.Recorder) []string {
		var out []string
		for _, e := range rec.Events() {
			out = append(out, e.ID)
		}
		slices.Sort(out)
		return out
	}
	slices.Sort(want)
	if got := ids(healthy); !slices.Equal(got, want) {
		t.Errorf("healthy webhook: events %v\nwant each of %v exactly once", got, want)
	}
	if got := slices.Compact(ids(failing)); !slices.Equal(got, want) {
		t.Errorf("failing webhook eventually got %v\nwant all of %v", got, want)
	}
	// Normal latency here is at most a 1 s long poll plus a 20 ms batch
	// window (and CI load); the failing webhook may add at most its 1 s
	// request timeout.
	if limit := 3 * time.Second; worst > limit {
		t.Errorf("healthy webhook's worst round took %v, want under %v", worst, limit)
	}
}

// A receiver slower than the visibility timeout (but within the request
// timeout) causes no duplicate: the heartbeat keeps the message owned.
func TestHeartbeatKeepsSlowDeliveriesOwned(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	release := make(chan struct{})
	rec.Respond(func(_ *receiver.Delivery, n int) receiver.Response {
		if n == 1 {
			// The scenario itself: an endpoint that answers after 8 s, longer
			// than the 6 s visibility timeout.
			time.AfterFunc(8*time.Second, func() { close(release) })
			return receiver.Response{Status: 200, Block: release}
		}
		return receiver.Response{Status: 200}
	})
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["member_added"],"request_timeout_ms":15000}`, srv.URL),
	}}}, fastRetry, false)
	h.send("app", ev("member_added", "presence-slow"))
	w := h.start(worker.Options{}, nil)
	waitEvents(t, rec, 1, 30*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()
	if n := rec.Requests(); n != 1 {
		t.Errorf("%d requests, want 1 (no duplicate)", n)
	}
	if got := w.counter(t, "hookline_worker_messages_received_total"); got != 1 {
		t.Errorf("messages received %v, want 1", got)
	}
	if got := w.counter(t, "hookline_worker_visibility_extensions_total"); got < 3 {
		t.Errorf("visibility extensions %v, want at least 3 in 8 s with a 1 s heartbeat", got)
	}
}

// A webhook whose queue of waiting events is over its byte cap gets no more:
// the work is handed back with a short delay, no attempt used, and delivered
// once the webhook catches up.
func TestWebhookQueueCapHandsWorkBack(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	gate := make(chan struct{})
	rec.Respond(func(_ *receiver.Delivery, n int) receiver.Response {
		if n == 1 {
			return receiver.Response{Status: 200, Block: gate}
		}
		return receiver.Response{Status: 200}
	})
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["member_added"],"request_timeout_ms":30000}`, srv.URL),
	}}}, `{"batching":{"enabled":false}}`, false)
	var want []string
	for i := range 8 {
		id := h.send("app", payload.Event{Name: "member_added", Channel: "presence-cap", UserID: fmt.Sprint("user-", i), TimeMS: 1})
		want = append(want, id+":0")
	}
	spy := &sendSpy{Client: h.client, sent: make(chan struct{}, 100)}
	w := h.startOn(spy, worker.Options{WebhookConcurrency: 1, WebhookQueuedBytes: 300, DeferDelay: time.Second}, nil)
	// A hand-back is a SendMessageBatch while the first request holds the only slot.
	select {
	case <-spy.sent:
	case <-time.After(30 * time.Second):
		t.Fatal("no hand-back while the webhook's queue was over its cap")
	}
	if got := w.counter(t, "hookline_worker_handbacks_total", "cause", "webhook-queue"); got == 0 {
		t.Errorf("handbacks_total{webhook-queue} = %v", got)
	}
	close(gate)
	waitUnique(t, rec, len(want), 30*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()
	slices.Sort(want)
	if got := slices.Compact(eventIDs(rec)); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	for _, d := range rec.Deliveries() {
		if d.Attempt != 1 {
			t.Errorf("a handed-back message came back as attempt %d; hand-backs must not use attempts", d.Attempt)
		}
	}
}

// sendSpy signals every SendMessageBatch (hand-backs, retries, dead letters).
type sendSpy struct {
	*sqs.Client
	sent chan struct{}
}

func (s *sendSpy) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out, err := s.Client.SendMessageBatch(ctx, in, opts...)
	select {
	case s.sent <- struct{}{}:
	default:
	}
	return out, err
}
