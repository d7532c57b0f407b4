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
// JSON text, because the Pusher Go SDK rejects non-string data; a null "data"
// is the same as an absent one. Empty string fields, a zero "time_ms" and a
// nil "subscription_count" are omitted on encode.
//
// # Queue envelope
//
// One SQS message is one [Envelope]: one app, one or more events, version
// [Version]. [Decode] classifies what it cannot use, because the worker
// branches on it:
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
package payload
