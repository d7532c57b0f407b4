// Package dlq works on Hookline's dead-letter queue: [Inspect] samples it
// without deleting anything, [Redrive] moves dead letters back to the main
// queue with their attempts reset, [StartMove] hands the move to SQS
// (StartMessageMoveTask), and [Purge] empties it.
//
// # What a dead letter is
//
// The worker copies a message it gives up on to the DLQ (worker/ops.go):
// the body is the envelope, its "targets" naming the one webhook that
// failed, and the message attributes hookline-reason, -webhook, -target,
// -status, -attempts and -detail say why. A body that is not a valid
// envelope (reasons malformed-body, sockudo-job, unsupported-version,
// invalid-envelope) is kept byte for byte. A message the queue's redrive
// policy moved (a crash loop: maxReceiveCount receives without a delete)
// has no hookline-reason; [Parse] gives it the reason [ReasonRedrivePolicy].
//
// # Safety
//
// Nothing is deleted from the DLQ before SQS accepted its copy on the main
// queue: [Redrive] deletes exactly the entries SendMessageBatch reported
// Successful, and every Failed entry leaves its message in the DLQ. A
// cancelled context stops Redrive between batches; the batch in hand is
// finished (its sends, then the deletes of what was accepted) under a
// context without the cancellation.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/worker"
)

