// Package payload defines what travels through Hookline: Pusher webhook
// event records ([Event]), the queue message that carries them on SQS
// ([Envelope], [Encode], [Decode]), the body POSTed to receivers
// ([EncodeBody], [DecodeBody]) and channel-type derivation ([ChannelType]).
//
// # Events
//
// [Event] has a field for every key Pusher defines. Unknown keys survive a
// decode→encode round trip unchanged (re-encoded compactly, after the known
// keys, sorted by key), and unknown event names pass through. Keys are
// matched exactly: "Name" is an unknown key, not "name". On decode a
// non-string "data" (object, array, number, bool) is normalised to its compact
// JSON text (invalid UTF-8 in it replaced by U+FFFD, as in any decoded
// string), because the Pusher Go SDK rejects non-string data; a null "data"
// is the same as an absent one. Empty string fields, a zero "time_ms" and a
// nil "subscription_count" are omitted on encode.
//
// # Queue envelope
//
// One SQS message is one [Envelope]: one app, one or more events, version
// [Version]. Everything payload writes ([Encode], [AppendEnvelope], and
// [Event.MarshalJSON] and [EncodeBody] with it) is ASCII: every other
// character is a \uXXXX escape (a surrogate pair above U+FFFF; invalid
// UTF-8 as \ufffd), because SQS refuses U+FFFE, U+FFFF and others, and
// emulators such as fauxqs everything above U+FFFF. A JSON reader gets the
// same strings back; [EventSize] and [EnvelopeOverhead] count the escapes.
// [Decode] classifies what it cannot use, because the worker branches on
// it:
//
//   - a "v" above [Version] returns an error matching [ErrFutureVersion]
//     (release it; it is not an attempt);
//   - everything else returns a [*DecodeError] whose Reason is
//     [ReasonSockudoJob], [ReasonMalformed], [ReasonUnsupportedVersion] or
//     [ReasonInvalid] (dead-letter it at once with that reason).
//
// Unknown top-level envelope keys are ignored, so a producer may add an
// optional key without a version bump; anything an older worker must not
// ignore needs a new version.
//
// # Receiver body
//
// [EncodeBody] writes exactly {"time_ms":<int>,"events":[...]}: compact, no
// HTML escaping, deterministic, so the bytes can be signed and sent as they
// are. The top-level time_ms is when that delivery attempt was built, not
// when the events happened (each event keeps its own time_ms), so retried
// bodies stay fresh for receivers that reject old ones; unlike Pusher, it
// does not show queueing delay.
//
// # Raw path
//
// The worker never needs an event's fields beyond its name, channel, id and
// time, so it keeps events as JSON text from SQS receive to the HTTP wire.
// [DecodeRaw] is [Decode] with [RawEvent]s: it accepts and rejects exactly
// the same inputs with the same errors, and yields a [RawEnvelope] whose
// unknown top-level keys ride along in Extra. A hand-rolled scanner does the
// work without reflection; an event that is compact, has a string (or no)
// "data", no "id", no duplicate keys, plain ASCII keys and only valid UTF-8
// is kept as a sub-slice of the input, and any other event is decoded as
// Decode decodes it and re-encoded (so its JSON always reads back as the
// event Decode returns). [AppendBody] writes the receiver body from raw
// events, splicing each event's delivery id in ([AppendEvent]), with exact
// sizes up front ([BodySize], [BodyOverhead], [RawEvent.Size]) and no
// allocation given room; [AppendEnvelope] writes a retry or dead-letter
// envelope that keeps the original events and extra keys. [ToRaw] and
// [RawEvent.Event] convert between the two forms.
//
// The raw bytes differ from EncodeBody's only in spelling, never in what a
// JSON decoder reads: a kept event's keys stay in input order with their
// escapes and null values, and the delivery id comes last. Extra values are
// passed through byte for byte, including any invalid UTF-8 (Decode ignores
// those keys, so there is nothing to agree with).
//
// [EventSize] and [EnvelopeOverhead] give the exact encoded sizes Encode
// produces, for packing envelopes without encoding them.
package payload
