package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// RawEvent is one event kept as JSON text.
type RawEvent struct {
	// JSON is the event object exactly as it goes into a receiver body, minus
	// any "id" key: compact (no insignificant whitespace), "data" always a
	// JSON string, every other key as received (unknown keys preserved).
	// When the input event is already compact, has a string (or absent)
	// "data" and no "id" key, JSON is a sub-slice of the input (zero copy).
	// Otherwise it is re-encoded by Event.MarshalJSON (key order may then
	// change).
	JSON []byte
	// Name is the "name" value, unescaped.
	Name string
	// Channel is the "channel" value, unescaped ("" when absent).
	Channel string
	// ID is the event's own "id" value ("" when absent); never part of JSON.
	ID string
	// TimeMS is "time_ms" (0 when absent).
	TimeMS int64
}

// Size is the exact number of bytes AppendEvent writes for e.
func (e *RawEvent) Size() int {
	if e.ID == "" || len(e.JSON) < 2 {
		return len(e.JSON)
	}
	n := len(e.JSON) + len(`,"id":`) + stringLen(e.ID)
	if len(e.JSON) == 2 { // {} takes no comma
		n--
	}
	return n
}

// AppendEvent appends e.JSON with ,"id":<ID as a JSON string> spliced in
// before the final '}' when e.ID is not empty ({} becomes {"id":"..."}).
// e.JSON must be a JSON object without an "id" key, as DecodeRaw and ToRaw
// make it.
func AppendEvent(dst []byte, e *RawEvent) []byte {
	if e.ID == "" || len(e.JSON) < 2 {
		return append(dst, e.JSON...)
	}
	dst = append(dst, e.JSON[:len(e.JSON)-1]...)
	if len(e.JSON) == 2 {
		dst = append(dst, `"id":`...)
	} else {
		dst = append(dst, `,"id":`...)
	}
	dst = appendString(dst, e.ID)
	return append(dst, '}')
}

// ToRaw converts ev to a RawEvent: JSON is ev without its ID, as
// Event.MarshalJSON writes it.
func ToRaw(ev Event) (RawEvent, error) {
	id := ev.ID
	ev.ID = ""
	b, err := ev.MarshalJSON()
	if err != nil {
		return RawEvent{}, fmt.Errorf("payload: event: %w", err)
	}
	return RawEvent{JSON: b, Name: ev.Name, Channel: ev.Channel, ID: id, TimeMS: ev.TimeMS}, nil
}

// Event decodes e into an Event, as a receiver would decode what AppendEvent
// writes: e.ID, when set, is the event's ID.
func (e *RawEvent) Event() (Event, error) {
	ev, err := decodeEvent(e.JSON)
	if err != nil {
		return Event{}, fmt.Errorf("payload: event: %w", err)
	}
	if e.ID != "" {
		ev.ID = e.ID
	}
	return ev, nil
}

// RawEnvelope is a decoded queue message whose events stay raw. It may alias
// the bytes it was decoded from: do not modify them while it is in use.
type RawEnvelope struct {
	V              int
	ID             string
	AppID          string
	Events         []RawEvent
	Targets        []string // nil when absent or empty
	Attempt        int
	FirstAttemptMS int64
	NotBeforeMS    int64
	// Extra holds unknown top-level keys (unescaped) and their compact raw
	// values, in input order, duplicates included; AppendEnvelope writes
	// them back after the known keys, so retry and dead-letter envelopes
	// keep them.
	Extra []RawField
}

// RawField is one unknown top-level envelope key and its compact JSON value.
type RawField struct {
	Key   string
	Value []byte
}

// Event keys, by bit in the raw event scanner.
const (
	kName = iota
	kChannel
	kEvent
	kData
	kSocketID
	kUserID
	kSubscriptionCount
	kTimeMS
	kID
)

func eventKey(k []byte) int {
	switch string(k) {
	case "name":
		return kName
	case "channel":
		return kChannel
	case "event":
		return kEvent
	case "data":
		return kData
	case "socket_id":
		return kSocketID
	case "user_id":
		return kUserID
	case "subscription_count":
		return kSubscriptionCount
	case "time_ms":
		return kTimeMS
	case "id":
		return kID
	}
	return -1
}

// foldsToKnown reports whether the ASCII key k equals a known event key but
// for case (knownKey without the conversion).
func foldsToKnown(k []byte) bool {
	for _, known := range knownKeys {
		if len(k) != len(known) {
			continue
		}
		i := 0
		for i < len(k) && k[i]|0x20 == known[i]|0x20 && isLetterOrSame(k[i], known[i]) {
			i++
		}
		if i == len(k) {
			return true
		}
	}
	return false
}

