package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/signing"
)

// The pipeline scenario's apps and POSTs.
const (
	pipelineApps     = 10 // app-0 … app-9, one webhook each
	pipelinePostSize = 10 // events per POST
	// pipelineMaxInFlight bounds the POSTs in flight at a fixed rate: the
	// offered rate falls short (and the report shows it) rather than the
	// driver running out of sockets.
	pipelineMaxInFlight = 1024
	// pipelineDollarsPerMillion is SQS's price of a million billed
	// requests (standard queues, beyond the free tier).
	pipelineDollarsPerMillion = 0.40
)

// PipelineConfig is the pipeline scenario (table 2): the real `hookline
// ingest` and `hookline worker` between a load generator POSTing signed
// Pusher webhooks and a verifying receiver, ingest → SQS → worker →
// receiver, at fixed offered rates and at full speed.
type PipelineConfig struct {
	// Rates are the rows' offered loads, events per second; 0 is full
	// speed (Posters POSTs in a loop). Default 500, 2000, 10000, full speed.
	Rates []int
	// Duration is how long the load generator POSTs in every row.
	// Default 20 s.
	Duration time.Duration
	// Posters is the concurrent POSTs of the full-speed row. Default 32.
	Posters int
	// Recovery is the longest wait after the last POST for every accepted
	// event at the receiver. Default 60 s.
	Recovery time.Duration
	// Linger is hookline ingest's --linger: how long an app's queue message
	// waits for the events of more POSTs; 0: not passed (the binary's
	// default, for comparing with builds that predate the flag).
	Linger time.Duration
}

func (p PipelineConfig) withDefaults() (PipelineConfig, error) {
	if len(p.Rates) == 0 {
		p.Rates = []int{500, 2000, 10000, 0}
	}
	if p.Duration == 0 {
		p.Duration = 20 * time.Second
	}
	if p.Posters == 0 {
		p.Posters = 32
	}
	if p.Recovery == 0 {
		p.Recovery = 60 * time.Second
	}
	for _, r := range p.Rates {
		if r < 0 {
			return p, fmt.Errorf("bench: pipeline: rate %d: want at least 1 event/s, or 0 for full speed", r)
		}
	}
	switch {
	case p.Duration <= 0:
		return p, fmt.Errorf("bench: pipeline: duration %v: want a positive duration", p.Duration)
	case p.Posters < 1:
		return p, fmt.Errorf("bench: pipeline: posters %d: want at least 1", p.Posters)
	}
	return p, nil
}

// parseRates parses "500,2000,10000,full".
func parseRates(s string) ([]int, error) {
	var rates []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		switch part {
		case "":
			continue
		case "full":
			rates = append(rates, 0)
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want a positive number of events/s or full", part)
		}
		rates = append(rates, n)
	}
	if len(rates) == 0 {
		return nil, errors.New("no rates")
	}
	return rates, nil
}

// pipelineApp is app i of the scenario.
func pipelineApp(i int) (id, key, secret string) {
	n := strconv.Itoa(i)
	return "app-" + n, "pipe-key-" + n, "pipe-secret-" + n
}

// PipelineRow is one row of table 2.
type PipelineRow struct {
	Rate int // offered events/s; 0: full speed

	Start       time.Time     // the first POST
	SendElapsed time.Duration // from the first POST to the end of the last one
	Posts       int64         // POSTs made
	Accepted    int64         // POSTs answered 200
	PostFailed  int64         // POSTs answered otherwise, or failed in transit
	PostErr     string        // the last failure
	Offered     int64         // events POSTed
	Sent        int64         // events in POSTs answered 200

	Unique, Duplicates, Extra int64 // at the receiver; Extra: events of POSTs not answered 200
	Lost                      int64 // events of POSTs answered 200 that never arrived
	Requests, Rejected        int64 // webhook requests accepted / refused by the receiver
	RejectedWhy               string
	Latency                   delays        // receive − time_ms, first arrivals
	LastArrival               time.Duration // from Start

	Ingest, Worker procStats
	IngestSQS      proxyCounts
	WorkerSQS      proxyCounts

	Left, DeadLettered int
	Output             string // what ingest and the worker logged
	Err                error
}

// procStats is a child's CPU over the measurement and its peak RSS.
type procStats struct {
	CPU      time.Duration // from the first POST to the last arrival
	CPUKnown bool
	MaxRSS   int64
}

// OfferedRate and DeliveredRate are events per second.
func (r *PipelineRow) OfferedRate() float64 { return perSecond(r.Offered, r.SendElapsed) }

