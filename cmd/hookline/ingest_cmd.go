package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/hookline/hookline/ingest"
	"github.com/hookline/hookline/producer"
)

func newIngestCmd(e *env, g *globalFlags) *cobra.Command {
	var (
		listen      string
		readTimeout time.Duration
		linger      time.Duration
		batchLinger time.Duration
		opts        ingest.Options
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Accept Pusher webhooks from an existing server and enqueue them on SQS",
		Long: `Serve the ingest endpoints so that Pusher, soketi or Sockudo (on its memory or
Redis queue driver) can point their webhook URL at Hookline:

  existing server --POST--> hookline ingest --> SQS --> hookline worker --> your endpoints

POST /pusher  a Pusher webhook body {"time_ms":…,"events":[…]}
POST /events  {"events":[…]} for servers that are not Pusher-compatible
              ("time_ms" optional, default now)

Both are authenticated like a Pusher webhook: X-Pusher-Key names the app of
--config, X-Pusher-Signature is the lowercase hex HMAC-SHA256 of the body with
its secret. 200 only after SQS accepted every event (within --timeout); 401
unknown key or bad signature; 400 malformed body; 408 a body slower than
--read-timeout; 413 too large; 415 not JSON; 503 with Retry-After when SQS is
unavailable or refuses the events. A repeat of a POST that
succeeded in the last 10 minutes is acknowledged without a second enqueue.

The events of an app arriving within --linger, from any number of POSTs, share
one SQS message (up to webhooks.batching.size events and 64 KiB), and messages
of all apps share SendMessageBatch calls filled within --batch-linger: fewer
billed SQS requests, answers that much later (Pusher waits about 4 s).

Also serves GET /healthz, GET /readyz (503 until the apps were read) and
GET /metrics. SIGHUP or a change of the config file reloads the apps; an
unknown key is looked up once more (rate-limited) before the answer is 401.
SIGTERM: stop accepting, finish the requests in progress, flush the
producer, exit 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if readTimeout <= 0 {
				return fmt.Errorf("--read-timeout %s: must be positive", readTimeout)
			}
			if opts.Timeout < 0 {
				return fmt.Errorf("--timeout %s: must not be negative", opts.Timeout)
			}
			log, cfg, err := g.setup(e)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			awsCfg, err := loadAWS(ctx, cfg.Queue.Region)
			if err != nil {
				return err
			}
			client := sqsClient(awsCfg, cfg.Queue)
			queueURL, err := mainQueueURL(ctx, client, cfg.Queue)
			if err != nil {
				return err
			}
			reg := newRegistry()
			prod, err := producer.New(ctx, client, producer.Options{
				QueueURL: queueURL, FIFO: cfg.Queue.FIFO, FairQueues: cfg.Queue.FairQueues,
				MaxEvents: cfg.Webhooks.Batching.Size, Linger: linger, BatchLinger: batchLinger, Logger: log, Registry: reg,
			})
			if err != nil {
				return err
			}
			apps, err := g.openApps(ctx, e, log, cfg, reg)
			if err != nil {
				return err
			}
			defer apps.Close()
			opts.Config, opts.Apps, opts.Logger, opts.Registry = cfg, apps, log, reg
			h, err := ingest.New(prod, opts)
			if err != nil {
				return err
			}
			h.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
			h.Handle("GET /readyz", readyzHandler(apps, nil))
			// Requests are answered 503 until the apps were read (ingest.Handler checks
			// apps.Ready); the first read goes on in the background.
			go func() {
				if firstRead(ctx, log, apps) == nil {
					apps.Run(ctx)
				}
			}()
			h.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			// The write deadline starts when the headers are read: it covers
			// the body, the wait for SQS and the answer.
			srv := &http.Server{Handler: h, ReadHeaderTimeout: min(5*time.Second, readTimeout), ReadTimeout: readTimeout,
				WriteTimeout: readTimeout + max(opts.Timeout, ingest.DefaultTimeout) + 5*time.Second, IdleTimeout: 60 * time.Second}
			log.Info("ingest listening", "addr", ln.Addr().String(), "queue_url", queueURL)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				_ = prod.Close(context.Background())
				return err
			case <-ctx.Done():
			}
			log.Info("ingest stopping")
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGracePeriod)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("shutdown", "error", err)
			}
			if err := prod.Close(sctx); err != nil {
				return fmt.Errorf("ingest: flushing the producer: %w", err)
			}
			log.Info("ingest stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", ":8080", "address to listen on (all interfaces by default, like the worker; 127.0.0.1:8080 for this host only)")
	f.DurationVar(&opts.Timeout, "timeout", ingest.DefaultTimeout, "longest wait for SQS before answering 503")
	f.DurationVar(&linger, "linger", ingest.DefaultLinger, "how long an app's queue message waits for more events, of any POST, after its first (0: the producer's 10 ms)")
	f.DurationVar(&batchLinger, "batch-linger", producer.DefaultBatchLinger, "how long a queue message waits for others to fill a SendMessageBatch call (negative: send at once)")
	f.DurationVar(&readTimeout, "read-timeout", 10*time.Second, "longest time to receive a request, headers and body (408 for a body still arriving)")
	f.Int64Var(&opts.MaxBodyBytes, "max-body-bytes", ingest.DefaultMaxBodyBytes, "largest request body (413 above)")
	return cmd
}
