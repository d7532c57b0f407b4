package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/lmittmann/tint"
	"github.com/mattn/go-isatty"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/hookline/hookline/config"
)

// env is what commands get from the process: streams and environment.
type env struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	lookupEnv func(string) (string, bool)
	// hup delivers SIGHUP (reload the config); nil in tests that do not
	// send it.
	hup <-chan os.Signal
}

// globalFlags are the flags every command takes.
type globalFlags struct {
	configPath string
	overrides  config.Overrides
	logLevel   string
	logFormat  string
}

func newRoot(e *env) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "hookline",
		Short: "Deliver Pusher-compatible webhooks reliably through AWS SQS",
		Long: `Hookline delivers Pusher-compatible webhooks through AWS SQS.

Configuration is a Sockudo config.toml or config.json (--config; format by the
extension, else by content), with ${VAR} and ${VAR:-default} expanded from the
environment as Sockudo does. Environment overrides, highest
precedence first: command-line flags, Sockudo's names (QUEUE_SQS_REGION,
QUEUE_SQS_ENDPOINT_URL, WEBHOOK_BATCHING_ENABLED, ...), AWS names (AWS_REGION,
AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL), then the file. App secrets may come from
HOOKLINE_APP_<ID>_SECRET. AWS credentials come from the default chain.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", defaultConfigPath(e), "Sockudo-compatible config file, JSON or TOML (env HOOKLINE_CONFIG; default ./config.toml if it exists, else ./config.json)")
	pf.StringVar(&g.overrides.Region, "region", "", "AWS region of the queues (beats QUEUE_SQS_REGION and AWS_REGION)")
	pf.StringVar(&g.overrides.EndpointURL, "endpoint-url", "", "SQS endpoint, e.g. a LocalStack or fauxqs URL (beats QUEUE_SQS_ENDPOINT_URL and AWS_ENDPOINT_URL_SQS)")
	pf.StringVar(&g.overrides.QueueURL, "queue-url", "", "main queue URL (beats queue.sqs.queue_url)")
	pf.StringVar(&g.overrides.QueueName, "queue-name", "", "main queue name (beats queue.sqs.queue_name)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.logFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text or json")

	root.AddCommand(newConfigCmd(e, g), newQueuesCmd(e, g), newWorkerCmd(e, g), newIngestCmd(e, g), newSendCmd(e, g), newReceiveCmd(e, g),
		newDLQCmd(e, g), newHealthcheckCmd(e))
	return root
}

func defaultConfigPath(e *env) string {
	if v, ok := e.lookupEnv("HOOKLINE_CONFIG"); ok && v != "" {
		return v
	}
	// Like Sockudo: config.toml first, then the legacy config.json.
	if _, err := os.Stat("config.toml"); err == nil {
		return "config.toml"
	}
	return "config.json"
}

// loadConfig loads the config file with the process environment and flags.
func (g *globalFlags) loadConfig(e *env) (*config.Config, error) {
	cfg, err := config.Load(g.configPath, config.Sources{LookupEnv: e.lookupEnv, ReadFile: os.ReadFile}, g.overrides)
	if errors.Is(err, fs.ErrNotExist) {
		from := "the default: ./config.toml, else ./config.json"
		if v, ok := e.lookupEnv("HOOKLINE_CONFIG"); ok && v == g.configPath {
			from = "from HOOKLINE_CONFIG"
		} else if g.configPath != "config.json" && g.configPath != "config.toml" {
			from = "from --config"
		}
		return nil, fmt.Errorf("config file %s (%s) does not exist: pass --config FILE or set HOOKLINE_CONFIG", g.configPath, from)
	}
	return cfg, err
}

// setup builds the logger and loads the config, logging its warnings.
func (g *globalFlags) setup(e *env) (*slog.Logger, *config.Config, error) {
	log, err := g.logger(e)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := g.loadConfig(e)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range cfg.Warnings {
		log.Warn("config", "problem", w)
	}
	return log, cfg, nil
}

// newRegistry is a metrics registry with the Go runtime and process
// collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// logger builds the process logger: tint on a terminal, JSON otherwise.
func (g *globalFlags) logger(e *env) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, usageError{err}
	}
	f, ok := e.stderr.(*os.File)
	terminal := ok && isatty.IsTerminal(f.Fd())
	format := strings.ToLower(g.logFormat)
	if format == "auto" {
		format = "json"
		if terminal {
			format = "text"
		}
	}
	switch format {
	case "text":
		// Colour only on a terminal, and never with NO_COLOR (no-color.org).
		_, noColor := e.lookupEnv("NO_COLOR")
		return slog.New(tint.NewTextHandler(e.stderr, &tint.Options{Level: level, NoColor: noColor || !terminal})), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: durationText})), nil
	default:
		return nil, usageError{errUnknownLogFormat(g.logFormat)}
	}
}

// durationText writes durations as "1.5s" in JSON logs, not as integer
// nanoseconds.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

type errUnknownLogFormat string

func (e errUnknownLogFormat) Error() string {
	return "--log-format " + string(e) + ": use auto, text or json"
}
