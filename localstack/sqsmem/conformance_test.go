package sqsmem_test

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/localstack/sqsmem"
)

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m)) }

// api is what the suite calls: the worker's SQS interface (worker.SQS) plus what the tests
// need to set up and inspect queues. Both back ends implement it.
type api interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, optFns ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	PurgeQueue(ctx context.Context, in *sqs.PurgeQueueInput, optFns ...func(*sqs.Options)) (*sqs.PurgeQueueOutput, error)
}

var (
	_ api = (*sqs.Client)(nil)
	_ api = (*sqsmem.Client)(nil)
)

// Known differences between fauxqs 1.9.2 and real SQS. The suite encodes real SQS; on a back
// end with a quirk it logs the difference instead of checking (never silently).
const (
	quirkPrefixedCodes      = "every error code carries the AWS.SimpleQueueService. prefix (real SQS: ReceiptHandleIsInvalid, InvalidParameterValue, InvalidMessageContents, MissingParameter without it)"
	quirkStaleVisibility    = "ChangeMessageVisibility with a stale or deleted message's handle says MessageNotInflight, and ReceiptHandleIsInvalid in a batch (real SQS: InvalidParameterValue)"
	quirkMalformedHandle    = "DeleteMessage(Batch) accepts a receipt handle it never issued, ChangeMessageVisibility calls it MessageNotInflight (real SQS: ReceiptHandleIsInvalid)"
	quirkAttributesUnasked  = "ReceiveMessage returns all message attributes when none are asked for (real SQS: none)"
	quirkFilteredAttrsMD5   = "when MessageAttributeNames selects some attributes, MD5OfMessageAttributes is still that of all of them (real SQS: of those returned, which the SDKs that verify it rely on)"
	quirkFairQueueGroup     = "MessageGroupId sent to a standard (fair) queue is not returned as an attribute"
	quirkFifoOnePerGroup    = "a FIFO receive returns at most one message per group (real SQS returns as many of a group as it can)"
	quirkFifoExpiredDelete  = "FIFO DeleteMessage with an expired receipt handle succeeds (real SQS: InvalidParameterValue, the receipt handle has expired)"
	quirkSupplementaryChars = "message bodies with characters #x10000 and above (e.g. emoji) are InvalidMessageContents"
	quirkAttributeLimit     = "more than 10 message attributes are accepted"
	quirkDelayRange         = "DelaySeconds above 900 is accepted"
	quirkDLQSourceArn       = "dead-lettered messages have no DeadLetterQueueSourceArn attribute"
	quirkDLQReceiveCount    = "a dead-lettered message's receive count includes the receive that moved it"
)

// backend is one SQS the suite runs against.
type backend struct {
	name   string
	client api
	// pair creates a fresh queue pair: a DLQ and a main queue redriving to it after
	// maxReceiveCount receives, both with the visibility timeout.
	pair     func(t *testing.T, fifo bool, visibility time.Duration, maxReceiveCount int) (mainURL, dlqURL string)
	parallel bool // subtests may run in parallel (real time)
	// run runs one test of the suite; nil runs it as is. sqsmem runs each in its own
	// synctest bubble (t.Run cannot be called inside one) with a fresh Server.
	run    func(t *testing.T, test func(t *testing.T, b *backend))
	quirks map[string]bool // the back end's known differences from real SQS
}

// quirk reports whether b has quirk q, logging that the check is skipped if so.
func (b *backend) quirk(t *testing.T, q, got string) bool {
	t.Helper()
	if b.quirks[q] {
		t.Logf("%s quirk, real-SQS check skipped: %s (got: %s)", b.name, q, got)
		return true
	}
	return false
}

// TestConformanceMem runs the suite against sqsmem, each test in a synctest bubble: virtual
// time.
func TestConformanceMem(t *testing.T) {
	runConformance(t, &backend{
		name: "sqsmem",
		run: func(t *testing.T, test func(t *testing.T, b *backend)) {
			synctest.Test(t, func(t *testing.T) {
				test(t, memBackend(sqsmem.New()))
			})
		},
	})
}

func memBackend(srv *sqsmem.Server) *backend {
	return &backend{
		name:   "sqsmem",
		client: srv.Client(),
		pair: func(t *testing.T, fifo bool, vis time.Duration, maxReceiveCount int) (string, string) {
			return srv.CreatePair(localstack.UniqueQueueName(t, "c"), fifo, vis, maxReceiveCount)
		},
	}
}

