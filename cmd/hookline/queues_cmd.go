package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/hookline/hookline/queues"
)

func newQueuesCmd(e *env, g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queues",
		Short: "Manage the SQS queues",
	}
	var (
		maxReceiveCount int
		maxMessageSize  int
		retention       time.Duration
		noSSE           bool
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create the main queue and its dead-letter queue, or fix their attributes",
		Long: `Create the main queue and its dead-letter queue (DLQ) if missing; otherwise set
the attributes that drifted from what Hookline needs and print each change.
Running it again changes nothing. Idempotent, so it is safe in init hooks.

Main queue: VisibilityTimeout (queue.sqs.visibility_timeout), MaximumMessageSize,
MessageRetentionPeriod, server-side encryption (where the endpoint supports it)
and a redrive policy to the DLQ. DLQ: 14 days retention.

The redrive policy's maxReceiveCount (--max-receive-count, default 10) is a
crash-loop backstop, not the retry limit: the worker counts delivery attempts
itself and dead-letters a message after webhooks.retry.max_attempts, sending a
new message for each retry. A message's receive count only grows when a worker
crashes or loses it, so maxReceiveCount stays well above any legitimate count.

With queue.sqs.fifo the pair is <name>.fifo and <name>-dlq.fifo, with
DeduplicationScope=messageGroup and FifoThroughputLimit=perMessageGroupId.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, cfg, err := g.setup(e)
			if err != nil {
				return err
			}
			client, err := newSQSClient(cmd.Context(), cfg.Queue)
			if err != nil {
				return err
			}
			spec := queues.Spec{
				Name:               cfg.Queue.QueueName,
				DeadLetterName:     cfg.Queue.DeadLetterQueueName,
				FIFO:               cfg.Queue.FIFO,
				VisibilityTimeout:  cfg.Queue.VisibilityTimeout,
				MaxReceiveCount:    maxReceiveCount,
				MaximumMessageSize: maxMessageSize,
				MessageRetention:   retention,
				DisableSSE:         noSSE,
			}.WithDefaults()
			if err := spec.Validate(); err != nil {
				return usageError{err}
			}
			res, err := queues.Ensure(cmd.Context(), client, spec)
			if err != nil {
				return err
			}
			res.Print(e.stdout)
			log.Info("queues ready", "queue", res.Main.Name, "dlq", res.DeadLetter.Name,
				"created", boolCount(res.Main.Created)+boolCount(res.DeadLetter.Created),
				"changed", len(res.Main.Changes)+len(res.DeadLetter.Changes))
			return nil
		},
	}
	f := create.Flags()
	f.IntVar(&maxReceiveCount, "max-receive-count", 10, "redrive policy maxReceiveCount: crash-loop backstop, not the retry limit")
	f.IntVar(&maxMessageSize, "max-message-size", 262144, "MaximumMessageSize in bytes, set on both queues (1024 to 1048576)")
	f.DurationVar(&retention, "retention", 4*24*time.Hour, "main queue MessageRetentionPeriod (the DLQ keeps 14 days)")
	f.BoolVar(&noSSE, "no-sse", false, "do not enable SQS-managed server-side encryption")
	cmd.AddCommand(create)
	return cmd
}

func boolCount(b bool) int {
	if b {
		return 1
	}
	return 0
}
