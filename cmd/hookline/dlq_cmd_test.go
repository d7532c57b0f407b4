package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/dlq"
	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/queues"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/worker"
)

// hooklineIn is hookline with stdin.
func hooklineIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr, noEnv)
	return code, stdout.String(), stderr.String()
}

// dlqSetup creates a queue pair on the local SQS and a config file naming
// it; extra is spliced into the config's top level.
func dlqSetup(t *testing.T, create bool, apps string) (client *sqs.Client, q dlq.Queues, cfgPath string) {
	t.Helper()
	const region = "eu-west-1"
	endpoint := localstack.SQSEndpoint(t)
	client = localstack.SQSClient(t, region)
	name := localstack.UniqueQueueName(t, "cli-dlq")
	if create {
		res, err := queues.Ensure(context.Background(), client, queues.Spec{Name: name}.WithDefaults())
		if err != nil {
			t.Fatal(err)
		}
		q = dlq.Queues{Main: res.Main.URL, DeadLetter: res.DeadLetter.URL}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	if apps == "" {
		apps = `{"app_manager":{"array":{"apps":[]}},`
	}
	cfgPath = filepath.Join(t.TempDir(), "config.json")
	doc := fmt.Sprintf(`%s"queue":{"sqs":{"region":%q,"endpoint_url":%q,"queue_name":%q,"wait_time_seconds":1}}}`, apps, region, endpoint, name)
	if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return client, q, cfgPath
}

func strAttr(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

// seedDeadLetters writes, as the worker does, a permanent failure (410), a
// retries-exhausted copy, a raw malformed body and a redrive-policy
// arrival without attributes.
func seedDeadLetters(t *testing.T, client *sqs.Client, url string) {
	t.Helper()
	env := func(e payload.Envelope) string {
		e.V = payload.Version
		b, err := payload.Encode(&e)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	msgs := []struct {
		body  string
		attrs map[string]types.MessageAttributeValue
	}{
		{env(payload.Envelope{ID: "env-gone", AppID: "app-1", Targets: []string{"wh-a"}, Attempt: 1, FirstAttemptMS: 1700000000000,
			Events: []payload.Event{{Name: "member_added", Channel: "presence-chat", UserID: "u1"}, {Name: "member_added", Channel: "presence-chat", UserID: "u2"},
				{Name: "member_removed", Channel: "presence-chat", UserID: "u3"}, {Name: "channel_vacated", Channel: "presence-chat"}}}),
			map[string]types.MessageAttributeValue{worker.AttrReason: strAttr("permanent-failure"), worker.AttrTarget: strAttr("https://a.test/hooks"),
				worker.AttrStatus: strAttr("410"), worker.AttrAttempts: {DataType: aws.String("Number"), StringValue: aws.String("1")},
				worker.AttrWebhook: strAttr("wh-a"), worker.AttrDetail: strAttr("410 Gone\nthe endpoint was removed")}},
		{env(payload.Envelope{ID: "env-busy", AppID: "app-2", Targets: []string{"wh-b"}, Attempt: 10, FirstAttemptMS: 1700000000000,
			Events: []payload.Event{{Name: "channel_occupied", Channel: "private-room"}}}),
			map[string]types.MessageAttributeValue{worker.AttrReason: strAttr("retries-exhausted"), worker.AttrTarget: strAttr("lambda:busy"),
				worker.AttrStatus: strAttr("503"), worker.AttrAttempts: {DataType: aws.String("Number"), StringValue: aws.String("10")}, worker.AttrWebhook: strAttr("wh-b")}},
		{`<xml/>`, map[string]types.MessageAttributeValue{worker.AttrReason: strAttr(payload.ReasonMalformed), worker.AttrStatus: strAttr("none")}},
		{env(payload.Envelope{ID: "env-crash", AppID: "app-1", Attempt: 2, Events: []payload.Event{{Name: "client_event", Channel: "private-x"}}}), nil},
	}
	for _, m := range msgs {
		if _, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(m.body), MessageAttributes: m.attrs}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDLQInspectPrintsTheSampleFiltersAndJSON(t *testing.T) {
	client, q, cfg := dlqSetup(t, true, "")
	seedDeadLetters(t, client, q.DeadLetter)

	code, out, stderr := hooklineIn(t, "", "dlq", "inspect", "--config", cfg, "--log-format", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"REASON", "permanent-failure", "wh-a", "https://a.test/hooks", "410",
		"4 events: member_added presence-chat, member_added presence…", // cut in the table, whole in --json
		"410 Gone the endpoint was removed", "retries-exhausted", "lambda:busy", "malformed-body", "(not an envelope: 6 bytes)",
		"redrive-policy (max receives)", "1 event: client_event private-x",
		"showing 4 of ~4 messages in " + q.DeadLetter,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}

	code, out, stderr = hooklineIn(t, "", "dlq", "inspect", "--config", cfg, "--log-format", "json", "--json", "--app", "app-1", "--reason", "permanent-failure,redrive-policy")
	if code != 0 {
		t.Fatalf("--json: exit %d\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("--json: %d lines, want 2:\n%s", len(lines), out)
	}
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("--json line %q: %v", l, err)
		}
		got = append(got, m)
	}
	for _, m := range got {
		switch m["reason"] {
		case "permanent-failure":
			if m["status"] != "410" || m["attempts"] != 1.0 || m["app_id"] != "app-1" || m["webhook"] != "wh-a" || m["events"] != 4.0 ||
				m["envelope_id"] != "env-gone" || m["detail"] != "410 Gone\nthe endpoint was removed" ||
				m["event_summary"] != "4 events: member_added presence-chat, member_added presence-chat, member_removed presence-chat, +1 more" || m["envelope"] != true || m["receive_count"] == 0.0 || m["message_id"] == "" {
				t.Errorf("permanent failure as JSON: %v", m)
			}
		case "redrive-policy":
			if m["app_id"] != "app-1" || m["webhook"] != "" {
				t.Errorf("redrive-policy arrival as JSON: %v", m)
			}
		default:
			t.Errorf("filter let through %v", m)
		}
	}
	if !strings.Contains(stderr, "showing 2 matching of ~4 messages in "+q.DeadLetter+" (scanned 4)") {
		t.Errorf("--json stderr lacks the count:\n%s", stderr)
	}

	code, out, _ = hooklineIn(t, "", "dlq", "inspect", "--config", cfg, "--log-format", "json", "--webhook", "lambda:busy")
	if code != 0 || !strings.Contains(out, "retries-exhausted") || strings.Contains(out, "permanent-failure") {
		t.Errorf("--webhook lambda:busy: exit %d\n%s", code, out)
	}
	if code, _, stderr := hooklineIn(t, "", "dlq", "inspect", "--config", cfg, "--limit", "0"); code != 2 || !strings.Contains(stderr, "--limit") {
		t.Errorf("--limit 0: exit %d, %s", code, stderr)
	}
}

func TestDLQRedriveCountsAndLeavesTheRest(t *testing.T) {
	client, q, cfg := dlqSetup(t, true, "")
	seedDeadLetters(t, client, q.DeadLetter)

	code, out, stderr := hooklineIn(t, "", "dlq", "redrive", "--config", cfg, "--log-format", "json", "--app", "app-1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "redriven 2, skipped 0, failed 0 (2 not matching the filters left in the DLQ)") {
		t.Errorf("output:\n%s", out)
	}
	if strings.Contains(stderr, "redriving") {
		t.Errorf("a progress bar on a stderr that is not a terminal:\n%s", stderr)
	}
	code, out, stderr = hooklineIn(t, "", "dlq", "redrive", "--config", cfg, "--log-format", "json")
	if code != 0 || !strings.Contains(out, "redriven 1, skipped 1, failed 0\n") || !strings.Contains(out, "skipped: 1 messages that are not envelopes") {
		t.Errorf("second run: exit %d\n%s\n%s", code, out, stderr)
	}
	ids := map[string]int{}
	for {
		r, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.Main), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			break
		}
		for _, m := range r.Messages {
			env, err := payload.Decode([]byte(aws.ToString(m.Body)))
			if err != nil {
				t.Fatal(err)
			}
			if env.Attempt != 0 || env.FirstAttemptMS != 0 {
				t.Errorf("%s: attempts not reset: %+v", env.ID, env)
			}
			ids[env.ID] = env.Attempt
		}
	}
	if len(ids) != 3 {
		t.Errorf("main queue got %v, want env-gone, env-busy, env-crash", ids)
	}
	d, err := dlq.QueueDepth(context.Background(), client, q.DeadLetter)
	if err != nil || d.Visible != 1 {
		t.Errorf("DLQ %+v (%v), want the malformed one visible", d, err)
	}
}

func TestDLQRedriveServerSide(t *testing.T) {
	client, q, cfg := dlqSetup(t, true, "")
	seedDeadLetters(t, client, q.DeadLetter)
	code, _, stderr := hooklineIn(t, "", "dlq", "redrive", "--config", cfg, "--server-side", "--reason", "permanent-failure")
	if code != 2 || !strings.Contains(stderr, "--server-side moves every message as it is") {
		t.Errorf("--server-side with a filter: exit %d\n%s", code, stderr)
	}
	code, _, stderr = hooklineIn(t, "", "dlq", "redrive", "--config", cfg, "--log-format", "json", "--server-side")
	if code != 1 || !strings.Contains(stderr, "has no StartMessageMoveTask") || !strings.Contains(stderr, "without --server-side") {
		t.Errorf("--server-side on fauxqs: exit %d\n%s", code, stderr)
	}
	if d, _ := dlq.QueueDepth(context.Background(), client, q.DeadLetter); d.Total() != 4 {
		t.Errorf("DLQ after a refused move: %+v", d)
	}
}

func TestDLQPurgeAsksFirst(t *testing.T) {
	client, q, cfg := dlqSetup(t, true, "")
	seedDeadLetters(t, client, q.DeadLetter)
	left := func() int {
		t.Helper()
		d, err := dlq.QueueDepth(context.Background(), client, q.DeadLetter)
		if err != nil {
			t.Fatal(err)
		}
		return d.Total()
	}
	for _, answer := range []string{"n\n", "\n", "", "yes please\n"} {
		code, out, _ := hooklineIn(t, answer, "dlq", "purge", "--config", cfg, "--log-format", "json")
		if code != 1 || !strings.Contains(out, "Purge ~4 messages from "+q.DeadLetter+"? [y/N] ") || !strings.Contains(out, "not purged") {
			t.Errorf("answer %q: exit %d\n%s", answer, code, out)
		}
		if n := left(); n != 4 {
			t.Fatalf("answer %q purged: %d left", answer, n)
		}
	}
	code, out, stderr := hooklineIn(t, "", "dlq", "purge", "--config", cfg, "--log-format", "json", "--yes")
	if code != 0 || strings.Contains(out, "[y/N]") || !strings.Contains(out, "purged ~4 messages from "+q.DeadLetter) {
		t.Errorf("--yes: exit %d\n%s\n%s", code, out, stderr)
	}
	if n := left(); n != 0 {
		t.Errorf("after --yes: %d left", n)
	}
}

func TestDLQPurgeAcceptsY(t *testing.T) {
	client, q, cfg := dlqSetup(t, true, "")
	seedDeadLetters(t, client, q.DeadLetter)
	if code, out, stderr := hooklineIn(t, "Y\n", "dlq", "purge", "--config", cfg, "--log-format", "json"); code != 0 || !strings.Contains(out, "purged ~4") {
		t.Errorf("answer Y: exit %d\n%s\n%s", code, out, stderr)
	}
}

func TestDLQMissingQueueSaysToCreateIt(t *testing.T) {
	_, _, cfg := dlqSetup(t, false, "")
	for _, args := range [][]string{{"inspect"}, {"redrive"}, {"purge", "--yes"}} {
		code, _, stderr := hooklineIn(t, "", append([]string{"dlq", "--config", cfg, "--log-format", "json"}, args...)...)
		if code != 1 || !strings.Contains(stderr, "run `hookline queues create` first") {
			t.Errorf("dlq %v without queues: exit %d\n%s", args, code, stderr)
		}
	}
}

// The whole story on the real worker: a webhook answers 410, the worker
// dead-letters the event, inspect shows why, the webhook is fixed, redrive
// sends it back and it is delivered.
func TestDeadLetterInspectRedriveDelivered(t *testing.T) {
	rec := receiver.NewRecorder(receiver.StaticApps{"key-1": {ID: "app-1", Secret: "secret-1"}})
	rec.Respond(receiver.Sequence(410, 200)) // gone at first, fixed afterwards
	srv := receiver.NewServer(rec)
	t.Cleanup(srv.Close)
	apps := fmt.Sprintf(`{"app_manager":{"array":{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1",
		"webhooks":[{"id":"wh-1","url":%q,"event_types":["member_added"]}]}]}},`, srv.URL+"/hooks")
	client, q, cfg := dlqSetup(t, true, apps)
	lines := background(t, noEnv, "worker", "--config", cfg, "--listen", "", "--log-format", "json", "--sqs-call-timeout", "3s")

	if code, _, stderr := hooklineIn(t, "", "send", "--config", cfg, "--app", "app-1", "--name", "member_added", "--channel", "presence-chat", "--user-id", "u1"); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, stderr)
	}
	waitLine(t, lines, `"msg":"dead-lettered"`)

	code, out, stderr := hooklineIn(t, "", "dlq", "inspect", "--config", cfg, "--log-format", "json", "--json")
	if code != 0 {
		t.Fatalf("inspect: exit %d\n%s", code, stderr)
	}
	var m dlq.Message
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &m); err != nil {
		t.Fatalf("inspect --json %q: %v", out, err)
	}
	if m.Reason != "permanent-failure" || m.Status != "410" || m.AppID != "app-1" || m.Webhook != "wh-1" || m.Attempts != 1 ||
		m.EventSummary != "1 event: member_added presence-chat" || m.Target != srv.URL+"/hooks" {
		t.Fatalf("dead letter: %+v", m)
	}

	code, out, stderr = hooklineIn(t, "", "dlq", "redrive", "--config", cfg, "--log-format", "json", "--reason", "permanent-failure")
	if code != 0 || !strings.Contains(out, "redriven 1, skipped 0, failed 0") {
		t.Fatalf("redrive: exit %d\n%s\n%s", code, out, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rec.WaitEvents(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ds := rec.Deliveries()
	last := ds[len(ds)-1]
	if len(last.Body.Events) != 1 || last.Body.Events[0].UserID != "u1" || last.Attempt != 1 {
		t.Errorf("delivered %+v, want u1's member_added as attempt 1", last)
	}
	if d, _ := dlq.QueueDepth(context.Background(), client, q.DeadLetter); d.Total() != 0 {
		t.Errorf("DLQ after the redrive: %+v", d)
	}
}
