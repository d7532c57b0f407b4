package reliability_test

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Scenario 1: kill -9 the worker three times while events flow, restarting
// it each time. Lost 0; duplicates at most the events of the messages in
// flight at the kills (the queue's not-visible messages right after each
// kill: what the dead worker held, which SQS will redeliver).
func TestKill9ThreeTimes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{apps: []appSpec{{id: "a", hooks: []hookSpec{{name: "a"}}}}})
	n, d := size(2000, 20000), size(8*time.Second, 40*time.Second)
	var wg sync.WaitGroup
	wg.Go(func() { e.publish("a", n, eventsPerMessage, d) })
	w := e.startWorker()
	bound := 0
	for i := range 3 {
		time.Sleep(d / 4) // the load's own clock: kill at a quarter, half and three quarters
		w.kill()
		inflight := e.invisible()
		bound += inflight * eventsPerMessage
		t.Logf("kill %d: %d messages in flight", i+1, inflight)
		w = e.startWorker()
	}
	wg.Wait()
	drain := e.waitDrained(time.Minute, true)
	dls := e.drainDLQ()
	r := e.account("1 kill -9 ×3 under load", drain, dls, fmt.Sprintf("duplicates bound: %d (in flight at the kills)", bound))
	record(r)
	if r.lost != 0 || len(dls) != 0 {
		t.Errorf("lost %d, dead-lettered %d messages", r.lost, len(dls))
	}
	if r.duplicates > bound {
		t.Errorf("%d duplicate deliveries, more than the %d events in flight at the kills", r.duplicates, bound)
	}
	if code, _ := w.term(20 * time.Second); code != 0 {
		t.Errorf("final worker exit %d", code)
	}
}

// Scenario 2: two workers on one queue, one killed mid-run: lost 0, and
// duplicates bounded by what was in flight at the kill (both workers'
// messages: SQS cannot tell them apart).
func TestTwoWorkersOneKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{apps: []appSpec{{id: "a", hooks: []hookSpec{{name: "a"}}}, {id: "b", hooks: []hookSpec{{name: "b"}}}}})
	n, d := size(1000, 10000), size(6*time.Second, 30*time.Second)
	var wg sync.WaitGroup
	wg.Go(func() { e.publish("a", n, eventsPerMessage, d) })
	wg.Go(func() { e.publish("b", n, eventsPerMessage, d) })
	w1, w2 := e.startWorker(), e.startWorker()
	time.Sleep(d / 2) // mid-run by the load's clock
	w1.kill()
	inflight := e.invisible()
	wg.Wait()
	drain := e.waitDrained(time.Minute, true)
	dls := e.drainDLQ()
	bound := inflight * eventsPerMessage
	r := e.account("2 two workers, one kill -9", drain, dls, fmt.Sprintf("duplicates bound: %d", bound))
	record(r)
	if r.lost != 0 || len(dls) != 0 {
		t.Errorf("lost %d, dead-lettered %d messages", r.lost, len(dls))
	}
	if r.duplicates > bound {
		t.Errorf("%d duplicates, more than the %d events in flight at the kill", r.duplicates, bound)
	}
	if code, _ := w2.term(20 * time.Second); code != 0 {
		t.Errorf("surviving worker exit %d", code)
	}
}

// Scenario 8: SIGTERM under load: exit 0 within the grace period, nothing
// lost, nothing left invisible (every message the worker held is released
// or settled before it exits).
func TestSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{apps: []appSpec{{id: "a", hooks: []hookSpec{{name: "a", extra: `"request_timeout_ms":3000`}}}}})
	e.rcs["a"].setMode("a", hookMode{delay: 300 * time.Millisecond}) // requests are in flight at the signal
	n := size(2000, 10000)
	e.publish("a", n, eventsPerMessage, 0)
	w := e.startWorker("--grace-period", "8s")
	e.rcs["a"].waitUnique("a", 1, 30*time.Second)
	code, took := w.term(15 * time.Second)
	if code != 0 || took > 8*time.Second+2*time.Second {
		t.Errorf("exit %d after %v; want 0 within the 8 s grace period", code, took)
	}
	if inv := e.invisible(); inv != 0 {
		t.Errorf("%d messages left invisible after the worker exited", inv)
	}
	e.rcs["a"].setMode("a", hookMode{})
	w = e.startWorker()
	drain := e.waitDrained(time.Minute, true)
	dls := e.drainDLQ()
	r := e.account("8 SIGTERM under load", drain, dls, fmt.Sprintf("exit %d after %.1f s; 0 invisible after exit", code, took.Seconds()))
	record(r)
	if r.lost != 0 || len(dls) != 0 {
		t.Errorf("lost %d, dead-lettered %d", r.lost, len(dls))
	}
	if r.duplicates != 0 {
		t.Errorf("%d duplicates: a graceful stop must not redeliver", r.duplicates)
	}
	w.term(20 * time.Second)
}
