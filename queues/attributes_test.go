package queues

import (
	"reflect"
	"testing"
)

const dlqARN = "arn:aws:sqs:us-east-1:000000000000:hookline-webhooks-dlq"

func TestEqual(t *testing.T) {
	desiredRedrive := redrivePolicyJSON(dlqARN, 10)
	tests := []struct {
		name             string
		kind             kind
		current, desired string
		want             bool
	}{
		{"int same", kindInt, "60", "60", true},
		{"int differs", kindInt, "30", "60", false},
		{"int spaces", kindInt, " 60 ", "60", true},
		{"int leading zero", kindInt, "060", "60", true},
		{"int garbage falls back to text", kindInt, "sixty", "60", false},
		{"int empty", kindInt, "", "60", false},
		{"bool case", kindBool, "True", "true", true},
		{"bool differs", kindBool, "false", "true", false},
		{"bool garbage", kindBool, "yes", "true", false},
		{"string exact", kindString, "messageGroup", "messageGroup", true},
		{"string case matters", kindString, "messagegroup", "messageGroup", false},
		{"redrive number", kindRedrive, `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":10}`, desiredRedrive, true},
		{"redrive string count", kindRedrive, `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":"10"}`, desiredRedrive, true},
		{"redrive key order and spaces", kindRedrive, `{ "maxReceiveCount" : 10 , "deadLetterTargetArn" : "` + dlqARN + `" }`, desiredRedrive, true},
		{"redrive extra key ignored", kindRedrive, `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":10,"x":1}`, desiredRedrive, true},
		{"redrive other count", kindRedrive, `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":5}`, desiredRedrive, false},
		{"redrive other target", kindRedrive, `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:other","maxReceiveCount":10}`, desiredRedrive, false},
		{"redrive fractional count", kindRedrive, `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":10.5}`, desiredRedrive, false},
		{"redrive missing count", kindRedrive, `{"deadLetterTargetArn":"` + dlqARN + `"}`, desiredRedrive, false},
		{"redrive not JSON", kindRedrive, `deadLetterTargetArn=` + dlqARN, desiredRedrive, false},
		{"redrive empty", kindRedrive, ``, desiredRedrive, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := equal(tt.kind, tt.current, tt.desired); got != tt.want {
				t.Errorf("equal(%v, %q, %q) = %v, want %v", tt.kind, tt.current, tt.desired, got, tt.want)
			}
		})
	}
}

func TestDrift(t *testing.T) {
	spec := Spec{}.WithDefaults()
	want := desiredAttributes(spec, dlqARN)
	inSync := map[string]string{
		"QueueArn":               "arn:aws:sqs:us-east-1:000000000000:hookline-webhooks",
		"VisibilityTimeout":      "60",
		"MaximumMessageSize":     "262144",
		"MessageRetentionPeriod": "345600",
		"RedrivePolicy":          `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":"10"}`,
		"SqsManagedSseEnabled":   "true",
		"DelaySeconds":           "0",
	}
	with := func(kv ...string) map[string]string {
		m := make(map[string]string, len(inSync))
		for k, v := range inSync {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "<delete>" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	const q = "hookline-webhooks"
	tests := []struct {
		name    string
		current map[string]string
		want    []Change
	}{
		{"in sync", inSync, nil},
		{"visibility drifted", with("VisibilityTimeout", "30"),
			[]Change{{q, "VisibilityTimeout", "30", "60"}}},
		{"several drifted, reported in desired order", with("SqsManagedSseEnabled", "false", "MaximumMessageSize", "1048576"),
			[]Change{{q, "MaximumMessageSize", "1048576", "262144"}, {q, "SqsManagedSseEnabled", "false", "true"}}},
		{"missing attribute", with("RedrivePolicy", "<delete>"),
			[]Change{{q, "RedrivePolicy", "", want[3].value}}},
		{"SSE unreported (emulator)", with("SqsManagedSseEnabled", "<delete>"),
			[]Change{{q, "SqsManagedSseEnabled", "", "true"}}},
		{"KMS-encrypted queue keeps its key", with("SqsManagedSseEnabled", "false", "KmsMasterKeyId", "alias/aws/sqs"), nil},
		{"redrive to another DLQ", with("RedrivePolicy", `{"deadLetterTargetArn":"arn:x","maxReceiveCount":10}`),
			[]Change{{q, "RedrivePolicy", `{"deadLetterTargetArn":"arn:x","maxReceiveCount":10}`, want[3].value}}},
		{"unmanaged attributes ignored", with("DelaySeconds", "5", "Policy", "{}"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := drift(q, want, tt.current)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("drift =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestDriftSkipsCreateOnly(t *testing.T) {
	spec := Spec{FIFO: true}.WithDefaults()
	want := desiredAttributes(spec, "")
	current := map[string]string{
		"MessageRetentionPeriod":    "1209600",
		"MaximumMessageSize":        "262144",
		"ContentBasedDeduplication": "false",
		"DeduplicationScope":        "messageGroup",
		"FifoThroughputLimit":       "perMessageGroupId",
		"SqsManagedSseEnabled":      "true",
		// FifoQueue missing: create-only, never compared
	}
	if got := drift("q.fifo", want, current); len(got) != 0 {
		t.Errorf("drift = %+v, want none", got)
	}
}

func TestDesiredAttributes(t *testing.T) {
	get := func(attrs []attribute) map[string]string {
		m := map[string]string{}
		for _, a := range attrs {
			m[a.name] = a.value
		}
		return m
	}
	spec := Spec{}.WithDefaults()
	main := get(desiredAttributes(spec, dlqARN))
	wantMain := map[string]string{
		"VisibilityTimeout":      "60",
		"MaximumMessageSize":     "262144",
		"MessageRetentionPeriod": "345600",
		"RedrivePolicy":          `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":10}`,
		"SqsManagedSseEnabled":   "true",
	}
	if !reflect.DeepEqual(main, wantMain) {
		t.Errorf("main attributes = %v, want %v", main, wantMain)
	}
	dlq := get(desiredAttributes(spec, ""))
	wantDLQ := map[string]string{
		"MessageRetentionPeriod": "1209600",
		"MaximumMessageSize":     "262144",
		"SqsManagedSseEnabled":   "true",
	}
	if !reflect.DeepEqual(dlq, wantDLQ) {
		t.Errorf("dead-letter attributes = %v, want %v", dlq, wantDLQ)
	}

	fifo := get(desiredAttributes(Spec{FIFO: true, DisableSSE: true}.WithDefaults(), ""))
	wantFIFO := map[string]string{
		"MessageRetentionPeriod":    "1209600",
		"MaximumMessageSize":        "262144",
		"FifoQueue":                 "true",
		"ContentBasedDeduplication": "false",
		"DeduplicationScope":        "messageGroup",
		"FifoThroughputLimit":       "perMessageGroupId",
	}
	if !reflect.DeepEqual(fifo, wantFIFO) {
		t.Errorf("FIFO dead-letter attributes (SSE disabled) = %v, want %v", fifo, wantFIFO)
	}
}
