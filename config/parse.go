package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hookline/hookline/filter"
)

// Sources are where Load reads the file, environment overrides and secret
// files from. The cmd layer passes os.LookupEnv and os.ReadFile; tests pass
// maps.
type Sources struct {
	LookupEnv func(key string) (string, bool)
	ReadFile  func(name string) ([]byte, error)
}

// Overrides are command-line flags; they beat every other source. Empty
// fields are unset.
type Overrides struct {
	Region      string
	EndpointURL string
	QueueURL    string
	QueueName   string
}

// Load reads the config file at path and resolves it: Default → Parse →
// environment → flags → Validate.
func Load(path string, src Sources, ov Overrides) (*Config, error) {
	if src.ReadFile == nil {
		return nil, errors.New("config: no ReadFile source")
	}
	data, err := src.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseFormat(data, FormatOf(path), src, ov)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse resolves a config document, JSON or TOML by its content. The
// error, when not nil, is an Errors value listing every problem found, or
// a syntax error with line and column.
func Parse(data []byte, src Sources, ov Overrides) (*Config, error) {
	return ParseFormat(data, FormatAuto, src, ov)
}

// ParseFormat is Parse for a document of format f. ${NAME} and
// ${NAME:-default} in the text are replaced from src.LookupEnv first, as
// Sockudo does.
func ParseFormat(data []byte, f Format, src Sources, ov Overrides) (*Config, error) {
	if src.LookupEnv == nil {
		src.LookupEnv = func(string) (string, bool) { return "", false }
	}
	data, err := expandEnv(data, src.LookupEnv)
	if err != nil {
		return nil, err
	}
	doc, err := decodeAs(data, f)
	if err != nil {
		return nil, err
	}
	w := &walker{}
	cfg := Default()
	root, ok := w.object("(document)", doc)
	if ok {
		root.path = ""
		w.root(cfg, root, src)
	}
	w.applyEnv(cfg, src.LookupEnv)
	w.applyAppEnv(cfg, src.LookupEnv)
	applyOverrides(cfg, ov)
	resolveCacheTTL(cfg, w.fileCacheTTL.CacheTTL, cfg.AppManager.CacheTTL)
	cfg.lambdaEndpoint = lambdaEndpoint(src.LookupEnv)
	w.resolveSecrets(cfg, src)
	w.validate(cfg)
	cfg.Warnings = w.warns
	if len(w.errs) > 0 {
		return cfg, w.errs
	}
	return cfg, nil
}

func (w *walker) root(cfg *Config, root *object, src Sources) {
	if v, path := root.get("shutdown_grace_period"); v != nil {
		if n, ok := w.integer(path, v, 0, 3600); ok {
			cfg.ShutdownGracePeriod = time.Duration(n) * time.Second
		}
	}
	if v, path := root.get("webhooks"); v != nil {
		if _, isList := v.([]any); isList {
			w.errorf(path, "is an array; a list of webhooks belongs to an app "+
				"(app_manager.array.apps[].webhooks); the top-level \"webhooks\" object holds batching and retry settings")
		} else if o, ok := w.object(path, v); ok {
			w.globalWebhooks(&cfg.Webhooks, o)
		}
	}
	if v, path := root.get("queue"); v != nil {
		if o, ok := w.object(path, v); ok {
			w.queue(&cfg.Queue, o)
		}
	}
	if v, path := root.get("app_manager"); v != nil {
		if o, ok := w.object(path, v); ok {
			w.appManager(cfg, o)
		}
	}
	if root.has("apps") {
		w.errorf("apps", "unknown key; apps belong under app_manager.array.apps")
	}
	if v, path := root.get("database"); v != nil {
		if o, ok := w.object(path, v); ok {
			w.database(&cfg.Database, o)
		}
	}
}

func (w *walker) globalWebhooks(wh *Webhooks, o *object) {
	w.checkKeys(o, []string{"batching", "retry", "request_timeout_ms", "event_ids", "max_body_bytes"}, nil, false)
	if v, path := o.get("batching"); v != nil {
		if b, ok := w.object(path, v); ok {
			w.checkKeys(b, []string{"enabled", "duration", "size"}, nil, false)
			if v, p := b.get("enabled"); v != nil {
				if x, ok := w.boolean(p, v); ok {
					wh.Batching.Enabled = x
				}
			}
			if v, p := b.get("duration"); v != nil {
				if n, ok := w.integer(p, v, 0, 60_000); ok {
					wh.Batching.Duration = time.Duration(n) * time.Millisecond
				}
			}
			if v, p := b.get("size"); v != nil {
				if n, ok := w.integer(p, v, 1, 10_000); ok {
					wh.Batching.Size = int(n)
				}
			}
		}
	}
	if v, path := o.get("retry"); v != nil {
		w.retry(&wh.Retry, path, v)
	}
	if v, p := o.get("request_timeout_ms"); v != nil {
		if n, ok := w.integer(p, v, 1, 900_000); ok {
			wh.RequestTimeout = time.Duration(n) * time.Millisecond
		}
	}
	if v, p := o.get("event_ids"); v != nil {
		if x, ok := w.boolean(p, v); ok {
			wh.EventIDs = x
		}
	}
	if v, p := o.get("max_body_bytes"); v != nil {
		if n, ok := w.integer(p, v, 1024, 6<<20); ok {
			wh.MaxBodyBytes = int(n)
		}
	}
}

var retryKeys = []string{"enabled", "max_attempts", "initial_backoff_ms", "max_backoff_ms", "max_elapsed_time_ms"}

// retry reads a Sockudo retry object over r.
func (w *walker) retry(r *Retry, path string, v any) {
	o, ok := w.object(path, v)
	if !ok {
		return
	}
	w.checkKeys(o, retryKeys, nil, true)
	if v, p := o.get("enabled"); v != nil {
		if x, ok := w.boolean(p, v); ok {
			r.Enabled = x
		}
	}
	if v, p := o.get("max_attempts"); v != nil {
		if n, ok := w.integer(p, v, 1, 1000); ok {
			r.MaxAttempts = int(n)
		}
	}
	ms := func(key string, dst *time.Duration) {
		if v, p := o.get(key); v != nil {
			if n, ok := w.integer(p, v, 0, 7*24*3600*1000); ok {
				*dst = time.Duration(n) * time.Millisecond
			}
		}
	}
	ms("initial_backoff_ms", &r.InitialBackoff)
	ms("max_backoff_ms", &r.MaxBackoff)
	ms("max_elapsed_time_ms", &r.MaxElapsedTime)
	if r.InitialBackoff > r.MaxBackoff {
		w.errorf(join(path, "initial_backoff_ms"), "%d is above max_backoff_ms (%d)",
			r.InitialBackoff.Milliseconds(), r.MaxBackoff.Milliseconds())
	}
}

var sqsKeys = []string{
	"region", "endpoint_url", "queue_url", "queue_url_prefix", "queue_name", "dead_letter_queue_name",
	"visibility_timeout", "wait_time_seconds", "max_messages", "concurrency", "fifo", "fair_queues",
	"message_group_id",
}

func (w *walker) queue(q *Queue, o *object) {
	if v, p := o.get("driver"); v != nil {
		if s, ok := w.str(p, v); ok {
			q.Driver = s
		}
	}
	v, path := o.get("sqs")
	if v == nil {
		return
	}
	s, ok := w.object(path, v)
	if !ok {
		return
	}
	w.checkKeys(s, sqsKeys, map[string]string{
		"endpoint": `did you mean "endpoint_url"?`,
		"url":      `did you mean "queue_url"?`,
		"name":     `did you mean "queue_name"?`,
	}, true)
	intField := func(key string, dst *int, lo, hi int64) {
		if v, p := s.get(key); v != nil {
			if n, ok := w.integer(p, v, lo, hi); ok {
				*dst = int(n)
			}
		}
	}
	boolField := func(key string, dst *bool) {
		if v, p := s.get(key); v != nil {
			if x, ok := w.boolean(p, v); ok {
				*dst = x
			}
		}
	}
	w.setString(s, "region", &q.Region)
	w.setString(s, "endpoint_url", &q.EndpointURL)
	w.setString(s, "queue_url", &q.QueueURL)
	w.setString(s, "queue_url_prefix", &q.QueueURLPrefix)
	w.setString(s, "queue_name", &q.QueueName)
	w.setString(s, "dead_letter_queue_name", &q.DeadLetterQueueName)
	var vt int
	intField("visibility_timeout", &vt, 0, 43_200)
	if s.has("visibility_timeout") && vt > 0 {
		q.VisibilityTimeout = time.Duration(vt) * time.Second
	}
	intField("wait_time_seconds", &q.WaitTimeSeconds, 0, 20)
	intField("max_messages", &q.MaxMessages, 1, 10)
	intField("concurrency", &q.Concurrency, 1, 1000)
	boolField("fifo", &q.FIFO)
	boolField("fair_queues", &q.FairQueues)
	if s.has("message_group_id") {
		w.warnf(join(path, "message_group_id"), "ignored; Hookline groups messages by app_id")
	}
}

func (w *walker) appManager(cfg *Config, o *object) {
	if v, p := o.get("driver"); v != nil {
		if d, ok := w.str(p, v); ok {
			if nd, ok := normalizeDriver(d); ok {
				cfg.AppManager.Driver = nd
			} else {
				w.errorf(p, "%s", driverProblem(d))
			}
		}
	}
	w.appManagerCache(&w.fileCacheTTL, o)
	if o.has("apps") {
		w.errorf(join(o.path, "apps"), "unknown key; apps belong under app_manager.array.apps")
	}
	v, path := o.get("array")
	if v == nil {
		return
	}
	arr, ok := w.object(path, v)
	if !ok {
		return
	}
	v, path = arr.get("apps")
	apps, ok := w.array(path, v)
	if !ok {
		return
	}
	for i, a := range apps {
		p := index(path, i)
		ao, ok := w.object(p, a)
		if !ok {
			if a == nil {
				w.errorf(p, "must be an object, got null")
			}
			continue
		}
		cfg.Apps = append(cfg.Apps, w.app(cfg, ao))
	}
}

func (w *walker) app(cfg *Config, o *object) App {
	app := App{Enabled: true, Path: o.path}
	if v, p := o.get("id"); v != nil {
		// Sockudo accepts numeric ids in some stores; keep them as text.
		if n, isNum := v.(json.Number); isNum {
			app.ID = n.String()
		} else if s, ok := w.str(p, v); ok {
			app.ID = s
		}
	}
	if v, p := o.get("key"); v != nil {
		if s, ok := w.str(p, v); ok {
			app.Key = s
		}
	}
	if v, p := o.get("secret"); v != nil {
		if s, ok := w.str(p, v); ok {
			app.Secret = Secret(s)
		}
	}
	if v, p := o.get("secret_file"); v != nil {
		if s, ok := w.str(p, v); ok {
			app.SecretFile = s
		}
	}
	if v, p := o.get("enabled"); v != nil {
		if b, ok := w.boolean(p, v); ok {
			app.Enabled = b
		}
	}
	if o.has("webhook") {
		w.errorf(join(o.path, "webhook"), `unknown key; did you mean "webhooks"?`)
	}

	list, listPath := o.get("webhooks")
	if pv, pp := o.get("policy"); pv != nil {
		if po, ok := w.object(pp, pv); ok {
			if po.has("webhooks") {
				if list != nil {
					w.errorf(join(pp, "webhooks"), "webhooks are also listed at %s; keep one list", listPath)
				}
				list, listPath = po.get("webhooks")
			}
		}
	}
	hooks, _ := w.array(listPath, list)
	seen := map[string]string{}
	for i, h := range hooks {
		p := index(listPath, i)
		ho, ok := w.object(p, h)
		if !ok {
			if h == nil {
				w.errorf(p, "must be an object, got null")
			}
			continue
		}
		wh, ok := w.webhook(cfg, ho)
		if !ok {
			continue
		}
		if prev, dup := seen[wh.ID]; dup {
			if ho.has("id") {
				w.errorf(join(p, "id"), "%q is also the id of %s", wh.ID, prev)
			} else {
				w.errorf(p, "identical to %s (same target, headers, event types and filter); remove one, "+
					"or give them different \"id\"s if both deliveries are wanted", prev)
			}
			continue
		}
		seen[wh.ID] = p
		app.Webhooks = append(app.Webhooks, wh)
	}
	return app
}

var webhookKeys = []string{
	"id", "url", "headers", "lambda_function", "lambda", "event_types", "filter",
	"request_timeout_ms", "retry", "max_body_bytes",
}

var filterKeys = []string{
	"channel_type", "channel_prefix", "channel_suffix", "channel_pattern",
	"channel_namespace", "channel_namespaces",
}

var lambdaKeys = []string{"function_name", "invocation_type", "qualifier", "region", "endpoint_url", "payload_format"}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// reservedHeaders are set by Hookline on every request; a custom header may
// not replace them. User-Agent is not among them: Sockudo's own example sets
// it, so a custom one replaces Hookline's (with a warning).
var reservedHeaders = []string{"Content-Type", "Content-Length", "Host", "X-Hookline-Attempt"}

func (w *walker) webhook(cfg *Config, o *object) (Webhook, bool) {
	errsBefore := len(w.errs)
	hints := map[string]string{"filters": `did you mean "filter"?`}
	for _, k := range filterKeys {
		hints[k] = fmt.Sprintf("%q belongs inside \"filter\"", k)
	}
	hints["lambda_function_name"] = `did you mean "lambda_function"?`
	hints["events"] = `did you mean "event_types"?`
	w.checkKeys(o, webhookKeys, hints, true)

	wh := Webhook{Path: o.path, Retry: cfg.Webhooks.Retry}
	if v, p := o.get("id"); v != nil {
		if s, ok := w.str(p, v); ok {
			if !idPattern.MatchString(s) {
				w.errorf(p, "%q: use 1 to 64 letters, digits, '.', '_' or '-'", s)
			}
			wh.ID = s
		}
	}
	if v, p := o.get("url"); v != nil {
		if s, ok := w.str(p, v); ok {
			w.checkURL(p, s)
			wh.URL = s
		}
	}
	if v, p := o.get("headers"); v != nil {
		wh.Headers = w.headers(p, v)
	}
	if v, p := o.get("lambda_function"); v != nil {
		if s, ok := w.str(p, v); ok {
			if s == "" {
				w.errorf(p, "must not be empty")
			}
			wh.Lambda = &Lambda{FunctionName: s, InvocationType: "Event", PayloadFormat: "pusher"}
		}
	}
	if v, p := o.get("lambda"); v != nil {
		if wh.Lambda != nil {
			w.errorf(p, "set either lambda_function or lambda, not both")
		}
		wh.Lambda = w.lambda(p, v)
	}
	if wh.Lambda != nil {
		if wh.URL != "" {
			w.errorf(o.path, "has both url and a Lambda target; a webhook has one target")
		}
	} else if wh.URL == "" && len(w.errs) == errsBefore {
		w.errorf(o.path, `has no target; set "url" (HTTP) or "lambda_function" / "lambda" (AWS Lambda)`)
	}
	if wh.Lambda != nil && len(wh.Headers) > 0 {
		w.warnf(join(o.path, "headers"), "ignored for Lambda targets unless lambda.payload_format is \"soketi\"")
	}

	// Filter.
	v, p := o.get("event_types")
	if v == nil {
		w.errorf(p, "is required: list the events this webhook receives, e.g. [\"channel_occupied\", \"channel_vacated\"]")
	} else if list, ok := w.strings(p, v); ok {
		if len(list) == 0 {
			w.errorf(p, "must not be empty: list the events this webhook receives, e.g. [\"channel_occupied\"]")
		}
		wh.FilterSpec.EventTypes = list
	}
	if v, p := o.get("filter"); v != nil {
		w.filterSpec(&wh.FilterSpec, p, v)
	}
	if len(w.errs) == errsBefore {
		f, err := filter.Compile(wh.FilterSpec)
		if err != nil {
			var fe *filter.FieldError
			if errors.As(err, &fe) {
				w.errorf(join(o.path, fe.Field), "%q: %s", fe.Value, fe.Msg)
			} else {
				w.errorf(o.path, "%v", err)
			}
		}
		wh.Filter = f
	}

	if v, p := o.get("request_timeout_ms"); v != nil {
		if n, ok := w.integer(p, v, 1, 900_000); ok {
			wh.RequestTimeout = time.Duration(n) * time.Millisecond
		}
	}
	if v, p := o.get("retry"); v != nil {
		w.retry(&wh.Retry, p, v)
	}
	if v, p := o.get("max_body_bytes"); v != nil {
		if n, ok := w.integer(p, v, 1024, 6<<20); ok {
			wh.MaxBodyBytes = int(n)
		}
	}
	if wh.ID == "" {
		wh.ID = derivedID(&wh)
	}
	return wh, len(w.errs) == errsBefore
}

func (w *walker) checkURL(path, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		w.errorf(path, "%q is not a URL: %v", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		w.errorf(path, "%q: scheme must be http or https", s)
	case u.Host == "":
		w.errorf(path, "%q has no host", s)
	case u.User != nil:
		w.errorf(path, "%q: credentials in the URL would be logged; send them in \"headers\" instead", u.Redacted())
	case u.Scheme == "http":
		w.warnf(path, "%q is not https; use https in production", s)
	}
}

func (w *walker) headers(path string, v any) map[string]string {
	o, ok := w.object(path, v)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(o.m))
	names := make([]string, 0, len(o.m))
	for k := range o.m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		p := join(path, name)
		value, ok := w.str(p, o.m[name])
		if !ok {
			continue
		}
		canon := http.CanonicalHeaderKey(name)
		switch {
		case name == "" || strings.ContainsAny(name, " \t\r\n:"):
			w.errorf(p, "is not a valid header name")
			continue
		case strings.ContainsAny(value, "\r\n"):
			w.errorf(p, "value must not contain line breaks")
			continue
		case strings.HasPrefix(canon, "X-Pusher-"):
			w.errorf(p, "collides with the Pusher signature headers Hookline sets; remove it")
			continue
		case slices.Contains(reservedHeaders, canon):
			w.errorf(p, "collides with a header Hookline sets on every request; remove it")
			continue
		case canon == "User-Agent":
			w.warnf(p, "replaces Hookline's User-Agent")
		}
		if _, dup := out[canon]; dup {
			w.errorf(p, "is given twice (header names are case-insensitive)")
			continue
		}
		out[canon] = value
	}
	return out
}

