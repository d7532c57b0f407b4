package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Version is the envelope version this build writes and reads.
const Version = 1

// maxIDLen is the longest envelope id accepted, in bytes.
const maxIDLen = 128

// Envelope is one SQS message: events of one app, in the order they
// happened. Retry envelopes keep the id and events and add Targets, Attempt
// and FirstAttemptMS.
type Envelope struct {
	// V is the envelope version; Encode requires Version.
	V int `json:"v"`
	// ID is made by the producer, unique per envelope, printable ASCII
	// without spaces, at most 128 bytes. Events without an id of their own
	// are delivered with "<ID>:<index>".
	ID string `json:"id"`
	// AppID names the app in the worker's registry. Required.
	AppID string `json:"app_id"`
	// Events holds one or more events; each needs a Name.
	Events []Event `json:"events"`
	// Targets lists the webhook ids still owed; empty means every webhook
	// of the app.
	Targets []string `json:"targets,omitempty"`
	// Attempt is the number of delivery attempts already made; 0 on a
	// fresh envelope.
	Attempt int `json:"attempt,omitempty"`
	// FirstAttemptMS is when the first attempt was made, in Unix ms.
	FirstAttemptMS int64 `json:"first_attempt_ms,omitempty"`
	// NotBeforeMS is the earliest delivery time, in Unix ms, for waits
	// longer than SQS's 900 s delay; 0 means now.
	NotBeforeMS int64 `json:"not_before,omitempty"`
}

// ErrFutureVersion is matched (errors.Is) by the error Decode returns for an
// envelope whose "v" is above Version: a newer producer wrote it. It is not a
// DecodeError: release the message for a newer worker instead of
// dead-lettering it, and do not count an attempt.
var ErrFutureVersion = errors.New("payload: envelope version newer than supported")

// Reasons a DecodeError gives; they are stable and go into the dead-letter
// reason attribute.
const (
	// ReasonMalformed: not JSON, not an object, or a key of the wrong type.
	ReasonMalformed = "malformed-body"
	// ReasonUnsupportedVersion: "v" missing, null, 0 or negative.
	ReasonUnsupportedVersion = "unsupported-version"
	// ReasonSockudoJob: a Sockudo queue job (an object with an "app_secret"
	// or "payload" key), not a Hookline envelope.
	ReasonSockudoJob = "sockudo-job"
	// ReasonInvalid: well-formed but fails Validate.
	ReasonInvalid = "invalid-envelope"
)

// DecodeError is a queue message that can never be delivered. Reason is one
// of the Reason constants; Err says where and what.
type DecodeError struct {
	Reason string
	Err    error
}

