package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/localstack/sqsmem"
	"github.com/hookline/hookline/worker"
)

// sample is the first series of name whose labels include all of labels;
// nil when there is none.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels ...string) *dto.Metric {
	t.Helper()
	if ms := series(t, reg, name, labels...); len(ms) > 0 {
		return ms[0]
	}
	return nil
}

// The operational series: queue depths of both queues polled every
// QueueStatsInterval, the end-to-end age of delivered events, events per
// request, the in-flight limits; labelled series exported at zero before
// anything happened.
func TestOperationalMetrics(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := sqsmem.New()
		_, mainURL, dlqURL, reg, stop := memWorker(t, srv, 10, worker.Options{QueueStatsInterval: 5 * time.Second})
		defer stop()
		for _, l := range [][]string{{"queue", "main", "state", "visible"}, {"queue", "dlq", "state", "delayed"}} {
			if m := sample(t, reg, "hookline_worker_queue_messages", l...); m == nil || m.GetGauge().GetValue() != 0 {
				t.Errorf("queue_messages%v at start: %v, want 0", l, m)
			}
		}
		for _, s := range [][]string{{"hookline_worker_requests_total", "class", "retryable"}, {"hookline_worker_requests_total", "class", "permanent"},
			{"hookline_worker_sqs_errors_total", "op", "send-dlq"}, {"hookline_worker_sqs_errors_total", "op", "heartbeat"},
			{"hookline_worker_dead_letters_total", "reason", "retries-exhausted"}} {
			if m := sample(t, reg, s[0], s[1:]...); m == nil || m.GetCounter().GetValue() != 0 {
				t.Errorf("%s%v at start: %v, want 0", s[0], s[1:], m)
			}
		}
		if m := sample(t, reg, "hookline_worker_inflight_limit_bytes"); m == nil || m.GetGauge().GetValue() != float64(worker.DefaultMaxInFlightBytes) {
			t.Errorf("inflight_limit_bytes %v, want %d", m, worker.DefaultMaxInFlightBytes)
		}
		for i := range 2 {
			if _, err := srv.Client().SendMessage(context.Background(), &sqs.SendMessageInput{
				QueueUrl: aws.String(dlqURL), MessageBody: aws.String(fmt.Sprintf(`{"dead":%d}`, i))}); err != nil {
				t.Fatal(err)
			}
		}
		// Three events that happened 2 s ago, in one message.
		then := time.Now().Add(-2 * time.Second).UnixMilli()
		body := fmt.Sprintf(`{"v":1,"id":"m-1","app_id":"app","events":[`+
			`{"name":"member_added","channel":"presence-x","user_id":"a","time_ms":%d},`+
			`{"name":"member_added","channel":"presence-x","user_id":"b","time_ms":%d},`+
			`{"name":"member_added","channel":"presence-x","user_id":"c","time_ms":%d}]}`, then, then, then)
		if _, err := srv.Client().SendMessage(context.Background(), &sqs.SendMessageInput{
			QueueUrl: aws.String(mainURL), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(6 * time.Second) // virtual: the delivery and the next stats poll
		synctest.Wait()
		if m := sample(t, reg, "hookline_worker_queue_messages", "queue", "dlq", "state", "visible"); m.GetGauge().GetValue() != 2 {
			t.Errorf("queue_messages{dlq,visible} = %v, want 2", m.GetGauge().GetValue())
		}
		if m := sample(t, reg, "hookline_worker_queue_messages", "queue", "main", "state", "visible"); m.GetGauge().GetValue() != 0 {
			t.Errorf("queue_messages{main,visible} = %v, want 0 (delivered)", m.GetGauge().GetValue())
		}
		age := sample(t, reg, "hookline_worker_event_age_seconds").GetHistogram()
		if age.GetSampleCount() != 3 || age.GetSampleSum() < 3*2 || age.GetSampleSum() > 3*3 {
			t.Errorf("event_age_seconds: %d samples summing %.3f s, want 3 of about 2 s each", age.GetSampleCount(), age.GetSampleSum())
		}
		batch := sample(t, reg, "hookline_worker_batch_events").GetHistogram()
		if batch.GetSampleCount() != 1 || batch.GetSampleSum() != 3 {
			t.Errorf("batch_events: %d requests of %v events, want 1 of 3", batch.GetSampleCount(), batch.GetSampleSum())
		}
		if n := srv.Calls()["GetQueueAttributes"]; n < 1+2*2 || n > 1+2*3 {
			t.Errorf("%d GetQueueAttributes calls in 6 s, want the startup check and two per 5 s poll (5 or 7)", n)
		}
	})
}

// A failed delivery is logged with its cause in words, at the level that
// fits: warn when it will be retried, error when it dead-letters.
func TestFailedDeliveryLogsItsCause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var buf lockedBuffer
		log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		var calls atomic.Int32
		sender := delivery.SenderFunc(func(context.Context, *delivery.Request) delivery.Outcome {
			if calls.Add(1) == 1 {
				return delivery.Outcome{Class: delivery.Retryable, Reason: "transport-error",
					Detail: `Post "https://hooks.example/x": dial tcp: lookup hooks.example: no such host`}
			}
			return delivery.Outcome{Class: delivery.Permanent, Status: 410, Reason: "http-410", Detail: "410 Gone"}
		})
		srv := sqsmem.New()
		_, mainURL, _, _, stop := memWorkerWith(t, srv, 10, `{"retry":{"max_attempts":3,"initial_backoff_ms":1000,"max_backoff_ms":1000}}`, 1, sender,
			worker.Options{Logger: log})
		if _, err := srv.Client().SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(mainURL),
			MessageBody: aws.String(`{"v":1,"id":"m-1","app_id":"app","events":[{"name":"member_added","channel":"presence-x","user_id":"a"}]}`)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second) // virtual: the attempt, the retry's delay, the second attempt
		synctest.Wait()
		stop()
		var levels []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "delivery" {
				continue
			}
			levels = append(levels, fmt.Sprint(rec["level"], " ", rec["reason"], " ", rec["detail"]))
		}
		want := []string{
			`WARN transport-error Post "https://hooks.example/x": dial tcp: lookup hooks.example: no such host`,
			"ERROR http-410 410 Gone",
		}
		if !slices.Equal(levels, want) {
			t.Errorf("delivery log lines:\n%s\nwant:\n%s", strings.Join(levels, "\n"), strings.Join(want, "\n"))
		}
	})
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
