package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// The hung webhook's retry policy (webhooks.retry), scaled so that retries
// happen within the run: attempts every 1–2 s for up to 10 minutes.
const (
	hungMaxAttempts    = 50
	hungInitialBackoff = time.Second
	hungMaxBackoff     = 2 * time.Second
	hungMaxElapsed     = 10 * time.Minute
)

// Webhook ids of the hung scenario (the "id" in the worker's config).
const (
	webhookHealthy = "healthy"
	webhookHung    = "hung"
)

// HungConfig is the hung scenario: one app with two webhooks taking every
// event, a healthy one and one that hangs during an outage, under a steady
// offered load. It shows whether the hung webhook delays the healthy one,
// and whether anything is lost on either.
type HungConfig struct {
	// Rate is the offered load, events per second. Default 200.
	Rate int
	// EventsPerMessage is the size of each envelope; one is sent every
	// EventsPerMessage/Rate seconds. Default 10.
	EventsPerMessage int
	// Send is how long the producer sends. Default 45 s.
	Send time.Duration
	// OutageStart and OutageEnd bound the hung webhook's outage, from the
	// first send. Default 5 s and 35 s.
	OutageStart, OutageEnd time.Duration
	// Recovery is how long to wait after the last send for every event at
	// both webhooks. Default 60 s.
	Recovery time.Duration
	// RequestTimeout is the hung webhook's request_timeout_ms. Default 3 s.
	RequestTimeout time.Duration
}

func (h HungConfig) withDefaults() (HungConfig, error) {
	if h.Rate == 0 {
		h.Rate = 200
	}
	if h.EventsPerMessage == 0 {
		h.EventsPerMessage = 10
	}
	if h.Send == 0 {
		h.Send = 45 * time.Second
	}
	if h.OutageStart == 0 && h.OutageEnd == 0 {
		h.OutageStart, h.OutageEnd = 5*time.Second, 35*time.Second
	}
	if h.Recovery == 0 {
		h.Recovery = 60 * time.Second
	}
	if h.RequestTimeout == 0 {
		h.RequestTimeout = 3 * time.Second
	}
	switch {
	case h.Rate < 1:
		return h, fmt.Errorf("bench: hung: rate %d: want at least 1 event/s", h.Rate)
	case h.EventsPerMessage < 1 || h.EventsPerMessage > 100:
		return h, fmt.Errorf("bench: hung: %d events per message: want 1 to 100", h.EventsPerMessage)
	case h.Send <= 0:
		return h, fmt.Errorf("bench: hung: send %v: want a positive duration", h.Send)
	case h.OutageStart < 0 || h.OutageEnd <= h.OutageStart:
		return h, fmt.Errorf("bench: hung: outage %v to %v: want 0 ≤ start < end", h.OutageStart, h.OutageEnd)
	case h.RequestTimeout < time.Millisecond:
		return h, fmt.Errorf("bench: hung: request timeout %v: want at least 1 ms", h.RequestTimeout)
	}
	return h, nil
}

// interval is the time between two envelopes.
func (h HungConfig) interval() time.Duration {
	return time.Duration(h.EventsPerMessage) * time.Second / time.Duration(h.Rate)
}

// HungReport is a run of the hung scenario.
type HungReport struct {
	Machine Machine
	Command string
	Config  Config // Config.Hung with its defaults
	Started time.Time

	Start       time.Time     // the first send (t = 0; the outage is relative to it)
	Envelopes   int64         // messages sent
	Sent        int64         // events sent
	SendElapsed time.Duration // from the first send to the end of the last one

	Healthy, Hung webhookStats

	// Metrics is the worker's /metrics just before its stop; MetricsErr
	// says why it is missing.
	Metrics    promSamples
	MetricsErr error

	SQS          proxyCounts // the worker's SQS calls, counted at the proxy
	Left         int         // messages in the main queue after the stop
	DeadLettered int         // messages in the dead-letter queue after the stop
	Output       string      // the tail of what the worker logged
	Err          error       // why the run failed; the other fields hold what was measured
}

