package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hookline/hookline/localstack"
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs     int
	CPUModel string
	Platform string // GOOS/GOARCH and the kernel release
	Go       string
	SQS      string // which SQS endpoint
}

// describeMachine fills a Machine. endpoint is the configured SQS endpoint;
// empty means the benchmark started fauxqs.
func describeMachine(endpoint string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), CPUModel: "unknown", Platform: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Platform += ", kernel " + strings.TrimSpace(string(b))
	}
	if endpoint != "" {
		m.SQS = "external endpoint " + endpoint
		return m
	}
	m.SQS = "fauxqs"
	if v, err := localstack.FauxqsVersion(); err == nil {
		m.SQS += " " + v
	}
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		m.SQS += " on node " + strings.TrimSpace(string(out))
	}
	m.SQS += ", 127.0.0.1"
	return m
}

// maxOutputLines is how much of a contender's output the report shows.
const maxOutputLines = 10

// sqsOpOrder is the order of the per-operation columns; operations not
// listed follow, sorted.
var sqsOpOrder = []string{
	"ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
	"ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
	"SendMessage", "SendMessageBatch", "GetQueueUrl", "GetQueueAttributes",
}

// WriteMarkdown writes the report: the table, the calls by operation, the
// ratios, the machine and the command line.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	m := rep.Machine
	fmt.Fprintf(&b, "## Hookline end to end, table 1: Hookline vs a per-message consumer vs the bare SQS limit\n\n")
	fmt.Fprintf(&b, "- machine: %d CPUs (nproc), %s; %s; %s\n", m.CPUs, m.CPUModel, m.Platform, m.Go)
	fmt.Fprintf(&b, "- SQS: %s; every contender behind a counting loopback proxy; receiver: verifying, loopback, in the driver process\n", m.SQS)
	fmt.Fprintf(&b, "- each contender: %d pollers, ReceiveMessage of %d, WaitTimeSeconds %d, visibility %d s; Hookline batching 50 ms / 100 events\n",
		rep.Config.Pollers, maxReceive, rep.Config.Wait, rep.Config.Visibility)
	fmt.Fprintf(&b, "- started %s; command: `%s`\n\n", rep.Started.UTC().Format(time.RFC3339), rep.Command)

	b.WriteString("| events/msg | contender | messages | events | seconds | events/s | CPU µs/event | CPU µs/event, whole life | peak RSS MiB | webhook requests | SQS calls/msg | empty receives | startup ms | harness CPU µs/event | CPUs busy |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var failed []Result
	warned := false
	for _, r := range rep.Results {
		if r.Err != nil {
			failed = append(failed, r)
			fmt.Fprintf(&b, "| %d | %s | %d | %d | FAILED (see below) | | | | | | | | | | |\n", r.Row.EventsPerMessage, r.Name, r.Row.Messages, r.Events)
			continue
		}
		requests := "–"
		if r.Requests > 0 || r.Delivered > 0 {
			requests = fmt.Sprint(r.Requests)
		}
		harness, busy := "–", "–"
		if r.CPUKnown {
			harness = fmt.Sprintf("%.1f", micros(r.HarnessCPU)/float64(r.Events))
			busy = fmt.Sprintf("%.2f of %d", r.BusyCPUs, rep.Machine.CPUs)
		}
		rate := fmt.Sprintf("%.0f", r.EventsPerSecond())
		if r.Redelivered() > 0 {
			rate += " ⚠"
			warned = true
		}
		fmt.Fprintf(&b, "| %d | %s | %d | %d | %.2f | %s | %s | %.1f | %.1f | %s | %.3f | %d | %d | %s | %s |\n",
			r.Row.EventsPerMessage, r.Name, r.Row.Messages, r.Events, r.Elapsed.Seconds(), rate, cpuPerEvent(r),
			micros(r.CPUTotal)/float64(r.Events), float64(r.MaxRSS)/(1<<20), requests,
			float64(sum(r.SQS.Calls))/float64(r.Row.Messages), r.SQS.Empty, r.Startup.Milliseconds(), harness, busy)
	}

	if warned {
		fmt.Fprintf(&b, "\n⚠ messages were received more than once (received/msg above 1 below): a receive's answer was lost "+
			"in transit, the SDK retried the call, and its messages came back only after the %d s visibility timeout, "+
			"so this run's time includes that wait. Its events/s is not a throughput figure (it happened in every attempt; see -attempts).\n", rep.Config.Visibility)
	}

	ops := opColumns(rep.Results)
	b.WriteString("\nSQS calls per message, by operation (counted at the proxy over the contender's whole life); failed calls (non-2xx, failed batch entries); calls the contender cancelled (long polls cut by its stop); messages received per message (above 1: redeliveries):\n\n")
	b.WriteString("| events/msg | contender |")
	for _, op := range ops {
		fmt.Fprintf(&b, " %s |", op)
	}
	b.WriteString(" failed calls | cancelled calls | received/msg |\n|---:|---|")
	for range ops {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---:|\n")
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "| %d | %s |", r.Row.EventsPerMessage, r.Name)
		for _, op := range ops {
			fmt.Fprintf(&b, " %s |", perMessage(r.SQS.Calls[op], r.Row.Messages))
		}
		fmt.Fprintf(&b, " %d | %d | %.3f |\n", sum(r.SQS.Failed), r.SQS.Cancelled, float64(r.SQS.Received)/float64(r.Row.Messages))
	}

	b.WriteString("\nRatios, measured in this run (events/s: higher is better for Hookline; CPU and calls: lower is better):\n\n")
	b.WriteString("| events/msg | Hookline ÷ per-message, events/s | Hookline ÷ per-message, CPU/event | Hookline ÷ per-message, SQS calls | Hookline ÷ bare, events/s | Hookline ÷ bare, SQS calls |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range rep.Config.Rows {
		h := rep.find(keyHookline, row)
		c := rep.find(keyConsumer, row)
		z := rep.find(keyBare, row)
		if h == nil {
			continue
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s |\n", row.EventsPerMessage,
			ratio(h, c, func(r *Result) float64 { return r.EventsPerSecond() }),
			ratio(h, c, func(r *Result) float64 {
				if !r.CPUKnown {
					return 0
				}
				return micros(r.CPU)
			}),
			ratio(h, c, func(r *Result) float64 { return float64(sum(r.SQS.Calls)) }),
			ratio(h, z, func(r *Result) float64 { return r.EventsPerSecond() }),
			ratio(h, z, func(r *Result) float64 { return float64(sum(r.SQS.Calls)) }))
	}

	b.WriteString(`
How it is measured: each (contender × events/msg) gets a fresh queue pair (queues.Ensure, production's
redrive policy) filled with the same envelopes before the contender starts. The clock runs from the
contender's first ReceiveMessage (so process start-up is excluded; it is the "startup ms" column) to
the moment the receiver counted the last event (bare limit: the last successful delete). "CPU µs/event"
is the contender's user+system CPU over that window, from /proc/<pid>/stat (10 ms ticks); "whole life"
is its rusage after exit, start-up and shutdown included. Peak RSS is the contender's VmHWM just before
its stop (not rusage maxrss: Go starts children with vfork, so a child's maxrss starts at the
driver's RSS). The receiver
checks the key, the content type and the HMAC-SHA256 signature of every request and counts the events
of its body. Everything (fauxqs, proxy, receiver, contender) shares the machine's CPUs: "harness CPU"
is the driver process's (proxy + receiver) CPU over the window, "CPUs busy" the machine's average over
it (/proc/stat); when it is close to the CPU count, the machine, not the contender, set the pace.
`)
	var rerun []Result
	for _, r := range rep.Results {
		if len(r.Discarded) > 0 {
			rerun = append(rerun, r)
		}
	}
	if len(rerun) > 0 {
		b.WriteString("\nRuns made again because messages were received twice (a receive's answer lost in transit, retried by the SDK, its messages back only after the visibility timeout); the table shows the last attempt:\n\n")
		for _, r := range rerun {
			fmt.Fprintf(&b, "- %s, %d events/msg: %s\n", r.Name, r.Row.EventsPerMessage, strings.Join(r.Discarded, "; "))
		}
	}
	var noisy []Result
	for _, r := range rep.Results {
		if strings.TrimSpace(r.Output) != "" {
			noisy = append(noisy, r)
		}
	}
	if len(noisy) > 0 {
		b.WriteString("\nWhat the contenders logged (warn level and above; the last lines):\n")
		for _, r := range noisy {
			lines := strings.Split(strings.TrimSpace(r.Output), "\n")
			if len(lines) > maxOutputLines {
				lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-maxOutputLines)}, lines[len(lines)-maxOutputLines:]...)
			}
			fmt.Fprintf(&b, "\n%s, %d events/msg:\n\n```\n%s\n```\n", r.Name, r.Row.EventsPerMessage, strings.Join(lines, "\n"))
		}
	}
	if len(failed) > 0 {
		b.WriteString("\nFailed runs:\n\n")
		for _, r := range failed {
			fmt.Fprintf(&b, "- %s, %d events/msg: %v\n", r.Name, r.Row.EventsPerMessage, r.Err)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func (rep *Report) find(key string, row Row) *Result {
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Contender == key && r.Row == row && r.Err == nil {
			return r
		}
	}
	return nil
}

// ratio is f(a) ÷ f(b), or "–" when either is missing or zero.
func ratio(a, b *Result, f func(*Result) float64) string {
	if a == nil || b == nil {
		return "–"
	}
	x, y := f(a), f(b)
	if x == 0 || y == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x/y)
}

func cpuPerEvent(r Result) string {
	if !r.CPUKnown {
		return "–"
	}
	return fmt.Sprintf("%.1f", micros(r.CPU)/float64(r.Events))
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func perMessage(calls int64, messages int) string {
	if calls == 0 {
		return "0"
	}
	return fmt.Sprintf("%.4g", float64(calls)/float64(messages))
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// opColumns are the operations any result called, in sqsOpOrder, then the
// others sorted.
func opColumns(results []Result) []string {
	seen := map[string]bool{}
	for _, r := range results {
		for op := range r.SQS.Calls {
			seen[op] = true
		}
	}
	var cols, rest []string
	for _, op := range sqsOpOrder {
		if seen[op] {
			cols = append(cols, op)
			delete(seen, op)
		}
	}
	for op := range seen {
		rest = append(rest, op)
	}
	slices.Sort(rest)
	return append(cols, rest...)
}

// shellQuote quotes args for a POSIX shell where needed.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
