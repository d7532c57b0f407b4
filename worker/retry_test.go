package worker_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/worker"
)

// Retry delays scaled down for CI: 1 s, 2 s, 4 s (SQS delays are whole
// seconds).
const fastRetry = `{"batching":{"enabled":true,"duration":20},
	"retry":{"max_attempts":5,"initial_backoff_ms":1000,"max_backoff_ms":4000,"max_elapsed_time_ms":120000}}`

// A receiver that fails three times then recovers gets the events once it
// does, the delays between attempts grow, and a healthy webhook of the same
// app gets each event exactly once.
func TestRetriesUntilTheReceiverRecovers(t *testing.T) {
	apps := receiver.StaticApps{"k": {ID: "app", Secret: "s"}}
	flaky, srvF := server(t, apps)
	flaky.Respond(receiver.Sequence(500, 500, 500, 200))
	healthy, srvH := server(t, apps)
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"id":"flaky","url":%q,"event_types":["member_added"]}`, srvF.URL),
		fmt.Sprintf(`{"id":"healthy","url":%q,"event_types":["member_added"]}`, srvH.URL),
	}}}, fastRetry, false)
	id := h.send("app", ev("member_added", "presence-x"), ev("member_added", "presence-y"))
	w := h.start(worker.Options{}, nil)
	waitEvents(t, flaky, 2, 60*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()

	ds := flaky.Deliveries()
	if len(ds) != 4 {
		t.Fatalf("flaky webhook got %d requests, want 4 (3 failures + 1 success)", len(ds))
	}
	for i, d := range ds {
		if d.Attempt != i+1 {
			t.Errorf("request %d: X-Hookline-Attempt %d, want %d", i+1, d.Attempt, i+1)
		}
		if got := d.Body.Events[0].ID; got != id+":0" {
			t.Errorf("request %d: event id %q, want %q (stable across retries)", i+1, got, id+":0")
		}
	}
	gap := func(i int) time.Duration { return ds[i].Received.Sub(ds[i-1].Received) }
	if !(gap(3) > gap(1)) {
		t.Errorf("retry delays do not grow: %v, %v, %v", gap(1), gap(2), gap(3))
	}
	if gap(1) < 900*time.Millisecond {
		t.Errorf("first retry after %v, want about the 1 s initial backoff", gap(1))
	}
	if n := len(healthy.Deliveries()); n != 1 || len(healthy.Events()) != 2 {
		t.Errorf("healthy webhook got %d requests with %d events, want 1 with 2 (no duplicates)", n, len(healthy.Events()))
	}
}

// A receiver that always fails: after max_attempts the message is in the
// DLQ with reason, target, status and attempt count.
func TestAlwaysFailingGoesToTheDLQAfterMaxAttempts(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	rec.Respond(receiver.Sequence(500))
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"id":"down","url":%q,"event_types":["channel_occupied"],
			"retry":{"max_attempts":3,"initial_backoff_ms":1000,"max_backoff_ms":1000}}`, srv.URL+"/hook"),
	}}}, fastRetry, false)
	id := h.send("app", ev("channel_occupied", "room"))
	w := h.start(worker.Options{}, nil)
	msgs := h.dlq(1, 60*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()

	m := msgs[0]
	for name, want := range map[string]string{
		worker.AttrReason: "retries-exhausted", worker.AttrTarget: srv.URL + "/hook",
		worker.AttrStatus: "500", worker.AttrAttempts: "3", worker.AttrWebhook: "down",
	} {
		if got := attr(m, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	env, err := payload.Decode([]byte(*m.Body))
	if err != nil {
		t.Fatalf("DLQ body: %v", err)
	}
	if env.ID != id || len(env.Targets) != 1 || env.Targets[0] != "down" {
		t.Errorf("DLQ envelope id %q targets %v", env.ID, env.Targets)
	}
	if n := len(rec.Deliveries()); n != 3 {
		t.Errorf("receiver got %d requests, want 3", n)
	}
	if got := w.counter(t, "hookline_worker_dead_letters_total", "reason", "retries-exhausted"); got != 1 {
		t.Errorf("dead_letters_total{retries-exhausted} = %v, want 1", got)
	}
	if got := w.counter(t, "hookline_worker_retries_total"); got != 2 {
		t.Errorf("retries_total = %v, want 2", got)
	}
}

// 400 and 301 are permanent: the DLQ at once, with the reason.
func TestPermanentFailuresGoToTheDLQAtOnce(t *testing.T) {
	for _, tc := range []struct {
		status int
		header http.Header
		detail string
	}{
		{http.StatusBadRequest, nil, ""},
		{http.StatusMovedPermanently, http.Header{"Location": {"https://elsewhere.test/hooks"}}, "https://elsewhere.test/hooks"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
			rec.Respond(func(*receiver.Delivery, int) receiver.Response {
				return receiver.Response{Status: tc.status, Header: tc.header}
			})
			h := newHarness(t, []app{{"app", "k", "s", []string{
				fmt.Sprintf(`{"url":%q,"event_types":["channel_vacated"]}`, srv.URL),
			}}}, fastRetry, false)
			h.send("app", ev("channel_vacated", "room"))
			w := h.start(worker.Options{}, nil)
			m := h.dlq(1, 30*time.Second)[0]
			w.stop(t, time.Minute)
			h.assertDrained()
			if got := attr(m, worker.AttrReason); got != "permanent-failure" {
				t.Errorf("reason %q", got)
			}
			if got := attr(m, worker.AttrStatus); got != fmt.Sprint(tc.status) {
				t.Errorf("status %q", got)
			}
			if got := attr(m, worker.AttrAttempts); got != "1" {
				t.Errorf("attempts %q, want 1", got)
			}
			if !strings.Contains(attr(m, worker.AttrDetail), tc.detail) {
				t.Errorf("detail %q, want it to contain %q", attr(m, worker.AttrDetail), tc.detail)
			}
			if n := len(rec.Deliveries()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// Malformed bodies and Sockudo's own queue jobs go to the DLQ at once,
// unchanged, with the reason; nothing is delivered.
func TestMalformedAndSockudoJobsGoToTheDLQ(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["channel_vacated"]}`, srv.URL),
	}}}, fastRetry, false)
	bodies := map[string]string{
		"malformed-body":      `{"v":1,"id":"x","app_id":`,
		"sockudo-job":         `{"app_id":"app","app_key":"k","app_secret":"s","payload":{"time_ms":1,"events":[{"name":"channel_vacated","channel":"c"}]},"original_signature":"x"}`,
		"unsupported-version": `{"v":0,"id":"x","app_id":"app","events":[{"name":"channel_vacated"}]}`,
		"invalid-envelope":    `{"v":1,"id":"","app_id":"app","events":[]}`,
	}
	for _, b := range bodies {
		h.sendRaw(b, "", "")
	}
	w := h.start(worker.Options{}, nil)
	msgs := h.dlq(len(bodies), 30*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()
	for _, m := range msgs {
		reason := attr(m, worker.AttrReason)
		if want, ok := bodies[reason]; !ok || want != *m.Body {
			t.Errorf("DLQ message reason %q body %q", reason, *m.Body)
		}
		if attr(m, worker.AttrDetail) == "" {
			t.Errorf("reason %s: no detail", reason)
		}
		delete(bodies, reason)
	}
	if len(bodies) != 0 {
		t.Errorf("not dead-lettered: %v", bodies)
	}
	if n := len(rec.Deliveries()); n != 0 {
		t.Errorf("%d requests for bad messages", n)
	}
}

// 413 halves the batch once; a half still too large is a permanent failure.
func TestTooLargeHalvesTheBatchOnce(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	rec.Respond(func(d *receiver.Delivery, _ int) receiver.Response {
		if len(d.Body.Events) > 2 {
			return receiver.Response{Status: http.StatusRequestEntityTooLarge}
		}
		return receiver.Response{Status: 200}
	})
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["member_added"]}`, srv.URL),
	}}}, fastRetry, false)
	four := []payload.Event{ev("member_added", "presence-1"), ev("member_added", "presence-2"),
		ev("member_added", "presence-3"), ev("member_added", "presence-4")}
	w := h.start(worker.Options{}, nil)
	h.send("app", four...) // one request of 4 → 413 → two of 2: delivered
	waitEvents(t, rec, 4, 30*time.Second)
	h.send("app", append(four, ev("member_added", "presence-5"), ev("member_added", "presence-6"))...) // 6 → 3 + 3: dead
	dead := h.dlq(1, 30*time.Second)[0]
	w.stop(t, time.Minute)
	h.assertDrained()
	if got := attr(dead, worker.AttrStatus); got != "413" || attr(dead, worker.AttrReason) != "permanent-failure" {
		t.Errorf("DLQ status %q reason %q", got, attr(dead, worker.AttrReason))
	}
	if got := w.counter(t, "hookline_worker_batches_halved_total"); got != 2 {
		t.Errorf("halved %v times, want 2", got)
	}
}