// TestConformanceFauxqs runs the suite against the harness's SQS (fauxqs, or
// AWS_ENDPOINT_URL_SQS): real time, subtests in parallel.
func TestConformanceFauxqs(t *testing.T) {
	client := localstack.SQSClient(t, "us-east-1")
	name := "fauxqs"
	if v := os.Getenv(localstack.EndpointEnv); v != "" {
		name = "emulator at " + v
		t.Logf("%s is set: assuming the endpoint has fauxqs's quirks (checks are skipped, never reversed)", localstack.EndpointEnv)
	}
	quirks := map[string]bool{}
	for _, q := range []string{quirkPrefixedCodes, quirkStaleVisibility, quirkMalformedHandle, quirkAttributesUnasked,
		quirkFilteredAttrsMD5, quirkFairQueueGroup, quirkFifoOnePerGroup, quirkFifoExpiredDelete, quirkSupplementaryChars, quirkAttributeLimit,
		quirkDelayRange, quirkDLQSourceArn, quirkDLQReceiveCount} {
		quirks[q] = true
	}
	runConformance(t, &backend{
		name:     name,
		client:   client,
		parallel: true,
		quirks:   quirks,
		pair: func(t *testing.T, fifo bool, vis time.Duration, maxReceiveCount int) (string, string) {
			t.Helper()
			ctx := context.Background()
			base := localstack.UniqueQueueName(t, "c")
			mainName, dlqName := base, base+"-dlq"
			attrs := map[string]string{"VisibilityTimeout": strconv.Itoa(int(vis / time.Second))}
			if fifo {
				mainName, dlqName = base+".fifo", base+"-dlq.fifo"
				attrs["FifoQueue"] = "true"
			}
			dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(dlqName), Attributes: attrs})
			if err != nil {
				t.Fatal(err)
			}
			arn := queueAttr(t, client, aws.ToString(dlq.QueueUrl), "QueueArn")
			attrs["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, arn, maxReceiveCount)
			main, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(mainName), Attributes: attrs})
			if err != nil {
				t.Fatal(err)
			}
			return aws.ToString(main.QueueUrl), aws.ToString(dlq.QueueUrl)
		},
	})
}

// vis is the visibility timeout of the suite's queues: short, so real-time runs stay fast.
const vis = 2 * time.Second

// margin is added to waits for a timeout to expire (fauxqs checks timers every 20 ms).
const margin = 500 * time.Millisecond

// runConformance is the behavioural suite both back ends must pass.
func runConformance(t *testing.T, b *backend) {
	tests := []struct {
		name string
		f    func(t *testing.T, b *backend)
	}{
		{"SendReceiveDelete", testSendReceiveDelete},
		{"Attributes", testAttributes},
		{"VisibilityExpiryAndStaleHandles", testVisibilityExpiry},
		{"MalformedHandle", testMalformedHandle},
		{"ChangeVisibility", testChangeVisibility},
		{"Delay", testDelay},
		{"LongPoll", testLongPoll},
		{"BatchPartialFailure", testBatchPartialFailure},
		{"BatchRequestErrors", testBatchRequestErrors},
		{"RedriveToDLQ", testRedrive},
		{"FIFOGroupLocking", testFIFOGroupLocking},
		{"FIFODeduplication", testFIFODedup},
		{"FIFOExpiredHandle", testFIFOExpiredHandle},
		{"Validation", testValidation},
		{"QueueAttributes", testQueueAttributes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b.parallel {
				t.Parallel()
			}
			if b.run != nil {
				b.run(t, tt.f)
			} else {
				tt.f(t, b)
			}
		})
	}
}

// ---- helpers ----

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func send(t *testing.T, b *backend, url, body string, opt ...func(*sqs.SendMessageInput)) *sqs.SendMessageOutput {
	t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}
	for _, o := range opt {
		o(in)
	}
	out, err := b.client.SendMessage(ctxFor(t), in)
	if err != nil {
		t.Fatalf("SendMessage(%.40q): %v", body, err)
	}
	return out
}

func group(g, dedup string) func(*sqs.SendMessageInput) {
	return func(in *sqs.SendMessageInput) {
		in.MessageGroupId = aws.String(g)
		if dedup != "" {
			in.MessageDeduplicationId = aws.String(dedup)
		}
	}
}

// receive does one ReceiveMessage of up to max messages asking for all attributes.
func receive(t *testing.T, b *backend, url string, max int32, wait int32) []types.Message {
	t.Helper()
	out, err := b.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MaxNumberOfMessages: max, WaitTimeSeconds: wait,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

// receiveOne receives exactly one message (waiting up to 2 s for it).
func receiveOne(t *testing.T, b *backend, url string) types.Message {
	t.Helper()
	msgs := receive(t, b, url, 1, 2)
	if len(msgs) != 1 {
		t.Fatalf("ReceiveMessage: got %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func receiveNone(t *testing.T, b *backend, url, why string) {
	t.Helper()
	if msgs := receive(t, b, url, 10, 0); len(msgs) != 0 {
		t.Fatalf("ReceiveMessage: got %d messages (%s), want none: %s", len(msgs), bodies(msgs), why)
	}
}

func bodies(msgs []types.Message) string {
	var s []string
	for _, m := range msgs {
		s = append(s, aws.ToString(m.Body))
	}
	return strings.Join(s, ",")
}

func queueAttr(t *testing.T, c api, url, name string) string {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeName(name)},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes(%s): %v", name, err)
	}
	return out.Attributes[name]
}

// counts returns ApproximateNumberOfMessages, ...NotVisible and ...Delayed.
func counts(t *testing.T, b *backend, url string) [3]int {
	t.Helper()
	out, err := b.client.GetQueueAttributes(ctxFor(t), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	var c [3]int
	for i, n := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
		c[i], _ = strconv.Atoi(out.Attributes[n])
	}
	return c
}

func wantCounts(t *testing.T, b *backend, url string, visible, inFlight, delayed int) {
	t.Helper()
	if got, want := counts(t, b, url), [3]int{visible, inFlight, delayed}; got != want {
		t.Errorf("(visible, in flight, delayed) = %v, want %v", got, want)
	}
}

func setVisibility(t *testing.T, b *backend, url, handle string, secs int32) {
	t.Helper()
	if _, err := b.client.ChangeMessageVisibility(ctxFor(t), &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(url), ReceiptHandle: aws.String(handle), VisibilityTimeout: secs,
	}); err != nil {
		t.Fatalf("ChangeMessageVisibility(%d): %v", secs, err)
	}
}

