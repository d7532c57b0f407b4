package producer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/producer"
)

// Local SQS: events of three apps published concurrently travel in
// envelopes of one app each, every event exactly once.
func TestPacksPerApp(t *testing.T) {
	client, url := localQueue(t, false)
	// A 1-minute linger seals envelopes only when full: 40 events per app in
	// calls of 1 and 3 events make exactly 4 envelopes of 10 per app.
	p, reg := newProducer(t, client, producer.Options{QueueURL: url, FairQueues: true, Linger: time.Minute, MaxEvents: 10})
	apps := []string{"app-a", "app-b", "app-c"}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for _, app := range apps {
		for call := range 20 {
			wg.Go(func() {
				if call < 10 {
					errs <- p.Publish(ctx, app, ev(app, call))
					return
				}
				i := 10 + (call-10)*3
				errs <- p.Publish(ctx, app, ev(app, i), ev(app, i+1), ev(app, i+2))
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}

	msgs := receiveAll(t, client, url, 120)
	seen := eventKeys(t, msgs, 10)
	for _, app := range apps {
		for i := range 40 {
			if n := seen[app+"/"+fmt.Sprint(i)]; n != 1 {
				t.Errorf("event %s/%d received %d times", app, i, n)
			}
		}
	}
	if len(msgs) != 12 {
		t.Errorf("%d messages for 120 events, want 12 envelopes of 10", len(msgs))
	}
	for _, m := range msgs {
		if len(m.env.Events) != 10 {
			t.Errorf("envelope %s has %d events, want 10", m.env.ID, len(m.env.Events))
		}
		for _, e := range m.env.Events {
			if e.TimeMS == 0 {
				t.Errorf("event %s: zero time_ms not set by Publish", e.UserID)
			}
		}
	}
	if got := metric(t, reg, "hookline_producer_events_published_total"); got != 120 {
		t.Errorf("events_published_total = %v, want 120", got)
	}
	if got := metric(t, reg, "hookline_producer_envelopes_sent_total"); got != 12 {
		t.Errorf("envelopes_sent_total = %v, want 12", got)
	}
	if got := metric(t, reg, "hookline_producer_buffer_events"); got != 0 {
		t.Errorf("buffer_events = %v after every Publish returned, want 0", got)
	}
}

// flakySQS wraps the real client and fails entries by app, the way SQS
// reports partial failures.
type flakySQS struct {
	producer.SQS
	mu sync.Mutex
	// failOnce: app → code of a SenderFault=false failure on the first
	// attempt of each of its envelopes.
	failOnce map[string]string
	// refuse: app → code of a SenderFault=true failure, always.
	refuse map[string]string
	// callErr fails the first call as a whole, sending nothing.
	callErr error
	tried   map[string]bool // envelope ids seen
}

func (f *flakySQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	if err := f.callErr; err != nil {
		f.callErr = nil
		f.mu.Unlock()
		return nil, err
	}
	var pass []types.SendMessageBatchRequestEntry
	var failed []types.BatchResultErrorEntry
	for _, e := range in.Entries {
		env, err := payload.Decode([]byte(aws.ToString(e.MessageBody)))
		if err != nil {
			f.mu.Unlock()
			return nil, err
		}
		if code, ok := f.refuse[env.AppID]; ok {
			failed = append(failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String(code), SenderFault: true, Message: aws.String("refused by the test")})
			continue
		}
		if code, ok := f.failOnce[env.AppID]; ok && !f.tried[env.ID] {
			f.tried[env.ID] = true
			failed = append(failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String(code), SenderFault: false, Message: aws.String("failed once by the test")})
			continue
		}
		pass = append(pass, e)
	}
	f.mu.Unlock()
	out := &sqs.SendMessageBatchOutput{}
	if len(pass) > 0 {
		real, err := f.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: in.QueueUrl, Entries: pass}, optFns...)
		if err != nil {
			return nil, err
		}
		out.Successful, out.Failed = real.Successful, real.Failed
	}
	out.Failed = append(out.Failed, failed...)
	return out, nil
}

