package reliability_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/queues"
)

// patientRetries keep retrying through a receiver outage of the full run
// (30 s) instead of dead-lettering: the scenario is about loss and delay.
const patientRetries = `{"batching":{"enabled":true,"duration":50,"size":100},` +
	`"retry":{"enabled":true,"max_attempts":60,"initial_backoff_ms":1000,"max_backoff_ms":2000,"max_elapsed_time_ms":300000}}`

// Scenario 3: one webhook's receiver refuses connections, or hangs
// (accepts, never answers), for a while. Lost 0; the app's other webhook
// and the other app are delayed by at most one request timeout and get no
// duplicates.
func TestReceiverDownOrHanging(t *testing.T) {
	t.Parallel()
	for _, hang := range []bool{false, true} {
		name := map[bool]string{false: "3a receiver refusing connections", true: "3b receiver hanging"}[hang]
		t.Run(fmt.Sprint(map[bool]string{false: "refusing", true: "hanging"}[hang]), func(t *testing.T) {
			t.Parallel()
			const timeout = 2 * time.Second
			e := newEnv(t, envOptions{webhooksSection: patientRetries, apps: []appSpec{
				{id: "a", hooks: []hookSpec{{name: "down", separate: true, extra: `"request_timeout_ms":2000`}, {name: "a2"}}},
				{id: "b", hooks: []hookSpec{{name: "b"}}},
			}})
			outage, d := size(5*time.Second, 30*time.Second), size(10*time.Second, 40*time.Second)
			w := e.startWorker()
			var wg sync.WaitGroup
			wg.Go(func() { e.publish("a", size(1000, 5000), eventsPerMessage, d) })
			wg.Go(func() { e.publish("b", size(1000, 5000), eventsPerMessage, d) })
			time.Sleep(d / 5) // the outage starts a fifth into the load
			down := e.rcs["down"]
			if hang {
				down.setMode("down", hookMode{hang: true})
			} else {
				down.refuse()
			}
			time.Sleep(outage) // the outage's length
			if hang {
				down.setMode("down", hookMode{})
			} else {
				down.accept()
			}
			wg.Wait()
			drain := e.waitDrained(2*time.Minute, true)
			dls := e.drainDLQ()
			worst := max(e.rcs["a2"].worstLatency("a2"), e.rc.worstLatency("b"))
			r := e.account(name, drain, dls, fmt.Sprintf("%v outage; healthy webhooks' worst latency %.2f s (request timeout %v)", outage, worst.Seconds(), timeout))
			record(r)
			if r.lost != 0 || len(dls) != 0 {
				t.Errorf("lost %d, dead-lettered %d", r.lost, len(dls))
			}
			for _, h := range []string{"a2", "b"} {
				if _, dups := e.rcs[h].delivered(h); dups != 0 {
					t.Errorf("%s: %d duplicates; a healthy webhook must get none", h, dups)
				}
			}
			if worst > timeout+time.Second {
				t.Errorf("healthy webhooks delayed up to %v; want at most the request timeout (%v) and a second of batching and polling", worst, timeout)
			}
			w.term(20 * time.Second)
		})
	}
}

// Scenario 4: a receiver answering after twice the visibility timeout: the
// heartbeat keeps the messages, so no duplicates.
func TestReceiverSlowerThanTheVisibilityTimeout(t *testing.T) {
	t.Parallel()
	const vis = 6 * time.Second
	e := newEnv(t, envOptions{visibility: vis, apps: []appSpec{{id: "a", hooks: []hookSpec{{name: "slow", extra: `"request_timeout_ms":30000`}}}}})
	e.rc.setMode("slow", hookMode{delay: 2 * vis})
	e.publish("a", size(50, 200), eventsPerMessage, 0)
	w := e.startWorker()
	drain := e.waitDrained(2*time.Minute, true)
	dls := e.drainDLQ()
	r := e.account("4 receiver answering after 2× visibility", drain, dls, fmt.Sprintf("answers after %v, visibility %v", 2*vis, vis))
	record(r)
	if r.lost != 0 || r.duplicates != 0 || len(dls) != 0 {
		t.Errorf("lost %d, duplicates %d, dead letters %d; the heartbeat must keep every message", r.lost, r.duplicates, len(dls))
	}
	w.term(40 * time.Second)
}