// DeliveredRate is unique events per second from the first POST to the
// last arrival.
func (r *PipelineRow) DeliveredRate() float64 { return perSecond(r.Unique, r.LastArrival) }

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// label is the row's name: "2000/s" or "full speed".
func (r *PipelineRow) label() string {
	if r.Rate == 0 {
		return "full speed"
	}
	return fmt.Sprintf("%d/s", r.Rate)
}

// PipelineReport is a run of the pipeline scenario.
type PipelineReport struct {
	Machine Machine
	Command string
	Config  Config // Config.Pipeline with its defaults
	Started time.Time
	Rows    []PipelineRow
}

// RunPipeline runs the pipeline scenario (see PipelineConfig). It fails
// only when the benchmark cannot be set up; a failed row is in its Err.
func RunPipeline(ctx context.Context, cfg Config) (*PipelineReport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Pipeline, err = cfg.Pipeline.withDefaults(); err != nil {
		return nil, err
	}
	rep := &PipelineReport{Config: cfg, Started: time.Now()}
	b, closeAll, err := setUp(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	rep.Machine = b.machine
	// ingest gets its own proxy: its calls are counted apart from the worker's.
	ingestProxy, err := startProxy(b.sqsEndpoint)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = ingestProxy.close() }()
	for _, rate := range cfg.Pipeline.Rates {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		row := PipelineRow{Rate: rate}
		row.Err = b.runPipelineRow(ctx, ingestProxy, &row)
		if row.Err != nil {
			b.progress("pipeline %s: FAILED: %v", row.label(), row.Err)
		} else {
			b.progress("pipeline %s: %d events offered at %.0f/s, %d delivered at %.0f/s, p99 %v", row.label(),
				row.Offered, row.OfferedRate(), row.Unique, row.DeliveredRate(), row.Latency.p99)
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// pipelineConfig is the config.json of ingest and the worker: ten apps,
// one webhook each at the receiver, batching of 50 ms and 100 events.
func pipelineConfig(cfg Config, q *benchQueue, endpoint, webhook string) map[string]any {
	doc := workerConfig(cfg, q, endpoint, nil, nil)
	var apps []any
	for i := range pipelineApps {
		id, key, secret := pipelineApp(i)
		apps = append(apps, map[string]any{"id": id, "key": key, "secret": secret,
			"webhooks": []any{map[string]any{"url": webhook, "event_types": []string{"client_event"}}}})
	}
	doc["app_manager"] = map[string]any{"driver": "memory", "array": map[string]any{"apps": apps}}
	return doc
}

func (b *bench) runPipelineRow(ctx context.Context, ingestProxy *proxy, row *PipelineRow) error {
	pc := b.cfg.Pipeline
	q, err := createQueue(ctx, b.sqs, queueName("pipeline", row.Rate), time.Duration(b.cfg.Visibility)*time.Second)
	if err != nil {
		return err
	}
	defer func() {
		if err := deleteQueues(context.WithoutCancel(ctx), b.sqs, q); err != nil {
			b.progress("%v", err)
		}
	}()
	rc, err := startPipeReceiver()
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = rc.close() }()

	path := filepath.Join(b.dir, q.spec.Name+".json")
	text, err := json.MarshalIndent(pipelineConfig(b.cfg, q, b.proxy.url, rc.url), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, text, 0o600); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	ingestCmd := exec.CommandContext(ctx, b.hookline, "ingest", "--config", path, "--endpoint-url", ingestProxy.url,
		"--listen", addr, "--log-format", "json", "--log-level", "warn")
	if b.cfg.Pipeline.Linger > 0 {
		ingestCmd.Args = append(ingestCmd.Args, "--linger", b.cfg.Pipeline.Linger.String())
	}
	workerCmd := exec.CommandContext(ctx, b.hookline, "worker", "--config", path, "--endpoint-url", b.proxy.url,
		"--listen", "", "--log-format", "json", "--log-level", "warn")
	b.prepare(ingestCmd)
	b.prepare(workerCmd)

	ingestRun := ingestProxy.begin(0)
	defer ingestProxy.end()
	workerRun := b.proxy.begin(0)
	defer b.proxy.end()
	worker, err := startChild(workerCmd)
	if err != nil {
		return err
	}
	ingest, err := startChild(ingestCmd)
	if err != nil {
		_ = worker.stop(30 * time.Second)
		return err
	}
	output := func() string {
		return "ingest:\n" + ingest.stderr.String() + "worker:\n" + worker.stderr.String()
	}
	failure := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		for _, c := range []struct {
			name string
			ch   *child
		}{{"ingest", ingest}, {"worker", worker}} {
			select {
			case <-c.ch.exited:
				msg += fmt.Sprintf(" (%s exited: %v)", c.name, c.ch.waitErr)
			default:
			}
		}
		return fmt.Errorf("%s; output:\n%s", msg, indent(output()))
	}
	var cpu0 [2]time.Duration
	cpuKnown := false
	finish := func(err error) error {
		if cpuKnown && row.LastArrival > 0 {
			c1, e1 := procCPU(ingest.pid())
			c2, e2 := procCPU(worker.pid())
			if e1 == nil && e2 == nil {
				row.Ingest.CPU, row.Worker.CPU = c1-cpu0[0], c2-cpu0[1]
				row.Ingest.CPUKnown, row.Worker.CPUKnown = true, true
			}
		}
		if hwm, err := procPeakRSS(ingest.pid()); err == nil {
			row.Ingest.MaxRSS = hwm
		}
		if hwm, err := procPeakRSS(worker.pid()); err == nil {
			row.Worker.MaxRSS = hwm
		}
		stopErr := errors.Join(ingest.stop(30*time.Second), worker.stop(30*time.Second))
		row.Output = output()
		row.IngestSQS, row.WorkerSQS = ingestRun.counts(), workerRun.counts()
		var derr1, derr2 error
		row.Left, derr1 = depth(ctx, b.sqs, q.mainURL)
		row.DeadLettered, derr2 = depth(ctx, b.sqs, q.dlqURL)
		st := rc.stats()
		row.Unique, row.Duplicates, row.Requests, row.Rejected, row.RejectedWhy = st.unique, st.duplicates, st.requests, st.rejected, st.lastErr
		if err == nil && stopErr != nil {
			err = failure("stop: %v", stopErr)
		}
		if err == nil {
			err = errors.Join(derr1, derr2)
		}
		if err == nil && row.Rejected > 0 {
			err = fmt.Errorf("the receiver rejected %d requests, e.g. %s", row.Rejected, row.RejectedWhy)
		}
		if err == nil && row.Lost > 0 {
			err = fmt.Errorf("%d events of POSTs answered 200 never arrived", row.Lost)
		}
		if err == nil && (row.Left != 0 || row.DeadLettered != 0) {
			err = fmt.Errorf("after the stop %d messages in the queue and %d dead-lettered, want none", row.Left, row.DeadLettered)
		}
		return err
	}

	// Both up: the worker's first receive, ingest's /healthz.
	up, cancelUp := context.WithTimeout(ctx, b.cfg.RunTimeout)
	defer cancelUp()
	select {
	case <-workerRun.firstReceive:
	case <-worker.exited:
		return finish(failure("the worker exited before its first receive"))
	case <-up.Done():
		return finish(failure("no receive within %v", b.cfg.RunTimeout))
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: nil, MaxIdleConns: pipelineMaxInFlight, MaxIdleConnsPerHost: pipelineMaxInFlight,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	defer client.CloseIdleConnections()
	base := "http://" + addr
	if err := waitHealthy(up, client, base+"/healthz", ingest); err != nil {
		return finish(failure("ingest: %v", err))
	}

	b.progress("pipeline %s: POSTing %d-event Pusher webhooks of %d apps for %v", row.label(), pipelinePostSize, pipelineApps, pc.Duration)
	if c1, e1 := procCPU(ingest.pid()); e1 == nil {
		if c2, e2 := procCPU(worker.pid()); e2 == nil {
			cpu0, cpuKnown = [2]time.Duration{c1, c2}, true
		}
	}
	lg := &loadGen{client: client, url: base + "/pusher", rc: rc}
	row.Start = time.Now()
	lg.run(ctx, row.Rate, pc.Duration, pc.Posters, row.Start)
	row.SendElapsed = time.Since(row.Start)
	row.Posts, row.Accepted, row.PostFailed = lg.posts.Load(), lg.accepted.Load(), lg.failed.Load()
	row.Offered, row.Sent = row.Posts*pipelinePostSize, row.Accepted*pipelinePostSize
	if p := lg.lastErr.Load(); p != nil {
		row.PostErr = *p
	}
	if err := ctx.Err(); err != nil {
		return finish(err)
	}
	b.progress("pipeline %s: %d POSTs (%d answered 200) in %v; waiting up to %v for their events", row.label(),
		row.Posts, row.Accepted, row.SendElapsed.Round(time.Millisecond), pc.Recovery)

	accepted := lg.acceptedPosts()
	deadline := time.Now().Add(pc.Recovery)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if rc.stats().unique >= row.Sent {
			if row.Lost = rc.missing(accepted); row.Lost == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			row.Lost = rc.missing(accepted)
			b.progress("pipeline %s: gave up waiting: %d events missing", row.label(), row.Lost)
			break
		}
		select {
		case <-tick.C:
		case <-worker.exited:
			row.Lost = rc.missing(accepted)
			return finish(failure("the worker exited with %d events missing", row.Lost))
		case <-ctx.Done():
			return finish(ctx.Err())
		}
	}
	st := rc.stats()
	row.LastArrival = st.last.Sub(row.Start)
	row.Extra = rc.extra(accepted)
	row.Latency = summariseDelays(st.delays)
	// Let the worker delete what it delivered, so the depth after the stop
	// means something.
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

// waitHealthy polls url until it answers 200.
func waitHealthy(ctx context.Context, client *http.Client, url string, ch *child) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-ch.exited:
			return errors.New("exited before answering /healthz")
		case <-ctx.Done():
			return fmt.Errorf("no /healthz: %w", ctx.Err())
		}
	}
}

