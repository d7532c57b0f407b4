// Package worker is Hookline's delivery engine: it long-polls the SQS queue,
// batches events per (app, webhook), delivers signed Pusher bodies through a
// delivery.Sender, and settles every message exactly one way: deleted,
// handed back as a retry envelope, copied to the dead-letter queue, or
// released.
//
// # Delivery semantics
//
// At-least-once. A message is deleted only after every webhook it matched
// accepted its events, or after what is still owed was handed to SQS again
// (a retry envelope on the main queue, or a copy on the DLQ). A crash, a
// lost visibility lease or a failed SQS call can deliver an event twice;
// every event carries an id ("<envelope id>:<index>") that stays the same on
// every attempt, so receivers de-duplicate on it.
//
// Ownership. A received message is owned for the visibility timeout and the
// worker extends it (heartbeat) while the message waits in a batch or is
// being delivered. The heartbeat stops once the message is decided. A
// receipt handle SQS reports invalid means ownership was lost: that handle
// is never used to delete. No SQS write is made with a handle whose lease
// has run out.
//
// Retries (standard queues). On a retryable failure the worker sends a retry
// envelope: the same id and events, "targets" listing only the webhooks
// still owed, "attempt" + 1, and DelaySeconds from the webhook's backoff.
// Only after SQS accepted it is the original deleted, so healthy webhooks
// never get the events twice and no goroutine sleeps holding a slot. When
// the attempts or the elapsed time are used up, or the failure is permanent
// (3xx, most 4xx, an event larger than the webhook's max_body_bytes), the
// worker copies the message to the DLQ with the attributes hookline-reason,
// hookline-target, hookline-status and hookline-attempts, and deletes the
// original only after that copy was accepted.
//
// Isolation. A webhook's events wait for one of its request slots
// (Options.WebhookConcurrency). Once what a webhook owes has waited longer
// than its request timeout, it is handed back as a retry envelope for that
// webhook alone (not an attempt) and the message settles for the others, so
// a slow or hung webhook holds a message, and so the in-flight capacity
// other webhooks and apps share, for at most about one request timeout.
// Nothing else holds an app back: capacity is work-conserving.
//
// FIFO queues keep order per app: a failing webhook holds back its app,
// retries extend the message's visibility instead of re-sending it, and the
// attempt number is SQS's ApproximateReceiveCount. Webhooks of the app that
// had succeeded receive the events again on such a retry.
//
// Shutdown. When Run's context is cancelled the worker stops receiving (a
// long poll in progress is let finish and what it brings is released at
// once), flushes open batches, lets deliveries finish within the grace
// period, releases messages whose delivery never started (visibility 0, no
// attempt used) and returns nil.
//
// # Pipeline
//
// Work flows one way: poll (receive, decode, route) → engine (claim,
// batch, dispatch) → deliver → engine (decide) → acker (SQS writes) →
// engine (done). Stages talk over channels; none calls back into an
// earlier one.
//
//   - Pollers (poll.go) reserve in-flight capacity, receive, decode each
//     body with payload.DecodeRaw (events stay raw JSON) and route it: the
//     parts a message owes each webhook. They hand the batch to the engine.
//   - The engine (engine.go) is one goroutine that owns every message's
//     state: ownership (the owned map, receipt handles, leases, the
//     heartbeat), the per-webhook queues and their request slots, FIFO
//     groups, and the drain. Message state lives nowhere else, so it takes
//     no locks.
//   - Deliveries (deliver.go) run one goroutine per request: build the
//     body by splicing raw events, sign, send, and report per-chunk results
//     to the engine.
//   - When a message's parts are all resolved the engine calls decide
//     (decide.go), a pure function from the parts' results to one decision,
//     and passes it to the acker.
//   - The acker (acker.go) carries decisions out with batch calls across
//     messages (SendMessageBatch for retry envelopes, hand-backs and DLQ
//     copies; DeleteMessageBatch; ChangeMessageVisibilityBatch for releases,
//     delays and heartbeats), ≤ 10 entries, a short linger, every Failed
//     entry inspected. It reports each finished message to the engine,
//     which frees its capacity.
//
// Hand-off: a message belongs to the poller until it is sent on the
// engine's input channel, then to the engine; chunks lent to a delivery are
// read-only until their results come back; a decision handed to the acker
// belongs to it until its done report. Locks: the capacity and the acker's
// queue each have their own mutex, taken alone (never two at once), and
// never while sending on a channel.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/registry"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxInFlightMessages = 1000
	DefaultMaxInFlightBytes    = 8 << 20
	DefaultWebhookConcurrency  = 16
	DefaultWebhookQueuedBytes  = 16 << 20
	DefaultDeferDelay          = 2 * time.Second
	DefaultFutureVersionDelay  = 60 * time.Second
	DefaultQueueStatsInterval  = 30 * time.Second
	DefaultSQSCallTimeout      = 10 * time.Second
	DefaultAckLinger           = 10 * time.Millisecond
)

