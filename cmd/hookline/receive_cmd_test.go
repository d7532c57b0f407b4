package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/signing"
)

// startReceive runs `hookline receive` in-process and returns its base URL,
// its output lines and a stop function returning the exit code.
func startReceive(t *testing.T) (string, <-chan string, func() int) {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	doc := `{"app_manager":{"array":{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","webhooks":[]}]}}}`
	if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"receive", "--config", cfgPath, "--listen", "127.0.0.1:0", "--log-format", "json"},
			strings.NewReader(""), pw, io.Discard, noEnv)
		pw.Close()
	}()
	var base string
	select {
	case l := <-lines:
		base = strings.TrimPrefix(l, "receiving on ")
	case <-time.After(10 * time.Second):
		t.Fatal("receive did not start")
	}
	return base, lines, func() int { cancel(); return <-done }
}

func TestReceiveVerifiesAndPrints(t *testing.T) {
	base, lines, stop := startReceive(t)
	body := fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"member_added","channel":"presence-chat","user_id":"u1","id":"e:0"}]}`,
		time.Now().UnixMilli())
	post := func(key, sig, ctype, payload string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/hooks", strings.NewReader(payload))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("X-Pusher-Key", key)
		req.Header.Set("X-Pusher-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	next := func() string {
		t.Helper()
		select {
		case l := <-lines:
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no output line")
			return ""
		}
	}
	if got := post("key-1", signing.Sign("secret-1", []byte(body)), "application/json", body); got != 200 {
		t.Errorf("valid request: %d", got)
	}
	if l := next(); !strings.Contains(l, "app-1 /hooks attempt=0 member_added channel=presence-chat user_id=u1") {
		t.Errorf("printed %q", l)
	}
	for _, tc := range []struct {
		name, key, sig, ctype, body string
		status                      int
		reason                      string
	}{
		{"bad signature", "key-1", signing.Sign("wrong", []byte(body)), "application/json", body, 401, "X-Pusher-Signature does not match"},
		{"unknown key", "nobody", signing.Sign("secret-1", []byte(body)), "application/json", body, 401, "key"},
		{"charset", "key-1", signing.Sign("secret-1", []byte(body)), "application/json; charset=utf-8", body, 415, "application/json"},
		{"malformed", "key-1", signing.Sign("secret-1", []byte(`{"time_ms":`)), "application/json", `{"time_ms":`, 400, ""},
	} {
		if got := post(tc.key, tc.sig, tc.ctype, tc.body); got != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.status)
		}
		if l := next(); !strings.Contains(l, fmt.Sprintf("REJECTED %d POST /hooks", tc.status)) || !strings.Contains(l, tc.reason) {
			t.Errorf("%s: printed %q", tc.name, l)
		}
	}
	resp, err := http.Get(base + "/hooks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	next()
	if code := stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
	if l := next(); l != "received 1 events in 1 requests; rejected 5 requests" {
		t.Errorf("summary %q", l)
	}
}
