package receiver_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/signing"
)

// A test receiver that fails the first delivery and accepts the retry, as a
// worker integration test would use it.
func Example() {
	rec := receiver.NewRecorder(receiver.StaticApps{"app-key": {ID: "app-1", Secret: "secret"}})
	rec.Respond(receiver.Sequence(503, 200))
	srv := receiver.NewServer(rec) // loopback; checks header case too
	defer srv.Close()

	events := []payload.Event{{Name: payload.EventMemberAdded, Channel: "presence-chat", UserID: "u1", ID: "m1:0"}}
	for attempt := 1; attempt <= 2; attempt++ {
		body, _ := payload.EncodeBody(time.Now().UnixMilli(), events)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/pusher/webhooks", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(signing.HeaderKey, "app-key")
		req.Header.Set(signing.HeaderSignature, signing.Sign("secret", body))
		req.Header.Set(receiver.HeaderAttempt, fmt.Sprint(attempt))
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println("attempt", attempt, "->", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rec.WaitEvents(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}
	for _, ev := range rec.Events() {
		fmt.Println(ev.Name, ev.Channel, ev.UserID, ev.ID)
	}
	for _, d := range rec.Deliveries() {
		fmt.Println(d.AppID, d.Path, "attempt", d.Attempt, "status", d.Status, "case checked", d.CaseChecked)
	}
	// Output:
	// attempt 1 -> 503
	// attempt 2 -> 200
	// member_added presence-chat u1 m1:0
	// app-1 /pusher/webhooks attempt 1 status 503 case checked true
	// app-1 /pusher/webhooks attempt 2 status 200 case checked true
}

// Verify names the rule a request breaks.
func ExampleVerify() {
	body := fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"client_event","data":{"a":1}}]}`, time.Now().UnixMilli())
	r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(signing.HeaderKey, "app-key")
	r.Header.Set(signing.HeaderSignature, signing.Sign("secret", []byte(body)))

	apps := receiver.StaticApps{"app-key": {ID: "app-1", Secret: "secret"}}
	_, err := receiver.Verify(apps, r, []byte(body))
	fmt.Println(err)
	// Output:
	// receiver: 400 body: events[0]: "data": want a JSON string, got object
}
