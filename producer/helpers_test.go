package producer_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/producer"
	"github.com/hookline/hookline/queues"
)

// Tests marked "local SQS" run against the harness's SQS: fauxqs started for
// this process, or AWS_ENDPOINT_URL_SQS (LocalStack). The others use fakes at
// the SQS seam, for conditions the real SQS cannot produce on demand.

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m)) }

const region = "us-east-1"

// localQueue creates a fresh queue pair on the local SQS and returns a real
// client and the main queue's URL.
func localQueue(t *testing.T, fifo bool) (*sqs.Client, string) {
	t.Helper()
	client := localstack.SQSClient(t, region)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := queues.Ensure(ctx, client, queues.Spec{Name: localstack.UniqueQueueName(t, "p"), FIFO: fifo, DisableSSE: true})
	if err != nil {
		t.Fatalf("queues.Ensure: %v", err)
	}
	for _, u := range []string{res.Main.URL, res.DeadLetter.URL} {
		t.Cleanup(func() {
			_, _ = client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
		})
	}
	return client, res.Main.URL
}

// newProducer creates a producer on a fresh registry and closes it at the
// end of the test.
func newProducer(t *testing.T, client producer.SQS, opts producer.Options) (*producer.Producer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registry = reg
	p, err := producer.New(context.Background(), client, opts)
	if err != nil {
		t.Fatalf("producer.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p, reg
}

// received is one message taken off the queue.
type received struct {
	env   *payload.Envelope
	group string
	dedup string
}

// receiveAll receives (and deletes) messages until want events arrived, then
// polls once more to make sure nothing else is on the queue.
func receiveAll(t *testing.T, client *sqs.Client, url string, want int) []received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var msgs []received
	events, failures := 0, 0
	const visibility = 5 // seconds
	for extra := false; ; {
		wait := int32(2)
		if extra {
			wait = 1
		}
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: wait, VisibilityTimeout: visibility,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{
				types.MessageSystemAttributeNameMessageGroupId, types.MessageSystemAttributeNameMessageDeduplicationId,
			},
		}, func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
		if err != nil {
			// fauxqs now and then answers 200 and the connection drops while
			// the body is read ("use of closed network connection"): those
			// messages are in flight and come back after the visibility
			// timeout. SDK retries are off here so that shows.
			if ctx.Err() != nil || failures == 10 {
				t.Fatalf("ReceiveMessage after %d of %d events in %d messages: %v", events, want, len(msgs), err)
			}
			failures++
			t.Logf("ReceiveMessage (retried; its messages return in %ds): %v", visibility, err)
			continue
		}
		var del []types.DeleteMessageBatchRequestEntry
		for _, m := range out.Messages {
			env, err := payload.Decode([]byte(aws.ToString(m.Body)))
			if err != nil {
				t.Fatalf("decode %s: %v", aws.ToString(m.Body), err)
			}
			msgs = append(msgs, received{env: env,
				group: m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)],
				dedup: m.Attributes[string(types.MessageSystemAttributeNameMessageDeduplicationId)]})
			events += len(env.Events)
			del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(len(del))), ReceiptHandle: m.ReceiptHandle})
		}
		if len(del) > 0 {
			if _, err := client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del}); err != nil {
				t.Fatalf("DeleteMessageBatch: %v", err)
			}
		}
		if extra && len(out.Messages) == 0 {
			return msgs
		}
		if events >= want {
			extra = true
		}
	}
}

// eventKeys counts received events by UserID (tests make it unique) and
// fails on envelopes that mix apps or exceed maxEvents.
func eventKeys(t *testing.T, msgs []received, maxEvents int) map[string]int {
	t.Helper()
	seen := make(map[string]int)
	ids := make(map[string]bool)
	for _, m := range msgs {
		if ids[m.env.ID] {
			t.Errorf("envelope id %q received twice", m.env.ID)
		}
		ids[m.env.ID] = true
		if len(m.env.Events) > maxEvents {
			t.Errorf("envelope %s has %d events, max %d", m.env.ID, len(m.env.Events), maxEvents)
		}
		for _, ev := range m.env.Events {
			if !strings.HasPrefix(ev.UserID, m.env.AppID+"/") {
				t.Errorf("envelope %s of app %q holds event %q of another app", m.env.ID, m.env.AppID, ev.UserID)
			}
			seen[ev.UserID]++
		}
	}
	return seen
}

// metric returns the sum of a metric family's values (all label values).
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// blockingSQS wraps a client; its SendMessageBatch calls wait until release
// is closed (or their ctx ends).
type blockingSQS struct {
	producer.SQS
	release chan struct{}

	mu    sync.Mutex
	calls int
}

func newBlocking(inner producer.SQS) *blockingSQS {
	return &blockingSQS{SQS: inner, release: make(chan struct{})}
}

func (b *blockingSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.SQS.SendMessageBatch(ctx, in, optFns...)
}

func (b *blockingSQS) started() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

func ev(app string, i int) payload.Event {
	return payload.Event{Name: payload.EventMemberAdded, Channel: "presence-" + app, UserID: app + "/" + strconv.Itoa(i)}
}

func isSendError(err error) (*producer.SendError, bool) {
	var se *producer.SendError
	ok := errors.As(err, &se)
	return se, ok
}
