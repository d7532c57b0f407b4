package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/queues"
)

// SQS limits the filler respects.
const (
	maxBatchEntries = 10        // SendMessageBatch entries, SQS limit
	maxBatchBytes   = 256 << 10 // SendMessageBatch payload, SQS limit for queues of 256 KiB messages
	fillers         = 8         // concurrent SendMessageBatch calls
	benchAppID      = "app"     // the one app of every envelope
	benchTimeoutSQS = 30 * time.Second
)

// benchQueue is a fresh queue pair for one run.
type benchQueue struct {
	spec    queues.Spec
	mainURL string
	dlqURL  string
}

// createQueue makes a fresh queue pair with queues.Ensure, so the redrive
// policy and the other attributes are production's (visibility aside).
func createQueue(ctx context.Context, client *sqs.Client, name string, visibility time.Duration) (*benchQueue, error) {
	spec := queues.Spec{Name: name, VisibilityTimeout: visibility, DisableSSE: true}
	res, err := queues.Ensure(ctx, client, spec)
	if err != nil {
		return nil, err
	}
	return &benchQueue{spec: spec.WithDefaults(), mainURL: res.Main.URL, dlqURL: res.DeadLetter.URL}, nil
}

// envelopeBody is message n of the bench: an envelope of perMessage
// client_event events for benchAppID.
func envelopeBody(n, perMessage int, nowMS int64) string {
	const ev = `{"name":"client_event","channel":"private-room","event":"client-typing","data":"{\"user\":\"alice\"}","socket_id":"123.456","time_ms":`
	b := make([]byte, 0, 64+perMessage*(len(ev)+16))
	b = append(b, `{"v":1,"id":"bench-`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `","app_id":"`+benchAppID+`","events":[`...)
	for i := range perMessage {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ev...)
		b = strconv.AppendInt(b, nowMS, 10)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	return string(b)
}

// fill sends messages envelopes of perMessage events to queueURL with
// SendMessageBatch, fillers calls at a time; every failed entry is an
// error. Batches are built as they are sent, so a large backlog is never
// held in memory at once.
func fill(ctx context.Context, client *sqs.Client, queueURL string, messages, perMessage int) error {
	nowMS := time.Now().UnixMilli()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan []types.SendMessageBatchRequestEntry)
	var wg sync.WaitGroup
	for range fillers {
		wg.Go(func() {
			for entries := range work {
				if err := sendBatch(ctx, client, queueURL, entries); err != nil {
					cancel(err)
				}
			}
		})
	}
	send := func(entries []types.SendMessageBatchRequestEntry) bool {
		select {
		case work <- entries:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var cur []types.SendMessageBatchRequestEntry
	size := 0
	for n := 0; n < messages && ctx.Err() == nil; n++ {
		body := envelopeBody(n, perMessage, nowMS)
		if len(cur) == maxBatchEntries || (len(cur) > 0 && size+len(body) > maxBatchBytes) {
			if !send(cur) {
				break
			}
			cur, size = nil, 0
		}
		cur = append(cur, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(len(cur))), MessageBody: aws.String(body)})
		size += len(body)
	}
	if len(cur) > 0 && ctx.Err() == nil {
		send(cur)
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	return nil
}

func sendBatch(ctx context.Context, client *sqs.Client, queueURL string, entries []types.SendMessageBatchRequestEntry) error {
	ctx, cancel := context.WithTimeout(ctx, benchTimeoutSQS)
	defer cancel()
	out, err := client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
	if err != nil {
		return fmt.Errorf("send message batch: %w", err)
	}
	if len(out.Failed) > 0 {
		f := out.Failed[0]
		return fmt.Errorf("send message batch: %d of %d entries failed, e.g. %s: %s", len(out.Failed), len(entries), aws.ToString(f.Code), aws.ToString(f.Message))
	}
	return nil
}

// depth is the number of messages in a queue: visible + in flight + delayed.
func depth(ctx context.Context, client *sqs.Client, queueURL string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, benchTimeoutSQS)
	defer cancel()
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return 0, fmt.Errorf("queue depth: %w", err)
	}
	total := 0
	for _, v := range out.Attributes {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("queue depth: attribute %q: %w", v, err)
		}
		total += n
	}
	return total, nil
}

// deleteQueues removes a run's queue pair, so the emulator does not keep
// every run's queues in memory.
func deleteQueues(ctx context.Context, client *sqs.Client, q *benchQueue) error {
	for _, u := range []string{q.mainURL, q.dlqURL} {
		cctx, cancel := context.WithTimeout(ctx, benchTimeoutSQS)
		_, err := client.DeleteQueue(cctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
		cancel()
		if err != nil {
			return fmt.Errorf("delete queue %s: %w", u, err)
		}
	}
	return nil
}