// SQS limits.
const (
	maxBatch         = 10      // entries per ReceiveMessage / *Batch call
	maxBatchBytes    = 1 << 20 // sum of the bodies and attributes of one SendMessageBatch
	maxDelaySeconds  = 900
	maxVisibility    = 12 * time.Hour
	maxAttributes    = 10 // message attributes per message
	sqsMaxWaitSecond = 20
)

// Options configure a Worker. Zero fields take the documented defaults.
type Options struct {
	// QueueURL and DeadLetterQueueURL are the queues' URLs, as
	// GetQueueUrl returned them (emulators accept only those).
	QueueURL           string
	DeadLetterQueueURL string
	// FIFO selects the FIFO semantics (DESIGN §4.6).
	FIFO bool

	// GracePeriod bounds the drain on shutdown. Default
	// config.ShutdownGracePeriod.
	GracePeriod time.Duration
	// MaxInFlightMessages and MaxInFlightBytes bound the messages held at
	// once (received and not yet settled); pollers stop while either is
	// reached. Defaults 1000 and 8 MiB of message bodies (the process holds
	// about three times that: events and their slices; measured in
	// docs/BENCHMARKS.md, more buys no throughput and costs GC time).
	MaxInFlightMessages int
	MaxInFlightBytes    int64
	// WebhookConcurrency is the most requests in flight to one webhook.
	// Default 16.
	WebhookConcurrency int
	// WebhookQueuedBytes caps the event bytes waiting for or being sent to
	// one webhook; parts over it are handed back with DeferDelay (no
	// attempt used). Default 16 MiB.
	WebhookQueuedBytes int64
	// DeferDelay is the delay of a hand-back (over a cap, or waited longer
	// than the webhook's request timeout). Default 2 s.
	DeferDelay time.Duration
	// FutureVersionDelay is how long an envelope of a newer version is
	// released for. Default 60 s.
	FutureVersionDelay time.Duration
	// SQSCallTimeout bounds one SQS call other than the long poll (the long
	// poll gets its wait time plus this). Default 10 s.
	SQSCallTimeout time.Duration
	// QueueStatsInterval is how often the worker reads the approximate
	// message counts of the main queue and the DLQ (GetQueueAttributes,
	// two billed requests) into hookline_worker_queue_messages. Default
	// 30 s; negative: never.
	QueueStatsInterval time.Duration
	// AckLinger is how long the acker waits for more entries before a
	// batch call that is not full. Default 10 ms.
	AckLinger time.Duration
	// MinPollers is how many pollers keep long-polling while the queue is
	// dry. The number polling drops by one with each empty receive, down to
	// this, and rises by one with each full receive, up to
	// queue.sqs.concurrency. Default 1; a value at or above the concurrency
	// keeps every poller polling.
	MinPollers int
	// ReceivePace is how long a poller whose receive brought fewer than 10
	// messages (but some) waits before polling again, so that at moderate
	// rates receives carry several messages. Default: half the batching
	// window (webhooks.batching.duration), none when batching is off;
	// negative: never wait.
	ReceivePace time.Duration

	// Apps is the app registry messages are routed with; nil: cfg's apps,
	// never reloaded. A message keeps the app definition it was routed with
	// until it settles, whatever the registry swaps in meanwhile.
	Apps *registry.Registry

	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Worker delivers the queue's messages. Create it with New and start it with
// Run.
type Worker struct {
	cfg    *config.Config
	opts   Options
	sqs    SQS
	sender delivery.Sender
	log    *slog.Logger
	m      *metrics
	now    func() time.Time

	capacity *capacity
	gate     *pollGate
	eng      *engine
	ack      *acker

	// maxReceiveCount is the main queue's redrive maxReceiveCount (0: no
	// redrive policy), read at startup.
	maxReceiveCount int

	health          health
	receiveErrors   rateLog
	heartbeatErrors rateLog
	ackErrors       rateLog

	// workCtx is cancelled when the grace period is nearly over:
	// deliveries run under it.
	workCtx    context.Context
	cancelWork context.CancelFunc
	// sqsCtx is cancelled only when the grace period is over: acks and the
	// long polls in progress at shutdown run under it (each call is bounded
	// by its own timeout).
	sqsCtx    context.Context
	cancelSQS context.CancelFunc

	started atomic.Bool
}

// New checks the options and builds a Worker for the apps of cfg.
func New(cfg *config.Config, opts Options, client SQS, sender delivery.Sender) (*Worker, error) {
	if cfg == nil || client == nil || sender == nil {
		return nil, errors.New("worker: config, SQS client and sender are required")
	}
	if opts.QueueURL == "" {
		return nil, errors.New("worker: Options.QueueURL is required")
	}
	if opts.DeadLetterQueueURL == "" {
		return nil, errors.New("worker: Options.DeadLetterQueueURL is required")
	}
	setDefaults(&opts, cfg)
	if opts.Apps == nil {
		opts.Apps = registry.Static(cfg)
	}
	switch {
	case opts.MaxInFlightMessages < 1:
		return nil, fmt.Errorf("worker: Options.MaxInFlightMessages %d: want at least 1", opts.MaxInFlightMessages)
	case opts.WebhookConcurrency < 1:
		return nil, fmt.Errorf("worker: Options.WebhookConcurrency %d: want at least 1", opts.WebhookConcurrency)
	case opts.GracePeriod <= 0:
		return nil, fmt.Errorf("worker: Options.GracePeriod %v: want a positive duration", opts.GracePeriod)
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:    cfg,
		opts:   opts,
		sqs:    client,
		sender: sender,
		log:    opts.Logger,
		m:      m,
		now:    opts.Now,
	}
	w.capacity = newCapacity(opts.MaxInFlightMessages, opts.MaxInFlightBytes)
	w.gate = newPollGate(opts.MinPollers, cfg.Queue.Concurrency)
	w.eng = newEngine(w)
	w.ack = newAcker(w)
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "hookline", Subsystem: "worker", Name: name, Help: help}, f)
	}
	for _, c := range []prometheus.Collector{
		gauge("inflight_messages", "Messages received and not yet settled (held by the worker).",
			func() float64 { n, _ := w.capacity.held(); return float64(n) }),
		gauge("inflight_bytes", "Bytes of messages received and not yet settled.",
			func() float64 { _, b := w.capacity.held(); return float64(b) }),
		gauge("inflight_limit_messages", "The in-flight message bound (--max-inflight).",
			func() float64 { return float64(opts.MaxInFlightMessages) }),
		gauge("inflight_limit_bytes", "The in-flight bytes bound (--max-inflight-bytes).",
			func() float64 { return float64(opts.MaxInFlightBytes) }),
	} {
		if err := opts.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("worker: metrics: %w", err)
		}
	}
	return w, nil
}

