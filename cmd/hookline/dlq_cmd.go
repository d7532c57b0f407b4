package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hookline/hookline/dlq"
)

func newDLQCmd(e *env, g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect, redrive or purge the dead-letter queue",
		Long: `Work on the dead-letter queue (DLQ), <queue_name>-dlq (FIFO: <queue_name>-dlq.fifo,
or queue.sqs.dead_letter_queue_name). The worker copies there what it gives up
on, with the reason in the hookline-* message attributes; messages the queue's
redrive policy moved (a crash loop) have no reason and show as redrive-policy.

  inspect   a sample with reason, webhook, status, attempts, app and events
  redrive   back to the main queue with the attempts reset
  purge     delete everything in the DLQ, after confirmation

See docs/dlq.md.`,
	}
	cmd.AddCommand(newDLQInspectCmd(e, g), newDLQRedriveCmd(e, g), newDLQPurgeCmd(e, g))
	return cmd
}

// dlqFilterFlags adds --reason, --webhook and --app.
func dlqFilterFlags(f *pflag.FlagSet, filter *dlq.Filter) {
	f.StringSliceVar(&filter.Reasons, "reason", nil, "only these hookline-reason values (repeat or comma-separate; redrive-policy for messages without one)")
	f.StringSliceVar(&filter.Webhooks, "webhook", nil, "only these webhooks: a webhook id (hookline-webhook) or target (URL, lambda:<function>)")
	f.StringSliceVar(&filter.Apps, "app", nil, "only these app ids")
}

// dlqQueues resolves the queue pair the way the worker does.
func dlqQueues(ctx context.Context, g *globalFlags, e *env) (dlq.API, dlq.Queues, error) {
	_, cfg, err := g.setup(e)
	if err != nil {
		return nil, dlq.Queues{}, err
	}
	client, err := newSQSClient(ctx, cfg.Queue)
	if err != nil {
		return nil, dlq.Queues{}, err
	}
	main, dead, err := queueURLs(ctx, client, cfg.Queue)
	if err != nil {
		return nil, dlq.Queues{}, err
	}
	return client, dlq.Queues{Main: main, DeadLetter: dead, FIFO: cfg.Queue.FIFO, GroupByApp: cfg.Queue.FairQueues && !cfg.Queue.FIFO}, nil
}

