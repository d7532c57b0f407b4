// Package receiver is the receiving end of a Pusher webhook: it checks a
// request against the rules the official Pusher SDKs apply (docs/DESIGN.md
// §2) and records what arrived.
//
// [Verify] (or a configured [Verifier]) checks one request and returns a
// [*Delivery] or a [*RejectError] whose Rule says which rule failed.
// [Recorder] is an http.Handler for tests: it verifies every request,
// answers rejections with their status and reason, answers accepted
// deliveries as scripted, and lets a test wait for requests and events
// without sleeping. [NewServer] starts a loopback test server that also
// checks header case, which Go's server hides by canonicalising header
// names; see [NewRawCaseListener] and [EnableRawCase] for other servers.
//
// The rules, in the order they are checked:
//
//   - method POST (405);
//   - protocol exactly HTTP/1.1 (505): PHP receivers read headers with
//     their exact case, and HTTP/2 lowercases them;
//   - X-Pusher-Key, X-Pusher-Signature and Content-Type spelled in
//     canonical case on the wire, each at most once (400); checked only
//     when the raw head is available (Delivery.CaseChecked);
//   - Content-Type exactly "application/json", no parameters (415: the
//     Node SDK's isValid() fails otherwise);
//   - X-Pusher-Key present and known (401);
//   - X-Pusher-Signature 64 lowercase hex digits (401) equal to the
//     HMAC-SHA256 of the body with the app secret (401, constant time);
//   - X-Hookline-Attempt, when present, an integer ≥ 1 (400);
//   - the body is {"time_ms":<integer>,"events":[...]}, every event has a
//     string "name", and "channel", "event", "data", "socket_id" and
//     "user_id" are JSON strings when present (not null, and "data" not an
//     object: the Go SDK rejects that), in the raw bytes (400). The Go SDK
//     matches keys case-insensitively, so a key that differs from one of
//     these only in case ("Data", "EVENTS") is rejected too, as is a
//     duplicate key: SDKs would disagree about which value counts;
//   - the top-level time_ms within 5 minutes of the receiver's clock, in
//     either direction, and not 0 (401: the Python SDK returns nothing for
//     such a body).
package receiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/signing"
)

// HeaderAttempt carries the 1-based delivery attempt number.
const HeaderAttempt = "X-Hookline-Attempt"

// DefaultMaxSkew is how far the top-level time_ms may be from the
// receiver's clock: the Python SDK's 300 000 ms.
const DefaultMaxSkew = 5 * time.Minute

// Rule names a check of Verify; a RejectError carries the one that failed.
type Rule string

// The rules Verify applies, in order.
const (
	RuleMethod      Rule = "method"       // 405: not POST
	RuleProto       Rule = "proto"        // 505: not HTTP/1.1
	RuleCapture     Rule = "capture"      // 500: raw head expected but not captured (receiver bug)
	RuleHeaderCase  Rule = "header-case"  // 400: header name not in canonical case, or repeated
	RuleContentType Rule = "content-type" // 415: Content-Type not exactly application/json
	RuleKey         Rule = "key"          // 401: X-Pusher-Key missing or unknown
	RuleSignature   Rule = "signature"    // 401: X-Pusher-Signature missing, malformed or wrong
	RuleAttempt     Rule = "attempt"      // 400: X-Hookline-Attempt not an integer ≥ 1
	RuleBody        Rule = "body"         // 400: body breaks the Pusher body shape
	RuleStale       Rule = "stale"        // 401: top-level time_ms too far from now
)

// RejectError is a request that a Pusher SDK would refuse. Status is the
// HTTP status to answer with, Reason says what was wrong (no secrets).
type RejectError struct {
	Rule   Rule
	Status int
	Reason string
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("receiver: %d %s: %s", e.Status, e.Rule, e.Reason)
}

func reject(rule Rule, status int, format string, args ...any) *RejectError {
	return &RejectError{Rule: rule, Status: status, Reason: fmt.Sprintf(format, args...)}
}

// Delivery is one verified webhook request.
type Delivery struct {
	// AppID and Key identify the app the request was signed for.
	AppID, Key string
	// Path and RawQuery are the request target's path and query.
	Path, RawQuery string
	// Attempt is X-Hookline-Attempt, 1-based; 0 when absent.
	Attempt int
	// Header is the request's header (canonicalised by net/http).
	Header http.Header
	// RawBody is the body as received; Body is its decoded form.
	RawBody []byte
	Body    *payload.Body
	// Received is when Verify ran, by the Verifier's clock.
	Received time.Time
	// CaseChecked is true when header names were checked on the raw
	// request head; false when the server was not prepared for it (see
	// NewServer), in which case only that check was skipped.
	CaseChecked bool

	// Seq is the 1-based arrival number of the request at a Recorder; 0
	// from Verify.
	Seq int
	// Status is the status a Recorder answered with; 0 from Verify, and
	// while the answer is pending or when the client left before it.
	Status int
}