// loadGen POSTs signed Pusher webhooks to ingest. POST n is app n%10's and
// carries pipelinePostSize events whose user_id is "p<n>-<index>": the
// receiver maps every arrival back to its POST.
type loadGen struct {
	client *http.Client
	url    string
	rc     *pipeReceiver

	next                    atomic.Int64
	posts, accepted, failed atomic.Int64
	lastErr                 atomic.Pointer[string]

	mu   sync.Mutex
	okNs []int64 // POSTs answered 200
}

// run POSTs for d from start: at rate events/s (one POST every
// pipelinePostSize/rate s, at most pipelineMaxInFlight at once), or, at
// rate 0, from posters loops as fast as the answers come.
func (lg *loadGen) run(ctx context.Context, rate int, d time.Duration, posters int, start time.Time) {
	end := start.Add(d)
	var wg sync.WaitGroup
	if rate == 0 {
		for range posters {
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(end) {
					lg.post(ctx, lg.next.Add(1)-1)
				}
			})
		}
		wg.Wait()
		return
	}
	interval := time.Duration(pipelinePostSize) * time.Second / time.Duration(rate)
	sem := make(chan struct{}, pipelineMaxInFlight)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := int64(0); ; n++ {
		at := start.Add(time.Duration(n) * interval)
		if !at.Before(end) {
			break
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			lg.post(ctx, n)
		})
	}
	wg.Wait()
}

