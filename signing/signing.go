// Package signing computes and checks the X-Pusher-Signature of a webhook
// body: the lowercase hex HMAC-SHA256 of the exact body bytes, keyed with the
// app secret.
//
// Sign the bytes that go on the wire, after the body is built and right
// before the request is written; never re-serialise a body after signing it.
// Verify is strict: it accepts only the exact lowercase hex form that every
// official Pusher SDK produces and compares in constant time.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Header names, in the canonical case PHP receivers read them with.
const (
	// HeaderKey carries the app key.
	HeaderKey = "X-Pusher-Key"
	// HeaderSignature carries Sign(app secret, body).
	HeaderSignature = "X-Pusher-Signature"
)

// Sign returns the lowercase hex HMAC-SHA256 of body keyed with secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is Sign(secret, body). The comparison is
// constant-time. Only the exact 64-character lowercase hex form is accepted:
// uppercase hex, surrounding whitespace or a "sha256=" prefix fail. An empty
// secret never verifies, so a misconfigured app cannot accept forged bodies.
func Verify(secret string, body []byte, signature string) bool {
	if secret == "" {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}
