package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookline/hookline/signing"
)

// The receiver keeps what Pusher's Go SDK drops (id, per-event time_ms,
// subscription_count), handles a retried event once, and refuses a bad
// signature — checked against Hookline's own signing.
func TestReceiverKeepsEveryFieldAndDeduplicates(t *testing.T) {
	var got []Event
	h := &Handler{Secrets: map[string]string{"k": "s"}, Handle: func(_ string, ev Event) { got = append(got, ev) }}
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := `{"time_ms":1700000000900,"events":[` +
		`{"name":"subscription_count","channel":"chat","subscription_count":3,"time_ms":1700000000100,"id":"e1:0"},` +
		`{"name":"member_added","channel":"presence-a","user_id":"u1","time_ms":1700000000200,"id":"e1:1"}]}`
	post := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set("X-Pusher-Key", "k")
		req.Header.Set("X-Pusher-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	sig := signing.Sign("s", []byte(body))
	if c := post(sig); c != 200 {
		t.Fatalf("status %d", c)
	}
	if c := post(sig); c != 200 { // the sender's retry
		t.Fatalf("retry status %d", c)
	}
	if c := post(strings.Repeat("0", len(sig))); c != 401 {
		t.Errorf("bad signature: %d, want 401", c)
	}
	if len(got) != 2 {
		t.Fatalf("%d events handled, want 2 (the retry de-duplicated): %+v", len(got), got)
	}
	if e := got[0]; e.ID != "e1:0" || e.TimeMS != 1700000000100 || e.SubscriptionCount == nil || *e.SubscriptionCount != 3 {
		t.Errorf("first event %+v: id, time_ms or subscription_count lost", e)
	}
	if e := got[1]; e.ID != "e1:1" || e.UserID != "u1" || e.TimeMS != 1700000000200 {
		t.Errorf("second event %+v", e)
	}
}
