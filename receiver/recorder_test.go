package receiver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/signing"
)

// post sends a signed body through net/http's client and returns the
// status.
func post(t *testing.T, c *http.Client, url, body string, attempt int) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.HeaderKey, testKey)
	req.Header.Set(signing.HeaderSignature, signing.Sign(testSecret, []byte(body)))
	if attempt > 0 {
		req.Header.Set(HeaderAttempt, fmt.Sprint(attempt))
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return nil
	}
	resp.Body.Close()
	return resp
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRecorderScriptedRetries(t *testing.T) {
	rec := newTestRecorder()
	rec.Respond(func(d *Delivery, n int) Response {
		r := Sequence(500, 500, 200)(d, n)
		if r.Status != 200 {
			r.Header = http.Header{"Retry-After": {"1"}}
		}
		return r
	})
	srv := NewServer(rec)
	defer srv.Close()

	var statuses []int
	for attempt := 1; attempt <= 3; attempt++ {
		resp := post(t, srv.Client(), srv.URL, goodBody(), attempt)
		statuses = append(statuses, resp.StatusCode)
		if got := resp.Header.Get("Retry-After"); (resp.StatusCode == 500) != (got == "1") {
			t.Errorf("attempt %d: Retry-After %q", attempt, got)
		}
	}
	if fmt.Sprint(statuses) != "[500 500 200]" {
		t.Fatalf("statuses %v, want [500 500 200]", statuses)
	}
	if err := rec.WaitEvents(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	if evs := rec.Events(); len(evs) != 1 {
		t.Errorf("%d events, want 1: only the 2xx-answered delivery counts", len(evs))
	}
	ds := rec.Deliveries()
	for i, d := range ds {
		want := []int{500, 500, 200}[i]
		if d.Status != want || d.Attempt != i+1 || d.Seq != i+1 {
			t.Errorf("delivery %d: status %d attempt %d seq %d", i, d.Status, d.Attempt, d.Seq)
		}
	}
	if len(ds) != 3 || rec.Requests() != 3 {
		t.Errorf("%d deliveries, %d requests, want 3, 3", len(ds), rec.Requests())
	}
	// Sequence repeats its last status.
	if r := Sequence(500, 200)(nil, 9); r.Status != 200 {
		t.Errorf("Sequence past the end = %d", r.Status)
	}
	if r := Sequence()(nil, 1); r.Status != 200 {
		t.Errorf("empty Sequence = %d", r.Status)
	}
}

func TestRecorderBlock(t *testing.T) {
	rec := newTestRecorder()
	release := make(chan struct{})
	rec.Respond(func(*Delivery, int) Response { return Response{Block: release} })
	srv := NewServer(rec)
	defer srv.Close()

	done := make(chan int, 1)
	go func() {
		status := 0
		if resp := post(t, srv.Client(), srv.URL, goodBody(), 1); resp != nil {
			status = resp.StatusCode
		}
		done <- status
	}()
	ctx := testCtx(t)
	if err := rec.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The request is held: nothing accepted yet, the delivery pending.
	waitCtx, cancel := context.WithCancel(ctx)
	cancel()
	if err := rec.WaitEvents(waitCtx, 1); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "0 of 1 events") {
		t.Errorf("WaitEvents while blocked = %v", err)
	}
	close(release)
	if err := rec.WaitEvents(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != 200 {
		t.Errorf("status %d, want 200", got)
	}
}

// A client that gives up while the answer is held leaves Status 0 and
// no accepted events.
func TestRecorderBlockClientGone(t *testing.T) {
	rec := newTestRecorder()
	never := make(chan struct{})
	rec.Respond(func(*Delivery, int) Response { return Response{Block: never} })
	srv := NewServer(rec)
	defer srv.Close()

	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		body := goodBody()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(signing.HeaderKey, testKey)
		req.Header.Set(signing.HeaderSignature, signing.Sign(testSecret, []byte(body)))
		_, err := srv.Client().Do(req)
		errc <- err
	}()
	if err := rec.WaitRequests(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("request succeeded, want canceled")
	}
	srv.Close() // waits for the handler to return
	if ds := rec.Deliveries(); len(ds) != 1 || ds[0].Status != 0 || len(rec.Events()) != 0 {
		t.Errorf("deliveries %+v, events %d", ds, len(rec.Events()))
	}
}

