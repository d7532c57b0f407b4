package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/localstack"
)

// The app every envelope belongs to, and its credentials.
const (
	benchKey    = "bench-key"
	benchSecret = "bench-secret"
)

// Contender keys, in the table's order.
const (
	keyHookline = "hookline"
	keyConsumer = "consumer"
	keyBare     = "bare"
)

// contender is one of the programs the benchmark compares.
type contender struct {
	key, name string
	delivers  bool // it POSTs the events (the bare limit only deletes them)
}

var allContenders = []contender{
	{keyHookline, "Hookline", true},
	{keyConsumer, "per-message consumer", true},
	{keyBare, "bare limit", false},
}

func lookupContender(key string) (contender, bool) {
	for _, c := range allContenders {
		if c.key == key {
			return c, true
		}
	}
	return contender{}, false
}

// Row is one group of the table: the same queue contents, Messages
// envelopes of EventsPerMessage events, for every contender.
type Row struct {
	EventsPerMessage int
	Messages         int
}

// Config is one benchmark run.
type Config struct {
	// Rows are the queue contents to measure, in order. Required.
	Rows []Row
	// Contenders are contender keys (hookline, consumer, bare), in the
	// table's order. Default all three.
	Contenders []string
	// Pollers is the receive loops of every contender (Hookline's
	// queue.sqs.concurrency). Default 5.
	Pollers int
	// Wait is ReceiveMessage's WaitTimeSeconds. Default 1.
	Wait int
	// Visibility is the visibility timeout of the queues and of every
	// receive, in seconds. Default 30.
	Visibility int
	// Region of the queues. Default us-east-1.
	Region string
	// Endpoint is the SQS endpoint; empty starts fauxqs on loopback.
	Endpoint string
	// Hookline is a prebuilt hookline binary; empty builds one with
	// `go build` into a temporary directory (the working directory must
	// be inside the module).
	Hookline string
	// Exe is the executable that runs the other contenders with
	// "child <mode> ..."; default os.Executable().
	Exe string
	// RunTimeout bounds one contender run. Default 5 minutes.
	RunTimeout time.Duration
	// Attempts is how many times a run is made when messages were
	// received more than once: a receive's answer lost in transit (the SDK
	// retries the call) leaves its messages in flight for the visibility
	// timeout, which then dominates the run's time. Earlier attempts are
	// reported in Result.Discarded. Default 2; 1 never re-runs.
	Attempts int
	// Progress receives one line per step; nil discards them.
	Progress io.Writer

	// Hung configures RunHung; Backlog configures RunBacklog; Pipeline
	// configures RunPipeline.
	Hung     HungConfig
	Backlog  BacklogConfig
	Pipeline PipelineConfig
}

func (c *Config) withDefaults() (Config, error) {
	o := *c
	if len(o.Contenders) == 0 {
		for _, k := range allContenders {
			o.Contenders = append(o.Contenders, k.key)
		}
	}
	if o.Pollers == 0 {
		o.Pollers = 5
	}
	if o.Wait == 0 {
		o.Wait = 1
	}
	if o.Visibility == 0 {
		o.Visibility = 30
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.RunTimeout == 0 {
		o.RunTimeout = 5 * time.Minute
	}
	if o.Attempts == 0 {
		o.Attempts = 2
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("bench: own executable: %w", err)
		}
		o.Exe = exe
	}
	switch {
	case o.Attempts < 1:
		return o, fmt.Errorf("bench: attempts %d: want at least 1", o.Attempts)
	case o.Pollers < 1:
		return o, fmt.Errorf("bench: pollers %d: want at least 1", o.Pollers)
	case o.Wait < 0 || o.Wait > 20:
		return o, fmt.Errorf("bench: wait %d: want 0 to 20 seconds", o.Wait)
	case o.Visibility < 15:
		// Hookline refuses to start below 3 s + its 10 s SQS call timeout.
		return o, fmt.Errorf("bench: visibility %d: want at least 15 seconds", o.Visibility)
	}
	for _, r := range o.Rows {
		if r.EventsPerMessage < 1 || r.Messages < 1 {
			return o, fmt.Errorf("bench: row %d:%d: want at least 1 event per message and 1 message", r.EventsPerMessage, r.Messages)
		}
	}
	for _, k := range o.Contenders {
		if _, ok := lookupContender(k); !ok {
			return o, fmt.Errorf("bench: contender %q: want hookline, consumer or bare", k)
		}
	}
	return o, nil
}