// Scenario 5: SQS unreachable (the loopback proxy in front of the emulator
// cut), or answering 500s, or throttling, for a while mid-run: the worker
// stays up, logs at a bounded rate, /readyz turns unready and back, nothing
// is lost, and — the visibility timeout (30 s) outlasting the outage, and
// failed deletes being retried while the lease lasts — nothing is
// delivered twice.
func TestSQSOutage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		mode faultMode
	}{{"5a SQS unreachable", cut}, {"5b SQS answering 500", error500}, {"5c SQS throttling", throttle}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{visibility: 30 * time.Second, apps: []appSpec{{id: "a", hooks: []hookSpec{{name: "a"}}}}})
			outage, d := size(6*time.Second, 10*time.Second), size(12*time.Second, 30*time.Second)
			w := e.startWorker()
			w.waitHTTP("/readyz", 200, 20*time.Second)
			var wg sync.WaitGroup
			wg.Go(func() { e.publish("a", size(1000, 10000), eventsPerMessage, d) })
			time.Sleep(d / 4) // the outage starts a quarter into the load
			logsBefore := w.logs.len()
			e.proxy.set(c.mode)
			start := time.Now()
			w.waitHTTP("/readyz", 503, outage)
			unreadyAfter := time.Since(start)
			time.Sleep(outage - unreadyAfter) // the rest of the outage
			lines := w.logs.count(errorLine, logsBefore)
			e.proxy.set(pass)
			w.waitHTTP("/readyz", 200, 15*time.Second) // the pollers' backoff tops out at 10 s
			readyAfter := time.Since(start) - outage
			wg.Wait()
			drain := e.waitDrained(2*time.Minute, true)
			dls := e.drainDLQ()
			r := e.account(c.name, drain, dls, fmt.Sprintf("%v outage: unready after %.1f s, ready %.1f s after it ended; %d warn/error lines during it",
				outage, unreadyAfter.Seconds(), readyAfter.Seconds(), lines))
			record(r)
			if r.lost != 0 || len(dls) != 0 || r.duplicates != 0 {
				t.Errorf("lost %d, dead-lettered %d, duplicates %d", r.lost, len(dls), r.duplicates)
			}
			// Bounded: a handful a second at most, not one per failed call of
			// every poller and every batch.
			if limit := int(outage/time.Second)*4 + 10; lines > limit {
				t.Errorf("%d warn/error lines in a %v outage; want at most %d", lines, outage, limit)
			}
			select {
			case <-w.done:
				t.Fatalf("the worker exited during the outage: %v", w.err)
			default:
			}
			w.term(20 * time.Second)
		})
	}
}

// Scenario 10: the DLQ missing (deleted mid-run; writes to it fail): a
// message that must be dead-lettered keeps its original on the main queue
// until the copy succeeds, and nothing is lost once the DLQ is back.
func TestDLQMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{visibility: 6 * time.Second, maxReceive: 100, apps: []appSpec{{id: "a", hooks: []hookSpec{{name: "gone"}}}}})
	e.rc.setMode("gone", hookMode{status: 410})
	w := e.startWorker()
	w.waitHTTP("/readyz", 200, 20*time.Second)
	if err := e.deleteQueue(e.queues.DeadLetter.URL); err != nil {
		t.Fatal(err)
	}
	n := size(100, 1000)
	e.publish("a", n, eventsPerMessage, 0)
	// The DLQ stays missing until the copy of every message failed twice:
	// each original came back after its visibility timeout and was tried
	// again, so it was kept, not deleted after the first failed copy.
	msgs := float64(n / eventsPerMessage)
	start := time.Now()
	if !w.waitMetric("hookline_worker_sqs_errors_total", `op="send-dlq"`, 2*msgs, 2*time.Minute) {
		t.Fatalf("after 2m, %v failed DLQ copies; want %v (every message twice)", w.metric("hookline_worker_sqs_errors_total", `op="send-dlq"`), 2*msgs)
	}
	missing := time.Since(start).Round(time.Second)
	kept := e.depth(e.queues.Main.URL)
	if kept != n/eventsPerMessage {
		t.Errorf("%d messages on the main queue while the DLQ is missing; want all %d originals kept", kept, n/eventsPerMessage)
	}
	if _, err := queues.Ensure(context.Background(), e.sqs, queues.Spec{Name: e.queues.Main.Name,
		VisibilityTimeout: 6 * time.Second, MaxReceiveCount: 100}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	drain := e.waitDrained(time.Minute, false)
	dls := e.drainDLQ()
	r := e.account("10 DLQ missing for a while", drain, dls, fmt.Sprintf("DLQ missing %v: %d of %d originals kept meanwhile", missing, kept, n/eventsPerMessage))
	record(r)
	if r.lost != 0 {
		t.Errorf("lost %d", r.lost)
	}
	for _, d := range dls {
		if d.reason != "permanent-failure" || d.status != "410" {
			t.Errorf("dead letter %s/%s, want permanent-failure/410", d.reason, d.status)
		}
	}
	w.term(20 * time.Second)
}
