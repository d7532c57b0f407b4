package sqsmem

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS limits.
const (
	maxBatch             = 10      // entries per *Batch call
	maxBatchBytes        = 1 << 20 // total message size of one SendMessageBatch
	maxMessageAttributes = 10      // message attributes per message
	maxDelaySeconds      = 900     // DelaySeconds, per message and per queue
	maxVisibilitySeconds = 43200   // 12 hours: VisibilityTimeout, and the total time in flight per receive
	maxWaitSeconds       = 20      // WaitTimeSeconds
	maxReceiveMessages   = 10      // MaxNumberOfMessages
	maxBatchIDLen        = 80      // batch entry Id
	maxQueueNameLen      = 80      // queue name, ".fifo" included
	maxGroupIDLen        = 128     // MessageGroupId, MessageDeduplicationId
	maxAttrNameLen       = 256     // message attribute name and data type
	defaultMaxSize       = 1 << 20 // MaximumMessageSize of new queues (1 MiB since August 2025)
	defaultRetention     = 345600  // MessageRetentionPeriod of new queues: 4 days
	defaultVisibility    = 30      // VisibilityTimeout of new queues
)

// validText reports whether s is valid UTF-8 made only of the characters SQS accepts in a body:
// #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
//
// Invalid UTF-8 is rejected too. The SDK's JSON encoder would not reject it (real SQS would
// store a different body than the one sent); failing loudly is more useful in tests.
func validText(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
		i += n
	}
	return true
}

