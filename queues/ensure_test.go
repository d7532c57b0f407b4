package queues

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
)

// fakeSQS is an in-memory SQS with an endpoint's quirks switchable per test.
type fakeSQS struct {
	queues map[string]map[string]string // by URL
	// rejectOnCreate and rejectOnSet hold attribute names the endpoint refuses with
	// InvalidAttributeName; ignoreOnCreate ones it accepts on create but drops.
	rejectOnCreate, rejectOnSet, ignoreOnCreate map[string]bool
	// createdBehindOurBack makes GetQueueUrl miss once, as if another process created the queue
	// between our lookup and our create.
	createdBehindOurBack bool
	failSet              error
	calls                []string
}

var _ API = (*fakeSQS)(nil)

func newFake() *fakeSQS {
	return &fakeSQS{queues: map[string]map[string]string{}}
}

func apiError(code string) error {
	return &smithy.GenericAPIError{Code: "AWS.SimpleQueueService." + code, Message: code, Fault: smithy.FaultClient}
}

func url(name string) string { return "http://sqs.us-east-1.localhost:4566/000000000000/" + name }

func (f *fakeSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	name := aws.ToString(in.QueueName)
	f.calls = append(f.calls, "GetQueueUrl "+name)
	if _, ok := f.queues[url(name)]; !ok || f.createdBehindOurBack {
		f.createdBehindOurBack = false
		return nil, apiError("NonExistentQueue")
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(url(name))}, nil
}

func (f *fakeSQS) CreateQueue(_ context.Context, in *sqs.CreateQueueInput, _ ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error) {
	name := aws.ToString(in.QueueName)
	f.calls = append(f.calls, "CreateQueue "+name+" "+strings.Join(sortedKeys(in.Attributes), ","))
	for k := range in.Attributes {
		if f.rejectOnCreate[k] {
			return nil, apiError("InvalidAttributeName")
		}
	}
	if existing, ok := f.queues[url(name)]; ok {
		for k, v := range in.Attributes {
			if existing[k] != v {
				return nil, apiError("QueueNameExists")
			}
		}
		return &sqs.CreateQueueOutput{QueueUrl: aws.String(url(name))}, nil
	}
	attrs := map[string]string{"QueueArn": "arn:aws:sqs:us-east-1:000000000000:" + name, "VisibilityTimeout": "30"}
	for k, v := range in.Attributes {
		if !f.ignoreOnCreate[k] {
			attrs[k] = v
		}
	}
	f.queues[url(name)] = attrs
	return &sqs.CreateQueueOutput{QueueUrl: aws.String(url(name))}, nil
}

func (f *fakeSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	q, ok := f.queues[aws.ToString(in.QueueUrl)]
	if !ok {
		return nil, apiError("NonExistentQueue")
	}
	return &sqs.GetQueueAttributesOutput{Attributes: maps.Clone(q)}, nil
}

func (f *fakeSQS) SetQueueAttributes(_ context.Context, in *sqs.SetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error) {
	f.calls = append(f.calls, "SetQueueAttributes "+strings.Join(sortedKeys(in.Attributes), ","))
	if f.failSet != nil {
		return nil, f.failSet
	}
	q, ok := f.queues[aws.ToString(in.QueueUrl)]
	if !ok {
		return nil, apiError("NonExistentQueue")
	}
	for k := range in.Attributes {
		if f.rejectOnSet[k] {
			return nil, apiError("InvalidAttributeName")
		}
	}
	maps.Copy(q, in.Attributes)
	return &sqs.SetQueueAttributesOutput{}, nil
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func TestEnsureIdempotentOnFake(t *testing.T) {
	f := newFake()
	first, err := Ensure(context.Background(), f, Spec{})
	if err != nil {
		t.Fatalf("first Ensure: %v", err)
	}
	if !first.Main.Created || !first.DeadLetter.Created {
		t.Errorf("first run created main=%v dlq=%v, want both", first.Main.Created, first.DeadLetter.Created)
	}
	if f.calls[0] != "GetQueueUrl hookline-webhooks-dlq" {
		t.Errorf("first call = %q, want the dead-letter queue looked up first", f.calls[0])
	}
	f.calls = nil
	second, err := Ensure(context.Background(), f, Spec{})
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	for _, q := range []QueueResult{second.Main, second.DeadLetter} {
		if q.Created || len(q.Changes) != 0 || len(q.Warnings) != 0 {
			t.Errorf("second run %s: created=%v changes=%v warnings=%v, want nothing", q.Name, q.Created, q.Changes, q.Warnings)
		}
	}
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "GetQueueUrl") {
			t.Errorf("second run made call %q, want only lookups", c)
		}
	}
}