// isLetterOrSame: folding with |0x20 is only valid for letters.
func isLetterOrSame(a, b byte) bool {
	if a == b {
		return true
	}
	a |= 0x20
	return 'a' <= a && a <= 'z'
}

// internName returns the name as a string, without allocating for Pusher's
// names or a repeat of prev.
func internName(b []byte, prev string) string {
	switch string(b) {
	case EventClientEvent:
		return EventClientEvent
	case EventMemberAdded:
		return EventMemberAdded
	case EventMemberRemoved:
		return EventMemberRemoved
	case EventChannelOccupied:
		return EventChannelOccupied
	case EventChannelVacated:
		return EventChannelVacated
	case EventCacheMiss:
		return EventCacheMiss
	case EventSubscriptionCount:
		return EventSubscriptionCount
	case prev:
		return prev
	}
	return string(b)
}

// maxFastUnknown is the most unknown keys an event may have on the fast
// path (they are checked pairwise for duplicates).
const maxFastUnknown = 8

// fastEvent scans the event object at pos, inside depth containers, when
// it can be kept as it is: compact, no "id", string "data", no duplicate
// keys, plain ASCII keys, every string valid UTF-8 without unpaired
// surrogates, known keys of the right type. Otherwise (including invalid
// JSON) it reports false and pos is unspecified.
func (s *scanner) fastEvent(depth int, prev *RawEvent) (RawEvent, bool) {
	var ev RawEvent
	b := s.b
	start := s.pos
	if depth+1 > maxDepth || s.peek() != '{' {
		return ev, false
	}
	s.pos++
	if s.peek() == '}' {
		s.pos++
		ev.JSON = b[start:s.pos:s.pos]
		return ev, true
	}
	var seen uint16
	var unknown [maxFastUnknown][]byte
	nUnknown := 0
	for {
		if s.peek() != '"' {
			return ev, false
		}
		ks := s.pos
		if f, ok := s.str(); !ok || f&(fEsc|fHigh) != 0 {
			return ev, false
		}
		key := b[ks+1 : s.pos-1]
		if s.peek() != ':' {
			return ev, false
		}
		s.pos++
		k := eventKey(key)
		if k >= 0 {
			if seen&(1<<k) != 0 {
				return ev, false
			}
			seen |= 1 << k
		}
		switch k {
		case kName, kChannel, kEvent, kSocketID, kUserID, kData:
			if s.peek() != '"' {
				if k == kData || !s.lit("null") {
					return ev, false
				}
				break
			}
			vs := s.pos
			f, ok := s.str()
			if !ok || f&fOdd != 0 {
				return ev, false
			}
			content := b[vs+1 : s.pos-1]
			switch {
			case k != kName && k != kChannel:
			case f&fEsc != 0:
				if k == kName {
					ev.Name = unquote(content)
				} else {
					ev.Channel = unquote(content)
				}
			case k == kName:
				ev.Name = internName(content, prev.Name)
			case string(content) == prev.Channel:
				ev.Channel = prev.Channel
			default:
				ev.Channel = string(content)
			}
		case kSubscriptionCount, kTimeMS:
			if s.peek() == 'n' {
				if !s.lit("null") {
					return ev, false
				}
				break
			}
			ns := s.pos
			if isInt, ok := s.number(); !ok || !isInt {
				return ev, false
			}
			n, ok := parseInt(b[ns:s.pos], 64)
			if !ok {
				return ev, false
			}
			if k == kTimeMS {
				ev.TimeMS = n
			}
		case kID:
			return ev, false
		default:
			if foldsToKnown(key) || nUnknown == maxFastUnknown {
				return ev, false
			}
			for _, u := range unknown[:nUnknown] {
				if bytes.Equal(u, key) {
					return ev, false
				}
			}
			unknown[nUnknown] = key
			nUnknown++
			if f, ok := s.value(depth + 1); !ok || f&(fWS|fOdd) != 0 {
				return ev, false
			}
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			ev.JSON = b[start:s.pos:s.pos]
			return ev, true
		default:
			return ev, false
		}
	}
}

// rawTop is what DecodeRaw's scan of the top-level object found: the last
// value of each known key (nil when absent), without surrounding space.
type rawTop struct {
	secret, payload                                       bool
	v, id, appID, targets, attempt, first, notBefore, evs []byte
	events                                                []RawEvent // parsed from evs when it is an array
	slow                                                  []int      // events that need decodeEvent; JSON holds their raw text
	extra                                                 []RawField
}