func deleteMessage(t *testing.T, b *backend, url, handle string) {
	t.Helper()
	if _, err := b.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{
		QueueUrl: aws.String(url), ReceiptHandle: aws.String(handle),
	}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return "<nil>"
	}
	return "<not an API error: " + err.Error() + ">"
}

// wantCode checks the API error code real SQS sends (as ErrorCode() reports it through the
// SDK); quirk names a known difference of the back end that excuses another code.
func wantCode(t *testing.T, b *backend, err error, want, quirk string) {
	t.Helper()
	got := errorCode(err)
	switch {
	case got == want:
	case got == "AWS.SimpleQueueService."+want && b.quirk(t, quirkPrefixedCodes, got):
	case quirk != "" && b.quirk(t, quirk, got):
	default:
		t.Errorf("error code = %s (%v), want %s", got, err, want)
	}
}

// lostHandleCodes are the codes worker.lostHandle treats as "the handle no longer owns the
// message": whatever a back end answers for a stale handle must be one of them.
var lostHandleCodes = []string{"ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight",
	"AWS.SimpleQueueService.ReceiptHandleIsInvalid", "AWS.SimpleQueueService.MessageNotInflight"}

func wantLost(t *testing.T, code string) {
	t.Helper()
	if !slices.Contains(lostHandleCodes, code) {
		t.Errorf("code %s for a stale handle is not one the worker treats as lost (%v)", code, lostHandleCodes)
	}
}

// attributesMD5 is SQS's MD5OfMessageAttributes, written independently of sqsmem's.
func attributesMD5(attrs map[string]types.MessageAttributeValue) string {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf []byte
	lp := func(b []byte) { buf = binary.BigEndian.AppendUint32(buf, uint32(len(b))); buf = append(buf, b...) }
	for _, n := range names {
		v := attrs[n]
		lp([]byte(n))
		lp([]byte(aws.ToString(v.DataType)))
		if strings.HasPrefix(aws.ToString(v.DataType), "Binary") {
			buf = append(buf, 2)
			lp(v.BinaryValue)
		} else {
			buf = append(buf, 1)
			lp([]byte(aws.ToString(v.StringValue)))
		}
	}
	sum := md5.Sum(buf)
	return hex.EncodeToString(sum[:])
}

