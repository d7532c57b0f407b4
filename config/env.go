package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Environment overrides. Precedence, highest first: command-line flag >
// Sockudo's env names > AWS env names > file. The AWS SDK's own env lookup
// is not relied on: a client's BaseEndpoint beats it, so Hookline resolves
// the endpoint itself and passes the result.
//
// Sockudo's names are kept where Sockudo has them; the QUEUE_SQS_QUEUE_*,
// WEBHOOK_BATCHING_SIZE and WEBHOOK_REQUEST_TIMEOUT_MS names follow the same
// pattern for Hookline's additions.
type envVar struct {
	name  string
	apply func(cfg *Config, value string) error
}

func strSetter(get func(*Config) *string) func(*Config, string) error {
	return func(cfg *Config, v string) error { *get(cfg) = v; return nil }
}

func intSetter(lo, hi int64, set func(*Config, int64)) func(*Config, string) error {
	return func(cfg *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return errorf("must be an integer, got %q", v)
		}
		if n < lo || n > hi {
			return errorf("%d is out of range; allowed %s", n, rangeText(lo, hi))
		}
		set(cfg, n)
		return nil
	}
}

func boolSetter(set func(*Config, bool)) func(*Config, string) error {
	return func(cfg *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return errorf("must be true or false, got %q", v)
		}
		set(cfg, b)
		return nil
	}
}

type msgError string

func (e msgError) Error() string { return string(e) }

func errorf(format string, args ...any) error {
	return msgError(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// awsEnv is applied first, then sockudoEnv, so Sockudo's names win.
var awsEnv = []envVar{
	{"AWS_DEFAULT_REGION", strSetter(func(c *Config) *string { return &c.Queue.Region })},
	{"AWS_REGION", strSetter(func(c *Config) *string { return &c.Queue.Region })},
	{"AWS_ENDPOINT_URL", strSetter(func(c *Config) *string { return &c.Queue.EndpointURL })},
	{"AWS_ENDPOINT_URL_SQS", strSetter(func(c *Config) *string { return &c.Queue.EndpointURL })},
}

var sockudoEnv = []envVar{
	{"QUEUE_DRIVER", strSetter(func(c *Config) *string { return &c.Queue.Driver })},
	{"QUEUE_SQS_REGION", strSetter(func(c *Config) *string { return &c.Queue.Region })},
	{"QUEUE_SQS_ENDPOINT_URL", strSetter(func(c *Config) *string { return &c.Queue.EndpointURL })},
	{"QUEUE_SQS_QUEUE_URL_PREFIX", strSetter(func(c *Config) *string { return &c.Queue.QueueURLPrefix })},
	{"QUEUE_SQS_QUEUE_URL", strSetter(func(c *Config) *string { return &c.Queue.QueueURL })},
	{"QUEUE_SQS_QUEUE_NAME", strSetter(func(c *Config) *string { return &c.Queue.QueueName })},
	{"QUEUE_SQS_DEAD_LETTER_QUEUE_NAME", strSetter(func(c *Config) *string { return &c.Queue.DeadLetterQueueName })},
	{"QUEUE_SQS_VISIBILITY_TIMEOUT", intSetter(1, 43_200, func(c *Config, n int64) { c.Queue.VisibilityTimeout = time.Duration(n) * time.Second })},
	{"QUEUE_SQS_WAIT_TIME_SECONDS", intSetter(0, 20, func(c *Config, n int64) { c.Queue.WaitTimeSeconds = int(n) })},
	{"QUEUE_SQS_MAX_MESSAGES", intSetter(1, 10, func(c *Config, n int64) { c.Queue.MaxMessages = int(n) })},
	{"QUEUE_SQS_CONCURRENCY", intSetter(1, 1000, func(c *Config, n int64) { c.Queue.Concurrency = int(n) })},
	{"QUEUE_SQS_FIFO", boolSetter(func(c *Config, b bool) { c.Queue.FIFO = b })},
	{"QUEUE_SQS_FAIR_QUEUES", boolSetter(func(c *Config, b bool) { c.Queue.FairQueues = b })},
	{"WEBHOOK_BATCHING_ENABLED", boolSetter(func(c *Config, b bool) { c.Webhooks.Batching.Enabled = b })},
	{"WEBHOOK_BATCHING_DURATION", intSetter(0, 60_000, func(c *Config, n int64) { c.Webhooks.Batching.Duration = time.Duration(n) * time.Millisecond })},
	{"WEBHOOK_BATCHING_SIZE", intSetter(1, 10_000, func(c *Config, n int64) { c.Webhooks.Batching.Size = int(n) })},
	{"WEBHOOK_REQUEST_TIMEOUT_MS", intSetter(1, 900_000, func(c *Config, n int64) { c.Webhooks.RequestTimeout = time.Duration(n) * time.Millisecond })},
	{"SHUTDOWN_GRACE_PERIOD", intSetter(0, 3600, func(c *Config, n int64) { c.ShutdownGracePeriod = time.Duration(n) * time.Second })},
}

// EnvNames lists every environment variable Load reads besides the
// per-app HOOKLINE_APP_<ID>_SECRET, lowest precedence first.
func EnvNames() []string {
	var out []string
	for _, list := range [][]envVar{awsEnv, sockudoEnv, databaseEnv} {
		for _, e := range list {
			out = append(out, e.name)
		}
	}
	return append(out, appEnvNames...)
}

func (w *walker) applyEnv(cfg *Config, lookup func(string) (string, bool)) {
	cfg.AppManager.CacheTTL = 0 // set again only by CACHE_TTL_SECONDS; resolveCacheTTL picks the rest
	for _, list := range [][]envVar{awsEnv, sockudoEnv, databaseEnv} {
		for _, e := range list {
			v, ok := lookup(e.name)
			if !ok || v == "" {
				continue
			}
			if err := e.apply(cfg, v); err != nil {
				w.errorf("env "+e.name, "%v", err)
			}
		}
	}
}

func applyOverrides(cfg *Config, ov Overrides) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Queue.Region, ov.Region)
	set(&cfg.Queue.EndpointURL, ov.EndpointURL)
	set(&cfg.Queue.QueueURL, ov.QueueURL)
	set(&cfg.Queue.QueueName, ov.QueueName)
}

