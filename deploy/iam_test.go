package deploy_test

// deploy/iam: one identity-based policy per role. IAM policy documents have
// no type in the AWS SDK (the API takes them as a string), so they decode
// into iamPolicy below, which knows only Version and Statement[Sid, Effect,
// Action, Resource]: NotAction, NotResource, Principal and Condition fail to
// decode, and every key's spelling is checked. Least privilege is asserted
// as equality: each role's (action, resource) grants are exactly the set
// computed here from the config and the manifests, so a missing permission
// and an extra one both fail.

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/hookline/hookline/config"
)

type iamPolicy struct {
	Version   string
	Statement []struct {
		Sid      string
		Effect   string
		Action   stringList
		Resource stringList
	}
}

// stringList is IAM's "a string or a list of strings".
type stringList []string

func (s *stringList) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*s = stringList{one}
		return nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*s = list
	return nil
}

// The queue key: where the queues use a customer-managed KMS key, senders
// need GenerateDataKey and Decrypt, receivers Decrypt.
const queueKeyARN = "arn:aws:kms:" + region + ":" + account + ":key/0b9d6f5e-3c1a-4e1f-9a8b-7c6d5e4f3a2b"

func dynamoTableARN(name string) string {
	return "arn:aws:dynamodb:" + region + ":" + account + ":table/" + name
}

func sqsARN(name string) string { return "arn:aws:sqs:" + region + ":" + account + ":" + name }

func TestIAMPolicies(t *testing.T) {
	cfg := loadConfig(t, allSecrets(t))
	mainQ, dlq := sqsARN(cfg.Queue.MainQueueName()), sqsARN(cfg.Queue.DLQName())
	grants := func(resource string, actions ...string) []string {
		var out []string
		for _, a := range actions {
			out = append(out, a+" "+resource)
		}
		return out
	}
	kms := grants(queueKeyARN, "kms:Decrypt", "kms:GenerateDataKey")

	var lambdas []string
	for _, a := range cfg.Apps {
		for _, wh := range a.Webhooks {
			if wh.Lambda != nil {
				lambdas = append(lambdas, grants(lambdaARN(wh.Lambda), "lambda:InvokeFunction")...)
			}
		}
	}
	if len(lambdas) == 0 {
		t.Fatal("the base config has no Lambda webhook; the worker policy's Lambda grant goes unchecked")
	}

	want := map[string][]string{
		// Receive, settle (delete, visibility), retry envelopes and queue
		// stats on the main queue; dead letters and queue stats on the DLQ;
		// the config's Lambda targets.
		"worker": slices.Concat(
			grants(mainQ, "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"),
			grants(dlq, "sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"),
			lambdas, kms),
		"ingest": slices.Concat(grants(mainQ, "sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"), kms),
		// Inspect, purge and redrive the DLQ (SQS's move task reads the
		// source and sends to the destination with the caller's rights;
		// `redrive --server-side` reads the main queue's ARN).
		"dlq-tool": slices.Concat(
			grants(dlq, "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
				"sqs:PurgeQueue", "sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks", "sqs:CancelMessageMoveTask"),
			grants(mainQ, "sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"), kms),
		"queues-create": slices.Concat(
			grants(mainQ, "sqs:CreateQueue", "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:TagQueue"),
			grants(dlq, "sqs:CreateQueue", "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:TagQueue")),
		// KEDA's aws-sqs-queue scaler reads the main queue's counts.
		"keda-scaler":   grants(mainQ, "sqs:GetQueueAttributes"),
		"ecs-execution": ecsExecutionGrants(t),
		// Added to the worker's and ingest's roles with app_manager.driver
		// dynamodb: the registry scans the table, reads a row by id and
		// queries KeyIndex by key (registry/dynamodb.go), nothing else.
		"apps-dynamodb": slices.Concat(
			grants(dynamoTableARN(config.DefaultDynamoDBTable), "dynamodb:Scan", "dynamodb:GetItem"),
			grants(dynamoTableARN(config.DefaultDynamoDBTable)+"/index/KeyIndex", "dynamodb:Query")),
	}

	files := jsonFiles(t, "iam")
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(names, got) {
		t.Errorf("policy files %v, want %v", names, got)
	}

	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		var p iamPolicy
		if err := decodeJSON(render(t, f), &p, pascalCase); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if p.Version != "2012-10-17" {
			t.Errorf("%s: Version %q, want 2012-10-17", f, p.Version)
		}
		var got []string
		for i, s := range p.Statement {
			if s.Effect != "Allow" || len(s.Action) == 0 || len(s.Resource) == 0 {
				t.Errorf("%s: statement %d: want Effect Allow with actions and resources", f, i)
			}
			for _, a := range s.Action {
				if strings.Contains(a, "*") {
					t.Errorf("%s: action %q: no wildcards", f, a)
				}
				for _, r := range s.Resource {
					if strings.Contains(r, "*") && !allowedWildcard(a, r) {
						t.Errorf("%s: %s on %q: no wildcard resources", f, a, r)
					}
					got = append(got, a+" "+r)
				}
			}
		}
		slices.Sort(got)
		if dup := slices.Compact(slices.Clone(got)); len(dup) != len(got) {
			t.Errorf("%s: a grant repeated", f)
			got = dup
		}
		w := slices.Sorted(slices.Values(want[name]))
		for _, g := range got {
			if !slices.Contains(w, g) {
				t.Errorf("%s grants %s: not needed", f, g)
			}
		}
		for _, g := range w {
			if !slices.Contains(got, g) {
				t.Errorf("%s lacks %s", f, g)
			}
		}
	}
}