func md5Of(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func str(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

// ---- tests ----

func testSendReceiveDelete(t *testing.T, b *backend) {
	url, _ := b.pair(t, false, vis, 5)
	sent := send(t, b, url, `{"hello":"world"}`)
	if got, want := aws.ToString(sent.MD5OfMessageBody), md5Of(`{"hello":"world"}`); got != want {
		t.Errorf("MD5OfMessageBody = %s, want %s", got, want)
	}
	m := receiveOne(t, b, url)
	if aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) || aws.ToString(m.Body) != `{"hello":"world"}` ||
		aws.ToString(m.MD5OfBody) != md5Of(`{"hello":"world"}`) || aws.ToString(m.ReceiptHandle) == "" {
		t.Errorf("received %+v, want the message sent (%s)", m, aws.ToString(sent.MessageId))
	}
	wantCounts(t, b, url, 0, 1, 0)
	deleteMessage(t, b, url, aws.ToString(m.ReceiptHandle))
	wantCounts(t, b, url, 0, 0, 0)
	receiveNone(t, b, url, "deleted")
}

func testAttributes(t *testing.T, b *backend) {
	url, _ := b.pair(t, false, vis, 5)
	attrs := map[string]types.MessageAttributeValue{
		"kind":    str("delivery"),
		"attempt": {DataType: aws.String("Number"), StringValue: aws.String("3")},
		"blob":    {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 0xff}},
	}
	before := time.Now().Add(-time.Second).UnixMilli()
	sent := send(t, b, url, "body", func(in *sqs.SendMessageInput) {
		in.MessageAttributes = attrs
		in.MessageGroupId = aws.String("app-1") // a fair queue
	})
	after := time.Now().Add(time.Second).UnixMilli()
	if got, want := aws.ToString(sent.MD5OfMessageAttributes), attributesMD5(attrs); got != want {
		t.Errorf("SendMessage MD5OfMessageAttributes = %s, want %s", got, want)
	}

	m := receiveOne(t, b, url) // All and All
	ts, _ := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64)
	if ts < before || ts > after {
		t.Errorf("SentTimestamp = %d, want within [%d, %d]", ts, before, after)
	}
	first, _ := strconv.ParseInt(m.Attributes["ApproximateFirstReceiveTimestamp"], 10, 64)
	if first < ts || first > time.Now().Add(time.Second).UnixMilli() {
		t.Errorf("ApproximateFirstReceiveTimestamp = %d, want between SentTimestamp %d and now", first, ts)
	}
	if m.Attributes["ApproximateReceiveCount"] != "1" || m.Attributes["SenderId"] == "" {
		t.Errorf("Attributes = %v, want ApproximateReceiveCount 1 and a SenderId", m.Attributes)
	}
	if got := m.Attributes["MessageGroupId"]; got != "app-1" && !b.quirk(t, quirkFairQueueGroup, fmt.Sprintf("MessageGroupId %q", got)) {
		t.Errorf("MessageGroupId = %q, want app-1 (fair queue)", got)
	}
	if len(m.MessageAttributes) != 3 || aws.ToString(m.MessageAttributes["kind"].StringValue) != "delivery" ||
		aws.ToString(m.MessageAttributes["attempt"].StringValue) != "3" ||
		string(m.MessageAttributes["blob"].BinaryValue) != "\x00\x01\x02\xff" {
		t.Errorf("MessageAttributes = %+v, want those sent", m.MessageAttributes)
	}
	if got, want := aws.ToString(m.MD5OfMessageAttributes), attributesMD5(attrs); got != want {
		t.Errorf("MD5OfMessageAttributes = %s, want %s", got, want)
	}

	// By name, legacy AttributeNames: only those asked for.
	setVisibility(t, b, url, aws.ToString(m.ReceiptHandle), 0)
	out, err := b.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), WaitTimeSeconds: 2,
		//lint:ignore SA1019 the legacy field must keep working: callers still use it
		AttributeNames:        []types.QueueAttributeName{"ApproximateReceiveCount"},
		MessageAttributeNames: []string{"kind"},
	})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage by name: %v, %d messages", err, len(out.Messages))
	}
	m = out.Messages[0]
	if len(m.Attributes) != 1 || m.Attributes["ApproximateReceiveCount"] != "2" {
		t.Errorf("Attributes = %v, want only ApproximateReceiveCount 2", m.Attributes)
	}
	if len(m.MessageAttributes) != 1 || aws.ToString(m.MessageAttributes["kind"].StringValue) != "delivery" {
		t.Errorf("MessageAttributes = %v, want only kind", m.MessageAttributes)
	}
	if got, want := aws.ToString(m.MD5OfMessageAttributes), attributesMD5(map[string]types.MessageAttributeValue{"kind": str("delivery")}); got != want &&
		!(got == attributesMD5(attrs) && b.quirk(t, quirkFilteredAttrsMD5, got)) {
		t.Errorf("MD5OfMessageAttributes of the returned attribute = %s, want %s", got, want)
	}

	// Nothing asked: nothing returned.
	setVisibility(t, b, url, aws.ToString(m.ReceiptHandle), 0)
	out, err = b.client.ReceiveMessage(ctxFor(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 2})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage: %v, %d messages", err, len(out.Messages))
	}
	m = out.Messages[0]
	if len(m.Attributes) != 0 {
		t.Errorf("Attributes = %v unasked, want none", m.Attributes)
	}
	if len(m.MessageAttributes) != 0 && !b.quirk(t, quirkAttributesUnasked, fmt.Sprintf("%d attributes", len(m.MessageAttributes))) {
		t.Errorf("MessageAttributes = %v unasked, want none", m.MessageAttributes)
	}
}

func testVisibilityExpiry(t *testing.T, b *backend) {
	url, _ := b.pair(t, false, vis, 5)
	sent := send(t, b, url, "m")
	first := receiveOne(t, b, url)
	h1 := aws.ToString(first.ReceiptHandle)
	receiveNone(t, b, url, "in flight")
	wantCounts(t, b, url, 0, 1, 0)

	time.Sleep(vis + margin)
	second := receiveOne(t, b, url)
	h2 := aws.ToString(second.ReceiptHandle)
	if aws.ToString(second.MessageId) != aws.ToString(sent.MessageId) || h2 == h1 || second.Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("redelivery: id %s handle-changed %t count %s, want the same message, a new handle, count 2",
			aws.ToString(second.MessageId), h2 != h1, second.Attributes["ApproximateReceiveCount"])
	}

	// The first handle no longer owns the message.
	_, err := b.client.ChangeMessageVisibility(ctxFor(t), &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(url), ReceiptHandle: aws.String(h1), VisibilityTimeout: 10})
	wantLost(t, trimPrefix(errorCode(err)))
	wantCode(t, b, err, "InvalidParameterValue", quirkStaleVisibility)
	batch, err := b.client.ChangeMessageVisibilityBatch(ctxFor(t), &sqs.ChangeMessageVisibilityBatchInput{
		QueueUrl: aws.String(url), Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
			{Id: aws.String("stale"), ReceiptHandle: aws.String(h1), VisibilityTimeout: 10}}})
	if err != nil || len(batch.Failed) != 1 || len(batch.Successful) != 0 {
		t.Fatalf("ChangeMessageVisibilityBatch(stale): %v, %+v", err, batch)
	}
	code := aws.ToString(batch.Failed[0].Code)
	wantLost(t, code)
	if code != "InvalidParameterValue" && !b.quirk(t, quirkStaleVisibility, "batch entry code "+code) {
		t.Errorf("batch entry code = %s, want InvalidParameterValue", code)
	}
	if !batch.Failed[0].SenderFault {
		t.Errorf("SenderFault = false for a stale handle")
	}

	// Deleting with the stale handle succeeds but leaves the message to its new owner.
	deleteMessage(t, b, url, h1)
	wantCounts(t, b, url, 0, 1, 0)
	deleteMessage(t, b, url, h2)
	wantCounts(t, b, url, 0, 0, 0)

	// The handle of a deleted message: visibility changes fail, deletes succeed.
	_, err = b.client.ChangeMessageVisibility(ctxFor(t), &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(url), ReceiptHandle: aws.String(h2), VisibilityTimeout: 10})
	wantLost(t, trimPrefix(errorCode(err)))
	wantCode(t, b, err, "InvalidParameterValue", quirkStaleVisibility)
	deleteMessage(t, b, url, h2)
}

