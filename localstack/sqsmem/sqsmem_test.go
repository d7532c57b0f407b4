package sqsmem_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/hookline/hookline/localstack/sqsmem"
)

// These tests cover what only the fake has (faults, Calls, Peek, StaleDelete) and real-SQS
// behaviours the conformance suite cannot check against fauxqs in real time.

// fake is a Server, its client and one queue pair, for tests inside a bubble.
type fake struct {
	srv       *sqsmem.Server
	c         *sqsmem.Client
	main, dlq string
	ctx       context.Context
	t         *testing.T
}

func newFake(t *testing.T, fifo bool, maxReceiveCount int) *fake {
	srv := sqsmem.New()
	main, dlq := srv.CreatePair("q", fifo, 30*time.Second, maxReceiveCount)
	return &fake{srv: srv, c: srv.Client(), main: main, dlq: dlq, ctx: t.Context(), t: t}
}

func (f *fake) send(body string, opt ...func(*sqs.SendMessageInput)) string {
	f.t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: aws.String(f.main), MessageBody: aws.String(body)}
	for _, o := range opt {
		o(in)
	}
	out, err := f.c.SendMessage(f.ctx, in)
	if err != nil {
		f.t.Fatal(err)
	}
	return aws.ToString(out.MessageId)
}

func (f *fake) receive(url string, max int32) []types.Message {
	f.t.Helper()
	out, err := f.c.ReceiveMessage(f.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: max,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
	if err != nil {
		f.t.Fatal(err)
	}
	return out.Messages
}

func (f *fake) states(url string) []string {
	var s []string
	for _, m := range f.srv.Peek(url) {
		s = append(s, m.Body+":"+m.State.String())
	}
	return s
}

func TestFaultCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, false, 5)
		throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"}
		f.srv.SetFault(sqsmem.Fault{Call: func(op string) error {
			if op == "SendMessage" {
				return throttled
			}
			return nil
		}})
		_, err := f.c.SendMessage(f.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(f.main), MessageBody: aws.String("x")})
		var ae smithy.APIError
		var op *smithy.OperationError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" || !errors.As(err, &op) || op.Operation() != "SendMessage" {
			t.Fatalf("SendMessage under fault: %v", err)
		}
		if got := f.srv.Peek(f.main); len(got) != 0 {
			t.Errorf("a faulted call had an effect: %v", got)
		}
		if got := f.srv.Calls()["SendMessage"]; got != 1 {
			t.Errorf("Calls[SendMessage] = %d, want 1 (faulted calls count)", got)
		}
		f.srv.SetFault(sqsmem.Fault{})
		f.send("x")
	})
}

func TestFaultEntry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, false, 5)
		f.send("a")
		f.send("b")
		f.send("c")
		msgs := f.receive(f.main, 10)
		f.srv.SetFault(sqsmem.Fault{Entry: func(op, id string) string {
			switch {
			case op == "DeleteMessageBatch" && id == "1":
				return "InternalError"
			case op == "DeleteMessageBatch" && id == "2":
				return "ReceiptHandleIsInvalid"
			}
			return ""
		}})
		f.srv.ResetCalls()
		var entries []types.DeleteMessageBatchRequestEntry
		for i, m := range msgs {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		out, err := f.c.DeleteMessageBatch(f.ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(f.main), Entries: entries})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Successful) != 1 || len(out.Failed) != 2 {
			t.Fatalf("successful %d, failed %+v", len(out.Successful), out.Failed)
		}
		for _, fe := range out.Failed {
			wantSender := aws.ToString(fe.Id) == "2"
			if fe.SenderFault != wantSender {
				t.Errorf("entry %s %s: SenderFault %t, want %t", aws.ToString(fe.Id), aws.ToString(fe.Code), fe.SenderFault, wantSender)
			}
		}
		if got := f.states(f.main); fmt.Sprint(got) != "[b:in-flight c:in-flight]" {
			t.Errorf("after the partial delete: %v, want b and c still in flight", got)
		}
		if got := f.srv.Calls(); got["DeleteMessageBatch"] != 1 || len(got) != 1 {
			t.Errorf("Calls = %v, want one DeleteMessageBatch", got)
		}
	})
}

func TestPeekStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, false, 5)
		f.send("now")
		f.send("later", func(in *sqs.SendMessageInput) { in.DelaySeconds = 60 })
		f.receive(f.main, 1)
		f.send("visible")
		peek := f.srv.Peek(f.main)
		if got := f.states(f.main); fmt.Sprint(got) != "[now:in-flight later:delayed visible:visible]" {
			t.Fatalf("Peek states = %v", got)
		}
		if !peek[0].VisibleAt.Equal(time.Now().Add(30*time.Second)) || peek[0].ReceiveCount != 1 || peek[0].ReceiptHandle == "" {
			t.Errorf("in-flight message: %+v", peek[0])
		}
		if !peek[1].VisibleAt.Equal(time.Now().Add(60*time.Second)) || peek[2].ReceiptHandle != "" {
			t.Errorf("Peek = %+v", peek)
		}
		if f.srv.Peek("https://example.com/nope") != nil {
			t.Errorf("Peek of a missing queue is not nil")
		}
		time.Sleep(time.Minute)
		if got := f.states(f.main); fmt.Sprint(got) != "[now:visible later:visible visible:visible]" {
			t.Errorf("a minute later: %v", got)
		}
	})
}

func TestStaleDelete(t *testing.T) {
	for _, tc := range []struct {
		mode    sqsmem.StaleDelete
		wantErr bool
		left    int
	}{
		{sqsmem.StaleDeleteIgnored, false, 1},
		{sqsmem.StaleDeleteDeletes, false, 0},
		{sqsmem.StaleDeleteRejected, true, 1},
	} {
		t.Run(strconv.Itoa(int(tc.mode)), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake(t, false, 5)
				f.srv.SetStaleDelete(tc.mode)
				f.send("m")
				old := f.receive(f.main, 1)[0].ReceiptHandle
				time.Sleep(31 * time.Second)
				f.receive(f.main, 1)
				_, err := f.c.DeleteMessage(f.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(f.main), ReceiptHandle: old})
				if (err != nil) != tc.wantErr || (err != nil && errorCode(err) != "InvalidParameterValue") {
					t.Errorf("DeleteMessage(stale): %v, want error %t", err, tc.wantErr)
				}
				if got := len(f.srv.Peek(f.main)); got != tc.left {
					t.Errorf("%d messages left, want %d", got, tc.left)
				}
			})
		})
	}
}

func TestChangeVisibilityAfterExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, false, 5)
		f.send("m")
		h := f.receive(f.main, 1)[0].ReceiptHandle
		time.Sleep(31 * time.Second)
		// Expired, not received again: OK, no effect (real SQS).
		if _, err := f.c.ChangeMessageVisibility(f.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(f.main),
			ReceiptHandle: h, VisibilityTimeout: 60}); err != nil {
			t.Fatal(err)
		}
		if got := f.states(f.main); fmt.Sprint(got) != "[m:visible]" {
			t.Errorf("after a late visibility change: %v, want still visible", got)
		}
		// The latest handle still deletes a visible message of a standard queue.
		if _, err := f.c.DeleteMessage(f.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(f.main), ReceiptHandle: h}); err != nil {
			t.Fatal(err)
		}
		if got := f.srv.Peek(f.main); len(got) != 0 {
			t.Errorf("not deleted: %v", got)
		}
	})
}

func TestVisibilityLimit12h(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, false, 5)
		f.send("m")
		h := f.receive(f.main, 1)[0].ReceiptHandle
		change := func(secs int32) error {
			_, err := f.c.ChangeMessageVisibility(f.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(f.main),
				ReceiptHandle: h, VisibilityTimeout: secs})
			return err
		}
		if err := change(43200); err != nil { // 12 h from the receive: allowed
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		if err := change(43200); errorCode(err) != "InvalidParameterValue" { // 13 h in total
			t.Errorf("extension past 12 h: %v, want InvalidParameterValue", err)
		}
		if err := change(11 * 3600); err != nil {
			t.Errorf("extension to exactly 12 h: %v", err)
		}
	})
}

func TestFIFORedriveAndOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, true, 1)
		g := func(id string) func(*sqs.SendMessageInput) {
			return func(in *sqs.SendMessageInput) {
				in.MessageGroupId = aws.String("g")
				in.MessageDeduplicationId = aws.String(id)
			}
		}
		f.send("1", g("1"))
		f.send("2", g("2"))
		first := f.receive(f.main, 1)
		if bodies(first) != "1" {
			t.Fatalf("got %s", bodies(first))
		}
		time.Sleep(31 * time.Second)
		// 1 exceeds maxReceiveCount 1: dead-lettered; 2 and nothing else is delivered.
		if got := bodies(f.receive(f.main, 10)); got != "2" {
			t.Errorf("after redrive: %q, want 2", got)
		}
		dl := f.srv.Peek(f.dlq)
		if len(dl) != 1 || dl[0].Body != "1" || dl[0].GroupID != "g" || dl[0].DeadLetterSourceARN == "" || dl[0].SequenceNumber == "" {
			t.Errorf("DLQ = %+v", dl)
		}
	})
}

func TestLongPollEndsWithQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, false, 5)
		errc := make(chan error)
		go func() {
			_, err := f.c.ReceiveMessage(f.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.main), WaitTimeSeconds: 20})
			errc <- err
		}()
		synctest.Wait()
		if _, err := f.c.DeleteQueue(f.ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(f.main)}); err != nil {
			t.Fatal(err)
		}
		var missing *types.QueueDoesNotExist
		if err := <-errc; !errors.As(err, &missing) {
			t.Errorf("long poll on a deleted queue: %v", err)
		}
	})
}

func TestLongPollWakesOnVisibilityExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, false, 5)
		f.send("m")
		f.receive(f.main, 1) // in flight for 30 s
		time.Sleep(15 * time.Second)
		start := time.Now()
		out, err := f.c.ReceiveMessage(f.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.main), WaitTimeSeconds: 20,
			VisibilityTimeout: 5})
		if err != nil || len(out.Messages) != 1 || time.Since(start) != 15*time.Second {
			t.Fatalf("%v, %d messages after %v, want 1 after exactly 15 s", err, len(out.Messages), time.Since(start))
		}
		// The receive's VisibilityTimeout overrides the queue's.
		if got := f.srv.Peek(f.main)[0].VisibleAt; !got.Equal(time.Now().Add(5 * time.Second)) {
			t.Errorf("VisibleAt = %v, want now + 5 s", got)
		}
	})
}

func TestClientSideValidation(t *testing.T) {
	srv := sqsmem.New()
	c := srv.Client()
	_, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{MessageBody: aws.String("x")})
	var invalid smithy.InvalidParamsError
	if !errors.As(err, &invalid) {
		t.Errorf("SendMessage without QueueUrl: %T %v, want smithy.InvalidParamsError", err, err)
	}
	_, err = c.DeleteMessageBatch(context.Background(), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String("u")})
	if !errors.As(err, &invalid) {
		t.Errorf("DeleteMessageBatch without Entries: %v", err)
	}
	if got := srv.Calls(); len(got) != 0 {
		t.Errorf("client-side failures counted: %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ListQueues(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("call with a cancelled context: %v", err)
	}
}

func TestQueues(t *testing.T) {
	srv := sqsmem.New()
	c := srv.Client()
	ctx := context.Background()
	mk := func(name string, attrs map[string]string) error {
		_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
		return err
	}
	if err := mk("a", map[string]string{"VisibilityTimeout": "10"}); err != nil {
		t.Fatal(err)
	}
	if err := mk("a", map[string]string{"VisibilityTimeout": "10"}); err != nil {
		t.Errorf("idempotent create: %v", err)
	}
	var exists *types.QueueNameExists
	if err := mk("a", map[string]string{"VisibilityTimeout": "11"}); !errors.As(err, &exists) || errorCode(err) != "QueueAlreadyExists" {
		t.Errorf("conflicting create: %v", err)
	}
	for _, tc := range []struct {
		name  string
		attrs map[string]string
		code  string
	}{
		{"b.fifo", nil, "InvalidParameterValue"}, // needs FifoQueue=true
		{"b", map[string]string{"FifoQueue": "true"}, "InvalidParameterValue"},
		{"b", map[string]string{"VisibilityTimeout": "43201"}, "InvalidAttributeValue"},
		{"b", map[string]string{"ContentBasedDeduplication": "true"}, "InvalidAttributeName"},
		{"b", map[string]string{"Bogus": "1"}, "InvalidAttributeName"},
		{"b", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:nope","maxReceiveCount":3}`}, "InvalidParameterValue"},
		{"has space", nil, "InvalidParameterValue"},
	} {
		if err := mk(tc.name, tc.attrs); errorCode(err) != tc.code {
			t.Errorf("CreateQueue(%q, %v): %v, want %s", tc.name, tc.attrs, err, tc.code)
		}
	}
	if err := mk("b.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListQueues(ctx, &sqs.ListQueuesInput{MaxResults: aws.Int32(1)})
	if err != nil || len(out.QueueUrls) != 1 || out.NextToken == nil {
		t.Fatalf("ListQueues page 1: %v %+v", err, out)
	}
	out, err = c.ListQueues(ctx, &sqs.ListQueuesInput{MaxResults: aws.Int32(1), NextToken: out.NextToken})
	if err != nil || len(out.QueueUrls) != 1 || !strings.HasSuffix(out.QueueUrls[0], "/b.fifo") {
		t.Errorf("ListQueues page 2: %v %+v", err, out)
	}
	url := "https://sqs.us-east-1.amazonaws.com/000000000000/a"
	if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); errorCode(err) != "AWS.SimpleQueueService.PurgeQueueInProgress" {
		t.Errorf("second purge: %v", err)
	}
}

func TestContentBasedDedup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := sqsmem.New()
		c := srv.Client()
		out, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("d.fifo"),
			Attributes: map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"}})
		if err != nil {
			t.Fatal(err)
		}
		send := func() string {
			r, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("same"),
				MessageGroupId: aws.String("g")})
			if err != nil {
				t.Fatal(err)
			}
			return aws.ToString(r.MessageId)
		}
		a, b := send(), send()
		time.Sleep(5 * time.Minute)
		c2 := send()
		if a != b || c2 == a || len(srv.Peek(aws.ToString(out.QueueUrl))) != 2 {
			t.Errorf("ids %s %s %s: want the first two equal, the third (after 5 min) new", a, b, c2)
		}
	})
}

