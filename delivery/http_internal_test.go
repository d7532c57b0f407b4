package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/config"
)

// Even against a server that offers HTTP/2 over TLS, the sender speaks
// HTTP/1.1: PHP receivers read headers in their exact case.
func TestHTTPNeverNegotiatesH2(t *testing.T) {
	protos := make(chan string, 2)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.Proto
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	// Control: the server does speak h2 to a client that asks for it.
	resp, err := srv.Client().Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if p := <-protos; p != "HTTP/2.0" {
		t.Fatalf("control client used %s, want HTTP/2.0", p)
	}

	h := NewHTTP(HTTPOptions{})
	defer h.CloseIdleConnections()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	h.client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}

	out := h.Send(t.Context(), &Request{Body: []byte(`{}`), Webhook: &config.Webhook{URL: srv.URL}, Attempt: 1})
	if out.Class != Delivered {
		t.Fatalf("outcome = %+v", out)
	}
	if p := <-protos; p != "HTTP/1.1" {
		t.Errorf("sender used %s, want HTTP/1.1", p)
	}
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingTransport struct {
	http.RoundTripper
	n *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.RoundTripper.RoundTrip(r)
	if resp != nil {
		resp.Body = countingBody{resp.Body, c.n}
	}
	return resp, err
}

// A huge response body is read only up to the limit, and the sender returns
// without waiting for the rest: the server's writes fail once the
// connection is dropped.
func TestHTTPLargeResponseBody(t *testing.T) {
	const total = 64 << 20 // far beyond any socket buffering on loopback
	writeErr := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 32<<10)
		var err error
		for sent := 0; sent < total && err == nil; sent += len(chunk) {
			_, err = w.Write(chunk)
		}
		writeErr <- err
	}))
	defer srv.Close()

	const limit = 64 << 10
	h := NewHTTP(HTTPOptions{ResponseBodyLimit: limit})
	defer h.CloseIdleConnections()
	var read atomic.Int64
	h.client.Transport = countingTransport{h.client.Transport, &read}

	out := h.Send(t.Context(), &Request{Body: []byte(`{}`), Webhook: &config.Webhook{URL: srv.URL, RequestTimeout: time.Minute}})
	if out.Class != Delivered {
		t.Fatalf("outcome = %+v", out)
	}
	if n := read.Load(); n > limit {
		t.Errorf("read %d body bytes, limit %d", n, limit)
	}
	if err := <-writeErr; err == nil {
		t.Error("server wrote the whole body: the sender drained it instead of closing")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{"900", 900 * time.Second, true},
		{"901", MaxRetryAfter, true},
		{"18446744073709551616", MaxRetryAfter, true},
		{"+5", 0, false},
		{"-5", 0, false},
		{"5s", 0, false},
		{"1e3", 0, false},
		{now.Add(time.Minute).Format(http.TimeFormat), time.Minute, true},
		{"Thu, 01 Jan 2026 00:01:00 GMT", time.Minute, true}, // same, literal
		{"Thursday, 01-Jan-26 00:01:00 GMT", time.Minute, true},
		{"Thu Jan  1 00:01:00 2026", time.Minute, true},
		{"tomorrow", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
