package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/logging"

	"github.com/hookline/hookline/signing"
)

// The contenders other than Hookline run as children of the driver: the
// bench binary started again with "child <mode>" and these flags.
const (
	childArg     = "child"
	modeConsumer = "consumer" // the per-message consumer
	modeBare     = "bare"     // receive + delete, no delivery
)

// maxReceive is the most messages one ReceiveMessage returns (SQS limit).
const maxReceive = 10

// peerOptions are a child's settings.
type peerOptions struct {
	endpoint   string // SQS endpoint (the counting proxy)
	region     string
	queueURL   string
	pollers    int
	wait       int // long poll, s
	visibility int // s
	// Consumer only.
	url, key, secret string
}

// runChild runs a child mode until SIGTERM or SIGINT; it returns the exit
// code (0 after a clean stop, 1 on failure, 2 on bad usage).
func runChild(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "hookline-bench child: want a mode: consumer or bare")
		return 2
	}
	mode := args[0]
	var o peerOptions
	fs := flag.NewFlagSet("hookline-bench child "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.endpoint, "endpoint", "", "SQS endpoint")
	fs.StringVar(&o.region, "region", "us-east-1", "AWS region of the queue")
	fs.StringVar(&o.queueURL, "queue-url", "", "queue URL")
	fs.IntVar(&o.pollers, "pollers", 5, "concurrent receive loops")
	fs.IntVar(&o.wait, "wait", 1, "ReceiveMessage WaitTimeSeconds")
	fs.IntVar(&o.visibility, "visibility", 30, "ReceiveMessage VisibilityTimeout, s")
	fs.StringVar(&o.url, "url", "", "webhook URL (consumer)")
	fs.StringVar(&o.key, "key", "", "app key (consumer)")
	fs.StringVar(&o.secret, "secret", "", "app secret (consumer)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if o.endpoint == "" || o.queueURL == "" || o.pollers < 1 {
		fmt.Fprintln(stderr, "hookline-bench child: -endpoint, -queue-url and -pollers ≥ 1 are required")
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	client := sqs.New(sqs.Options{
		Region:       o.region,
		BaseEndpoint: aws.String(o.endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		// The SDK's retries are otherwise silent; they show in the report.
		ClientLogMode: aws.LogRetries,
		Logger:        sdkLogger{log},
	})

	var poll func(ctx, work context.Context) error
	switch mode {
	case modeConsumer:
		if o.url == "" || o.key == "" || o.secret == "" {
			fmt.Fprintln(stderr, "hookline-bench child consumer: -url, -key and -secret are required")
			return 2
		}
		c := &consumer{opts: o, sqs: client, log: log, http: &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				MaxIdleConns:        o.pollers,
				MaxIdleConnsPerHost: o.pollers,
				IdleConnTimeout:     90 * time.Second,
			},
		}}
		poll = c.poll
	case modeBare:
		b := &bare{opts: o, sqs: client, log: log}
		poll = b.poll
	default:
		fmt.Fprintf(stderr, "hookline-bench child: unknown mode %q: want consumer or bare\n", mode)
		return 2
	}

	// Receives stop at the signal; what was received is still handled and
	// deleted under work, which the signal does not cancel.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	work := context.WithoutCancel(ctx)
	errs := make(chan error, o.pollers)
	var wg sync.WaitGroup
	for range o.pollers {
		wg.Go(func() { errs <- poll(ctx, work) })
	}
	wg.Wait()
	close(errs)
	code := 0
	for err := range errs {
		if err != nil {
			log.Error("poller", "err", err)
			code = 1
		}
	}
	return code
}

// sdkLogger logs the SDK's retries at warn level; the SDK's other lines
// (the long polls it gives up at the stop) are dropped.
type sdkLogger struct{ log *slog.Logger }

func (l sdkLogger) Logf(_ logging.Classification, format string, v ...any) {
	if msg := fmt.Sprintf(format, v...); strings.HasPrefix(msg, "retrying") {
		l.log.Warn("sdk retry", "detail", msg)
	}
}

