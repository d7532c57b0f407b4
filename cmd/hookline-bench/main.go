// Command hookline-bench is Hookline's end-to-end benchmark. Table 1 (the
// default -scenario): in one run it starts a local SQS (fauxqs on 127.0.0.1), a counting proxy in
// front of it and a verifying loopback receiver, and measures on identical
// queue contents three contenders, each its own process:
//
//   - Hookline: the real `hookline worker` binary;
//   - a per-message consumer: receive 10, then for each message decode,
//     build one signed Pusher body, POST it, DeleteMessage;
//   - the bare limit: receive 10, one DeleteMessageBatch, no delivery.
//
// It prints a markdown table (events/s, CPU µs/event, peak RSS, SQS calls
// per message by operation) with the ratios between them, and writes it to
// -out. Run it with `make bench-e2e`, or:
//
//	go run ./cmd/hookline-bench -rows 1:30000,10:20000,100:5000 -out bench.md
//
// Two more scenarios run the real worker alone, each printing its own
// section (and appending it to -out):
//
//   - -scenario hung: one app with two webhooks, a healthy one and one that
//     hangs (accepts requests and never answers) during an outage, under a
//     steady offered load: the healthy webhook's delays, and nothing lost
//     on either (`make bench-hung`);
//   - -scenario backlog: a backlog of 1 000 000 events drained to the
//     receiver while the worker's RSS and goroutines are sampled: bounded
//     and flat memory (`make bench-backlog`);
//   - -scenario pipeline, table 2: the real `hookline ingest` and `hookline
//     worker`, ingest → SQS → worker → receiver, under signed Pusher
//     webhooks of ten apps at fixed offered rates and at full speed:
//     throughput, latency, billed SQS requests and their cost, CPU and
//     memory of both (`make bench-pipeline`).
//
// main only parses flags and maps errors to exit codes: 0 success, 1 a
// failure (a failed run included), 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == childArg {
		os.Exit(runChild(os.Args[2:], os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the driver: args[0] is the program name.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var (
		cfg        Config
		scenario   string
		backlog    string
		rates      string
		rows       string
		contenders string
		out        string
		quiet      bool
		cpuprofile string
	)
	fs := flag.NewFlagSet(filepath.Base(args[0]), flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&scenario, "scenario", scenarioTable1, "what to measure: table1 (the contenders over -rows), hung (a hung webhook next to a healthy one), backlog (draining a large backlog), pipeline (table 2: ingest → SQS → worker at -rates)")
	fs.StringVar(&rows, "rows", "1:30000,10:20000,100:5000", "rows as events-per-message:messages, comma-separated")
	fs.StringVar(&contenders, "contenders", "hookline,consumer,bare", "contenders to run, in order: hookline, consumer, bare")
	fs.IntVar(&cfg.Pollers, "pollers", 5, "receive loops per contender (Hookline: queue.sqs.concurrency)")
	fs.IntVar(&cfg.Wait, "wait", 1, "ReceiveMessage WaitTimeSeconds")
	fs.IntVar(&cfg.Visibility, "visibility", 30, "visibility timeout of the queues and receives, s")
	fs.StringVar(&cfg.Region, "region", "us-east-1", "AWS region of the queues")
	fs.StringVar(&cfg.Endpoint, "endpoint", "", "SQS endpoint to use instead of starting fauxqs")
	fs.StringVar(&cfg.Hookline, "hookline", "", "prebuilt hookline binary (default: go build one into a temporary directory)")
	fs.DurationVar(&cfg.RunTimeout, "run-timeout", 5*time.Minute, "longest one contender run may take")
	fs.IntVar(&cfg.Attempts, "attempts", 2, "runs of one contender and row when messages were received twice (a lost receive: see the report)")
	fs.IntVar(&cfg.Hung.Rate, "rate", 200, "hung: offered load, events/s")
	fs.IntVar(&cfg.Hung.EventsPerMessage, "envelope-events", 10, "hung: events per envelope (one envelope every envelope-events/rate seconds)")
	fs.DurationVar(&cfg.Hung.Send, "send", 45*time.Second, "hung: how long the producer sends")
	fs.DurationVar(&cfg.Hung.OutageStart, "outage-start", 5*time.Second, "hung: when the hung webhook stops answering, from the first send")
	fs.DurationVar(&cfg.Hung.OutageEnd, "outage-end", 35*time.Second, "hung: when it answers again, from the first send")
	fs.DurationVar(&cfg.Hung.Recovery, "recovery", 60*time.Second, "hung: longest wait after the last send for every event at both webhooks")
	fs.DurationVar(&cfg.Hung.RequestTimeout, "hung-timeout", 3*time.Second, "hung: the hung webhook's request_timeout_ms")
	fs.StringVar(&backlog, "backlog", "100:10000", "backlog: the backlog as events-per-message:messages")
	fs.DurationVar(&cfg.Backlog.Sample, "sample", 250*time.Millisecond, "backlog: interval of the RSS and goroutine samples")
	fs.StringVar(&rates, "rates", "500,2000,10000,full", "pipeline: the rows' offered loads, events/s, comma-separated; full: as fast as the POSTs complete")
	fs.DurationVar(&cfg.Pipeline.Duration, "duration", 20*time.Second, "pipeline: how long each row POSTs")
	fs.IntVar(&cfg.Pipeline.Posters, "posters", 32, "pipeline: concurrent POSTs of the full-speed row")
	fs.DurationVar(&cfg.Pipeline.Linger, "linger", 50*time.Millisecond, "pipeline: hookline ingest --linger (an app's POSTs within it share a queue message); 0: not passed")
	fs.DurationVar(&cfg.Pipeline.Recovery, "pipeline-recovery", 60*time.Second, "pipeline: longest wait after the last POST for every event answered 200")
	fs.StringVar(&out, "out", "", "also write the markdown report to this file (table1 replaces it; hung, backlog and pipeline append to it)")
	fs.BoolVar(&quiet, "q", false, "no progress lines on stderr")
	fs.StringVar(&cpuprofile, "cpuprofile", "", "write the driver's CPU profile (proxy, receiver, filler) to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return 2
	}
	var err error
	if cfg.Rows, err = parseRows(rows); err != nil {
		fmt.Fprintf(stderr, "%s: -rows: %v\n", fs.Name(), err)
		return 2
	}
	for _, c := range strings.Split(contenders, ",") {
		if c = strings.TrimSpace(c); c != "" {
			cfg.Contenders = append(cfg.Contenders, c)
		}
	}
	if !quiet {
		cfg.Progress = stderr
	}

	switch scenario {
	case scenarioTable1, scenarioHung:
	case scenarioBacklog:
		r, err := parseRows(backlog)
		if err == nil && len(r) != 1 {
			err = errors.New("want one events-per-message:messages")
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: -backlog: %v\n", fs.Name(), err)
			return 2
		}
		cfg.Backlog.EventsPerMessage, cfg.Backlog.Messages = r[0].EventsPerMessage, r[0].Messages
	case scenarioPipeline:
		if cfg.Pipeline.Rates, err = parseRates(rates); err != nil {
			fmt.Fprintf(stderr, "%s: -rates: %v\n", fs.Name(), err)
			return 2
		}
	default:
		fmt.Fprintf(stderr, "%s: -scenario %q: want table1, hung, backlog or pipeline\n", fs.Name(), scenario)
		return 2
	}

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: -cpuprofile: %v\n", fs.Name(), err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	command := shellQuote(append([]string{fs.Name()}, args[1:]...))
	var (
		rep    markdownReport
		failed bool
	)
	outFlags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	switch scenario {
	case scenarioTable1:
		r, err := Run(ctx, cfg)
		if r == nil {
			fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
			return 1
		}
		r.Command = command
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
			failed = true
		}
		for _, res := range r.Results {
			failed = failed || res.Err != nil
		}
		rep, outFlags = r, os.O_WRONLY|os.O_CREATE|os.O_TRUNC
	case scenarioHung:
		r, err := RunHung(ctx, cfg)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
			return 1
		}
		r.Command = command
		if r.Err != nil {
			fmt.Fprintf(stderr, "%s: hung: %v\n", fs.Name(), r.Err)
			failed = true
		}
		rep = r
	case scenarioBacklog:
		r, err := RunBacklog(ctx, cfg)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
			return 1
		}
		r.Command = command
		if r.Result.Err != nil {
			fmt.Fprintf(stderr, "%s: backlog: %v\n", fs.Name(), r.Result.Err)
			failed = true
		}
		rep = r
	case scenarioPipeline:
		r, err := RunPipeline(ctx, cfg)
		if r == nil {
			fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
			return 1
		}
		r.Command = command
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
			failed = true
		}
		for _, row := range r.Rows {
			if row.Err != nil {
				fmt.Fprintf(stderr, "%s: pipeline %s: %v\n", fs.Name(), row.label(), row.Err)
				failed = true
			}
		}
		rep = r
	}
	code := 0
	if failed {
		code = 1
	}
	if err := rep.WriteMarkdown(stdout); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		return 1
	}
	if out != "" {
		f, err := os.OpenFile(out, outFlags, 0o644)
		if err == nil {
			err = errors.Join(rep.WriteMarkdown(f), f.Close())
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: -out: %v\n", fs.Name(), err)
			return 1
		}
	}
	return code
}

// Scenarios (-scenario).
const (
	scenarioTable1  = "table1"
	scenarioHung    = "hung"
	scenarioBacklog = "backlog"
	// scenarioPipeline is table 2.
	scenarioPipeline = "pipeline"
)

// markdownReport is a scenario's report.
type markdownReport interface {
	WriteMarkdown(io.Writer) error
}

// parseRows parses "1:20000,10:4000".
func parseRows(s string) ([]Row, error) {
	var rows []Row
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		epm, msgs, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("%q: want events-per-message:messages", part)
		}
		e, err1 := strconv.Atoi(epm)
		m, err2 := strconv.Atoi(msgs)
		if err1 != nil || err2 != nil || e < 1 || m < 1 {
			return nil, fmt.Errorf("%q: want two positive integers", part)
		}
		rows = append(rows, Row{EventsPerMessage: e, Messages: m})
	}
	if len(rows) == 0 {
		return nil, errors.New("no rows")
	}
	return rows, nil
}
