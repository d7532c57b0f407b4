package payload

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Body is the JSON body POSTed to receivers (and given to Lambda functions):
// {"time_ms":<int>,"events":[...]}.
type Body struct {
	// TimeMS is when this delivery attempt was built, in Unix ms.
	TimeMS int64 `json:"time_ms"`
	// Events are the events for one endpoint, already filtered.
	Events []Event `json:"events"`
}

// EncodeBody returns exactly {"time_ms":<timeMS>,"events":[...]}: compact,
// without HTML escaping, without a trailing newline, the same bytes for the
// same input. Sign these bytes and send them unchanged. It fails when events
// is empty or an event has no name: a delivery with nothing in it is a bug.
func EncodeBody(timeMS int64, events []Event) ([]byte, error) {
	if len(events) == 0 {
		return nil, errors.New("payload: body: no events")
	}
	for i := range events {
		if events[i].Name == "" {
			return nil, fmt.Errorf(`payload: body: events[%d]: missing "name"`, i)
		}
	}
	return marshal(Body{TimeMS: timeMS, Events: events})
}

// DecodeBody parses a Pusher webhook body, as sent by Pusher, soketi, Sockudo
// or Hookline. It requires an integer "time_ms" and an "events" array of
// objects, each with a string "name"; "events" may be empty. Unknown
// top-level keys are ignored. Events are decoded as by Event.UnmarshalJSON
// (non-string data becomes its JSON text). Errors say where and what and are
// meant for a 400 response.
func DecodeBody(b []byte) (*Body, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		if !json.Valid(b) {
			return nil, fmt.Errorf("payload: body: not valid JSON: %w", err)
		}
		return nil, fmt.Errorf("payload: body: want a JSON object, got %s", kindOf(b))
	}
	if m == nil {
		return nil, errors.New("payload: body: want a JSON object, got null")
	}
	rawTime, ok := m["time_ms"]
	if !ok || isNull(rawTime) {
		return nil, errors.New(`payload: body: missing "time_ms"`)
	}
	var body Body
	if err := decodeInt("time_ms", rawTime, &body.TimeMS); err != nil {
		return nil, fmt.Errorf("payload: body: %w", err)
	}
	rawEvents, ok := m["events"]
	if !ok || isNull(rawEvents) {
		return nil, errors.New(`payload: body: missing "events"`)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(rawEvents, &raws); err != nil {
		return nil, fmt.Errorf(`payload: body: "events": want an array, got %s`, kindOf(rawEvents))
	}
	body.Events = make([]Event, len(raws))
	for i, r := range raws {
		ev, err := decodeEvent(r)
		if err != nil {
			return nil, fmt.Errorf("payload: body: events[%d]: %w", i, err)
		}
		if ev.Name == "" {
			return nil, fmt.Errorf(`payload: body: events[%d]: missing "name"`, i)
		}
		body.Events[i] = ev
	}
	return &body, nil
}

// AppendBody appends exactly {"time_ms":<timeMS>,"events":[...]} with each
// event written by AppendEvent: the raw counterpart of EncodeBody, without
// reflection, and without allocating when dst has room for BodySize bytes.
// DecodeBody reads it back as the events it was given. The caller
// guarantees at least one event, each with a name.
func AppendBody(dst []byte, timeMS int64, events []RawEvent) []byte {
	dst = append(dst, `{"time_ms":`...)
	dst = strconv.AppendInt(dst, timeMS, 10)
	dst = append(dst, `,"events":[`...)
	for i := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendEvent(dst, &events[i])
	}
	return append(dst, ']', '}')
}

// BodySize is exactly len(AppendBody(nil, timeMS, events)).
func BodySize(timeMS int64, events []RawEvent) int {
	n := BodyOverhead(timeMS)
	for i := range events {
		if i > 0 {
			n++
		}
		n += events[i].Size()
	}
	return n
}

// BodyOverhead is BodySize less the events' sizes and the commas between
// them: len(`{"time_ms":`) + the digits of timeMS + len(`,"events":[`) +
// len(`]}`).
func BodyOverhead(timeMS int64) int {
	return len(`{"time_ms":`) + intLen(timeMS) + len(`,"events":[`) + len(`]}`)
}
