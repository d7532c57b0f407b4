package reliability_test

import (
	"fmt"
	"testing"
	"time"
)

// Scenario 12: what a queue-depth autoscaler sees while workers are busy.
// Each message a worker holds (up to --max-inflight) is *in flight* to SQS,
// not visible: an autoscaler counting only visible messages (KEDA's
// aws-sqs-queue with scaleOnInFlight: false) sees the backlog shrink by
// what the workers hold, and may scale in workers that are busy. The
// worker's own hookline_worker_queue_messages gauge reports the same split.
// Nothing is lost and nothing is duplicated.
func TestQueueDepthWhileWorkersHoldMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{visibility: 30 * time.Second, apps: []appSpec{{id: "a", hooks: []hookSpec{{name: "slow"}}}}})
	e.rc.setMode("slow", hookMode{delay: 2 * time.Second})
	n := size(600, 3000)
	e.publish("a", n, eventsPerMessage, 0)
	messages := e.depth(e.queues.Main.URL)
	const hold = 20
	w := e.startWorker("--max-inflight", fmt.Sprint(hold), "--queue-stats-interval", "1s")
	if !w.waitMetric("hookline_worker_inflight_messages", "", hold, time.Minute) {
		t.Fatalf("the worker never held %d messages", hold)
	}
	inFlight := e.invisible()
	visible := e.depth(e.queues.Main.URL) - inFlight
	if inFlight < hold {
		t.Errorf("SQS counts %d messages in flight while the worker holds %d", inFlight, hold)
	}
	if !w.waitMetric("hookline_worker_queue_messages", `queue="main",state="in_flight"`, hold, 10*time.Second) {
		t.Errorf("hookline_worker_queue_messages{main,in_flight} = %v, want at least %d", w.metric("hookline_worker_queue_messages", `queue="main",state="in_flight"`), hold)
	}
	e.rc.setMode("slow", hookMode{})
	drain := e.waitDrained(2*time.Minute, true)
	dls := e.drainDLQ()
	r := e.account("12 queue depth while workers are busy", drain, dls, fmt.Sprintf(
		"%d messages queued; with the worker holding %d (--max-inflight): %d visible, %d in flight: counting visible only misses %d",
		messages, hold, visible, inFlight, inFlight))
	record(r)
	if r.lost != 0 || r.duplicates != 0 || len(dls) != 0 {
		t.Errorf("lost %d, duplicates %d, dead letters %d", r.lost, r.duplicates, len(dls))
	}
	w.term(20 * time.Second)
}
