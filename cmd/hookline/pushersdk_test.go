package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/hookline/hookline/signing"
)

// Events with any Unicode content — U+FFFF and U+FFFE (which SQS refuses),
// emoji and other characters above U+FFFF (which the local emulator
// refuses), U+2028, raw or \u-escaped in the POST — go through ingest → SQS →
// worker next to ordinary events, and the official Pusher Go SDK
// (pusher-http-go's Client.Webhook: key, signature, body) accepts every
// request and reads every string unchanged.
func TestUnicodeThroughIngestIsValidatedByThePusherSDK(t *testing.T) {
	queue := testQueue(t, "unicode")
	sdk := pusher.Client{AppID: "app-1", Key: "key-1", Secret: "secret-1"}
	var mu sync.Mutex
	var got []pusher.WebhookEvent
	var rejected []string
	arrived := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hook, err := sdk.Webhook(r.Header, body)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			rejected = append(rejected, err.Error()+": "+string(body))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got = append(got, hook.Events...)
		for range hook.Events {
			arrived <- struct{}{}
		}
	}))
	t.Cleanup(srv.Close)

	cfgPath := writeFile(t, "config.json", fmt.Sprintf(`{"app_manager":{"array":{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1",
		"webhooks":[{"url":%q,"event_types":["channel_occupied","member_added","client_event"]}]}]}},`+queue+`}`, srv.URL))
	ingestAddr := startIngest(t, noEnv, cfgPath)
	background(t, noEnv, "worker", "--config", cfgPath, "--listen", "", "--log-format", "json", "--sqs-call-timeout", "3s")

	want := []pusher.WebhookEvent{
		{Name: "channel_occupied", Channel: "presence-plain"},
		{Name: "client_event", Channel: "private-😀", Event: "client-\uffff",
			Data: `{"text":"nonchar ` + "\uffff\ufffe" + ` emoji 😀 astral 𝄞 line ` + "\u2028" + ` é \"quoted\""}`, SocketID: "1.2", UserID: "ü"},
		{Name: "member_added", Channel: "presence-𝄞", UserID: "user-🎉"},
		{Name: "client_event", Channel: "private-plain", Event: "client-x", Data: "plain", SocketID: "3.4"},
	}
	var evs []map[string]any
	for _, e := range want {
		m := map[string]any{"name": e.Name, "channel": e.Channel}
		for k, v := range map[string]string{"event": e.Event, "data": e.Data, "socket_id": e.SocketID, "user_id": e.UserID} {
			if v != "" {
				m[k] = v
			}
		}
		evs = append(evs, m)
	}
	raw, err := json.Marshal(map[string]any{"time_ms": time.Now().UnixMilli(), "events": evs})
	if err != nil {
		t.Fatal(err)
	}
	// The same events again with every non-ASCII character \u-escaped,
	// as some servers write them.
	var escaped bytes.Buffer
	for _, r := range string(raw) {
		switch {
		case r < 0x80:
			escaped.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&escaped, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(&escaped, `\u%04x`, r)
		}
	}
	for i, body := range [][]byte{raw, escaped.Bytes()} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ingestAddr+"/pusher", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(signing.HeaderKey, "key-1")
		req.Header.Set(signing.HeaderSignature, signing.Sign("secret-1", body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %d: %d %s", i, resp.StatusCode, answer)
		}
	}
	deadline := time.After(30 * time.Second)
	for range 2 * len(want) {
		select {
		case <-arrived:
		case <-deadline:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("%d of %d events arrived; SDK rejected %q", len(got), 2*len(want), rejected)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(rejected) != 0 {
		t.Errorf("the Pusher SDK rejected %d requests: %q", len(rejected), rejected)
	}
	count := map[pusher.WebhookEvent]int{}
	for _, e := range got {
		count[e]++
	}
	for _, e := range want {
		if count[e] != 2 {
			t.Errorf("event %+v arrived %d times unchanged, want 2 (raw and escaped POST)", e, count[e])
		}
	}
}
