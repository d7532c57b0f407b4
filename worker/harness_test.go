package worker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/queues"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/worker"
)

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m)) }

const region = "us-east-1"

// harness is one test's queue pair on the local SQS and its config.
type harness struct {
	t        testing.TB
	client   *sqs.Client
	cfg      *config.Config
	mainURL  string
	dlqURL   string
	fifo     bool
	envelope atomic.Int64
}

// hookJSON is one webhook object; url "%s" placeholders are filled by
// newHarness from servers.
type app struct {
	id, key, secret string
	webhooks        []string // webhook objects as JSON
}

// newHarness creates a fresh queue pair and loads a config with the apps;
// extra is merged into the top-level object (e.g. a "webhooks" section).
func newHarness(t testing.TB, apps []app, webhooksSection string, fifo bool) *harness {
	t.Helper()
	ctx := context.Background()
	endpoint := localstack.SQSEndpoint(t)
	client := localstack.SQSClient(t, region)
	name := localstack.UniqueQueueName(t, "w")
	spec := queues.Spec{Name: name, FIFO: fifo, VisibilityTimeout: 6 * time.Second}.WithDefaults()
	res, err := queues.Ensure(ctx, client, spec)
	if err != nil {
		t.Fatal(err)
	}
	var appDocs []string
	for _, a := range apps {
		appDocs = append(appDocs, fmt.Sprintf(`{"id":%q,"key":%q,"secret":%q,"webhooks":[%s]}`,
			a.id, a.key, a.secret, strings.Join(a.webhooks, ",")))
	}
	if webhooksSection == "" {
		webhooksSection = `{}`
	}
	doc := fmt.Sprintf(`{"app_manager":{"driver":"memory","array":{"apps":[%s]}},
		"webhooks":%s,
		"queue":{"driver":"sqs","sqs":{"region":%q,"endpoint_url":%q,"queue_name":%q,"fifo":%t,
			"visibility_timeout":6,"wait_time_seconds":1,"concurrency":2}}}`,
		strings.Join(appDocs, ","), webhooksSection, region, endpoint, name, fifo)
	cfg, err := config.Parse([]byte(doc), config.Sources{}, config.Overrides{})
	if err != nil {
		t.Fatalf("config: %v\n%s", err, doc)
	}
	return &harness{t: t, client: client, cfg: cfg, mainURL: res.Main.URL, dlqURL: res.DeadLetter.URL, fifo: fifo}
}

// send enqueues one envelope for appID and returns its id.
func (h *harness) send(appID string, events ...payload.Event) string {
	h.t.Helper()
	id := fmt.Sprintf("env-%s-%d", strings.ReplaceAll(h.t.Name(), "/", "-"), h.envelope.Add(1))
	body, err := payload.Encode(&payload.Envelope{V: payload.Version, ID: id, AppID: appID, Events: events})
	if err != nil {
		h.t.Fatal(err)
	}
	h.sendRaw(string(body), appID, id)
	return id
}

func (h *harness) sendRaw(body, group, dedup string) {
	h.t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: aws.String(h.mainURL), MessageBody: aws.String(body)}
	if h.fifo {
		in.MessageGroupId = aws.String(group)
		in.MessageDeduplicationId = aws.String(dedup)
	}
	if _, err := h.client.SendMessage(context.Background(), in); err != nil {
		h.t.Fatal(err)
	}
}

// running is a worker started by start.
type running struct {
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
}

// start runs a worker with the HTTP sender (or the given one).
func (h *harness) start(opts worker.Options, sender delivery.Sender) *running {
	h.t.Helper()
	return h.startOn(h.client, opts, sender)
}

// startOn runs a worker through the given SQS client (a fault-injecting
// wrapper of the real one).
func (h *harness) startOn(client worker.SQS, opts worker.Options, sender delivery.Sender) *running {
	h.t.Helper()
	if sender == nil {
		sender = delivery.NewHTTP(delivery.HTTPOptions{UserAgent: "Hookline/test"})
	}
	opts.QueueURL, opts.DeadLetterQueueURL, opts.FIFO = h.mainURL, h.dlqURL, h.fifo
	if opts.SQSCallTimeout == 0 {
		opts.SQSCallTimeout = 3 * time.Second
	}
	r := &running{done: make(chan error, 1), reg: prometheus.NewRegistry()}
	opts.Registry = r.reg
	if opts.Logger == nil {
		opts.Logger = testLogger(h.t)
	}
	w, err := worker.New(h.cfg, opts, client, sender)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- w.Run(ctx) }()
	h.t.Cleanup(func() { r.stop(h.t, time.Minute) })
	return r
}

// stop signals shutdown and waits for Run to return nil within limit.
func (r *running) stop(t testing.TB, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(limit):
		t.Fatalf("worker did not stop within %v", limit)
	}
	return time.Since(start)
}

// counter reads a worker metric: the sum of its series whose labels include
// all of labels (name, value pairs).
func (r *running) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	var total float64
	for _, m := range series(t, r.reg, name, labels...) {
		total += m.GetCounter().GetValue()
	}
	return total
}

// series lists the series of metric name whose labels include all of
// labels (name, value pairs).
func series(t *testing.T, reg *prometheus.Registry, name string, labels ...string) []*dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				out = append(out, m)
			}
		}
	}
	return out
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
		}
		if !found {
			return false
		}
	}
	return true
}

// dlq receives n messages from the DLQ (deleting them), failing after limit.
func (h *harness) dlq(n int, limit time.Duration) []types.Message {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var out []types.Message
	for len(out) < n {
		res, err := h.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(h.dlqURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{
				types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				h.t.Fatalf("DLQ: got %d messages, want %d", len(out), n)
			}
			h.t.Fatal(err)
		}
		for _, m := range res.Messages {
			out = append(out, m)
			_, _ = h.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(h.dlqURL), ReceiptHandle: m.ReceiptHandle})
		}
	}
	return out
}

// depth returns (visible, in flight, delayed) counts of a queue.
func (h *harness) depth(url string) (int, int, int) {
	h.t.Helper()
	out, err := h.client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	n := func(k types.QueueAttributeName) int { v, _ := strconv.Atoi(out.Attributes[string(k)]); return v }
	return n(types.QueueAttributeNameApproximateNumberOfMessages),
		n(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		n(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)
}

// assertDrained checks that the main queue and the DLQ hold nothing.
func (h *harness) assertDrained() {
	h.t.Helper()
	for _, q := range []struct{ name, url string }{{"main queue", h.mainURL}, {"DLQ", h.dlqURL}} {
		if v, nv, d := h.depth(q.url); v+nv+d != 0 {
			h.t.Errorf("%s not empty: %d visible, %d in flight, %d delayed", q.name, v, nv, d)
		}
	}
}

// server starts a verifying receiver for the given apps.
func server(t *testing.T, apps receiver.StaticApps) (*receiver.Recorder, *httptest.Server) {
	t.Helper()
	rec := receiver.NewRecorder(apps)
	srv := receiver.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func waitEvents(t *testing.T, rec *receiver.Recorder, n int, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := rec.WaitEvents(ctx, n); err != nil {
		t.Fatalf("waiting for %d events: %v (got %d; rejections %v)", n, err, len(rec.Events()), rec.Rejections())
	}
}

func attr(m types.Message, name string) string {
	v, ok := m.MessageAttributes[name]
	if !ok {
		return ""
	}
	return aws.ToString(v.StringValue)
}

func ev(name, channel string) payload.Event {
	return payload.Event{Name: name, Channel: channel, TimeMS: time.Now().UnixMilli()}
}