// DecodeRaw is Decode with raw events: it accepts and rejects exactly what
// Decode does, with the same errors, and returns the same envelope but for
// the events, which stay JSON (see RawEvent). Events that are compact, have
// a string "data" and no "id" are not copied: the result aliases b.
func DecodeRaw(b []byte) (*RawEnvelope, error) {
	s := scanner{b: b}
	s.ws()
	if s.peek() != '{' {
		_, ok := s.value(0)
		s.ws()
		if !ok || s.pos != len(b) {
			return nil, syntaxError(b)
		}
		return nil, decodeErr(ReasonMalformed, "want a JSON object, got %s", kindOf(b))
	}
	var t rawTop
	if !s.top(&t) {
		return nil, syntaxError(b)
	}
	if s.ws(); s.pos != len(b) {
		return nil, syntaxError(b)
	}
	return t.envelope()
}

// syntaxError is Decode's error for b, which the scanner found not to be
// valid JSON, so the text is encoding/json's.
func syntaxError(b []byte) error {
	_, err := Decode(b)
	if err == nil { // cannot happen: the scanner accepts what json.Valid accepts
		return decodeErr(ReasonMalformed, "not valid JSON (raw scanner)")
	}
	return err
}

// top scans the top-level object at pos into t.
func (s *scanner) top(t *rawTop) bool {
	s.pos++ // '{'
	s.ws()
	if s.peek() == '}' {
		s.pos++
		return true
	}
	for {
		if s.peek() != '"' {
			return false
		}
		ks := s.pos
		kf, ok := s.str()
		if !ok {
			return false
		}
		rawKey := s.b[ks+1 : s.pos-1]
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.pos++
		s.ws()
		var key string // set for unknown keys
		var dst *[]byte
		if kf&(fEsc|fHigh) != 0 {
			key = unquote(rawKey)
			dst = t.known(key)
		} else {
			dst = t.known(string(rawKey))
		}
		vs := s.pos
		if dst == &t.evs && s.peek() == '[' {
			if !s.events(t) {
				return false
			}
		} else {
			f, ok := s.value(1)
			if !ok {
				return false
			}
			if dst == nil {
				if kf&(fEsc|fHigh) == 0 {
					key = string(rawKey)
				}
				v := s.b[vs:s.pos:s.pos]
				if f&fWS != 0 {
					var c bytes.Buffer
					_ = json.Compact(&c, v) // valid: scanned above
					v = c.Bytes()
				}
				t.extra = append(t.extra, RawField{Key: key, Value: v})
			}
		}
		if dst != nil {
			*dst = s.b[vs:s.pos:s.pos]
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
			s.ws()
		case '}':
			s.pos++
			return true
		default:
			return false
		}
	}
}

// known returns where the raw value of the known key k goes, or nil for
// an unknown key; it notes the Sockudo keys.
func (t *rawTop) known(k string) *[]byte {
	switch k {
	case "v":
		return &t.v
	case "id":
		return &t.id
	case "app_id":
		return &t.appID
	case "events":
		return &t.evs
	case "targets":
		return &t.targets
	case "attempt":
		return &t.attempt
	case "first_attempt_ms":
		return &t.first
	case "not_before":
		return &t.notBefore
	case "app_secret":
		t.secret = true
	case "payload":
		t.payload = true
	}
	return nil
}

// events scans the "events" array at pos, replacing any earlier one.
func (s *scanner) events(t *rawTop) bool {
	t.events, t.slow = t.events[:0], t.slow[:0]
	if t.events == nil {
		t.events = make([]RawEvent, 0, 16)
	}
	s.pos++ // '['
	s.ws()
	if s.peek() == ']' {
		s.pos++
		return true
	}
	var prev RawEvent
	for {
		start := s.pos
		ev, ok := s.fastEvent(2, &prev)
		if !ok {
			s.pos = start
			if _, ok := s.value(2); !ok {
				return false
			}
			ev = RawEvent{JSON: s.b[start:s.pos:s.pos]}
			t.slow = append(t.slow, len(t.events))
		} else {
			prev = ev
		}
		t.events = append(t.events, ev)
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
			s.ws()
		case ']':
			s.pos++
			return true
		default:
			return false
		}
	}
}