// post makes POST n.
func (lg *loadGen) post(ctx context.Context, n int64) {
	_, key, secret := pipelineApp(int(n % pipelineApps))
	body := pipelineBody(n, time.Now().UnixMilli())
	lg.posts.Add(1)
	fail := func(why string) {
		lg.failed.Add(1)
		lg.lastErr.Store(&why)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, lg.url, bytes.NewReader(body))
	if err != nil {
		fail(err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.HeaderKey, key)
	req.Header.Set(signing.HeaderSignature, signing.Sign(secret, body))
	resp, err := lg.client.Do(req)
	if err != nil {
		fail(err.Error())
		return
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fail(fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg)))
		return
	}
	lg.accepted.Add(1)
	lg.mu.Lock()
	lg.okNs = append(lg.okNs, n)
	lg.mu.Unlock()
}

func (lg *loadGen) acceptedPosts() []int64 {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	return slices.Clone(lg.okNs)
}

// pipelineBody is POST n: a Pusher webhook body of pipelinePostSize client
// events, each with time_ms nowMS and user_id "p<n>-<index>".
func pipelineBody(n, nowMS int64) []byte {
	const ev = `{"name":"client_event","channel":"presence-room","event":"client-typing","data":"{\"typing\":true}","socket_id":"123.456","user_id":"p`
	b := make([]byte, 0, 32+pipelinePostSize*(len(ev)+40))
	b = append(b, `{"time_ms":`...)
	b = strconv.AppendInt(b, nowMS, 10)
	b = append(b, `,"events":[`...)
	for i := range pipelinePostSize {
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
	return append(b, "]}"...)
}

// pipeReceiver is the pipeline scenario's receiver: it verifies every
// request with the secret of the app its X-Pusher-Key names, and records
// every event by id (first arrivals, duplicates, delay) and by the POST its
// user_id names.
type pipeReceiver struct {
	srv     *http.Server
	url     string
	secrets map[string]string // key → secret

	mu         sync.Mutex
	ids        map[string]struct{}
	posts      map[int64]uint16 // POST → bit i set when its event i arrived
	delays     []int32          // ms, first arrivals
	last       time.Time
	requests   int64
	rejected   int64
	duplicates int64
	lastErr    string
}

func startPipeReceiver() (*pipeReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: listen: %w", err)
	}
	rc := &pipeReceiver{url: "http://" + ln.Addr().String() + "/pusher", secrets: map[string]string{},
		ids: map[string]struct{}{}, posts: map[int64]uint16{}}
	for i := range pipelineApps {
		_, key, secret := pipelineApp(i)
		rc.secrets[key] = secret
	}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := rc.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err) // Serve on a listener we own fails only on programming errors
		}
	}()
	return rc, nil
}

