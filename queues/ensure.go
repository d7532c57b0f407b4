package queues

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// API is the part of the SQS client Ensure uses; *sqs.Client implements it.
type API interface {
	GetQueueUrl(ctx context.Context, params *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	CreateQueue(ctx context.Context, params *sqs.CreateQueueInput, optFns ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	GetQueueAttributes(ctx context.Context, params *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	SetQueueAttributes(ctx context.Context, params *sqs.SetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error)
}

var _ API = (*sqs.Client)(nil)

// Change is one attribute of an existing queue that differed from the Spec and was corrected.
type Change struct {
	Queue     string // queue name
	Attribute string // SQS attribute name, e.g. "VisibilityTimeout"
	Old       string // value before; "" when the queue did not report the attribute
	New       string // value set
}

// QueueResult is what Ensure did to one queue.
type QueueResult struct {
	Name    string
	URL     string // as issued by the endpoint: use it as is (fauxqs accepts no other spelling)
	ARN     string
	Created bool // the queue did not exist and was created
	// Changes lists the attributes of an existing queue that had drifted and were corrected.
	// Empty when Created, and on every run after the queue matches the Spec.
	Changes []Change
	// Warnings are settings the endpoint would not take (e.g. encryption on emulators); the
	// queue works without them.
	Warnings []string
}

// Result is what Ensure did to the queue pair.
type Result struct {
	Main, DeadLetter QueueResult
}

// sseUnsupported is the warning for endpoints without SQS-managed encryption.
const sseUnsupported = "server-side encryption not supported by this endpoint; queue left unencrypted"

// Ensure creates the dead-letter queue and then the main queue of spec (after WithDefaults), or
// corrects the attributes of those that exist, and reports what it did. It is idempotent: run
// again, it creates nothing and reports no Changes. Attributes the endpoint does not support
// (SqsManagedSseEnabled, DeduplicationScope, FifoThroughputLimit on fauxqs) become Warnings.
func Ensure(ctx context.Context, api API, spec Spec) (*Result, error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	var (
		res Result
		err error
	)
	res.DeadLetter, err = ensureQueue(ctx, api, spec.DeadLetterQueueName(), desiredAttributes(spec, ""))
	if err != nil {
		return nil, err
	}
	res.Main, err = ensureQueue(ctx, api, spec.MainQueueName(), desiredAttributes(spec, res.DeadLetter.ARN))
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// ensureQueue creates queue name with attributes want, or corrects its drifted attributes.
func ensureQueue(ctx context.Context, api API, name string, want []attribute) (QueueResult, error) {
	res := QueueResult{Name: name}
	url, err := queueURL(ctx, api, name)
	if isQueueMissing(err) {
		url, res.Created, err = createQueue(ctx, api, name, want)
	}
	if err != nil {
		return res, err
	}
	res.URL = url

	current, err := queueAttributes(ctx, api, name, url)
	if err != nil {
		return res, err
	}
	res.ARN = current[attrQueueArn]
	if res.ARN == "" {
		return res, fmt.Errorf("queues: get attributes of %s: no %s in the response", name, attrQueueArn)
	}

	// A created queue is re-checked too: endpoints may drop attributes on create silently
	// (fauxqs accepts SqsManagedSseEnabled there, then neither reports nor applies it).
	changes := drift(name, want, current)
	var required []Change
	for _, c := range changes {
		if !lookup(want, c.Attribute).optional {
			required = append(required, c)
		}
	}
	if len(required) > 0 {
		if err := setAttributes(ctx, api, url, required...); err != nil {
			return res, fmt.Errorf("queues: set attributes of %s: %w", name, err)
		}
	}
	applied := required
	for _, c := range changes {
		a := lookup(want, c.Attribute)
		if !a.optional {
			continue
		}
		// One call per optional attribute, so one the endpoint rejects does not hide the others.
		err := setAttributes(ctx, api, url, c)
		switch {
		case err == nil:
			applied = append(applied, c)
		case isUnsupportedAttribute(err):
			res.Warnings = append(res.Warnings, unsupportedWarning(c))
		default:
			return res, fmt.Errorf("queues: set %s of %s: %w", c.Attribute, name, err)
		}
	}
	if !res.Created {
		res.Changes = applied
	}
	return res, nil
}

func lookup(want []attribute, name string) attribute {
	for _, a := range want {
		if a.name == name {
			return a
		}
	}
	return attribute{name: name}
}

func unsupportedWarning(c Change) string {
	if c.Attribute == attrSqsManagedSseEnabled {
		return sseUnsupported
	}
	old := c.Old
	if old == "" {
		old = "the endpoint's default"
	}
	return fmt.Sprintf("%s=%s not supported by this endpoint; left as %s", c.Attribute, c.New, old)
}

func queueURL(ctx context.Context, api API, name string) (string, error) {
	out, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		if isQueueMissing(err) {
			return "", err // the caller branches on it; wrapping adds nothing
		}
		return "", fmt.Errorf("queues: get URL of %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// createQueue creates the queue with all of want. If the endpoint rejects an attribute and
// optional ones were sent, it retries without them; ensureQueue then sets them one by one and
// warns about those that are rejected. A queue created concurrently by someone else is
// returned with created false.
func createQueue(ctx context.Context, api API, name string, want []attribute) (url string, created bool, err error) {
	all := make(map[string]string, len(want))
	required := make(map[string]string, len(want))
	for _, a := range want {
		all[a.name] = a.value
		if !a.optional {
			required[a.name] = a.value
		}
	}
	out, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: all})
	if err != nil && isUnsupportedAttribute(err) && !maps.Equal(all, required) {
		out, err = api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: required})
	}
	if isQueueNameExists(err) {
		// Created between our GetQueueUrl and CreateQueue, with other attributes: correct it.
		url, err := queueURL(ctx, api, name)
		return url, false, err
	}
	if err != nil {
		return "", false, fmt.Errorf("queues: create %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), true, nil
}

func queueAttributes(ctx context.Context, api API, name, url string) (map[string]string, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		return nil, fmt.Errorf("queues: get attributes of %s: %w", name, err)
	}
	return out.Attributes, nil
}

func setAttributes(ctx context.Context, api API, url string, changes ...Change) error {
	attrs := make(map[string]string, len(changes))
	for _, c := range changes {
		attrs[c.Attribute] = c.New
	}
	_, err := api.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: attrs})
	return err
}

// AWS error codes, classified here once. With the JSON protocol the SDK reports the legacy
// query-protocol code from the x-amzn-query-error header ("AWS.SimpleQueueService.NonExistentQueue"),
// so both spellings are accepted.
const queryCodePrefix = "AWS.SimpleQueueService."

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return strings.TrimPrefix(apiErr.ErrorCode(), queryCodePrefix)
	}
	return ""
}

func isQueueMissing(err error) bool {
	switch errorCode(err) {
	case "NonExistentQueue", "QueueDoesNotExist":
		return true
	}
	return false
}

func isQueueNameExists(err error) bool {
	return errorCode(err) == "QueueNameExists"
}

// isUnsupportedAttribute reports whether the endpoint refused an attribute name or value.
func isUnsupportedAttribute(err error) bool {
	switch errorCode(err) {
	case "InvalidAttributeName", "InvalidAttributeValue", "UnsupportedOperation":
		return true
	}
	return false
}
