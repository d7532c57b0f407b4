package deploy_test

// deploy/cloudwatch: alarms as CloudWatch PutMetricAlarm inputs, in the
// shape `aws cloudwatch put-metric-alarm --cli-input-json` takes
// (PascalCase, the Go field names), decoded strictly into the SDK's type
// and validated by the SDK.

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

func TestCloudWatchAlarms(t *testing.T) {
	cfg := loadConfig(t, allSecrets(t))
	mainQ, dlq := cfg.Queue.MainQueueName(), cfg.Queue.DLQName()
	client := cloudwatch.New(cloudwatch.Options{Region: region, Credentials: aws.AnonymousCredentials{}, HTTPClient: stubHTTP{}, Retryer: aws.NopRetryer{}})

	// What each alarm watches: "queue metric" for the SQS metrics it reads.
	watched := map[string]*cloudwatch.PutMetricAlarmInput{}
	names := map[string]bool{}
	for _, path := range jsonFiles(t, "cloudwatch") {
		var in cloudwatch.PutMetricAlarmInput
		if err := decodeJSON(render(t, path), &in, pascalCase); err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		_, err := client.PutMetricAlarm(context.Background(), &in)
		sdkValidates(t, path, err)
		name := aws.ToString(in.AlarmName)
		if names[name] {
			t.Errorf("%s: alarm name %s used twice", path, name)
		}
		names[name] = true
		if want := "hookline-" + strings.TrimSuffix(filepath.Base(path), ".json"); !strings.HasPrefix(name, "hookline-") {
			t.Errorf("%s: alarm %s, want a hookline- name (like %s)", path, name, want)
		}
		if len(in.AlarmActions) == 0 || !aws.ToBool(in.ActionsEnabled) {
			t.Errorf("%s: no enabled alarm actions", path)
		}
		for _, a := range append(in.AlarmActions, in.OKActions...) {
			if !strings.HasPrefix(a, "arn:aws:sns:"+region+":"+account+":") {
				t.Errorf("%s: action %q is not an SNS topic of the account", path, a)
			}
		}
		if in.TreatMissingData == nil {
			t.Errorf("%s: TreatMissingData unset (an idle queue sends no data)", path)
		}
		for _, m := range alarmMetrics(&in) {
			if aws.ToString(m.Namespace) != "AWS/SQS" {
				continue
			}
			q := ""
			for _, d := range m.Dimensions {
				if aws.ToString(d.Name) == "QueueName" {
					q = aws.ToString(d.Value)
				}
			}
			if q != mainQ && q != dlq {
				t.Errorf("%s: queue %q is neither the config's main queue %s nor its DLQ %s", path, q, mainQ, dlq)
			}
			watched[q+" "+aws.ToString(m.MetricName)] = &in
		}
	}

	// DLQ depth > 0.
	if a := watched[dlq+" ApproximateNumberOfMessagesVisible"]; a == nil {
		t.Errorf("no alarm on %s's ApproximateNumberOfMessagesVisible", dlq)
	} else if aws.ToFloat64(a.Threshold) != 0 || a.ComparisonOperator != cwtypes.ComparisonOperatorGreaterThanThreshold {
		t.Errorf("%s: %s %v, want > 0", aws.ToString(a.AlarmName), a.ComparisonOperator, aws.ToFloat64(a.Threshold))
	}
	// The age of the oldest message on the main queue.
	if a := watched[mainQ+" ApproximateAgeOfOldestMessage"]; a == nil {
		t.Errorf("no alarm on %s's ApproximateAgeOfOldestMessage", mainQ)
	} else if th := aws.ToFloat64(a.Threshold); th <= cfg.Queue.VisibilityTimeout.Seconds() {
		t.Errorf("%s: threshold %v s, not above the visibility timeout %s (a message in delivery is that old)", aws.ToString(a.AlarmName), th, cfg.Queue.VisibilityTimeout)
	}
	// No deliveries while the backlog grows: deletes (a worker deletes a
	// message once its deliveries settled) against the visible backlog, in
	// one metric-math alarm.
	a := watched[mainQ+" NumberOfMessagesDeleted"]
	if a == nil || watched[mainQ+" ApproximateNumberOfMessagesVisible"] != a {
		t.Fatalf("no alarm combining %s's NumberOfMessagesDeleted and ApproximateNumberOfMessagesVisible", mainQ)
	}
	ids := map[string]bool{}
	var expr string
	for _, q := range a.Metrics {
		if !aws.ToBool(q.ReturnData) {
			ids[aws.ToString(q.Id)] = true
		}
		if aws.ToBool(q.ReturnData) {
			if expr != "" {
				t.Errorf("%s: more than one query returns data", aws.ToString(a.AlarmName))
			}
			expr = aws.ToString(q.Expression)
		}
	}
	for id := range ids {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(id) + `\b`).MatchString(expr) {
			t.Errorf("%s: query %s unused by the expression %q", aws.ToString(a.AlarmName), id, expr)
		}
	}
	for _, want := range []string{"DIFF(visible)", "deleted"} {
		if !strings.Contains(expr, want) {
			t.Errorf("%s: expression %q lacks %s", aws.ToString(a.AlarmName), expr, want)
		}
	}
}

// alarmMetrics lists the metrics an alarm reads, its own or its metric
// math queries'.
func alarmMetrics(in *cloudwatch.PutMetricAlarmInput) []cwtypes.Metric {
	if in.MetricName != nil {
		return []cwtypes.Metric{{Namespace: in.Namespace, MetricName: in.MetricName, Dimensions: in.Dimensions}}
	}
	var out []cwtypes.Metric
	for _, q := range in.Metrics {
		if q.MetricStat != nil && q.MetricStat.Metric != nil {
			out = append(out, *q.MetricStat.Metric)
		}
	}
	return out
}