func newDLQInspectCmd(e *env, g *globalFlags) *cobra.Command {
	var (
		opts   dlq.InspectOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Show a sample of the dead letters: reason, webhook, status, attempts, app, events",
		Long: `Receive a sample of the DLQ without deleting anything and print one row per
message: reason, webhook id, target, HTTP status, attempts, app, a summary of
its events and the detail (truncated; --json has it whole), then "showing N of
~M", M being the DLQ's approximate depth (visible + in flight + delayed).

The sample is received with a short visibility timeout (--visibility-timeout,
default 5s) and made visible again as soon as inspect is done; if inspect is
killed, the messages reappear when that timeout ends. Each receive counts in
the messages' ApproximateReceiveCount (receive_count), nothing else changes.

Filters (--reason, --webhook, --app; each repeatable, all must hold) are
applied to what is received: inspect reads at most --max-scan messages while
looking for --limit matches.

--json prints one JSON object per message on stdout (fields message_id,
reason, webhook, target, status, attempts, receive_count, detail, sent_at,
envelope, envelope_id, app_id, targets, events, event_summary, body — body only
for messages that are not envelopes) and the "showing" line on stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Limit < 1 {
				return usageError{fmt.Errorf("--limit %d: must be at least 1", opts.Limit)}
			}
			if opts.Visibility < time.Second || opts.Visibility%time.Second != 0 {
				return usageError{fmt.Errorf("--visibility-timeout %s: whole seconds, at least 1s", opts.Visibility)}
			}
			api, q, err := dlqQueues(cmd.Context(), g, e)
			if err != nil {
				return err
			}
			s, err := dlq.Inspect(cmd.Context(), api, q.DeadLetter, opts)
			if err != nil {
				return err
			}
			summary := fmt.Sprintf("showing %d of ~%d messages in %s", len(s.Messages), s.Depth.Total(), q.DeadLetter)
			if !opts.Filter.Empty() {
				summary = fmt.Sprintf("showing %d matching of ~%d messages in %s (scanned %d)", len(s.Messages), s.Depth.Total(), q.DeadLetter, s.Scanned)
			}
			if s.Unreleased > 0 {
				summary += fmt.Sprintf("; %d stay hidden until their visibility timeout ends", s.Unreleased)
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				for _, m := range s.Messages {
					if err := enc.Encode(m); err != nil {
						return err
					}
				}
				fmt.Fprintln(e.stderr, summary)
				return nil
			}
			printDeadLetters(e.stdout, s.Messages)
			fmt.Fprintln(e.stdout, summary)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Limit, "limit", dlq.DefaultInspectLimit, "most messages shown")
	f.IntVar(&opts.MaxScan, "max-scan", dlq.DefaultInspectScan, "most messages read while looking for matches of the filters")
	f.DurationVar(&opts.Visibility, "visibility-timeout", dlq.DefaultInspectVisibility, "how long the sample stays hidden if it cannot be given back at once")
	f.BoolVar(&asJSON, "json", false, "one JSON object per message instead of the table")
	dlqFilterFlags(f, &opts.Filter)
	return cmd
}

// printDeadLetters writes the inspect table.
func printDeadLetters(w io.Writer, msgs []*dlq.Message) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REASON\tWEBHOOK\tTARGET\tSTATUS\tATTEMPTS\tAPP\tEVENTS\tDETAIL")
	for _, m := range msgs {
		reason := m.Reason
		if reason == dlq.ReasonRedrivePolicy {
			reason += " (max receives)"
		}
		attempts := "-"
		if m.Attempts > 0 {
			attempts = strconv.Itoa(m.Attempts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", reason, dash(m.Webhook), dash(shorten(m.Target, 40)), dash(m.Status),
			attempts, dash(m.AppID), shorten(m.EventSummary, 60), dash(shorten(oneLine(m.Detail), 60)))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shorten cuts s to n runes, marking the cut with "…".
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func newDLQRedriveCmd(e *env, g *globalFlags) *cobra.Command {
	var (
		opts         dlq.RedriveOptions
		serverSide   bool
		maxPerSecond int
	)
	cmd := &cobra.Command{
		Use:   "redrive",
		Short: "Send dead letters back to the main queue with their attempts reset",
		Long: `Move dead letters back to the main queue, in batches of 10: receive from the
DLQ, rewrite each envelope with its attempts reset (attempt, first_attempt_ms,
not_before cleared; id, events and targets kept, so only the webhook that
failed is tried again, with a full retry budget), drop the hookline-*
attributes, send it to the main queue, and delete from the DLQ only the
messages the main queue accepted. A refused send leaves its message in the DLQ.

Filters (--reason, --webhook, --app; each repeatable, all must hold) select
what is redriven. Messages left in place (filtered out; bodies that are not
envelopes, e.g. malformed-body or sockudo-job, which the worker would only
dead-letter again, counted as skipped; refused sends; a redriven message
dead-lettered again during the run, never redriven twice in one run) stay
hidden while the run lasts,
so it moves on through the queue, and are made visible again when it ends.
On FIFO queues a message left in place holds its app's group for the run, so
a filtered run stops at the first one of each app: filter by --app there.

Prints a progress bar on a terminal and a final count "redriven N, skipped K,
failed F". Exit status 1 when any message failed. Ctrl-C stops after the
batch in hand: its accepted sends are deleted from the DLQ, nothing more is
received; run it again for the rest.

--server-side asks SQS to move the whole DLQ instead (StartMessageMoveTask)
and prints the task handle. SQS moves messages as they are: it cannot filter
(so it refuses --reason, --webhook, --app and --max) and it does not reset
attempts or remove the hookline-* attributes, so a message that ran out of
retries gets one more attempt before it is dead-lettered again. Emulators
(fauxqs) do not have StartMessageMoveTask.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if serverSide {
				if !opts.Filter.Empty() || opts.Max > 0 {
					return usageError{errors.New("--server-side moves every message as it is: it cannot be combined with --reason, --webhook, --app or --max")}
				}
				return serverSideMove(ctx, e, g, maxPerSecond)
			}
			if maxPerSecond != 0 {
				return usageError{errors.New("--max-per-second needs --server-side")}
			}
			if opts.Max < 0 {
				return usageError{fmt.Errorf("--max %d: must not be negative", opts.Max)}
			}
			if opts.Visibility < time.Second || opts.Visibility%time.Second != 0 || opts.Visibility > 12*time.Hour {
				return usageError{fmt.Errorf("--visibility-timeout %s: whole seconds, 1s to 12h", opts.Visibility)}
			}
			api, q, err := dlqQueues(ctx, g, e)
			if err != nil {
				return err
			}
			bar, done := redriveProgress(ctx, e, api, q.DeadLetter)
			opts.Progress = bar
			c, err := dlq.Redrive(ctx, api, q, opts)
			done()
			return reportRedrive(e, q, c, err, ctx.Err() != nil)
		},
	}
	f := cmd.Flags()
	dlqFilterFlags(f, &opts.Filter)
	f.IntVar(&opts.Max, "max", 0, "stop after redriving this many messages (0: all)")
	f.DurationVar(&opts.Visibility, "visibility-timeout", dlq.DefaultRedriveVisibility, "how long received DLQ messages stay hidden during the run (those left in place are released when it ends)")
	f.BoolVar(&serverSide, "server-side", false, "move the whole DLQ with SQS's StartMessageMoveTask: no filters, attempts not reset")
	f.IntVar(&maxPerSecond, "max-per-second", 0, "with --server-side: MaxNumberOfMessagesPerSecond of the move task (0: SQS's default)")
	return cmd
}

