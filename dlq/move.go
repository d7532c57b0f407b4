package dlq

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ErrMoveUnsupported is matched (errors.Is) by StartMove's error when the
// endpoint has no StartMessageMoveTask (emulators such as fauxqs).
var ErrMoveUnsupported = errors.New("dlq: this SQS endpoint does not support StartMessageMoveTask")

// unsupportedCodes are the error codes of endpoints without the action.
var unsupportedCodes = map[string]bool{
	"UnsupportedOperation":                        true,
	"AWS.SimpleQueueService.UnsupportedOperation": true,
	"InvalidAction":                               true,
	"UnknownOperationException":                   true,
	"UnknownOperation":                            true,
	"NotImplemented":                              true,
}

// Move is a started server-side move task.
type Move struct {
	// TaskHandle identifies the task (ListMessageMoveTasks,
	// CancelMessageMoveTask).
	TaskHandle string
	// SourceARN and DestinationARN are the DLQ's and the main queue's ARNs.
	SourceARN, DestinationARN string
}

// StartMove asks SQS to move every message of the DLQ back to the main
// queue (StartMessageMoveTask). SQS moves them as they are: it cannot
// filter, and it keeps each envelope's attempts and the hookline-*
// attributes. maxPerSecond > 0 caps the rate (MaxNumberOfMessagesPerSecond).
func StartMove(ctx context.Context, api API, q Queues, maxPerSecond int) (*Move, error) {
	src, err := queueARN(ctx, api, q.DeadLetter)
	if err != nil {
		return nil, err
	}
	dst, err := queueARN(ctx, api, q.Main)
	if err != nil {
		return nil, err
	}
	in := &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(src), DestinationArn: aws.String(dst)}
	if maxPerSecond > 0 {
		in.MaxNumberOfMessagesPerSecond = aws.Int32(int32(maxPerSecond))
	}
	out, err := api.StartMessageMoveTask(ctx, in)
	if err != nil {
		if unsupportedCodes[errorCode(err)] {
			return nil, fmt.Errorf("%w (%v)", ErrMoveUnsupported, err)
		}
		return nil, fmt.Errorf("dlq: start message move task: %w", err)
	}
	return &Move{TaskHandle: aws.ToString(out.TaskHandle), SourceARN: src, DestinationARN: dst}, nil
}

func queueARN(ctx context.Context, api API, url string) (string, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("dlq: queue ARN of %s: %w", url, err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", fmt.Errorf("dlq: %s reported no QueueArn", url)
	}
	return arn, nil
}

// ErrPurgeInProgress is matched by Purge's error when SQS is still purging
// the queue (one purge per queue per 60 s).
var ErrPurgeInProgress = errors.New("dlq: a purge of this queue is already in progress (SQS allows one per 60 s)")

// Purge deletes every message in the queue (PurgeQueue). SQS may take up
// to 60 s to finish.
func Purge(ctx context.Context, api API, url string) error {
	if _, err := api.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
		var inProgress *types.PurgeQueueInProgress
		if errors.As(err, &inProgress) || errorCode(err) == "AWS.SimpleQueueService.PurgeQueueInProgress" {
			return fmt.Errorf("%w: %v", ErrPurgeInProgress, err)
		}
		return fmt.Errorf("dlq: purge %s: %w", url, err)
	}
	return nil
}
