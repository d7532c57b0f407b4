package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	code := localstack.RunTests(m)
	if testBuild.dir != "" {
		_ = os.RemoveAll(testBuild.dir)
	}
	os.Exit(code)
}

// testBuild is the hookline binary the tests share, built once.
var testBuild struct {
	once      sync.Once
	dir, path string
	err       error
}

// hooklineBinary is HOOKLINE_BENCH_HOOKLINE, a prebuilt hookline binary,
// or one built once for all the tests.
func hooklineBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HOOKLINE_BENCH_HOOKLINE"); p != "" {
		return p
	}
	testBuild.once.Do(func() {
		if testBuild.dir, testBuild.err = os.MkdirTemp("", "hookline-bench-test-"); testBuild.err != nil {
			return
		}
		testBuild.path = filepath.Join(testBuild.dir, "hookline")
		out, err := exec.Command("go", "build", "-o", testBuild.path, "github.com/hookline/hookline/cmd/hookline").CombinedOutput()
		if err != nil {
			testBuild.err = fmt.Errorf("go build hookline: %w\n%s", err, out)
		}
	})
	if testBuild.err != nil {
		t.Fatal(testBuild.err)
	}
	return testBuild.path
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
		Hookline:   hooklineBinary(t),
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

// TestHungSmoke runs the hung scenario, trimmed: 20 events/s for 6 s with
// a 2 s outage. It checks that every event reached both webhooks and that
// the counts add up, never timings.
func TestHungSmoke(t *testing.T) {
	endpoint := localstack.SQSEndpoint(t)
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunHung(ctx, Config{
		Endpoint:   endpoint,
		Hookline:   hooklineBinary(t),
		RunTimeout: time.Minute,
		Progress:   &progress,
		Hung: HungConfig{Rate: 20, EventsPerMessage: 5, Send: 6 * time.Second,
			OutageStart: time.Second, OutageEnd: 3 * time.Second, Recovery: time.Minute},
	})
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Err != nil {
		t.Fatal(rep.Err)
	}
	if rep.Sent < 5 || rep.Sent != rep.Envelopes*5 || rep.Sent > 20*6 {
		t.Errorf("sent %d events in %d envelopes, want 5 a envelope and at most 120", rep.Sent, rep.Envelopes)
	}
	for _, wh := range []struct {
		name string
		s    webhookStats
	}{{webhookHealthy, rep.Healthy}, {webhookHung, rep.Hung}} {
		checks := []count{
			{wh.name + " unique events", wh.s.Unique, rep.Sent},
			{wh.name + " lost events", rep.Lost(wh.s), 0},
			{wh.name + " events received", wh.s.Events, wh.s.Unique + wh.s.Duplicates},
			{wh.name + " first arrivals", int64(len(wh.s.Arrivals)), wh.s.Unique},
			{wh.name + " requests rejected", wh.s.Rejected, 0},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
			}
		}
		if wh.s.Requests < 1 || wh.s.Requests > wh.s.Events {
			t.Errorf("%s: %d requests for %d events", wh.name, wh.s.Requests, wh.s.Events)
		}
	}
	if rep.Left != 0 || rep.DeadLettered != 0 {
		t.Errorf("after the stop %d messages in the queue and %d dead-lettered, want none", rep.Left, rep.DeadLettered)
	}
	if rep.MetricsErr != nil {
		t.Errorf("metrics: %v", rep.MetricsErr)
	} else if got := rep.Metrics.total("hookline_worker_events_delivered_total"); got != float64(rep.Healthy.Events+rep.Hung.Events) {
		t.Errorf("hookline_worker_events_delivered_total = %g, want %d (the events both webhooks accepted)", got, rep.Healthy.Events+rep.Hung.Events)
	}

	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| healthy | ", "| hung | ", "hookline_worker_handbacks_total", "none: met"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Log("\n" + md.String())
	}
}

