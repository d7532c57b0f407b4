package worker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/worker"
)

// burst sends n single-event messages and returns the event ids.
func burst(h *harness, n int) []string {
	var ids []string
	for i := range n {
		id := h.send("app", payload.Event{Name: "member_added", Channel: "presence-burst",
			UserID: fmt.Sprint("u", i), TimeMS: time.Now().UnixMilli()})
		ids = append(ids, id+":0")
	}
	slices.Sort(ids)
	return ids
}

func eventIDs(rec *receiver.Recorder) []string {
	var out []string
	for _, e := range rec.Events() {
		out = append(out, e.ID)
	}
	slices.Sort(out)
	return out
}

// SIGTERM during a burst: every event is either delivered and deleted, or
// back on the queue with no attempt used; the worker exits within the grace
// period.
func TestShutdownDuringBurst(t *testing.T) {
	apps := receiver.StaticApps{"k": {ID: "app", Secret: "s"}}
	slow, srv := server(t, apps)
	gate := make(chan struct{})
	slow.Respond(func(_ *receiver.Delivery, n int) receiver.Response {
		if n <= 2 {
			return receiver.Response{Status: 200, Block: gate} // in flight when SIGTERM comes
		}
		return receiver.Response{Status: 200}
	})
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["member_added"]}`, srv.URL),
	}}}, `{"batching":{"enabled":true,"duration":20,"size":5}}`, false)
	all := burst(h, 60)

	const grace = 5 * time.Second
	// At most 10 messages held: SIGTERM finds most of the burst still on the queue.
	w := h.start(worker.Options{GracePeriod: grace, WebhookConcurrency: 2, MaxInFlightMessages: 10}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := slow.WaitRequests(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// Both slots of the webhook are busy; everything else waits. SIGTERM
	// now, and let the two running requests finish during the drain.
	time.AfterFunc(500*time.Millisecond, func() { close(gate) })
	if took := w.stop(t, 2*grace); took > grace+time.Second {
		t.Errorf("shutdown took %v, grace period %v", took, grace)
	}
	first := eventIDs(slow)
	if len(first) == 0 || len(first) == len(all) {
		t.Fatalf("first worker delivered %d of %d events; the test needs a shutdown mid-burst", len(first), len(all))
	}
	if got := w.counter(t, "hookline_worker_dead_letters_total"); got != 0 {
		t.Errorf("%v dead letters after a clean shutdown", got)
	}

	// A new worker delivers the rest: nothing lost, nothing delivered twice,
	// and no attempt was used by the shutdown.
	fresh, srv2 := server(t, apps)
	h.cfg.Apps[0].Webhooks[0].URL = srv2.URL
	w2 := h.start(worker.Options{}, nil)
	waitEvents(t, fresh, len(all)-len(first), 30*time.Second)
	w2.stop(t, time.Minute)
	h.assertDrained()
	second := eventIDs(fresh)
	union := slices.Concat(first, second)
	slices.Sort(union)
	if !slices.Equal(union, all) {
		t.Errorf("events across both workers:\n got %v\nwant each of %v exactly once", union, all)
	}
	for _, d := range fresh.Deliveries() {
		if d.Attempt != 1 {
			t.Errorf("second worker delivered attempt %d; shutdown must not use attempts", d.Attempt)
		}
	}
}

// kill -9 during a burst, then a new worker: every event is delivered at
// least once, none lost.
func TestKillDuringBurstLosesNothing(t *testing.T) {
	apps := receiver.StaticApps{"k": {ID: "app", Secret: "s"}}
	rec, srv := server(t, apps)
	never := make(chan struct{}) // the killed worker's last requests are never answered
	t.Cleanup(func() { close(never) })
	rec.Respond(func(d *receiver.Delivery, n int) receiver.Response {
		if d.Header.Get("User-Agent") == "Hookline/dev" && n > 3 { // the hookline process, not the test's worker
			return receiver.Response{Status: 200, Block: never}
		}
		return receiver.Response{Status: 200}
	})
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["member_added"]}`, srv.URL),
	}}}, `{"batching":{"enabled":true,"duration":20,"size":5}}`, false)
	all := burst(h, 40)

	bin := filepath.Join(t.TempDir(), "hookline")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/hookline").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	doc := fmt.Sprintf(`{"app_manager":{"array":{"apps":[{"id":"app","key":"k","secret":"s",
		"webhooks":[{"url":%q,"event_types":["member_added"]}]}]}},
		"webhooks":{"batching":{"duration":20,"size":5}},
		"queue":{"sqs":{"region":%q,"endpoint_url":%q,"queue_url":%q,"dead_letter_queue_name":%q,
			"visibility_timeout":6,"wait_time_seconds":1}}}`,
		srv.URL, region, h.cfg.Queue.EndpointURL, h.mainURL, h.cfg.Queue.DLQName())
	if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "worker", "--config", cfgPath, "--listen", "", "--log-format", "json", "--sqs-call-timeout", "3s")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- rec.WaitRequests(ctx, 5) }()
	select {
	case err := <-exited:
		t.Fatalf("hookline worker exited early: %v", err)
	case err := <-waited:
		if err != nil {
			_ = cmd.Process.Kill()
			t.Fatal(err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	delivered := len(rec.Events())

	w := h.start(worker.Options{}, nil)
	waitUnique(t, rec, len(all), 60*time.Second)
	// Messages the killed worker had delivered but not deleted come back when
	// its leases expire (SQS's timer, nothing to wait on but the queue) and
	// are delivered again.
	deadline := time.Now().Add(30 * time.Second)
	for v, nv, d := h.depth(h.mainURL); v+nv+d > 0; v, nv, d = h.depth(h.mainURL) {
		if time.Now().After(deadline) {
			t.Fatalf("main queue still holds %d visible, %d in flight, %d delayed", v, nv, d)
		}
		time.Sleep(250 * time.Millisecond)
	}
	w.stop(t, time.Minute)
	h.assertDrained()
	got := slices.Compact(eventIDs(rec))
	if !slices.Equal(got, all) {
		t.Errorf("after kill -9 and a new worker:\n got %v\nwant all of %v", got, all)
	}
	t.Logf("%d events delivered before kill -9, %d events in all (duplicates allowed)", delivered, len(rec.Events()))
}

// waitUnique waits until the recorder accepted n distinct event ids
// (redeliveries allowed), woken by each new event.
func waitUnique(t *testing.T, rec *receiver.Recorder, n int, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		evs := rec.Events()
		if len(slices.Compact(eventIDs(rec))) >= n {
			return
		}
		if err := rec.WaitEvents(ctx, len(evs)+1); err != nil {
			t.Fatalf("waiting for %d distinct events: %v (have %d)", n, err, len(slices.Compact(eventIDs(rec))))
		}
	}
}