// resolveSecrets fills app secrets from HOOKLINE_APP_<ID>_SECRET (highest)
// or the app's secret_file, over the file's "secret".
func (w *walker) resolveSecrets(cfg *Config, src Sources) {
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		if v, ok := src.LookupEnv(SecretEnvName(a.ID)); ok && v != "" {
			a.Secret = Secret(v)
			continue
		}
		if a.SecretFile == "" {
			continue
		}
		if src.ReadFile == nil {
			w.errorf(join(a.Path, "secret_file"), "cannot be read here")
			continue
		}
		data, err := src.ReadFile(a.SecretFile)
		if err != nil {
			w.errorf(join(a.Path, "secret_file"), "%v", err)
			continue
		}
		a.Secret = Secret(bytes.TrimRight(data, "\r\n"))
	}
}

// driverProblem says why an app manager driver other than memory is refused.
func driverProblem(d string) string {
	switch strings.ToLower(d) {
	case "array":
		return fmt.Sprintf("%q: did you mean \"memory\"? (the apps are listed under app_manager.array)", d)
	case "surrealdb", "scylladb":
		return fmt.Sprintf("%q is not supported by Hookline; use memory (apps under app_manager.array), pgsql, mysql or dynamodb", d)
	}
	return fmt.Sprintf("%q is not an app manager driver; use memory (apps under app_manager.array), pgsql, mysql or dynamodb", d)
}

// appEnvNames are Sockudo's environment names about apps that Hookline
// honours (applyAppEnv); EnvNames lists them too.
var appEnvNames = []string{"APP_MANAGER_DRIVER", "SOCKUDO_SKIP_INLINE_APPS", "APP_MANAGER_REGISTER_INLINE_APPS",
	"SOCKUDO_DEFAULT_APP_ID", "SOCKUDO_DEFAULT_APP_KEY", "SOCKUDO_DEFAULT_APP_SECRET", "SOCKUDO_DEFAULT_APP_ENABLED"}

// applyAppEnv applies Sockudo's app settings from the environment with
// Sockudo's meaning: APP_MANAGER_DRIVER (memory, pgsql and its aliases, mysql, dynamodb),
// SOCKUDO_SKIP_INLINE_APPS=true or APP_MANAGER_REGISTER_INLINE_APPS=false
// (the file's apps are not registered), and SOCKUDO_DEFAULT_APP_ID, _KEY,
// _SECRET, _ENABLED (one more app, from the environment). None is ignored:
// what Hookline cannot do stops startup naming the variable.
func (w *walker) applyAppEnv(cfg *Config, lookup func(string) (string, bool)) {
	get := func(name string) string { v, _ := lookup(name); return strings.TrimSpace(v) }
	flag := func(name string) (value, set bool) {
		v := get(name)
		if v == "" {
			return false, false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			w.errorf("env "+name, "%q: want true or false", v)
			return false, false
		}
		return b, true
	}
	if d := get("APP_MANAGER_DRIVER"); d != "" {
		if nd, ok := normalizeDriver(d); ok {
			cfg.AppManager.Driver = nd
		} else {
			w.errorf("env APP_MANAGER_DRIVER", "%s", driverProblem(d))
		}
	}
	skip, _ := flag("SOCKUDO_SKIP_INLINE_APPS")
	if register, set := flag("APP_MANAGER_REGISTER_INLINE_APPS"); set && !register {
		skip = true
	}
	if skip {
		cfg.Apps = nil
	}
	id, key, secret := get("SOCKUDO_DEFAULT_APP_ID"), get("SOCKUDO_DEFAULT_APP_KEY"), get("SOCKUDO_DEFAULT_APP_SECRET")
	if id == "" && key == "" && secret == "" {
		return
	}
	if id == "" || key == "" || secret == "" {
		w.errorf("env SOCKUDO_DEFAULT_APP_ID", "SOCKUDO_DEFAULT_APP_ID, _KEY and _SECRET must be set together (set: id %t, key %t, secret %t)",
			id != "", key != "", secret != "")
		return
	}
	app := App{ID: id, Key: key, Secret: Secret(secret), Enabled: true, Path: "env SOCKUDO_DEFAULT_APP_*"}
	if enabled, set := flag("SOCKUDO_DEFAULT_APP_ENABLED"); set {
		app.Enabled = enabled
	}
	w.warnf(app.Path, "app %q from the environment has no webhooks: ingest accepts its events and the worker delivers them nowhere; "+
		"define it in the file to give it webhooks", id)
	cfg.Apps = append(cfg.Apps, app)
}
