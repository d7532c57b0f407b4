package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/localstack/sqsmem"
	"github.com/hookline/hookline/worker"
)

// memWorker runs a worker on an in-memory SQS inside the caller's synctest
// bubble; stop cancels it and waits for Run.
func memWorker(t *testing.T, srv *sqsmem.Server, maxReceive int, opts worker.Options) (w *worker.Worker, mainURL, dlqURL string, reg *prometheus.Registry, stop func()) {
	t.Helper()
	return memWorkerWith(t, srv, maxReceive, `{}`, 2, nil, opts)
}

// memWorkerWith is memWorker with a "webhooks" config section, a poller
// count and a sender (nil: every request delivered).
func memWorkerWith(t *testing.T, srv *sqsmem.Server, maxReceive int, webhooks string, pollers int, sender delivery.Sender,
	opts worker.Options) (w *worker.Worker, mainURL, dlqURL string, reg *prometheus.Registry, stop func()) {
	t.Helper()
	mainURL, dlqURL = srv.CreatePair("mem", false, 6*time.Second, maxReceive)
	doc := fmt.Sprintf(`{"app_manager":{"driver":"memory","array":{"apps":[{"id":"app","key":"k","secret":"s",
		"webhooks":[{"url":"https://example.invalid/hook","event_types":["member_added"]}]}]}},
		"webhooks":%s,
		"queue":{"driver":"sqs","sqs":{"region":%q,"queue_name":"mem","visibility_timeout":6,"wait_time_seconds":1,"concurrency":%d}}}`,
		webhooks, region, pollers)
	cfg, err := config.Parse([]byte(doc), config.Sources{}, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	opts.QueueURL, opts.DeadLetterQueueURL = mainURL, dlqURL
	opts.SQSCallTimeout, opts.GracePeriod = 2*time.Second, 3*time.Second
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	reg = prometheus.NewRegistry()
	opts.Registry = reg
	if sender == nil {
		sender = delivery.SenderFunc(func(context.Context, *delivery.Request) delivery.Outcome {
			return delivery.Outcome{Class: delivery.Delivered, Status: 200}
		})
	}
	w, err = worker.New(cfg, opts, srv.Client(), sender)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return w, mainURL, dlqURL, reg, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// /readyz follows SQS: ready once a receive succeeded, unready while SQS
// calls fail, ready again once one succeeds. Virtual time: the sleeps are
// the scenario's clock (an outage of some seconds), synctest.Wait the
// synchronisation.
func TestReadyFollowsSQS(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := sqsmem.New()
		var down atomic.Bool
		srv.SetFault(sqsmem.Fault{Call: func(op string) error {
			if down.Load() {
				return errors.New("dial tcp 127.0.0.1:4566: connect: connection refused")
			}
			return nil
		}})
		w, _, _, _, stop := memWorker(t, srv, 10, worker.Options{})
		defer stop()
		if err := w.Ready(); err == nil {
			t.Error("ready before any receive")
		}
		time.Sleep(1500 * time.Millisecond) // the first long polls (1 s) return empty
		synctest.Wait()
		if err := w.Ready(); err != nil {
			t.Fatalf("not ready after a successful receive: %v", err)
		}
		down.Store(true)
		time.Sleep(2 * time.Second) // the long polls in progress end; the next receives fail
		synctest.Wait()
		if err := w.Ready(); err == nil {
			t.Fatal("ready while every SQS call fails")
		}
		down.Store(false)
		time.Sleep(11 * time.Second) // longer than the pollers' longest backoff (10 s)
		synctest.Wait()
		if err := w.Ready(); err != nil {
			t.Fatalf("not ready after SQS came back: %v", err)
		}
	})
}

// An envelope of a newer version is released for later, and just before
// the redrive policy would move it to the DLQ without a reason, it is put
// back as a fresh copy: after many release cycles it is still on the main
// queue, alone, and the DLQ is empty.
func TestFutureVersionNeverReachesTheDLQWithoutAReason(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := sqsmem.New()
		_, mainURL, dlqURL, reg, stop := memWorker(t, srv, 3, worker.Options{FutureVersionDelay: time.Second})
		body := `{"v":2,"id":"from-the-future","app_id":"app","events":[{"name":"member_added"}],"new_field":true}`
		if _, err := srv.Client().SendMessage(context.Background(), &sqs.SendMessageInput{
			QueueUrl: aws.String(mainURL), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second) // about 15 release cycles with maxReceiveCount 3
		synctest.Wait()
		stop()
		if dlq := srv.Peek(dlqURL); len(dlq) != 0 {
			t.Errorf("DLQ holds %d messages (receive count %d): the redrive policy moved it without a reason", len(dlq), dlq[0].ReceiveCount)
		}
		main := srv.Peek(mainURL)
		if len(main) != 1 || main[0].Body != body {
			t.Fatalf("main queue holds %d messages, want the future envelope once, unchanged", len(main))
		}
		if n := srv.Calls()["SendMessageBatch"]; n == 0 {
			t.Error("no fresh copy was sent")
		}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "hookline_worker_envelopes_future_version_total" && f.GetMetric()[0].GetCounter().GetValue() < 5 {
				t.Errorf("future-version releases counted %v, want one per receive", f.GetMetric()[0].GetCounter().GetValue())
			}
		}
	})
}

// While the queue is dry only Options.MinPollers keep long-polling (fewer
// empty receives); a receive that brings messages wakes the others, and
// nothing waits longer than one long poll.
func TestPollersStepDownWhileTheQueueIsDry(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		minPollers int
		maxCalls   int
	}{
		{1, 23},  // one poller: 20 long polls of 1 s, and the other's first
		{2, 100}, // both keep polling: about 40
	} {
		t.Run(fmt.Sprint("min pollers ", tt.minPollers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := sqsmem.New()
				_, mainURL, _, _, stop := memWorker(t, srv, 10, worker.Options{MinPollers: tt.minPollers})
				time.Sleep(20 * time.Second) // an idle queue
				synctest.Wait()
				idle := srv.Calls()["ReceiveMessage"]
				if idle > tt.maxCalls || (tt.minPollers == 2 && idle < 36) {
					t.Errorf("%d receives in 20 s of an idle queue with 2 pollers, %d of them kept polling", idle, tt.minPollers)
				}
				for i := range 50 {
					body := fmt.Sprintf(`{"v":1,"id":"e-%d","app_id":"app","events":[{"name":"member_added","channel":"presence-x"}]}`, i)
					if _, err := srv.Client().SendMessage(context.Background(), &sqs.SendMessageInput{
						QueueUrl: aws.String(mainURL), MessageBody: aws.String(body)}); err != nil {
						t.Fatal(err)
					}
				}
				sent := time.Now()
				for len(srv.Peek(mainURL)) > 0 {
					time.Sleep(100 * time.Millisecond) // virtual time: how long the drain takes is what is measured
				}
				if took := time.Since(sent); took > 3*time.Second {
					t.Errorf("50 messages took %v to drain after an idle spell, want within a long poll and a batch window", took)
				}
				stop()
			})
		})
	}
}