// Local SQS behind a seam: entries failed without sender fault (and whole
// calls failing with a server error) are retried and arrive exactly once;
// entries refused as the sender's fault fail their Publish with a SendError
// and nothing of them arrives.
func TestRetriesFailedEntries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		callErr error
	}{
		{name: "failed entries"},
		{name: "whole call 5xx first", callErr: &smithy.GenericAPIError{Code: "InternalError", Message: "injected", Fault: smithy.FaultServer}},
		{name: "whole call network error first", callErr: errors.New("injected: connection reset by peer")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, url := localQueue(t, false)
			flaky := &flakySQS{SQS: client, callErr: tc.callErr, tried: map[string]bool{},
				failOnce: map[string]string{"flaky": "InternalError", "throttled": "RequestThrottled"},
				refuse:   map[string]string{"bad": "InvalidParameterValue"}}
			p, reg := newProducer(t, flaky, producer.Options{QueueURL: url, Linger: time.Millisecond})
			ctx := context.Background()

			type result struct {
				app string
				err error
			}
			results := make(chan result, 4)
			for _, app := range []string{"ok", "flaky", "throttled", "bad"} {
				go func() {
					results <- result{app, p.Publish(ctx, app, ev(app, 0), ev(app, 1), ev(app, 2))}
				}()
			}
			for range 4 {
				r := <-results
				if r.app != "bad" {
					if r.err != nil {
						t.Errorf("Publish(%s): %v", r.app, r.err)
					}
					continue
				}
				se, ok := isSendError(r.err)
				if !ok {
					t.Fatalf("Publish(bad) = %v, want a *SendError", r.err)
				}
				if se.AppID != "bad" || se.Events != 3 || se.Code != "InvalidParameterValue" || !se.SenderFault {
					t.Errorf("SendError = %+v, want app bad, 3 events, InvalidParameterValue, sender fault", *se)
				}
				// (After a whole-call error the envelope may have been in that
				// call, whose outcome is unknown.)
				if tc.callErr == nil && errors.Is(r.err, producer.ErrOutcomeUnknown) {
					t.Errorf("errors.Is(%v, ErrOutcomeUnknown) = true, want false: SQS refused the entry", r.err)
				}
			}

			msgs := receiveAll(t, client, url, 9)
			seen := eventKeys(t, msgs, producer.DefaultMaxEvents)
			for _, app := range []string{"ok", "flaky", "throttled"} {
				for i := range 3 {
					if n := seen[app+"/"+fmt.Sprint(i)]; n != 1 {
						t.Errorf("event %s/%d received %d times, want 1", app, i, n)
					}
				}
			}
			for k := range seen {
				if strings.HasPrefix(k, "bad/") {
					t.Errorf("event %s of the refused app arrived", k)
				}
			}
			if got := metric(t, reg, "hookline_producer_retries_total"); got < 2 {
				t.Errorf("retries_total = %v, want at least 2 (flaky, throttled)", got)
			}
			if got := metric(t, reg, "hookline_producer_failed_entries_total"); got < 3 {
				t.Errorf("failed_entries_total = %v, want at least 3", got)
			}
			if got := metric(t, reg, "hookline_producer_events_failed_total"); got != 3 {
				t.Errorf("events_failed_total = %v, want 3", got)
			}
		})
	}
}

// Local SQS: Close sends what lingers; every event handed off arrives.
func TestCloseFlushes(t *testing.T) {
	client, url := localQueue(t, false)
	reg := prometheus.NewRegistry()
	p, err := producer.New(context.Background(), client, producer.Options{QueueURL: url, Linger: time.Minute, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	const apps, perApp = 5, 7
	var handedOff, done sync.WaitGroup
	handedOff.Add(apps * perApp)
	producer.OnHandOff(p, handedOff.Done)
	errs := make(chan error, apps*perApp)
	for a := range apps {
		for i := range perApp {
			app := fmt.Sprintf("app-%d", a)
			done.Go(func() { errs <- p.Publish(context.Background(), app, ev(app, i)) })
		}
	}
	handedOff.Wait() // every event lingers in an open envelope now

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close flushed %d events in %v", apps*perApp, time.Since(start))
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Publish: %v", err)
		}
	}
	if err := p.Publish(context.Background(), "app-0", ev("app-0", 99)); !errors.Is(err, producer.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	msgs := receiveAll(t, client, url, apps*perApp)
	seen := eventKeys(t, msgs, producer.DefaultMaxEvents)
	if len(seen) != apps*perApp || len(msgs) != apps {
		t.Errorf("received %d distinct events in %d messages, want %d in %d", len(seen), len(msgs), apps*perApp, apps)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("event %s received %d times", k, n)
		}
	}
}

