package worker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/worker"
)

// Events of two apps sent in one burst arrive as per-app batches, never
// mixed, each signed for its own endpoint and accepted by a verifier that
// applies the Pusher SDK rules.
func TestBurstOfTwoAppsArrivesAsPerAppBatches(t *testing.T) {
	recA, srvA := server(t, receiver.StaticApps{"key-a": {ID: "app-a", Secret: "secret-a"}})
	recB, srvB := server(t, receiver.StaticApps{"key-b": {ID: "app-b", Secret: "secret-b"}})
	h := newHarness(t, []app{
		{"app-a", "key-a", "secret-a", []string{fmt.Sprintf(`{"url":%q,"event_types":["member_added","client_event"]}`, srvA.URL+"/a")}},
		{"app-b", "key-b", "secret-b", []string{fmt.Sprintf(`{"url":%q,"event_types":["member_added","client_event"]}`, srvB.URL+"/b")}},
	}, `{"batching":{"enabled":true,"duration":200,"size":50}}`, false)

	const perApp = 30
	var sentA, sentB []string
	for i := range perApp {
		sentA = append(sentA, h.send("app-a", payload.Event{Name: "member_added", Channel: "presence-a", UserID: fmt.Sprint("u", i), TimeMS: 1}))
		sentB = append(sentB, h.send("app-b", payload.Event{Name: "client_event", Channel: "private-b", Event: "client-x",
			Data: `{"n":` + fmt.Sprint(i) + `}`, SocketID: "1.1", TimeMS: 2}))
	}
	w := h.start(worker.Options{}, nil)
	waitEvents(t, recA, perApp, 30*time.Second)
	waitEvents(t, recB, perApp, 30*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()

	for name, c := range map[string]struct {
		rec  *receiver.Recorder
		sent []string
	}{"app-a": {recA, sentA}, "app-b": {recB, sentB}} {
		if rej := c.rec.Rejections(); len(rej) > 0 {
			t.Errorf("%s: verifier rejected %d requests: %v", name, len(rej), rej)
		}
		ds := c.rec.Deliveries()
		if len(ds) >= perApp {
			t.Errorf("%s: %d requests for %d events; want batches", name, len(ds), perApp)
		}
		var got []string
		for _, d := range ds {
			if d.AppID != name {
				t.Errorf("%s: delivery for %s", name, d.AppID)
			}
			if !d.CaseChecked {
				t.Errorf("%s: header case not checked", name)
			}
			for _, e := range d.Body.Events {
				got = append(got, e.ID)
			}
		}
		var want []string
		for _, id := range c.sent {
			want = append(want, id+":0")
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: event ids\n got %v\nwant %v", name, got, want)
		}
	}
	if data := recB.Events()[0].Data; data == "" || data[0] != '{' {
		t.Errorf("client_event data = %q, want the JSON string", data)
	}
}

// Each endpoint receives exactly the events its filter selects.
func TestFiltersSelectExactly(t *testing.T) {
	apps := receiver.StaticApps{"k": {ID: "app", Secret: "s"}}
	presence, srvP := server(t, apps)
	private, srvPriv := server(t, apps)
	prefixed, srvPre := server(t, apps)
	lifecycle, srvL := server(t, apps)
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["member_added","member_removed"],"filter":{"channel_type":"presence"}}`, srvP.URL),
		fmt.Sprintf(`{"url":%q,"event_types":["client_event"],"filter":{"channel_type":"private"}}`, srvPriv.URL),
		fmt.Sprintf(`{"url":%q,"event_types":["channel_occupied","client_event"],"filter":{"channel_prefix":"presence-chat","channel_suffix":"-1"}}`, srvPre.URL),
		fmt.Sprintf(`{"url":%q,"event_types":["channel_occupied","channel_vacated"]}`, srvL.URL),
	}}}, ``, false)

	events := []payload.Event{
		ev("channel_occupied", "presence-chat-1"),    // 0: prefixed, lifecycle
		ev("member_added", "presence-chat-1"),        // 1: presence
		ev("client_event", "private-room"),           // 2: private
		ev("client_event", "private-encrypted-room"), // 3: nobody (private-encrypted is not private)
		ev("client_event", "presence-chat-1"),        // 4: prefixed
		ev("member_removed", "presence-lobby"),       // 5: presence
		ev("channel_vacated", "private-cache-x"),     // 6: lifecycle
		ev("cache_miss", "cache-x"),                  // 7: nobody
		ev("client_event", "private-cache-y"),        // 8: private (cache keeps its base type)
	}
	id := h.send("app", events...)
	want := map[*receiver.Recorder][]int{presence: {1, 5}, private: {2, 8}, prefixed: {0, 4}, lifecycle: {0, 6}}
	w := h.start(worker.Options{}, nil)
	for rec, idx := range want {
		waitEvents(t, rec, len(idx), 30*time.Second)
	}
	// Stopped, the worker has settled everything: nothing more can arrive.
	w.stop(t, time.Minute)
	h.assertDrained()
	for rec, idx := range want {
		var got, exp []string
		for _, e := range rec.Events() {
			got = append(got, e.ID)
		}
		for _, i := range idx {
			exp = append(exp, fmt.Sprintf("%s:%d", id, i))
		}
		slices.Sort(got)
		if !slices.Equal(got, exp) {
			t.Errorf("got %v, want %v", got, exp)
		}
	}
}

// A message no webhook's filter selects is deleted and counted.
func TestUnmatchedMessagesAreDeletedAndCounted(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["member_added"],"filter":{"channel_type":"presence"}}`, srv.URL),
	}}}, ``, false)
	h.send("app", ev("member_added", "private-not-presence"), ev("channel_occupied", "presence-x"))
	h.send("app", ev("member_added", "presence-x")) // a marker that does match
	spy := &deleteSpy{Client: h.client, deleted: make(chan int, 10)}
	w := h.startOn(spy, worker.Options{}, nil)
	for n := 0; n < 2; {
		select {
		case k := <-spy.deleted:
			n += k
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of 2 messages deleted", n)
		}
	}
	w.stop(t, time.Minute)
	h.assertDrained()
	if got := w.counter(t, "hookline_worker_messages_unmatched_total"); got != 1 {
		t.Errorf("messages_unmatched_total = %v, want 1", got)
	}
	if got := w.counter(t, "hookline_worker_messages_deleted_total"); got != 2 {
		t.Errorf("messages_deleted_total = %v, want 2", got)
	}
	if n := rec.Requests(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// deleteSpy reports how many messages each DeleteMessageBatch deleted.
type deleteSpy struct {
	*sqs.Client
	deleted chan int
}

func (s *deleteSpy) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	out, err := s.Client.DeleteMessageBatch(ctx, in, opts...)
	if err == nil {
		s.deleted <- len(out.Successful)
	}
	return out, err
}

