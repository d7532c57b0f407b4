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
// worker extends it every third of that (heartbeat) while the message waits
// in a batch or is being delivered. The heartbeat stops before the message
// is settled. A receipt handle SQS reports invalid means ownership was lost:
// that handle is never used to delete.
//
// Retries (standard queues). On a retryable failure the worker sends a retry
// envelope: the same id and events, "targets" listing only the webhooks
// still owed, "attempt" + 1, and DelaySeconds from the webhook's backoff.
// Only after SQS accepted it is the original deleted, so healthy webhooks
// never get the events twice and no goroutine sleeps holding a slot. When
// the attempts or the elapsed time are used up, or the failure is permanent
// (3xx, most 4xx), the worker copies the message to the DLQ with the
// attributes hookline-reason, hookline-target, hookline-status and
// hookline-attempts, and deletes the original only after that copy was
// accepted.
//
// FIFO queues keep order per app: a failing webhook holds back its app,
// retries extend the message's visibility instead of re-sending it, and the
// attempt number is SQS's ApproximateReceiveCount. Webhooks of the app that
// had succeeded receive the events again on such a retry.
//
// Shutdown. When Run's context is cancelled the worker stops receiving,
// flushes open batches at once, lets running deliveries finish within the
// grace period, releases messages whose delivery never started (visibility
// 0, no attempt used) and returns nil.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxInFlightMessages = 1000
	DefaultMaxInFlightBytes    = 64 << 20
	DefaultWebhookConcurrency  = 16
	DefaultWebhookQueuedBytes  = 16 << 20
	DefaultAppShare            = 0.5
	DefaultDeferDelay          = 2 * time.Second
	DefaultFutureVersionDelay  = 60 * time.Second
	DefaultSQSCallTimeout      = 10 * time.Second
)

// SQS limits.
const (
	maxBatch         = 10 // entries per ReceiveMessage / *Batch call
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
	// reached. Defaults 1000 and 64 MiB.
	MaxInFlightMessages int
	MaxInFlightBytes    int64
	// WebhookConcurrency is the most requests in flight to one webhook.
	// Default 16.
	WebhookConcurrency int
	// WebhookQueuedBytes caps the event bytes waiting for one webhook;
	// messages over it are handed back with a short delay (no attempt used).
	// Default 16 MiB.
	WebhookQueuedBytes int64
	// AppShare is the largest fraction of MaxInFlightMessages one app may
	// hold; messages over it are handed back with a short delay. Default 0.5.
	AppShare float64
	// DeferDelay is the delay of a hand-back (over a cap). Default 2 s.
	DeferDelay time.Duration
	// FutureVersionDelay is how long an envelope of a newer version is
	// released for. Default 60 s.
	FutureVersionDelay time.Duration
	// SQSCallTimeout bounds one SQS call other than the long poll.
	// Default 10 s.
	SQSCallTimeout time.Duration

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

	inflight *capacity
	owned    *registry
	batches  *batcher
	hooks    *hookLimits
	groups   *groups

	lastReceive     atomic.Int64 // unix nanos of the last successful receive
	receiveErrors   rateLog
	heartbeatErrors rateLog

	settleWG  sync.WaitGroup // settles running (SQS calls after delivery)
	deliverWG sync.WaitGroup // deliveries queued or running

	// workCtx is cancelled when the grace period is nearly over: deliveries
	// and their waits for a slot run under it.
	workCtx context.Context
	// sqsCtx is never cancelled: hand-offs, deletes and releases must
	// complete (each call is bounded by SQSCallTimeout).
	sqsCtx     context.Context
	cancelWork context.CancelFunc
	// stopping is closed when shutdown starts: batches flush at once and
	// deliveries not yet started are released.
	stopping chan struct{}
	stopOnce sync.Once
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
	if opts.AppShare <= 0 || opts.AppShare > 1 {
		return nil, fmt.Errorf("worker: Options.AppShare %v: want a fraction in (0, 1]", opts.AppShare)
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:      cfg,
		opts:     opts,
		sqs:      client,
		sender:   sender,
		log:      opts.Logger,
		m:        m,
		now:      opts.Now,
		stopping: make(chan struct{}),
	}
	w.inflight = newCapacity(opts.MaxInFlightMessages, opts.MaxInFlightBytes,
		max(1, int(float64(opts.MaxInFlightMessages)*opts.AppShare)))
	w.owned = newRegistry()
	w.groups = newGroups()
	w.hooks = newHookLimits(opts.WebhookConcurrency, opts.WebhookQueuedBytes)
	w.batches = newBatcher(w)
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "hookline", Subsystem: "worker", Name: name, Help: help}, f)
	}
	for _, c := range []prometheus.Collector{
		gauge("inflight_messages", "Messages received and not yet settled.", func() float64 { n, _ := w.inflight.usage(); return float64(n) }),
		gauge("inflight_bytes", "Bytes of messages received and not yet settled.", func() float64 { _, b := w.inflight.usage(); return float64(b) }),
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
	if o.AppShare == 0 {
		o.AppShare = DefaultAppShare
	}
	if o.DeferDelay == 0 {
		o.DeferDelay = DefaultDeferDelay
	}
	if o.FutureVersionDelay == 0 {
		o.FutureVersionDelay = DefaultFutureVersionDelay
	}
	if o.SQSCallTimeout == 0 {
		o.SQSCallTimeout = DefaultSQSCallTimeout
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
	if err := w.checkQueue(ctx); err != nil {
		return err
	}
	var cancelWork context.CancelFunc
	w.sqsCtx = context.WithoutCancel(ctx)
	w.workCtx, cancelWork = context.WithCancel(w.sqsCtx)
	w.cancelWork = cancelWork
	defer cancelWork()

	hbCtx, stopHeartbeat := context.WithCancel(context.WithoutCancel(ctx))
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); w.heartbeat(hbCtx) }()

	var pollers sync.WaitGroup
	for i := range w.cfg.Queue.Concurrency {
		pollers.Add(1)
		go func() { defer pollers.Done(); w.poll(ctx, i) }()
	}
	w.log.Info("worker started", "queue_url", w.opts.QueueURL, "pollers", w.cfg.Queue.Concurrency,
		"fifo", w.opts.FIFO, "visibility_timeout", w.cfg.Queue.VisibilityTimeout)

	<-ctx.Done()
	start := w.now()
	w.log.Info("worker stopping", "grace_period", w.opts.GracePeriod)
	// 1. Stop receiving (pollers watch ctx); wait for receives in flight so
	// every received message is registered before batches flush.
	pollers.Wait()
	// 2. Flush open batches now; deliveries not yet started are released.
	w.stopOnce.Do(func() { close(w.stopping) })
	w.batches.flushAll()
	// 3. Drain within the grace period. Deliveries still running are cut
	// off early enough for their settles (an SQS call or two) to fit.
	deadline := time.AfterFunc(w.opts.GracePeriod-min(w.opts.GracePeriod/5, w.opts.SQSCallTimeout), cancelWork)
	defer deadline.Stop()
	w.deliverWG.Wait()
	w.settleWG.Wait()
	stopHeartbeat()
	<-hbDone
	w.log.Info("worker stopped", "drain", w.now().Sub(start), "unsettled", w.owned.len())
	return nil
}