// TestConcurrent hammers one queue from many goroutines outside any bubble (run with -race):
// every message is delivered and deleted exactly once.
func TestConcurrent(t *testing.T) {
	srv := sqsmem.New()
	c := srv.Client()
	url, _ := srv.CreatePair("c", false, 30*time.Second, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const producers, perProducer, consumers = 4, 50, 4
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url),
					MessageBody: aws.String(fmt.Sprintf("%d-%d", p, i))}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var mu sync.Mutex
	seen := map[string]int{}
	done := make(chan struct{})
	var consumersWG sync.WaitGroup
	for range consumers {
		consumersWG.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					t.Error(err)
					return
				}
				var entries []types.DeleteMessageBatchRequestEntry
				for i, m := range out.Messages {
					mu.Lock()
					seen[aws.ToString(m.Body)]++
					mu.Unlock()
					entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
				}
				if len(entries) > 0 {
					if _, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == producers*perProducer || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(done)
	consumersWG.Wait()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", k, n)
		}
	}
	if len(seen) != producers*perProducer || len(srv.Peek(url)) != 0 {
		t.Errorf("delivered %d of %d; %d left", len(seen), producers*perProducer, len(srv.Peek(url)))
	}
}

// TestManyMessages drains a queue in send order (compaction keeps order) and purges one.
func TestManyMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, false, 0)
		for i := range 200 {
			f.send(strconv.Itoa(i))
		}
		next := 0
		for next < 150 {
			msgs := f.receive(f.main, 10)
			var entries []types.DeleteMessageBatchRequestEntry
			for i, m := range msgs {
				if aws.ToString(m.Body) != strconv.Itoa(next) {
					t.Fatalf("got %s, want %d", aws.ToString(m.Body), next)
				}
				next++
				entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
			}
			if _, err := f.c.DeleteMessageBatch(f.ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(f.main), Entries: entries}); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.srv.Peek(f.main); len(got) != 50 || got[0].Body != "150" {
			t.Fatalf("%d left (first %+v), want 50 from 150", len(got), got[0])
		}
		if _, err := f.c.PurgeQueue(f.ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(f.main)}); err != nil {
			t.Fatal(err)
		}
		if got := f.srv.Peek(f.main); len(got) != 0 {
			t.Errorf("%d left after purge", len(got))
		}
		f.send("after")
		if got := f.states(f.main); fmt.Sprint(got) != "[after:visible]" {
			t.Errorf("after purge and send: %v", got)
		}
	})
}

// TestServerCreatedOutsideBubble: long-poll channels and timers belong to the poller, so a
// Server made outside a bubble works inside one.
func TestServerCreatedOutsideBubble(t *testing.T) {
	srv := sqsmem.New()
	url, _ := srv.CreatePair("outside", false, 30*time.Second, 0)
	synctest.Test(t, func(t *testing.T) {
		c := srv.Client()
		go func() {
			time.Sleep(3 * time.Second)
			_, _ = c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")})
		}()
		start := time.Now()
		out, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 20})
		if err != nil || len(out.Messages) != 1 || time.Since(start) != 3*time.Second {
			t.Fatalf("%v, %d messages after %v", err, len(out.Messages), time.Since(start))
		}
	})
}
