// Package config loads Hookline's configuration: the apps and webhooks
// sections of a Sockudo config.json, used unchanged, plus Hookline's SQS
// settings, with environment overrides applied in a fixed order.
//
// Loading goes Default → Parse → env overrides → Validate. Parse collects every
// problem it finds instead of stopping at the first, and each one names its
// JSON path and the offending value, with a hint where a typo is likely:
//
//	app_manager.array.apps[0].webhooks[1].filters: unknown key; did you mean "filter"?
//
// The package never reads the process environment or the file system itself:
// the caller passes both in through [Sources], so tests and the cmd layer
// control them.
package config

import (
	"log/slog"
	"time"

	"github.com/hookline/hookline/filter"
)

// Defaults for settings absent from the file. Sockudo's defaults where
// Sockudo has the setting; see docs/configuration.md for the reasoning
// behind the others.
const (
	DefaultBatchingDuration    = 50 * time.Millisecond
	DefaultBatchingSize        = 100
	DefaultRequestTimeout      = 10 * time.Second
	DefaultMaxBodyBytes        = 512 << 10
	DefaultRetryMaxAttempts    = 10
	DefaultInitialBackoff      = time.Second
	DefaultMaxBackoff          = 60 * time.Second
	DefaultMaxElapsedTime      = 300 * time.Second
	DefaultQueueName           = "hookline-webhooks"
	DefaultRegion              = "us-east-1"
	DefaultVisibilityTimeout   = 60 * time.Second
	DefaultWaitTimeSeconds     = 20
	DefaultMaxMessages         = 10
	DefaultConcurrency         = 4
	DefaultShutdownGracePeriod = 25 * time.Second
)

// Config is the resolved configuration.
type Config struct {
	// Apps is the app registry, in file order.
	Apps []App
	// Webhooks holds the global webhook settings (Sockudo's "webhooks"
	// object).
	Webhooks Webhooks
	// Queue holds the SQS settings ("queue.sqs").
	Queue Queue
	// ShutdownGracePeriod is how long a worker drains on SIGTERM
	// (Sockudo's "shutdown_grace_period", seconds). Default 25 s.
	ShutdownGracePeriod time.Duration
	// AppManager says where the apps come from: the file (memory) or a
	// database. With a database, Apps holds only the file's and the
	// environment's apps; the registry package reads the rest.
	AppManager AppManager
	// Database holds the database connection settings ("database").
	Database Database
	// lambdaEndpoint is AWS_ENDPOINT_URL_LAMBDA / AWS_ENDPOINT_URL, for
	// apps read from a database after Parse.
	lambdaEndpoint string
	// Warnings are problems that do not stop startup (a non-https URL, a
	// queue driver other than sqs). Each names its path.
	Warnings []string
}

// App is one application of the registry.
type App struct {
	ID  string
	Key string
	// Secret signs webhook bodies. It never appears in logs or output.
	Secret Secret
	// SecretFile is Hookline's "secret_file": a file holding the secret
	// (a mounted Kubernetes Secret, say). Trailing newlines are trimmed.
	SecretFile string
	// Enabled is false when the app is switched off; its queued messages go
	// to the dead-letter queue with reason app-disabled. Default true.
	Enabled  bool
	Webhooks []Webhook
	// Path is the app's JSON path, e.g. "app_manager.array.apps[0]".
	Path string
	// Warnings are the problems worth a warning (a plain-http URL, ...)
	// AppFromRecord found in a database row, each naming its path. The
	// file's apps have none here: Load returns their warnings.
	Warnings []string
}

// Webhook is one delivery target of an app with its filter.
type Webhook struct {
	// ID is the webhook's "id" field, or a stable hash of its definition
	// (target, headers, event types, filter) when it has none. Retry
	// envelopes name the webhooks still owed by this id.
	ID string
	// Path is the webhook's JSON path, for messages.
	Path string
	// URL is the HTTP(S) endpoint; empty for Lambda targets.
	URL string
	// Headers are added to every request. Names are canonicalised.
	Headers map[string]string
	// Lambda is set for Lambda targets ("lambda" or "lambda_function").
	Lambda *Lambda
	// Filter is the webhook's compiled filter (event types + channel
	// conditions).
	Filter *filter.Filter
	// FilterSpec is what Filter was compiled from.
	FilterSpec filter.Spec
	// RequestTimeout bounds one delivery request. Default: the global
	// webhooks.request_timeout_ms.
	RequestTimeout time.Duration
	// Retry is the resolved retry policy: the webhook's "retry" object
	// over the global webhooks.retry.
	Retry Retry
	// MaxBodyBytes caps one request body. Default 512 KiB.
	MaxBodyBytes int
}

// Target names where the webhook delivers, for logs and the DLQ
// hookline-target attribute. It never contains header values.
func (w *Webhook) Target() string {
	if w.Lambda != nil {
		return "lambda:" + w.Lambda.FunctionName
	}
	return w.URL
}

// Lambda describes a Lambda target.
type Lambda struct {
	FunctionName string
	// InvocationType is "Event" (default) or "RequestResponse".
	InvocationType string
	Qualifier      string
	// Region defaults to the worker's region (queue.sqs.region); Sockudo
	// fixes us-east-1 for "lambda_function", Hookline does not.
	Region      string
	EndpointURL string
	// PayloadFormat is "pusher" (default: the signed Pusher body, Sockudo's
	// shape) or "soketi" ({payload, headers}).
	PayloadFormat string
}

