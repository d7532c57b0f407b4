package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/signing"
)

// TestRIE builds this function, runs it under the AWS Lambda Runtime Interface Emulator and
// invokes it with the real aws-sdk-go-v2 Lambda client, configured as Hookline's worker
// configures it (one attempt). The emulator is installed into <repo>/.tools/bin on first use
// (`make tools`); without it the test skips, or fails when CI is set. Invokes are serial: the
// emulator crashes on concurrent ones.
func TestRIE(t *testing.T) {
	s := localstack.RIE(t, ".", secretEnv+"="+testSecret)
	client := lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.Endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
	invoke := func(t *testing.T, payload string) *lambda.InvokeOutput {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := client.Invoke(ctx, &lambda.InvokeInput{
			FunctionName:   aws.String(localstack.RIEFunctionName),
			InvocationType: types.InvocationTypeRequestResponse,
			Payload:        []byte(payload),
		})
		if err != nil {
			t.Fatalf("Invoke: %v; emulator output:\n%s", err, s.Output())
		}
		return out
	}
	waitOutput := func(t *testing.T, substr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.WaitOutput(ctx, substr, 1); err != nil {
			t.Fatalf("%v; output:\n%s", err, s.Output())
		}
	}

	t.Run("pusher shape", func(t *testing.T) {
		out := invoke(t, pusherBody)
		if out.StatusCode != 200 || out.FunctionError != nil || string(out.Payload) != `{"received":1}` {
			t.Fatalf("Invoke = %d, FunctionError %v, %s; want 200, nil, {\"received\":1}",
				out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
		}
		waitOutput(t, "hookline-event name=member_added channel=presence-room id=env-1:0 user_id=42")
	})

	t.Run("soketi shape", func(t *testing.T) {
		out := invoke(t, soketi(spacedBody, signing.Sign(testSecret, []byte(spacedBody))))
		if out.StatusCode != 200 || out.FunctionError != nil || string(out.Payload) != `{"received":2}` {
			t.Fatalf("Invoke = %d, FunctionError %v, %s; want 200, nil, {\"received\":2}",
				out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
		}
		waitOutput(t, "hookline-event name=channel_vacated channel=room-1")
	})

	// Lambda answers a function error with X-Amz-Function-Error: Unhandled, which the client
	// maps to FunctionError. The emulator drops that header: FunctionError stays nil and only the
	// payload, an error document, tells. Both are accepted so the test passes on either.
	t.Run("malformed payload", func(t *testing.T) {
		out := invoke(t, `{"time_ms":1,"events":{}}`)
		var doc struct{ ErrorType, ErrorMessage string }
		if err := json.Unmarshal(out.Payload, &doc); err != nil || doc.ErrorType != "PayloadError" {
			t.Fatalf("Invoke payload = %s, want an error document with errorType PayloadError", out.Payload)
		}
		if fe := aws.ToString(out.FunctionError); fe != "" && fe != "Unhandled" {
			t.Errorf("FunctionError = %q, want Unhandled (Lambda) or none (the emulator)", fe)
		}
	})
}
