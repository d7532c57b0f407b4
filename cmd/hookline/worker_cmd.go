package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/worker"
)

func newWorkerCmd(e *env, g *globalFlags) *cobra.Command {
	var (
		listen     string
		cpuProfile string
		opts       worker.Options
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Receive from SQS and deliver signed webhooks",
		Long: `Long-poll the queue, batch events per (app, webhook), deliver signed Pusher
bodies to the webhooks' HTTP endpoints or AWS Lambda functions, retry with backoff through retry envelopes,
and copy what cannot be delivered to the dead-letter queue with the reason in
its attributes (hookline-reason, -target, -status, -attempts).

SIGTERM or SIGINT: stop receiving, flush open batches, finish deliveries within
the grace period (shutdown_grace_period, default 25 s), release messages whose
delivery never started, exit 0. A second signal exits at once with status 2.
SIGHUP or a change of the config file reloads the apps and their webhooks
(messages in flight finish with the definitions they started with).

--listen serves /healthz (liveness, independent of SQS), /readyz (a receive
succeeded recently, and the apps were read) and /metrics (Prometheus: deliveries, SQS calls, queue
depths of the main queue and the DLQ, event age; see docs/production.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, cfg, err := g.setup(e)
			if err != nil {
				return err
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			ctx := cmd.Context()
			awsCfg, err := loadAWS(ctx, cfg.Queue.Region)
			if err != nil {
				return err
			}
			client := sqsClient(awsCfg, cfg.Queue)
			opts.QueueURL, opts.DeadLetterQueueURL, err = queueURLs(ctx, client, cfg.Queue)
			if err != nil {
				return err
			}
			opts.FIFO = cfg.Queue.FIFO
			opts.Logger = log
			reg := newRegistry()
			opts.Registry = reg
			apps, err := g.openApps(ctx, e, log, cfg, reg)
			if err != nil {
				return err
			}
			defer apps.Close()
			opts.Apps = apps
			httpSender := delivery.NewHTTP(delivery.HTTPOptions{UserAgent: "Hookline/" + version})
			defer httpSender.CloseIdleConnections()
			sender := delivery.ByTarget{HTTP: httpSender, Lambda: delivery.NewLambda(delivery.LambdaOptions{AWS: awsCfg})}
			w, err := worker.New(cfg, opts, client, sender)
			if err != nil {
				return err
			}
			if listen != "" {
				srv, addr, err := serveOps(listen, reg, readyzHandler(apps, w.Ready))
				if err != nil {
					return err
				}
				log.Info("serving health and metrics", "addr", addr)
				defer shutdownServer(srv)
			}
			if err := firstRead(ctx, log, apps); err != nil {
				return nil // stopped before the database answered: nothing was received
			}
			go apps.Run(ctx)
			return w.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", ":9464", "address for /healthz, /readyz and /metrics (empty: none)")
	f.DurationVar(&opts.GracePeriod, "grace-period", 0, "drain time on SIGTERM (default: shutdown_grace_period, 25s)")
	f.IntVar(&opts.MaxInFlightMessages, "max-inflight", worker.DefaultMaxInFlightMessages, "most messages held at once; polling stops at the limit")
	f.Int64Var(&opts.MaxInFlightBytes, "max-inflight-bytes", worker.DefaultMaxInFlightBytes, "most message bytes held at once")
	f.IntVar(&opts.WebhookConcurrency, "webhook-concurrency", worker.DefaultWebhookConcurrency, "most requests in flight to one webhook")
	f.DurationVar(&opts.SQSCallTimeout, "sqs-call-timeout", worker.DefaultSQSCallTimeout, "timeout of one SQS call other than the long poll")
	f.IntVar(&opts.MinPollers, "min-pollers", 1, "pollers that keep long-polling while the queue is dry; the others wait for messages")
	f.Int64Var(&opts.WebhookQueuedBytes, "webhook-queued-bytes", worker.DefaultWebhookQueuedBytes, "most event bytes waiting for one webhook; more is handed back")
	f.DurationVar(&opts.QueueStatsInterval, "queue-stats-interval", worker.DefaultQueueStatsInterval,
		"how often to read the main queue's and the DLQ's message counts into hookline_worker_queue_messages (two billed requests; negative: never)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (for benchmarks)")
	_ = f.MarkHidden("cpuprofile")
	var appShare float64
	f.Float64Var(&appShare, "app-share", 0, "ignored: in-flight capacity is work-conserving (see docs/delivery-semantics.md)")
	_ = f.MarkDeprecated("app-share", "in-flight capacity is now work-conserving; a slow webhook is bounded by its request timeout instead")
	return cmd
}

// queueURL resolves one queue's URL: the prefix + name when
// queue.sqs.queue_url_prefix is set, else GetQueueUrl by name (emulators
// accept only the URLs they issued).
func queueURL(ctx context.Context, client *sqs.Client, q config.Queue, name string) (string, error) {
	if q.QueueURLPrefix != "" {
		return strings.TrimSuffix(q.QueueURLPrefix, "/") + "/" + name, nil
	}
	out, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("queue %s: %w (run `hookline queues create` first)", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// mainQueueURL is queue.sqs.queue_url, or the main queue's looked-up URL.
func mainQueueURL(ctx context.Context, client *sqs.Client, q config.Queue) (string, error) {
	if q.QueueURL != "" {
		return q.QueueURL, nil
	}
	return queueURL(ctx, client, q, q.MainQueueName())
}

// queueURLs resolves the main queue's and the DLQ's URLs.
func queueURLs(ctx context.Context, client *sqs.Client, q config.Queue) (main, dlq string, err error) {
	if main, err = mainQueueURL(ctx, client, q); err != nil {
		return "", "", err
	}
	if dlq, err = queueURL(ctx, client, q, q.DLQName()); err != nil {
		return "", "", err
	}
	return main, dlq, nil
}

// serveOps starts the health and metrics server.
func serveOps(addr string, reg *prometheus.Registry, readyz http.HandlerFunc) (*http.Server, string, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err) // Serve on a listener we own fails only on programming errors
		}
	}()
	return srv, ln.Addr().String(), nil
}

func shutdownServer(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
