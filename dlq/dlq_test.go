package dlq_test

import (
	"context"
	"errors"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/dlq"
	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/queues"
	"github.com/hookline/hookline/worker"
)

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m)) }

const region = "eu-west-1"

// pair creates a fresh queue pair on the local SQS.
func pair(t *testing.T, fifo bool) (*sqs.Client, dlq.Queues) {
	t.Helper()
	client := localstack.SQSClient(t, region)
	res, err := queues.Ensure(context.Background(), client, queues.Spec{Name: localstack.UniqueQueueName(t, "dlq"), FIFO: fifo}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	return client, dlq.Queues{Main: res.Main.URL, DeadLetter: res.DeadLetter.URL, FIFO: fifo}
}

func str(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

func num(v int) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(v))}
}

func envelope(t *testing.T, e payload.Envelope) string {
	t.Helper()
	e.V = payload.Version
	b, err := payload.Encode(&e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// deadLetter is a DLQ message written the way worker/ops.go writes it.
type deadLetter struct {
	body  string
	attrs map[string]types.MessageAttributeValue
}

// workerDeadLetters are one of each kind the DLQ holds: a permanent
// failure (410) and a retries-exhausted copy, as the worker writes them; a
// raw malformed body; and an envelope the redrive policy moved (no
// hookline-* attributes).
func workerDeadLetters(t *testing.T) []deadLetter {
	return []deadLetter{
		{envelope(t, payload.Envelope{ID: "env-gone", AppID: "app-1", Targets: []string{"wh-a"}, Attempt: 1, FirstAttemptMS: 1700000000000,
			Events: []payload.Event{{Name: "member_added", Channel: "presence-chat", UserID: "u1", TimeMS: 1700000000000},
				{Name: "member_removed", Channel: "presence-chat", UserID: "u2", TimeMS: 1700000000001}}}),
			map[string]types.MessageAttributeValue{
				worker.AttrReason: str("permanent-failure"), worker.AttrTarget: str("https://a.test/hooks"), worker.AttrStatus: str("410"),
				worker.AttrAttempts: num(1), worker.AttrWebhook: str("wh-a"), worker.AttrDetail: str("410 Gone"),
			}},
		{envelope(t, payload.Envelope{ID: "env-busy", AppID: "app-2", Targets: []string{"wh-b"}, Attempt: 10, FirstAttemptMS: 1700000000000, NotBeforeMS: 1700000900000,
			Events: []payload.Event{{Name: "channel_occupied", Channel: "private-room"}}}),
			map[string]types.MessageAttributeValue{
				worker.AttrReason: str("retries-exhausted"), worker.AttrTarget: str("lambda:busy-fn"), worker.AttrStatus: str("503"),
				worker.AttrAttempts: num(10), worker.AttrWebhook: str("wh-b"),
			}},
		{`{"not json`, map[string]types.MessageAttributeValue{
			worker.AttrReason: str(payload.ReasonMalformed), worker.AttrStatus: str("none"), worker.AttrAttempts: num(1),
			worker.AttrDetail: str("payload: not valid JSON"),
		}},
		{envelope(t, payload.Envelope{ID: "env-crash", AppID: "app-1", Attempt: 2, FirstAttemptMS: 1700000000000,
			Events: []payload.Event{{Name: "client_event", Channel: "private-x", Event: "client-y", Data: "{}"}}}),
			map[string]types.MessageAttributeValue{"producer-trace": str("t-1")}},
	}
}

func put(t *testing.T, client *sqs.Client, url string, msgs []deadLetter) {
	t.Helper()
	for i, m := range msgs {
		in := &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(m.body), MessageAttributes: m.attrs}
		if strings.HasSuffix(url, ".fifo") {
			in.MessageGroupId = aws.String("g")
			in.MessageDeduplicationId = aws.String(strconv.Itoa(i))
		}
		if _, err := client.SendMessage(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
}

// drain receives (and deletes) everything in url.
func drain(t *testing.T, client *sqs.Client, url string) []types.Message {
	t.Helper()
	ctx := context.Background()
	var all []types.Message
	for {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1, VisibilityTimeout: 30})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			if d := depth(t, client, url); d.Visible > 0 {
				t.Logf("drain: an empty receive with %d visible; receiving again", d.Visible)
				continue
			}
			return all
		}
		for _, m := range out.Messages {
			all = append(all, m)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func reasons(msgs []*dlq.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Reason)
	}
	sort.Strings(out)
	return out
}

func depth(t *testing.T, client *sqs.Client, url string) dlq.Depth {
	t.Helper()
	d, err := dlq.QueueDepth(context.Background(), client, url)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestInspectSamplesFiltersAndGivesTheSampleBack(t *testing.T) {
	t.Parallel()
	client, q := pair(t, false)
	put(t, client, q.DeadLetter, workerDeadLetters(t))
	ctx := context.Background()

	s, err := dlq.Inspect(ctx, client, q.DeadLetter, dlq.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reasons(s.Messages), []string{"malformed-body", "permanent-failure", "redrive-policy", "retries-exhausted"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("reasons %v, want %v", got, want)
	}
	if s.Depth.Total() != 4 || s.Scanned != 4 || s.Unreleased != 0 {
		t.Errorf("depth %+v scanned %d unreleased %d, want 4, 4, 0", s.Depth, s.Scanned, s.Unreleased)
	}
	for _, m := range s.Messages {
		switch m.Reason {
		case "permanent-failure":
			if m.Status != "410" || m.Webhook != "wh-a" || m.Attempts != 1 || m.AppID != "app-1" || m.EnvelopeID != "env-gone" ||
				m.EventSummary != "2 events: member_added presence-chat, member_removed presence-chat" || m.Detail != "410 Gone" ||
				m.ReceiveCount != 1 || m.SentAt.IsZero() || !m.Envelope {
				t.Errorf("permanent failure read as %+v", m)
			}
		case "malformed-body":
			if m.Envelope || m.Body != `{"not json` || m.AppID != "" || m.EventSummary != "(not an envelope: 10 bytes)" {
				t.Errorf("malformed read as %+v", m)
			}
		case "redrive-policy":
			if m.AppID != "app-1" || m.Webhook != "" || m.EventSummary != "1 event: client_event private-x" {
				t.Errorf("redrive-policy arrival read as %+v", m)
			}
		}
	}
	// The sample is visible again at once, not after the visibility timeout.
	if d := depth(t, client, q.DeadLetter); d.Visible != 4 || d.NotVisible != 0 {
		t.Errorf("after inspect: %+v, want all 4 visible", d)
	}

	for _, tt := range []struct {
		name   string
		filter dlq.Filter
		want   []string
	}{
		{"reason", dlq.Filter{Reasons: []string{"permanent-failure", "redrive-policy"}}, []string{"permanent-failure", "redrive-policy"}},
		{"app", dlq.Filter{Apps: []string{"app-1"}}, []string{"permanent-failure", "redrive-policy"}},
		{"webhook id", dlq.Filter{Webhooks: []string{"wh-b"}}, []string{"retries-exhausted"}},
		{"webhook target", dlq.Filter{Webhooks: []string{"https://a.test/hooks"}}, []string{"permanent-failure"}},
		{"all must hold", dlq.Filter{Apps: []string{"app-1"}, Reasons: []string{"retries-exhausted"}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := dlq.Inspect(ctx, client, q.DeadLetter, dlq.InspectOptions{Filter: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			if got := reasons(s.Messages); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("reasons %v, want %v", got, tt.want)
			}
			if s.Scanned != 4 {
				t.Errorf("scanned %d, want 4", s.Scanned)
			}
		})
	}

	s, err = dlq.Inspect(ctx, client, q.DeadLetter, dlq.InspectOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Messages) != 2 || s.Depth.Total() != 4 {
		t.Errorf("--limit 2: %d messages of ~%d", len(s.Messages), s.Depth.Total())
	}
}

// received decodes what the main queue got.
func received(t *testing.T, msgs []types.Message) map[string]*payload.Envelope {
	t.Helper()
	out := map[string]*payload.Envelope{}
	for _, m := range msgs {
		env, err := payload.Decode([]byte(aws.ToString(m.Body)))
		if err != nil {
			t.Fatalf("main queue got a body that is not an envelope: %v\n%s", err, aws.ToString(m.Body))
		}
		for k := range m.MessageAttributes {
			if strings.HasPrefix(k, "hookline-") {
				t.Errorf("%s kept attribute %s", env.ID, k)
			}
		}
		out[env.ID] = env
	}
	return out
}

func TestRedriveResetsAttemptsKeepsTargetsAndLeavesTheRest(t *testing.T) {
	t.Parallel()
	client, q := pair(t, false)
	put(t, client, q.DeadLetter, workerDeadLetters(t))
	ctx := context.Background()

	var progress []dlq.Counts
	c, err := dlq.Redrive(ctx, client, q, dlq.RedriveOptions{Filter: dlq.Filter{Reasons: []string{"permanent-failure"}},
		Progress: func(c dlq.Counts) { progress = append(progress, c) }})
	if err != nil {
		t.Fatal(err)
	}
	if c.Redriven != 1 || c.Unmatched != 3 || c.Skipped != 0 || c.Failed != 0 || c.NotDeleted != 0 {
		t.Fatalf("counts %+v, want 1 redriven, 3 unmatched", c)
	}
	if len(progress) == 0 || progress[len(progress)-1].Redriven != 1 {
		t.Errorf("progress %+v", progress)
	}
	// The filtered-out are visible again at once.
	if d := depth(t, client, q.DeadLetter); d.Visible != 3 || d.NotVisible != 0 {
		t.Errorf("DLQ after the filtered redrive: %+v, want 3 visible", d)
	}
	main := received(t, drain(t, client, q.Main))
	env := main["env-gone"]
	if len(main) != 1 || env == nil {
		t.Fatalf("main queue got %v", main)
	}
	if env.Attempt != 0 || env.FirstAttemptMS != 0 || env.NotBeforeMS != 0 || len(env.Targets) != 1 || env.Targets[0] != "wh-a" ||
		env.AppID != "app-1" || len(env.Events) != 2 || env.Events[1].UserID != "u2" {
		t.Errorf("redriven envelope %+v", env)
	}

	// Everything else: the raw malformed one is skipped and stays.
	c, err = dlq.Redrive(ctx, client, q, dlq.RedriveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Redriven != 2 || c.Skipped != 1 || c.Unmatched != 0 || c.Failed != 0 {
		t.Fatalf("counts %+v, want 2 redriven, 1 skipped", c)
	}
	raw := drain(t, client, q.Main)
	main = received(t, raw)
	if busy := main["env-busy"]; busy == nil || busy.Attempt != 0 || busy.NotBeforeMS != 0 || busy.Targets[0] != "wh-b" {
		t.Errorf("env-busy: %+v", busy)
	}
	if crash := main["env-crash"]; crash == nil || crash.Attempt != 0 || crash.Targets != nil {
		t.Errorf("env-crash: %+v", crash)
	}
	for _, m := range raw {
		if strings.Contains(aws.ToString(m.Body), "env-crash") && aws.ToString(m.MessageAttributes["producer-trace"].StringValue) != "t-1" {
			t.Errorf("env-crash lost its own attribute: %v", m.MessageAttributes)
		}
	}
	left := drain(t, client, q.DeadLetter)
	if len(left) != 1 || aws.ToString(left[0].Body) != `{"not json` {
		t.Errorf("DLQ keeps %d messages, want only the malformed one", len(left))
	}
}

func TestRedriveFIFOGroupsByAppWithADedupID(t *testing.T) {
	t.Parallel()
	client, q := pair(t, true)
	put(t, client, q.DeadLetter, workerDeadLetters(t)[:1])
	c, err := dlq.Redrive(context.Background(), client, q, dlq.RedriveOptions{})
	if err != nil || c.Redriven != 1 {
		t.Fatalf("counts %+v, err %v", c, err)
	}
	out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.Main), WaitTimeSeconds: 1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("main queue: %v, %v", out, err)
	}
	if g := out.Messages[0].Attributes["MessageGroupId"]; g != "app-1" {
		t.Errorf("MessageGroupId %q, want app-1", g)
	}
	if d := out.Messages[0].Attributes["MessageDeduplicationId"]; !strings.HasPrefix(d, "env-gone:redrive:") {
		t.Errorf("MessageDeduplicationId %q", d)
	}
}

// refusing wraps the real client: SendMessageBatch passes on only the
// entries refuse does not pick and reports the others Failed, as SQS does
// for a partial failure. after runs after each send.
type refusing struct {
	*sqs.Client
	refuse func(types.SendMessageBatchRequestEntry) bool
	after  func()
	mu     sync.Mutex
	sends  int
}

func (r *refusing) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	r.mu.Lock()
	r.sends++
	r.mu.Unlock()
	pass := *in
	pass.Entries = nil
	var failed []types.BatchResultErrorEntry
	for _, e := range in.Entries {
		if r.refuse != nil && r.refuse(e) {
			failed = append(failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("injected"), SenderFault: false})
			continue
		}
		pass.Entries = append(pass.Entries, e)
	}
	out := &sqs.SendMessageBatchOutput{}
	if len(pass.Entries) > 0 {
		var err error
		if out, err = r.Client.SendMessageBatch(ctx, &pass, opts...); err != nil {
			return nil, err
		}
	}
	out.Failed = append(out.Failed, failed...)
	if r.after != nil {
		r.after()
	}
	return out, nil
}

func TestRedriveLeavesRefusedSendsInTheDLQ(t *testing.T) {
	t.Parallel()
	client, q := pair(t, false)
	var msgs []deadLetter
	for i := range 15 {
		app := "app-ok"
		if i%3 == 0 {
			app = "app-refused"
		}
		msgs = append(msgs, deadLetter{body: envelope(t, payload.Envelope{ID: "e" + strconv.Itoa(i), AppID: app, Attempt: 3,
			Events: []payload.Event{{Name: "member_added", Channel: "presence-x"}}}),
			attrs: map[string]types.MessageAttributeValue{worker.AttrReason: str("retries-exhausted")}})
	}
	put(t, client, q.DeadLetter, msgs)
	api := &refusing{Client: client, refuse: func(e types.SendMessageBatchRequestEntry) bool {
		return strings.Contains(aws.ToString(e.MessageBody), "app-refused")
	}}
	c, err := dlq.Redrive(context.Background(), api, q, dlq.RedriveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Redriven != 10 || c.Failed != 5 || len(c.Errors) != 5 || !strings.Contains(c.Errors[0], "InternalError: injected") {
		t.Fatalf("counts %+v, want 10 redriven and 5 failed", c)
	}
	for _, m := range received(t, drain(t, client, q.Main)) {
		if m.AppID != "app-ok" {
			t.Errorf("main queue got %s of %s", m.ID, m.AppID)
		}
	}
	left := drain(t, client, q.DeadLetter)
	if len(left) != 5 {
		t.Fatalf("DLQ keeps %d, want the 5 refused", len(left))
	}
	for _, m := range left {
		if !strings.Contains(aws.ToString(m.Body), "app-refused") || aws.ToString(m.MessageAttributes[worker.AttrReason].StringValue) != "retries-exhausted" {
			t.Errorf("DLQ kept %s", aws.ToString(m.Body))
		}
	}
}

func TestRedriveInterruptedFinishesTheBatchInHand(t *testing.T) {
	t.Parallel()
	client, q := pair(t, false)
	var msgs []deadLetter
	for i := range 25 {
		msgs = append(msgs, deadLetter{body: envelope(t, payload.Envelope{ID: "e" + strconv.Itoa(i), AppID: "app-1",
			Events: []payload.Event{{Name: "member_added", Channel: "presence-x"}}}),
			attrs: map[string]types.MessageAttributeValue{worker.AttrReason: str("permanent-failure")}})
	}
	put(t, client, q.DeadLetter, msgs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Ctrl-C arrives while the first batch's send is in flight: its
	// deletes must still happen, and nothing more is received.
	api := &refusing{Client: client, after: cancel}
	c, err := dlq.Redrive(ctx, api, q, dlq.RedriveOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if api.sends != 1 || c.Redriven == 0 || c.Failed != 0 || c.NotDeleted != 0 {
		t.Fatalf("sends %d, counts %+v: want one batch redriven", api.sends, c)
	}
	main, left := drain(t, client, q.Main), drain(t, client, q.DeadLetter)
	if len(main) != c.Redriven || len(main)+len(left) != 25 {
		t.Errorf("main %d + DLQ %d, redriven %d: want every message in exactly one queue", len(main), len(left), c.Redriven)
	}
}

func TestPurgeEmptiesTheQueue(t *testing.T) {
	t.Parallel()
	client, q := pair(t, false)
	put(t, client, q.DeadLetter, workerDeadLetters(t))
	if err := dlq.Purge(context.Background(), client, q.DeadLetter); err != nil {
		t.Fatal(err)
	}
	if d := depth(t, client, q.DeadLetter); d.Total() != 0 {
		t.Errorf("after purge: %+v", d)
	}
}

func TestStartMoveOnAnEndpointWithoutIt(t *testing.T) {
	t.Parallel()
	client, q := pair(t, false)
	_, err := dlq.StartMove(context.Background(), client, q, 0)
	if !errors.Is(err, dlq.ErrMoveUnsupported) {
		t.Fatalf("err %v, want ErrMoveUnsupported from the emulator", err)
	}
}