// Any Unicode content — U+FFFF (SQS refuses it raw), emoji (the emulator
// refuses them raw), U+2028 — goes through the queue as escapes and reaches
// a verifying receiver with the same strings, signature valid.
func TestUnicodeContentArrivesUnchanged(t *testing.T) {
	rec, srv := server(t, receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	h := newHarness(t, []app{{"app", "k", "s", []string{
		fmt.Sprintf(`{"url":%q,"event_types":["client_event"]}`, srv.URL),
	}}}, ``, false)
	data := `{"text":"nonchar ` + "\uffff\ufffe" + ` emoji 😀 astral 𝄞 line ` + "\u2028" + ` é"}`
	h.send("app", payload.Event{Name: "client_event", Channel: "private-😀", Event: "client-\uffff", Data: data, UserID: "ü", TimeMS: 1})
	w := h.start(worker.Options{}, nil)
	waitEvents(t, rec, 1, 30*time.Second)
	w.stop(t, time.Minute)
	h.assertDrained()
	if rj := rec.Rejections(); len(rj) != 0 {
		t.Fatalf("receiver rejected %v", rj)
	}
	e := rec.Events()[0]
	if e.Data != data || e.Channel != "private-😀" || e.Event != "client-\uffff" || e.UserID != "ü" {
		t.Errorf("event arrived as %+v, want the strings unchanged", e)
	}
}
