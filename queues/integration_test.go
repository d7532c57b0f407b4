package queues_test

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/queues"
)

// These tests run against the harness's SQS: fauxqs started for this process, or
// AWS_ENDPOINT_URL_SQS (LocalStack).

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m)) }

const region = "us-east-1"

func setup(t *testing.T) (context.Context, *sqs.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx, localstack.SQSClient(t, region)
}

// ensure runs queues.Ensure, fails the test on error, logs the report, and deletes the queues
// at the end of the test (they outlive the test on a shared LocalStack).
func ensure(ctx context.Context, t *testing.T, client *sqs.Client, spec queues.Spec) *queues.Result {
	t.Helper()
	res, err := queues.Ensure(ctx, client, spec)
	if err != nil {
		t.Fatalf("Ensure(%+v): %v", spec, err)
	}
	for _, q := range []queues.QueueResult{res.Main, res.DeadLetter} {
		if q.Created {
			url := q.URL
			t.Cleanup(func() {
				_, _ = client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: &url})
			})
		}
	}
	var report bytesWriter
	res.Print(&report)
	t.Logf("Ensure report:\n%s", report)
	return res
}

type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }
func (b bytesWriter) String() string               { return string(b) }

func attributes(ctx context.Context, t *testing.T, client *sqs.Client, url string) map[string]string {
	t.Helper()
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes(%s): %v", url, err)
	}
	return out.Attributes
}

func assertAttrs(t *testing.T, queue string, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q", queue, k, got[k], v)
		}
	}
}

// assertSSE checks encryption: on when the endpoint reports it, else warned about.
func assertSSE(t *testing.T, q queues.QueueResult, attrs map[string]string) {
	t.Helper()
	const warning = "server-side encryption not supported by this endpoint; queue left unencrypted"
	switch v, reported := attrs["SqsManagedSseEnabled"]; {
	case reported && v != "true":
		t.Errorf("%s: SqsManagedSseEnabled = %q, want true", q.Name, v)
	case !reported && !reflect.DeepEqual(q.Warnings, []string{warning}):
		t.Errorf("%s: endpoint does not report SqsManagedSseEnabled, warnings = %q, want %q", q.Name, q.Warnings, warning)
	}
}

// assertRedrive checks the main queue's redrive policy by meaning: maxReceiveCount may come
// back as a number (AWS) or a string (fauxqs echoes what was set).
func assertRedrive(t *testing.T, policy, wantARN string, wantMax int) {
	t.Helper()
	var p struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(policy), &p); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", policy, err)
	}
	if p.DeadLetterTargetArn != wantARN {
		t.Errorf("RedrivePolicy deadLetterTargetArn = %q, want the dead-letter queue's ARN %q", p.DeadLetterTargetArn, wantARN)
	}
	raw := string(p.MaxReceiveCount)
	if unq, err := strconv.Unquote(raw); err == nil {
		raw = unq
	}
	if n, err := strconv.Atoi(raw); err != nil || n != wantMax {
		t.Errorf("RedrivePolicy maxReceiveCount = %s, want %d", p.MaxReceiveCount, wantMax)
	}
}

func assertUnchanged(t *testing.T, res *queues.Result) {
	t.Helper()
	for _, q := range []queues.QueueResult{res.Main, res.DeadLetter} {
		if q.Created || len(q.Changes) != 0 {
			t.Errorf("%s: created=%v changes=%+v, want neither on a queue that matches the spec", q.Name, q.Created, q.Changes)
		}
	}
}

