package delivery_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/signing"
)

var testBody = []byte(`{"hello":"world"}`)

// testSig is the official SDK vector: Sign("secret", testBody).
const testSig = "2677ad3e7c090b2fa2c0fb13020d66d5420879b8316eb356a2d60fb9073bc778"

func newReq(url string) *delivery.Request {
	return &delivery.Request{
		AppKey:    "app-key",
		Signature: testSig,
		Body:      testBody,
		Webhook:   &config.Webhook{URL: url, RequestTimeout: 5 * time.Second},
		Attempt:   3,
		Events:    1,
	}
}

// rawCapture is one request as the bytes that arrived on the socket.
type rawCapture struct {
	head []string // request line and header lines, without CRLF
	raw  string   // the whole head, CRLFs included
	body []byte
	err  error
}

// rawServer accepts one connection on 127.0.0.1, records the request bytes
// exactly as written by the client and answers 204.
func rawServer(t *testing.T) (addr string, got <-chan rawCapture) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan rawCapture, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			ch <- rawCapture{err: err}
			return
		}
		defer conn.Close()
		var wire bytes.Buffer
		br := bufio.NewReader(io.TeeReader(conn, &wire))
		req, err := http.ReadRequest(br)
		if err != nil {
			ch <- rawCapture{err: err}
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			ch <- rawCapture{err: err}
			return
		}
		raw := wire.String()
		head, _, ok := strings.Cut(raw, "\r\n\r\n")
		if !ok {
			ch <- rawCapture{err: errors.New("no end of head")}
			return
		}
		_, _ = io.WriteString(conn, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
		ch <- rawCapture{head: strings.Split(head, "\r\n"), raw: head + "\r\n\r\n", body: body}
	}()
	return ln.Addr().String(), ch
}

func TestHTTPWireHeaders(t *testing.T) {
	tests := []struct {
		name      string
		headers   map[string]string
		want      []string // exact lines that must be present
		wantCount map[string]int
	}{
		{
			name: "default user agent",
			want: []string{"User-Agent: Hookline/test"},
		},
		{
			name:    "custom headers added",
			headers: map[string]string{"X-Custom-Thing": "v1", "Authorization": "Bearer t"},
			want:    []string{"User-Agent: Hookline/test", "X-Custom-Thing: v1", "Authorization: Bearer t"},
		},
		{
			name:      "custom user agent replaces ours",
			headers:   map[string]string{"User-Agent": "Sockudo-Webhook/1.0"},
			want:      []string{"User-Agent: Sockudo-Webhook/1.0"},
			wantCount: map[string]int{"user-agent": 1},
		},
		{
			name: "colliding custom headers never override ours",
			headers: map[string]string{
				"Content-Type": "text/plain", "x-pusher-signature": "forged", "X-Hookline-Attempt": "99",
			},
			wantCount: map[string]int{"content-type": 1, "x-pusher-signature": 1, "x-hookline-attempt": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, got := rawServer(t)
			h := delivery.NewHTTP(delivery.HTTPOptions{UserAgent: "Hookline/test"})
			defer h.CloseIdleConnections()
			req := newReq("http://" + addr + "/path?x=1")
			req.Webhook.Headers = tt.headers

			out := h.Send(t.Context(), req)
			if out.Class != delivery.Delivered || out.Status != 204 {
				t.Fatalf("outcome = %+v, want delivered 204", out)
			}
			c := <-got
			if c.err != nil {
				t.Fatal(c.err)
			}
			if c.head[0] != "POST /path?x=1 HTTP/1.1" {
				t.Errorf("request line = %q", c.head[0])
			}
			// Exact case, exact values: the wire contract (DESIGN §2).
			for _, line := range append([]string{
				"Host: " + addr,
				"Content-Type: application/json",
				"Content-Length: 17",
				"X-Pusher-Key: app-key",
				"X-Pusher-Signature: " + testSig,
				"X-Hookline-Attempt: 3",
			}, tt.want...) {
				if !slices.Contains(c.head[1:], line) {
					t.Errorf("missing header line %q in\n%s", line, c.raw)
				}
			}
			if !strings.Contains(c.raw, "\r\nContent-Type: application/json\r\n") {
				t.Errorf("Content-Type not exactly application/json:\n%s", c.raw)
			}
			count := map[string]int{}
			for _, line := range c.head[1:] {
				name, _, _ := strings.Cut(line, ":")
				count[strings.ToLower(name)]++
			}
			for name, n := range tt.wantCount {
				if count[name] != n {
					t.Errorf("%d %q header lines, want %d:\n%s", count[name], name, n, c.raw)
				}
			}
			if count["accept-encoding"] != 0 {
				t.Errorf("unexpected Accept-Encoding:\n%s", c.raw)
			}
			if !bytes.Equal(c.body, testBody) {
				t.Errorf("body = %q, want %q", c.body, testBody)
			}
			if !signing.Verify("secret", c.body, testSig) {
				t.Error("signature does not verify against the received body")
			}
		})
	}
}