// redriveProgress is the progress callback: a bar on stderr when it is a
// terminal, else nothing. done finishes the bar.
func redriveProgress(ctx context.Context, e *env, api dlq.API, url string) (progress func(dlq.Counts), done func()) {
	f, ok := e.stderr.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return nil, func() {}
	}
	total := 0
	if d, err := dlq.QueueDepth(ctx, api, url); err == nil {
		total = d.Total()
	}
	bar := progressbar.NewOptions(max(total, 1),
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionSetDescription("redriving"),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return func(c dlq.Counts) {
			if n := c.Seen(); n > bar.GetMax() {
				bar.ChangeMax(n)
			}
			_ = bar.Set(c.Seen())
		}, func() {
			_ = bar.Finish()
		}
}

// reportRedrive prints the final count and turns the run's outcome into the
// command's error.
func reportRedrive(e *env, q dlq.Queues, c dlq.Counts, err error, interrupted bool) error {
	fmt.Fprintf(e.stdout, "redriven %d, skipped %d, failed %d", c.Redriven, c.Skipped, c.Failed)
	if c.Unmatched > 0 {
		fmt.Fprintf(e.stdout, " (%d not matching the filters left in the DLQ)", c.Unmatched)
	}
	fmt.Fprintln(e.stdout)
	if c.Skipped > 0 {
		fmt.Fprintf(e.stdout, "skipped: %d messages that are not envelopes stay in %s (see `hookline dlq inspect --reason malformed-body`)\n", c.Skipped, q.DeadLetter)
	}
	if c.Again > 0 {
		fmt.Fprintf(e.stdout, "failed again: %d redriven messages were dead-lettered again during this run and stay in the DLQ; fix the cause, then run it again\n", c.Again)
	}
	if c.NotDeleted > 0 {
		fmt.Fprintf(e.stdout, "warning: %d messages reached the main queue but could not be deleted from the DLQ; a later redrive sends them again (receivers de-duplicate on event ids)\n", c.NotDeleted)
	}
	for _, msg := range c.Errors {
		fmt.Fprintln(e.stderr, "hookline: dlq redrive:", msg)
	}
	switch {
	case interrupted:
		return errors.New("dlq redrive: interrupted after the batch in hand; run it again to redrive the rest")
	case err != nil:
		return err
	case c.Failed > 0 || c.NotDeleted > 0:
		return fmt.Errorf("dlq redrive: %d messages failed, %d not deleted; the failed ones stay in the DLQ, run it again", c.Failed, c.NotDeleted)
	}
	return nil
}

// serverSideMove starts a StartMessageMoveTask from the DLQ to the main queue.
func serverSideMove(ctx context.Context, e *env, g *globalFlags, maxPerSecond int) error {
	if maxPerSecond < 0 {
		return usageError{fmt.Errorf("--max-per-second %d: must not be negative", maxPerSecond)}
	}
	api, q, err := dlqQueues(ctx, g, e)
	if err != nil {
		return err
	}
	mv, err := dlq.StartMove(ctx, api, q, maxPerSecond)
	if errors.Is(err, dlq.ErrMoveUnsupported) {
		return fmt.Errorf("--server-side: this SQS endpoint has no StartMessageMoveTask (emulators such as fauxqs lack it); run `hookline dlq redrive` without --server-side: %w", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "started move task %s\n  from %s\n  to   %s\n", mv.TaskHandle, mv.SourceARN, mv.DestinationARN)
	fmt.Fprintf(e.stdout, "SQS moves the messages as they are (attempts not reset); follow it with `aws sqs list-message-move-tasks --source-arn %s`\n", mv.SourceARN)
	return nil
}

func newDLQPurgeCmd(e *env, g *globalFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete every message in the dead-letter queue (asks first)",
		Long: `Delete every message in the DLQ with PurgeQueue. It shows the approximate count
and asks "Purge ~N messages from <url>? [y/N]" on the terminal; only y or yes
purges. Anything else, or no answer (stdin closed), purges nothing and exits
with status 1. --yes skips the question, for scripts.

SQS allows one purge per queue every 60 seconds and may take up to 60 seconds
to finish; messages sent meanwhile may be deleted too. Purged messages cannot
be recovered: inspect them first (hookline dlq inspect).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			api, q, err := dlqQueues(ctx, g, e)
			if err != nil {
				return err
			}
			d, err := dlq.QueueDepth(ctx, api, q.DeadLetter)
			if err != nil {
				return err
			}
			if !yes {
				fmt.Fprintf(e.stdout, "Purge ~%d messages from %s? [y/N] ", d.Total(), q.DeadLetter)
				answer, _ := bufio.NewReader(e.stdin).ReadString('\n')
				switch strings.ToLower(strings.TrimSpace(answer)) {
				case "y", "yes":
				default:
					if !strings.HasSuffix(answer, "\n") {
						fmt.Fprintln(e.stdout)
					}
					fmt.Fprintln(e.stdout, "not purged")
					return exitError{1}
				}
			}
			if err := dlq.Purge(ctx, api, q.DeadLetter); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "purged ~%d messages from %s (SQS may take up to 60 s to finish)\n", d.Total(), q.DeadLetter)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "purge without asking")
	return cmd
}
