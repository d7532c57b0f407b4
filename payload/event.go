package payload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// Pusher webhook event names. Other names pass through unchanged.
const (
	EventChannelOccupied   = "channel_occupied"
	EventChannelVacated    = "channel_vacated"
	EventMemberAdded       = "member_added"
	EventMemberRemoved     = "member_removed"
	EventClientEvent       = "client_event"
	EventCacheMiss         = "cache_miss"
	EventSubscriptionCount = "subscription_count"
)

// Event is one Pusher webhook event record.
//
// Its JSON form is an object with, in this order, "name", "channel", "event",
// "data", "socket_id", "user_id", "subscription_count", "time_ms", "id", then
// any unknown keys the event was decoded with, sorted. See the package
// documentation for the decoding rules.
type Event struct {
	// Name is the webhook event name, e.g. "member_added". Required.
	Name string `json:"name"`
	// Channel is the channel the event happened on.
	Channel string `json:"channel,omitempty"`
	// Event is the client event's name (client_event only).
	Event string `json:"event,omitempty"`
	// Data is the client event's data, always a string (JSON text when the
	// producer sent an object).
	Data string `json:"data,omitempty"`
	// SocketID is the socket that caused the event.
	SocketID string `json:"socket_id,omitempty"`
	// UserID is the user of a member_added/member_removed event or of the
	// sending socket.
	UserID string `json:"user_id,omitempty"`
	// SubscriptionCount is the count of a subscription_count event; nil when
	// absent.
	SubscriptionCount *int64 `json:"subscription_count,omitempty"`
	// TimeMS is when the event happened, in Unix milliseconds.
	TimeMS int64 `json:"time_ms,omitempty"`
	// ID is the event's delivery id, the same on every retry, so receivers
	// can de-duplicate: the one it was enqueued with (ingest sets
	// "ing-<hash of key and body>:<index in the POST>", a producer caller may
	// set its own), else "<envelope id>:<index in the envelope>", set at
	// delivery.
	ID string `json:"id,omitempty"`

	// extra holds unknown keys with their compact JSON values; nil when
	// there are none.
	extra map[string]json.RawMessage
}

// eventFields has Event's known fields without its methods, for encoding.
type eventFields struct {
	Name              string `json:"name"`
	Channel           string `json:"channel,omitempty"`
	Event             string `json:"event,omitempty"`
	Data              string `json:"data,omitempty"`
	SocketID          string `json:"socket_id,omitempty"`
	UserID            string `json:"user_id,omitempty"`
	SubscriptionCount *int64 `json:"subscription_count,omitempty"`
	TimeMS            int64  `json:"time_ms,omitempty"`
	ID                string `json:"id,omitempty"`
}

// MarshalJSON encodes e compactly, without HTML escaping, with unknown keys
// after the known ones in sorted order.
func (e Event) MarshalJSON() ([]byte, error) {
	b, err := marshal(eventFields{
		Name: e.Name, Channel: e.Channel, Event: e.Event, Data: e.Data,
		SocketID: e.SocketID, UserID: e.UserID, SubscriptionCount: e.SubscriptionCount,
		TimeMS: e.TimeMS, ID: e.ID,
	})
	if err != nil || len(e.extra) == 0 {
		return b, err
	}
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1]) // drop '}'; "name" is always written, so a ',' follows
	for _, k := range slices.Sorted(maps.Keys(e.extra)) {
		kb, err := marshal(k)
		if err != nil {
			return nil, err
		}
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(e.extra[k])
	}
	buf.WriteByte('}')
	return toASCII(buf.Bytes()), nil
}

// UnmarshalJSON decodes a Pusher event object into e, replacing its contents.
// A JSON null leaves e unchanged.
func (e *Event) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	ev, err := decodeEvent(b)
	if err != nil {
		return fmt.Errorf("payload: event: %w", err)
	}
	*e = ev
	return nil
}

// decodeEvent decodes one event object. Its errors name the key, not the
// event's position; callers add that.
func decodeEvent(b []byte) (Event, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return Event{}, fmt.Errorf("want a JSON object, got %s", kindOf(b))
	}
	var e Event
	for _, k := range slices.Sorted(maps.Keys(m)) { // sorted: the first error is deterministic
		raw := m[k]
		var err error
		switch k {
		case "name":
			err = decodeString(k, raw, &e.Name)
		case "channel":
			err = decodeString(k, raw, &e.Channel)
		case "event":
			err = decodeString(k, raw, &e.Event)
		case "data":
			e.Data, err = decodeData(raw)
		case "socket_id":
			err = decodeString(k, raw, &e.SocketID)
		case "user_id":
			err = decodeString(k, raw, &e.UserID)
		case "subscription_count":
			if !isNull(raw) {
				var n int64
				err = decodeInt(k, raw, &n)
				e.SubscriptionCount = &n
			}
		case "time_ms":
			err = decodeInt(k, raw, &e.TimeMS)
		case "id":
			err = decodeString(k, raw, &e.ID)
		default:
			if known := knownKey(k); known != "" {
				// The Go SDK matches JSON keys case-insensitively: it would
				// read this as the known field.
				return Event{}, fmt.Errorf("%q differs from %q only in case", k, known)
			}
			var c bytes.Buffer
			if err := json.Compact(&c, raw); err != nil {
				return Event{}, fmt.Errorf("%q: %w", k, err)
			}
			if e.extra == nil {
				e.extra = make(map[string]json.RawMessage)
			}
			e.extra[k] = toASCII(c.Bytes()) // as Encode will write it
		}
		if err != nil {
			return Event{}, err
		}
	}
	return e, nil
}

var knownKeys = []string{"name", "channel", "event", "data", "socket_id", "user_id", "subscription_count", "time_ms", "id"}

// knownKey returns the known event key that k equals but for case, or "".
func knownKey(k string) string {
	for _, known := range knownKeys {
		if strings.EqualFold(k, known) {
			return known
		}
	}
	return ""
}

// decodeData returns "data" as a string: a JSON string as is, null as "",
// anything else as its compact JSON text.
func decodeData(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var c bytes.Buffer
	if err := json.Compact(&c, raw); err != nil {
		return "", fmt.Errorf(`"data": %w`, err)
	}
	return toValidUTF8(c.String()), nil
}

// toValidUTF8 replaces each byte of s that is not part of valid UTF-8 by
// U+FFFD, as encoding/json does when it decodes a string, so that the text
// of non-string data is a string that survives encoding.
func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func decodeString(key string, raw json.RawMessage, dst *string) error {
	if isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%q: want a string, got %s", key, kindOf(raw))
	}
	return nil
}

func decodeInt(key string, raw json.RawMessage, dst *int64) error {
	if isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		if kindOf(raw) == "number" {
			return fmt.Errorf("%q: want an integer, got %s", key, raw)
		}
		return fmt.Errorf("%q: want an integer, got %s", key, kindOf(raw))
	}
	return nil
}

func isNull(raw []byte) bool { return string(bytes.TrimSpace(raw)) == "null" }

// kindOf names the JSON type of raw for error messages.
func kindOf(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch c := raw[0]; {
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "bool"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "number"
	default:
		return "invalid JSON"
	}
}

// marshal encodes v compactly without HTML escaping and without the
// encoder's trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return toASCII(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}