// Local SQS: 10 000 publishes from 8 goroutines; every event arrives
// exactly once.
func TestNoEventLost(t *testing.T) {
	client, url := localQueue(t, false)
	p, reg := newProducer(t, client, producer.Options{QueueURL: url, FairQueues: true, MaxEvents: 100, Linger: time.Millisecond, BatchLinger: time.Millisecond})
	const goroutines, total = 8, 10000
	start := time.Now()
	var wg sync.WaitGroup
	var failures sync.Map
	for g := range goroutines {
		wg.Go(func() {
			app := fmt.Sprintf("app-%d", g%3)
			for i := g; i < total; i += goroutines {
				if err := p.Publish(context.Background(), app, ev(app, i)); err != nil {
					failures.Store(i, err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	failures.Range(func(k, v any) bool { t.Errorf("Publish %v: %v", k, v); return true })
	msgs := receiveAll(t, client, url, total)
	seen := eventKeys(t, msgs, 100)
	if len(seen) != total {
		t.Errorf("received %d distinct events, want %d", len(seen), total)
	}
	// A whole-call error (a dropped connection) makes the producer re-send
	// what SQS may already hold: at-least-once. Only then are duplicates
	// allowed.
	resent := metric(t, reg, "hookline_producer_call_errors_total") > 0
	for k, n := range seen {
		if n != 1 && !resent {
			t.Errorf("event %s received %d times", k, n)
		}
	}
	t.Logf("%d events published in %v (%.0f events/s) as %d messages in %v SendMessageBatch calls",
		total, elapsed, total/elapsed.Seconds(), len(msgs), metric(t, reg, "hookline_producer_batch_calls_total"))
}

// Local SQS: on a FIFO queue each message is grouped by app and
// de-duplicated by envelope id; events of an app keep their order.
func TestFIFO(t *testing.T) {
	client, url := localQueue(t, true)
	p, _ := newProducer(t, client, producer.Options{QueueURL: url, FIFO: true, MaxEvents: 5, Linger: time.Minute})
	var handedOff, wg sync.WaitGroup
	handedOff.Add(2)
	producer.OnHandOff(p, handedOff.Done)
	for _, app := range []string{"app-a", "app-b"} {
		wg.Go(func() {
			// One call of 12 events: envelopes of 5, 5 and 2 (sealed by Close).
			var evs []payload.Event
			for i := range 12 {
				evs = append(evs, ev(app, i))
			}
			if err := p.Publish(context.Background(), app, evs...); err != nil {
				t.Errorf("Publish(%s): %v", app, err)
			}
		})
	}
	// The last envelope of each app lingers for a minute: Close seals it.
	handedOff.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	msgs := receiveAll(t, client, url, 24)
	next := map[string]int{}
	for _, m := range msgs {
		if m.group != m.env.AppID {
			t.Errorf("MessageGroupId %q, want app id %q", m.group, m.env.AppID)
		}
		if m.dedup != m.env.ID {
			t.Errorf("MessageDeduplicationId %q, want envelope id %q", m.dedup, m.env.ID)
		}
		for _, e := range m.env.Events {
			if want := m.env.AppID + "/" + fmt.Sprint(next[m.env.AppID]); e.UserID != want {
				t.Errorf("event %s out of order, want %s", e.UserID, want)
			}
			next[m.env.AppID]++
		}
	}
	if next["app-a"] != 12 || next["app-b"] != 12 {
		t.Errorf("received %v events per app, want 12 each", next)
	}
}

// Local SQS: PublishEnvelope sends the envelope as it is.
func TestPublishEnvelope(t *testing.T) {
	client, url := localQueue(t, false)
	p, _ := newProducer(t, client, producer.Options{QueueURL: url, FairQueues: true})
	env := &payload.Envelope{V: payload.Version, ID: "ingest-3f9a", AppID: "app-1",
		Events: []payload.Event{{Name: payload.EventChannelOccupied, Channel: "c", TimeMS: 1678886400000}}}
	if err := p.PublishEnvelope(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	msgs := receiveAll(t, client, url, 1)
	if len(msgs) != 1 || msgs[0].env.ID != "ingest-3f9a" || msgs[0].env.Events[0].TimeMS != 1678886400000 {
		t.Fatalf("received %+v, want the envelope as published", msgs)
	}
}