// allowedWildcard: the only wildcards IAM leaves no way around.
func allowedWildcard(action, resource string) bool {
	switch {
	case action == "ecr:GetAuthorizationToken": // supports no resource but "*"
		return resource == "*"
	case strings.HasPrefix(action, "logs:"): // streams are created by ECS with task ids in their names
		return strings.HasSuffix(resource, ":log-stream:*") && !strings.Contains(strings.TrimSuffix(resource, ":log-stream:*"), "*")
	}
	return false
}

// lambdaARN is the function a Lambda webhook invokes.
func lambdaARN(l *config.Lambda) string {
	if strings.HasPrefix(l.FunctionName, "arn:") {
		return l.FunctionName
	}
	arn := "arn:aws:lambda:" + l.Region + ":" + account + ":function:" + l.FunctionName
	if l.Qualifier != "" {
		arn += ":" + l.Qualifier
	}
	return arn
}

// ecsExecutionGrants is what ECS needs to start the task definitions: pull
// their image, write their log groups, read their secrets.
func ecsExecutionGrants(t *testing.T) []string {
	t.Helper()
	out := []string{"ecr:GetAuthorizationToken *"}
	for _, path := range []string{"ecs/worker-task-definition.json", "ecs/ingest-task-definition.json"} {
		td := loadTaskDefinition(t, path)
		for _, c := range td.ContainerDefinitions {
			image := aws.ToString(c.Image)
			host, repoTag, _ := strings.Cut(image, "/")
			repo, _, _ := strings.Cut(repoTag, ":")
			if host != account+".dkr.ecr."+region+".amazonaws.com" {
				t.Errorf("%s: image %s is not in the account's ECR", path, image)
			}
			repoARN := "arn:aws:ecr:" + region + ":" + account + ":repository/" + repo
			out = append(out, "ecr:BatchGetImage "+repoARN, "ecr:GetDownloadUrlForLayer "+repoARN)
			if c.LogConfiguration != nil {
				group := c.LogConfiguration.Options["awslogs-group"]
				streams := "arn:aws:logs:" + region + ":" + account + ":log-group:" + group + ":log-stream:*"
				out = append(out, "logs:CreateLogStream "+streams, "logs:PutLogEvents "+streams)
			}
			for _, s := range c.Secrets {
				from := aws.ToString(s.ValueFrom)
				switch {
				case strings.Contains(from, ":secretsmanager:"):
					// A secret's ARN ends in "-" and six random characters.
					out = append(out, "secretsmanager:GetSecretValue "+from+"-??????")
				case strings.Contains(from, ":ssm:"):
					out = append(out, "ssm:GetParameters "+from)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