// Webhooks are the global webhook settings.
type Webhooks struct {
	Batching Batching
	Retry    Retry
	// RequestTimeout is webhooks.request_timeout_ms. Default 10 s.
	RequestTimeout time.Duration
	// EventIDs adds an "id" field "<envelope id>:<index>" to each event.
	// Default true; webhooks.event_ids: false turns it off.
	EventIDs bool
	// MaxBodyBytes caps one request body (webhooks.max_body_bytes).
	// Default 512 KiB.
	MaxBodyBytes int
}

// Batching controls how events merge into requests.
type Batching struct {
	// Enabled merges events per (app, webhook); disabled sends one event
	// per request. Default true.
	Enabled bool
	// Duration is how long a batch stays open after its first event.
	// Default 50 ms.
	Duration time.Duration
	// Size is the most events per request and per queue message. Default 100.
	Size int
}

// Retry is Sockudo's retry policy, exponential with jitter.
type Retry struct {
	// Enabled is false to dead-letter after the first failed attempt.
	// Default true.
	Enabled bool
	// MaxAttempts counts delivery attempts, the first included. Default 10.
	MaxAttempts int
	// InitialBackoff is the first delay. Default 1 s.
	InitialBackoff time.Duration
	// MaxBackoff caps one delay. Default 60 s.
	MaxBackoff time.Duration
	// MaxElapsedTime caps the time since the first attempt. Default 300 s.
	MaxElapsedTime time.Duration
}

// Queue holds the SQS settings.
type Queue struct {
	// Driver is Sockudo's queue.driver; Hookline always uses SQS and only
	// warns about other values.
	Driver string
	Region string
	// EndpointURL overrides the SQS endpoint (LocalStack, fauxqs).
	EndpointURL string
	// QueueURL is the main queue's URL; when empty the URL is looked up by
	// QueueName (or built from QueueURLPrefix).
	QueueURL       string
	QueueURLPrefix string
	// QueueName is the main queue's name. Default "hookline-webhooks" (not
	// Sockudo's "webhooks": see docs/configuration.md). FIFO adds ".fifo".
	QueueName string
	// DeadLetterQueueName defaults to QueueName + "-dlq".
	DeadLetterQueueName string
	// VisibilityTimeout is passed on every receive. Default 60 s.
	VisibilityTimeout time.Duration
	// WaitTimeSeconds is the long-poll wait (0–20). Default 20.
	WaitTimeSeconds int
	// MaxMessages is the most messages per receive (1–10). Default 10.
	MaxMessages int
	// Concurrency is the number of pollers. Default 4.
	Concurrency int
	// FIFO selects the FIFO queue pair.
	FIFO bool
	// FairQueues sets MessageGroupId = app_id on standard queues (SQS fair
	// queues). Default true.
	FairQueues bool
}

// MainQueueName is the main queue's name, with ".fifo" on FIFO queues.
func (q Queue) MainQueueName() string {
	if q.FIFO {
		return q.QueueName + ".fifo"
	}
	return q.QueueName
}

// DLQName is the dead-letter queue's name, with ".fifo" on FIFO queues.
func (q Queue) DLQName() string {
	name := q.DeadLetterQueueName
	if name == "" {
		name = q.QueueName + "-dlq"
	}
	if q.FIFO {
		return name + ".fifo"
	}
	return name
}

// Secret is a value that must never be printed. Its String, LogValue and
// MarshalJSON all redact it; use Reveal to get the value.
type Secret string

// Redacted is what a Secret prints as.
const Redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer without revealing the secret.
func (s Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer without revealing the secret.
func (s Secret) GoString() string { return Redacted }

// LogValue implements slog.LogValuer without revealing the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON implements json.Marshaler without revealing the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// Default returns a configuration with every default set and no apps.
func Default() *Config {
	return &Config{
		Webhooks: Webhooks{
			Batching: Batching{Enabled: true, Duration: DefaultBatchingDuration, Size: DefaultBatchingSize},
			Retry: Retry{
				Enabled:        true,
				MaxAttempts:    DefaultRetryMaxAttempts,
				InitialBackoff: DefaultInitialBackoff,
				MaxBackoff:     DefaultMaxBackoff,
				MaxElapsedTime: DefaultMaxElapsedTime,
			},
			RequestTimeout: DefaultRequestTimeout,
			EventIDs:       true,
			MaxBodyBytes:   DefaultMaxBodyBytes,
		},
		Queue: Queue{
			Driver:            "sqs",
			Region:            DefaultRegion,
			QueueName:         DefaultQueueName,
			VisibilityTimeout: DefaultVisibilityTimeout,
			WaitTimeSeconds:   DefaultWaitTimeSeconds,
			MaxMessages:       DefaultMaxMessages,
			Concurrency:       DefaultConcurrency,
			FairQueues:        true,
		},
		ShutdownGracePeriod: DefaultShutdownGracePeriod,
		AppManager:          AppManager{Driver: DriverMemory, CacheTTL: DefaultCacheTTL},
		Database:            defaultDatabase(),
	}
}

// App returns the app with the given id, or nil.
func (c *Config) App(id string) *App {
	for i := range c.Apps {
		if c.Apps[i].ID == id {
			return &c.Apps[i]
		}
	}
	return nil
}

// AppByKey returns the app with the given key, or nil.
func (c *Config) AppByKey(key string) *App {
	for i := range c.Apps {
		if c.Apps[i].Key == key {
			return &c.Apps[i]
		}
	}
	return nil
}

// Webhook returns the app's webhook with the given id, or nil.
func (a *App) Webhook(id string) *Webhook {
	for i := range a.Webhooks {
		if a.Webhooks[i].ID == id {
			return &a.Webhooks[i]
		}
	}
	return nil
}
