package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/producer"
	"github.com/hookline/hookline/signing"
)

func newSendCmd(e *env, g *globalFlags) *cobra.Command {
	var (
		appID, ingestURL string
		ev               payload.Event
		subCount         int64
	)
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Enqueue Pusher events for an app (one from flags, or JSON lines on stdin)",
		Long: `Enqueue events for the app --app of --config, and print each one enqueued.

One event from flags:
  hookline send --app app-1 --name member_added --channel presence-chat --user-id u1

Many, one JSON object per line on stdin (when --name is not given):
  echo '{"name":"channel_occupied","channel":"presence-chat"}' | hookline send --app app-1

"data" may be a JSON string or an object (a client_event's object data is
turned into its JSON string). time_ms defaults to now.

With --ingest-url the events go through a running "hookline ingest" instead of
straight to SQS: one POST, signed with the app's key and secret like a Pusher
webhook, to <url>/pusher.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(e)
			if err != nil {
				return err
			}
			app := cfg.App(appID)
			if app == nil {
				return usageError{fmt.Errorf("--app %q is not an app of %s", appID, g.configPath)}
			}
			var events []payload.Event
			if ev.Name != "" {
				if cmd.Flags().Changed("subscription-count") {
					ev.SubscriptionCount = &subCount
				}
				events = append(events, ev)
			} else if events, err = readEvents(e.stdin); err != nil {
				return err
			}
			if len(events) == 0 {
				return usageError{fmt.Errorf("no events: give --name (and friends) or JSON lines on stdin")}
			}
			now := time.Now().UnixMilli()
			for i := range events {
				if events[i].TimeMS == 0 {
					events[i].TimeMS = now
				}
			}
			ctx := cmd.Context()
			if ingestURL != "" {
				if err := postToIngest(ctx, ingestURL, app.Key, app.Secret.Reveal(), now, events); err != nil {
					return err
				}
			} else {
				log, err := g.logger(e)
				if err != nil {
					return err
				}
				awsCfg, err := loadAWS(ctx, cfg.Queue.Region)
				if err != nil {
					return err
				}
				client := sqsClient(awsCfg, cfg.Queue)
				url, err := mainQueueURL(ctx, client, cfg.Queue)
				if err != nil {
					return err
				}
				prod, err := producer.New(ctx, client, producer.Options{QueueURL: url, FIFO: cfg.Queue.FIFO,
					FairQueues: cfg.Queue.FairQueues, MaxEvents: cfg.Webhooks.Batching.Size, Logger: log})
				if err != nil {
					return err
				}
				pubErr := prod.Publish(ctx, app.ID, events...)
				if err := prod.Close(ctx); err != nil && pubErr == nil {
					pubErr = err
				}
				if pubErr != nil {
					return pubErr
				}
			}
			for _, ev := range events {
				fmt.Fprintf(e.stdout, "enqueued %s %s\n", app.ID, describeEvent(ev))
			}
			via := "SQS"
			if ingestURL != "" {
				via = "ingest"
			}
			fmt.Fprintf(e.stdout, "sent %d events for app %s via %s\n", len(events), app.ID, via)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&appID, "app", "", "app id (required)")
	f.StringVar(&ev.Name, "name", "", "event name: channel_occupied, channel_vacated, member_added, member_removed, client_event, …")
	f.StringVar(&ev.Channel, "channel", "", "channel name")
	f.StringVar(&ev.Event, "event", "", "client event name (client_event)")
	f.StringVar(&ev.Data, "data", "", "event data, a JSON string (client_event)")
	f.StringVar(&ev.UserID, "user-id", "", "user id (member_added, member_removed)")
	f.StringVar(&ev.SocketID, "socket-id", "", "socket id (client_event)")
	f.Int64Var(&subCount, "subscription-count", 0, "subscription count (subscription_count)")
	f.StringVar(&ingestURL, "ingest-url", "", "send through a running hookline ingest at this base URL instead of SQS")
	_ = cmd.MarkFlagRequired("app")
	return cmd
}

// readEvents reads one JSON event per line; blank lines are skipped.
func readEvents(r io.Reader) ([]payload.Event, error) {
	var out []payload.Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var ev payload.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			return nil, usageError{fmt.Errorf("stdin line %d: %w", n, err)}
		}
		if ev.Name == "" {
			return nil, usageError{fmt.Errorf("stdin line %d: missing \"name\"", n)}
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}

// postToIngest POSTs the events as one Pusher webhook, signed for the app.
func postToIngest(ctx context.Context, base, key, secret string, timeMS int64, events []payload.Event) error {
	body, err := payload.EncodeBody(timeMS, events)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/pusher", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.HeaderKey, key)
	req.Header.Set(signing.HeaderSignature, signing.Sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ingest answered %s: %s", resp.Status, bytes.TrimSpace(answer))
	}
	return nil
}
