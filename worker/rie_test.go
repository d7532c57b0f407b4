package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/worker"
)

// Smoke test with a real Lambda handler: examples/lambda-receiver under the
// AWS Runtime Interface Emulator, reached through the worker's Lambda
// sender. The emulator serves only the function "function" and crashes on
// concurrent invokes, so the webhook gets one request at a time.
func TestLambdaReceiverUnderTheEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example handler under the emulator; drop -short to run it")
	}
	rie := localstack.RIE(t, "../examples/lambda-receiver")
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"lambda":{"function_name":%q,"invocation_type":"RequestResponse","endpoint_url":%q},
			"event_types":["member_added","member_removed"],"request_timeout_ms":20000}`, localstack.RIEFunctionName, rie.Endpoint),
	}}}, fastRetry, false)
	for i := range 3 {
		h.send("app", payload.Event{Name: "member_added", Channel: "presence-rie", UserID: fmt.Sprint("u", i), TimeMS: 1},
			payload.Event{Name: "member_removed", Channel: "presence-rie", UserID: fmt.Sprint("u", i), TimeMS: 2})
	}
	w := h.start(worker.Options{WebhookConcurrency: 1}, mixedSender())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, name := range []string{"member_added", "member_removed"} {
		if err := rie.WaitOutput(ctx, "hookline-event name="+name+" channel=presence-rie", 3); err != nil {
			t.Fatalf("%v\nemulator output:\n%s", err, rie.Output())
		}
	}
	w.stop(t, time.Minute)
	h.assertDrained()
	if got := w.counter(t, "hookline_worker_events_delivered_total"); got != 6 {
		t.Errorf("events delivered %v, want 6", got)
	}
}
