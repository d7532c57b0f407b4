package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/registry"
	"github.com/hookline/hookline/worker"
)

// A config reload swaps the app's webhooks for new messages while a
// message in flight finishes with the webhook it was routed to.
func TestReloadKeepsInFlightAndRoutesNewMessagesAnew(t *testing.T) {
	got := make(chan string, 10)
	release := make(chan struct{})
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Path
		<-release
	}))
	defer old.Close()
	defer close(release)
	rec, srvNew := server(t, receiver.StaticApps{"key-1": {ID: "app-1", Secret: "secret-1"}})
	hook := func(url string) string { return fmt.Sprintf(`{"url":%q,"event_types":["channel_occupied"]}`, url) }
	h := newHarness(t, []app{{"app-1", "key-1", "secret-1", []string{hook(old.URL + "/old")}}}, `{"batching":{"enabled":false}}`, false)
	apps := registry.Static(h.cfg)
	w := h.start(worker.Options{Apps: apps}, nil)

	h.send("app-1", ev("channel_occupied", "presence-before"))
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the first message was not delivered to the old webhook")
	}
	// Reload: the app's only webhook is now the new server.
	next := newHarness(t, []app{{"app-1", "key-1", "secret-1", []string{hook(srvNew.URL + "/new")}}}, `{"batching":{"enabled":false}}`, false)
	cfg := *h.cfg
	cfg.Apps = next.cfg.Apps
	apps.SetConfig(context.Background(), &cfg)

	h.send("app-1", ev("channel_occupied", "presence-after"))
	waitEvents(t, rec, 1, 30*time.Second)
	release <- struct{}{} // the first request answers 200 now
	w.stop(t, time.Minute)
	h.assertDrained()

	evs := rec.Events()
	if len(evs) != 1 || evs[0].Channel != "presence-after" {
		t.Errorf("new webhook got %+v; want only the message sent after the reload", evs)
	}
	select {
	case p := <-got:
		t.Errorf("the old webhook got a second request (%s)", p)
	default:
	}
}