// Lost is sent − unique for one webhook.
func (r *HungReport) Lost(s webhookStats) int64 { return r.Sent - s.Unique }

// RunHung runs the hung scenario (see HungConfig). It fails only when the
// benchmark cannot be set up; a failed run is in HungReport.Err.
func RunHung(ctx context.Context, cfg Config) (*HungReport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Hung, err = cfg.Hung.withDefaults(); err != nil {
		return nil, err
	}
	rep := &HungReport{Config: cfg, Started: time.Now()}
	b, closeAll, err := setUp(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	rep.Machine = b.machine
	rc, err := startRecorder(benchKey, benchSecret)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = rc.close() }()

	rep.Err = b.runHung(ctx, rc, rep)
	rep.Healthy, rep.Hung = rc.healthy.stats(), rc.hung.stats()
	if rep.Err == nil {
		for _, s := range []webhookStats{rep.Healthy, rep.Hung} {
			if s.Rejected > 0 {
				rep.Err = fmt.Errorf("the receiver rejected %d requests, e.g. %s", s.Rejected, s.LastErr)
			}
		}
	}
	return rep, nil
}

func (b *bench) runHung(ctx context.Context, rc *recorder, rep *HungReport) error {
	hc := b.cfg.Hung
	q, err := createQueue(ctx, b.sqs, queueName("hung", hc.EventsPerMessage), time.Duration(b.cfg.Visibility)*time.Second)
	if err != nil {
		return err
	}
	defer func() {
		if err := deleteQueues(context.WithoutCancel(ctx), b.sqs, q); err != nil {
			b.progress("%v", err)
		}
	}()
	webhooks := []any{
		map[string]any{"id": webhookHealthy, "url": rc.url + pathHealthy, "event_types": []string{"client_event"}},
		map[string]any{"id": webhookHung, "url": rc.url + pathHung, "event_types": []string{"client_event"},
			"request_timeout_ms": hc.RequestTimeout.Milliseconds()},
	}
	retry := map[string]any{
		"max_attempts":        hungMaxAttempts,
		"initial_backoff_ms":  hungInitialBackoff.Milliseconds(),
		"max_backoff_ms":      hungMaxBackoff.Milliseconds(),
		"max_elapsed_time_ms": hungMaxElapsed.Milliseconds(),
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	cmd, err := b.hooklineCommand(ctx, q, workerConfig(b.cfg, q, b.proxy.url, webhooks, retry), addr)
	if err != nil {
		return err
	}
	proxyRun := b.proxy.begin(0)
	defer b.proxy.end()
	ch, err := startChild(cmd)
	if err != nil {
		return err
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
	var metricsClient http.Client
	finish := func(err error) error {
		rep.Metrics, rep.MetricsErr = scrapeMetrics(ctx, &metricsClient, "http://"+addr+"/metrics")
		stopErr := ch.stop(30 * time.Second)
		rep.Output = ch.stderr.String()
		rep.SQS = proxyRun.counts()
		var derr1, derr2 error
		rep.Left, derr1 = depth(ctx, b.sqs, q.mainURL)
		rep.DeadLettered, derr2 = depth(ctx, b.sqs, q.dlqURL)
		derr := errors.Join(derr1, derr2)
		if err == nil && stopErr != nil {
			err = failure("stop: %v", stopErr)
		}
		if err == nil {
			err = derr
		}
		return err
	}

	up, cancelUp := context.WithTimeout(ctx, b.cfg.RunTimeout)
	defer cancelUp()
	select {
	case <-proxyRun.firstReceive:
	case <-ch.exited:
		return finish(failure("exited before its first receive"))
	case <-up.Done():
		return finish(failure("no receive within %v", b.cfg.RunTimeout))
	}

	b.progress("hung: sending %d events/s (%d-event envelopes every %v) for %v; /hung hangs from %v to %v",
		hc.Rate, hc.EventsPerMessage, hc.interval(), hc.Send, hc.OutageStart, hc.OutageEnd)
	rep.Start = time.Now()
	startTimer := time.AfterFunc(hc.OutageStart, func() {
		b.progress("hung: outage begins")
		rc.startOutage()
	})
	defer startTimer.Stop()
	endTimer := time.AfterFunc(hc.OutageEnd, func() {
		b.progress("hung: outage ends")
		rc.endOutage()
	})
	defer endTimer.Stop()

	sendErr := produce(ctx, b.sqs, q.mainURL, hc, rep)
	rep.SendElapsed = time.Since(rep.Start)
	if sendErr != nil {
		return finish(sendErr)
	}
	b.progress("hung: sent %d events in %d envelopes in %v; waiting up to %v for all of them at both webhooks",
		rep.Sent, rep.Envelopes, rep.SendElapsed.Round(time.Millisecond), hc.Recovery)

	// The outage must be over before recovery can finish: wait for it
	// (when sending stops first), then for every event at both webhooks.
	deadline := time.Now().Add(hc.Recovery)
	if end := rep.Start.Add(hc.OutageEnd); end.After(time.Now()) {
		deadline = end.Add(hc.Recovery)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for rc.healthy.unique() < rep.Sent || rc.hung.unique() < rep.Sent {
		select {
		case <-tick.C:
		case <-ch.exited:
			return finish(failure("exited with %d and %d of %d events at the healthy and the hung webhook",
				rc.healthy.unique(), rc.hung.unique(), rep.Sent))
		case <-ctx.Done():
			return finish(ctx.Err())
		}
		if time.Now().After(deadline) {
			b.progress("hung: gave up waiting: %d and %d of %d events at the healthy and the hung webhook",
				rc.healthy.unique(), rc.hung.unique(), rep.Sent)
			break
		}
	}
	// Let the worker delete what it delivered, so the queue depth after
	// the stop means something.
	for settle := time.Now().Add(15 * time.Second); time.Now().Before(settle); {
		if n, err := depth(ctx, b.sqs, q.mainURL); err != nil || n == 0 {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return finish(ctx.Err())
		}
	}
	return finish(nil)
}

// produce sends envelopes of hc.EventsPerMessage events to queueURL, one
// every hc.interval() from rep.Start (catching up when a send was slow),
// for hc.Send. Every event's time_ms is its send time, and its user_id and
// id are unique.
func produce(ctx context.Context, client *sqs.Client, queueURL string, hc HungConfig, rep *HungReport) error {
	interval := hc.interval()
	total := int64(hc.Send / interval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := range total {
		if wait := time.Until(rep.Start.Add(time.Duration(n) * interval)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		body := hungEnvelope(n, hc.EventsPerMessage, time.Now().UnixMilli())
		cctx, cancel := context.WithTimeout(ctx, benchTimeoutSQS)
		_, err := client.SendMessage(cctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)})
		cancel()
		if err != nil {
			return fmt.Errorf("send envelope %d: %w", n, err)
		}
		rep.Envelopes++
		rep.Sent += int64(hc.EventsPerMessage)
	}
	return nil
}

// hungEnvelope is envelope n of the hung scenario: perMessage client
// events on a presence channel, each of its own user, sent at nowMS. The
// worker makes their ids "hung-<n>:<index>".
func hungEnvelope(n int64, perMessage int, nowMS int64) string {
	const ev = `{"name":"client_event","channel":"presence-room","event":"client-typing","data":"{\"typing\":true}","socket_id":"123.456","user_id":"u`
	b := make([]byte, 0, 64+perMessage*(len(ev)+40))
	b = append(b, `{"v":1,"id":"hung-`...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, `","app_id":"`+benchAppID+`","events":[`...)
	for i := range perMessage {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ev...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","time_ms":`...)
		b = strconv.AppendInt(b, nowMS, 10)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	return string(b)
}

// delays summarises the delays of the arrivals sent within [from, to) (ms
// since the epoch; zero to means no end).
type delays struct {
	n             int
	p50, p99, max time.Duration
}

func summarise(arr []arrival, from, to int64) delays {
	var d []time.Duration
	for _, a := range arr {
		if a.sentMS >= from && (to == 0 || a.sentMS < to) {
			d = append(d, a.delay)
		}
	}
	if len(d) == 0 {
		return delays{}
	}
	slices.Sort(d)
	return delays{n: len(d), p50: quantile(d, 0.50), p99: quantile(d, 0.99), max: d[len(d)-1]}
}

// quantile is the nearest-rank q-quantile of sorted.
func quantile[T any](sorted []T, q float64) T {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func (d delays) String() string {
	if d.n == 0 {
		return "– | – | –"
	}
	return fmt.Sprintf("%s | %s | %s", seconds(d.p50), seconds(d.p99), seconds(d.max))
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// healthyDelayTarget and the zero-loss target are what the scenario is
// meant to show.
const healthyDelayTarget = 4 * time.Second

// WriteMarkdown writes the report: the two webhooks, the worker's metrics,
// the machine and the command line.
func (rep *HungReport) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	hc := rep.Config.Hung
	m := rep.Machine
	fmt.Fprintf(&b, "## Hookline end to end: a hung webhook next to a healthy one\n\n")
	fmt.Fprintf(&b, "- machine: %d CPUs (nproc), %s; %s; %s\n", m.CPUs, m.CPUModel, m.Platform, m.Go)
	fmt.Fprintf(&b, "- SQS: %s; the worker behind a counting loopback proxy; receiver: verifying, loopback, in the driver process\n", m.SQS)
	fmt.Fprintf(&b, "- Hookline: one app, two webhooks taking every event: `%s` answers 200 at once; `%s` (request_timeout_ms %d) accepts each request and never answers from t=%v to t=%v, then answers 200; "+
		"webhooks.retry max_attempts %d, backoff %v–%v, max_elapsed %v; %d pollers, WaitTimeSeconds %d, visibility %d s, batching 50 ms / 100 events\n",
		webhookHealthy, webhookHung, hc.RequestTimeout.Milliseconds(), hc.OutageStart, hc.OutageEnd,
		hungMaxAttempts, hungInitialBackoff, hungMaxBackoff, hungMaxElapsed, rep.Config.Pollers, rep.Config.Wait, rep.Config.Visibility)
	fmt.Fprintf(&b, "- offered: %d events/s, one %d-event envelope every %v (SendMessage, each event's time_ms its send time) for %v: %d events in %d envelopes, sent in %.2f s; then up to %v for every event at both webhooks\n",
		hc.Rate, hc.EventsPerMessage, hc.interval(), hc.Send, rep.Sent, rep.Envelopes, rep.SendElapsed.Seconds(), hc.Recovery)
	fmt.Fprintf(&b, "- started %s; command: `%s`\n\n", rep.Started.UTC().Format(time.RFC3339), rep.Command)

	startMS := rep.Start.UnixMilli()
	fromMS, toMS := startMS+hc.OutageStart.Milliseconds(), startMS+hc.OutageEnd.Milliseconds()
	b.WriteString("Delay is arrival − the event's time_ms, of each event's first arrival, in seconds; \"during the outage\": the events sent within it.\n\n")
	b.WriteString("| webhook | sent | received | unique | duplicates | lost | requests | requests abandoned | delay p50 | p99 | max | during the outage: p50 | p99 | max |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, wh := range []struct {
		name string
		s    webhookStats
	}{{webhookHealthy, rep.Healthy}, {webhookHung, rep.Hung}} {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %s | %s |\n", wh.name, rep.Sent, wh.s.Events, wh.s.Unique,
			wh.s.Duplicates, rep.Lost(wh.s), wh.s.Requests, wh.s.Abandoned,
			summarise(wh.s.Arrivals, 0, 0), summarise(wh.s.Arrivals, fromMS, toMS))
	}
	healthy := summarise(rep.Healthy.Arrivals, 0, 0)
	fmt.Fprintf(&b, "\nTargets: healthy worst delay %s s (≤ %v: %s); lost %d healthy, %d hung (none: %s).",
		seconds(healthy.max), healthyDelayTarget, met(healthy.n > 0 && healthy.max <= healthyDelayTarget),
		rep.Lost(rep.Healthy), rep.Lost(rep.Hung), met(rep.Sent > 0 && rep.Lost(rep.Healthy) == 0 && rep.Lost(rep.Hung) == 0))
	if last := lastArrival(rep.Hung.Arrivals); last > 0 && rep.Lost(rep.Hung) == 0 {
		fmt.Fprintf(&b, " The hung webhook had every event %.2f s after its outage ended.", float64(last-toMS)/1000)
	}
	b.WriteString("\n")

	b.WriteString("\nThe worker's metrics at the end (/metrics):\n\n")
	if rep.MetricsErr != nil {
		fmt.Fprintf(&b, "- not scraped: %v\n", rep.MetricsErr)
	} else {
		writeMetricLines(&b, rep.Metrics, []string{
			"hookline_worker_handbacks_total", "hookline_worker_retries_total", "hookline_worker_dead_letters_total",
			"hookline_worker_requests_total", "hookline_worker_events_delivered_total",
			"hookline_worker_messages_received_total", "hookline_worker_messages_deleted_total", "hookline_worker_sqs_calls_total",
		})
	}
	fmt.Fprintf(&b, "\nSQS calls at the proxy over the worker's life: %s; failed %d; messages received %d; left in the queue after the stop %d, dead-lettered %d.\n",
		formatCalls(rep.SQS.Calls), sum(rep.SQS.Failed), rep.SQS.Received, rep.Left, rep.DeadLettered)
	writeOutput(&b, "What the worker logged (warn level and above; the last lines):", rep.Output)
	if rep.Err != nil {
		fmt.Fprintf(&b, "\nThe run FAILED: %v\n", rep.Err)
	}
	b.WriteString("\n")
	_, err := w.Write(b.Bytes())
	return err
}

// lastArrival is when the last of arr arrived, ms since the epoch; 0 when
// there is none.
func lastArrival(arr []arrival) int64 {
	var last int64
	for _, a := range arr {
		last = max(last, a.sentMS+a.delay.Milliseconds())
	}
	return last
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// writeMetricLines writes one list item per metric: its total, and its
// non-zero series by labels.
func writeMetricLines(b *bytes.Buffer, p promSamples, names []string) {
	for _, name := range names {
		if !p.has(name) {
			fmt.Fprintf(b, "- `%s`: absent\n", name)
			continue
		}
		var parts []string
		for _, s := range p.series(name) {
			if s.labels != "" && s.value != 0 {
				parts = append(parts, fmt.Sprintf("%s %g", s.labels, s.value))
			}
		}
		fmt.Fprintf(b, "- `%s`: %g", name, p.total(name))
		if len(parts) > 0 {
			fmt.Fprintf(b, " (%s)", strings.Join(parts, ", "))
		}
		b.WriteString("\n")
	}
}

// formatCalls is "ReceiveMessage 12, DeleteMessageBatch 3, ..." in
// sqsOpOrder.
func formatCalls(calls map[string]int64) string {
	var parts []string
	for _, op := range opColumns([]Result{{SQS: proxyCounts{Calls: calls}}}) {
		parts = append(parts, fmt.Sprintf("%s %d", op, calls[op]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// maxOutputLineRunes is the longest line of a child's output writeOutput
// shows (a delivery warning lists every message id of its batch).
const maxOutputLineRunes = 300

// writeOutput writes the last maxOutputLines lines of a child's output,
// each cut at maxOutputLineRunes, under title, if there are any.
func writeOutput(b *bytes.Buffer, title, output string) {
	if strings.TrimSpace(output) == "" {
		return
	}
	lines := strings.Split(strings.TrimSpace(output), "\n")
	if len(lines) > maxOutputLines {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-maxOutputLines)}, lines[len(lines)-maxOutputLines:]...)
	}
	for i, l := range lines {
		if r := []rune(l); len(r) > maxOutputLineRunes {
			lines[i] = string(r[:maxOutputLineRunes]) + " …"
		}
	}
	fmt.Fprintf(b, "\n%s\n\n```\n%s\n```\n", title, strings.Join(lines, "\n"))
}