func trimPrefix(code string) string { return strings.TrimPrefix(code, "AWS.SimpleQueueService.") }

func testMalformedHandle(t *testing.T, b *backend) {
	url, _ := b.pair(t, false, vis, 5)
	send(t, b, url, "m")
	receiveOne(t, b, url)
	const bogus = "not-a-receipt-handle"
	_, err := b.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(bogus)})
	wantCode(t, b, err, "ReceiptHandleIsInvalid", quirkMalformedHandle)
	var invalid *types.ReceiptHandleIsInvalid
	if err != nil && !errors.As(err, &invalid) && !b.quirk(t, quirkMalformedHandle, fmt.Sprintf("%T", err)) {
		t.Errorf("DeleteMessage(bogus) error %T, want *types.ReceiptHandleIsInvalid", err)
	}
	_, err = b.client.ChangeMessageVisibility(ctxFor(t), &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(url), ReceiptHandle: aws.String(bogus), VisibilityTimeout: 0})
	wantCode(t, b, err, "ReceiptHandleIsInvalid", quirkMalformedHandle)
	wantCounts(t, b, url, 0, 1, 0)
}

func testChangeVisibility(t *testing.T, b *backend) {
	url, _ := b.pair(t, false, vis, 5)
	send(t, b, url, "one")
	send(t, b, url, "two")
	msgs := receive(t, b, url, 10, 1)
	for len(msgs) < 2 { // a long poll may return early with fewer
		more := receive(t, b, url, 10, 1)
		if len(more) == 0 {
			t.Fatalf("received %d messages, want 2", len(msgs))
		}
		msgs = append(msgs, more...)
	}
	byBody := map[string]types.Message{}
	for _, m := range msgs {
		byBody[aws.ToString(m.Body)] = m
	}

	// 0: visible at once, with a new handle and count.
	setVisibility(t, b, url, aws.ToString(byBody["one"].ReceiptHandle), 0)
	again := receiveOne(t, b, url)
	if aws.ToString(again.Body) != "one" || again.Attributes["ApproximateReceiveCount"] != "2" ||
		aws.ToString(again.ReceiptHandle) == aws.ToString(byBody["one"].ReceiptHandle) {
		t.Errorf("after visibility 0: body %s count %s, want one, 2, new handle", aws.ToString(again.Body), again.Attributes["ApproximateReceiveCount"])
	}
	deleteMessage(t, b, url, aws.ToString(again.ReceiptHandle))

	// Extend: still invisible after the original timeout, visible after the new one.
	setVisibility(t, b, url, aws.ToString(byBody["two"].ReceiptHandle), 4)
	start := time.Now()
	time.Sleep(vis + margin)
	receiveNone(t, b, url, "visibility extended to 4 s")
	time.Sleep(4*time.Second + margin - time.Since(start))
	if m := receiveOne(t, b, url); aws.ToString(m.Body) != "two" {
		t.Errorf("after the extension: got %s, want two", aws.ToString(m.Body))
	}

	_, err := b.client.ChangeMessageVisibility(ctxFor(t), &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(url), ReceiptHandle: aws.String(aws.ToString(byBody["two"].ReceiptHandle)), VisibilityTimeout: 43201})
	wantCode(t, b, err, "InvalidParameterValue", "")
}

func testDelay(t *testing.T, b *backend) {
	url, _ := b.pair(t, false, vis, 5)
	start := time.Now()
	send(t, b, url, "later", func(in *sqs.SendMessageInput) { in.DelaySeconds = 2 })
	wantCounts(t, b, url, 0, 0, 1)
	receiveNone(t, b, url, "delayed")
	msgs := receive(t, b, url, 1, 5) // the long poll wakes when the delay ends
	elapsed := time.Since(start)
	if len(msgs) != 1 || elapsed < 2*time.Second-100*time.Millisecond || elapsed > 4*time.Second {
		t.Errorf("long poll over a 2 s delay: %d messages after %v, want 1 after about 2 s", len(msgs), elapsed)
	}

	_, err := b.client.SendMessage(ctxFor(t), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), DelaySeconds: 901})
	if err == nil {
		if !b.quirk(t, quirkDelayRange, "DelaySeconds 901 accepted") {
			t.Errorf("DelaySeconds 901 accepted")
		}
	} else {
		wantCode(t, b, err, "InvalidParameterValue", "")
	}
}

