package worker

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS is the part of *sqs.Client the worker calls.
type SQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var _ SQS = (*sqs.Client)(nil)

// Error codes the worker branches on, classified once here.
const (
	codeReceiptHandleInvalid = "ReceiptHandleIsInvalid"
	codeInvalidParameter     = "InvalidParameterValue" // SQS's answer to a handle whose message was deleted
	codeMessageNotInflight   = "MessageNotInflight"
)

// lostHandle reports whether an SQS error code means the receipt handle no
// longer owns the message.
func lostHandle(code string) bool {
	switch code {
	case codeReceiptHandleInvalid, codeInvalidParameter, codeMessageNotInflight,
		"AWS.SimpleQueueService." + codeReceiptHandleInvalid, "AWS.SimpleQueueService." + codeMessageNotInflight:
		return true
	}
	return false
}

// call runs one non-polling SQS call under the call timeout.
func (w *Worker) call(ctx context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, w.opts.SQSCallTimeout)
	defer cancel()
	return f(ctx)
}

func (w *Worker) queueVisibility(ctx context.Context) (time.Duration, error) {
	var out *sqs.GetQueueAttributesOutput
	err := w.call(ctx, func(ctx context.Context) (err error) {
		out, err = w.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(w.opts.QueueURL),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout},
		})
		return err
	})
	if err != nil {
		return 0, err
	}
	secs, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)])
	return time.Duration(secs) * time.Second, nil
}

// receive asks for up to n messages with a long poll.
func (w *Worker) receive(ctx context.Context, n int) ([]types.Message, error) {
	q := w.cfg.Queue
	out, err := w.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(w.opts.QueueURL),
		MaxNumberOfMessages: int32(n), // the reservation: at most maxBatch and queue.sqs.max_messages
		WaitTimeSeconds:     int32(min(q.WaitTimeSeconds, sqsMaxWaitSecond)),
		VisibilityTimeout:   int32(q.VisibilityTimeout / time.Second),
		// AWS returns no message attributes unless asked (fauxqs returns
		// all: don't let tests hide that).
		MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
			types.MessageSystemAttributeNameMessageGroupId,
		},
	})
	if err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// setVisibility changes one message's visibility (release or delay).
func (w *Worker) setVisibility(ctx context.Context, handle string, d time.Duration) error {
	return w.call(ctx, func(ctx context.Context) error {
		_, err := w.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl:          aws.String(w.opts.QueueURL),
			ReceiptHandle:     aws.String(handle),
			VisibilityTimeout: int32((min(d, maxVisibility) + time.Second - 1) / time.Second), // whole seconds, rounded up
		})
		return err
	})
}

// deleteMessages deletes settled messages, up to 10 per call, inspecting
// every Failed entry. It reports how many were deleted.
func (w *Worker) deleteMessages(ctx context.Context, msgs []*message) int {
	deleted := 0
	for start := 0; start < len(msgs); start += maxBatch {
		chunk := msgs[start:min(start+maxBatch, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{
				Id:            aws.String(strconv.Itoa(i)),
				ReceiptHandle: aws.String(m.receiptHandle()),
			}
		}
		var out *sqs.DeleteMessageBatchOutput
		err := w.call(ctx, func(ctx context.Context) (err error) {
			out, err = w.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{
				QueueUrl: aws.String(w.opts.QueueURL), Entries: entries,
			})
			return err
		})
		if err != nil {
			w.m.sqsErrors.WithLabelValues("delete").Inc()
			w.log.Error("delete batch failed; the messages will be received again", "error", err, "messages", len(chunk))
			continue
		}
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			if i < 0 || i >= len(chunk) {
				continue
			}
			m := chunk[i]
			if lostHandle(aws.ToString(f.Code)) {
				w.m.ownershipLost.Inc()
				w.log.Warn("delete: ownership lost; another receiver has the message", "message_id", m.sqsID,
					"code", aws.ToString(f.Code))
			} else {
				w.m.sqsErrors.WithLabelValues("delete").Inc()
				w.log.Error("delete failed; the message will be received again", "message_id", m.sqsID,
					"code", aws.ToString(f.Code), "detail", aws.ToString(f.Message))
			}
		}
		deleted += len(out.Successful)
	}
	w.m.deleted.Add(float64(deleted))
	return deleted
}

// send puts one message on a queue.
func (w *Worker) send(ctx context.Context, in *sqs.SendMessageInput) error {
	return w.call(ctx, func(ctx context.Context) error {
		_, err := w.sqs.SendMessage(ctx, in)
		return err
	})
}

func stringAttr(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

func numberAttr(v int) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(v))}
}

func receiveCount(m types.Message) int {
	n, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	return n
}