func (w *walker) lambda(path string, v any) *Lambda {
	o, ok := w.object(path, v)
	if !ok {
		return nil
	}
	w.checkKeys(o, lambdaKeys, map[string]string{
		"function":       `did you mean "function_name"?`,
		"endpoint":       `did you mean "endpoint_url"?`,
		"async":          `soketi's "async" is "invocation_type": "Event" here`,
		"client_options": `soketi's "client_options" is not supported; use "region" and "endpoint_url"`,
	}, true)
	l := &Lambda{InvocationType: "Event", PayloadFormat: "pusher"}
	w.setString(o, "function_name", &l.FunctionName)
	w.setString(o, "invocation_type", &l.InvocationType)
	w.setString(o, "qualifier", &l.Qualifier)
	w.setString(o, "region", &l.Region)
	w.setString(o, "endpoint_url", &l.EndpointURL)
	w.setString(o, "payload_format", &l.PayloadFormat)
	if l.FunctionName == "" {
		w.errorf(join(path, "function_name"), "is required")
	}
	if l.InvocationType != "Event" && l.InvocationType != "RequestResponse" {
		w.errorf(join(path, "invocation_type"), "%q: use \"Event\" or \"RequestResponse\"", l.InvocationType)
	}
	if l.PayloadFormat != "pusher" && l.PayloadFormat != "soketi" {
		w.errorf(join(path, "payload_format"), "%q: use \"pusher\" (default) or \"soketi\"", l.PayloadFormat)
	}
	if l.EndpointURL != "" {
		if u, err := url.Parse(l.EndpointURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			w.errorf(join(path, "endpoint_url"), "%q is not an http(s) URL", l.EndpointURL)
		}
	}
	return l
}