// API is the part of the SQS client this package calls; *sqs.Client
// implements it.
type API interface {
	GetQueueAttributes(ctx context.Context, params *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ReceiveMessage(ctx context.Context, params *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessageBatch(ctx context.Context, params *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, params *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, params *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	PurgeQueue(ctx context.Context, params *sqs.PurgeQueueInput, optFns ...func(*sqs.Options)) (*sqs.PurgeQueueOutput, error)
	StartMessageMoveTask(ctx context.Context, params *sqs.StartMessageMoveTaskInput, optFns ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error)
}

var _ API = (*sqs.Client)(nil)

// maxBatch is SQS's limit on entries in one batch call and on messages in
// one receive.
const maxBatch = 10

// callTimeout bounds one SQS call made after a cancellation, so finishing
// the batch in hand cannot hang.
const callTimeout = 30 * time.Second

// ReasonRedrivePolicy is the reason of a dead letter without a
// hookline-reason attribute: the queue's redrive policy moved it after
// maxReceiveCount receives (a worker crashed or lost it that often).
const ReasonRedrivePolicy = "redrive-policy"

// Queues names the queue pair.
type Queues struct {
	// Main is the main queue's URL, where Redrive sends.
	Main string
	// DeadLetter is the DLQ's URL.
	DeadLetter string
	// FIFO: both queues are FIFO queues; redriven messages get
	// MessageGroupId = app id and a deduplication id.
	FIFO bool
	// GroupByApp sets MessageGroupId = app id on redriven messages of a
	// standard queue (SQS fair queues, queue.sqs.fair_queues), as the
	// producer does.
	GroupByApp bool
}

// Filter selects dead letters. Each non-empty list must contain the
// message's value; an empty Filter matches every message.
type Filter struct {
	// Reasons are hookline-reason values (or ReasonRedrivePolicy).
	Reasons []string
	// Webhooks are webhook ids (hookline-webhook) or targets
	// (hookline-target: the URL or lambda:<function>).
	Webhooks []string
	// Apps are app ids from the envelope; a body that is not an envelope
	// has none and never matches.
	Apps []string
}

// Empty reports whether f matches every message.
func (f Filter) Empty() bool {
	return len(f.Reasons) == 0 && len(f.Webhooks) == 0 && len(f.Apps) == 0
}

// Match reports whether m passes f.
func (f Filter) Match(m *Message) bool {
	if len(f.Reasons) > 0 && !contains(f.Reasons, m.Reason) {
		return false
	}
	if len(f.Webhooks) > 0 && !(m.Webhook != "" && contains(f.Webhooks, m.Webhook)) && !(m.Target != "" && contains(f.Webhooks, m.Target)) {
		return false
	}
	if len(f.Apps) > 0 && !(m.AppID != "" && contains(f.Apps, m.AppID)) {
		return false
	}
	return true
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// Message is one dead letter as read from the DLQ. The JSON names are
// stable: `hookline dlq inspect --json` prints them.
type Message struct {
	// MessageID is the DLQ message's SQS id.
	MessageID string `json:"message_id"`
	// Reason is hookline-reason, or ReasonRedrivePolicy without one.
	Reason string `json:"reason"`
	// Webhook is hookline-webhook, the failed webhook's id ("" when none).
	Webhook string `json:"webhook"`
	// Target is hookline-target: the URL or lambda:<function>.
	Target string `json:"target"`
	// Status is hookline-status: the HTTP status, timeout,
	// transport-error, none.
	Status string `json:"status"`
	// Attempts is hookline-attempts (0 when absent).
	Attempts int `json:"attempts"`
	// ReceiveCount is ApproximateReceiveCount: receives of this DLQ copy,
	// this inspection's included.
	ReceiveCount int `json:"receive_count"`
	// Detail is hookline-detail, a short human explanation.
	Detail string `json:"detail"`
	// SentAt is when the message reached the DLQ (SentTimestamp).
	SentAt time.Time `json:"sent_at"`
	// Envelope reports whether the body is a valid Hookline envelope; a
	// raw dead letter (malformed-body, sockudo-job, ...) is not.
	Envelope bool `json:"envelope"`
	// EnvelopeID, AppID, Targets, Attempt: from the envelope.
	EnvelopeID string   `json:"envelope_id,omitempty"`
	AppID      string   `json:"app_id,omitempty"`
	Targets    []string `json:"targets,omitempty"`
	// Events is the number of events in the envelope.
	Events int `json:"events"`
	// EventSummary is e.g. "2 events: member_added presence-chat,
	// member_removed presence-chat".
	EventSummary string `json:"event_summary"`
	// Body is the message body when it is not an envelope.
	Body string `json:"body,omitempty"`

	env *payload.RawEnvelope
	raw types.Message
}

// summaryEvents is how many events an EventSummary names.
const summaryEvents = 3

// Parse reads one received DLQ message. It never fails: what it cannot
// read stays empty.
func Parse(m types.Message) *Message {
	out := &Message{MessageID: aws.ToString(m.MessageId), raw: m}
	attr := func(k string) string { return aws.ToString(m.MessageAttributes[k].StringValue) }
	out.Reason = attr(worker.AttrReason)
	if out.Reason == "" {
		out.Reason = ReasonRedrivePolicy
	}
	out.Webhook = attr(worker.AttrWebhook)
	out.Target = attr(worker.AttrTarget)
	out.Status = attr(worker.AttrStatus)
	out.Detail = attr(worker.AttrDetail)
	out.Attempts, _ = strconv.Atoi(attr(worker.AttrAttempts))
	out.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		out.SentAt = time.UnixMilli(ms).UTC()
	}
	body := aws.ToString(m.Body)
	env, err := payload.DecodeRaw([]byte(body))
	if err != nil {
		out.Body = body
		out.EventSummary = fmt.Sprintf("(not an envelope: %d bytes)", len(body))
		return out
	}
	out.env = env
	out.Envelope = true
	out.EnvelopeID = env.ID
	out.AppID = env.AppID
	out.Targets = env.Targets
	out.Events = len(env.Events)
	out.EventSummary = summarize(env.Events)
	return out
}

// summarize names the first few events: "name channel".
func summarize(events []payload.RawEvent) string {
	var b strings.Builder
	if len(events) == 1 {
		b.WriteString("1 event: ")
	} else {
		fmt.Fprintf(&b, "%d events: ", len(events))
	}
	for i, ev := range events {
		if i == summaryEvents {
			fmt.Fprintf(&b, ", +%d more", len(events)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ev.Name)
		if ev.Channel != "" {
			b.WriteString(" " + ev.Channel)
		}
	}
	return b.String()
}

// Depth is a queue's approximate message counts.
type Depth struct {
	Visible, NotVisible, Delayed int
}

// Total is every message in the queue, in flight or delayed included.
func (d Depth) Total() int { return d.Visible + d.NotVisible + d.Delayed }

// QueueDepth reads a queue's approximate counts.
func QueueDepth(ctx context.Context, api API, url string) (Depth, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return Depth{}, fmt.Errorf("dlq: queue attributes of %s: %w", url, err)
	}
	n := func(k types.QueueAttributeName) int { v, _ := strconv.Atoi(out.Attributes[string(k)]); return v }
	return Depth{
		Visible:    n(types.QueueAttributeNameApproximateNumberOfMessages),
		NotVisible: n(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		Delayed:    n(types.QueueAttributeNameApproximateNumberOfMessagesDelayed),
	}, nil
}

// receive asks for up to n messages with every attribute, invisible for vt.
func receive(ctx context.Context, api API, url string, n int, vt time.Duration, wait time.Duration) ([]types.Message, error) {
	out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:              aws.String(url),
		MaxNumberOfMessages:   int32(min(n, maxBatch)),
		VisibilityTimeout:     int32(vt / time.Second),
		WaitTimeSeconds:       int32(wait / time.Second),
		MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("dlq: receive from %s: %w", url, err)
	}
	return out.Messages, nil
}

// release makes messages visible again at once (visibility 0). It returns
// how many SQS refused; a refused one reappears when its visibility
// timeout ends.
func release(ctx context.Context, api API, url string, msgs []types.Message) (int, error) {
	failed := 0
	var firstErr error
	for start := 0; start < len(msgs); start += maxBatch {
		chunk := msgs[start:min(start+maxBatch, len(msgs))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		out, err := api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil {
			failed += len(chunk)
			if firstErr == nil {
				firstErr = fmt.Errorf("dlq: release messages: %w", err)
			}
			continue
		}
		failed += len(out.Failed)
	}
	return failed, firstErr
}

// errorCode is the AWS error code of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