// Result is one contender's run over one row.
type Result struct {
	Contender string // key
	Name      string // for the table
	Row       Row
	Events    int // Row.Messages × Row.EventsPerMessage

	Delivered int64 // events the receiver counted (delivering contenders)
	Requests  int64 // webhook requests the receiver accepted
	Rejected  int64 // webhook requests the receiver refused (bad signature, body, ...)

	Startup      time.Duration // from exec to the first ReceiveMessage
	FirstReceive time.Time     // the first ReceiveMessage: where Elapsed starts
	Elapsed      time.Duration // from the first ReceiveMessage to the last event counted (bare: the last delete)

	CPU      time.Duration // the contender's CPU time within Elapsed (from /proc, 10 ms ticks)
	CPUKnown bool          // CPU, HarnessCPU and BusyCPUs were measured (there is a /proc)
	// HarnessCPU is the CPU time of the driver process within Elapsed: the
	// proxy and the receiver (fauxqs is not included).
	HarnessCPU time.Duration
	// BusyCPUs is how many of the machine's CPUs were busy on average within
	// Elapsed (everything: contender, harness, fauxqs, the rest).
	BusyCPUs float64
	CPUTotal time.Duration // the contender's CPU time over its life (rusage): startup and shutdown included
	MaxRSS   int64         // peak RSS until the stop, bytes (VmHWM; rusage maxrss where there is no /proc)

	SQS proxyCounts // calls by operation and what they returned, over the contender's life

	Left         int // messages still in the main queue after the stop
	DeadLettered int // messages in the dead-letter queue after the stop

	// Attempt is which attempt this is (see Config.Attempts); Discarded
	// summarises the earlier ones.
	Attempt   int
	Discarded []string

	// Output is the tail of what the contender wrote (warnings and errors:
	// contenders log at warn level).
	Output string

	Err error // why the run failed; the other fields hold what was measured
}

// EventsPerSecond is the throughput over Elapsed.
func (r *Result) EventsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Events) / r.Elapsed.Seconds()
}

// Redelivered is how many more messages were received than the queue held:
// messages that came back after their visibility timeout.
func (r *Result) Redelivered() int64 {
	return max(0, r.SQS.Received-int64(r.Row.Messages))
}

// Report is a benchmark run: the machine and every result.
type Report struct {
	Machine Machine
	Command string // the command line, shell-quoted
	Config  Config
	Started time.Time
	Results []Result
}

// bench is the state of one benchmark run.
type bench struct {
	cfg     Config
	machine Machine
	sqs     *sqs.Client // straight to the endpoint: fills and inspects queues
	// sqsEndpoint is the SQS endpoint behind the proxy.
	sqsEndpoint string
	proxy       *proxy // what contenders talk to
	sink        *sink
	dir         string // temporary files
	hookline    string // binary
	env         []string
}

// Run runs the benchmark's table 1: every row for every contender, in
// order. A failed run is recorded in its Result (and Run carries on); Run
// fails only when the benchmark cannot be set up.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(cfg.Rows) == 0 {
		return nil, errors.New("bench: no rows")
	}
	rep := &Report{Config: cfg, Started: time.Now()}
	b, closeAll, err := setUp(ctx, cfg, slices.Contains(cfg.Contenders, keyHookline))
	if err != nil {
		return nil, err
	}
	defer closeAll()
	rep.Machine = b.machine

	for _, row := range cfg.Rows {
		for _, key := range cfg.Contenders {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			c, _ := lookupContender(key)
			var res Result
			var discarded []string
			for attempt := 1; ; attempt++ {
				res = b.runOne(ctx, c, row, runOptions{})
				res.Attempt, res.Discarded = attempt, discarded
				if res.Err != nil || res.Redelivered() == 0 || attempt == cfg.Attempts || ctx.Err() != nil {
					break
				}
				d := fmt.Sprintf("attempt %d: %.0f events/s in %v, %d messages received twice", attempt,
					res.EventsPerSecond(), res.Elapsed.Round(time.Millisecond), res.Redelivered())
				b.progress("%s, %d events/message: %s; running it again", c.name, row.EventsPerMessage, d)
				discarded = append(discarded, d)
			}
			if res.Err != nil {
				b.progress("%s, %d events/message: FAILED: %v", c.name, row.EventsPerMessage, res.Err)
			} else {
				b.progress("%s, %d events/message: %d events in %v: %.0f events/s", c.name, row.EventsPerMessage,
					res.Events, res.Elapsed.Round(time.Millisecond), res.EventsPerSecond())
			}
			rep.Results = append(rep.Results, res)
		}
	}
	return rep, nil
}

