package queues

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// SQS queue attribute names Ensure manages or reads.
const (
	attrVisibilityTimeout         = "VisibilityTimeout"
	attrMaximumMessageSize        = "MaximumMessageSize"
	attrMessageRetentionPeriod    = "MessageRetentionPeriod"
	attrRedrivePolicy             = "RedrivePolicy"
	attrSqsManagedSseEnabled      = "SqsManagedSseEnabled"
	attrKmsMasterKeyID            = "KmsMasterKeyId"
	attrFifoQueue                 = "FifoQueue"
	attrContentBasedDeduplication = "ContentBasedDeduplication"
	attrDeduplicationScope        = "DeduplicationScope"
	attrFifoThroughputLimit       = "FifoThroughputLimit"
	attrQueueArn                  = "QueueArn"
)

// kind says how an attribute's values compare.
type kind int

const (
	kindString  kind = iota // exact text
	kindInt                 // decimal integers: "60" == " 60"
	kindBool                // "true" == "True"
	kindRedrive             // RedrivePolicy JSON, compared by meaning
)

// attribute is one desired queue attribute.
type attribute struct {
	name  string
	value string
	kind  kind
	// optional attributes are not supported by every endpoint (fauxqs rejects setting
	// SqsManagedSseEnabled, DeduplicationScope and FifoThroughputLimit): when an endpoint
	// rejects one, Ensure warns instead of failing.
	optional bool
	// createOnly attributes are sent on CreateQueue only and never compared (FifoQueue cannot
	// change; a queue whose name ends in ".fifo" always is one).
	createOnly bool
}

// redrivePolicy is the JSON of the RedrivePolicy attribute. Endpoints disagree on
// maxReceiveCount's type (AWS returns a number, others echo a string), so it is raw here.
type redrivePolicy struct {
	DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
	MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
}

// redrivePolicyJSON is the RedrivePolicy value Ensure sets.
func redrivePolicyJSON(deadLetterARN string, maxReceiveCount int) string {
	b, _ := json.Marshal(struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}{deadLetterARN, maxReceiveCount}) // cannot fail: a string and an int
	return string(b)
}

// parseRedrive returns the target ARN and maxReceiveCount of a RedrivePolicy value, accepting
// maxReceiveCount as a JSON number or a string holding one.
func parseRedrive(s string) (arn string, maxReceiveCount int, ok bool) {
	var p redrivePolicy
	if err := json.Unmarshal([]byte(s), &p); err != nil || p.DeadLetterTargetArn == "" {
		return "", 0, false
	}
	raw := strings.TrimSpace(string(p.MaxReceiveCount))
	if unq, err := strconv.Unquote(raw); err == nil {
		raw = strings.TrimSpace(unq)
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return "", 0, false
	}
	return p.DeadLetterTargetArn, n, true
}

// equal reports whether the current value of an attribute means the desired one.
func equal(k kind, current, desired string) bool {
	switch k {
	case kindInt:
		c, errC := strconv.ParseInt(strings.TrimSpace(current), 10, 64)
		d, errD := strconv.ParseInt(strings.TrimSpace(desired), 10, 64)
		if errC == nil && errD == nil {
			return c == d
		}
	case kindBool:
		c, errC := strconv.ParseBool(strings.TrimSpace(current))
		d, errD := strconv.ParseBool(strings.TrimSpace(desired))
		if errC == nil && errD == nil {
			return c == d
		}
	case kindRedrive:
		cARN, cMax, okC := parseRedrive(current)
		dARN, dMax, okD := parseRedrive(desired)
		if okC && okD {
			return cARN == dARN && cMax == dMax
		}
		return false
	}
	return current == desired
}

// drift compares the desired attributes of a queue with its current ones (from
// GetQueueAttributes) and returns those that differ, in the order of desired, as Changes with
// Old = the current value ("" when the queue does not report the attribute).
//
// createOnly attributes are skipped, and so is SqsManagedSseEnabled when the queue is encrypted
// with a KMS key: that encryption is kept, never downgraded to SQS-managed keys.
func drift(queue string, desired []attribute, current map[string]string) []Change {
	var changes []Change
	for _, a := range desired {
		if a.createOnly {
			continue
		}
		if a.name == attrSqsManagedSseEnabled && current[attrKmsMasterKeyID] != "" {
			continue
		}
		old, ok := current[a.name]
		if ok && equal(a.kind, old, a.value) {
			continue
		}
		changes = append(changes, Change{Queue: queue, Attribute: a.name, Old: old, New: a.value})
	}
	return changes
}

// desiredAttributes returns the attributes of the dead-letter queue (deadLetterARN == "") or
// of the main queue redriving to deadLetterARN, in the order they are reported.
func desiredAttributes(s Spec, deadLetterARN string) []attribute {
	itoa := strconv.Itoa
	secs := func(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }
	var attrs []attribute
	if deadLetterARN == "" {
		attrs = append(attrs,
			attribute{name: attrMessageRetentionPeriod, value: secs(DeadLetterRetention), kind: kindInt},
			attribute{name: attrMaximumMessageSize, value: itoa(s.MaximumMessageSize), kind: kindInt},
		)
	} else {
		attrs = append(attrs,
			attribute{name: attrVisibilityTimeout, value: secs(s.VisibilityTimeout), kind: kindInt},
			attribute{name: attrMaximumMessageSize, value: itoa(s.MaximumMessageSize), kind: kindInt},
			attribute{name: attrMessageRetentionPeriod, value: secs(s.MessageRetention), kind: kindInt},
			attribute{name: attrRedrivePolicy, value: redrivePolicyJSON(deadLetterARN, s.MaxReceiveCount), kind: kindRedrive},
		)
	}
	if s.FIFO {
		attrs = append(attrs,
			attribute{name: attrFifoQueue, value: "true", kind: kindBool, createOnly: true},
			attribute{name: attrContentBasedDeduplication, value: "false", kind: kindBool},
			attribute{name: attrDeduplicationScope, value: "messageGroup", optional: true},
			attribute{name: attrFifoThroughputLimit, value: "perMessageGroupId", optional: true},
		)
	}
	if !s.DisableSSE {
		attrs = append(attrs, attribute{name: attrSqsManagedSseEnabled, value: "true", kind: kindBool, optional: true})
	}
	return attrs
}
