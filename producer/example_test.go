package producer_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/producer"
)

func ExampleProducer() {
	// In production client is an *sqs.Client; here an in-memory fake
	// stands in for SQS.
	client := &memorySQS{}
	ctx := context.Background()

	n := 0
	p, err := producer.New(ctx, client, producer.Options{
		QueueURL:   "https://sqs.us-east-1.amazonaws.com/123456789012/hookline-webhooks",
		FairQueues: true,
		NewID:      func() string { n++; return "env-" + strconv.Itoa(n) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// Publish blocks until SQS accepted the events; events of one app
	// published together travel in one envelope.
	err = p.Publish(ctx, "app-1",
		payload.Event{Name: payload.EventChannelOccupied, Channel: "presence-chat", TimeMS: 1678886400000},
		payload.Event{Name: payload.EventMemberAdded, Channel: "presence-chat", UserID: "u1", TimeMS: 1678886400100},
	)
	fmt.Println("publish:", err)

	// Close flushes what is still buffered; later publishes fail.
	fmt.Println("close:", p.Close(ctx))
	fmt.Println("after close:", p.Publish(ctx, "app-1", payload.Event{Name: payload.EventChannelVacated}))

	for _, m := range client.sent() {
		fmt.Println(aws.ToString(m.MessageGroupId), aws.ToString(m.MessageBody))
	}
	// Output:
	// publish: <nil>
	// close: <nil>
	// after close: producer: closed
	// app-1 {"v":1,"id":"env-1","app_id":"app-1","events":[{"name":"channel_occupied","channel":"presence-chat","time_ms":1678886400000},{"name":"member_added","channel":"presence-chat","user_id":"u1","time_ms":1678886400100}]}
}

// memorySQS is an in-memory SQS queue that accepts every message.
type memorySQS struct {
	// MaximumMessageSize is the queue's limit; 0 means 262144.
	MaximumMessageSize int

	mu       sync.Mutex
	messages []types.SendMessageBatchRequestEntry
	calls    []int // entries per SendMessageBatch call
	bytes    []int // body bytes per call
}

func (f *memorySQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &sqs.SendMessageBatchOutput{}
	size := 0
	for i, e := range in.Entries {
		f.messages = append(f.messages, e)
		size += len(aws.ToString(e.MessageBody))
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{
			Id: e.Id, MessageId: aws.String(strconv.Itoa(len(f.messages))), MD5OfMessageBody: aws.String(strconv.Itoa(i)),
		})
	}
	f.calls = append(f.calls, len(in.Entries))
	f.bytes = append(f.bytes, size)
	return out, nil
}

func (f *memorySQS) GetQueueAttributes(_ context.Context, _ *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	size := f.MaximumMessageSize
	if size == 0 {
		size = 262144
	}
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{
		string(types.QueueAttributeNameMaximumMessageSize): strconv.Itoa(size),
	}}, nil
}

// sent returns the messages accepted so far.
func (f *memorySQS) sent() []types.SendMessageBatchRequestEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]types.SendMessageBatchRequestEntry(nil), f.messages...)
}