// TestBacklogSmoke runs the backlog scenario, trimmed: 200 messages of 10
// events. It checks that the backlog was drained once and sampled, never
// timings or memory.
func TestBacklogSmoke(t *testing.T) {
	const messages, perMessage = 200, 10
	endpoint := localstack.SQSEndpoint(t)
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunBacklog(ctx, Config{
		Endpoint:   endpoint,
		Hookline:   hooklineBinary(t),
		RunTimeout: time.Minute,
		Progress:   &progress,
		Backlog:    BacklogConfig{Messages: messages, EventsPerMessage: perMessage, Sample: 20 * time.Millisecond},
	})
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Result
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	checks := []count{
		{"events delivered", r.Delivered, messages * perMessage},
		{"requests rejected", r.Rejected, 0},
		{"messages received", r.SQS.Received, messages},
		{"messages deleted", r.SQS.Deleted, messages},
		{"failed SQS calls", sum(r.SQS.Failed), 0},
		{"messages left in the queue", int64(r.Left), 0},
		{"messages dead-lettered", int64(r.DeadLettered), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}
	if len(rep.Samples) == 0 {
		t.Fatal("no samples")
	}
	for _, s := range rep.Samples {
		if s.rss <= 0 {
			t.Fatalf("sample %+v: want a positive RSS", s)
		}
	}
	if slices.IndexFunc(rep.Samples, func(s memSample) bool { return s.goroutines > 0 }) < 0 {
		t.Errorf("no sample has a goroutine count: %+v", rep.Samples)
	}

	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 2000 | 200 |", "RSS ≤ 100 MB"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Log("\n" + md.String())
	}
}

// TestPipelineSmoke runs table 2, trimmed: one row of 200 events/s for
// 2 s through the real ingest and worker. It checks correctness only:
// every event of every POST answered 200 arrived once by event id, nothing
// lost, the queues empty at the end; never timings.
func TestPipelineSmoke(t *testing.T) {
	endpoint := localstack.SQSEndpoint(t)
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunPipeline(ctx, Config{
		Endpoint:   endpoint,
		Hookline:   hooklineBinary(t),
		RunTimeout: time.Minute,
		Progress:   &progress,
		Pipeline:   PipelineConfig{Rates: []int{200}, Duration: 2 * time.Second, Recovery: time.Minute},
	})
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rep.Rows))
	}
	r := rep.Rows[0]
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	checks := []count{
		{"POSTs not answered 200", r.PostFailed, 0},
		{"events answered 200", r.Sent, r.Accepted * pipelinePostSize},
		{"unique events at the receiver", r.Unique, r.Sent},
		{"events lost", r.Lost, 0},
		{"extra events", r.Extra, 0},
		{"requests rejected", r.Rejected, 0},
		{"failed SQS calls", sum(r.IngestSQS.Failed) + sum(r.WorkerSQS.Failed), 0},
		{"messages left in the queue", int64(r.Left), 0},
		{"messages dead-lettered", int64(r.DeadLettered), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}
	if r.Accepted < 1 {
		t.Errorf("no POST answered 200")
	}
	if r.IngestSQS.Billed["SendMessageBatch"] < 1 || r.WorkerSQS.Billed["ReceiveMessage"] < 1 {
		t.Errorf("billed requests: ingest %v, worker %v; want SendMessageBatch from ingest and ReceiveMessage from the worker",
			r.IngestSQS.Billed, r.WorkerSQS.Billed)
	}

	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 200/s | ", "ingest SendMessageBatch", "<svg ", "</svg>"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Log("\n" + md.String())
	}
}

