package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// healthcheck exits 0 on a 200 and 1 on anything else, saying why; it
// needs no config.
func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	if code, out, stderr := hookline(t, noEnv, "healthcheck", "--url", srv.URL+"/healthz", "--config", "/nonexistent.json"); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("healthy: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	status = http.StatusServiceUnavailable
	if code, _, stderr := hookline(t, noEnv, "healthcheck", "--url", srv.URL+"/healthz"); code != 1 || !strings.Contains(stderr, "503") {
		t.Errorf("unhealthy: exit %d, stderr %q; want 1 naming the status", code, stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	if code, _, stderr := hookline(t, noEnv, "healthcheck", "--url", "http://"+addr+"/healthz"); code != 1 || !strings.Contains(stderr, "refused") {
		t.Errorf("nothing listening: exit %d, stderr %q; want 1 saying the connection was refused", code, stderr)
	}
	if code, _, _ := hookline(t, noEnv, "healthcheck", "--url", "::not a url"); code != 2 {
		t.Errorf("a bad --url: exit %d, want 2", code)
	}
}
