package localstack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/signing"
)

// receiverDir is the example Lambda function the emulator runs (its own module).
var receiverDir = filepath.Join("..", "examples", "lambda-receiver")

const rieSecret = "secret"

// TestRIE runs the example receiver under the emulator and invokes it over the Invoke REST API,
// the API a Lambda client calls. Subtests share one emulator and run serially: it crashes on
// concurrent invokes.
func TestRIE(t *testing.T) {
	s := localstack.RIE(t, receiverDir, "HOOKLINE_APP_SECRET="+rieSecret)
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("Endpoint = %q, want http://127.0.0.1:PORT", s.Endpoint)
	}

	const pusher = `{"time_ms":1700000000000,"events":[{"name":"member_added","channel":"presence-pusher","user_id":"42","id":"e1:0"}]}`
	soketiBody := `{"time_ms":1700000000000, "events":[{"name":"member_added","channel":"presence-soketi","user_id":"7","id":"e2:0"}]}`
	soketi := func(sig string) string {
		return `{"payload":` + soketiBody + `,"headers":{"X-Pusher-Key":"key","X-Pusher-Signature":"` + sig + `"}}`
	}

	t.Run("pusher shape", func(t *testing.T) {
		status, fnErr, out := invokeRIE(t, s, pusher, "RequestResponse")
		if status != http.StatusOK || fnErr != "" || out != `{"received":1}` {
			t.Fatalf("invoke = %d, X-Amz-Function-Error %q, %s; want 200, none, {\"received\":1}", status, fnErr, out)
		}
		waitOutput(t, s, "hookline-event name=member_added channel=presence-pusher id=e1:0 user_id=42", 1)
	})

	t.Run("soketi shape, signed over the exact payload bytes", func(t *testing.T) {
		// The space in soketiBody makes a re-marshalled payload fail the check.
		status, fnErr, out := invokeRIE(t, s, soketi(signing.Sign(rieSecret, []byte(soketiBody))), "RequestResponse")
		if status != http.StatusOK || fnErr != "" || out != `{"received":1}` {
			t.Fatalf("invoke = %d, X-Amz-Function-Error %q, %s; want 200, none, {\"received\":1}", status, fnErr, out)
		}
		waitOutput(t, s, "hookline-event name=member_added channel=presence-soketi id=e2:0 user_id=7", 1)
	})

	// The emulator reports a function error as 200 with the error document for a body and
	// without X-Amz-Function-Error (it drops the header Lambda sets): a Lambda client's
	// FunctionError stays nil. Pinned here so RIEServer's documentation stays true.
	functionError := []struct{ name, in string }{
		{"soketi shape, bad signature", soketi(signing.Sign("wrong", []byte(soketiBody)))},
		{"malformed payload", `{"time_ms":1,"events":{}}`},
	}
	for _, tt := range functionError {
		t.Run(tt.name, func(t *testing.T) {
			status, fnErr, out := invokeRIE(t, s, tt.in, "RequestResponse")
			var doc struct{ ErrorType, ErrorMessage string }
			if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.ErrorType != "PayloadError" {
				t.Fatalf("invoke = %d, %s; want an error document with errorType PayloadError", status, out)
			}
			if status != http.StatusOK || fnErr != "" {
				t.Errorf("invoke = %d, X-Amz-Function-Error %q; the emulator used to answer 200 without the header: "+
					"update RIEServer's documentation", status, fnErr)
			}
		})
	}

	t.Run("invocation type Event still runs synchronously", func(t *testing.T) {
		status, _, out := invokeRIE(t, s, strings.Replace(pusher, "presence-pusher", "presence-event", 1), "Event")
		if status != http.StatusOK || out != `{"received":1}` {
			t.Errorf("invoke = %d, %s; the emulator used to ignore X-Amz-Invocation-Type (Lambda: 202, empty body): "+
				"update RIEServer's documentation", status, out)
		}
		waitOutput(t, s, "channel=presence-event", 1)
	})

	t.Run("WaitOutput counts and gives up", func(t *testing.T) {
		waitOutput(t, s, "hookline-event name=member_added", 3)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := s.WaitOutput(ctx, "hookline-event name=member_added", 4); err == nil {
			t.Errorf("WaitOutput(4 events) = nil after 3 invokes; output:\n%s", s.Output())
		}
	})
}

// invokeRIE calls the Invoke REST API with the function name the emulator serves and returns
// the status, the X-Amz-Function-Error header and the response payload.
func invokeRIE(t *testing.T, s *localstack.RIEServer, payload, invocationType string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := s.Endpoint + "/2015-03-31/functions/" + localstack.RIEFunctionName + "/invocations"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Invocation-Type", invocationType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v; output:\n%s", err, s.Output())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("invoke: read response: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("X-Amz-Function-Error"), string(body)
}

func waitOutput(t *testing.T, s *localstack.RIEServer, substr string, count int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitOutput(ctx, substr, count); err != nil {
		t.Fatalf("%v; output:\n%s", err, s.Output())
	}
}