func (w *walker) filterSpec(spec *filter.Spec, path string, v any) {
	o, ok := w.object(path, v)
	if !ok {
		return
	}
	w.checkKeys(o, filterKeys, map[string]string{
		"channel_name_starts_with": `soketi's name; use "channel_prefix"`,
		"channel_name_ends_with":   `soketi's name; use "channel_suffix"`,
		"event_types":              `"event_types" belongs on the webhook, next to "filter"`,
		"prefix":                   `did you mean "channel_prefix"?`,
		"type":                     `did you mean "channel_type"?`,
	}, true)
	w.setString(o, "channel_type", &spec.ChannelType)
	w.setString(o, "channel_prefix", &spec.ChannelPrefix)
	w.setString(o, "channel_suffix", &spec.ChannelSuffix)
	w.setString(o, "channel_pattern", &spec.ChannelPattern)
	w.setString(o, "channel_namespace", &spec.ChannelNamespace)
	if v, p := o.get("channel_namespaces"); v != nil {
		if list, ok := w.strings(p, v); ok {
			spec.ChannelNamespaces = list
		}
	}
}

// derivedID is a stable hash of what makes a webhook distinct: its target,
// headers, event types and filter. Changing any of them makes a new webhook
// (retries owed to the old one go to the DLQ as target-removed).
func derivedID(wh *Webhook) string {
	type lambdaID struct {
		Function, Qualifier, Region, Endpoint, Invocation, Format string
	}
	var l *lambdaID
	if wh.Lambda != nil {
		l = &lambdaID{wh.Lambda.FunctionName, wh.Lambda.Qualifier, wh.Lambda.Region, wh.Lambda.EndpointURL,
			wh.Lambda.InvocationType, wh.Lambda.PayloadFormat}
	}
	events := slices.Clone(wh.FilterSpec.EventTypes)
	sort.Strings(events)
	namespaces := slices.Clone(wh.FilterSpec.ChannelNamespaces)
	sort.Strings(namespaces)
	def := struct {
		URL     string            `json:"url"`
		Lambda  *lambdaID         `json:"lambda"`
		Headers map[string]string `json:"headers"` // encoding/json sorts map keys
		Events  []string          `json:"events"`
		Filter  [6]string         `json:"filter"`
		NS      []string          `json:"ns"`
	}{wh.URL, l, wh.Headers, events, [6]string{
		wh.FilterSpec.ChannelType, wh.FilterSpec.ChannelPrefix, wh.FilterSpec.ChannelSuffix,
		wh.FilterSpec.ChannelPattern, wh.FilterSpec.ChannelNamespace,
	}, namespaces}
	b, _ := json.Marshal(def) // cannot fail: only strings, maps and slices
	sum := sha256.Sum256(b)
	return "wh_" + hex.EncodeToString(sum[:8])
}