func setDefaults(o *Options, cfg *config.Config) {
	if o.GracePeriod == 0 {
		o.GracePeriod = cfg.ShutdownGracePeriod
	}
	if o.MaxInFlightMessages == 0 {
		o.MaxInFlightMessages = DefaultMaxInFlightMessages
	}
	if o.MaxInFlightBytes == 0 {
		o.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if o.WebhookConcurrency == 0 {
		o.WebhookConcurrency = DefaultWebhookConcurrency
	}
	if o.WebhookQueuedBytes == 0 {
		o.WebhookQueuedBytes = DefaultWebhookQueuedBytes
	}
	if o.DeferDelay == 0 {
		o.DeferDelay = DefaultDeferDelay
	}
	if o.FutureVersionDelay == 0 {
		o.FutureVersionDelay = DefaultFutureVersionDelay
	}
	if o.QueueStatsInterval == 0 {
		o.QueueStatsInterval = DefaultQueueStatsInterval
	}
	if o.SQSCallTimeout == 0 {
		o.SQSCallTimeout = DefaultSQSCallTimeout
	}
	if o.MinPollers == 0 {
		o.MinPollers = 1
	}
	if o.AckLinger == 0 {
		o.AckLinger = DefaultAckLinger
	}
	if o.ReceivePace == 0 {
		if b := cfg.Webhooks.Batching; b.Enabled {
			o.ReceivePace = b.Duration / 2
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Run receives and delivers until ctx is cancelled, then shuts down as the
// package documentation describes and returns nil. It returns an error only
// when the worker cannot start (the queue cannot be read).
func (w *Worker) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("worker: Run called twice")
	}
	if err := w.checkQueue(ctx); err != nil {
		return err
	}
	base := context.WithoutCancel(ctx)
	w.sqsCtx, w.cancelSQS = context.WithCancel(base)
	w.workCtx, w.cancelWork = context.WithCancel(base)
	defer w.cancelSQS()
	defer w.cancelWork()

	ackDone := make(chan struct{})
	go func() { defer close(ackDone); w.ack.run() }()
	engDone := make(chan struct{})
	go func() { defer close(engDone); w.eng.run() }()

	var pollers sync.WaitGroup
	for i := range w.cfg.Queue.Concurrency {
		pollers.Add(1)
		go func() { defer pollers.Done(); w.poll(ctx, i) }()
	}
	go func() { pollers.Wait(); close(w.eng.in) }()
	statsDone := make(chan struct{})
	go func() { defer close(statsDone); w.queueStats(ctx) }()
	defer func() { <-statsDone }()
	w.log.Info("worker started", "queue_url", w.opts.QueueURL, "pollers", w.cfg.Queue.Concurrency,
		"fifo", w.opts.FIFO, "visibility_timeout", w.cfg.Queue.VisibilityTimeout.String())

	<-ctx.Done()
	start := w.now()
	w.log.Info("worker stopping", "grace_period", w.opts.GracePeriod.String())
	// Deliveries still running near the end of the grace period are cut
	// off early enough for their settles (a batch call or two) to fit; at
	// its end everything stops.
	cutoff := time.AfterFunc(w.opts.GracePeriod-min(w.opts.GracePeriod/5, w.opts.SQSCallTimeout), func() {
		w.cancelWork()
		w.eng.signal(signalCutoff)
	})
	defer cutoff.Stop()
	hard := time.AfterFunc(w.opts.GracePeriod, func() {
		w.cancelSQS()
		w.eng.signal(signalHard)
	})
	defer hard.Stop()
	w.eng.signal(signalStop)
	<-engDone
	w.ack.close()
	<-ackDone
	pollers.Wait()
	w.log.Info("worker stopped", "drain", w.now().Sub(start).String(), "unsettled", w.eng.unsettled.Load())
	return nil
}

// checkQueue reads the queue's attributes at startup: it proves the queue
// can be read, says whether the visibility timeout leaves room for the
// heartbeat (three beats plus one SQS call must fit in it), and reads the
// redrive policy's maxReceiveCount.
func (w *Worker) checkQueue(ctx context.Context) error {
	attrs, err := w.queueAttributes(ctx, types.QueueAttributeNameVisibilityTimeout, types.QueueAttributeNameRedrivePolicy)
	if err != nil {
		return fmt.Errorf("worker: startup check of %s: %w", w.opts.QueueURL, err)
	}
	vt := w.cfg.Queue.VisibilityTimeout
	if need := 3*time.Second + w.opts.SQSCallTimeout; vt < need {
		return fmt.Errorf("worker: visibility timeout %v is too short: the heartbeat needs at least %v "+
			"(3 beats of 1 s + the %v SQS call timeout); raise queue.sqs.visibility_timeout", vt, need, w.opts.SQSCallTimeout)
	}
	w.maxReceiveCount = maxReceiveCount(attrs[string(types.QueueAttributeNameRedrivePolicy)])
	secs, _ := strconv.Atoi(attrs[string(types.QueueAttributeNameVisibilityTimeout)])
	w.log.Info("queue checked", "visibility_timeout", vt.String(), "queue_visibility_timeout", (time.Duration(secs) * time.Second).String(),
		"heartbeat", w.heartbeatPeriod().String(), "max_receive_count", w.maxReceiveCount)
	return nil
}

// heartbeatPeriod is how often owned messages are extended: a third of the
// visibility timeout, less the SQS call timeout, so that three beats plus one
// call fit in it (DESIGN §4.1).
func (w *Worker) heartbeatPeriod() time.Duration {
	return max(time.Second, (w.cfg.Queue.VisibilityTimeout-w.opts.SQSCallTimeout)/3)
}

// Ready reports whether the worker can use SQS: nil when a receive has
// succeeded and no SQS call has failed since the last one that succeeded.
// For /readyz; liveness must not depend on it. See health for the rule.
func (w *Worker) Ready() error { return w.health.ready(w.now()) }

// health follows SQS from the outcomes of the worker's own calls: a failed
// call (receive, acks, heartbeat) makes the worker unready, the next
// successful one ready again, so /readyz turns within one call (a receive
// is bounded by its wait time plus the SQS call timeout; connection errors
// fail at once).
type health struct {
	mu          sync.Mutex
	everOK      bool
	failingFrom time.Time // zero while the last call succeeded
	lastErr     error
}

func (h *health) ok() {
	h.mu.Lock()
	h.everOK, h.failingFrom, h.lastErr = true, time.Time{}, nil
	h.mu.Unlock()
}

func (h *health) failed(now time.Time, err error) {
	h.mu.Lock()
	if h.failingFrom.IsZero() {
		h.failingFrom = now
	}
	h.lastErr = err
	h.mu.Unlock()
}

func (h *health) ready(now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.everOK && h.lastErr != nil:
		return fmt.Errorf("no successful receive yet: %v", h.lastErr)
	case !h.everOK:
		return errors.New("no successful receive yet")
	case !h.failingFrom.IsZero():
		return fmt.Errorf("SQS calls failing for %v: %v", now.Sub(h.failingFrom).Round(time.Second), h.lastErr)
	}
	return nil
}