func TestEnsureStandardPair(t *testing.T) {
	ctx, client := setup(t)
	name := localstack.UniqueQueueName(t, "hookline")
	spec := queues.Spec{Name: name}

	res := ensure(ctx, t, client, spec)
	if res.Main.Name != name || res.DeadLetter.Name != name+"-dlq" {
		t.Errorf("names = %q, %q; want %q, %q", res.Main.Name, res.DeadLetter.Name, name, name+"-dlq")
	}
	if !res.Main.Created || !res.DeadLetter.Created {
		t.Fatalf("created main=%v dlq=%v, want both", res.Main.Created, res.DeadLetter.Created)
	}

	dlq := attributes(ctx, t, client, res.DeadLetter.URL)
	assertAttrs(t, res.DeadLetter.Name, dlq, map[string]string{
		"QueueArn":               res.DeadLetter.ARN,
		"MessageRetentionPeriod": "1209600",
		"MaximumMessageSize":     "262144",
	})
	assertSSE(t, res.DeadLetter, dlq)

	main := attributes(ctx, t, client, res.Main.URL)
	assertAttrs(t, res.Main.Name, main, map[string]string{
		"QueueArn":               res.Main.ARN,
		"VisibilityTimeout":      "60",
		"MaximumMessageSize":     "262144",
		"MessageRetentionPeriod": "345600",
	})
	assertRedrive(t, main["RedrivePolicy"], res.DeadLetter.ARN, 10)
	assertSSE(t, res.Main, main)

	assertUnchanged(t, ensure(ctx, t, client, spec))
}

func TestEnsureCorrectsDrift(t *testing.T) {
	ctx, client := setup(t)
	spec := queues.Spec{Name: localstack.UniqueQueueName(t, "hookline"), VisibilityTimeout: 45 * time.Second, MaxReceiveCount: 7}
	first := ensure(ctx, t, client, spec)

	// Out of band: someone changes the visibility timeout, and rewrites the redrive policy with
	// the same meaning in another spelling (string count, other key order) — not drift.
	sameRedrive := `{"maxReceiveCount":"7","deadLetterTargetArn":"` + first.DeadLetter.ARN + `"}`
	if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl:   aws.String(first.Main.URL),
		Attributes: map[string]string{"VisibilityTimeout": "30", "RedrivePolicy": sameRedrive},
	}); err != nil {
		t.Fatalf("SetQueueAttributes: %v", err)
	}

	res := ensure(ctx, t, client, spec)
	want := []queues.Change{{Queue: spec.Name, Attribute: "VisibilityTimeout", Old: "30", New: "45"}}
	if !reflect.DeepEqual(res.Main.Changes, want) || res.Main.Created {
		t.Errorf("main: created=%v changes=%+v, want exactly %+v", res.Main.Created, res.Main.Changes, want)
	}
	if res.DeadLetter.Created || len(res.DeadLetter.Changes) != 0 {
		t.Errorf("dead-letter queue: created=%v changes=%+v, want neither", res.DeadLetter.Created, res.DeadLetter.Changes)
	}
	if got := attributes(ctx, t, client, res.Main.URL)["VisibilityTimeout"]; got != "45" {
		t.Errorf("VisibilityTimeout after Ensure = %q, want 45", got)
	}

	assertUnchanged(t, ensure(ctx, t, client, spec))
}

func TestEnsureFIFOPair(t *testing.T) {
	ctx, client := setup(t)
	base := localstack.UniqueQueueName(t, "hookline")
	spec := queues.Spec{Name: base, FIFO: true}

	res := ensure(ctx, t, client, spec)
	if res.Main.Name != base+".fifo" || res.DeadLetter.Name != base+"-dlq.fifo" {
		t.Errorf("names = %q, %q; want %q, %q", res.Main.Name, res.DeadLetter.Name, base+".fifo", base+"-dlq.fifo")
	}
	for _, q := range []queues.QueueResult{res.Main, res.DeadLetter} {
		attrs := attributes(ctx, t, client, q.URL)
		assertAttrs(t, q.Name, attrs, map[string]string{
			"FifoQueue":                 "true",
			"ContentBasedDeduplication": "false",
			"DeduplicationScope":        "messageGroup",
			"FifoThroughputLimit":       "perMessageGroupId",
			"MaximumMessageSize":        "262144",
		})
	}
	assertRedrive(t, attributes(ctx, t, client, res.Main.URL)["RedrivePolicy"], res.DeadLetter.ARN, 10)

	assertUnchanged(t, ensure(ctx, t, client, spec))
}