func (e *DecodeError) Error() string {
	if e.Err == nil {
		return "payload: " + e.Reason
	}
	return e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

func decodeErr(reason, format string, args ...any) *DecodeError {
	return &DecodeError{Reason: reason, Err: fmt.Errorf("payload: "+format, args...)}
}

// Encode validates e and returns its JSON form: compact, without HTML
// escaping and without a trailing newline.
func Encode(e *Envelope) ([]byte, error) {
	if e == nil {
		return nil, errors.New("payload: nil envelope")
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return marshal(e)
}

// Decode parses and validates a queue message body. Its checks run in this
// order: the body must be a JSON object (else ReasonMalformed); an
// "app_secret" or "payload" key makes it a Sockudo job (ReasonSockudoJob);
// "v" must be an integer (ReasonMalformed), at least 1
// (ReasonUnsupportedVersion) and at most Version (ErrFutureVersion); every
// known key must have the right type (ReasonMalformed); then Validate
// (ReasonInvalid). Keys are matched exactly; unknown top-level keys are
// ignored.
func Decode(b []byte) (*Envelope, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		if !json.Valid(b) {
			return nil, decodeErr(ReasonMalformed, "not valid JSON: %v", err)
		}
		return nil, decodeErr(ReasonMalformed, "want a JSON object, got %s", kindOf(b))
	}
	if m == nil {
		return nil, decodeErr(ReasonMalformed, "want a JSON object, got null")
	}
	for _, k := range []string{"app_secret", "payload"} {
		if _, ok := m[k]; ok {
			return nil, decodeErr(ReasonSockudoJob, "%q key: a Sockudo queue job, not a Hookline envelope", k)
		}
	}

	rawV, ok := m["v"]
	if !ok || isNull(rawV) {
		return nil, decodeErr(ReasonUnsupportedVersion, `missing "v"`)
	}
	if kindOf(rawV) != "number" {
		return nil, decodeErr(ReasonMalformed, `"v": want an integer, got %s`, kindOf(rawV))
	}
	v, err := strconv.ParseInt(string(bytes.TrimSpace(rawV)), 10, 64)
	if err != nil {
		return nil, decodeErr(ReasonMalformed, `"v": want an integer, got %s`, bytes.TrimSpace(rawV))
	}
	if v > Version {
		return nil, fmt.Errorf("%w: v %d, this build reads up to %d", ErrFutureVersion, v, Version)
	}
	if v < 1 {
		return nil, decodeErr(ReasonUnsupportedVersion, `"v": %d is not a version`, v)
	}

	e := &Envelope{V: int(v)}
	fields := []struct {
		key string
		dst any
	}{
		{"id", &e.ID},
		{"app_id", &e.AppID},
		{"targets", &e.Targets},
		{"attempt", &e.Attempt},
		{"first_attempt_ms", &e.FirstAttemptMS},
		{"not_before", &e.NotBeforeMS},
	}
	for _, f := range fields {
		raw, ok := m[f.key]
		if !ok || isNull(raw) {
			continue
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return nil, decodeErr(ReasonMalformed, "%q: %s", f.key, typeMsg(raw, f.dst))
		}
	}
	if len(e.Targets) == 0 {
		e.Targets = nil
	}

	if raw, ok := m["events"]; ok && !isNull(raw) {
		var raws []json.RawMessage
		if err := json.Unmarshal(raw, &raws); err != nil {
			return nil, decodeErr(ReasonMalformed, `"events": want an array, got %s`, kindOf(raw))
		}
		e.Events = make([]Event, len(raws))
		for i, r := range raws {
			ev, err := decodeEvent(r)
			if err != nil {
				return nil, decodeErr(ReasonMalformed, "events[%d]: %v", i, err)
			}
			e.Events[i] = ev
		}
	}

	if err := e.Validate(); err != nil {
		return nil, &DecodeError{Reason: ReasonInvalid, Err: err}
	}
	return e, nil
}

// typeMsg explains why raw did not fit dst.
func typeMsg(raw json.RawMessage, dst any) string {
	want := "an integer"
	switch dst.(type) {
	case *string:
		want = "a string"
	case *[]string:
		want = "an array of strings"
	}
	got := kindOf(raw)
	if got == "number" {
		got = string(bytes.TrimSpace(raw))
	}
	return fmt.Sprintf("want %s, got %s", want, got)
}

// Validate reports the first problem that makes e undeliverable, naming the
// key and, for events and targets, the index:
// `payload: events[3]: missing "name"`.
func (e *Envelope) Validate() error {
	if err := validateHead(e.V, e.ID, e.AppID, len(e.Events)); err != nil {
		return err
	}
	for i := range e.Events {
		if err := validateEvent(i, e.Events[i].Name, e.Events[i].TimeMS); err != nil {
			return err
		}
	}
	return validateTail(e.Targets, e.Attempt, e.FirstAttemptMS, e.NotBeforeMS)
}

// validateHead, validateEvent and validateTail are Validate's checks, in
// order, shared with the raw path.
func validateHead(v int, id, appID string, events int) error {
	if v != Version {
		return fmt.Errorf(`payload: "v": %d, want %d`, v, Version)
	}
	if err := validateID(id); err != nil {
		return err
	}
	if appID == "" {
		return errors.New(`payload: missing "app_id"`)
	}
	if events == 0 {
		return errors.New(`payload: "events": empty`)
	}
	return nil
}

func validateEvent(i int, name string, timeMS int64) error {
	if name == "" {
		return fmt.Errorf(`payload: events[%d]: missing "name"`, i)
	}
	if timeMS < 0 {
		return fmt.Errorf(`payload: events[%d]: "time_ms": negative (%d)`, i, timeMS)
	}
	return nil
}

func validateTail(targets []string, attempt int, firstAttemptMS, notBeforeMS int64) error {
	var seen map[string]struct{} // for long lists; short ones are searched
	if len(targets) > 16 {
		seen = make(map[string]struct{}, len(targets))
	}
	for i, t := range targets {
		if t == "" {
			return fmt.Errorf("payload: targets[%d]: empty", i)
		}
		dup := false
		if seen != nil {
			_, dup = seen[t]
			seen[t] = struct{}{}
		} else {
			dup = slices.Contains(targets[:i], t)
		}
		if dup {
			return fmt.Errorf("payload: targets[%d]: duplicate %q", i, t)
		}
	}
	if attempt < 0 {
		return fmt.Errorf(`payload: "attempt": negative (%d)`, attempt)
	}
	if firstAttemptMS < 0 {
		return fmt.Errorf(`payload: "first_attempt_ms": negative (%d)`, firstAttemptMS)
	}
	if notBeforeMS < 0 {
		return fmt.Errorf(`payload: "not_before": negative (%d)`, notBeforeMS)
	}
	return nil
}

func validateID(id string) error {
	if id == "" {
		return errors.New(`payload: missing "id"`)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf(`payload: "id": %d bytes, limit %d`, len(id), maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return fmt.Errorf(`payload: "id": byte %d is %#02x; want printable ASCII without spaces`, i, c)
		}
	}
	return nil
}
