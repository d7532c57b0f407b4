package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookline/hookline/signing"
)

// HTTPOptions configures NewHTTP. The zero value is usable: every field
// documents its default.
type HTTPOptions struct {
	// UserAgent is sent as User-Agent unless the webhook sets its own.
	// Default "Hookline/dev".
	UserAgent string
	// MaxIdleConnsPerHost bounds the keep-alive pool per target host.
	// Default 64.
	MaxIdleConnsPerHost int
	// ResponseBodyLimit is how many bytes of a response body are read
	// (then discarded) so the connection can be reused; a larger body is
	// abandoned and its connection closed. Default 64 KiB.
	ResponseBodyLimit int64
	// DialTimeout bounds establishing a TCP connection. Default 5 s. The
	// whole request is bounded by the webhook's RequestTimeout.
	DialTimeout time.Duration
	// Proxy picks the proxy for a request. Default http.ProxyFromEnvironment
	// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY; never for loopback targets).
	Proxy func(*http.Request) (*url.URL, error)
	// Now is the clock an HTTP-date Retry-After is measured against.
	// Default time.Now.
	Now func() time.Time
	// Transport replaces the built-in HTTP/1.1 transport (tests only); the
	// dial, pool and proxy options above then have no effect.
	Transport http.RoundTripper
}

// Defaults of HTTPOptions.
const (
	DefaultUserAgent           = "Hookline/dev"
	DefaultMaxIdleConnsPerHost = 64
	DefaultResponseBodyLimit   = 64 << 10
	DefaultDialTimeout         = 5 * time.Second
	// DefaultHTTPRequestTimeout applies when a webhook's RequestTimeout is
	// zero.
	DefaultHTTPRequestTimeout = 10 * time.Second
)

const (
	tlsHandshakeTimeout = 10 * time.Second
	idleConnTimeout     = 90 * time.Second
	// maxResponseHeaderBytes bounds what a hostile receiver can make us
	// buffer (net/http's default is 10 MB).
	maxResponseHeaderBytes = 1 << 20
	// maxDetail bounds Outcome.Detail: it ends up in a DLQ message
	// attribute and part of it (the Location) is chosen by the receiver.
	maxDetail = 1024

	headerAttempt = "X-Hookline-Attempt"
)

// errRequestTimeout is the cause of our per-request deadline, telling it
// apart from the caller's own deadline or cancellation.
var errRequestTimeout = errors.New("delivery: request timeout")

// HTTP sends webhooks over HTTP/1.1 (DESIGN §2): a POST with the signed body
// and the Pusher headers in their exact canonical case, no redirects
// followed, one attempt per Send. It is safe for concurrent use; share one
// per process so connections are pooled.
type HTTP struct {
	client    *http.Client
	userAgent []string
	bodyLimit int64
	now       func() time.Time
}

var _ Sender = (*HTTP)(nil)