// An endpoint that rejects SqsManagedSseEnabled on create and on set (some emulators).
func TestEnsureSSERejectedEverywhere(t *testing.T) {
	f := newFake()
	f.rejectOnCreate = map[string]bool{"SqsManagedSseEnabled": true}
	f.rejectOnSet = map[string]bool{"SqsManagedSseEnabled": true}
	for run := 1; run <= 2; run++ {
		res, err := Ensure(context.Background(), f, Spec{})
		if err != nil {
			t.Fatalf("run %d: Ensure: %v", run, err)
		}
		for _, q := range []QueueResult{res.Main, res.DeadLetter} {
			if want := []string{sseUnsupported}; !reflect.DeepEqual(q.Warnings, want) {
				t.Errorf("run %d %s: warnings = %q, want %q", run, q.Name, q.Warnings, want)
			}
			if len(q.Changes) != 0 {
				t.Errorf("run %d %s: changes = %+v, want none", run, q.Name, q.Changes)
			}
		}
	}
	if got := f.queues[url("hookline-webhooks")]["RedrivePolicy"]; got == "" {
		t.Errorf("main queue has no RedrivePolicy after the SSE fallback")
	}
}

// fauxqs: CreateQueue takes SqsManagedSseEnabled and FIFO settings silently, but
// SetQueueAttributes rejects SqsManagedSseEnabled, DeduplicationScope and FifoThroughputLimit.
func TestEnsureFIFOSettingsRejectedOnSet(t *testing.T) {
	f := newFake()
	f.ignoreOnCreate = map[string]bool{"SqsManagedSseEnabled": true, "FifoThroughputLimit": true}
	f.rejectOnSet = map[string]bool{"SqsManagedSseEnabled": true, "FifoThroughputLimit": true, "DeduplicationScope": true}
	res, err := Ensure(context.Background(), f, Spec{FIFO: true})
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	want := []string{
		"FifoThroughputLimit=perMessageGroupId not supported by this endpoint; left as the endpoint's default",
		sseUnsupported,
	}
	if !reflect.DeepEqual(res.Main.Warnings, want) {
		t.Errorf("warnings = %q, want %q", res.Main.Warnings, want)
	}
	if got := f.queues[url("hookline-webhooks.fifo")]["DeduplicationScope"]; got != "messageGroup" {
		t.Errorf("DeduplicationScope = %q, want messageGroup (taken on create)", got)
	}
}

func TestEnsureQueueCreatedConcurrently(t *testing.T) {
	f := newFake()
	f.queues[url("hookline-webhooks-dlq")] = map[string]string{
		"QueueArn": "arn:aws:sqs:us-east-1:000000000000:hookline-webhooks-dlq", "MessageRetentionPeriod": "60",
	}
	f.createdBehindOurBack = true
	res, err := Ensure(context.Background(), f, Spec{DisableSSE: true})
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	dlq := res.DeadLetter
	if dlq.Created {
		t.Errorf("dead-letter queue reported created, but someone else created it")
	}
	want := []Change{
		{"hookline-webhooks-dlq", "MessageRetentionPeriod", "60", "1209600"},
		{"hookline-webhooks-dlq", "MaximumMessageSize", "", "262144"},
	}
	if !reflect.DeepEqual(dlq.Changes, want) {
		t.Errorf("changes = %+v, want %+v", dlq.Changes, want)
	}
}

func TestEnsureErrors(t *testing.T) {
	boom := errors.New("connection refused")

	f := newFake()
	f.queues[url("hookline-webhooks-dlq")] = map[string]string{"QueueArn": "arn:dlq", "MessageRetentionPeriod": "60"}
	f.failSet = boom
	_, err := Ensure(context.Background(), f, Spec{})
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "queues: set attributes of hookline-webhooks-dlq: ") {
		t.Errorf("Ensure with failing SetQueueAttributes: err = %v, want wrapped %v naming the queue", err, boom)
	}

	_, err = Ensure(context.Background(), newFake(), Spec{MaxReceiveCount: -1})
	if err == nil || !strings.Contains(err.Error(), "MaxReceiveCount -1") {
		t.Errorf("Ensure with invalid spec: err = %v, want a validation error", err)
	}
}

func TestPrint(t *testing.T) {
	r := &Result{
		Main: QueueResult{
			Name: "hookline-webhooks", URL: "http://q/main", ARN: "arn:main",
			Changes: []Change{
				{"hookline-webhooks", "VisibilityTimeout", "30", "60"},
				{"hookline-webhooks", "RedrivePolicy", "", `{"deadLetterTargetArn":"arn:dlq","maxReceiveCount":10}`},
			},
			Warnings: []string{sseUnsupported},
		},
		DeadLetter: QueueResult{Name: "hookline-webhooks-dlq", URL: "http://q/dlq", ARN: "arn:dlq", Created: true},
	}
	var buf bytes.Buffer
	r.Print(&buf)
	want := `main queue hookline-webhooks: 2 drifted attributes corrected
  VisibilityTimeout: 30 -> 60
  RedrivePolicy: (unset) -> {"deadLetterTargetArn":"arn:dlq","maxReceiveCount":10}
  warning: server-side encryption not supported by this endpoint; queue left unencrypted
  url: http://q/main
  arn: arn:main
dead-letter queue hookline-webhooks-dlq: created
  url: http://q/dlq
  arn: arn:dlq
`
	if buf.String() != want {
		t.Errorf("Print output:\n%s\nwant:\n%s", buf.String(), want)
	}
}