// Verifier checks requests against the Pusher SDK rules (see the package
// documentation). The zero value of each optional field is its default.
type Verifier struct {
	// Apps resolves X-Pusher-Key. Required.
	Apps Apps
	// Now is the receiver's clock. Default time.Now.
	Now func() time.Time
	// MaxSkew is how far time_ms may be from Now. Default DefaultMaxSkew.
	MaxSkew time.Duration
}

// Verify checks r, whose body has been read into body, with the default
// clock and skew. It returns the delivery, or a *RejectError.
func Verify(apps Apps, r *http.Request, body []byte) (*Delivery, error) {
	return (&Verifier{Apps: apps}).Verify(r, body)
}

// Verify checks r, whose body has been read into body. It returns the
// delivery, or a *RejectError for the first rule that fails. Reasons never
// contain the secret or the expected signature.
func (v *Verifier) Verify(r *http.Request, body []byte) (*Delivery, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	received := now()
	maxSkew := v.MaxSkew
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}

	if r.Method != http.MethodPost {
		return nil, reject(RuleMethod, http.StatusMethodNotAllowed, "method %s, want POST", r.Method)
	}
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		return nil, reject(RuleProto, http.StatusHTTPVersionNotSupported,
			"protocol %s, want HTTP/1.1 (PHP receivers read headers with their exact case)", r.Proto)
	}
	caseChecked := false
	if h, ok := r.Context().Value(rawHeadKey{}).(rawHead); ok {
		if !h.captured {
			return nil, reject(RuleCapture, http.StatusInternalServerError,
				"raw request head not captured; cannot check header case")
		}
		if err := checkHeaderCase(h.b); err != nil {
			return nil, err
		}
		caseChecked = true
	}
	if ct := r.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/json" {
		return nil, reject(RuleContentType, http.StatusUnsupportedMediaType,
			"Content-Type %s, want exactly \"application/json\" (no charset)", quoteAll(ct))
	}

	keys := r.Header.Values(signing.HeaderKey)
	if len(keys) == 0 || keys[0] == "" {
		return nil, reject(RuleKey, http.StatusUnauthorized, "missing %s", signing.HeaderKey)
	}
	if len(keys) > 1 {
		return nil, reject(RuleKey, http.StatusUnauthorized, "%d %s headers, want 1", len(keys), signing.HeaderKey)
	}
	key := keys[0]
	var appID, secret string
	ok := false
	if v.Apps != nil {
		appID, secret, ok = v.Apps.SecretForKey(key)
	}
	if !ok {
		return nil, reject(RuleKey, http.StatusUnauthorized, "unknown key %q", key)
	}

	sigs := r.Header.Values(signing.HeaderSignature)
	switch {
	case len(sigs) == 0 || sigs[0] == "":
		return nil, reject(RuleSignature, http.StatusUnauthorized, "missing %s", signing.HeaderSignature)
	case len(sigs) > 1:
		return nil, reject(RuleSignature, http.StatusUnauthorized, "%d %s headers, want 1", len(sigs), signing.HeaderSignature)
	case !isLowerHex64(sigs[0]):
		return nil, reject(RuleSignature, http.StatusUnauthorized,
			"%s is not 64 lowercase hex digits", signing.HeaderSignature)
	case !signing.Verify(secret, body, sigs[0]):
		return nil, reject(RuleSignature, http.StatusUnauthorized,
			"%s does not match the body signed with the secret of app %q", signing.HeaderSignature, appID)
	}

	attempt := 0
	if vals := r.Header.Values(HeaderAttempt); len(vals) > 0 {
		n, err := strconv.Atoi(vals[0])
		if len(vals) > 1 || err != nil || n < 1 || vals[0] != strconv.Itoa(n) {
			return nil, reject(RuleAttempt, http.StatusBadRequest, "%s %s, want one integer ≥ 1", HeaderAttempt, quoteAll(vals))
		}
		attempt = n
	}

	if err := checkRawBody(body); err != nil {
		return nil, reject(RuleBody, http.StatusBadRequest, "%v", err)
	}
	b, err := payload.DecodeBody(body)
	if err != nil {
		return nil, reject(RuleBody, http.StatusBadRequest, "%v", err)
	}
	nowMS := received.UnixMilli()
	if b.TimeMS == 0 {
		return nil, reject(RuleStale, http.StatusUnauthorized, "time_ms is 0")
	}
	if skew := nowMS - b.TimeMS; skew > maxSkew.Milliseconds() || -skew > maxSkew.Milliseconds() {
		return nil, reject(RuleStale, http.StatusUnauthorized,
			"stale: time_ms %d is %v from the receiver's clock (%d), limit %v",
			b.TimeMS, time.Duration(skew)*time.Millisecond, nowMS, maxSkew)
	}

	return &Delivery{
		AppID:       appID,
		Key:         key,
		Path:        r.URL.Path,
		RawQuery:    r.URL.RawQuery,
		Attempt:     attempt,
		Header:      r.Header.Clone(),
		RawBody:     bytes.Clone(body),
		Body:        b,
		Received:    received,
		CaseChecked: caseChecked,
	}, nil
}

