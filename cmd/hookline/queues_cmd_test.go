package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/internal/dbtest"
	"github.com/hookline/hookline/localstack"
)

func TestMain(m *testing.M) {
	code := m.Run()
	localstack.Stop()
	dbtest.StopAll()
	os.Exit(code)
}

// TestQueuesCreateTwice runs the real CLI against the local SQS: the first
// run creates the pair with the redrive policy, the second changes nothing.
func TestQueuesCreateTwice(t *testing.T) {
	const region = "eu-west-1"
	endpoint := localstack.SQSEndpoint(t)
	name := localstack.UniqueQueueName(t, "cli")
	// The SDK's default credential chain reads the process environment.
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))

	cfgPath := filepath.Join(t.TempDir(), "config.json")
	doc := fmt.Sprintf(`{"queue":{"driver":"sqs","sqs":{"region":%q,"queue_name":%q,"visibility_timeout":45}}}`, region, name)
	if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	// The endpoint comes from Sockudo's env name, as in a deployment.
	env := envMap(map[string]string{"QUEUE_SQS_ENDPOINT_URL": endpoint})

	code, first, stderr := hookline(t, env, "queues", "create", "--config", cfgPath, "--log-format", "json")
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"main queue " + name + ": created", "dead-letter queue " + name + "-dlq: created"} {
		if !strings.Contains(first, want) {
			t.Errorf("first run output lacks %q:\n%s", want, first)
		}
	}

	code, second, stderr := hookline(t, env, "queues", "create", "--config", cfgPath, "--log-format", "json")
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"main queue " + name + ": unchanged", "dead-letter queue " + name + "-dlq: unchanged"} {
		if !strings.Contains(second, want) {
			t.Errorf("second run output lacks %q:\n%s", want, second)
		}
	}
	if strings.Contains(second, "->") {
		t.Errorf("second run reports drift:\n%s", second)
	}

	// Exactly one main queue and one DLQ, wired by the redrive policy.
	client := localstack.SQSClient(t, region)
	ctx := context.Background()
	list, err := client.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.QueueUrls) != 2 {
		t.Fatalf("queues with prefix %s: %v, want the main queue and its DLQ", name, list.QueueUrls)
	}
	attrs := func(queue string) map[string]string {
		t.Helper()
		u, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queue)})
		if err != nil {
			t.Fatal(err)
		}
		out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: u.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes
	}
	main, dlq := attrs(name), attrs(name+"-dlq")
	var redrive struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(main["RedrivePolicy"]), &redrive); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", main["RedrivePolicy"], err)
	}
	if redrive.DeadLetterTargetArn != dlq["QueueArn"] || strings.Trim(string(redrive.MaxReceiveCount), `"`) != "10" {
		t.Errorf("RedrivePolicy = %s, want target %s and maxReceiveCount 10", main["RedrivePolicy"], dlq["QueueArn"])
	}
	if main["VisibilityTimeout"] != "45" {
		t.Errorf("VisibilityTimeout = %s, want 45 from queue.sqs.visibility_timeout", main["VisibilityTimeout"])
	}
	if dlq["MessageRetentionPeriod"] != "1209600" {
		t.Errorf("DLQ retention = %s, want 1209600 (14 days)", dlq["MessageRetentionPeriod"])
	}
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}