func testLongPoll(t *testing.T, b *backend) {
	url, _ := b.pair(t, false, vis, 5)

	// Wakes on send.
	type result struct {
		msgs    []types.Message
		elapsed time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		out, err := b.client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 10})
		if err != nil {
			t.Errorf("long poll: %v", err)
		}
		var msgs []types.Message
		if out != nil {
			msgs = out.Messages
		}
		done <- result{msgs, time.Since(start)}
	}()
	time.Sleep(time.Second)
	send(t, b, url, "wake")
	r := <-done
	if len(r.msgs) != 1 || aws.ToString(r.msgs[0].Body) != "wake" || r.elapsed < time.Second || r.elapsed > 5*time.Second {
		t.Errorf("long poll: %d messages after %v, want the one sent after 1 s", len(r.msgs), r.elapsed)
	}

	// Returns empty after the wait.
	start = time.Now()
	if msgs := receive(t, b, url, 10, 1); len(msgs) != 0 {
		t.Errorf("long poll on an empty queue returned %d messages", len(msgs))
	}
	if e := time.Since(start); e < 900*time.Millisecond || e > 5*time.Second {
		t.Errorf("long poll of 1 s on an empty queue returned after %v", e)
	}

	// Ends with the context.
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(500*time.Millisecond, cancel)
	start = time.Now()
	_, err := b.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 10})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled long poll: %v after %v, want context.Canceled after about 0.5 s", err, time.Since(start))
	}
}

func testBatchPartialFailure(t *testing.T, b *backend) {
	url, _ := b.pair(t, false, vis, 5)
	ctx := ctxFor(t)
	out, err := b.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("A")},
		{Id: aws.String("bad"), MessageBody: aws.String("control \u0001 character")},
		{Id: aws.String("b"), MessageBody: aws.String("B")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Successful) != 2 || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Id) != "bad" ||
		aws.ToString(out.Failed[0].Code) != "InvalidMessageContents" || !out.Failed[0].SenderFault {
		t.Fatalf("SendMessageBatch: %d successful, failed %+v; want a, b successful and bad InvalidMessageContents", len(out.Successful), out.Failed)
	}
	for _, s := range out.Successful {
		want := map[string]string{"a": "A", "b": "B"}[aws.ToString(s.Id)]
		if aws.ToString(s.MD5OfMessageBody) != md5Of(want) || aws.ToString(s.MessageId) == "" {
			t.Errorf("entry %s: %+v", aws.ToString(s.Id), s)
		}
	}

	var handles []string
	for len(handles) < 2 {
		msgs := receive(t, b, url, 10, 2)
		if len(msgs) == 0 {
			t.Fatalf("received %d of 2 messages", len(handles))
		}
		for _, m := range msgs {
			handles = append(handles, aws.ToString(m.ReceiptHandle))
		}
	}

	cv, err := b.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url),
		Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
			{Id: aws.String("0"), ReceiptHandle: aws.String(handles[0]), VisibilityTimeout: 30},
			{Id: aws.String("x"), ReceiptHandle: aws.String("bogus"), VisibilityTimeout: 30},
			{Id: aws.String("1"), ReceiptHandle: aws.String(handles[1]), VisibilityTimeout: 30},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cv.Successful) != 2 || len(cv.Failed) != 1 || aws.ToString(cv.Failed[0].Id) != "x" ||
		aws.ToString(cv.Failed[0].Code) != "ReceiptHandleIsInvalid" || !cv.Failed[0].SenderFault {
		t.Errorf("ChangeMessageVisibilityBatch: %d successful, failed %+v; want x ReceiptHandleIsInvalid", len(cv.Successful), cv.Failed)
	}

	del, err := b.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url),
		Entries: []types.DeleteMessageBatchRequestEntry{
			{Id: aws.String("0"), ReceiptHandle: aws.String(handles[0])},
			{Id: aws.String("x"), ReceiptHandle: aws.String("bogus")},
			{Id: aws.String("1"), ReceiptHandle: aws.String(handles[1])},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(del.Failed) == 0 && b.quirk(t, quirkMalformedHandle, fmt.Sprintf("%d successful", len(del.Successful))) {
	} else if len(del.Successful) != 2 || len(del.Failed) != 1 || aws.ToString(del.Failed[0].Id) != "x" ||
		aws.ToString(del.Failed[0].Code) != "ReceiptHandleIsInvalid" || !del.Failed[0].SenderFault {
		t.Errorf("DeleteMessageBatch: %d successful, failed %+v; want x ReceiptHandleIsInvalid", len(del.Successful), del.Failed)
	}
	wantCounts(t, b, url, 0, 0, 0)
}

func testBatchRequestErrors(t *testing.T, b *backend) {
	url, _ := b.pair(t, false, vis, 5)
	ctx := ctxFor(t)
	entries := func(ids ...string) []types.SendMessageBatchRequestEntry {
		var es []types.SendMessageBatchRequestEntry
		for _, id := range ids {
			es = append(es, types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String("m")})
		}
		return es
	}
	eleven := entries("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10")
	big := strings.Repeat("x", 600<<10)
	for _, tc := range []struct {
		name    string
		entries []types.SendMessageBatchRequestEntry
		want    string
	}{
		{"empty", []types.SendMessageBatchRequestEntry{}, "AWS.SimpleQueueService.EmptyBatchRequest"},
		{"eleven", eleven, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"},
		{"duplicate ids", entries("a", "b", "a"), "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
		{"invalid id", entries("a b"), "AWS.SimpleQueueService.InvalidBatchEntryId"},
		{"too long", []types.SendMessageBatchRequestEntry{
			{Id: aws.String("a"), MessageBody: aws.String(big)}, {Id: aws.String("b"), MessageBody: aws.String(big)}},
			"AWS.SimpleQueueService.BatchRequestTooLong"},
	} {
		_, err := b.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: tc.entries})
		if got := errorCode(err); got != tc.want {
			t.Errorf("SendMessageBatch(%s): code %s (%v), want %s", tc.name, got, err, tc.want)
		}
	}
	_, err := b.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.DeleteMessageBatchRequestEntry{}})
	if got := errorCode(err); got != "AWS.SimpleQueueService.EmptyBatchRequest" {
		t.Errorf("DeleteMessageBatch(empty): code %s, want EmptyBatchRequest", got)
	}
	wantCounts(t, b, url, 0, 0, 0)
}