// caseHeaders must appear on the wire with exactly this spelling.
var caseHeaders = []string{signing.HeaderKey, signing.HeaderSignature, "Content-Type"}

// checkHeaderCase checks the header names of a raw request head.
func checkHeaderCase(head []byte) error {
	seen := make(map[string]int, len(caseHeaders))
	lines := strings.Split(string(head), "\n")
	for _, l := range lines[1:] { // lines[0] is the request line
		name, _, ok := strings.Cut(strings.TrimSuffix(l, "\r"), ":")
		if !ok || name == "" || name[0] == ' ' || name[0] == '\t' {
			continue
		}
		for _, want := range caseHeaders {
			if !strings.EqualFold(name, want) {
				continue
			}
			if name != want {
				return reject(RuleHeaderCase, http.StatusBadRequest,
					"header %q on the wire, want %q (PHP receivers read headers with their exact case)", name, want)
			}
			if seen[want]++; seen[want] > 1 {
				return reject(RuleHeaderCase, http.StatusBadRequest, "header %q sent more than once", want)
			}
		}
	}
	return nil
}

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func quoteAll(vals []string) string {
	if len(vals) == 0 {
		return "missing"
	}
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// Keys the Pusher Go SDK decodes (case-insensitively, as encoding/json
// does), with the JSON kind each must have.
var (
	bodyKeys  = map[string]string{"time_ms": "number", "events": "array"}
	eventKeys = map[string]string{
		"name": "string", "channel": "string", "event": "string", "data": "string",
		"socket_id": "string", "user_id": "string",
	}
)

// checkRawBody applies the rules payload.DecodeBody cannot see, because it
// normalises: types of string fields in the raw JSON (null and objects are
// not strings), keys that the Go SDK would also match case-insensitively,
// and duplicate keys. Structure errors are left to DecodeBody, which words
// them better.
func checkRawBody(body []byte) error {
	top, err := objectMembers(body)
	if err != nil {
		return nil // not an object: DecodeBody says so
	}
	if err := checkMembers("", top, bodyKeys); err != nil {
		return err
	}
	for _, m := range top {
		if m.key != "events" {
			continue
		}
		var events []json.RawMessage
		if json.Unmarshal(m.value, &events) != nil {
			return nil
		}
		for i, ev := range events {
			members, err := objectMembers(ev)
			if err != nil {
				return nil
			}
			if err := checkMembers(fmt.Sprintf("events[%d]: ", i), members, eventKeys); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkMembers(where string, members []member, known map[string]string) error {
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if seen[m.key] {
			return fmt.Errorf("%sduplicate key %q", where, m.key)
		}
		seen[m.key] = true
		for k, kind := range known {
			if !strings.EqualFold(m.key, k) {
				continue
			}
			if m.key != k {
				return fmt.Errorf("%skey %q differs from %q only in case (the Go SDK reads it as %q)", where, m.key, k, k)
			}
			if got := kindOf(m.value); got != kind {
				return fmt.Errorf("%s%q: want a JSON %s, got %s", where, k, kind, got)
			}
		}
	}
	return nil
}

type member struct {
	key   string
	value json.RawMessage
}

// objectMembers returns the members of a JSON object in order, duplicates
// included (encoding/json keeps only the last).
func objectMembers(b []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not an object")
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		ms = append(ms, member{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return ms, nil
}

func kindOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}
