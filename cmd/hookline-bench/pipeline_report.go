package main

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// per1000 is n per 1 000 of events, "–" without events.
func per1000(n, events int64) string {
	if events <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(n)*1000/float64(events))
}

// billedTotal is every billed request of the row, ingest's and the worker's.
func (r *PipelineRow) billedTotal() int64 { return sum(r.IngestSQS.Billed) + sum(r.WorkerSQS.Billed) }

// dollarsPerMillion is what the row's SQS requests cost per million events.
func (r *PipelineRow) dollarsPerMillion() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.billedTotal()) / float64(r.Sent) * pipelineDollarsPerMillion
}

func cpuPer(p procStats, events int64) string {
	if !p.CPUKnown || events == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", micros(p.CPU)/float64(events))
}

// billedOps are the operations billed in any row by ingest (which) or the
// worker, in sqsOpOrder.
func billedOps(rows []PipelineRow, ingest bool) []string {
	var res []Result
	for _, r := range rows {
		c := r.WorkerSQS
		if ingest {
			c = r.IngestSQS
		}
		res = append(res, Result{SQS: proxyCounts{Calls: c.Billed}})
	}
	return opColumns(res)
}

// WriteMarkdown writes table 2: the rows, the billed SQS requests by
// operation, the correctness counts, three charts, the machine and the
// command line.
func (rep *PipelineReport) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	pc := rep.Config.Pipeline
	m := rep.Machine
	fmt.Fprintf(&b, "## Hookline end to end, table 2: ingest → SQS → worker → receiver\n\n")
	fmt.Fprintf(&b, "- machine: %d CPUs (nproc), %s; %s; %s\n", m.CPUs, m.CPUModel, m.Platform, m.Go)
	fmt.Fprintf(&b, "- SQS: %s; `hookline ingest` and `hookline worker` each behind its own counting loopback proxy; load generator and receiver (verifying, loopback) in the driver process\n", m.SQS)
	fmt.Fprintf(&b, "- Hookline: %d apps (app-0 … app-9, distinct keys and secrets), one webhook each at the receiver; batching 50 ms / 100 events; ingest: --linger %s; worker: %d pollers, WaitTimeSeconds %d, visibility %d s\n",
		pipelineApps, lingerText(pc.Linger), rep.Config.Pollers, rep.Config.Wait, rep.Config.Visibility)
	fmt.Fprintf(&b, "- load: signed Pusher webhooks (POST /pusher, %d client events each, time_ms = send time), app n%%10 for POST n, for %v a row: at a fixed offered rate (open loop, at most %d POSTs in flight), or at full speed (%d posters in a loop); then up to %v for every event of every POST answered 200\n",
		pipelinePostSize, pc.Duration, pipelineMaxInFlight, pc.Posters, pc.Recovery)
	fmt.Fprintf(&b, "- started %s; command: `%s`\n\n", rep.Started.UTC().Format(time.RFC3339), rep.Command)

	b.WriteString("Latency is receive time − the event's time_ms (first arrivals), in seconds. Delivered events/s: unique events from the first POST to the last arrival. " +
		"Billed SQS requests: every request's body counted at the proxies, ceil(bytes / 64 KiB), at least 1; per 1 000 events answered 200; empty receives are included (and counted apart). " +
		"CPU: /proc/<pid>/stat (10 ms ticks), from the first POST to the last arrival, per event answered 200. Cost: billed requests at $0.40 per million.\n\n")
	b.WriteString("| offered | offered events/s | delivered events/s | p50 | p99 | max | billed SQS req/1 000 events | of which empty receives | webhook req/1 000 events | ingest CPU µs/event | worker CPU µs/event | ingest peak RSS MiB | worker peak RSS MiB | $ per million events |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := range rep.Rows {
		r := &rep.Rows[i]
		fmt.Fprintf(&b, "| %s%s | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %.1f | %.1f | %.4f |\n", r.label(), failedMark(r.Err),
			r.OfferedRate(), r.DeliveredRate(), r.Latency, per1000(r.billedTotal(), r.Sent), per1000(r.WorkerSQS.Empty, r.Sent),
			per1000(r.Requests, r.Sent), cpuPer(r.Ingest, r.Sent), cpuPer(r.Worker, r.Sent),
			float64(r.Ingest.MaxRSS)/(1<<20), float64(r.Worker.MaxRSS)/(1<<20), r.dollarsPerMillion())
	}

	ingestOps, workerOps := billedOps(rep.Rows, true), billedOps(rep.Rows, false)
	b.WriteString("\nBilled SQS requests per 1 000 events, by process and operation (over each process's whole life: its startup and its idle polls included), and the worker's empty receives:\n\n")
	b.WriteString("| offered |")
	for _, op := range ingestOps {
		fmt.Fprintf(&b, " ingest %s |", op)
	}
	for _, op := range workerOps {
		fmt.Fprintf(&b, " worker %s |", op)
	}
	b.WriteString(" worker empty receives | failed calls |\n|---|")
	b.WriteString(strings.Repeat("---:|", len(ingestOps)+len(workerOps)+2) + "\n")
	for i := range rep.Rows {
		r := &rep.Rows[i]
		fmt.Fprintf(&b, "| %s |", r.label())
		for _, op := range ingestOps {
			fmt.Fprintf(&b, " %s |", per1000(r.IngestSQS.Billed[op], r.Sent))
		}
		for _, op := range workerOps {
			fmt.Fprintf(&b, " %s |", per1000(r.WorkerSQS.Billed[op], r.Sent))
		}
		fmt.Fprintf(&b, " %s | %d |\n", per1000(r.WorkerSQS.Empty, r.Sent), sum(r.IngestSQS.Failed)+sum(r.WorkerSQS.Failed))
	}

	b.WriteString("\nCorrectness: POSTs made and answered 200; events of those POSTs that never arrived (lost); events of other POSTs that arrived anyway (extra); the queues after the stop:\n\n")
	b.WriteString("| offered | POSTs | answered 200 | failed | events offered | events answered 200 | unique at the receiver | duplicates | lost | extra | webhook requests | left in the queue | dead-lettered |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := range rep.Rows {
		r := &rep.Rows[i]
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n", r.label(), r.Posts, r.Accepted, r.PostFailed,
			r.Offered, r.Sent, r.Unique, r.Duplicates, r.Lost, r.Extra, r.Requests, r.Left, r.DeadLettered)
	}

	var labels []string
	var p50, p99, pmax, offered, delivered, billed, send, recv, del []float64
	for i := range rep.Rows {
		r := &rep.Rows[i]
		labels = append(labels, r.label())
		p50 = append(p50, r.Latency.p50.Seconds())
		p99 = append(p99, r.Latency.p99.Seconds())
		pmax = append(pmax, r.Latency.max.Seconds())
		offered = append(offered, r.OfferedRate())
		delivered = append(delivered, r.DeliveredRate())
		perEvent := func(n int64) float64 {
			if r.Sent == 0 {
				return 0
			}
			return float64(n) / float64(r.Sent)
		}
		billed = append(billed, perEvent(r.billedTotal()))
		send = append(send, perEvent(r.IngestSQS.Billed["SendMessageBatch"]))
		recv = append(recv, perEvent(r.WorkerSQS.Billed["ReceiveMessage"]))
		del = append(del, perEvent(r.WorkerSQS.Billed["DeleteMessageBatch"]))
	}
	b.WriteString("\n")
	b.WriteString(svgBars("Latency (receive − time_ms) by offered rate", "seconds", labels, []svgSeries{
		{"p50", p50}, {"p99", p99}, {"max", pmax}}))
	b.WriteString("\n")
	b.WriteString(svgBars("Throughput: offered vs delivered", "events/s", labels, []svgSeries{
		{"offered", offered}, {"delivered", delivered}}))
	b.WriteString("\n")
	b.WriteString(svgBars("Billed SQS requests per event", "requests/event", labels, []svgSeries{
		{"total", billed}, {"SendMessageBatch (ingest)", send}, {"ReceiveMessage", recv}, {"DeleteMessageBatch", del}}))

	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Err == nil {
			continue
		}
		fmt.Fprintf(&b, "\nRow %s FAILED: %v\n", r.label(), r.Err)
		if r.PostErr != "" {
			fmt.Fprintf(&b, "\nThe last failed POST: %s\n", r.PostErr)
		}
		writeOutput(&b, "What ingest and the worker logged (warn level and above; the last lines):", r.Output)
	}
	for i := range rep.Rows {
		if r := &rep.Rows[i]; r.Err == nil && r.PostFailed > 0 {
			fmt.Fprintf(&b, "\nRow %s: %d POSTs not answered 200, e.g. %s\n", r.label(), r.PostFailed, r.PostErr)
		}
	}
	b.WriteString("\n")
	_, err := w.Write(b.Bytes())
	return err
}