// setUp starts what every scenario shares: the SQS endpoint (fauxqs unless
// cfg.Endpoint is set), the counting proxy, the fast receiver, and, when
// hookline is true, a hookline binary (built unless cfg.Hookline names
// one). closeAll stops them all.
func setUp(ctx context.Context, cfg Config, hookline bool) (b *bench, closeAll func(), err error) {
	b = &bench{cfg: cfg, env: childEnv()}
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()

	if b.dir, err = os.MkdirTemp("", "hookline-bench-"); err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	closers = append(closers, func() { _ = os.RemoveAll(b.dir) })

	endpoint := cfg.Endpoint
	if endpoint == "" {
		b.progress("starting fauxqs")
		ep, stop, err := localstack.StartFauxqs()
		if err != nil {
			return nil, nil, fmt.Errorf("bench: %w", err)
		}
		closers = append(closers, func() {
			if err := stop(); err != nil {
				b.progress("fauxqs: %v", err)
			}
		})
		endpoint = ep
	}
	b.sqsEndpoint = endpoint
	b.machine = describeMachine(cfg.Endpoint)
	b.progress("SQS endpoint %s", endpoint)
	b.sqs = sqs.New(sqs.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})

	if b.proxy, err = startProxy(endpoint); err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	closers = append(closers, func() { _ = b.proxy.close() })
	if b.sink, err = startSink(benchKey, benchSecret); err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	closers = append(closers, func() { _ = b.sink.close() })

	b.hookline = cfg.Hookline
	if b.hookline == "" && hookline {
		b.hookline = filepath.Join(b.dir, "hookline")
		b.progress("go build -o %s github.com/hookline/hookline/cmd/hookline", b.hookline)
		out, err := exec.CommandContext(ctx, "go", "build", "-o", b.hookline, "github.com/hookline/hookline/cmd/hookline").CombinedOutput()
		if err != nil {
			return nil, nil, fmt.Errorf("bench: go build hookline: %w\n%s", err, out)
		}
	}
	return b, closeAll, nil
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.cfg.Progress, "hookline-bench: "+format+"\n", args...)
}

// runOptions are what a scenario adds to a contender run.
type runOptions struct {
	// listen is Hookline's --listen (health and metrics); empty: none.
	listen string
	// watch, when set, is called once the process has started and until
	// it is stopped; stop is called before the stop signal.
	watch func(pid int) (stop func())
	// filled, when set, is called with how long the fill took.
	filled func(time.Duration)
}

// runOne fills a fresh queue with row and runs contender c over it.
func (b *bench) runOne(ctx context.Context, c contender, row Row, opts runOptions) Result {
	res := Result{Contender: c.key, Name: c.name, Row: row, Events: row.Messages * row.EventsPerMessage}
	q, err := createQueue(ctx, b.sqs, queueName(c.key, row.EventsPerMessage), time.Duration(b.cfg.Visibility)*time.Second)
	if err != nil {
		res.Err = err
		return res
	}
	defer func() {
		if err := deleteQueues(context.WithoutCancel(ctx), b.sqs, q); err != nil {
			b.progress("%v", err)
		}
	}()
	b.progress("%s, %d events/message: filling %s with %d messages", c.name, row.EventsPerMessage, q.spec.Name, row.Messages)
	fillStart := time.Now()
	if err := fill(ctx, b.sqs, q.mainURL, row.Messages, row.EventsPerMessage); err != nil {
		res.Err = err
		return res
	}
	if opts.filled != nil {
		opts.filled(time.Since(fillStart))
	}
	if n, err := depth(ctx, b.sqs, q.mainURL); err != nil || n != row.Messages {
		res.Err = fmt.Errorf("after the fill the queue holds %d messages, want %d (%v)", n, row.Messages, err)
		return res
	}

	cmd, err := b.command(ctx, c, q, opts.listen)
	if err != nil {
		res.Err = err
		return res
	}
	sinkRun := b.sink.begin(int64(res.Events))
	proxyRun := b.proxy.begin(int64(row.Messages))
	defer b.sink.end()
	defer b.proxy.end()

	res.Err = b.measure(ctx, cmd, c, sinkRun, proxyRun, opts.watch, &res)
	res.Delivered = sinkRun.events.load()
	res.Requests = sinkRun.requests.Load() - sinkRun.rejected.Load()
	res.Rejected = sinkRun.rejected.Load()
	res.SQS = proxyRun.counts()
	if res.Err == nil && res.Rejected > 0 {
		res.Err = fmt.Errorf("the receiver rejected %d requests, e.g. %s", res.Rejected, *sinkRun.lastErr.Load())
	}

	var derr error
	if res.Left, err = depth(ctx, b.sqs, q.mainURL); err != nil {
		derr = err
	}
	if res.DeadLettered, err = depth(ctx, b.sqs, q.dlqURL); err != nil {
		derr = err
	}
	if res.Err == nil {
		res.Err = derr
	}
	return res
}

