// Package ingest is the HTTP front door for servers that already speak
// Pusher webhooks: Pusher, soketi, or Sockudo on its memory or Redis queue
// driver point their webhook URL at it, and it enqueues the events on SQS for
// Hookline's workers, which deliver them to the endpoints in Hookline's own
// config.
//
//	existing server ──POST (Pusher-signed)──▶ ingest ──▶ SQS ──▶ workers ──▶ your endpoints
//
// Two endpoints, both authenticated like a Pusher webhook (X-Pusher-Key names
// the app, X-Pusher-Signature is the lowercase hex HMAC-SHA256 of the body
// with that app's secret):
//
//   - POST /pusher — a Pusher webhook body {"time_ms": …, "events": […]}.
//   - POST /events — for servers that are not Pusher-compatible:
//     {"events": […]} with "time_ms" optional (default: now), on the
//     envelope and on each event.
//
// Answers: 200 only after SQS accepted every event, within the timeout (3 s:
// Pusher expects a 2xx within about 4 s); 401 for an unknown key or a bad
// signature; 400 for a malformed body (the message says what); 413 over the
// size limit; 415 for a Content-Type that is not JSON; 503 with Retry-After
// when SQS is unavailable or refuses the events (access denied, a missing
// queue: the deployment's fault, never the sender's), or while a database
// app registry has not been read yet; 405 and 404 as HTTP expects. An
// unknown key is looked up once more before the 401 (registry.Registry).
//
// The events of an app that arrive within the producer's linger (50 ms in
// `hookline ingest`), from any number of POSTs, share one SQS message: fewer
// billed requests for SendMessageBatch, ReceiveMessage and
// DeleteMessageBatch alike. Each event carries its own delivery id, derived
// from the key, the body and its index, so a sender retrying the same POST
// produces the same ids whatever message its events land in; a retry of a
// POST that succeeded in the last 10 minutes is acknowledged without a
// second enqueue (per instance).
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/producer"
	"github.com/hookline/hookline/registry"
	"github.com/hookline/hookline/signing"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultTimeout      = 3 * time.Second
	DefaultDedupWindow  = 10 * time.Minute
	DefaultRetryAfter   = 5 * time.Second
	// DefaultMaxEventsPerPublish is the most events of a POST handed to
	// the publisher in one call (the producer's buffer); a POST with more
	// is published in parts, one after another, in order. It must not
	// exceed the producer's BufferEvents.
	DefaultMaxEventsPerPublish = producer.DefaultBufferEvents
	// DefaultLinger is the producer linger `hookline ingest` uses: the
	// events of an app's POSTs arriving within it share an SQS message.
	// Like Sockudo's batching duration.
	DefaultLinger = 50 * time.Millisecond
)

// Publisher is the part of *producer.Producer ingest calls: it packs the
// events of an app that arrive within its linger, from any number of POSTs,
// into one envelope, and returns once SQS accepted them (or they failed).
type Publisher interface {
	Publish(ctx context.Context, appID string, events ...payload.Event) error
}

var _ Publisher = (*producer.Producer)(nil)

// Options configure the handler.
type Options struct {
	// Config is the configuration (its apps are the registry when Apps is
	// nil).
	Config *config.Config
	// Apps is the app registry keys are looked up in. An unknown key is
	// looked up once more (a database row, or the config file read again;
	// rate-limited) before the answer is 401. Nil: Config's apps.
	Apps *registry.Registry
	// MaxBodyBytes caps a request body; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// Timeout bounds the wait for SQS; past it the answer is 503. Default 3 s.
	Timeout time.Duration
	// DedupWindow is how long a succeeded POST's ids are remembered.
	// Default 10 minutes.
	DedupWindow time.Duration
	// RetryAfter is the Retry-After of a 503. Default 5 s.
	RetryAfter time.Duration
	// MaxEventsPerPublish is the most events of a POST per Publish call.
	// Default DefaultMaxEventsPerPublish.
	MaxEventsPerPublish int
	Logger              *slog.Logger
	Registry            prometheus.Registerer
	Now                 func() time.Time
}

// Handler serves the ingest endpoints.
type Handler struct {
	opts  Options
	pub   Publisher
	log   *slog.Logger
	now   func() time.Time
	mux   *http.ServeMux
	dedup *dedup

	requests *prometheus.CounterVec
	events   prometheus.Counter
	duration *prometheus.HistogramVec
}