// NewHTTP returns an HTTP sender with its own transport.
func NewHTTP(opts HTTPOptions) *HTTP {
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if opts.ResponseBodyLimit <= 0 {
		opts.ResponseBodyLimit = DefaultResponseBodyLimit
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.Proxy == nil {
		opts.Proxy = http.ProxyFromEnvironment
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rt := opts.Transport
	if rt == nil {
		rt = newTransport(opts)
	}
	return &HTTP{
		client: &http.Client{
			Transport: rt,
			// A redirect is a permanent failure (DESIGN §2): hand the 3xx
			// back instead of following it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		userAgent: []string{opts.UserAgent},
		bodyLimit: opts.ResponseBodyLimit,
		now:       opts.Now,
	}
}

func newTransport(opts HTTPOptions) *http.Transport {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	return &http.Transport{
		Proxy: opts.Proxy,
		DialContext: (&net.Dialer{
			Timeout:   opts.DialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		// HTTP/1.1 only: PHP receivers read headers with their exact case,
		// and HTTP/2 lowercases them. An empty, non-nil TLSNextProto keeps
		// "h2" out of ALPN even if Protocols is ignored somewhere.
		Protocols:           &protocols,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		TLSHandshakeTimeout: tlsHandshakeTimeout,
		MaxIdleConnsPerHost: opts.MaxIdleConnsPerHost,
		IdleConnTimeout:     idleConnTimeout,
		// No Accept-Encoding: gzip on the wire; the body is discarded anyway.
		DisableCompression: true,
		// Batched bodies are tens of KiB: write them in one or two syscalls,
		// not in 4 KiB pieces.
		WriteBufferSize:        64 << 10,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
}

// CloseIdleConnections closes pooled keep-alive connections, e.g. on
// shutdown.
func (h *HTTP) CloseIdleConnections() { h.client.CloseIdleConnections() }

// Send makes one POST to req.Webhook.URL and classifies the result. It never
// retries: see DESIGN §2 for the classes. The response body is read up to
// the configured limit, discarded and never logged.
func (h *HTTP) Send(ctx context.Context, req *Request) Outcome {
	start := time.Now()
	out := h.send(ctx, req)
	out.Duration = time.Since(start)
	return out
}

func (h *HTTP) send(ctx context.Context, req *Request) Outcome {
	if req == nil || req.Webhook == nil {
		return Outcome{Class: Permanent, Reason: "invalid-request", Detail: "no webhook"}
	}
	timeout := req.Webhook.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultHTTPRequestTimeout
	}
	rctx, cancel := context.WithTimeoutCause(ctx, timeout, errRequestTimeout)
	defer cancel()

	// A *bytes.Reader body gives the request its ContentLength and a
	// GetBody, so the transport may replay it on a pooled connection that
	// turns out dead before anything was written.
	hr, err := http.NewRequestWithContext(rctx, http.MethodPost, req.Webhook.URL, bytes.NewReader(req.Body))
	if err != nil || (hr.URL.Scheme != "http" && hr.URL.Scheme != "https") || hr.URL.Host == "" {
		return Outcome{Class: Permanent, Reason: "invalid-url",
			Detail: "not an http(s) URL: " + redactRawURL(req.Webhook.URL)}
	}
	u := hr.URL
	hr.Header = h.header(req)

	resp, err := h.client.Do(hr)
	if err != nil {
		return h.transportFailure(ctx, rctx, err, u, timeout)
	}
	out := h.classify(resp)
	// Drain (bounded) so the connection goes back to the pool; a body over
	// the limit is abandoned and its connection closed by Close.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, h.bodyLimit))
	_ = resp.Body.Close()
	return out
}

// header builds the request headers. Keys are written exactly as set here:
// net/http does not re-case map keys on the wire.
func (h *HTTP) header(req *Request) http.Header {
	hdr := make(http.Header, 6+len(req.Webhook.Headers))
	for k, v := range req.Webhook.Headers {
		// config rejects these; stay safe if a Webhook was built by hand.
		if reservedHeader(k) {
			continue
		}
		hdr[k] = []string{v}
	}
	if _, ok := hdr["User-Agent"]; !ok {
		hdr["User-Agent"] = h.userAgent
	}
	hdr["Content-Type"] = contentTypeJSON
	hdr[signing.HeaderKey] = []string{req.AppKey}
	hdr[signing.HeaderSignature] = []string{req.Signature}
	hdr[headerAttempt] = []string{strconv.Itoa(req.Attempt)}
	return hdr
}

var contentTypeJSON = []string{"application/json"}

func reservedHeader(k string) bool {
	if len(k) >= len("X-Pusher-") && strings.EqualFold(k[:len("X-Pusher-")], "X-Pusher-") {
		return true
	}
	for _, r := range [...]string{"Content-Type", "Content-Length", "Host", headerAttempt} {
		if strings.EqualFold(k, r) {
			return true
		}
	}
	// A non-canonical spelling of User-Agent would be sent alongside ours.
	return strings.EqualFold(k, "User-Agent") && k != "User-Agent"
}

// classify maps a response to an Outcome (DESIGN §2).
func (h *HTTP) classify(resp *http.Response) Outcome {
	code := resp.StatusCode
	out := Outcome{Status: code, Reason: "http-" + strconv.Itoa(code)}
	switch {
	case code >= 200 && code <= 299:
		return Outcome{Class: Delivered, Status: code}
	case code >= 300 && code <= 399:
		out.Class = Permanent
		if loc := resp.Header.Get("Location"); loc != "" {
			out.Detail = truncate("redirect to " + redactRawURL(loc))
		} else {
			out.Detail = fmt.Sprintf("%d %s without Location", code, http.StatusText(code))
		}
		return out
	case code == http.StatusRequestEntityTooLarge:
		out.Class = TooLarge
	case code == http.StatusRequestTimeout, code == http.StatusConflict,
		code == http.StatusTooEarly, code == http.StatusTooManyRequests,
		code >= 500 && code <= 599:
		out.Class = Retryable
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), h.now()); ok {
			out.RetryAfter = ClampRetryAfter(d)
		}
	default: // other 4xx, 1xx (101), anything outside 1xx–5xx
		out.Class = Permanent
	}
	out.Detail = strings.TrimSpace(fmt.Sprintf("%d %s", code, http.StatusText(code)))
	return out
}

// parseRetryAfter reads delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
// ok is false for a missing or malformed value. A date in the past gives a
// zero or negative wait, which the caller clamps up.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
				return MaxRetryAfter, true
			}
			return 0, false
		}
		if n > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return t.Sub(now), true
}

// transportFailure classifies a request that got no response.
func (h *HTTP) transportFailure(parent, rctx context.Context, err error, u *url.URL, timeout time.Duration) Outcome {
	if parent.Err() != nil {
		// The caller gave up (shutdown): not the target's fault.
		return Outcome{Class: Retryable, Reason: "canceled", Detail: context.Cause(parent).Error()}
	}
	var ne net.Error
	if context.Cause(rctx) == errRequestTimeout || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return Outcome{Class: Retryable, Reason: "timeout",
			Detail: fmt.Sprintf("no response within %s", timeout)}
	}
	return Outcome{Class: Retryable, Reason: "transport-error", Detail: truncate(redactError(err, u))}
}

// redactError renders err without the URL's userinfo and query.
func redactError(err error, u *url.URL) string {
	safe := redactURL(u)
	var ue *url.Error
	if errors.As(err, &ue) {
		c := *ue
		c.URL = safe
		err = &c
	}
	s := err.Error()
	// Belt and braces: an inner error may quote the URL again.
	if raw := u.String(); raw != safe {
		s = strings.ReplaceAll(s, raw, safe)
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			s = strings.ReplaceAll(s, p, "xxxxx")
		}
	}
	if u.RawQuery != "" {
		s = strings.ReplaceAll(s, u.RawQuery, "xxxxx")
	}
	return s
}

// redactURL replaces userinfo and query with "xxxxx" and drops the fragment.
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User("xxxxx")
	}
	if c.RawQuery != "" || c.ForceQuery {
		c.RawQuery = "xxxxx"
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

func redactRawURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return redactURL(u)
}

// truncate cuts s to maxDetail bytes on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	i := maxDetail
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
