package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/ingest"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/producer"
	"github.com/hookline/hookline/registry"
	"github.com/hookline/hookline/signing"
)

// fakePublisher records what it is asked to publish, or fails as told.
type fakePublisher struct {
	mu    sync.Mutex
	calls []published
	err   error
}

type published struct {
	appID  string
	events []payload.Event
}

func (f *fakePublisher) Publish(_ context.Context, appID string, events ...payload.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.calls = append(f.calls, published{appID, slices.Clone(events)})
	return nil
}

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`{"app_manager":{"array":{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1"}]}}}`),
		config.Sources{}, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newServer(t *testing.T, pub ingest.Publisher, opts ingest.Options) *httptest.Server {
	t.Helper()
	opts.Config = testConfig(t)
	h, err := ingest.New(pub, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status     int
	retryAfter string
	body       map[string]any
}

func post(t *testing.T, url, key, secret, ctype, body string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		req.Header.Set("X-Pusher-Key", key)
		req.Header.Set("X-Pusher-Signature", signing.Sign(secret, []byte(body)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := response{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	_ = json.NewDecoder(resp.Body).Decode(&r.body)
	return r
}

const pusherBody = `{"time_ms":1700000000000,"events":[{"name":"channel_occupied","channel":"presence-a"},` +
	`{"name":"client_event","channel":"private-b","event":"client-x","data":{"n":1},"socket_id":"1.2","time_ms":1700000000005}]}`

func TestStatusCodes(t *testing.T) {
	pub := &fakePublisher{}
	srv := newServer(t, pub, ingest.Options{MaxBodyBytes: 4096})
	tests := []struct {
		name, path, key, secret, ctype, body string
		status                               int
		msg                                  string
	}{
		{"ok", "/pusher", "key-1", "secret-1", "application/json", pusherBody, 200, ""},
		{"charset allowed", "/pusher", "key-1", "secret-1", "application/json; charset=utf-8", pusherBody, 200, ""},
		{"bad signature", "/pusher", "key-1", "wrong", "application/json", pusherBody, 401, "X-Pusher-Signature"},
		{"unknown key", "/pusher", "nobody", "secret-1", "application/json", pusherBody, 401, "unknown X-Pusher-Key"},
		{"no key", "/pusher", "", "", "application/json", pusherBody, 401, "missing X-Pusher-Key"},
		{"malformed", "/pusher", "key-1", "secret-1", "application/json", `{"time_ms":1,"events":[{"channel":"x"}]}`, 400, "name"},
		{"not json", "/pusher", "key-1", "secret-1", "text/plain", pusherBody, 415, "application/json"},
		{"too large", "/pusher", "key-1", "secret-1", "application/json", `{"x":"` + strings.Repeat("a", 5000) + `"}`, 413, "4096"},
		{"json endpoint", "/events", "key-1", "secret-1", "application/json", `{"events":[{"name":"member_added","channel":"presence-c","user_id":"u"}]}`, 200, ""},
		{"json endpoint empty", "/events", "key-1", "secret-1", "application/json", `{"events":[]}`, 400, "empty"},
		{"unknown path", "/nope", "key-1", "secret-1", "application/json", pusherBody, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, srv.URL+tt.path, tt.key, tt.secret, tt.ctype, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d (%v)", r.status, tt.status, r.body)
			}
			if tt.msg != "" && !strings.Contains(fmt.Sprint(r.body["error"]), tt.msg) {
				t.Errorf("error %q, want it to mention %q", r.body["error"], tt.msg)
			}
		})
	}
	resp, err := http.Get(srv.URL + "/pusher")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
		t.Errorf("GET /pusher: %d Allow %q, want 405 with Allow", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// What was enqueued: the Pusher body's events with their time, data as a
	// string, no secret anywhere.
	c := pub.calls[0]
	if c.appID != "app-1" || len(c.events) != 2 {
		t.Fatalf("published %+v", c)
	}
	if c.events[0].TimeMS != 1700000000000 || c.events[1].TimeMS != 1700000000005 {
		t.Errorf("event times %d %d: each keeps its own, else the body's", c.events[0].TimeMS, c.events[1].TimeMS)
	}
	if c.events[1].Data != `{"n":1}` {
		t.Errorf("client_event data %q, want the JSON string", c.events[1].Data)
	}
	b, _ := payload.Encode(&payload.Envelope{V: payload.Version, ID: "x", AppID: c.appID, Events: c.events})
	if strings.Contains(string(b), "secret-1") {
		t.Errorf("the envelope contains the app secret: %s", b)
	}
}

func TestSameBodyIsEnqueuedOnce(t *testing.T) {
	pub := &fakePublisher{}
	srv := newServer(t, pub, ingest.Options{})
	first := post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json", pusherBody)
	second := post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json", pusherBody)
	if first.status != 200 || second.status != 200 || second.body["duplicate"] != true {
		t.Fatalf("first %+v, second %+v", first, second)
	}
	if len(pub.calls) != 1 {
		t.Errorf("%d publishes for the same POST twice, want 1", len(pub.calls))
	}
	other := post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json", strings.Replace(pusherBody, "presence-a", "presence-z", 1))
	if other.status != 200 || len(pub.calls) != 2 || pub.calls[0].events[0].ID == pub.calls[1].events[0].ID {
		t.Errorf("a different body must be published again with new event ids: %+v", other)
	}
}

func TestQueueUnavailableIs503WithRetryAfter(t *testing.T) {
	for _, err := range []error{
		context.DeadlineExceeded,
		fmt.Errorf("x: %w", producer.ErrOutcomeUnknown),
		&producer.SendError{AppID: "app-1", Events: 2, Code: "InternalError", Err: errors.New("boom")},
	} {
		pub := &fakePublisher{err: err}
		srv := newServer(t, pub, ingest.Options{RetryAfter: 7 * time.Second})
		r := post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json", pusherBody)
		if r.status != 503 || r.retryAfter != "7" {
			t.Errorf("%v: status %d Retry-After %q, want 503 and 7", err, r.status, r.retryAfter)
		}
	}
	// SQS refusing the events (AccessDenied, a missing queue) is the
	// deployment's fault, and the message held other POSTs' events too:
	// the sender is told to retry, never that its request was bad.
	pub := &fakePublisher{err: &producer.SendError{AppID: "app-1", Code: "AccessDenied", SenderFault: true}}
	srv := newServer(t, pub, ingest.Options{RetryAfter: 7 * time.Second})
	if r := post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json", pusherBody); r.status != 503 || r.retryAfter != "7" ||
		!strings.Contains(fmt.Sprint(r.body["error"]), "AccessDenied") {
		t.Errorf("sender fault: %d Retry-After %q %v, want 503, 7 and the code", r.status, r.retryAfter, r.body)
	}
	// A validation error of the producer is the request's: 400 with it.
	pub = &fakePublisher{err: fmt.Errorf(`%w: events[0]: missing "name"`, producer.ErrInvalid)}
	srv = newServer(t, pub, ingest.Options{})
	if r := post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json", pusherBody); r.status != 400 ||
		!strings.Contains(fmt.Sprint(r.body["error"]), "name") {
		t.Errorf("invalid events: %d %v, want 400 saying why", r.status, r.body)
	}
}

// A negative time_ms, on the body or an event, is a 400 naming it; the
// publisher is not called.
func TestNegativeTimeIs400(t *testing.T) {
	pub := &fakePublisher{}
	srv := newServer(t, pub, ingest.Options{})
	for body, want := range map[string]string{
		`{"time_ms":-5,"events":[{"name":"channel_occupied","channel":"c"}]}`:              `"time_ms": negative (-5)`,
		`{"time_ms":1,"events":[{"name":"a","channel":"c"},{"name":"b","time_ms":-2}]}`:    `events[1]: "time_ms": negative (-2)`,
		`{"time_ms":-1,"events":[{"name":"channel_occupied","channel":"c","time_ms":12}]}`: `"time_ms": negative (-1)`,
	} {
		if r := post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json", body); r.status != 400 || r.body["error"] != want {
			t.Errorf("%s: %d %v, want 400 %q", body, r.status, r.body, want)
		}
	}
	if len(pub.calls) != 0 {
		t.Errorf("%d publishes of invalid bodies", len(pub.calls))
	}
}

// A POST with more events than one Publish call takes is published in
// parts, in body order (FIFO queues keep it), every event once.
func TestLargePostIsPublishedInParts(t *testing.T) {
	pub := &fakePublisher{}
	srv := newServer(t, pub, ingest.Options{MaxEventsPerPublish: 100, MaxBodyBytes: 1 << 20})
	var evs []string
	for i := range 250 {
		evs = append(evs, fmt.Sprintf(`{"name":"member_added","channel":"presence-x","user_id":"u%d"}`, i))
	}
	r := post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json", `{"time_ms":1,"events":[`+strings.Join(evs, ",")+`]}`)
	if r.status != 200 || r.body["events"] != float64(250) {
		t.Fatalf("%+v", r)
	}
	if len(pub.calls) != 3 {
		t.Fatalf("%d Publish calls, want 3 (100, 100, 50)", len(pub.calls))
	}
	seen := map[string]string{}
	var order []string
	for _, c := range pub.calls {
		if len(c.events) > 100 {
			t.Errorf("a call of %d events", len(c.events))
		}
		for _, e := range c.events {
			seen[e.UserID] = e.ID
			order = append(order, e.UserID)
		}
	}
	for i, u := range order {
		if u != "u"+strconv.Itoa(i) {
			t.Fatalf("published order %v…: event %d is %s, want the body's order", order[:min(len(order), 5)], i, u)
		}
	}
	prefix, _, _ := strings.Cut(seen["u0"], ":")
	for i := range 250 {
		if id := seen["u"+strconv.Itoa(i)]; id != prefix+":"+strconv.Itoa(i) {
			t.Errorf("u%d: id %q, want %s:%d", i, id, prefix, i)
		}
	}
}

// A body still arriving at the server's read timeout gets 408, and the
// answer names no socket address.
func TestSlowBodyIs408(t *testing.T) {
	h, err := ingest.New(&fakePublisher{}, ingest.Options{Config: testConfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/pusher", pr)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", "key-1")
	req.Header.Set("X-Pusher-Signature", signing.Sign("secret-1", []byte(pusherBody)))
	go func() { _, _ = pw.Write([]byte(pusherBody[:10])) }() // then nothing more until the answer
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || strings.Contains(string(b), "127.0.0.1") {
		t.Errorf("%d %s, want 408 without addresses", resp.StatusCode, b)
	}
}

// Every event of a POST gets its own delivery id: distinct, "ing-<hash of
// key and body>:<index>", the same when the sender retries the POST on
// another instance (no shared dedup memory), different for another body.
func TestEventsGetStableIDs(t *testing.T) {
	var evs []string
	for i := range 25 {
		evs = append(evs, fmt.Sprintf(`{"name":"member_added","channel":"presence-x","user_id":"u%d","id":"sender-%d"}`, i, i%2))
	}
	body := `{"time_ms":1,"events":[` + strings.Join(evs, ",") + `]}`
	ids := func(body string) []string {
		pub := &fakePublisher{}
		srv := newServer(t, pub, ingest.Options{})
		if r := post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json", body); r.status != 200 || r.body["events"] != float64(25) {
			t.Fatalf("%+v", r)
		}
		var out []string
		for _, e := range pub.calls[0].events {
			out = append(out, e.ID)
		}
		return out
	}
	first, again := ids(body), ids(body)
	if !slices.Equal(first, again) {
		t.Errorf("the same POST on two instances: ids\n%v\n%v", first, again)
	}
	prefix, _, _ := strings.Cut(first[0], ":")
	if !strings.HasPrefix(prefix, "ing-") || len(prefix) != len("ing-")+32 {
		t.Errorf("id %q, want ing-<32 hex digits>:<index>", first[0])
	}
	for i, id := range first {
		if want := prefix + ":" + strconv.Itoa(i); id != want {
			t.Errorf("events[%d]: id %q, want %q (the sender's own id is replaced)", i, id, want)
		}
	}
	if other := ids(strings.Replace(body, "u0", "v0", 1)); other[0] == first[0] {
		t.Errorf("another body got the same ids %q", other[0])
	}
}

// Every answer code's series exists from the start at zero; a request
// counts under its code and is timed.
func TestMetricsExportedFromTheStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := newServer(t, &fakePublisher{}, ingest.Options{Registry: reg})
	value := func(name string, labels map[string]string) (float64, bool) {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
		series:
			for _, m := range f.GetMetric() {
				for _, lp := range m.GetLabel() {
					if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
						continue series
					}
				}
				if h := m.GetHistogram(); h != nil {
					return float64(h.GetSampleCount()), true
				}
				return m.GetCounter().GetValue(), true
			}
		}
		return 0, false
	}
	for _, code := range []string{"200", "400", "401", "408", "413", "415", "503"} {
		if v, ok := value("hookline_ingest_requests_total", map[string]string{"endpoint": "events", "code": code}); !ok || v != 0 {
			t.Errorf("requests_total{events,%s} = %v (exists %t), want 0 from the start", code, v, ok)
		}
	}
	post(t, srv.URL+"/pusher", "key-1", "wrong", "application/json", pusherBody)
	post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json", pusherBody)
	if v, _ := value("hookline_ingest_requests_total", map[string]string{"endpoint": "pusher", "code": "401"}); v != 1 {
		t.Errorf("requests_total{pusher,401} = %v, want 1", v)
	}
	if v, _ := value("hookline_ingest_request_duration_seconds", map[string]string{"endpoint": "pusher"}); v != 2 {
		t.Errorf("request_duration_seconds{pusher} count %v, want 2", v)
	}
}

