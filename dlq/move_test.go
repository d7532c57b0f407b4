package dlq_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/hookline/hookline/dlq"
)

// mover is a fake at the dlq.API seam for what no emulator has:
// StartMessageMoveTask. It records the call; every other method is the
// embedded nil interface and panics if called.
type mover struct {
	dlq.API
	arns  map[string]string // queue URL → ARN
	got   *sqs.StartMessageMoveTaskInput
	reply error
}

func (m *mover) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"QueueArn": m.arns[aws.ToString(in.QueueUrl)]}}, nil
}

func (m *mover) StartMessageMoveTask(_ context.Context, in *sqs.StartMessageMoveTaskInput, _ ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error) {
	m.got = in
	if m.reply != nil {
		return nil, m.reply
	}
	return &sqs.StartMessageMoveTaskOutput{TaskHandle: aws.String("task-1")}, nil
}

func TestStartMoveFromTheDLQToTheMainQueue(t *testing.T) {
	q := dlq.Queues{Main: "https://sqs.test/1/hooks", DeadLetter: "https://sqs.test/1/hooks-dlq"}
	f := &mover{arns: map[string]string{q.Main: "arn:aws:sqs:eu-west-1:1:hooks", q.DeadLetter: "arn:aws:sqs:eu-west-1:1:hooks-dlq"}}
	mv, err := dlq.StartMove(context.Background(), f, q, 50)
	if err != nil {
		t.Fatal(err)
	}
	if mv.TaskHandle != "task-1" || aws.ToString(f.got.SourceArn) != "arn:aws:sqs:eu-west-1:1:hooks-dlq" ||
		aws.ToString(f.got.DestinationArn) != "arn:aws:sqs:eu-west-1:1:hooks" || aws.ToInt32(f.got.MaxNumberOfMessagesPerSecond) != 50 {
		t.Errorf("move %+v, call %+v", mv, f.got)
	}

	f.reply = &smithy.GenericAPIError{Code: "UnsupportedOperation", Message: "not here"}
	if _, err := dlq.StartMove(context.Background(), f, q, 0); !errors.Is(err, dlq.ErrMoveUnsupported) {
		t.Errorf("err %v, want ErrMoveUnsupported", err)
	}
	f.reply = &smithy.GenericAPIError{Code: "AccessDenied", Message: "no"}
	if _, err := dlq.StartMove(context.Background(), f, q, 0); err == nil || errors.Is(err, dlq.ErrMoveUnsupported) {
		t.Errorf("AccessDenied: err %v, want a plain error", err)
	}
}

func TestFilterMatch(t *testing.T) {
	m := &dlq.Message{Reason: "permanent-failure", Webhook: "wh-a", Target: "https://a.test/h", AppID: "app-1"}
	raw := &dlq.Message{Reason: "malformed-body"}
	tests := []struct {
		name string
		f    dlq.Filter
		m    *dlq.Message
		want bool
	}{
		{"empty matches all", dlq.Filter{}, raw, true},
		{"reason", dlq.Filter{Reasons: []string{"x", "permanent-failure"}}, m, true},
		{"reason miss", dlq.Filter{Reasons: []string{"retries-exhausted"}}, m, false},
		{"webhook by id", dlq.Filter{Webhooks: []string{"wh-a"}}, m, true},
		{"webhook by target", dlq.Filter{Webhooks: []string{"https://a.test/h"}}, m, true},
		{"empty webhook never matches", dlq.Filter{Webhooks: []string{""}}, raw, false},
		{"app", dlq.Filter{Apps: []string{"app-1"}}, m, true},
		{"empty app never matches", dlq.Filter{Apps: []string{""}}, raw, false},
		{"every list must hold", dlq.Filter{Apps: []string{"app-1"}, Reasons: []string{"malformed-body"}}, m, false},
		{"case matters", dlq.Filter{Apps: []string{"APP-1"}}, m, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(tt.m); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
}
