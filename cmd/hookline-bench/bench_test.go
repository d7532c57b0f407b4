package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/signing"
)

// TestMain runs the child modes when the benchmark re-executes the test
// binary as a contender, and otherwise the tests (stopping the harness's
// fauxqs after them).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childArg {
		os.Exit(runChild(os.Args[2:], os.Stderr))
	}
	os.Exit(localstack.RunTests(m))
}

// TestBenchSmoke runs the whole harness, small: the 1-event row for all
// three contenders against the local SQS. It checks that every event
// arrived once, verified, and that the counts add up, never timings.
//
// HOOKLINE_BENCH_HOOKLINE names a prebuilt hookline binary to use instead
// of building one.
func TestBenchSmoke(t *testing.T) {
	const messages = 200
	endpoint := localstack.SQSEndpoint(t)
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{
		Rows:       []Row{{EventsPerMessage: 1, Messages: messages}},
		Endpoint:   endpoint,
		Hookline:   os.Getenv("HOOKLINE_BENCH_HOOKLINE"),
		RunTimeout: time.Minute,
		Progress:   &progress,
	})
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 3 {
		t.Fatalf("%d results, want 3", len(rep.Results))
	}
	for _, r := range rep.Results {
		t.Run(r.Contender, func(t *testing.T) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			c, _ := lookupContender(r.Contender)
			wantDelivered := int64(0)
			if c.delivers {
				wantDelivered = messages
			}
			calls := r.SQS.Calls
			checks := []count{
				{"events delivered", r.Delivered, wantDelivered},
				{"requests rejected", r.Rejected, 0},
				{"messages received", r.SQS.Received, messages},
				{"messages deleted", r.SQS.Deleted, messages},
				{"failed SQS calls", sum(r.SQS.Failed), 0},
				{"messages left in the queue", int64(r.Left), 0},
				{"messages dead-lettered", int64(r.DeadLettered), 0},
			}
			switch r.Contender {
			case keyConsumer:
				checks = append(checks,
					count{"webhook requests", r.Requests, messages},
					count{"DeleteMessage calls", calls["DeleteMessage"], messages})
			case keyBare:
				checks = append(checks, count{"DeleteMessage calls", calls["DeleteMessage"], 0})
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
				}
			}
			if n := calls["ReceiveMessage"]; n < messages/maxReceive {
				t.Errorf("%d ReceiveMessage calls for %d messages: fewer than one per %d", n, messages, maxReceive)
			}
			if c.delivers && (r.Requests < 1 || r.Requests > messages) {
				t.Errorf("%d webhook requests for %d events", r.Requests, messages)
			}
			if r.Elapsed <= 0 || r.CPUTotal <= 0 || r.MaxRSS <= 0 {
				t.Errorf("elapsed %v, CPU %v, peak RSS %d: want all positive", r.Elapsed, r.CPUTotal, r.MaxRSS)
			}
		})
	}

	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 1 | Hookline | 200 |", "| 1 | per-message consumer | 200 |", "| 1 | bare limit | 200 |", "Hookline ÷ bare"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Log("\n" + md.String())
	}
}

// count is a counter the smoke test checks.
type count struct {
	what      string
	got, want int64
}

// The filler's messages are valid Hookline envelopes.
func TestEnvelopeBody(t *testing.T) {
	for _, n := range []int{1, 10, 100} {
		env, err := payload.Decode([]byte(envelopeBody(42, n, 1700000000000)))
		if err != nil {
			t.Fatalf("%d events: %v", n, err)
		}
		if env.ID != "bench-42" || env.AppID != benchAppID || len(env.Events) != n {
			t.Fatalf("%d events: decoded id %q app %q with %d events", n, env.ID, env.AppID, len(env.Events))
		}
		if e := env.Events[n-1]; e.Name != payload.EventClientEvent || e.Data != `{"user":"alice"}` || e.TimeMS != 1700000000000 {
			t.Fatalf("%d events: last event %+v", n, e)
		}
	}
}

func TestSinkChecks(t *testing.T) {
	s := &sink{key: "k", secret: "s"}
	good := []byte(`{"time_ms":1,"events":[{"name":"a"},{"name":"b"}]}`)
	tests := []struct {
		name       string
		method     string
		body       []byte
		key, ctype string
		sig        string
		wantStatus int
		wantEvents int
	}{
		{"good", http.MethodPost, good, "k", "application/json", signing.Sign("s", good), 200, 2},
		{"GET", http.MethodGet, good, "k", "application/json", signing.Sign("s", good), 405, 0},
		{"wrong key", http.MethodPost, good, "x", "application/json", signing.Sign("s", good), 401, 0},
		{"wrong secret", http.MethodPost, good, "k", "application/json", signing.Sign("t", good), 401, 0},
		{"uppercase signature", http.MethodPost, good, "k", "application/json", strings.ToUpper(signing.Sign("s", good)), 401, 0},
		{"content type with charset", http.MethodPost, good, "k", "application/json; charset=utf-8", signing.Sign("s", good), 415, 0},
		{"not JSON", http.MethodPost, []byte("{"), "k", "application/json", signing.Sign("s", []byte("{")), 400, 0},
		{"no time_ms", http.MethodPost, []byte(`{"events":[{"name":"a"}]}`), "k", "application/json", signing.Sign("s", []byte(`{"events":[{"name":"a"}]}`)), 400, 0},
		{"no events", http.MethodPost, []byte(`{"time_ms":1,"events":[]}`), "k", "application/json", signing.Sign("s", []byte(`{"time_ms":1,"events":[]}`)), 400, 0},
		{"nameless event", http.MethodPost, []byte(`{"time_ms":1,"events":[{"channel":"c"}]}`), "k", "application/json", signing.Sign("s", []byte(`{"time_ms":1,"events":[{"channel":"c"}]}`)), 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/pusher", bytes.NewReader(tt.body))
			r.Header.Set("Content-Type", tt.ctype)
			r.Header.Set(signing.HeaderKey, tt.key)
			r.Header.Set(signing.HeaderSignature, tt.sig)
			n, status, why := s.check(r)
			if status != tt.wantStatus || n != tt.wantEvents {
				t.Errorf("check = %d events, status %d (%s); want %d events, status %d", n, status, why, tt.wantEvents, tt.wantStatus)
			}
		})
	}
}

func TestParseRows(t *testing.T) {
	rows, err := parseRows("1:20000, 10:4000,100:1000")
	if err != nil || len(rows) != 3 || rows[2] != (Row{EventsPerMessage: 100, Messages: 1000}) {
		t.Fatalf("parseRows = %v, %v", rows, err)
	}
	for _, bad := range []string{"", "1", "1:0", "0:5", "a:b", "1:2:3"} {
		if _, err := parseRows(bad); err == nil {
			t.Errorf("parseRows(%q): no error", bad)
		}
	}
}