// envelope applies Decode's checks, in Decode's order, to what top found.
func (t *rawTop) envelope() (*RawEnvelope, error) {
	switch {
	case t.secret:
		return nil, decodeErr(ReasonSockudoJob, "%q key: a Sockudo queue job, not a Hookline envelope", "app_secret")
	case t.payload:
		return nil, decodeErr(ReasonSockudoJob, "%q key: a Sockudo queue job, not a Hookline envelope", "payload")
	}
	if t.v == nil || isNullLit(t.v) {
		return nil, decodeErr(ReasonUnsupportedVersion, `missing "v"`)
	}
	if kindOf(t.v) != "number" {
		return nil, decodeErr(ReasonMalformed, `"v": want an integer, got %s`, kindOf(t.v))
	}
	v, ok := parseInt(t.v, 64)
	if !ok {
		return nil, decodeErr(ReasonMalformed, `"v": want an integer, got %s`, t.v)
	}
	if v > Version {
		return nil, fmt.Errorf("%w: v %d, this build reads up to %d", ErrFutureVersion, v, Version)
	}
	if v < 1 {
		return nil, decodeErr(ReasonUnsupportedVersion, `"v": %d is not a version`, v)
	}

	e := &RawEnvelope{V: int(v), Extra: t.extra}
	var err error
	if e.ID, err = rawString("id", t.id); err != nil {
		return nil, err
	}
	if e.AppID, err = rawString("app_id", t.appID); err != nil {
		return nil, err
	}
	if e.Targets, err = rawTargets(t.targets); err != nil {
		return nil, err
	}
	attempt, err := rawInt("attempt", t.attempt, strconv.IntSize, new(int))
	if err != nil {
		return nil, err
	}
	e.Attempt = int(attempt)
	if e.FirstAttemptMS, err = rawInt("first_attempt_ms", t.first, 64, new(int64)); err != nil {
		return nil, err
	}
	if e.NotBeforeMS, err = rawInt("not_before", t.notBefore, 64, new(int64)); err != nil {
		return nil, err
	}

	if t.evs != nil && !isNullLit(t.evs) {
		if t.evs[0] != '[' {
			return nil, decodeErr(ReasonMalformed, `"events": want an array, got %s`, kindOf(t.evs))
		}
		for _, i := range t.slow {
			ev, err := decodeEvent(t.events[i].JSON)
			if err != nil {
				return nil, decodeErr(ReasonMalformed, "events[%d]: %v", i, err)
			}
			if t.events[i], err = ToRaw(ev); err != nil {
				return nil, decodeErr(ReasonMalformed, "events[%d]: %v", i, err)
			}
		}
		e.Events = t.events
	}

	if err := e.validate(); err != nil {
		return nil, &DecodeError{Reason: ReasonInvalid, Err: err}
	}
	return e, nil
}

// rawString decodes the raw value of a string key; absent and null are "".
func rawString(key string, raw []byte) (string, error) {
	if raw == nil || isNullLit(raw) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", decodeErr(ReasonMalformed, "%q: %s", key, typeMsg(raw, (*string)(nil)))
	}
	return unquote(raw[1 : len(raw)-1]), nil
}

// rawInt decodes the raw value of an integer key of the given bit size;
// absent and null are 0. dst only names the Go type for the error.
func rawInt(key string, raw []byte, bits int, dst any) (int64, error) {
	if raw == nil || isNullLit(raw) {
		return 0, nil
	}
	if kindOf(raw) == "number" {
		if n, ok := parseInt(raw, bits); ok {
			return n, nil
		}
	}
	return 0, decodeErr(ReasonMalformed, "%q: %s", key, typeMsg(raw, dst))
}

// rawTargets decodes "targets": an array of strings (a null element is "");
// absent, null and empty are nil.
func rawTargets(raw []byte) ([]string, error) {
	if raw == nil || isNullLit(raw) {
		return nil, nil
	}
	bad := decodeErr(ReasonMalformed, "%q: %s", "targets", typeMsg(raw, (*[]string)(nil)))
	if raw[0] != '[' {
		return nil, bad
	}
	s := scanner{b: raw, pos: 1}
	s.ws()
	if s.peek() == ']' {
		return nil, nil
	}
	var out []string
	for {
		switch s.peek() {
		case '"':
			vs := s.pos
			s.str() // valid: scanned before
			out = append(out, unquote(raw[vs+1:s.pos-1]))
		case 'n':
			s.pos += len("null")
			out = append(out, "")
		default:
			return nil, bad
		}
		s.ws()
		if s.peek() == ']' {
			return out, nil
		}
		s.pos++ // ','
		s.ws()
	}
}

