// Command go-receiver is an example Go webhook receiver for Hookline (and
// Pusher, soketi, Sockudo) that keeps what Pusher's Go SDK drops.
//
// pusher-http-go's Client.Webhook verifies the signature and decodes the
// events, but its event type has no "id", no per-event "time_ms" and no
// "subscription_count": the delivery id receivers de-duplicate on, when
// each event happened, and the count of a subscription_count event are
// lost. This receiver verifies X-Pusher-Key / X-Pusher-Signature itself
// (HMAC-SHA256 of the exact body bytes, compared in constant time) and
// decodes every field. It uses the standard library only: copy it.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

// Event is one event of a Pusher webhook body, every field kept.
type Event struct {
	Name              string `json:"name"`
	Channel           string `json:"channel"`
	Event             string `json:"event,omitempty"`     // client_event: the client event's name
	Data              string `json:"data,omitempty"`      // client_event: its data, a JSON string
	SocketID          string `json:"socket_id,omitempty"` // client_event
	UserID            string `json:"user_id,omitempty"`   // member_added, member_removed, client_event on presence
	SubscriptionCount *int64 `json:"subscription_count,omitempty"`
	// TimeMS is when the event happened (Unix ms); the body's time_ms is
	// when the request was sent.
	TimeMS int64 `json:"time_ms,omitempty"`
	// ID is the delivery id, the same on every retry: de-duplicate on it.
	ID string `json:"id,omitempty"`
}

// Body is a Pusher webhook body.
type Body struct {
	TimeMS int64   `json:"time_ms"`
	Events []Event `json:"events"`
}

// Handler verifies and decodes webhooks, and passes each event not seen
// before to Handle.
type Handler struct {
	// Secrets maps app keys (X-Pusher-Key) to their secrets.
	Secrets map[string]string
	// Handle gets each new event. It must return quickly (answer within a
	// few seconds or the sender retries); do slow work elsewhere.
	Handle func(appKey string, ev Event)

	mu   sync.Mutex
	seen map[string]bool // delivery ids handled; bound it (an LRU, a TTL store) in production
}

// maxBody bounds a request body.
const maxBody = 1 << 20

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	key := r.Header.Get("X-Pusher-Key")
	secret, ok := h.Secrets[key]
	if !ok || !validSignature(secret, body, r.Header.Get("X-Pusher-Signature")) {
		http.Error(w, "unknown key or bad signature", http.StatusUnauthorized)
		return
	}
	var b Body
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, "not a webhook body: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, ev := range b.Events {
		if ev.ID != "" && !h.firstTime(ev.ID) {
			continue // a retry of an event already handled
		}
		h.Handle(key, ev)
	}
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) firstTime(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]bool{}
	}
	if h.seen[id] {
		return false
	}
	h.seen[id] = true
	return true
}

// validSignature checks X-Pusher-Signature: the lowercase hex HMAC-SHA256
// of the exact body bytes with the app's secret.
func validSignature(secret string, body []byte, signature string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(signature))
}
