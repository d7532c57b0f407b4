package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookline/hookline/dlq"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/worker"
)

func sendSeq(h *harness, appID string, n int) {
	for i := range n {
		h.send(appID, payload.Event{Name: "member_added", Channel: "presence-fifo", UserID: fmt.Sprint(i), TimeMS: int64(i + 1)})
	}
}

// inOrder checks that the recorder got users 0..n-1 in that order, allowing
// repeats of the event just delivered (FIFO retries redeliver).
func inOrder(t *testing.T, rec *receiver.Recorder, n int) {
	t.Helper()
	next := 0
	for _, e := range rec.Events() {
		switch e.UserID {
		case fmt.Sprint(next):
			next++
		case fmt.Sprint(next - 1): // a redelivery of the last one
		default:
			t.Fatalf("event for user %s arrived when %d was next: order broken", e.UserID, next)
		}
	}
	if next != n {
		t.Fatalf("got users up to %d, want %d", next, n)
	}
}

// FIFO: events of an app arrive in the order they were sent, and a failing
// webhook holds its app back: retries extend the message's visibility
// instead of re-sending it, and the attempt number is SQS's receive count.
func TestFIFOKeepsOrderThroughRetries(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	rec.Respond(receiver.Sequence(200, 500, 500, 200))
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["member_added"]}`, srv.URL),
	}}}, fastRetry, true)
	const n = 6
	sendSeq(h, "app", n)
	w := h.start(worker.Options{}, nil)
	waitEvents(t, rec, n, 60*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()
	inOrder(t, rec, n)
	var attempts []int
	for _, d := range rec.Deliveries()[:4] {
		attempts = append(attempts, d.Attempt)
	}
	if fmt.Sprint(attempts) != "[1 1 2 3]" {
		t.Errorf("attempts of the first four requests = %v, want [1 1 2 3] (second message failed twice)", attempts)
	}
	if got := w.counter(t, "hookline_worker_retries_total"); got != 2 {
		t.Errorf("retries_total = %v, want 2", got)
	}
}

// FIFO: a message that exhausts its attempts goes to the FIFO DLQ with the
// reason, and the app's next message follows.
func TestFIFODeadLettersAndMovesOn(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	rec.Respond(receiver.Sequence(500, 500, 200))
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"id":"hook","url":%q,"event_types":["member_added"],
			"retry":{"max_attempts":2,"initial_backoff_ms":1000,"max_backoff_ms":1000}}`, srv.URL),
	}}}, fastRetry, true)
	sendSeq(h, "app", 2)
	w := h.start(worker.Options{}, nil)
	m := h.dlq(1, 60*time.Second)[0]
	waitEvents(t, rec, 1, 30*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()
	if got := attr(m, worker.AttrReason); got != "retries-exhausted" {
		t.Errorf("reason %q", got)
	}
	if got := attr(m, worker.AttrAttempts); got != "2" {
		t.Errorf("attempts %q, want 2", got)
	}
	if m.Attributes["MessageGroupId"] != "" && m.Attributes["MessageGroupId"] != "app" {
		t.Errorf("DLQ group %q, want the app id", m.Attributes["MessageGroupId"])
	}
	if ds := rec.Deliveries(); len(ds) != 3 || ds[1].Received.Sub(ds[0].Received) < 900*time.Millisecond {
		t.Errorf("want 3 requests with the retry about 1 s after the first; got %d", len(ds))
	}
	if evs := rec.Events(); len(evs) != 1 || evs[0].UserID != "1" {
		t.Errorf("after the dead letter the receiver got %v, want user 1's event", evs)
	}
}

// FIFO: a dead letter redriven to the main queue (same envelope id, its
// attempts reset, a new SQS message) that fails again within SQS's 5-minute
// deduplication window gets a dead letter of its own. The copy's
// deduplication id is per SQS message: were it per envelope id and
// attempt, SQS would drop the second copy as a duplicate, report it
// Successful, and the worker would delete the original — the event lost.
func TestFIFORedrivenFailureIsDeadLetteredAgain(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	rec.Respond(receiver.Sequence(410))
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"id":"hook","url":%q,"event_types":["member_added"]}`, srv.URL),
	}}}, fastRetry, true)
	sendSeq(h, "app", 1)
	w := h.start(worker.Options{}, nil)
	q := dlq.Queues{Main: h.mainURL, DeadLetter: h.dlqURL, FIFO: true}
	waitDLQ := func(what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			d, err := dlq.QueueDepth(context.Background(), h.client, h.dlqURL)
			if err != nil {
				t.Fatal(err)
			}
			if d.Visible == 1 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the DLQ holds %+v after 60 s, want 1 visible message", what, d)
			}
			time.Sleep(100 * time.Millisecond) // SQS has no change notification: poll its counters
		}
	}
	waitDLQ("the first failure")
	c, err := dlq.Redrive(context.Background(), h.client, q, dlq.RedriveOptions{})
	if err != nil || c.Redriven != 1 {
		t.Fatalf("redrive: %+v, %v", c, err)
	}
	waitDLQ("the redriven message's failure")
	w.stop(t, time.Minute)
	m := h.dlq(1, 10*time.Second)[0]
	if got := attr(m, worker.AttrReason); got != "permanent-failure" {
		t.Errorf("second dead letter's reason %q", got)
	}
	if n := len(rec.Deliveries()); n != 2 {
		t.Errorf("%d requests, want 2 (the first receipt and the redriven one)", n)
	}
	h.assertDrained()
}
