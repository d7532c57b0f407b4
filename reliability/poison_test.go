package reliability_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Scenario 6: poison input mixed with healthy traffic: each ends as
// docs/delivery-semantics.md says, with a reason; healthy traffic is
// delivered in full, without duplicates.
func TestPoisonMixedWithHealthyTraffic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{apps: []appSpec{
		{id: "a", hooks: []hookSpec{{name: "a", extra: `"max_body_bytes":4096`}}},
		{id: "off", disabled: true, hooks: []hookSpec{{name: "off"}}},
	}})
	w := e.startWorker()
	var wg sync.WaitGroup
	wg.Go(func() { e.publish("a", size(1000, 10000), eventsPerMessage, size(4*time.Second, 10*time.Second)) })

	ev := func(marker string) string {
		return fmt.Sprintf(`{"name":"member_added","channel":"presence-rel","user_id":%q}`, marker)
	}
	big := fmt.Sprintf(`{"name":"member_added","channel":"presence-rel","user_id":"big-1","data":%q}`, strings.Repeat("x", 8000))
	poison := []struct {
		body, reason string
	}{
		{`this is not JSON {`, "malformed-body"},
		{`{"hello":"world"}`, "unsupported-version"},                                    // JSON of another shape: no "v"
		{`{"v":1,"id":"shape-1","app_id":"a","events":"not a list"}`, "malformed-body"}, // a key of the wrong type
		{`{"v":1,"id":"shape-2","app_id":"a","events":[]}`, "invalid-envelope"},         // well-formed, fails validation
		{`{"v":0,"id":"old-1","app_id":"a","events":[` + ev("old-1") + `]}`, "unsupported-version"},
		{`{"v":1,"id":"ghost-1","app_id":"ghost","events":[` + ev("ghost-1") + `]}`, "unknown-app"},
		{`{"v":1,"id":"off-1","app_id":"off","events":[` + ev("off-1") + `]}`, "app-disabled"},
		{`{"v":1,"id":"big-1","app_id":"a","events":[` + big + `,` + ev("sib-1") + `]}`, "event-too-large"},
		{`{"app_id":"a","app_key":"key-a","app_secret":"secret-a","payload":{"name":"member_added"}}`, "sockudo-job"},
	}
	for _, p := range poison {
		e.sendRaw(p.body)
	}
	future := `{"v":2,"id":"future-1","app_id":"a","events":[` + ev("future-1") + `]}`
	e.sendRaw(future)
	e.sentMu.Lock()
	e.sent["sib-1"] = []string{"a"} // the big event's sibling is delivered
	e.sentMu.Unlock()
	wg.Wait()

	// Everything settles but the newer-version envelope, which is released
	// for later (a rolling deploy must not lose it).
	start := time.Now()
	var dls []deadLetter
	want := map[string]int{}
	for _, p := range poison {
		want[p.reason]++
	}
	for {
		dls = append(dls, e.drainDLQ()...)
		if len(dls) >= len(poison) && e.depth(e.queues.Main.URL) == 1 && e.allDelivered() {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("not settled after a minute: %d dead letters, main queue depth %d", len(dls), e.depth(e.queues.Main.URL))
		}
	}
	drain := time.Since(start)
	got := map[string]int{}
	for _, d := range dls {
		got[d.reason]++
		if d.reason == "" {
			t.Errorf("a dead letter without a reason: %.80s", d.body)
		}
	}
	for reason, n := range want {
		if got[reason] != n {
			t.Errorf("%d dead letters with reason %s, want %d (all: %v)", got[reason], reason, n, got)
		}
	}
	if future := w.metric("hookline_worker_envelopes_future_version_total", ""); future < 1 {
		t.Errorf("future-version counter %v, want ≥ 1", future)
	}
	r := e.account("6 poison mixed with healthy traffic", drain, dls, "the v2 envelope stays on the queue, released for later")
	r.sent += len(poison) + 1
	record(r)
	if r.lost != 0 || r.duplicates != 0 {
		t.Errorf("healthy traffic: lost %d, duplicates %d", r.lost, r.duplicates)
	}
	w.term(20 * time.Second)
}

// Scenario 7: permanent receiver errors go to the DLQ at once with reason
// and status; 413 halves the batch, then dead-letters; a receiver answering
// 500 forever is retried per the schedule, then dead-lettered with the
// attempt count; so is a Lambda function whose every invocation reports a
// FunctionError.
func TestPermanentAndEndlessFailures(t *testing.T) {
	t.Parallel()
	lambda := fakeFailingLambda(t)
	e := newEnv(t, envOptions{
		webhooksSection: `{"batching":{"enabled":true,"duration":50,"size":100},` +
			`"retry":{"enabled":true,"max_attempts":3,"initial_backoff_ms":1000,"max_backoff_ms":1000,"max_elapsed_time_ms":60000}}`,
		apps: []appSpec{{id: "p", hooks: []hookSpec{{name: "s400"}, {name: "s301"}, {name: "s410"}, {name: "s413"}, {name: "s500"}}},
			{id: "l", hooks: []hookSpec{{name: "fn-fails", lambda: "fn-fails", lambdaURL: lambda.URL}}}},
	})
	for _, s := range []int{400, 301, 410, 413, 500} {
		e.rc.setMode(fmt.Sprintf("s%d", s), hookMode{status: s})
	}
	w := e.startWorker()
	e.publish("p", 10, eventsPerMessage, 0)
	e.publish("l", 10, eventsPerMessage, 0)
	drain := e.waitDrained(time.Minute, false)
	dls := e.drainDLQ()
	type want struct{ reason, status, attempts string }
	wants := map[string]want{
		"s400": {"permanent-failure", "400", "1"}, "s301": {"permanent-failure", "301", "1"}, "s410": {"permanent-failure", "410", "1"},
		"s413": {"permanent-failure", "413", "1"}, "s500": {"retries-exhausted", "500", "3"}, "fn-fails": {"retries-exhausted", "", "3"},
	}
	seen := map[string]bool{}
	for _, d := range dls {
		wt, ok := wants[d.webhook]
		if !ok {
			t.Errorf("unexpected dead letter for %q: %s", d.webhook, d.reason)
			continue
		}
		seen[d.webhook] = true
		if d.reason != wt.reason || (wt.status != "" && d.status != wt.status) || d.attempts != wt.attempts {
			t.Errorf("%s: dead letter %s status %s attempts %s; want %s %s %s", d.webhook, d.reason, d.status, d.attempts, wt.reason, wt.status, wt.attempts)
		}
	}
	for h := range wants {
		if !seen[h] {
			t.Errorf("no dead letter for %s", h)
		}
	}
	if n := lambda.invocations(); n != 3 {
		t.Errorf("%d Lambda invocations, want 3 (the attempts)", n)
	}
	r := e.account("7 permanent and endless failures", drain, dls, "400/301/410 at once, 413 after halving, 500 and Lambda FunctionError after 3 attempts")
	record(r)
	if r.lost != 0 {
		t.Errorf("lost %d", r.lost)
	}
	if e.rc.requests("s413") < 2 {
		t.Errorf("413 webhook got %d requests; want the halving retry", e.rc.requests("s413"))
	}
	w.term(20 * time.Second)
}