// validate checks what involves more than one key.
func (w *walker) validate(cfg *Config) {
	q := &cfg.Queue
	if q.Driver != "" && q.Driver != "sqs" {
		w.warnf("queue.driver", "%q: Hookline always uses SQS (queue.sqs); Sockudo's own queue setting is not used", q.Driver)
	}
	switch {
	case q.Region == "":
		w.errorf("queue.sqs.region", "is required (or set AWS_REGION)")
	case !regionPattern.MatchString(q.Region) && q.EndpointURL == "":
		w.errorf("queue.sqs.region", "%q is not an AWS region (like us-east-1 or eu-west-2; from the file, --region, QUEUE_SQS_REGION or AWS_REGION)", q.Region)
	case !regionPattern.MatchString(q.Region):
		w.warnf("queue.sqs.region", "%q is not an AWS region; accepted because queue.sqs.endpoint_url points at an emulator", q.Region)
	}
	if q.QueueURL == "" {
		if !validQueueName(q.MainQueueName()) {
			w.errorf("queue.sqs.queue_name", "%q: use 1 to 80 letters, digits, '-' or '_'", q.QueueName)
		}
	} else if u, err := url.Parse(q.QueueURL); err != nil || u.Host == "" {
		w.errorf("queue.sqs.queue_url", "%q is not a URL", q.QueueURL)
	}
	if !validQueueName(q.DLQName()) {
		w.errorf("queue.sqs.dead_letter_queue_name", "%q: use 1 to 80 letters, digits, '-' or '_'", q.DeadLetterQueueName)
	}
	if q.EndpointURL != "" {
		if u, err := url.Parse(q.EndpointURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			w.errorf("queue.sqs.endpoint_url", "%q is not an http(s) URL", q.EndpointURL)
		}
	}
	ids := map[string]string{}
	keys := map[string]string{}
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		switch {
		case a.ID == "":
			w.errorf(join(a.Path, "id"), "is required")
		case !appIDPattern.MatchString(a.ID):
			w.errorf(join(a.Path, "id"), "%q: use 1 to 128 printable ASCII characters without spaces (it becomes the SQS MessageGroupId)", a.ID)
		case ids[a.ID] != "":
			w.errorf(join(a.Path, "id"), "%q is also the id of %s", a.ID, ids[a.ID])
		default:
			ids[a.ID] = a.Path
		}
		switch {
		case a.Key == "":
			w.errorf(join(a.Path, "key"), "is required")
		case keys[a.Key] != "":
			w.errorf(join(a.Path, "key"), "%q is also the key of %s", a.Key, keys[a.Key])
		default:
			keys[a.Key] = a.Path
		}
		if a.Secret == "" {
			w.errorf(join(a.Path, "secret"), "is required (or set %s, or \"secret_file\")", SecretEnvName(a.ID))
		}
		w.resolveWebhooks(cfg, a)
	}
	w.checkDatabase(cfg)
	if len(cfg.Apps) == 0 && cfg.AppManager.Driver == DriverMemory {
		w.warnf("app_manager.array.apps", "no apps configured; every queued message will be dead-lettered as unknown-app")
	}
}

