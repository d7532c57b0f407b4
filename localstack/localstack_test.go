package localstack_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/localstack"
)

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m)) }

const region = "us-east-1"

func TestSQSEndpointIsStable(t *testing.T) {
	first := localstack.SQSEndpoint(t)
	if !strings.HasPrefix(first, "http://") && !strings.HasPrefix(first, "https://") {
		t.Fatalf("SQSEndpoint = %q, want an http(s) URL", first)
	}
	if os.Getenv(localstack.EndpointEnv) == "" && !strings.HasPrefix(first, "http://127.0.0.1:") {
		t.Errorf("harness fauxqs at %q, want loopback http://127.0.0.1:PORT", first)
	}
	if second := localstack.SQSEndpoint(t); second != first {
		t.Errorf("second SQSEndpoint = %q, want the same endpoint %q (one emulator per process)", second, first)
	}
}

func TestSendReceiveRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := localstack.SQSClient(t, region)

	created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(localstack.UniqueQueueName(t, "hookline"))})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	url := aws.ToString(created.QueueUrl)
	t.Cleanup(func() { _, _ = client.DeleteQueue(context.WithoutCancel(ctx), &sqs.DeleteQueueInput{QueueUrl: &url}) })

	const body = `{"v":1,"id":"e1","app_id":"app-1","events":[]}`
	sent, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body)})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}

	// Long poll: the message is already there, so this returns at once; the wait only bounds a
	// broken emulator.
	got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            &url,
		MaxNumberOfMessages: 1,
		WaitTimeSeconds:     5,
	})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	if len(got.Messages) != 1 {
		t.Fatalf("ReceiveMessage returned %d messages, want 1", len(got.Messages))
	}
	msg := got.Messages[0]
	if aws.ToString(msg.Body) != body {
		t.Errorf("body = %q, want %q", aws.ToString(msg.Body), body)
	}
	if aws.ToString(msg.MessageId) != aws.ToString(sent.MessageId) {
		t.Errorf("message id = %q, want %q", aws.ToString(msg.MessageId), aws.ToString(sent.MessageId))
	}
	if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: msg.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
}

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,71}$`)

func TestUniqueQueueName(t *testing.T) {
	for _, prefix := range []string{"hookline", "", "has space/and.dots", strings.Repeat("x", 200)} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			a := localstack.UniqueQueueName(t, prefix)
			b := localstack.UniqueQueueName(t, prefix)
			if a == b {
				t.Errorf("two calls returned the same name %q", a)
			}
			for _, name := range []string{a, b} {
				if !queueNameRE.MatchString(name) {
					t.Errorf("UniqueQueueName(%q) = %q: not a valid SQS name with room for \"-dlq.fifo\"", prefix, name)
				}
			}
		})
	}
}