func testRedrive(t *testing.T, b *backend) {
	url, dlq := b.pair(t, false, vis, 2)
	sent := send(t, b, url, "poison")
	for i := 1; i <= 2; i++ {
		m := receiveOne(t, b, url)
		if got := m.Attributes["ApproximateReceiveCount"]; got != strconv.Itoa(i) {
			t.Errorf("receive %d: ApproximateReceiveCount %s", i, got)
		}
		setVisibility(t, b, url, aws.ToString(m.ReceiptHandle), 0)
	}
	receiveNone(t, b, url, "the third receive moves it to the DLQ")
	wantCounts(t, b, url, 0, 0, 0)

	m := receiveOne(t, b, dlq)
	if aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) || aws.ToString(m.Body) != "poison" {
		t.Errorf("DLQ message %s %q, want %s poison", aws.ToString(m.MessageId), aws.ToString(m.Body), aws.ToString(sent.MessageId))
	}
	// Real SQS keeps counting receives across the move (not reset): 2 before, 3 now.
	if got := m.Attributes["ApproximateReceiveCount"]; got != "3" && !b.quirk(t, quirkDLQReceiveCount, "ApproximateReceiveCount "+got) {
		t.Errorf("DLQ ApproximateReceiveCount = %s, want 3", got)
	}
	mainARN := queueAttr(t, b.client, url, "QueueArn")
	if got := m.Attributes["DeadLetterQueueSourceArn"]; got != mainARN && !b.quirk(t, quirkDLQSourceArn, fmt.Sprintf("%q", got)) {
		t.Errorf("DeadLetterQueueSourceArn = %q, want %s", got, mainARN)
	}
}

func testFIFOGroupLocking(t *testing.T, b *backend) {
	url, _ := b.pair(t, true, vis, 5)
	send(t, b, url, "A1", group("A", "a1"))
	send(t, b, url, "A2", group("A", "a2"))
	send(t, b, url, "B1", group("B", "b1"))

	a1 := receive(t, b, url, 1, 0)
	if len(a1) != 1 || aws.ToString(a1[0].Body) != "A1" || a1[0].Attributes["MessageGroupId"] != "A" ||
		a1[0].Attributes["SequenceNumber"] == "" {
		t.Fatalf("first FIFO receive: %s %v, want A1 of group A", bodies(a1), a1)
	}
	// Group A is locked while A1 is in flight: only B1 is available.
	if got := bodies(receive(t, b, url, 10, 0)); got != "B1" {
		t.Fatalf("receive while A1 in flight: %q, want B1 only", got)
	}
	receiveNone(t, b, url, "both groups locked")
	deleteMessage(t, b, url, aws.ToString(a1[0].ReceiptHandle))
	a2 := receive(t, b, url, 10, 0)
	if bodies(a2) != "A2" {
		t.Fatalf("after deleting A1: %q, want A2", bodies(a2))
	}
	// Back to visible: first in its group again, received again.
	setVisibility(t, b, url, aws.ToString(a2[0].ReceiptHandle), 0)
	if again := receive(t, b, url, 10, 0); bodies(again) != "A2" || again[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after releasing A2: %q, want A2 with count 2", bodies(again))
	}

	// A receive returns several messages of one group, in order.
	send(t, b, url, "C1", group("C", "c1"))
	send(t, b, url, "C2", group("C", "c2"))
	send(t, b, url, "C3", group("C", "c3"))
	c := receive(t, b, url, 10, 0)
	if got := bodies(c); got != "C1,C2,C3" && !(got == "C1" && b.quirk(t, quirkFifoOnePerGroup, got)) {
		t.Errorf("receive of group C: %q, want C1,C2,C3", got)
	}
}

func testFIFODedup(t *testing.T, b *backend) {
	url, _ := b.pair(t, true, vis, 5)
	first := send(t, b, url, "once", group("g", "same-id"))
	second := send(t, b, url, "once again", group("g", "same-id"))
	if aws.ToString(first.MessageId) != aws.ToString(second.MessageId) || aws.ToString(first.SequenceNumber) == "" {
		t.Errorf("duplicate send: ids %s and %s, want the same", aws.ToString(first.MessageId), aws.ToString(second.MessageId))
	}
	wantCounts(t, b, url, 1, 0, 0)
	if m := receiveOne(t, b, url); aws.ToString(m.Body) != "once" || m.Attributes["MessageDeduplicationId"] != "same-id" {
		t.Errorf("received %q (dedup %q), want once (same-id)", aws.ToString(m.Body), m.Attributes["MessageDeduplicationId"])
	}

	ctx := ctxFor(t)
	_, err := b.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("d")})
	wantCode(t, b, err, "MissingParameter", "")
	_, err = b.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"),
		MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d2"), DelaySeconds: 5})
	wantCode(t, b, err, "InvalidParameterValue", "")
	_, err = b.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageGroupId: aws.String("g")})
	wantCode(t, b, err, "InvalidParameterValue", "")
}