var _ http.Handler = (*Handler)(nil)

// New returns the ingest handler publishing through pub.
func New(pub Publisher, opts Options) (*Handler, error) {
	if opts.Config == nil || pub == nil {
		return nil, errors.New("ingest: Options.Config and a publisher are required")
	}
	if opts.Apps == nil {
		opts.Apps = registry.Static(opts.Config)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.DedupWindow == 0 {
		opts.DedupWindow = DefaultDedupWindow
	}
	if opts.RetryAfter == 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	if opts.MaxEventsPerPublish <= 0 {
		opts.MaxEventsPerPublish = DefaultMaxEventsPerPublish
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{
		opts: opts, pub: pub, log: opts.Logger, now: opts.Now, dedup: newDedup(opts.DedupWindow, opts.Now),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "hookline", Subsystem: "ingest",
			Name: "requests_total", Help: "Ingest requests by endpoint and status code."}, []string{"endpoint", "code"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hookline", Subsystem: "ingest",
			Name: "events_enqueued_total", Help: "Events accepted by SQS."}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "hookline", Subsystem: "ingest",
			Name: "request_duration_seconds", Help: "Time from a request's arrival to its answer, by endpoint (SQS's acceptance and the linger included).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2, 3, 5}}, []string{"endpoint"}),
	}
	for _, c := range []prometheus.Collector{h.requests, h.events, h.duration} {
		if err := opts.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("ingest: metrics: %w", err)
		}
	}
	// Every series a dashboard or an alert may ask for exists from the
	// start, at zero.
	for _, ep := range []string{"pusher", "events"} {
		h.duration.WithLabelValues(ep)
		for _, code := range answerCodes {
			h.requests.WithLabelValues(ep, strconv.Itoa(code))
		}
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /pusher", func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, "pusher") })
	h.mux.HandleFunc("POST /events", func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, "events") })
	return h, nil
}

// ServeHTTP routes to the two endpoints; the mux answers 404 and 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Handle registers another route on the handler's mux (health, metrics).
func (h *Handler) Handle(pattern string, handler http.Handler) { h.mux.Handle(pattern, handler) }

// problem is a request error and its status.
type problem struct {
	status int
	msg    string
}

// answerCodes are the statuses the endpoints answer with.
var answerCodes = []int{http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestTimeout,
	http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusServiceUnavailable}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, endpoint string) {
	start := h.now()
	status, msg, n, dup := h.handle(w, r, endpoint)
	h.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	h.duration.WithLabelValues(endpoint).Observe(h.now().Sub(start).Seconds())
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int(h.opts.RetryAfter/time.Second)))
	}
	w.WriteHeader(status)
	if status == http.StatusOK {
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "events": n, "duplicate": dup})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": msg})
}

func (h *Handler) handle(w http.ResponseWriter, r *http.Request, endpoint string) (status int, msg string, events int, duplicate bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: want application/json", ct), 0, false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", h.opts.MaxBodyBytes), 0, false
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// A body trickling in slower than the server's read timeout.
			return http.StatusRequestTimeout, "the request body did not arrive in time", 0, false
		}
		// The error text names socket addresses: not for the sender.
		return http.StatusBadRequest, "the request body could not be read", 0, false
	}
	key := r.Header.Get(signing.HeaderKey)
	if err := h.opts.Apps.Ready(); err != nil {
		// A database registry not read yet: a 401 now would lose events
		// Sockudo never retries.
		return http.StatusServiceUnavailable, "the app registry is not loaded yet; retry later", 0, false
	}
	var app *config.App
	if key != "" {
		var err error
		if app, err = h.opts.Apps.AppByKey(r.Context(), key); err != nil {
			// Unknown or not is not known: a 401 would lose events Sockudo
			// never retries. The registry logs a failed read and counts
			// every look-up (a flood of made-up keys must not flood the log).
			h.log.Debug("app key look-up failed; answering 503", "error", err)
			return http.StatusServiceUnavailable, "the app registry could not be read; retry later", 0, false
		}
	}
	switch {
	case key == "":
		return http.StatusUnauthorized, "missing " + signing.HeaderKey, 0, false
	case app == nil:
		return http.StatusUnauthorized, "unknown " + signing.HeaderKey, 0, false
	case !signing.Verify(app.Secret.Reveal(), body, r.Header.Get(signing.HeaderSignature)):
		return http.StatusUnauthorized, signing.HeaderSignature + " does not match the body", 0, false
	}
	evs, p := h.parse(body, endpoint)
	if p != nil {
		return p.status, p.msg, 0, false
	}
	postID := eventIDs(key, body, evs)
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	dup, err := h.dedup.do(ctx, postID, func() error { return h.publish(ctx, app.ID, evs) })
	if err != nil {
		return h.publishProblem(app.ID, err)
	}
	if !dup {
		h.events.Add(float64(len(evs)))
	}
	h.log.Debug("ingested", "app_id", app.ID, "events", len(evs), "post", postID, "duplicate", dup)
	return http.StatusOK, "", len(evs), dup
}

