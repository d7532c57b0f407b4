package worker

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS is the part of *sqs.Client the worker calls. Every write is a batch
// call.
type SQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
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

func (w *Worker) queueAttributes(ctx context.Context, names ...types.QueueAttributeName) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.SQSCallTimeout)
	defer cancel()
	out, err := w.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(w.opts.QueueURL),
		AttributeNames: names,
	})
	if err != nil {
		return nil, err
	}
	return out.Attributes, nil
}

// queueStats reads the approximate message counts of the main queue and
// the DLQ every Options.QueueStatsInterval until ctx ends. A failed read
// keeps the last figures (and is counted in sqs_calls_total); it never
// touches readiness, which follows the calls that move messages. Its calls
// run under ctx, so a stop never waits for them.
func (w *Worker) queueStats(ctx context.Context) {
	if w.opts.QueueStatsInterval < 0 {
		return
	}
	names := []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}
	states := [...]string{"visible", "in_flight", "delayed"}
	t := time.NewTicker(w.opts.QueueStatsInterval)
	defer t.Stop()
	for {
		for _, q := range []struct{ label, url string }{{"main", w.opts.QueueURL}, {"dlq", w.opts.DeadLetterQueueURL}} {
			if ctx.Err() != nil {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, w.opts.SQSCallTimeout)
			out, err := w.sqs.GetQueueAttributes(cctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url), AttributeNames: names})
			cancel()
			if err != nil {
				w.m.sqsCalls.WithLabelValues("GetQueueAttributes", "error").Inc()
				continue
			}
			w.m.sqsCalls.WithLabelValues("GetQueueAttributes", "ok").Inc()
			for i, n := range names {
				if v, perr := strconv.ParseFloat(out.Attributes[string(n)], 64); perr == nil {
					w.m.queueMessages.WithLabelValues(q.label, states[i]).Set(v)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// maxReceiveCount reads a RedrivePolicy attribute; 0 when there is none.
func maxReceiveCount(policy string) int {
	if policy == "" {
		return 0
	}
	var p struct {
		MaxReceiveCount json.RawMessage `json:"maxReceiveCount"`
	}
	if json.Unmarshal([]byte(policy), &p) != nil {
		return 0
	}
	var n int
	if json.Unmarshal(p.MaxReceiveCount, &n) == nil {
		return n
	}
	var s string
	if json.Unmarshal(p.MaxReceiveCount, &s) == nil {
		n, _ = strconv.Atoi(s)
	}
	return n
}

// receive asks for up to n messages with a long poll, bounded by the wait
// time plus the call timeout.
func (w *Worker) receive(ctx context.Context, n int) ([]types.Message, error) {
	q := w.cfg.Queue
	wait := min(q.WaitTimeSeconds, sqsMaxWaitSecond)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(wait)*time.Second+w.opts.SQSCallTimeout)
	defer cancel()
	out, err := w.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(w.opts.QueueURL),
		MaxNumberOfMessages: int32(n), // the reservation: at most maxBatch and queue.sqs.max_messages
		WaitTimeSeconds:     int32(wait),
		VisibilityTimeout:   int32(q.VisibilityTimeout / time.Second),
		// AWS returns no message attributes unless asked (fauxqs returns
		// all: don't let tests hide that).
		MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
			types.MessageSystemAttributeNameMessageGroupId,
		},
	}, skipBodyMD5)
	if err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// skipBodyMD5 turns off the SDK's MD5 check of received bodies: TLS already
// guarantees their integrity in transit, payload.DecodeRaw validates every
// body strictly, and the check cost about 6 % of the worker's CPU at 100
// events per message (issue 8's profile).
func skipBodyMD5(o *sqs.Options) { o.DisableMessageChecksumValidation = true }

func stringAttr(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

func numberAttr(v int) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(v))}
}
