// Command lambda-receiver is an AWS Lambda function that receives Hookline webhooks.
//
// It accepts both invocation payloads Hookline sends to Lambda targets:
//
//   - "pusher" (lambda.payload_format default): the Pusher webhook body
//     {"time_ms":<int>,"events":[...]} itself;
//   - "soketi": {"payload":<the Pusher body>,"headers":{"X-Pusher-Key":...,"X-Pusher-Signature":...}}.
//     When HOOKLINE_APP_SECRET is set, X-Pusher-Signature is verified over the exact bytes of
//     "payload" as they appear in the invocation payload.
//
// It writes one line per event to stdout (CloudWatch Logs on AWS):
//
//	hookline-event name=member_added channel=presence-room id=env-1:0 user_id=42
//
// and returns {"received":<number of events>}. A payload it cannot use (not JSON, neither
// shape, a bad signature) is returned as an error, which Lambda reports as a function error
// (X-Amz-Function-Error: Unhandled, errorType "PayloadError"): for RequestResponse invocations
// Hookline retries it and eventually dead-letters it.
//
// Build for the provided.al2023 runtime:
//
//	GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap .
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

// secretEnv names the environment variable holding the app secret used to verify soketi-shaped
// invocations. Unset or empty: signatures are not checked.
const secretEnv = "HOOKLINE_APP_SECRET"

func main() {
	h := &handler{secret: os.Getenv(secretEnv), out: os.Stdout}
	lambda.Start(h.handle)
}
