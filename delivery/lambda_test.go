package delivery_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/delivery/lambdafake"
	"github.com/hookline/hookline/signing"
)

func lambdaSender() *delivery.Lambda {
	return delivery.NewLambda(delivery.LambdaOptions{AWS: aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}})
}

func lambdaRequest(fake *lambdafake.Server, l config.Lambda) *delivery.Request {
	body := []byte(`{"time_ms":1,"events":[{"name":"member_added","channel":"presence-x","user_id":"u1"}]}`)
	l.EndpointURL = fake.URL
	if l.InvocationType == "" {
		l.InvocationType = "Event"
	}
	return &delivery.Request{
		AppKey: "key", Signature: signing.Sign("secret", body), Body: body, Attempt: 2, Events: 1,
		Webhook: &config.Webhook{ID: "wh", Lambda: &l, RequestTimeout: 2 * time.Second,
			Headers: map[string]string{"X-Source": "hookline-test"}},
	}
}

func TestLambdaOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		invocation string
		reply      lambdafake.Reply
		class      delivery.Class
		status     int
		reason     string
		retryAfter time.Duration
	}{
		{"event accepted", "Event", lambdafake.Reply{}, delivery.Delivered, 202, "", 0},
		{"request-response ok", "RequestResponse", lambdafake.Reply{Payload: `{"ok":true}`}, delivery.Delivered, 200, "", 0},
		{"function error", "RequestResponse", lambdafake.Reply{FunctionError: "Unhandled", Payload: `{"errorMessage":"boom"}`},
			delivery.Retryable, 200, "lambda-function-error", 0},
		{"throttled", "Event", lambdafake.Reply{Status: 429, ErrorType: "TooManyRequestsException", RetryAfter: "7"},
			delivery.Retryable, 429, "lambda-throttled", 7 * time.Second},
		{"throttle clamped", "Event", lambdafake.Reply{Status: 429, ErrorType: "TooManyRequestsException", RetryAfter: "5000"},
			delivery.Retryable, 429, "lambda-throttled", 900 * time.Second},
		{"service error", "Event", lambdafake.Reply{Status: 500, ErrorType: "ServiceException"},
			delivery.Retryable, 500, "lambda-ServiceException", 0},
		{"bare 503", "Event", lambdafake.Reply{Status: 503}, delivery.Retryable, 503, "lambda-UnknownError", 0},
		{"not found", "Event", lambdafake.Reply{Status: 404, ErrorType: "ResourceNotFoundException"},
			delivery.Permanent, 404, "lambda-not-found", 0},
		{"too large", "RequestResponse", lambdafake.Reply{Status: 413, ErrorType: "RequestTooLargeException"},
			delivery.TooLarge, 413, "lambda-request-too-large", 0},
		{"invalid content", "Event", lambdafake.Reply{Status: 400, ErrorType: "InvalidRequestContentException"},
			delivery.Permanent, 400, "lambda-invalid-request", 0},
		{"access denied", "Event", lambdafake.Reply{Status: 403, ErrorType: "AccessDeniedException"},
			delivery.Permanent, 403, "lambda-AccessDeniedException", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := lambdafake.New()
			defer fake.Close()
			fake.Script(func(lambdafake.Invocation, int) lambdafake.Reply { return tt.reply })
			out := lambdaSender().Send(context.Background(), lambdaRequest(fake, config.Lambda{
				FunctionName: "handler", InvocationType: tt.invocation, PayloadFormat: "pusher"}))
			if out.Class != tt.class || out.Status != tt.status || out.Reason != tt.reason || out.RetryAfter != tt.retryAfter {
				t.Errorf("outcome %+v, want class %v status %d reason %q retry-after %v", out, tt.class, tt.status, tt.reason, tt.retryAfter)
			}
			if n := len(fake.Calls()); n != 1 {
				t.Errorf("%d invocations, want exactly 1 (no SDK retries)", n)
			}
		})
	}
}

func TestLambdaRequestShape(t *testing.T) {
	fake := lambdafake.New()
	defer fake.Close()
	req := lambdaRequest(fake, config.Lambda{FunctionName: "presence", InvocationType: "RequestResponse",
		Qualifier: "live", PayloadFormat: "pusher"})
	if out := lambdaSender().Send(context.Background(), req); out.Class != delivery.Delivered {
		t.Fatalf("outcome %+v", out)
	}
	call := fake.Calls()[0]
	if call.Function != "presence" || call.InvocationType != "RequestResponse" || call.Qualifier != "live" {
		t.Errorf("invocation %+v", call)
	}
	if string(call.Payload) != string(req.Body) {
		t.Errorf("payload %s, want the signed Pusher body unchanged", call.Payload)
	}

	// soketi's shape: the body embedded byte for byte, headers beside it.
	req = lambdaRequest(fake, config.Lambda{FunctionName: "presence", PayloadFormat: "soketi"})
	if out := lambdaSender().Send(context.Background(), req); out.Class != delivery.Delivered {
		t.Fatalf("outcome %+v", out)
	}
	var got struct {
		Payload json.RawMessage   `json:"payload"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(fake.Calls()[1].Payload, &got); err != nil {
		t.Fatal(err)
	}
	if string(got.Payload) != string(req.Body) || !signing.Verify("secret", got.Payload, got.Headers["X-Pusher-Signature"]) {
		t.Errorf("soketi payload does not verify: %s", got.Payload)
	}
	if got.Headers["X-Pusher-Key"] != "key" || got.Headers["X-Source"] != "hookline-test" || got.Headers["X-Hookline-Attempt"] != "2" {
		t.Errorf("soketi headers %v", got.Headers)
	}
}

func TestLambdaTimeoutAndClientReuse(t *testing.T) {
	fake := lambdafake.New()
	defer fake.Close()
	block := make(chan struct{})
	defer close(block)
	fake.Script(func(_ lambdafake.Invocation, n int) lambdafake.Reply {
		if n == 1 {
			<-block
		}
		return lambdafake.Reply{}
	})
	built := 0
	l := delivery.NewLambda(delivery.LambdaOptions{NewClient: func(region, endpoint string) delivery.Invoker {
		built++
		return lambdaSender().ClientFor(region, endpoint)
	}})
	req := lambdaRequest(fake, config.Lambda{FunctionName: "slow", InvocationType: "RequestResponse"})
	req.Webhook.RequestTimeout = 100 * time.Millisecond
	if out := l.Send(context.Background(), req); out.Class != delivery.Retryable || out.Reason != "timeout" {
		t.Errorf("outcome %+v, want retryable timeout", out)
	}
	for range 3 {
		if out := l.Send(context.Background(), lambdaRequest(fake, config.Lambda{FunctionName: "f"})); out.Class != delivery.Delivered {
			t.Errorf("outcome %+v", out)
		}
	}
	if built != 1 {
		t.Errorf("built %d clients for one (region, endpoint), want 1", built)
	}
	if out := l.Send(context.Background(), &delivery.Request{Webhook: &config.Webhook{}}); out.Class != delivery.Permanent {
		t.Errorf("request without a Lambda target: %+v", out)
	}
}
