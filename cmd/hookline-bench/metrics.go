package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scrapeTimeout bounds one /metrics request.
const scrapeTimeout = 2 * time.Second

// freeLoopbackAddr is a loopback address with a port free at the time of
// the call, for a child's --listen (another process could take it first;
// then the child fails to start, and the run says so).
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// promSamples are the samples of a Prometheus text exposition, keyed by
// series as exposed: `name{label="value",...}`, or `name` alone.
type promSamples map[string]float64

// scrapeMetrics reads the text exposition at url.
func scrapeMetrics(ctx context.Context, client *http.Client, url string) (promSamples, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: HTTP %d", url, resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics parses the text exposition format: comments and blank lines
// skipped, each sample "series value [timestamp]".
func parseMetrics(r io.Reader) (promSamples, error) {
	out := promSamples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.LastIndexByte(line, '}') + 1 // label values are quoted; the last '}' closes them
		if end == 0 {
			end = strings.IndexByte(line, ' ')
		}
		if end <= 0 || end >= len(line) {
			return nil, fmt.Errorf("metrics: line %q", line)
		}
		f := strings.Fields(line[end:])
		if len(f) == 0 {
			return nil, fmt.Errorf("metrics: line %q: no value", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: line %q: %w", line, err)
		}
		out[line[:end]] = v
	}
	return out, sc.Err()
}

// total is the sum of every series of the metric name.
func (p promSamples) total(name string) float64 {
	var t float64
	for k, v := range p {
		if k == name || strings.HasPrefix(k, name+"{") {
			t += v
		}
	}
	return t
}

// has reports whether the metric name has any series.
func (p promSamples) has(name string) bool {
	for k := range p {
		if k == name || strings.HasPrefix(k, name+"{") {
			return true
		}
	}
	return false
}

// series are the series of the metric name with their labels as text
// (`cause="webhook_wait"`), sorted by labels.
func (p promSamples) series(name string) []labelled {
	var out []labelled
	for k, v := range p {
		if labels, ok := strings.CutPrefix(k, name+"{"); ok {
			out = append(out, labelled{strings.TrimSuffix(labels, "}"), v})
		} else if k == name {
			out = append(out, labelled{"", v})
		}
	}
	slices.SortFunc(out, func(a, b labelled) int { return strings.Compare(a.labels, b.labels) })
	return out
}

type labelled struct {
	labels string
	value  float64
}
