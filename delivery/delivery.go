// Package delivery sends one signed webhook request to one target and
// classifies the result. The worker owns retries, batching and
// dead-lettering; a Sender makes exactly one attempt and says what happened.
package delivery

import (
	"context"
	"time"

	"github.com/hookline/hookline/config"
)

// Request is one delivery attempt: a body already built and signed for one
// webhook. Senders never re-serialise Body.
type Request struct {
	// AppKey goes into X-Pusher-Key.
	AppKey string
	// Signature is the lowercase hex HMAC-SHA256 of Body with the app
	// secret; it goes into X-Pusher-Signature.
	Signature string
	// Body is the Pusher body {"time_ms":…,"events":[…]}.
	Body []byte
	// Webhook is the target with its headers, timeout and Lambda settings.
	Webhook *config.Webhook
	// Attempt is the 1-based attempt number (X-Hookline-Attempt).
	Attempt int
	// Events is the number of events in Body, for logs and metrics.
	Events int
}

// Class is what an outcome means for the message.
type Class int

const (
	// Delivered: the target accepted the body (2xx, Lambda 200/202).
	Delivered Class = iota
	// Retryable: try again later (408, 409, 425, 429, 5xx, timeouts,
	// transport errors, Lambda throttling and function errors).
	Retryable
	// Permanent: never retry; dead-letter with the reason (3xx, other 4xx,
	// Lambda ResourceNotFound and similar).
	Permanent
	// TooLarge: the target rejected the body's size (HTTP 413, Lambda
	// RequestTooLargeException). The worker halves the batch once, then
	// treats it as Permanent.
	TooLarge
)

func (c Class) String() string {
	switch c {
	case Delivered:
		return "delivered"
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	case TooLarge:
		return "too-large"
	default:
		return "unknown"
	}
}

// Outcome is the result of one attempt.
type Outcome struct {
	Class Class
	// Status is the HTTP status code, or 0 when there was no response
	// (timeout, transport error).
	Status int
	// Reason is a short machine-readable cause, e.g. "http-500",
	// "http-301", "timeout", "transport-error", "lambda-function-error".
	// It becomes the DLQ message's hookline-reason detail.
	Reason string
	// Detail is a human-readable explanation: the redirect Location, the
	// transport error, the Lambda error message. Never contains secrets.
	Detail string
	// RetryAfter is the target's requested wait (Retry-After, Lambda
	// RetryAfterSeconds), clamped to [1 s, 900 s]; 0 when none was given.
	RetryAfter time.Duration
	// Duration is how long the attempt took.
	Duration time.Duration
}

// Sender makes one delivery attempt. Implementations are safe for
// concurrent use and never retry internally: the queue owns retries.
type Sender interface {
	Send(ctx context.Context, req *Request) Outcome
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, req *Request) Outcome

// Send calls f(ctx, req).
func (f SenderFunc) Send(ctx context.Context, req *Request) Outcome { return f(ctx, req) }

// Retry-After bounds (DESIGN §2).
const (
	MinRetryAfter = time.Second
	MaxRetryAfter = 900 * time.Second
)

// ClampRetryAfter bounds a requested wait to [MinRetryAfter, MaxRetryAfter].
func ClampRetryAfter(d time.Duration) time.Duration {
	return min(max(d, MinRetryAfter), MaxRetryAfter)
}

// ByTarget sends to HTTP or Lambda by the webhook's target.
type ByTarget struct {
	HTTP   Sender
	Lambda Sender
}

var _ Sender = ByTarget{}

// Send routes req to the Lambda sender for Lambda targets, else to HTTP.
func (b ByTarget) Send(ctx context.Context, req *Request) Outcome {
	if req != nil && req.Webhook != nil && req.Webhook.Lambda != nil {
		if b.Lambda == nil {
			return Outcome{Class: Permanent, Reason: "invalid-request", Detail: "no Lambda sender configured"}
		}
		return b.Lambda.Send(ctx, req)
	}
	return b.HTTP.Send(ctx, req)
}