// validBatchID reports whether id is a valid batch entry Id: 1 to 80 of [A-Za-z0-9_-].
func validBatchID(id string) bool {
	if id == "" || len(id) > maxBatchIDLen {
		return false
	}
	for _, r := range id {
		if !isAlnum(r) && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

// validQueueName reports whether name is a valid queue name for the queue type.
func validQueueName(name string, fifo bool) bool {
	if len(name) > maxQueueNameLen {
		return false
	}
	base := name
	if fifo {
		var ok bool
		if base, ok = strings.CutSuffix(name, ".fifo"); !ok {
			return false
		}
	}
	if base == "" {
		return false
	}
	for _, r := range base {
		if !isAlnum(r) && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

// validGroupID checks MessageGroupId and MessageDeduplicationId: 1 to 128 characters,
// alphanumeric or ASCII punctuation.
func validGroupID(param, v string) error {
	if v == "" || len(v) > maxGroupIDLen {
		return errInvalidParameter("Value %s for parameter %s is invalid. Reason: %s must be between 1 and %d characters long.",
			v, param, param, maxGroupIDLen)
	}
	for _, r := range v {
		if !isAlnum(r) && !strings.ContainsRune("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", r) {
			return errInvalidParameter("Value %s for parameter %s is invalid. Reason: Invalid characters found.", v, param)
		}
	}
	return nil
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// validateAttributes checks message attributes as SQS does and returns their size in bytes
// (name + data type + value, the part of a message's size they account for).
func validateAttributes(attrs map[string]types.MessageAttributeValue) (int, error) {
	if len(attrs) > maxMessageAttributes {
		return 0, errInvalidParameter("Number of message attributes [%d] exceeds the allowed maximum [%d].",
			len(attrs), maxMessageAttributes)
	}
	size := 0
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		v := attrs[name]
		if err := validAttrName(name); err != nil {
			return 0, err
		}
		dt := deref(v.DataType)
		if dt == "" {
			return 0, errInvalidParameter("The message attribute '%s' must contain non-empty message attribute type.", name)
		}
		base, _, _ := strings.Cut(dt, ".")
		if len(dt) > maxAttrNameLen || (base != "String" && base != "Number" && base != "Binary") {
			return 0, errInvalidParameter("The type of message (user) attribute '%s' is invalid. You must use only the "+
				"following supported type prefixes: Binary, Number, String.", name)
		}
		if v.StringListValues != nil || v.BinaryListValues != nil {
			return 0, errInvalidParameter("Message (user) attribute '%s': StringListValues and BinaryListValues are not supported.", name)
		}
		size += len(name) + len(dt)
		switch base {
		case "Binary":
			if len(v.BinaryValue) == 0 {
				return 0, errInvalidParameter("The message attribute '%s' with type 'Binary' must use field 'Binary'.", name)
			}
			size += len(v.BinaryValue)
		default:
			s := deref(v.StringValue)
			if v.StringValue == nil || s == "" {
				return 0, errInvalidParameter("The message attribute '%s' with type '%s' must use field 'String'.", name, base)
			}
			if !validText(s) {
				return 0, errInvalidParameter("Message (user) attribute '%s' contains invalid characters.", name)
			}
			if base == "Number" {
				if _, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
					return 0, errInvalidParameter("Can't cast the value of message (user) attribute '%s' to a number.", name)
				}
			}
			size += len(s)
		}
	}
	return size, nil
}

func validAttrName(name string) error {
	bad := name == "" || len(name) > maxAttrNameLen || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") ||
		strings.Contains(name, "..")
	lower := strings.ToLower(name)
	bad = bad || strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.")
	for _, r := range name {
		if !isAlnum(r) && r != '_' && r != '-' && r != '.' {
			bad = true
		}
	}
	if bad {
		return errInvalidParameter("Message (user) attribute name '%s' is invalid.", name)
	}
	return nil
}

// validateSystemAttributes checks MessageSystemAttributes on send: only AWSTraceHeader, a String.
func validateSystemAttributes(attrs map[string]types.MessageSystemAttributeValue) (traceHeader string, err error) {
	for name, v := range attrs {
		if name != string(types.MessageSystemAttributeNameForSendsAWSTraceHeader) {
			return "", errInvalidParameter("Message system attribute name '%s' is invalid.", name)
		}
		if deref(v.DataType) != "String" || deref(v.StringValue) == "" {
			return "", errInvalidParameter("Message system attribute '%s' must be a non-empty String.", name)
		}
		traceHeader = deref(v.StringValue)
	}
	return traceHeader, nil
}

// md5Hex is the hex MD5 of s (MD5OfBody, MD5OfMessageBody).
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// md5OfAttributes is SQS's MD5OfMessageAttributes: over the attributes sorted by name, each as
// length-prefixed name, length-prefixed data type, a transport byte (1 string, 2 binary) and the
// length-prefixed value. "" when there are none.
func md5OfAttributes(attrs map[string]types.MessageAttributeValue) string {
	if len(attrs) == 0 {
		return ""
	}
	h := md5.New()
	put := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		v := attrs[name]
		put([]byte(name))
		put([]byte(deref(v.DataType)))
		if strings.HasPrefix(deref(v.DataType), "Binary") {
			h.Write([]byte{2})
			put(v.BinaryValue)
		} else {
			h.Write([]byte{1})
			put([]byte(deref(v.StringValue)))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// copyAttributes deep-copies message attributes, so neither the sender nor a receiver can
// change what the queue holds.
func copyAttributes(attrs map[string]types.MessageAttributeValue) map[string]types.MessageAttributeValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make(map[string]types.MessageAttributeValue, len(attrs))
	for k, v := range attrs {
		c := types.MessageAttributeValue{DataType: copyPtr(v.DataType), StringValue: copyPtr(v.StringValue)}
		if v.BinaryValue != nil {
			c.BinaryValue = slices.Clone(v.BinaryValue)
		}
		out[k] = c
	}
	return out
}

// wantAttribute reports whether a message attribute name is selected by MessageAttributeNames:
// "All" or ".*" selects all, "prefix.*" a prefix, anything else one name.
func wantAttribute(names []string, name string) bool {
	for _, n := range names {
		switch {
		case n == "All" || n == ".*":
			return true
		case strings.HasSuffix(n, ".*"):
			if strings.HasPrefix(name, strings.TrimSuffix(n, "*")) {
				return true
			}
		case n == name:
			return true
		}
	}
	return false
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func copyPtr(p *string) *string {
	if p == nil {
		return nil
	}
	s := *p
	return &s
}

func itoa(n int) string { return strconv.Itoa(n) }