func (rc *pipeReceiver) close() error { return rc.srv.Close() }

func (rc *pipeReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(signing.HeaderKey)
	secret, known := rc.secrets[key]
	var (
		body   []byte
		status = http.StatusUnauthorized
		why    = "unknown key " + key
		b      struct {
			TimeMS *int64 `json:"time_ms"`
			Events []struct {
				Name   string `json:"name"`
				ID     string `json:"id"`
				UserID string `json:"user_id"`
				TimeMS int64  `json:"time_ms"`
			} `json:"events"`
		}
	)
	if known {
		body, status, why = verifyRequest(r, key, secret)
	}
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &b); err != nil {
			status, why = http.StatusBadRequest, "body: "+err.Error()
		} else if b.TimeMS == nil || len(b.Events) == 0 {
			status, why = http.StatusBadRequest, "body: no time_ms or no events"
		}
	}
	type mark struct {
		post int64
		bit  uint16
	}
	marks := make([]mark, len(b.Events))
	for i, e := range b.Events {
		if status != http.StatusOK {
			break
		}
		p, idx, ok := parseMarker(e.UserID)
		if e.Name == "" || e.ID == "" || e.TimeMS == 0 || !ok {
			status, why = http.StatusBadRequest, fmt.Sprintf("body: events[%d]: want a name, an id, a time_ms and a user_id p<post>-<index>", i)
			break
		}
		marks[i] = mark{p, 1 << idx}
	}
	now := time.Now()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if status != http.StatusOK {
		rc.rejected++
		rc.lastErr = why
		http.Error(w, why, status)
		return
	}
	rc.requests++
	for i, e := range b.Events {
		if _, dup := rc.ids[e.ID]; dup {
			rc.duplicates++
			continue
		}
		rc.ids[e.ID] = struct{}{}
		rc.posts[marks[i].post] |= marks[i].bit
		rc.delays = append(rc.delays, int32(now.UnixMilli()-e.TimeMS))
		rc.last = now
	}
	w.WriteHeader(http.StatusOK)
}

// parseMarker parses a user_id "p<post>-<index>".
func parseMarker(s string) (post int64, index int, ok bool) {
	p, i, found := strings.Cut(strings.TrimPrefix(s, "p"), "-")
	if !found || !strings.HasPrefix(s, "p") {
		return 0, 0, false
	}
	post, err1 := strconv.ParseInt(p, 10, 64)
	index, err2 := strconv.Atoi(i)
	if err1 != nil || err2 != nil || post < 0 || index < 0 || index >= pipelinePostSize {
		return 0, 0, false
	}
	return post, index, true
}

// missing is the events of the posts that have not arrived.
func (rc *pipeReceiver) missing(posts []int64) int64 {
	const all = 1<<pipelinePostSize - 1
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var n int64
	for _, p := range posts {
		if got := rc.posts[p]; got != all {
			n += int64(pipelinePostSize - bits.OnesCount16(got))
		}
	}
	return n
}

// extra is the events that arrived of POSTs not among posts (not answered
// 200: ingest may have enqueued them anyway).
func (rc *pipeReceiver) extra(posts []int64) int64 {
	ok := make(map[int64]bool, len(posts))
	for _, p := range posts {
		ok[p] = true
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var n int64
	for p, got := range rc.posts {
		if !ok[p] {
			n += int64(bits.OnesCount16(got))
		}
	}
	return n
}

type pipeStats struct {
	unique, duplicates, requests, rejected int64
	lastErr                                string
	last                                   time.Time
	delays                                 []int32
}

func (rc *pipeReceiver) stats() pipeStats {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return pipeStats{unique: int64(len(rc.ids)), duplicates: rc.duplicates, requests: rc.requests, rejected: rc.rejected,
		lastErr: rc.lastErr, last: rc.last, delays: slices.Clone(rc.delays)}
}

// summariseDelays is p50, p99 and max of ms delays.
func summariseDelays(ms []int32) delays {
	if len(ms) == 0 {
		return delays{}
	}
	slices.Sort(ms)
	d := func(v int32) time.Duration { return time.Duration(v) * time.Millisecond }
	return delays{n: len(ms), p50: d(quantile(ms, 0.50)), p99: d(quantile(ms, 0.99)), max: d(ms[len(ms)-1])}
}
