package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/signing"
	"github.com/hookline/hookline/worker"
)

// BenchmarkWorkerThroughput measures events delivered per second end to end
// on loopback: envelopes of 10 events on the local SQS, a worker, and a
// verifying receiver. Each iteration delivers 1000 events.
func BenchmarkWorkerThroughput(b *testing.B) {
	const perIter, perEnvelope = 1000, 10
	rec := receiver.NewRecorder(receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	srv := receiver.NewServer(rec)
	defer srv.Close()
	h := newHarness(b, []app{{"app", "k", "s", []string{fmt.Sprintf(`{"url":%q,"event_types":["member_added"]}`, srv.URL)}}},
		`{"batching":{"enabled":true,"duration":50,"size":100}}`, false)
	w := h.start(worker.Options{}, nil)
	defer w.stop(h.t, time.Minute)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		for e := 0; e < perIter/perEnvelope; e++ {
			events := make([]payload.Event, perEnvelope)
			for k := range events {
				events[k] = payload.Event{Name: "member_added", Channel: "presence-bench", UserID: fmt.Sprint(i, "-", e, "-", k), TimeMS: 1}
			}
			h.send("app", events...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := rec.WaitEvents(ctx, (i+1)*perIter); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
	b.ReportMetric(float64(b.N*perIter)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(b.N*perIter)/float64(rec.Requests()), "events/request")
}

// BenchmarkBuildAndSign is the per-request CPU work: encode a 100-event
// Pusher body and sign it.
func BenchmarkBuildAndSign(b *testing.B) {
	events := make([]payload.Event, 100)
	for i := range events {
		events[i] = payload.Event{Name: "client_event", Channel: "private-room", Event: "client-typing",
			Data: `{"user":"alice","typing":true}`, SocketID: "123.456", TimeMS: 1700000000000, ID: fmt.Sprintf("env:%d", i)}
	}
	b.ReportAllocs()
	for b.Loop() {
		body, err := payload.EncodeBody(1700000000000, events)
		if err != nil {
			b.Fatal(err)
		}
		_ = signing.Sign("secret", body)
	}
}