// An app added to the config file is accepted at once: before answering 401
// for an unknown key, ingest reads the registry again (rate-limited).
func TestUnknownKeyRereadsTheRegistryOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	doc := func(apps ...string) string {
		return `{"app_manager":{"array":{"apps":[` + strings.Join(apps, ",") + `]}}}`
	}
	const app1 = `{"id":"app-1","key":"key-1","secret":"secret-1"}`
	const app2 = `{"id":"app-2","key":"key-2","secret":"secret-2"}`
	if err := os.WriteFile(path, []byte(doc(app1)), 0o600); err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int32
	load := func() (*config.Config, error) {
		reads.Add(1)
		return config.Load(path, config.Sources{ReadFile: os.ReadFile}, config.Overrides{})
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	apps, err := registry.New(cfg, registry.Options{ReloadFile: load, MissInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pub := &fakePublisher{}
	h, err := ingest.New(pub, ingest.Options{Config: cfg, Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	if err := os.WriteFile(path, []byte(doc(app1, app2)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := post(t, srv.URL+"/pusher", "key-2", "secret-2", "application/json", pusherBody); r.status != http.StatusOK {
		t.Fatalf("new app's key: %d %v, want 200", r.status, r.body)
	}
	if len(pub.calls) != 1 || pub.calls[0].appID != "app-2" {
		t.Errorf("published %+v", pub.calls)
	}
	for range 3 {
		if r := post(t, srv.URL+"/pusher", "key-x", "secret-x", "application/json", pusherBody); r.status != http.StatusUnauthorized {
			t.Fatalf("unknown key: %d, want 401", r.status)
		}
	}
	if n := reads.Load(); n != 3 { // the first load, key-2's miss, key-x's first miss
		t.Errorf("config reads = %d, want 3: a repeated unknown key must not read the file each time", n)
	}
}