func failedMark(err error) string {
	if err != nil {
		return " (FAILED, see below)"
	}
	return ""
}

// svgSeries is one colour of a bar chart: a value per group.
type svgSeries struct {
	name   string
	values []float64
}

// svgColours are the series' colours, in order.
var svgColours = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f"}

// svgBars is a grouped bar chart as one inline SVG element (no blank lines,
// so markdown keeps it one HTML block): a group per label, a bar per series.
func svgBars(title, unit string, labels []string, series []svgSeries) string {
	const (
		width, height         = 720, 320
		left, right, top, bot = 70, 20, 40, 60
	)
	top1 := 0.0
	for _, s := range series {
		for _, v := range s.values {
			top1 = max(top1, v)
		}
	}
	scaleTop := niceCeil(top1)
	plotW, plotH := float64(width-left-right), float64(height-top-bot)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	for i := 0; i <= 4; i++ {
		v := scaleTop * float64(i) / 4
		y := float64(top) + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, width-right, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, formatTick(v))
	}
	fmt.Fprintf(&b, `<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">%s</text>`+"\n", top+int(plotH)/2, top+int(plotH)/2, html.EscapeString(unit))
	if len(labels) > 0 && len(series) > 0 {
		groupW := plotW / float64(len(labels))
		barW := groupW * 0.8 / float64(len(series))
		for g, label := range labels {
			x0 := float64(left) + groupW*float64(g) + groupW*0.1
			for s, ser := range series {
				v := 0.0
				if g < len(ser.values) && !math.IsNaN(ser.values[g]) {
					v = ser.values[g]
				}
				h := 0.0
				if scaleTop > 0 {
					h = plotH * v / scaleTop
				}
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
					x0+barW*float64(s), float64(top)+plotH-h, barW*0.9, h, svgColours[s%len(svgColours)],
					html.EscapeString(label), html.EscapeString(ser.name), formatTick(v))
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x0+groupW*0.4, height-bot+16, html.EscapeString(label))
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top+int(plotH), width-right, top+int(plotH))
	x := left
	for s, ser := range series {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			x, height-22, svgColours[s%len(svgColours)], x+14, height-13, html.EscapeString(ser.name))
		x += 24 + 7*len(ser.name)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil is the smallest 1, 2 or 5 × 10^k at or above v (1 for v ≤ 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func formatTick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 1:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	default:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
	}
}

// lingerText is the ingest linger of a run as the report states it.
func lingerText(d time.Duration) string {
	if d <= 0 {
		return "the binary's default"
	}
	return d.String()
}
