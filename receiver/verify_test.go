package receiver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/signing"
)

const (
	testKey    = "app-key"
	testSecret = "secret"
	testAppID  = "app-1"
)

var testNow = time.UnixMilli(1_700_000_000_000)

func testApps() StaticApps { return StaticApps{testKey: {ID: testAppID, Secret: testSecret}} }

func newTestRecorder() *Recorder {
	rec := NewRecorder(testApps())
	rec.Verifier.Now = func() time.Time { return testNow }
	return rec
}

func bodyAt(timeMS int64) string {
	return fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"client_event","channel":"private-c","event":"client-x","data":"{\"a\":1}","socket_id":"1.2","user_id":"u1","time_ms":1,"id":"e1:0"}]}`, timeMS)
}

func goodBody() string { return bodyAt(testNow.UnixMilli()) }

// rawReq is an HTTP/1.x request written byte for byte, so tests can break
// header case, protocol and framing on purpose.
type rawReq struct {
	method, target, proto string
	headers               []string // "Name: value", as sent
	body                  string
	chunked               bool
}

// signedReq is a valid request for body, signed with secret.
func signedReq(body, secret string) rawReq {
	return rawReq{
		method: "POST", target: "/hook?x=1", proto: "HTTP/1.1",
		headers: []string{
			"Content-Type: application/json",
			"X-Pusher-Key: " + testKey,
			"X-Pusher-Signature: " + signing.Sign(secret, []byte(body)),
			"User-Agent: Hookline/test",
		},
		body: body,
	}
}

// set replaces the header whose name matches name case-insensitively
// (removing it when line is ""), or appends line.
func (r *rawReq) set(name, line string) {
	for i, h := range r.headers {
		if n, _, _ := strings.Cut(h, ":"); strings.EqualFold(n, name) {
			if line == "" {
				r.headers = append(r.headers[:i:i], r.headers[i+1:]...)
			} else {
				r.headers[i] = line
			}
			return
		}
	}
	if line != "" {
		r.headers = append(r.headers, line)
	}
}

func (r rawReq) bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\nHost: 127.0.0.1\r\n", r.method, r.target, r.proto)
	for _, h := range r.headers {
		b.WriteString(h + "\r\n")
	}
	if r.chunked {
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for rest := r.body; rest != ""; {
			n := min(len(rest), 7)
			fmt.Fprintf(&b, "%x;ext=1\r\n%s\r\n", n, rest[:n])
			rest = rest[n:]
		}
		b.WriteString("0\r\nX-Trailer: t\r\n\r\n")
		return b.Bytes()
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(r.body), r.body)
	return b.Bytes()
}

type rawResp struct {
	status int
	body   string
}

// roundTrip writes reqs on one connection at once (pipelined) and reads
// one response per request.
func roundTrip(t *testing.T, addr string, reqs ...rawReq) []rawResp {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, r := range reqs {
		all = append(all, r.bytes()...)
	}
	if _, err := c.Write(all); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []rawResp
	for range reqs {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading response %d: %v", len(out)+1, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rawResp{resp.StatusCode, string(b)})
	}
	return out
}

func TestVerifyRules(t *testing.T) {
	now := testNow.UnixMilli()
	skew := DefaultMaxSkew.Milliseconds()
	tests := []struct {
		name       string
		body       string        // default goodBody()
		secret     string        // signing secret; default testSecret
		edit       func(*rawReq) // applied after signing
		wantStatus int
		wantRule   Rule
		wantReason string // substring
	}{
		{name: "valid", wantStatus: 200},
		{name: "chunked body", edit: func(r *rawReq) { r.chunked = true }, wantStatus: 200},
		{name: "attempt header", edit: func(r *rawReq) { r.set(HeaderAttempt, "X-Hookline-Attempt: 3") }, wantStatus: 200},
		{name: "no space after colon", edit: func(r *rawReq) { r.set("Content-Type", "Content-Type:application/json") }, wantStatus: 200},

		{name: "GET", edit: func(r *rawReq) { r.method = "GET" }, wantStatus: 405, wantRule: RuleMethod, wantReason: "GET"},
		{name: "PUT", edit: func(r *rawReq) { r.method = "PUT" }, wantStatus: 405, wantRule: RuleMethod},
		{name: "HTTP/1.0", edit: func(r *rawReq) { r.proto = "HTTP/1.0" }, wantStatus: 505, wantRule: RuleProto, wantReason: "HTTP/1.0"},

		{name: "lowercase signature header", edit: func(r *rawReq) {
			r.set(signing.HeaderSignature, "x-pusher-signature: "+signing.Sign(testSecret, []byte(goodBody())))
		}, wantStatus: 400, wantRule: RuleHeaderCase, wantReason: `"x-pusher-signature"`},
		{name: "uppercase key header", edit: func(r *rawReq) { r.set(signing.HeaderKey, "X-PUSHER-KEY: "+testKey) },
			wantStatus: 400, wantRule: RuleHeaderCase, wantReason: `"X-PUSHER-KEY"`},
		{name: "lowercase content-type header", edit: func(r *rawReq) { r.set("Content-Type", "content-type: application/json") },
			wantStatus: 400, wantRule: RuleHeaderCase, wantReason: `"content-type"`},
		{name: "duplicate signature header", edit: func(r *rawReq) {
			r.headers = append(r.headers, "X-Pusher-Signature: "+signing.Sign(testSecret, []byte(goodBody())))
		}, wantStatus: 400, wantRule: RuleHeaderCase, wantReason: "more than once"},

		{name: "charset", edit: func(r *rawReq) { r.set("Content-Type", "Content-Type: application/json; charset=utf-8") },
			wantStatus: 415, wantRule: RuleContentType, wantReason: "charset"},
		{name: "content type case", edit: func(r *rawReq) { r.set("Content-Type", "Content-Type: Application/JSON") },
			wantStatus: 415, wantRule: RuleContentType},
		{name: "text/plain", edit: func(r *rawReq) { r.set("Content-Type", "Content-Type: text/plain") },
			wantStatus: 415, wantRule: RuleContentType},
		{name: "no content type", edit: func(r *rawReq) { r.set("Content-Type", "") },
			wantStatus: 415, wantRule: RuleContentType, wantReason: "missing"},

		{name: "no key", edit: func(r *rawReq) { r.set(signing.HeaderKey, "") }, wantStatus: 401, wantRule: RuleKey, wantReason: "missing"},
		{name: "empty key", edit: func(r *rawReq) { r.set(signing.HeaderKey, "X-Pusher-Key: ") }, wantStatus: 401, wantRule: RuleKey, wantReason: "missing"},
		{name: "unknown key", edit: func(r *rawReq) { r.set(signing.HeaderKey, "X-Pusher-Key: other") },
			wantStatus: 401, wantRule: RuleKey, wantReason: "unknown key"},

		{name: "no signature", edit: func(r *rawReq) { r.set(signing.HeaderSignature, "") }, wantStatus: 401, wantRule: RuleSignature, wantReason: "missing"},
		{name: "uppercase hex", edit: func(r *rawReq) {
			r.set(signing.HeaderSignature, "X-Pusher-Signature: "+strings.ToUpper(signing.Sign(testSecret, []byte(goodBody()))))
		}, wantStatus: 401, wantRule: RuleSignature, wantReason: "lowercase hex"},
		{name: "sha256= prefix", edit: func(r *rawReq) {
			r.set(signing.HeaderSignature, "X-Pusher-Signature: sha256="+signing.Sign(testSecret, []byte(goodBody())))
		}, wantStatus: 401, wantRule: RuleSignature, wantReason: "lowercase hex"},
		{name: "wrong secret", secret: "not-the-secret", wantStatus: 401, wantRule: RuleSignature, wantReason: "does not match"},
		{name: "body changed after signing", edit: func(r *rawReq) { r.body = strings.Replace(r.body, "u1", "u2", 1) },
			wantStatus: 401, wantRule: RuleSignature, wantReason: "does not match"},

		{name: "attempt 0", edit: func(r *rawReq) { r.set(HeaderAttempt, "X-Hookline-Attempt: 0") }, wantStatus: 400, wantRule: RuleAttempt},
		{name: "attempt text", edit: func(r *rawReq) { r.set(HeaderAttempt, "X-Hookline-Attempt: two") }, wantStatus: 400, wantRule: RuleAttempt},
		{name: "attempt leading zero", edit: func(r *rawReq) { r.set(HeaderAttempt, "X-Hookline-Attempt: 02") }, wantStatus: 400, wantRule: RuleAttempt},

		{name: "data object", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"client_event","data":{"a":1}}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `events[0]: "data": want a JSON string, got object`},
		{name: "data null", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"a"},{"name":"client_event","data":null}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `events[1]: "data": want a JSON string, got null`},
		{name: "data number", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"client_event","data":1}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `"data"`},
		{name: "channel number", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"x","channel":5}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `events[0]: "channel"`},
		{name: "user_id null", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"x","user_id":null}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `events[0]: "user_id"`},
		{name: "socket_id bool", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"x","socket_id":true}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `"socket_id"`},
		{name: "event number", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"x","event":1}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `"event"`},
		{name: "name number", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":1}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `"name"`},
		{name: "no name", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"a"},{"channel":"c"}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `events[1]: missing "name"`},
		{name: "key differing in case", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"x","Data":{"a":1}}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `events[0]: key "Data" differs from "data" only in case`},
		{name: "duplicate data", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"x","data":"a","data":"b"}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `duplicate key "data"`},
		{name: "top-level key case", body: fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"x"}],"EVENTS":[]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `"EVENTS"`},
		{name: "time_ms string", body: `{"time_ms":"1700000000000","events":[{"name":"x"}]}`,
			wantStatus: 400, wantRule: RuleBody, wantReason: `"time_ms"`},
		{name: "time_ms fraction", body: fmt.Sprintf(`{"time_ms":%d.5,"events":[{"name":"x"}]}`, now),
			wantStatus: 400, wantRule: RuleBody, wantReason: `"time_ms"`},
		{name: "no time_ms", body: `{"events":[{"name":"x"}]}`, wantStatus: 400, wantRule: RuleBody, wantReason: `"time_ms"`},
		{name: "no events", body: fmt.Sprintf(`{"time_ms":%d}`, now), wantStatus: 400, wantRule: RuleBody, wantReason: `"events"`},
		{name: "events object", body: fmt.Sprintf(`{"time_ms":%d,"events":{"name":"x"}}`, now), wantStatus: 400, wantRule: RuleBody, wantReason: `"events"`},
		{name: "flat single event", body: fmt.Sprintf(`{"time_ms":%d,"name":"x"}`, now), wantStatus: 400, wantRule: RuleBody, wantReason: `"events"`},
		{name: "event not object", body: fmt.Sprintf(`{"time_ms":%d,"events":["x"]}`, now), wantStatus: 400, wantRule: RuleBody, wantReason: `events[0]`},
		{name: "not JSON", body: `{"time_ms":`, wantStatus: 400, wantRule: RuleBody, wantReason: "not valid JSON"},
		{name: "trailing data", body: goodBody() + "{}", wantStatus: 400, wantRule: RuleBody},
		{name: "empty body", body: " ", wantStatus: 400, wantRule: RuleBody},

		{name: "exactly 5 minutes old", body: bodyAt(now - skew), wantStatus: 200},
		{name: "stale", body: bodyAt(now - skew - 1), wantStatus: 401, wantRule: RuleStale, wantReason: "stale"},
		{name: "future", body: bodyAt(now + skew + 1), wantStatus: 401, wantRule: RuleStale, wantReason: "stale"},
		{name: "time_ms 0", body: bodyAt(0), wantStatus: 401, wantRule: RuleStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newTestRecorder()
			srv := NewServer(rec)
			defer srv.Close()

			body, secret := tt.body, tt.secret
			if body == "" {
				body = goodBody()
			}
			if secret == "" {
				secret = testSecret
			}
			req := signedReq(body, secret)
			if tt.edit != nil {
				tt.edit(&req)
			}
			got := roundTrip(t, srv.Listener.Addr().String(), req)[0]
			if got.status != tt.wantStatus {
				t.Fatalf("status %d (%q), want %d", got.status, got.body, tt.wantStatus)
			}
			if tt.wantStatus == 200 {
				ds := rec.Deliveries()
				if len(ds) != 1 || len(rec.Rejections()) != 0 {
					t.Fatalf("%d deliveries, %d rejections; want 1, 0", len(ds), len(rec.Rejections()))
				}
				d := ds[0]
				if !d.CaseChecked || d.AppID != testAppID || d.Key != testKey || d.Path != "/hook" || d.RawQuery != "x=1" ||
					d.Status != 200 || d.Seq != 1 || string(d.RawBody) != req.body {
					t.Errorf("delivery = %+v", d)
				}
				return
			}
			rejs := rec.Rejections()
			if len(rejs) != 1 || len(rec.Deliveries()) != 0 {
				t.Fatalf("%d rejections, %d deliveries; want 1, 0", len(rejs), len(rec.Deliveries()))
			}
			re := rejs[0]
			if re.Rule != tt.wantRule || re.Status != tt.wantStatus {
				t.Errorf("rejection %+v, want rule %s status %d", re, tt.wantRule, tt.wantStatus)
			}
			if !strings.Contains(re.Reason, tt.wantReason) || !strings.Contains(got.body, re.Reason) {
				t.Errorf("reason %q (response %q), want it to contain %q", re.Reason, got.body, tt.wantReason)
			}
			if strings.Contains(re.Error(), testSecret+"\"") || strings.Contains(got.body, signing.Sign(testSecret, []byte(req.body))) {
				t.Errorf("reason leaks the secret or expected signature: %q", got.body)
			}
		})
	}
}

func TestAttemptParsed(t *testing.T) {
	rec := newTestRecorder()
	srv := NewServer(rec)
	defer srv.Close()
	req := signedReq(goodBody(), testSecret)
	req.set(HeaderAttempt, "X-Hookline-Attempt: 3")
	roundTrip(t, srv.Listener.Addr().String(), req)
	if ds := rec.Deliveries(); len(ds) != 1 || ds[0].Attempt != 3 {
		t.Fatalf("deliveries %+v, want one with Attempt 3", ds)
	}
}

// One connection, several requests written at once: each request's
// header case is judged on its own head, including after a chunked body.
func TestKeepAlivePipelined(t *testing.T) {
	rec := newTestRecorder()
	srv := NewServer(rec)
	defer srv.Close()

	good := signedReq(goodBody(), testSecret)
	chunked := good
	chunked.chunked = true
	lower := signedReq(goodBody(), testSecret)
	lower.set(signing.HeaderKey, "x-pusher-key: "+testKey)
	bigBody := bodyAt(testNow.UnixMilli()) // same body; exercise a larger one too
	big := signedReq(strings.Replace(bigBody, `"u1"`, `"`+strings.Repeat("u", 9000)+`"`, 1), testSecret)

	got := roundTrip(t, srv.Listener.Addr().String(), chunked, lower, big, good, lower, good)
	want := []int{200, 400, 200, 200, 400, 200}
	for i, g := range got {
		if g.status != want[i] {
			t.Errorf("request %d: status %d (%q), want %d", i+1, g.status, g.body, want[i])
		}
	}
	for _, d := range rec.Deliveries() {
		if !d.CaseChecked {
			t.Errorf("delivery %d: CaseChecked false", d.Seq)
		}
	}
}

// Sequential requests on one keep-alive connection, each answered before
// the next is written.
func TestKeepAliveSequential(t *testing.T) {
	rec := newTestRecorder()
	srv := NewServer(rec)
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	lower := signedReq(goodBody(), testSecret)
	lower.set("Content-Type", "CONTENT-TYPE: application/json")
	for i, tc := range []struct {
		req  rawReq
		want int
	}{{signedReq(goodBody(), testSecret), 200}, {lower, 400}, {signedReq(goodBody(), testSecret), 200}} {
		if _, err := c.Write(tc.req.bytes()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("request %d: status %d, want %d", i+1, resp.StatusCode, tc.want)
		}
	}
}

// Without the raw-case wiring only the header-case check is skipped, and
// the delivery says so.
func TestWithoutRawCase(t *testing.T) {
	rec := newTestRecorder()
	srv := httptest.NewServer(rec)
	defer srv.Close()
	req := signedReq(goodBody(), testSecret)
	req.set(signing.HeaderSignature, "x-pusher-signature: "+signing.Sign(testSecret, []byte(goodBody())))
	if got := roundTrip(t, srv.Listener.Addr().String(), req)[0]; got.status != 200 {
		t.Fatalf("status %d (%q), want 200", got.status, got.body)
	}
	if d := rec.Deliveries()[0]; d.CaseChecked {
		t.Error("CaseChecked true without the raw head")
	}
	req.set("Content-Type", "Content-Type: application/json; charset=utf-8")
	if got := roundTrip(t, srv.Listener.Addr().String(), req)[0]; got.status != 415 {
		t.Fatalf("status %d, want 415: other rules still apply", got.status)
	}
}

// Through net/http's client, as the worker sends.
func TestHTTPClient(t *testing.T) {
	rec := newTestRecorder()
	srv := NewServer(rec)
	defer srv.Close()
	body := goodBody()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/pusher/webhooks", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.HeaderKey, testKey)
	req.Header.Set(signing.HeaderSignature, signing.Sign(testSecret, []byte(body)))
	req.Header.Set(HeaderAttempt, "1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	d := rec.Deliveries()[0]
	if !d.CaseChecked || d.Attempt != 1 || d.Path != "/pusher/webhooks" || d.Header.Get("User-Agent") == "" {
		t.Errorf("delivery %+v", d)
	}
	evs := rec.Events()
	if len(evs) != 1 || evs[0].Name != "client_event" || evs[0].Data != `{"a":1}` || evs[0].ID != "e1:0" {
		t.Errorf("events %+v", evs)
	}
}

func TestVerifyDirect(t *testing.T) {
	// A request that never went through a server: no raw head, so no
	// case check; everything else applies.
	body := goodBody()
	r := httptest.NewRequest(http.MethodPost, "/h", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(signing.HeaderKey, testKey)
	r.Header.Set(signing.HeaderSignature, signing.Sign(testSecret, []byte(body)))
	v := Verifier{Apps: testApps(), Now: func() time.Time { return testNow }}
	d, err := v.Verify(r, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if d.CaseChecked || d.Received != testNow {
		t.Errorf("delivery %+v", d)
	}
	// Default clock: testNow is long past.
	if _, err := Verify(testApps(), r, []byte(body)); err == nil || err.(*RejectError).Rule != RuleStale {
		t.Errorf("Verify with the real clock = %v, want stale", err)
	}
	// No apps: every key is unknown.
	if _, err := (&Verifier{Now: v.Now}).Verify(r, []byte(body)); err == nil || err.(*RejectError).Rule != RuleKey {
		t.Errorf("Verify without apps = %v, want key", err)
	}
}

func TestConnStateFraming(t *testing.T) {
	// Feeding byte by byte must find the same heads as feeding at once.
	reqs := []rawReq{signedReq(goodBody(), testSecret), signedReq(goodBody(), testSecret)}
	reqs[0].chunked = true
	var all []byte
	for _, r := range reqs {
		all = append(all, r.bytes()...)
	}
	all = append(all, "GET /x HTTP/1.1\nHost: a\n\n"...) // bare LF line ends
	for _, step := range []int{1, 2, 3, 5, 64, len(all)} {
		var s connState
		for i := 0; i < len(all); i += step {
			s.feed(all[i:min(i+step, len(all))])
		}
		if s.broken || len(s.heads) != 3 || s.state != stHead {
			t.Fatalf("step %d: broken %v, %d heads, state %d", step, s.broken, len(s.heads), s.state)
		}
		for i, h := range s.heads[:2] {
			if !bytes.HasPrefix(h, []byte("POST /hook?x=1 HTTP/1.1\r\n")) || !bytes.HasSuffix(h, []byte("\r\n\r\n")) {
				t.Errorf("step %d: head %d = %q", step, i, h)
			}
		}
		if got := string(s.heads[2]); got != "GET /x HTTP/1.1\nHost: a\n\n" {
			t.Errorf("step %d: head 3 = %q", step, got)
		}
	}
}

func TestAppsFromConfig(t *testing.T) {
	cfg := &config.Config{Apps: []config.App{
		{ID: "a1", Key: "k1", Secret: "s1", Enabled: true},
		{ID: "a2", Key: "k2", Secret: "s2"}, // disabled apps still verify
	}}
	apps := AppsFromConfig(cfg)
	for _, tc := range []struct {
		key, id, secret string
		ok              bool
	}{
		{"k1", "a1", "s1", true}, {"k2", "a2", "s2", true}, {"k3", "", "", false}, {"", "", "", false},
	} {
		id, secret, ok := apps.SecretForKey(tc.key)
		if id != tc.id || secret != tc.secret || ok != tc.ok {
			t.Errorf("SecretForKey(%q) = %q, %q, %v", tc.key, id, secret, ok)
		}
	}
	if _, _, ok := AppsFromConfig(nil).SecretForKey("k1"); ok {
		t.Error("nil config resolved a key")
	}
}