// validate is Envelope.Validate for a raw envelope, with the same errors.
func (e *RawEnvelope) validate() error {
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

// reservedKey reports whether an Extra key would change how Decode reads
// the envelope.
func reservedKey(k string) bool {
	switch k {
	case "v", "id", "app_id", "events", "targets", "attempt", "first_attempt_ms", "not_before", "app_secret", "payload":
		return true
	}
	return false
}

// AppendEnvelope validates e like Envelope.Validate and appends its compact
// JSON: "v", "id", "app_id", "events" (each event by AppendEvent, so its own
// ID goes back in), then "targets", "attempt", "first_attempt_ms" and
// "not_before" when not empty or zero, then the Extra keys. Extra keys must
// not be known or Sockudo keys and their values must be valid JSON.
// DecodeRaw and Decode read the result back as the same envelope.
func AppendEnvelope(dst []byte, e *RawEnvelope) ([]byte, error) {
	start := len(dst)
	out, err := appendEnvelope(dst, e)
	if err != nil || isASCII(out[start:]) {
		return out, err
	}
	// Events kept raw from an envelope another producer wrote may hold
	// characters SQS refuses; what goes back to the queue is ASCII.
	tail := append([]byte(nil), out[start:]...)
	return appendASCII(out[:start], tail), nil
}

func appendEnvelope(dst []byte, e *RawEnvelope) ([]byte, error) {
	if e == nil {
		return dst, errors.New("payload: nil envelope")
	}
	if err := e.validate(); err != nil {
		return dst, err
	}
	for i := range e.Events {
		if j := e.Events[i].JSON; len(j) < 2 || j[0] != '{' || j[len(j)-1] != '}' {
			return dst, fmt.Errorf("payload: events[%d]: JSON is not an object", i)
		}
	}
	for i, f := range e.Extra {
		if reservedKey(f.Key) {
			return dst, fmt.Errorf("payload: extra[%d]: key %q is not an extra key", i, f.Key)
		}
		s := scanner{b: f.Value}
		if _, ok := s.value(1); !ok || s.pos != len(f.Value) {
			return dst, fmt.Errorf("payload: extra[%d]: %q: not a JSON value", i, f.Key)
		}
	}
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(e.V), 10)
	dst = append(dst, `,"id":`...)
	dst = appendString(dst, e.ID)
	dst = append(dst, `,"app_id":`...)
	dst = appendString(dst, e.AppID)
	dst = append(dst, `,"events":[`...)
	for i := range e.Events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendEvent(dst, &e.Events[i])
	}
	dst = append(dst, ']')
	if len(e.Targets) > 0 {
		dst = append(dst, `,"targets":[`...)
		for i, t := range e.Targets {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, t)
		}
		dst = append(dst, ']')
	}
	if e.Attempt != 0 {
		dst = append(dst, `,"attempt":`...)
		dst = strconv.AppendInt(dst, int64(e.Attempt), 10)
	}
	if e.FirstAttemptMS != 0 {
		dst = append(dst, `,"first_attempt_ms":`...)
		dst = strconv.AppendInt(dst, e.FirstAttemptMS, 10)
	}
	if e.NotBeforeMS != 0 {
		dst = append(dst, `,"not_before":`...)
		dst = strconv.AppendInt(dst, e.NotBeforeMS, 10)
	}
	for _, f := range e.Extra {
		dst = append(dst, ',')
		dst = appendString(dst, f.Key)
		dst = append(dst, ':')
		dst = append(dst, f.Value...)
	}
	return append(dst, '}'), nil
}

// IDPrefix is the JSON text every delivery id of an envelope starts with:
// the opening quote and the envelope id, escaped, then ':'. With it,
// AppendEventIndexed writes an event's id "<envelope id>:<index>" without
// building the string.
func IDPrefix(envID string) string {
	b := appendString(make([]byte, 0, len(envID)+3), envID)
	return string(append(b[:len(b)-1], ':'))
}

// AppendEventIndexed appends exactly what AppendEvent would for e with its
// ID set to "<envelope id>:<index>", prefix being IDPrefix(envelope id).
func AppendEventIndexed(dst []byte, e *RawEvent, prefix string, index int) []byte {
	if len(e.JSON) < 2 {
		return append(dst, e.JSON...)
	}
	dst = append(dst, e.JSON[:len(e.JSON)-1]...)
	if len(e.JSON) == 2 {
		dst = append(dst, `"id":`...)
	} else {
		dst = append(dst, `,"id":`...)
	}
	dst = append(dst, prefix...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	return append(dst, '"', '}')
}

// SizeIndexed is the exact number of bytes AppendEventIndexed writes.
func (e *RawEvent) SizeIndexed(prefix string, index int) int {
	if len(e.JSON) < 2 {
		return len(e.JSON)
	}
	n := len(e.JSON) + len(`,"id":`) + len(prefix) + intLen(int64(index)) + len(`"`)
	if len(e.JSON) == 2 {
		n--
	}
	return n
}