func TestHTTPClassify(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		code       int
		header     map[string]string
		class      delivery.Class
		reason     string
		retryAfter time.Duration
		detail     string // substring
	}{
		{code: 200, class: delivery.Delivered},
		{code: 202, class: delivery.Delivered},
		{code: 204, class: delivery.Delivered},
		{code: 299, class: delivery.Delivered},
		{code: 301, header: map[string]string{"Location": "https://new.example/hook"}, class: delivery.Permanent,
			reason: "http-301", detail: "redirect to https://new.example/hook"},
		{code: 302, header: map[string]string{"Location": "/elsewhere"}, class: delivery.Permanent,
			reason: "http-302", detail: "redirect to /elsewhere"},
		{code: 308, header: map[string]string{"Location": "https://u:pw@x.example/h?token=s3cret"},
			class: delivery.Permanent, reason: "http-308", detail: "redirect to https://xxxxx@x.example/h?xxxxx"},
		{code: 304, class: delivery.Permanent, reason: "http-304", detail: "without Location"},
		{code: 400, class: delivery.Permanent, reason: "http-400", detail: "400 Bad Request"},
		{code: 401, class: delivery.Permanent, reason: "http-401"},
		{code: 404, class: delivery.Permanent, reason: "http-404"},
		{code: 410, class: delivery.Permanent, reason: "http-410"},
		{code: 422, class: delivery.Permanent, reason: "http-422"},
		{code: 400, header: map[string]string{"Retry-After": "30"}, class: delivery.Permanent, reason: "http-400"},
		{code: 413, class: delivery.TooLarge, reason: "http-413"},
		{code: 413, header: map[string]string{"Retry-After": "30"}, class: delivery.TooLarge, reason: "http-413"},
		{code: 408, class: delivery.Retryable, reason: "http-408"},
		{code: 409, class: delivery.Retryable, reason: "http-409"},
		{code: 425, class: delivery.Retryable, reason: "http-425"},
		{code: 429, class: delivery.Retryable, reason: "http-429"},
		{code: 500, class: delivery.Retryable, reason: "http-500", detail: "500 Internal Server Error"},
		{code: 502, class: delivery.Retryable, reason: "http-502"},
		{code: 503, class: delivery.Retryable, reason: "http-503"},
		{code: 504, class: delivery.Retryable, reason: "http-504"},
		{code: 599, class: delivery.Retryable, reason: "http-599"},
		{code: 600, class: delivery.Permanent, reason: "http-600"},
		// Retry-After: delta-seconds, HTTP-date against the injected clock,
		// clamped to [1 s, 900 s]; malformed values ignored.
		{code: 429, header: map[string]string{"Retry-After": "120"}, class: delivery.Retryable, reason: "http-429", retryAfter: 120 * time.Second},
		{code: 429, header: map[string]string{"Retry-After": "0"}, class: delivery.Retryable, reason: "http-429", retryAfter: time.Second},
		{code: 429, header: map[string]string{"Retry-After": "5000"}, class: delivery.Retryable, reason: "http-429", retryAfter: 900 * time.Second},
		{code: 429, header: map[string]string{"Retry-After": "99999999999999999999999"}, class: delivery.Retryable, reason: "http-429", retryAfter: 900 * time.Second},
		{code: 429, header: map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, class: delivery.Retryable, reason: "http-429", retryAfter: 90 * time.Second},
		{code: 429, header: map[string]string{"Retry-After": now.Add(2 * time.Hour).Format(http.TimeFormat)}, class: delivery.Retryable, reason: "http-429", retryAfter: 900 * time.Second},
		{code: 429, header: map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, class: delivery.Retryable, reason: "http-429", retryAfter: time.Second},
		{code: 429, header: map[string]string{"Retry-After": "soon"}, class: delivery.Retryable, reason: "http-429"},
		{code: 429, header: map[string]string{"Retry-After": "-5"}, class: delivery.Retryable, reason: "http-429"},
		{code: 429, header: map[string]string{"Retry-After": "1.5"}, class: delivery.Retryable, reason: "http-429"},
		{code: 503, header: map[string]string{"Retry-After": " 30 "}, class: delivery.Retryable, reason: "http-503", retryAfter: 30 * time.Second},
	}
	h := delivery.NewHTTP(delivery.HTTPOptions{Now: func() time.Time { return now }})
	defer h.CloseIdleConnections()
	for _, tt := range tests {
		name := fmt.Sprintf("%d %v", tt.code, tt.header)
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = []string{v}
				}
				w.WriteHeader(tt.code)
				_, _ = io.WriteString(w, "receiver body, never logged")
			}))
			defer srv.Close()

			out := h.Send(t.Context(), newReq(srv.URL+"/hook"))
			if out.Class != tt.class || out.Status != tt.code || out.Reason != tt.reason || out.RetryAfter != tt.retryAfter {
				t.Errorf("outcome = {%v %d %q retry-after %v}, want {%v %d %q retry-after %v}",
					out.Class, out.Status, out.Reason, out.RetryAfter, tt.class, tt.code, tt.reason, tt.retryAfter)
			}
			if !strings.Contains(out.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", out.Detail, tt.detail)
			}
			if strings.Contains(out.Detail, "never logged") {
				t.Errorf("detail leaks the response body: %q", out.Detail)
			}
			if out.Duration <= 0 {
				t.Errorf("duration = %v", out.Duration)
			}
		})
	}
}

func TestHTTPRedirectNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer target.Close()
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/new", code)
			}))
			defer src.Close()
			h := delivery.NewHTTP(delivery.HTTPOptions{})
			defer h.CloseIdleConnections()

			out := h.Send(t.Context(), newReq(src.URL+"/old"))
			want := fmt.Sprintf("http-%d", code)
			if out.Class != delivery.Permanent || out.Reason != want || out.Status != code {
				t.Errorf("outcome = %+v, want permanent %s", out, want)
			}
			if out.Detail != "redirect to "+target.URL+"/new" {
				t.Errorf("detail = %q", out.Detail)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("redirect target contacted %d times", n)
	}
}

func TestHTTPTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a closed connection (and cancels the
		// request context) only once the body has been read.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done() // blocks until the client gives up
	}))
	defer srv.Close()
	h := delivery.NewHTTP(delivery.HTTPOptions{})
	defer h.CloseIdleConnections()

	req := newReq(srv.URL)
	req.Webhook.RequestTimeout = 50 * time.Millisecond
	out := h.Send(t.Context(), req)
	if out.Class != delivery.Retryable || out.Reason != "timeout" || out.Status != 0 {
		t.Errorf("outcome = %+v, want retryable timeout status 0", out)
	}
	if out.Duration < 50*time.Millisecond {
		t.Errorf("duration = %v, want at least the 50ms timeout", out.Duration)
	}
}

// A receiver that sends its status and then stalls the body cannot hold the
// sender past the request timeout; the status already decided the outcome.
func TestHTTPStalledBodyBoundedByTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	h := delivery.NewHTTP(delivery.HTTPOptions{})
	defer h.CloseIdleConnections()

	req := newReq(srv.URL)
	req.Webhook.RequestTimeout = 300 * time.Millisecond
	out := h.Send(t.Context(), req)
	if out.Class != delivery.Delivered || out.Status != 200 {
		t.Errorf("outcome = %+v, want delivered 200", out)
	}
}