// parse decodes the body of either endpoint; every event gets the body's
// time_ms unless it has its own.
func (h *Handler) parse(body []byte, endpoint string) ([]payload.Event, *problem) {
	var timeMS int64
	var events []payload.Event
	if endpoint == "pusher" {
		b, err := payload.DecodeBody(body)
		if err != nil {
			return nil, &problem{http.StatusBadRequest, err.Error()}
		}
		timeMS, events = b.TimeMS, b.Events
	} else {
		var b struct {
			TimeMS *int64          `json:"time_ms"`
			Events []payload.Event `json:"events"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, &problem{http.StatusBadRequest, "body: " + err.Error()}
		}
		timeMS = h.now().UnixMilli()
		if b.TimeMS != nil {
			timeMS = *b.TimeMS
		}
		events = b.Events
		for i := range events {
			if events[i].Name == "" {
				return nil, &problem{http.StatusBadRequest, fmt.Sprintf("events[%d]: missing \"name\"", i)}
			}
		}
	}
	if len(events) == 0 {
		return nil, &problem{http.StatusBadRequest, `"events" is empty`}
	}
	if timeMS < 0 {
		return nil, &problem{http.StatusBadRequest, fmt.Sprintf(`"time_ms": negative (%d)`, timeMS)}
	}
	for i := range events {
		if events[i].TimeMS < 0 {
			return nil, &problem{http.StatusBadRequest, fmt.Sprintf(`events[%d]: "time_ms": negative (%d)`, i, events[i].TimeMS)}
		}
		if events[i].TimeMS == 0 {
			events[i].TimeMS = timeMS
		}
	}
	return events, nil
}

// publish hands the POST's events to the publisher in parts of at most
// MaxEventsPerPublish, one after another, so their order holds (FIFO
// queues keep it per app); the first failure stops it and is the answer.
func (h *Handler) publish(ctx context.Context, appID string, evs []payload.Event) error {
	for part := range slices.Chunk(evs, h.opts.MaxEventsPerPublish) {
		if err := h.pub.Publish(ctx, appID, part...); err != nil {
			return err
		}
	}
	return nil
}

// eventIDs gives every event of the POST its delivery id: a hash of the
// key and the body, and the event's index. The same POST always gives the
// same ids, whatever envelope its events end up sharing with other POSTs.
func eventIDs(key string, body []byte, events []payload.Event) string {
	sum := sha256.Sum256(append([]byte(key+"\n"), body...))
	base := "ing-" + hex.EncodeToString(sum[:16])
	for i := range events {
		events[i].ID = base + ":" + strconv.Itoa(i)
	}
	return base
}

// publishProblem maps a publish error to the answer.
func (h *Handler) publishProblem(appID string, err error) (int, string, int, bool) {
	var se *producer.SendError
	switch {
	case errors.Is(err, producer.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error(), 0, false
	case errors.Is(err, producer.ErrInvalid):
		return http.StatusBadRequest, err.Error(), 0, false
	case errors.As(err, &se) && se.SenderFault:
		// Envelopes are SQS-safe and sized by the producer, and they
		// carry other POSTs' events too: a refusal (AccessDenied, a
		// missing queue, KMS) is the deployment's fault, not this
		// sender's. 503 lets it retry once the operator fixed it.
		h.log.Error("SQS refused the events; answered 503", "app_id", appID, "code", se.Code, "error", err)
		return http.StatusServiceUnavailable, "the queue refused the events (" + se.Code + "); retry later", 0, false
	}
	h.log.Warn("enqueue failed; answered 503", "app_id", appID, "error", err)
	return http.StatusServiceUnavailable, "the queue is unavailable; retry later", 0, false
}