// receiveInput is the receive both peers make.
func receiveInput(o peerOptions) *sqs.ReceiveMessageInput {
	return &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(o.queueURL),
		MaxNumberOfMessages: maxReceive,
		WaitTimeSeconds:     int32(o.wait),
		VisibilityTimeout:   int32(o.visibility),
	}
}

// receive makes one receive; it returns ok false once ctx is done. Other
// errors are logged and retried after a pause.
func receive(ctx context.Context, client *sqs.Client, o peerOptions, log *slog.Logger) (msgs []types.Message, ok bool) {
	out, err := client.ReceiveMessage(ctx, receiveInput(o))
	switch {
	case ctx.Err() != nil:
		return nil, false
	case err != nil:
		log.Warn("receive", "err", err)
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(100 * time.Millisecond):
			return nil, true
		}
	}
	return out.Messages, true
}

// consumer is the naive per-message consumer: for each received message it
// decodes the envelope into structs, builds and signs one Pusher body with
// that message's events, POSTs it, and deletes the message.
type consumer struct {
	opts peerOptions
	sqs  *sqs.Client
	http *http.Client
	log  *slog.Logger
}

// envelope is the consumer's view of a Hookline queue message.
type envelope struct {
	V      int     `json:"v"`
	ID     string  `json:"id"`
	AppID  string  `json:"app_id"`
	Events []event `json:"events"`
}

// event is one Pusher event record, with the id Hookline adds
// ("<envelope id>:<index>") so both send the same bodies.
type event struct {
	Name     string `json:"name"`
	Channel  string `json:"channel,omitempty"`
	Event    string `json:"event,omitempty"`
	Data     string `json:"data,omitempty"`
	SocketID string `json:"socket_id,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	TimeMS   int64  `json:"time_ms,omitempty"`
	ID       string `json:"id,omitempty"`
}

type body struct {
	TimeMS int64   `json:"time_ms"`
	Events []event `json:"events"`
}

func (c *consumer) poll(ctx, work context.Context) error {
	for {
		msgs, ok := receive(ctx, c.sqs, c.opts, c.log)
		if !ok {
			return nil
		}
		for _, m := range msgs {
			if err := c.handle(work, m); err != nil {
				// Left in the queue: it comes back after the visibility timeout.
				c.log.Warn("message", "message_id", aws.ToString(m.MessageId), "err", err)
			}
		}
	}
}

func (c *consumer) handle(ctx context.Context, m types.Message) error {
	var env envelope
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if env.V != 1 || len(env.Events) == 0 {
		return fmt.Errorf("decode: envelope v %d with %d events", env.V, len(env.Events))
	}
	for i := range env.Events {
		env.Events[i].ID = env.ID + ":" + strconv.Itoa(i)
	}
	b, err := json.Marshal(body{TimeMS: time.Now().UnixMilli(), Events: env.Events})
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.opts.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.HeaderKey, c.opts.key)
	req.Header.Set(signing.HeaderSignature, signing.Sign(c.opts.secret, b))
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post: HTTP %d", resp.StatusCode)
	}
	if _, err := c.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.opts.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// bare is the limit of the SQS endpoint: receive and delete, nothing else.
type bare struct {
	opts peerOptions
	sqs  *sqs.Client
	log  *slog.Logger
}

func (b *bare) poll(ctx, work context.Context) error {
	entries := make([]types.DeleteMessageBatchRequestEntry, 0, maxReceive)
	for {
		msgs, ok := receive(ctx, b.sqs, b.opts, b.log)
		if !ok {
			return nil
		}
		if len(msgs) == 0 {
			continue
		}
		entries = entries[:0]
		for i, m := range msgs {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		out, err := b.sqs.DeleteMessageBatch(work, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(b.opts.queueURL), Entries: entries})
		if err != nil {
			b.log.Warn("delete batch", "err", err)
			continue
		}
		for _, f := range out.Failed {
			b.log.Warn("delete batch entry", "id", aws.ToString(f.Id), "code", aws.ToString(f.Code), "err", errors.New(aws.ToString(f.Message)))
		}
	}
}