func TestHTTPCallerCanceled(t *testing.T) {
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		close(arrived)
		<-r.Context().Done()
	}))
	defer srv.Close()
	h := delivery.NewHTTP(delivery.HTTPOptions{})
	defer h.CloseIdleConnections()

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	out := h.Send(ctx, newReq(srv.URL)) // 5 s request timeout: cancel wins
	if out.Class != delivery.Retryable || out.Reason != "canceled" || out.Status != 0 {
		t.Errorf("outcome = %+v, want retryable canceled", out)
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestHTTPTransportError(t *testing.T) {
	addr := deadAddr(t)
	h := delivery.NewHTTP(delivery.HTTPOptions{})
	defer h.CloseIdleConnections()

	out := h.Send(t.Context(), newReq("http://alice:hunter2@"+addr+"/hook?token=s3cret&x=1#frag"))
	if out.Class != delivery.Retryable || out.Reason != "transport-error" || out.Status != 0 {
		t.Errorf("outcome = %+v, want retryable transport-error", out)
	}
	if !strings.Contains(out.Detail, "connection refused") || !strings.Contains(out.Detail, addr) {
		t.Errorf("detail = %q, want the refused address", out.Detail)
	}
	for _, secret := range []string{"alice", "hunter2", "s3cret", "token", "frag"} {
		if strings.Contains(out.Detail, secret) {
			t.Errorf("detail leaks %q: %q", secret, out.Detail)
		}
	}
}

func TestHTTPInvalidRequest(t *testing.T) {
	h := delivery.NewHTTP(delivery.HTTPOptions{})
	for _, u := range []string{"ftp://example.com/x", "http://", "://nope", "example.com/hook"} {
		out := h.Send(t.Context(), newReq(u))
		if out.Class != delivery.Permanent || out.Reason != "invalid-url" {
			t.Errorf("%q: outcome = %+v, want permanent invalid-url", u, out)
		}
	}
	out := h.Send(t.Context(), &delivery.Request{})
	if out.Class != delivery.Permanent || out.Reason != "invalid-request" {
		t.Errorf("no webhook: outcome = %+v", out)
	}
}

// Twenty sequential sends reuse one keep-alive connection.
func TestHTTPKeepAlive(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	h := delivery.NewHTTP(delivery.HTTPOptions{})
	defer h.CloseIdleConnections()

	for i := range 20 {
		if out := h.Send(t.Context(), newReq(srv.URL)); out.Class != delivery.Delivered {
			t.Fatalf("send %d: %+v", i, out)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("%d connections for 20 sequential sends, want 1", conns)
	}
}

func TestHTTPProxy(t *testing.T) {
	type seen struct{ uri, host, key string }
	got := make(chan seen, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.RequestURI, r.Host, r.Header.Get(signing.HeaderKey)}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer proxy.Close()
	proxyURL, err := url.Parse(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	h := delivery.NewHTTP(delivery.HTTPOptions{Proxy: http.ProxyURL(proxyURL)})
	defer h.CloseIdleConnections()

	out := h.Send(t.Context(), newReq("http://hookline.invalid/hook"))
	if out.Class != delivery.Delivered {
		t.Fatalf("outcome = %+v", out)
	}
	s := <-got
	if s.uri != "http://hookline.invalid/hook" || s.host != "hookline.invalid" || s.key != "app-key" {
		t.Errorf("proxy saw %+v", s)
	}
}

// The default Proxy is http.ProxyFromEnvironment. It reads the environment
// once per process, so the check runs in a child process with HTTP_PROXY
// pointing at a loopback proxy.
func TestHTTPProxyFromEnvironment(t *testing.T) {
	if os.Getenv("HOOKLINE_PROXY_CHILD") == "1" {
		h := delivery.NewHTTP(delivery.HTTPOptions{})
		out := h.Send(context.Background(), newReq("http://hookline.invalid/hook"))
		if out.Class != delivery.Delivered {
			t.Fatalf("child: outcome = %+v", out)
		}
		return
	}
	var hits atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI == "http://hookline.invalid/hook" {
			hits.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer proxy.Close()

	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHTTPProxyFromEnvironment$", "-test.count=1")
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "REQUEST_METHOD":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "HOOKLINE_PROXY_CHILD=1", "HTTP_PROXY="+proxy.URL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if hits.Load() != 1 {
		t.Errorf("proxy got %d requests, want 1", hits.Load())
	}
}

func BenchmarkHTTPSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	h := delivery.NewHTTP(delivery.HTTPOptions{})
	defer h.CloseIdleConnections()
	req := newReq(srv.URL + "/hook")
	req.Body = bytes.Repeat([]byte("x"), 1024)
	req.Webhook.Headers = map[string]string{"X-Custom": "v"}
	ctx := context.Background()

	b.ReportAllocs()
	b.SetBytes(int64(len(req.Body)))
	for b.Loop() {
		if out := h.Send(ctx, req); out.Class != delivery.Delivered {
			b.Fatalf("outcome = %+v", out)
		}
	}
}

func ExampleNewHTTP() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	h := delivery.NewHTTP(delivery.HTTPOptions{UserAgent: "Hookline/1.0"})
	defer h.CloseIdleConnections()
	body := []byte(`{"time_ms":1700000000000,"events":[]}`)
	out := h.Send(context.Background(), &delivery.Request{
		AppKey:    "app-key",
		Signature: signing.Sign("app-secret", body),
		Body:      body,
		Webhook:   &config.Webhook{URL: srv.URL, RequestTimeout: 5 * time.Second},
		Attempt:   1,
	})
	fmt.Println(out.Class, out.Reason, out.RetryAfter)
	// Output: retryable http-503 30s
}
