package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// BacklogConfig is the backlog scenario: a queue filled with a large
// backlog before Hookline starts, drained to the fast receiver while the
// worker's memory and goroutines are sampled. It shows that the worker's
// memory is bounded and flat however much is waiting.
type BacklogConfig struct {
	// Messages envelopes of EventsPerMessage events are the backlog.
	// Default 10 000 × 100 (1 000 000 events).
	Messages, EventsPerMessage int
	// Sample is the interval of the RSS and goroutine samples. Default
	// 250 ms.
	Sample time.Duration
}

func (c BacklogConfig) withDefaults() (BacklogConfig, error) {
	if c.Messages == 0 {
		c.Messages = 10_000
	}
	if c.EventsPerMessage == 0 {
		c.EventsPerMessage = 100
	}
	if c.Sample == 0 {
		c.Sample = 250 * time.Millisecond
	}
	switch {
	case c.Messages < 1 || c.EventsPerMessage < 1:
		return c, fmt.Errorf("bench: backlog %d × %d: want at least 1 message of 1 event", c.Messages, c.EventsPerMessage)
	case c.Sample < 10*time.Millisecond:
		return c, fmt.Errorf("bench: backlog: sample interval %v: want at least 10ms", c.Sample)
	}
	return c, nil
}

// Targets of the backlog scenario.
const (
	backlogRSSTarget = 100_000_000 // bytes (100 MB)
	backlogFlatness  = 0.10        // last-quarter mean RSS within ±10 % of the first quarter's
	drainSkip        = time.Second // the start of the drain the RSS statistics leave out
)

// memSample is one sample of the worker.
type memSample struct {
	at         time.Time
	rss        int64 // bytes
	goroutines int   // -1: not scraped
}

// BacklogReport is a run of the backlog scenario.
type BacklogReport struct {
	Machine Machine
	Command string
	Config  Config // Config.Backlog with its defaults
	Started time.Time

	Fill    time.Duration // filling the queue
	Result  Result        // the drain: Hookline over the backlog
	Samples []memSample   // over the worker's life
}

// RunBacklog runs the backlog scenario (see BacklogConfig). It fails only
// when the benchmark cannot be set up; a failed run is in Result.Err.
func RunBacklog(ctx context.Context, cfg Config) (*BacklogReport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Backlog, err = cfg.Backlog.withDefaults(); err != nil {
		return nil, err
	}
	rep := &BacklogReport{Config: cfg, Started: time.Now()}
	b, closeAll, err := setUp(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	rep.Machine = b.machine
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}

	var mu sync.Mutex
	watch := func(pid int) (stop func()) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			var client http.Client
			tick := time.NewTicker(cfg.Backlog.Sample)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
				case <-done:
					return
				}
				s := memSample{at: time.Now(), goroutines: -1}
				rss, err := procRSS(pid)
				if err != nil {
					continue
				}
				s.rss = rss
				if p, err := scrapeMetrics(ctx, &client, "http://"+addr+"/metrics"); err == nil && p.has("go_goroutines") {
					s.goroutines = int(p.total("go_goroutines"))
				}
				mu.Lock()
				rep.Samples = append(rep.Samples, s)
				mu.Unlock()
			}
		})
		return func() {
			close(done)
			wg.Wait()
		}
	}
	c, _ := lookupContender(keyHookline)
	row := Row{EventsPerMessage: cfg.Backlog.EventsPerMessage, Messages: cfg.Backlog.Messages}
	rep.Result = b.runOne(ctx, c, row, runOptions{listen: addr, watch: watch, filled: func(d time.Duration) {
		rep.Fill = d
		b.progress("backlog: filled %d messages × %d events in %v", row.Messages, row.EventsPerMessage, d.Round(time.Millisecond))
	}})
	if r := &rep.Result; r.Err == nil {
		b.progress("backlog: drained %d events in %v: %.0f events/s", r.Events, r.Elapsed.Round(time.Millisecond), r.EventsPerSecond())
	}
	return rep, nil
}

// drain is the samples of the drain, without its first second (the whole
// drain when it is shorter); skipped says whether the first second was
// left out.
func (rep *BacklogReport) drain() (s []memSample, skipped bool) {
	r := rep.Result
	if r.FirstReceive.IsZero() {
		return nil, false
	}
	end := r.FirstReceive.Add(r.Elapsed)
	pick := func(from time.Time) []memSample {
		var out []memSample
		for _, x := range rep.Samples {
			if !x.at.Before(from) && !x.at.After(end) {
				out = append(out, x)
			}
		}
		return out
	}
	if s = pick(r.FirstReceive.Add(drainSkip)); len(s) > 0 {
		return s, true
	}
	return pick(r.FirstReceive), false
}

// rssStats summarises the RSS of samples (in time order).
type rssStats struct {
	n                      int
	min, median, max       int64
	firstQuarter, lastQuar float64 // mean RSS of the first and the last quarter of the samples
	gMin, gMax             int     // goroutines; -1 when never scraped
}

func summariseRSS(s []memSample) rssStats {
	st := rssStats{n: len(s), gMin: -1, gMax: -1}
	if len(s) == 0 {
		return st
	}
	rss := make([]int64, len(s))
	for i, x := range s {
		rss[i] = x.rss
		if x.goroutines >= 0 {
			if st.gMin < 0 || x.goroutines < st.gMin {
				st.gMin = x.goroutines
			}
			st.gMax = max(st.gMax, x.goroutines)
		}
	}
	q := max(1, len(rss)/4)
	st.firstQuarter, st.lastQuar = mean(rss[:q]), mean(rss[len(rss)-q:])
	slices.Sort(rss)
	st.min, st.median, st.max = rss[0], quantile(rss, 0.5), rss[len(rss)-1]
	return st
}