// checkQueue reads the queue's attributes at startup: it proves the queue
// can be read and says whether the visibility timeout leaves room for the
// heartbeat (three beats plus one SQS call must fit in it).
func (w *Worker) checkQueue(ctx context.Context) error {
	queueVT, err := w.queueVisibility(ctx)
	if err != nil {
		return fmt.Errorf("worker: startup check of %s: %w", w.opts.QueueURL, err)
	}
	vt := w.cfg.Queue.VisibilityTimeout
	if need := 3*time.Second + w.opts.SQSCallTimeout; vt < need {
		return fmt.Errorf("worker: visibility timeout %v is too short: the heartbeat needs at least %v "+
			"(3 beats of 1 s + the %v SQS call timeout); raise queue.sqs.visibility_timeout", vt, need, w.opts.SQSCallTimeout)
	}
	w.log.Info("queue checked", "visibility_timeout", vt, "queue_visibility_timeout", queueVT,
		"heartbeat", w.heartbeatPeriod())
	return nil
}

// heartbeatPeriod is how often owned messages are extended: a third of the
// visibility timeout, less the SQS call timeout, so that three beats plus one
// call fit in it (DESIGN §4.1).
func (w *Worker) heartbeatPeriod() time.Duration {
	return max(time.Second, (w.cfg.Queue.VisibilityTimeout-w.opts.SQSCallTimeout)/3)
}

// isStopping reports whether shutdown has started.
func (w *Worker) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}

// Ready reports whether the worker is receiving: nil when a receive
// succeeded within the last two long polls. For /readyz; liveness must not
// depend on it.
func (w *Worker) Ready() error {
	last := w.lastReceive.Load()
	if last == 0 {
		return errors.New("no successful receive yet")
	}
	limit := 2*time.Duration(w.cfg.Queue.WaitTimeSeconds)*time.Second + 2*w.opts.SQSCallTimeout
	if age := w.now().Sub(time.Unix(0, last)); age > limit {
		return fmt.Errorf("last successful receive %v ago", age.Round(time.Second))
	}
	return nil
}