// Lambda payload limits (1 MiB asynchronous, 6 MiB synchronous) less 4 KiB
// for soketi's {payload, headers} envelope.
const (
	lambdaEventLimit           = 1<<20 - 4<<10
	lambdaRequestResponseLimit = 6<<20 - 4<<10
)

// lambdaEndpoint is the endpoint for Lambda targets without
// lambda.endpoint_url: AWS_ENDPOINT_URL_LAMBDA, else AWS_ENDPOINT_URL (the
// per-webhook setting wins; the SDK's own lookup would lose to BaseEndpoint).
func lambdaEndpoint(lookup func(string) (string, bool)) string {
	for _, name := range []string{"AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL"} {
		if v, ok := lookup(name); ok && v != "" {
			return v
		}
	}
	return ""
}

// resolveWebhooks gives an app's webhooks the global defaults (timeout,
// body cap, Lambda region and endpoint) and warns about settings that
// cannot work as written. Apps of the file and of a database go through it.
func (w *walker) resolveWebhooks(cfg *Config, a *App) {
	for j := range a.Webhooks {
		wh := &a.Webhooks[j]
		if wh.Lambda != nil && wh.Lambda.EndpointURL == "" {
			wh.Lambda.EndpointURL = cfg.lambdaEndpoint
		}
		if wh.Lambda != nil && wh.Lambda.Region == "" {
			wh.Lambda.Region = cfg.Queue.Region
		}
		if wh.RequestTimeout == 0 {
			wh.RequestTimeout = cfg.Webhooks.RequestTimeout
		}
		if wh.MaxBodyBytes == 0 {
			wh.MaxBodyBytes = cfg.Webhooks.MaxBodyBytes
		}
		if cfg.Queue.FIFO && wh.Retry.Enabled && wh.Retry.MaxAttempts > fifoReceiveBackstop {
			w.warnf(wh.Path, "retry.max_attempts %d on a FIFO queue: each attempt is a receive, and the redrive "+
				"policy (maxReceiveCount %d by default) moves the message to the DLQ first, without a reason",
				wh.Retry.MaxAttempts, fifoReceiveBackstop)
		}
		if wh.Lambda != nil {
			// A batch must fit Lambda's payload limit, with room for
			// soketi's envelope around the body.
			limit := lambdaEventLimit
			if wh.Lambda.InvocationType == "RequestResponse" {
				limit = lambdaRequestResponseLimit
			}
			if wh.MaxBodyBytes > limit {
				w.warnf(join(wh.Path, "max_body_bytes"), "%d is above the %s invocation limit; using %d",
					wh.MaxBodyBytes, wh.Lambda.InvocationType, limit)
				wh.MaxBodyBytes = limit
			}
		}
	}
}

// fifoReceiveBackstop is `queues create`'s default maxReceiveCount.
const fifoReceiveBackstop = 10

// sqlIdentPattern is a table name, optionally schema-qualified.
var sqlIdentPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63})?$`)

var appIDPattern = regexp.MustCompile(`^[!-~]{1,128}$`)

// regionPattern matches AWS region names: us-east-1, eu-central-2,
// us-gov-west-1, cn-northwest-1, us-isob-east-1, eusc-de-east-1.
var regionPattern = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$`)

var queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func validQueueName(name string) bool {
	return queueNamePattern.MatchString(strings.TrimSuffix(name, ".fifo")) && len(name) <= 80
}

// SecretEnvName is the environment variable that supplies an app's secret:
// HOOKLINE_APP_<ID>_SECRET, the id upper-cased with every character other
// than A–Z and 0–9 replaced by '_'.
func SecretEnvName(appID string) string {
	var b strings.Builder
	b.WriteString("HOOKLINE_APP_")
	for _, r := range strings.ToUpper(appID) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteString("_SECRET")
	return b.String()
}