func testFIFOExpiredHandle(t *testing.T, b *backend) {
	url, _ := b.pair(t, true, vis, 5)
	send(t, b, url, "F", group("g", "f"))
	m := receiveOne(t, b, url)
	time.Sleep(vis + margin)
	_, err := b.client.DeleteMessage(ctxFor(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
	if err == nil && b.quirk(t, quirkFifoExpiredDelete, "DeleteMessage succeeded") {
		return
	}
	wantCode(t, b, err, "InvalidParameterValue", "")
	if again := receiveOne(t, b, url); aws.ToString(again.Body) != "F" {
		t.Errorf("after the failed delete: %q, want F again", aws.ToString(again.Body))
	}
}

func testValidation(t *testing.T, b *backend) {
	url, _ := b.pair(t, false, vis, 5)
	ctx := ctxFor(t)
	_, err := b.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 11})
	wantCode(t, b, err, "InvalidParameterValue", "")
	_, err = b.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 21})
	wantCode(t, b, err, "InvalidParameterValue", "")

	sendErr := func(body string, opt ...func(*sqs.SendMessageInput)) error {
		in := &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}
		for _, o := range opt {
			o(in)
		}
		_, err := b.client.SendMessage(ctx, in)
		return err
	}
	wantCode(t, b, sendErr("bell \a"), "InvalidMessageContents", "")
	if err := sendErr("rocket \U0001F680"); err != nil && !b.quirk(t, quirkSupplementaryChars, errorCode(err)) {
		t.Errorf("SendMessage(emoji): %v, want success", err)
	}
	wantCode(t, b, sendErr(strings.Repeat("x", 1<<20+1)), "InvalidParameterValue", "")
	if err := sendErr(strings.Repeat("x", 1<<20)); err != nil {
		t.Errorf("SendMessage of exactly 1 MiB: %v", err)
	}
	eleven := map[string]types.MessageAttributeValue{}
	for i := range 11 {
		eleven[fmt.Sprintf("a%d", i)] = str("v")
	}
	err = sendErr("m", func(in *sqs.SendMessageInput) { in.MessageAttributes = eleven })
	if err == nil {
		if !b.quirk(t, quirkAttributeLimit, "11 attributes accepted") {
			t.Errorf("11 message attributes accepted")
		}
	} else {
		wantCode(t, b, err, "InvalidParameterValue", "")
	}

	_, err = b.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("no-such-queue-" + strconv.FormatInt(time.Now().UnixNano(), 36))})
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) || errorCode(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("GetQueueUrl(missing): %T %v, want *types.QueueDoesNotExist AWS.SimpleQueueService.NonExistentQueue", err, err)
	}
	_, err = b.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url + "-missing")})
	if !errors.As(err, &missing) {
		t.Errorf("ReceiveMessage(missing queue): %v, want QueueDoesNotExist", err)
	}
	var op *smithy.OperationError
	if !errors.As(err, &op) || op.Service() != "SQS" || op.Operation() != "ReceiveMessage" {
		t.Errorf("error %v is not an SQS ReceiveMessage *smithy.OperationError", err)
	}
}

func testQueueAttributes(t *testing.T, b *backend) {
	for _, fifo := range []bool{false, true} {
		url, dlq := b.pair(t, fifo, vis, 3)
		out, err := b.client.GetQueueAttributes(ctxFor(t), &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		a := out.Attributes
		dlqARN := queueAttr(t, b.client, dlq, "QueueArn")
		var policy struct {
			DeadLetterTargetArn string
			MaxReceiveCount     json.Number
		}
		if err := json.Unmarshal([]byte(a["RedrivePolicy"]), &policy); err != nil {
			t.Errorf("RedrivePolicy %q: %v", a["RedrivePolicy"], err)
		}
		if a["VisibilityTimeout"] != "2" || a["MaximumMessageSize"] != "1048576" || !strings.HasPrefix(a["QueueArn"], "arn:aws:sqs:") ||
			policy.DeadLetterTargetArn != dlqARN || policy.MaxReceiveCount.String() != "3" ||
			a["ApproximateNumberOfMessages"] != "0" || a["ApproximateNumberOfMessagesNotVisible"] != "0" ||
			a["ApproximateNumberOfMessagesDelayed"] != "0" {
			t.Errorf("fifo=%t: attributes %v", fifo, a)
		}
		if got, want := a["FifoQueue"], map[bool]string{true: "true"}[fifo]; got != want {
			t.Errorf("fifo=%t: FifoQueue = %q, want %q", fifo, got, want)
		}
		name := url[strings.LastIndex(url, "/")+1:]
		if !strings.HasSuffix(a["QueueArn"], ":"+name) {
			t.Errorf("QueueArn %s does not end in the queue name %s", a["QueueArn"], name)
		}
		got, err := b.client.GetQueueUrl(ctxFor(t), &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		if err != nil || aws.ToString(got.QueueUrl) != url {
			t.Errorf("GetQueueUrl(%s) = %v, %v; want %s", name, got, err, url)
		}
	}
}
