package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/delivery/lambdafake"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/signing"
	"github.com/hookline/hookline/worker"
)

func mixedSender() delivery.Sender {
	return delivery.ByTarget{
		HTTP: delivery.NewHTTP(delivery.HTTPOptions{UserAgent: "Hookline/test"}),
		Lambda: delivery.NewLambda(delivery.LambdaOptions{AWS: aws.Config{
			Region: region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}}),
	}
}

func waitCalls(t *testing.T, fake *lambdafake.Server, n int, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := fake.WaitCalls(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// The seed's "Mixed Webhook Configuration": one app with HTTP and Lambda
// webhooks; each gets the events its filter selects, Lambda the signed
// Pusher body (or soketi's shape) with the configured invocation type and
// qualifier.
func TestMixedHTTPAndLambdaWebhooks(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	fake := lambdafake.New()
	t.Cleanup(fake.Close)
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["channel_occupied","channel_vacated"]}`, srv.URL),
		fmt.Sprintf(`{"lambda":{"function_name":"handleClientEvents","endpoint_url":%q},"event_types":["client_event"],"filter":{"channel_type":"presence"}}`, fake.URL),
		fmt.Sprintf(`{"lambda":{"function_name":"presence","invocation_type":"RequestResponse","qualifier":"live","payload_format":"soketi","endpoint_url":%q},
			"event_types":["member_added"],"filter":{"channel_prefix":"presence-chat"}}`, fake.URL),
	}}}, fastRetry, false)
	id := h.send("app",
		ev("channel_occupied", "presence-chat-1"),
		payload.Event{Name: "client_event", Channel: "presence-chat-1", Event: "client-typing", Data: `{"on":true}`, TimeMS: 1},
		payload.Event{Name: "member_added", Channel: "presence-chat-1", UserID: "u1", TimeMS: 2},
		payload.Event{Name: "client_event", Channel: "private-x", Event: "client-typing", Data: `{}`, TimeMS: 3},
	)
	w := h.start(worker.Options{}, mixedSender())
	waitEvents(t, rec, 1, 30*time.Second)
	waitCalls(t, fake, 2, 30*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()

	if evs := rec.Events(); len(evs) != 1 || evs[0].ID != id+":0" {
		t.Errorf("HTTP webhook got %v", evs)
	}
	byFunction := map[string]lambdafake.Invocation{}
	for _, c := range fake.Calls() {
		byFunction[c.Function] = c
	}
	ce := byFunction["handleClientEvents"]
	if ce.InvocationType != "Event" {
		t.Errorf("lambda form default invocation type %q, want Event", ce.InvocationType)
	}
	body, err := payload.DecodeBody(ce.Payload)
	if err != nil || len(body.Events) != 1 || body.Events[0].ID != id+":1" {
		t.Errorf("client-event function got %s (%v)", ce.Payload, err)
	}
	pr := byFunction["presence"]
	if pr.InvocationType != "RequestResponse" || pr.Qualifier != "live" {
		t.Errorf("presence invocation %+v", pr)
	}
	var soketi struct {
		Payload json.RawMessage   `json:"payload"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(pr.Payload, &soketi); err != nil {
		t.Fatal(err)
	}
	if !signing.Verify("s", soketi.Payload, soketi.Headers["X-Pusher-Signature"]) || soketi.Headers["X-Pusher-Key"] != "k" {
		t.Errorf("soketi payload does not verify with the app secret: %s", pr.Payload)
	}
}

// Lambda outcomes through the whole state machine: throttling is retried
// after its Retry-After, a function error is retried until max_attempts
// then dead-lettered, an unknown function is dead-lettered at once.
func TestLambdaOutcomesThroughTheQueue(t *testing.T) {
	fake := lambdafake.New()
	t.Cleanup(fake.Close)
	var mu sync.Mutex
	throttles := 0
	fake.Script(func(inv lambdafake.Invocation, _ int) lambdafake.Reply {
		switch inv.Function {
		case "throttled":
			mu.Lock()
			defer mu.Unlock()
			if throttles++; throttles == 1 { // once, asking for 3 s: longer than the 1 s backoff
				return lambdafake.Reply{Status: 429, ErrorType: "TooManyRequestsException", RetryAfter: "3"}
			}
		case "broken":
			return lambdafake.Reply{FunctionError: "Unhandled", Payload: `{"errorMessage":"boom"}`}
		case "missing":
			return lambdafake.Reply{Status: 404, ErrorType: "ResourceNotFoundException"}
		}
		return lambdafake.Reply{Payload: `{}`}
	})
	h := newHarness(t, []app{
		{"a1", "k1", "s", []string{fmt.Sprintf(`{"id":"t","lambda":{"function_name":"throttled","endpoint_url":%q},"event_types":["member_added"]}`, fake.URL)}},
		{"a2", "k2", "s", []string{fmt.Sprintf(`{"id":"b","lambda":{"function_name":"broken","invocation_type":"RequestResponse","endpoint_url":%q},
			"event_types":["member_added"],"retry":{"max_attempts":2,"initial_backoff_ms":1000,"max_backoff_ms":1000}}`, fake.URL)}},
		{"a3", "k3", "s", []string{fmt.Sprintf(`{"id":"m","lambda":{"function_name":"missing","endpoint_url":%q},"event_types":["member_added"]}`, fake.URL)}},
	}, fastRetry, false)
	for _, a := range []string{"a1", "a2", "a3"} {
		h.send(a, ev("member_added", "presence-x"))
	}
	w := h.start(worker.Options{}, mixedSender())
	dead := h.dlq(2, 60*time.Second)
	waitCalls(t, fake, 5, 30*time.Second) // throttled twice, broken twice, missing once
	w.stop(t, time.Minute)
	h.assertDrained()

	reasons := map[string]string{}
	for _, m := range dead {
		reasons[attr(m, worker.AttrWebhook)] = attr(m, worker.AttrReason) + " " + attr(m, worker.AttrStatus) + " " +
			attr(m, worker.AttrAttempts) + " " + attr(m, worker.AttrTarget)
	}
	if got, want := reasons["b"], "retries-exhausted 200 2 lambda:broken"; got != want {
		t.Errorf("function error: %q, want %q", got, want)
	}
	if got, want := reasons["m"], "permanent-failure 404 1 lambda:missing"; got != want {
		t.Errorf("unknown function: %q, want %q", got, want)
	}
	var throttled []lambdafake.Invocation
	for _, c := range fake.Calls() {
		if c.Function == "throttled" {
			throttled = append(throttled, c)
		}
	}
	if len(throttled) != 2 {
		t.Fatalf("throttled function called %d times, want 2 (429, then delivered)", len(throttled))
	}
	if gap := throttled[1].At.Sub(throttled[0].At); gap < 2900*time.Millisecond {
		t.Errorf("retried %v after the 429, want Retry-After's 3 s honoured", gap)
	}
}