func TestPipelineBodyAndMarkers(t *testing.T) {
	body := pipelineBody(42, 1700000000000)
	b, err := payload.DecodeBody(body)
	if err != nil {
		t.Fatalf("pipelineBody: %v\n%s", err, body)
	}
	if b.TimeMS != 1700000000000 || len(b.Events) != pipelinePostSize {
		t.Fatalf("time_ms %d, %d events", b.TimeMS, len(b.Events))
	}
	for i, e := range b.Events {
		post, idx, ok := parseMarker(e.UserID)
		if !ok || post != 42 || idx != i || e.TimeMS != 1700000000000 {
			t.Errorf("events[%d]: user_id %q → %d, %d, %v; time_ms %d", i, e.UserID, post, idx, ok, e.TimeMS)
		}
	}
	for _, bad := range []string{"", "p", "p1", "x1-2", "p1-10", "p-1-2", "p1-x"} {
		if _, _, ok := parseMarker(bad); ok {
			t.Errorf("parseMarker(%q) ok", bad)
		}
	}
	for _, c := range []struct{ size, want int64 }{{0, 1}, {1, 1}, {65536, 1}, {65537, 2}, {262144, 4}} {
		if got := billedUnits(c.size); got != c.want {
			t.Errorf("billedUnits(%d) = %d, want %d", c.size, got, c.want)
		}
	}
	if got, err := parseRates("500, 2000,full"); err != nil || !slices.Equal(got, []int{500, 2000, 0}) {
		t.Errorf("parseRates = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "-5", "fast"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) ok", bad)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
hookline_worker_handbacks_total{cause="webhook_wait"} 3
hookline_worker_handbacks_total{cause="webhook_queue"} 1.5e+01

hookline_worker_sqs_calls_total{op="ReceiveMessage",outcome="ok"} 7 1700000000000
`
	p, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.total("go_goroutines"); got != 42 {
		t.Errorf("go_goroutines = %g, want 42", got)
	}
	if got := p.total("hookline_worker_handbacks_total"); got != 18 {
		t.Errorf("handbacks total = %g, want 18", got)
	}
	if s := p.series("hookline_worker_handbacks_total"); len(s) != 2 || s[0].labels != `cause="webhook_queue"` || s[0].value != 15 {
		t.Errorf("handbacks series = %+v", s)
	}
	if got := p.total("hookline_worker_sqs_calls_total"); got != 7 {
		t.Errorf("sqs calls = %g, want 7 (a timestamp is not the value)", got)
	}
	if p.has("hookline_worker") || !p.has("go_goroutines") {
		t.Error("has: a prefix matched, or a metric was missed")
	}
	if _, err := parseMetrics(strings.NewReader("bad_line\n")); err == nil {
		t.Error("a line without a value: no error")
	}
}

func TestSummaries(t *testing.T) {
	var arr []arrival
	for i := range 100 {
		arr = append(arr, arrival{sentMS: int64(i), delay: time.Duration(i+1) * time.Millisecond})
	}
	if d := summarise(arr, 0, 0); d.n != 100 || d.p50 != 50*time.Millisecond || d.p99 != 99*time.Millisecond || d.max != 100*time.Millisecond {
		t.Errorf("summarise all = %+v", d)
	}
	if d := summarise(arr, 10, 20); d.n != 10 || d.max != 20*time.Millisecond {
		t.Errorf("summarise [10, 20) = %+v", d)
	}
	st := summariseRSS([]memSample{{rss: 10, goroutines: 5}, {rss: 30, goroutines: -1}, {rss: 20, goroutines: 9}, {rss: 40, goroutines: 7}})
	if st.min != 10 || st.median != 20 || st.max != 40 || st.firstQuarter != 10 || st.lastQuar != 40 || st.gMin != 5 || st.gMax != 9 {
		t.Errorf("summariseRSS = %+v", st)
	}
	if got := sparkline([]int64{0, 4, 8}, 60); got != "▁▄█" {
		t.Errorf("sparkline = %q", got)
	}
}

// count is a counter the smoke test checks.
type count struct {
	what      string
	got, want int64
}

// The hung scenario's messages are valid Hookline envelopes, each event of
// its own user.
func TestHungEnvelope(t *testing.T) {
	env, err := payload.Decode([]byte(hungEnvelope(7, 3, 1700000000000)))
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != "hung-7" || env.AppID != benchAppID || len(env.Events) != 3 {
		t.Fatalf("decoded id %q app %q with %d events", env.ID, env.AppID, len(env.Events))
	}
	if e := env.Events[2]; e.Name != payload.EventClientEvent || e.UserID != "u7-2" || e.TimeMS != 1700000000000 {
		t.Fatalf("last event %+v", e)
	}
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