// measure runs the contender's process and times it; see Result.
func (b *bench) measure(ctx context.Context, cmd *exec.Cmd, c contender, sinkRun *sinkRun, proxyRun *proxyRun,
	watch func(pid int) (stop func()), res *Result) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RunTimeout)
	defer cancel()
	spawned := time.Now()
	ch, err := startChild(cmd)
	if err != nil {
		return err
	}
	stopWatch := func() {}
	if watch != nil {
		stopWatch = watch(ch.pid())
	}
	failure := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		select {
		case <-ch.exited:
			msg += fmt.Sprintf(" (exited: %v)", ch.waitErr)
		default:
		}
		return fmt.Errorf("%s; output:\n%s", msg, indent(ch.stderr.String()))
	}
	finish := func(err error) error {
		// The peak RSS of the run, read before the stop: rusage's is
		// inflated by this process's RSS (see procPeakRSS).
		hwm, hwmErr := procPeakRSS(ch.pid())
		stopWatch()
		stopErr := ch.stop(30 * time.Second)
		res.Output = ch.stderr.String()
		if cpu, rss, uerr := ch.usage(); uerr == nil {
			res.CPUTotal, res.MaxRSS = cpu, rss
		}
		if hwmErr == nil {
			res.MaxRSS = hwm
		}
		if err == nil && stopErr != nil {
			err = failure("stop: %v", stopErr)
		}
		return err
	}

	// Wait for the first receive: the contender is up.
	var cpu0 cpuSample
	cpuKnown := true
	select {
	case <-proxyRun.firstReceive:
		res.Startup = proxyRun.firstReceiveAt.Sub(spawned)
		res.FirstReceive = proxyRun.firstReceiveAt
		if cpu0, err = sampleCPU(ch.pid()); err != nil {
			cpuKnown = false
		}
	case <-ch.exited:
		return finish(failure("exited before its first receive"))
	case <-ctx.Done():
		return finish(failure("no receive within %v", b.cfg.RunTimeout))
	}

	// Wait for the last event (or, for the bare limit, the last delete).
	done := proxyRun.deleted
	what := "messages deleted"
	if c.delivers {
		done, what = sinkRun.events, "events delivered"
	}
	select {
	case <-done.done:
		at, _ := done.reachedAt()
		res.Elapsed = at.Sub(proxyRun.firstReceiveAt)
		if cpu1, err := sampleCPU(ch.pid()); err == nil && cpuKnown {
			res.CPU, res.HarnessCPU, res.CPUKnown = cpu1.contender-cpu0.contender, cpu1.harness-cpu0.harness, true
			if t := cpu1.total - cpu0.total; t > 0 {
				res.BusyCPUs = float64(cpu1.busy-cpu0.busy) / float64(t) * float64(runtime.NumCPU())
			}
		}
	case <-ch.exited:
		return finish(failure("exited after %d of %d %s", done.load(), done.target, what))
	case <-ctx.Done():
		return finish(failure("%d of %d %s within %v", done.load(), done.target, what, b.cfg.RunTimeout))
	}

	// A delivering contender deletes after delivering: wait for the deletes
	// (outside the measurement), so the queue is empty when it stops.
	if c.delivers {
		select {
		case <-proxyRun.deleted.done:
		case <-ch.exited:
			return finish(failure("exited after %d of %d messages deleted", proxyRun.deleted.load(), proxyRun.deleted.target))
		case <-ctx.Done():
			return finish(failure("%d of %d messages deleted within %v", proxyRun.deleted.load(), proxyRun.deleted.target, b.cfg.RunTimeout))
		}
	}
	return finish(nil)
}

