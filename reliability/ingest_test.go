package reliability_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/signing"
)

// Scenario 9: ingest under hostile requests — a bad signature, an unknown
// key, a 10 MB body, a body sent a byte a second, garbage JSON — next to
// many concurrent valid POSTs: the right status codes, no socket addresses
// in any answer, the server responsive throughout, and every accepted
// event enqueued (and delivered by a worker).
func TestIngestUnderHostileRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{apps: []appSpec{{id: "a", hooks: []hookSpec{{name: "a"}}}}})
	addr := freeAddr(t)
	const readTimeout = 3 * time.Second
	ing := startProc(t, "", []string{"ingest", "--config", e.cfgPath, "--endpoint-url", e.proxy.url(), "--listen", addr,
		"--log-format", "json", "--read-timeout", readTimeout.String()}, nil)
	ing.admin = addr
	ing.waitHTTP("/healthz", 200, 20*time.Second)
	w := e.startWorker()
	url := "http://" + addr + "/pusher"

	var seq int
	var seqMu sync.Mutex
	validBody := func() []byte {
		seqMu.Lock()
		defer seqMu.Unlock()
		var evs []string
		for range 10 {
			seq++
			m := fmt.Sprintf("ing-%d", seq)
			evs = append(evs, fmt.Sprintf(`{"name":"member_added","channel":"presence-rel","user_id":%q}`, m))
		}
		return []byte(fmt.Sprintf(`{"time_ms":%d,"events":[%s]}`, time.Now().UnixMilli(), strings.Join(evs, ",")))
	}
	post := func(body []byte, key, secret string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(signing.HeaderKey, key)
		req.Header.Set(signing.HeaderSignature, signing.Sign(secret, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		text, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(text)
	}
	addrInText := regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+|\[::1?\]:\d+`)
	check := func(what string, status int, text string, want int) {
		t.Helper()
		if status != want {
			t.Errorf("%s: %d %s; want %d", what, status, text, want)
		}
		if addrInText.MatchString(text) {
			t.Errorf("%s: the answer names a socket address: %s", what, text)
		}
	}

	// The slow body: a byte a second, running while everything else goes on.
	slow := make(chan [2]string, 1)
	go func() {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			slow <- [2]string{"", err.Error()}
			return
		}
		defer conn.Close()
		body := validBody()
		fmt.Fprintf(conn, "POST /pusher HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s: key-a\r\n%s: %s\r\n\r\n",
			addr, len(body), signing.HeaderKey, signing.HeaderSignature, signing.Sign("secret-a", body))
		buf := make([]byte, 4096)
		for i := range body {
			if _, err := conn.Write(body[i : i+1]); err != nil {
				break
			}
			_ = conn.SetReadDeadline(time.Now().Add(time.Second)) // the read is the second between bytes
			if n, _ := conn.Read(buf); n > 0 {                    // the server answered before the body was complete
				slow <- [2]string{string(buf[:n]), ""}
				return
			}
		}
		slow <- [2]string{"", "the server never answered the slow body"}
	}()

	status, text := post(validBody(), "key-a", "wrong-secret")
	check("bad signature", status, text, 401)
	status, text = post(validBody(), "key-nobody", "secret-a")
	check("unknown key", status, text, 401)
	status, text = post(bytes.Repeat([]byte("x"), 10<<20), "key-a", "secret-a")
	check("10 MB body", status, text, 413)
	status, text = post([]byte(`{"time_ms":1,"events":[{"name":`), "key-a", "secret-a")
	check("garbage JSON", status, text, 400)

	// Many valid POSTs at once, while the slow body is still trickling.
	concurrent := size(200, 1000)
	var wg sync.WaitGroup
	var failed sync.Map
	accepted := 0
	var acceptedMu sync.Mutex
	start := time.Now()
	for range concurrent {
		wg.Go(func() {
			body := validBody()
			status, text := post(body, "key-a", "secret-a")
			if status != 200 {
				failed.Store(string(body[:40]), fmt.Sprint(status, " ", text))
				return
			}
			acceptedMu.Lock()
			accepted++
			acceptedMu.Unlock()
			e.sentMu.Lock()
			for _, m := range regexp.MustCompile(`ing-\d+`).FindAllString(string(body), -1) {
				e.sent[m] = []string{"a"}
			}
			e.sentMu.Unlock()
		})
	}
	wg.Wait()
	burst := time.Since(start)
	failed.Range(func(k, v any) bool { t.Errorf("valid POST answered %v", v); return true })

	got := <-slow
	if got[1] != "" {
		t.Errorf("slow body: %s", got[1])
	} else {
		var code int
		fmt.Sscanf(got[0], "HTTP/1.1 %d", &code)
		t.Logf("slow body answered: %q", got[0][strings.LastIndex(got[0], "\r\n")+2:])
		check("slow body", code, got[0], 408)
	}
	drain := e.waitDrained(time.Minute, true)
	dls := e.drainDLQ()
	r := e.account("9 ingest under hostile requests", drain, dls, fmt.Sprintf("401, 401, 413, 400, 408 as due; %d concurrent valid POSTs answered 200 in %.1f s", accepted, burst.Seconds()))
	record(r)
	if r.lost != 0 || len(dls) != 0 || r.duplicates != 0 {
		t.Errorf("lost %d, dead letters %d, duplicates %d", r.lost, len(dls), r.duplicates)
	}
	if accepted != concurrent {
		t.Errorf("%d of %d valid POSTs accepted", accepted, concurrent)
	}
	w.term(20 * time.Second)
	if code, _ := ing.term(20 * time.Second); code != 0 {
		t.Errorf("ingest exit %d", code)
	}
}
