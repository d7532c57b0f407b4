package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/signing"
)

// Response is the function's result for a payload it accepted.
type Response struct {
	// Received is the number of events in the Pusher body.
	Received int `json:"received"`
}

// PayloadError is returned for an invocation payload the function cannot use. Lambda reports it
// as a function error whose errorType is "PayloadError".
type PayloadError struct{ Err error }

func (e *PayloadError) Error() string { return "lambda-receiver: " + e.Err.Error() }
func (e *PayloadError) Unwrap() error { return e.Err }

// errSignature means a soketi-shaped invocation's X-Pusher-Signature is missing or wrong.
var errSignature = errors.New("X-Pusher-Signature does not match the payload")

// logPrefix starts every event line.
const logPrefix = "hookline-event"

// handler handles one invocation at a time (Lambda never runs two in one process).
type handler struct {
	// secret verifies soketi-shaped invocations; "" skips verification.
	secret string
	// out receives one line per event.
	out io.Writer
}

// handle takes the invocation payload as raw bytes, so the soketi shape's "payload" can be
// verified byte for byte.
func (h *handler) handle(_ context.Context, in json.RawMessage) (Response, error) {
	body, err := h.decode(in)
	if err != nil {
		return Response{}, &PayloadError{err}
	}
	var lines bytes.Buffer
	for _, ev := range body.Events {
		lines.WriteString(logPrefix)
		field(&lines, "name", ev.Name)
		field(&lines, "channel", ev.Channel)
		field(&lines, "id", ev.ID)
		field(&lines, "user_id", ev.UserID)
		lines.WriteByte('\n')
	}
	if _, err := h.out.Write(lines.Bytes()); err != nil {
		return Response{}, fmt.Errorf("lambda-receiver: write log: %w", err)
	}
	return Response{Received: len(body.Events)}, nil
}

// decode recognises the two shapes: an object with "payload" and no "events" is soketi's,
// anything else must be a Pusher body.
func (h *handler) decode(in []byte) (*payload.Body, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(in, &top); err != nil || top == nil {
		return nil, errors.New("invocation payload is not a JSON object")
	}
	_, hasPayload := top["payload"]
	_, hasEvents := top["events"]
	if !hasPayload || hasEvents {
		return payload.DecodeBody(in)
	}

	// soketi shape. json.RawMessage keeps the exact bytes of "payload": the signature is over
	// the body Hookline built, so it must never be re-marshalled before verifying.
	var inv struct {
		Payload json.RawMessage   `json:"payload"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(in, &inv); err != nil {
		return nil, fmt.Errorf(`soketi shape: want {"payload":{...},"headers":{"<name>":"<string>",...}}: %w`, err)
	}
	if h.secret != "" && !signing.Verify(h.secret, inv.Payload, header(inv.Headers, signing.HeaderSignature)) {
		return nil, errSignature
	}
	body, err := payload.DecodeBody(inv.Payload)
	if err != nil {
		return nil, fmt.Errorf(`soketi shape: "payload": %w`, err)
	}
	return body, nil
}

// header returns the value of the header named name, matched case-insensitively, or "".
func header(headers map[string]string, name string) string {
	if v, ok := headers[name]; ok {
		return v
	}
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// field appends " key=value". The value is quoted (Go syntax) only when it would break the
// line's key=value form: when it contains a space, '"', '=' or a non-printable rune. Pusher
// event names, channel names and Hookline ids never need quotes; an absent field is "key=".
func field(b *bytes.Buffer, key, value string) {
	b.WriteByte(' ')
	b.WriteString(key)
	b.WriteByte('=')
	if strings.ContainsFunc(value, func(r rune) bool {
		return r == ' ' || r == '"' || r == '=' || !unicode.IsPrint(r)
	}) {
		value = strconv.Quote(value)
	}
	b.WriteString(value)
}