// command is the process of contender c over queue q; listen is
// Hookline's --listen.
func (b *bench) command(ctx context.Context, c contender, q *benchQueue, listen string) (*exec.Cmd, error) {
	if c.key == keyHookline {
		return b.hooklineCommand(ctx, q, hooklineConfig(b.cfg, q, b.proxy.url, b.sink.url), listen)
	}
	args := []string{childArg, c.key,
		"-endpoint", b.proxy.url, "-region", b.cfg.Region, "-queue-url", q.mainURL,
		"-pollers", strconv.Itoa(b.cfg.Pollers), "-wait", strconv.Itoa(b.cfg.Wait),
		"-visibility", strconv.Itoa(b.cfg.Visibility)}
	if c.key == keyConsumer {
		args = append(args, "-url", b.sink.url, "-key", benchKey, "-secret", benchSecret)
	}
	cmd := exec.CommandContext(ctx, b.cfg.Exe, args...)
	b.prepare(cmd)
	return cmd, nil
}

// hooklineCommand is `hookline worker` with the config doc (written next to
// the other temporary files), talking to SQS through the proxy, logging
// warnings and errors as JSON; listen is --listen (empty: none).
func (b *bench) hooklineCommand(ctx context.Context, q *benchQueue, doc map[string]any, listen string) (*exec.Cmd, error) {
	path := filepath.Join(b.dir, q.spec.Name+".json")
	text, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, text, 0o600); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	cmd := exec.CommandContext(ctx, b.hookline, "worker", "--config", path,
		"--endpoint-url", b.proxy.url, "--listen", listen, "--log-format", "json", "--log-level", "warn")
	b.prepare(cmd)
	return cmd, nil
}

func (b *bench) prepare(cmd *exec.Cmd) {
	cmd.Env = b.env
	cmd.Dir = b.dir
	// The context kills a child only when the whole benchmark is cancelled;
	// stop() is the normal way out.
	cmd.Cancel = func() error { return cmd.Process.Kill() }
}

// hooklineConfig is the worker's config.json: one app, one webhook at the
// receiver taking every event, batching of 50 ms and 100 events, the
// contenders' pollers, long poll and visibility.
func hooklineConfig(cfg Config, q *benchQueue, endpoint, webhook string) map[string]any {
	return workerConfig(cfg, q, endpoint, []any{map[string]any{"url": webhook, "event_types": []string{"client_event"}}}, nil)
}

// workerConfig is a worker's config.json: one app with these webhooks,
// batching of 50 ms and 100 events, retry (webhooks.retry) unless nil, the
// contenders' pollers, long poll and visibility.
func workerConfig(cfg Config, q *benchQueue, endpoint string, webhooks []any, retry map[string]any) map[string]any {
	global := map[string]any{"batching": map[string]any{"enabled": true, "duration": 50, "size": 100}}
	if retry != nil {
		global["retry"] = retry
	}
	return map[string]any{
		"app_manager": map[string]any{
			"driver": "memory",
			"array": map[string]any{"apps": []any{map[string]any{
				"id": benchAppID, "key": benchKey, "secret": benchSecret,
				"webhooks": webhooks,
			}}},
		},
		"webhooks": global,
		"queue": map[string]any{"sqs": map[string]any{
			"region":                 cfg.Region,
			"endpoint_url":           endpoint,
			"queue_url":              q.mainURL,
			"queue_name":             q.spec.MainQueueName(),
			"dead_letter_queue_name": q.spec.DeadLetterQueueName(),
			"visibility_timeout":     cfg.Visibility,
			"wait_time_seconds":      cfg.Wait,
			"max_messages":           maxReceive,
			"concurrency":            cfg.Pollers,
		}},
	}
}

// childEnv is the environment of the contenders: this process's, without
// anything that would override their configuration (AWS_*, QUEUE_*,
// WEBHOOK_*, HOOKLINE_*), plus dummy credentials.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "AWS_"), strings.HasPrefix(name, "QUEUE_"),
			strings.HasPrefix(name, "WEBHOOK_"), strings.HasPrefix(name, "HOOKLINE_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true")
}

// queueName is a fresh queue name for one run.
func queueName(key string, perMessage int) string {
	var buf [4]byte
	_, _ = rand.Read(buf[:])
	return fmt.Sprintf("bench-%s-%d-%s", key, perMessage, hex.EncodeToString(buf[:]))
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (none)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