func mean(v []int64) float64 {
	var t float64
	for _, x := range v {
		t += float64(x)
	}
	return t / float64(len(v))
}

func mib(n float64) string { return fmt.Sprintf("%.1f", n/(1<<20)) }

// sparkline draws values over at most width columns (the largest value of
// each column), from zero to the largest value.
func sparkline(values []int64, width int) string {
	const bars = "▁▂▃▄▅▆▇█"
	levels := []rune(bars)
	if len(values) == 0 {
		return ""
	}
	cols := min(width, len(values))
	top := slices.Max(values)
	var b strings.Builder
	for c := range cols {
		lo, hi := c*len(values)/cols, (c+1)*len(values)/cols
		v := slices.Max(values[lo:max(hi, lo+1)])
		i := 0
		if top > 0 {
			i = int(float64(v) / float64(top) * float64(len(levels)-1))
		}
		b.WriteRune(levels[i])
	}
	return b.String()
}

// WriteMarkdown writes the report: the drain, the RSS and goroutines over
// it, the machine and the command line.
func (rep *BacklogReport) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	r := rep.Result
	bc := rep.Config.Backlog
	m := rep.Machine
	fmt.Fprintf(&b, "## Hookline end to end: draining a backlog of %d events\n\n", r.Events)
	fmt.Fprintf(&b, "- machine: %d CPUs (nproc), %s; %s; %s\n", m.CPUs, m.CPUModel, m.Platform, m.Go)
	fmt.Fprintf(&b, "- SQS: %s; the worker behind a counting loopback proxy; receiver: verifying, loopback, in the driver process\n", m.SQS)
	fmt.Fprintf(&b, "- backlog: %d messages × %d events, filled in %.2f s (SendMessageBatch, %d calls at a time) before the worker started; "+
		"Hookline: one webhook at the receiver, %d pollers, ReceiveMessage of %d, WaitTimeSeconds %d, visibility %d s, batching 50 ms / 100 events, default in-flight limits\n",
		bc.Messages, bc.EventsPerMessage, rep.Fill.Seconds(), fillers, rep.Config.Pollers, maxReceive, rep.Config.Wait, rep.Config.Visibility)
	fmt.Fprintf(&b, "- every %v: the worker's VmRSS (/proc/<pid>/status) and go_goroutines (its /metrics)\n", bc.Sample)
	fmt.Fprintf(&b, "- started %s; command: `%s`\n\n", rep.Started.UTC().Format(time.RFC3339), rep.Command)

	s, skipped := rep.drain()
	st := summariseRSS(s)
	window := "the drain without its first second"
	if !skipped {
		window = "the whole drain (it lasted under a second)"
	}
	fmt.Fprintf(&b, "RSS over %s (%d samples), MiB:\n\n", window, st.n)
	b.WriteString("| events | messages | seconds | events/s | CPU µs/event | RSS min | median | max | first-quarter mean | last-quarter mean | last ÷ first | peak RSS (VmHWM) | goroutines min | max |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	if r.Err != nil && st.n == 0 {
		fmt.Fprintf(&b, "| %d | %d | FAILED (see below) | | | | | | | | | | | |\n", r.Events, r.Row.Messages)
	} else {
		rate := fmt.Sprintf("%.0f", r.EventsPerSecond())
		if r.Err != nil {
			rate = "FAILED"
		}
		fmt.Fprintf(&b, "| %d | %d | %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Events, r.Row.Messages, r.Elapsed.Seconds(), rate, cpuPerEvent(r),
			mib(float64(st.min)), mib(float64(st.median)), mib(float64(st.max)), mib(st.firstQuarter), mib(st.lastQuar),
			ratioOf(st.lastQuar, st.firstQuarter), mib(float64(r.MaxRSS)), count0(st.gMin), count0(st.gMax))
	}
	if st.n > 0 {
		values := make([]int64, len(s))
		for i, x := range s {
			values[i] = x.rss
		}
		fmt.Fprintf(&b, "\nRSS over the drain, 0 to %s MiB: `%s`\n", mib(float64(st.max)), sparkline(values, 60))
		flat := st.firstQuarter > 0 && st.lastQuar/st.firstQuarter-1 <= backlogFlatness && 1-st.lastQuar/st.firstQuarter <= backlogFlatness
		fmt.Fprintf(&b, "\nTargets: RSS ≤ 100 MB: max %.1f MB (%s); flat (last-quarter mean within ±%.0f %% of the first quarter's): %s (%s).\n",
			float64(st.max)/1e6, met(st.max <= backlogRSSTarget), backlogFlatness*100, ratioOf(st.lastQuar, st.firstQuarter), met(flat))
	}
	fmt.Fprintf(&b, "\nSQS calls at the proxy over the worker's life: %s; failed %d; messages received %d (of %d); left in the queue after the stop %d, dead-lettered %d. Webhook requests: %d.\n",
		formatCalls(r.SQS.Calls), sum(r.SQS.Failed), r.SQS.Received, r.Row.Messages, r.Left, r.DeadLettered, r.Requests)
	writeOutput(&b, "What the worker logged (warn level and above; the last lines):", r.Output)
	if r.Err != nil {
		fmt.Fprintf(&b, "\nThe run FAILED: %v\n", r.Err)
	}
	b.WriteString("\n")
	_, err := w.Write(b.Bytes())
	return err
}

func ratioOf(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func count0(n int) string {
	if n < 0 {
		return "–"
	}
	return fmt.Sprint(n)
}