func TestRecorderConcurrent(t *testing.T) {
	rec := newTestRecorder()
	rec.Respond(func(d *Delivery, n int) Response {
		if n%5 == 0 {
			return Response{Status: http.StatusServiceUnavailable}
		}
		return Response{Status: http.StatusNoContent}
	})
	srv := NewServer(rec)
	defer srv.Close()

	const senders, perSender = 8, 10
	bad := signedReq(goodBody(), testSecret)
	bad.set(signing.HeaderSignature, "x-pusher-signature: "+signing.Sign(testSecret, []byte(goodBody())))
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for range perSender {
				post(t, srv.Client(), srv.URL, goodBody(), 1)
			}
		})
	}
	wg.Go(func() { roundTrip(t, srv.Listener.Addr().String(), bad, bad) })
	// Read while writing, for the race detector: woken by each request.
	total := senders*perSender + 2
	wg.Go(func() {
		ctx := testCtx(t)
		for k := 1; k <= total; k++ {
			if err := rec.WaitRequests(ctx, k); err != nil {
				t.Error(err)
				return
			}
			_, _, _ = rec.Events(), rec.Deliveries(), rec.Rejections()
		}
	})
	if err := rec.WaitRequests(testCtx(t), total); err != nil {
		t.Fatal(err)
	}
	if err := rec.WaitRejections(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	ds := rec.Deliveries()
	if len(ds) != senders*perSender {
		t.Fatalf("%d deliveries, want %d", len(ds), senders*perSender)
	}
	seen := map[int]bool{}
	ok := 0
	for _, d := range ds {
		if seen[d.Seq] || d.Seq < 1 || d.Seq > total {
			t.Errorf("bad or repeated Seq %d", d.Seq)
		}
		seen[d.Seq] = true
		if want := map[bool]int{true: 503, false: 204}[d.Seq%5 == 0]; d.Status != want {
			t.Errorf("seq %d: status %d, want %d", d.Seq, d.Status, want)
		}
		if d.Status == 204 {
			ok++
		}
	}
	if err := rec.WaitEvents(testCtx(t), ok); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.Events()); got != ok {
		t.Errorf("%d events, want %d", got, ok)
	}
	for _, re := range rec.Rejections() {
		if re.Rule != RuleHeaderCase {
			t.Errorf("rejection %v", re)
		}
	}
}

func TestRecorderRejectionAnswer(t *testing.T) {
	rec := newTestRecorder()
	srv := NewServer(rec)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if rs := rec.Rejections(); len(rs) != 1 || rs[0].Rule != RuleMethod {
		t.Errorf("rejections %v", rs)
	}
}

// A conn prepared for raw heads whose head does not match the request is a
// receiver bug: Verify refuses instead of silently skipping the check.
func TestCaptureMismatch(t *testing.T) {
	st := &connState{heads: [][]byte{[]byte("POST /other HTTP/1.1\r\n\r\n")}}
	var gotErr error
	h := rawCaseHandler{http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := RawHead(r); ok {
			t.Error("RawHead ok for a mismatched head")
		}
		_, gotErr = Verify(testApps(), r, []byte(goodBody()))
	})}
	r := httptest.NewRequest(http.MethodPost, "/hook", nil)
	r = r.WithContext(context.WithValue(r.Context(), connStateKey{}, st))
	h.ServeHTTP(httptest.NewRecorder(), r)
	var re *RejectError
	if !errors.As(gotErr, &re) || re.Rule != RuleCapture || re.Status != 500 {
		t.Errorf("Verify = %v, want capture 500", gotErr)
	}
	if !st.broken {
		t.Error("conn not marked broken")
	}
}

func TestRawHead(t *testing.T) {
	var head []byte
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		head, _ = RawHead(r)
	}))
	defer srv.Close()
	req := signedReq(goodBody(), testSecret)
	req.set("X-Custom", "x-cUsToM: v")
	roundTrip(t, srv.Listener.Addr().String(), req)
	if !strings.Contains(string(head), "\r\nx-cUsToM: v\r\n") || !strings.HasSuffix(string(head), "\r\n\r\n") {
		t.Errorf("head %q", head)
	}
}
