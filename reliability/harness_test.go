// Package reliability_test is Hookline's fault-injection suite (issue 10):
// it runs the real `hookline worker` and `hookline ingest` binaries against
// the local SQS (fauxqs, or LocalStack at AWS_ENDPOINT_URL_SQS) and real
// HTTP receivers, injects crashes, outages, hostile input and overload, and
// checks that nothing is lost. Every scenario records one row of the table
// the run prints at the end (and writes to -report):
//
//	go test ./reliability                     # the trimmed run of make test
//	go test ./reliability -full -report F.md  # make test-reliability: the sizes
//
// An event is identified by a unique marker in its user_id; "delivered" is
// unique markers a receiver accepted, "duplicates" the further deliveries of
// a marker to the same webhook, "lost" the sent events neither delivered to
// every webhook they were for nor dead-lettered.
package reliability_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/producer"
	"github.com/hookline/hookline/queues"
	"github.com/hookline/hookline/signing"
)

var (
	full       = flag.Bool("full", false, "run every scenario at the issue's sizes (make test-reliability); default: the trimmed run of make test")
	reportPath = flag.String("report", "", "also write the results table (markdown) to this file")
	hookline   string // the binary under test, built by TestMain
)

const (
	region           = "us-east-1"
	eventsPerMessage = 10
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "hookline-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hookline = filepath.Join(dir, "hookline")
	build := exec.Command("go", "build", "-o", hookline, "github.com/hookline/hookline/cmd/hookline")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: building hookline:", err)
		os.Exit(1)
	}
	code := localstack.RunTests(m)
	table := resultsTable()
	fmt.Print(table)
	if *reportPath != "" && table != "" {
		if err := os.WriteFile(*reportPath, []byte(table), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// size picks the trimmed or the full figure.
func size[T any](trimmed, fullSize T) T {
	if *full {
		return fullSize
	}
	return trimmed
}

// ---- results ----

type row struct {
	scenario    string
	sent        int
	delivered   int
	lost        int
	duplicates  int
	deadLetters map[string][2]int // reason → messages, events
	drain       time.Duration
	note        string
}

var (
	resultsMu sync.Mutex
	results   []row
)

func record(r row) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results = append(results, r)
}

func resultsTable() string {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return ""
	}
	num := func(s string) int { n, _ := strconv.Atoi(strings.TrimRight(strings.Fields(s)[0], "abc")); return n }
	sort.SliceStable(results, func(i, j int) bool {
		if a, b := num(results[i].scenario), num(results[j].scenario); a != b {
			return a < b
		}
		return results[i].scenario < results[j].scenario
	})
	var b strings.Builder
	fmt.Fprintf(&b, "\n| scenario | events sent | delivered (unique) | lost | duplicate deliveries | dead letters by reason (messages/events) | time to drain | notes |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|---:|---|\n")
	for _, r := range results {
		var dl []string
		for reason, n := range r.deadLetters {
			dl = append(dl, fmt.Sprintf("%s %d/%d", reason, n[0], n[1]))
		}
		slices.Sort(dl)
		dls := strings.Join(dl, ", ")
		if dls == "" {
			dls = "0"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %.1f s | %s |\n", r.scenario, r.sent, r.delivered, r.lost, r.duplicates, dls, r.drain.Seconds(), r.note)
	}
	return b.String()
}

// ---- SQS and the fault proxy ----

// faultMode is what the SQS proxy does to a request.
type faultMode int32

const (
	pass     faultMode = iota
	cut                // connections dropped, new ones closed at once: SQS unreachable
	error500           // 500 InternalError
	throttle           // 400 ThrottlingException
)

// sqsProxy forwards HTTP to the emulator and injects faults. The emulator
// keeps its queues only in memory, so outages are cut here, never by
// stopping it.
type sqsProxy struct {
	target string
	ln     net.Listener
	srv    *http.Server
	mode   atomic.Int32
	client *http.Client
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func startSQSProxy(t *testing.T, target string) *sqsProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &sqsProxy{target: strings.TrimRight(target, "/"), ln: ln, conns: map[net.Conn]struct{}{},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	p.srv = &http.Server{Handler: p, ConnState: func(c net.Conn, s http.ConnState) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch s {
		case http.StateNew:
			p.conns[c] = struct{}{}
		case http.StateClosed, http.StateHijacked:
			delete(p.conns, c)
		}
	}}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() { _ = p.srv.Close() })
	return p
}

func (p *sqsProxy) url() string { return "http://" + p.ln.Addr().String() }

// set changes the mode; cut also drops every open connection.
func (p *sqsProxy) set(m faultMode) {
	p.mode.Store(int32(m))
	if m == cut {
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	}
}

func (p *sqsProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch faultMode(p.mode.Load()) {
	case cut:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case error500:
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("x-amzn-query-error", "InternalError;Receiver")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"__type":"com.amazonaws.sqs#InternalError","message":"injected"}`)
		return
	case throttle:
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("x-amzn-query-error", "ThrottlingException;Sender")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}`)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// ---- receivers ----

// hookMode is how a receiver webhook answers.
type hookMode struct {
	status int           // 0: 200
	delay  time.Duration // answer after this long
	hang   bool          // never answer (until the client gives up)
}

// receiver is one loopback HTTP server for every webhook of a scenario
// (path /<webhook>), verifying Pusher signatures and recording markers.
type receiver struct {
	t       *testing.T
	secrets map[string]string // key → secret
	addr    string
	mu      sync.Mutex
	ln      net.Listener
	srv     *http.Server
	modes   map[string]hookMode
	seen    map[string]map[string]int       // webhook → marker → deliveries
	reqs    map[string]int                  // webhook → requests of any outcome
	first   map[string]map[string]time.Time // webhook → marker → first arrival
	latency map[string]time.Duration        // webhook → worst (arrival − time_ms) of first arrivals
	bad     []string
	changed chan struct{}
}

func startReceiver(t *testing.T, secrets map[string]string) *receiver {
	t.Helper()
	rc := &receiver{t: t, secrets: secrets, modes: map[string]hookMode{}, seen: map[string]map[string]int{}, reqs: map[string]int{},
		first: map[string]map[string]time.Time{}, latency: map[string]time.Duration{}, changed: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.addr = ln.Addr().String()
	rc.serve(ln)
	t.Cleanup(func() {
		rc.mu.Lock()
		srv := rc.srv
		rc.mu.Unlock()
		if srv != nil {
			_ = srv.Close()
		}
	})
	return rc
}

func (rc *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: rc}
	rc.mu.Lock()
	rc.ln, rc.srv = ln, srv
	rc.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (rc *receiver) setMode(hook string, m hookMode) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.modes[hook] = m
}

// refuse closes the listening socket and every connection: connections are
// refused until accept reopens the same address.
func (rc *receiver) refuse() {
	rc.mu.Lock()
	srv := rc.srv
	rc.srv = nil
	rc.mu.Unlock()
	_ = srv.Close()
}

func (rc *receiver) accept() {
	rc.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the address was ours a moment ago; the kernel may need a beat to release it
		if ln, err = net.Listen("tcp", rc.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		rc.t.Fatalf("receiver: reopening %s: %v", rc.addr, err)
	}
	rc.serve(ln)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hook := strings.TrimPrefix(r.URL.Path, "/")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	rc.mu.Lock()
	mode := rc.modes[hook]
	rc.reqs[hook]++
	rc.mu.Unlock()
	if mode.hang {
		<-r.Context().Done()
		return
	}
	if mode.delay > 0 {
		select {
		case <-time.After(mode.delay):
		case <-r.Context().Done():
			return
		}
	}
	if mode.status != 0 && mode.status != http.StatusOK {
		if mode.status/100 == 3 {
			w.Header().Set("Location", "https://elsewhere.invalid/"+hook)
		}
		w.WriteHeader(mode.status)
		return
	}
	secret, ok := rc.secrets[r.Header.Get(signing.HeaderKey)]
	if !ok || !signing.Verify(secret, body, r.Header.Get(signing.HeaderSignature)) {
		rc.mu.Lock()
		rc.bad = append(rc.bad, hook+": bad key or signature")
		rc.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	b, err := payload.DecodeBody(body)
	if err != nil {
		rc.mu.Lock()
		rc.bad = append(rc.bad, hook+": "+err.Error())
		rc.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	now := time.Now()
	rc.mu.Lock()
	if rc.seen[hook] == nil {
		rc.seen[hook], rc.first[hook] = map[string]int{}, map[string]time.Time{}
	}
	for _, e := range b.Events {
		rc.seen[hook][e.UserID]++
		if rc.seen[hook][e.UserID] == 1 {
			rc.first[hook][e.UserID] = now
			if lat := now.Sub(time.UnixMilli(e.TimeMS)); lat > rc.latency[hook] {
				rc.latency[hook] = lat
			}
		}
	}
	close(rc.changed)
	rc.changed = make(chan struct{})
	rc.mu.Unlock()
}

// delivered is the unique markers webhook hook accepted, and the further
// deliveries.
func (rc *receiver) delivered(hook string) (unique, dups int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.seen[hook] {
		unique++
		dups += n - 1
	}
	return unique, dups
}

func (rc *receiver) requests(hook string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.reqs[hook]
}

func (rc *receiver) has(hook, marker string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.seen[hook][marker] > 0
}

func (rc *receiver) worstLatency(hook string) time.Duration {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.latency[hook]
}

// waitUnique waits until hook has n unique markers or the deadline passes.
func (rc *receiver) waitUnique(hook string, n int, limit time.Duration) bool {
	deadline := time.After(limit)
	for {
		rc.mu.Lock()
		got := len(rc.seen[hook])
		ch := rc.changed
		rc.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

func (rc *receiver) rejected() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.bad)
}

// ---- the scenario environment ----

type appSpec struct {
	id       string
	disabled bool
	hooks    []hookSpec
}

type hookSpec struct {
	name string // the receiver path
	// separate gives the webhook a receiver of its own (one that can refuse
	// connections without taking the others down).
	separate bool
	// lambda, when set, makes the webhook a RequestResponse Lambda target
	// of that function at lambdaURL instead of an HTTP one.
	lambda, lambdaURL string
	// extra JSON members of the webhook object, e.g. `"request_timeout_ms":2000`
	extra string
}

type envOptions struct {
	apps            []appSpec
	visibility      time.Duration // default 10 s
	maxReceive      int           // default 10
	webhooksSection string        // the top-level "webhooks" object; default: scaled-down retries
	concurrency     int           // pollers; default 4
}

type env struct {
	t        *testing.T
	opts     envOptions
	sqs      *sqs.Client // straight to the emulator
	proxy    *sqsProxy   // what the worker talks to
	queues   *queues.Result
	rc       *receiver            // the shared receiver
	rcs      map[string]*receiver // webhook → its receiver
	cfgPath  string
	prod     *producer.Producer
	sent     map[string][]string // marker → webhooks it is for
	sentMu   sync.Mutex
	seq      atomic.Int64
	appHooks map[string][]string
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	if opts.visibility == 0 {
		opts.visibility = 10 * time.Second
	}
	if opts.maxReceive == 0 {
		opts.maxReceive = 10
	}
	if opts.concurrency == 0 {
		opts.concurrency = 4
	}
	if opts.webhooksSection == "" {
		opts.webhooksSection = `{"batching":{"enabled":true,"duration":50,"size":100},` +
			`"retry":{"enabled":true,"max_attempts":4,"initial_backoff_ms":1000,"max_backoff_ms":2000,"max_elapsed_time_ms":30000}}`
	}
	endpoint := localstack.SQSEndpoint(t)
	client := localstack.SQSClient(t, region)
	res, err := queues.Ensure(context.Background(), client, queues.Spec{Name: localstack.UniqueQueueName(t, "rel"),
		VisibilityTimeout: opts.visibility, MaxReceiveCount: opts.maxReceive}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, opts: opts, sqs: client, proxy: startSQSProxy(t, endpoint), queues: res,
		sent: map[string][]string{}, appHooks: map[string][]string{}, rcs: map[string]*receiver{}}
	secrets := map[string]string{}
	var apps []string
	for _, a := range opts.apps {
		secrets["key-"+a.id] = "secret-" + a.id
		var hooks []string
		for _, h := range a.hooks {
			x := ""
			if h.extra != "" {
				x = "," + h.extra
			}
			if h.lambda != "" {
				hooks = append(hooks, fmt.Sprintf(`{"id":%q,"lambda":{"function_name":%q,"invocation_type":"RequestResponse","endpoint_url":%q},"event_types":["member_added"]%s}`,
					h.name, h.lambda, h.lambdaURL, x))
			} else {
				hooks = append(hooks, fmt.Sprintf(`{"id":%q,"url":"http://RECEIVER-%s/%s","event_types":["member_added"]%s}`, h.name, h.name, h.name, x))
			}
			e.appHooks[a.id] = append(e.appHooks[a.id], h.name)
		}
		apps = append(apps, fmt.Sprintf(`{"id":%q,"key":"key-%s","secret":"secret-%s","enabled":%t,"webhooks":[%s]}`,
			a.id, a.id, a.id, !a.disabled, strings.Join(hooks, ",")))
	}
	e.rc = startReceiver(t, secrets)
	for _, a := range opts.apps {
		for _, h := range a.hooks {
			e.rcs[h.name] = e.rc
			if h.separate {
				e.rcs[h.name] = startReceiver(t, secrets)
			}
		}
	}
	doc := fmt.Sprintf(`{"app_manager":{"driver":"memory","array":{"apps":[%s]}},"webhooks":%s,
		"shutdown_grace_period":10,
		"queue":{"driver":"sqs","sqs":{"region":%q,"queue_name":%q,"visibility_timeout":%d,"wait_time_seconds":2,"concurrency":%d}}}`,
		strings.Join(apps, ","), opts.webhooksSection, region, res.Main.Name, int(opts.visibility/time.Second), opts.concurrency)
	for name, rc := range e.rcs {
		doc = strings.ReplaceAll(doc, "RECEIVER-"+name+"/", rc.addr+"/")
	}
	e.cfgPath = filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(e.cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	e.prod, err = producer.New(context.Background(), client, producer.Options{QueueURL: res.Main.URL, FairQueues: true,
		MaxEvents: eventsPerMessage, Linger: time.Millisecond}) // at most 10 events a message: duplicate bounds count messages
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.prod.Close(ctx)
	})
	return e
}

// publish sends n member_added events of app, per events per Publish call,
// spread over d (0: as fast as SQS takes them), and returns their markers.
func (e *env) publish(app string, n, per int, d time.Duration) []string {
	e.t.Helper()
	var markers []string
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < n; i += per {
		k := min(per, n-i)
		evs := make([]payload.Event, k)
		for j := range evs {
			m := fmt.Sprintf("%s-%d", app, e.seq.Add(1))
			evs[j] = payload.Event{Name: "member_added", Channel: "presence-rel", UserID: m}
			markers = append(markers, m)
		}
		e.sentMu.Lock()
		for _, ev := range evs {
			e.sent[ev.UserID] = e.appHooks[app]
		}
		e.sentMu.Unlock()
		if d > 0 {
			if wait := time.Until(start.Add(time.Duration(int64(d) * int64(i) / int64(n)))); wait > 0 {
				time.Sleep(wait) // pacing the offered load, not synchronisation
			}
		}
		wg.Go(func() {
			if err := e.prod.Publish(context.Background(), app, evs...); err != nil {
				failed.Add(1)
				e.t.Errorf("publish: %v", err)
			}
		})
	}
	wg.Wait()
	return markers
}

// sendRaw puts a body on the main queue as it is.
func (e *env) sendRaw(body string) {
	e.t.Helper()
	if _, err := e.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(e.queues.Main.URL), MessageBody: aws.String(body)}); err != nil {
		e.t.Fatal(err)
	}
}

// ---- the worker process ----

type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	admin  string // host:port of /healthz, /readyz, /metrics
	logs   *lineLog
	done   chan struct{}
	err    error
	killed bool
}

// lineLog keeps a process's stderr lines.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }

func (l *lineLog) count(re *regexp.Regexp, from int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines[min(from, len(l.lines)):] {
		if re.MatchString(s) {
			n++
		}
	}
	return n
}

func (l *lineLog) len() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.lines) }

func (l *lineLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], "\n")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startWorker runs `hookline worker` on the scenario's config, talking to
// SQS through the fault proxy.
func (e *env) startWorker(extra ...string) *proc {
	e.t.Helper()
	addr := freeAddr(e.t)
	args := append([]string{"worker", "--config", e.cfgPath, "--endpoint-url", e.proxy.url(), "--listen", addr,
		"--log-format", "json", "--sqs-call-timeout", "3s"}, extra...)
	return startProc(e.t, addr, args, nil)
}

func startProc(t *testing.T, admin string, args []string, extraEnv []string) *proc {
	t.Helper()
	cmd := exec.Command(hookline, args...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION="+region)
	cmd.Env = append(cmd.Env, extraEnv...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, admin: admin, logs: &lineLog{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copied := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.logs.add(sc.Text())
		}
		close(copied)
	}()
	go func() { <-copied; p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s log tail:\n%s", args[0], p.logs.tail(30))
		}
	})
	if admin != "" {
		p.waitHTTP("/healthz", 200, 20*time.Second)
	}
	return p
}

// waitHTTP polls an admin endpoint until it answers status (a process
// coming up has no other signal).
func (p *proc) waitHTTP(path string, status int, limit time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if got := p.get(path); got == status {
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("%s exited: %v\n%s", p.cmd.Args[1], p.err, p.logs.tail(20))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s %s never answered %d", p.cmd.Args[1], path, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) get(path string) int {
	resp, err := http.Get("http://" + p.admin + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metric reads one sample of the worker's /metrics (the sum over label sets
// whose text contains labels).
func (p *proc) metric(name, labels string) float64 {
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		if labels != "" && !strings.Contains(line, labels) {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// waitMetric polls the worker's /metrics (Prometheus has no change
// notification) until metric reaches at least want; false after limit.
func (p *proc) waitMetric(name, labels string, want float64, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for p.metric(name, labels) < want {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

func (p *proc) kill() {
	p.t.Helper()
	p.killed = true
	_ = p.cmd.Process.Kill()
	<-p.done
}

// term sends SIGTERM and waits for the exit, at most limit.
func (p *proc) term(limit time.Duration) (exitCode int, took time.Duration) {
	p.t.Helper()
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(limit):
		p.t.Errorf("%s still running %v after SIGTERM", p.cmd.Args[1], limit)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

// ---- the ledger ----

// depth is the main queue's visible + in flight + delayed messages.
func (e *env) depth(url string) int {
	out, err := e.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		e.t.Fatalf("depth: %v", err)
	}
	n := 0
	for _, v := range out.Attributes {
		k, _ := strconv.Atoi(v)
		n += k
	}
	return n
}

// deadLetter is one message of the DLQ, read and deleted.
type deadLetter struct {
	reason, webhook, target, status, attempts string
	markers                                   []string
	body                                      string
}

// drainDLQ receives and deletes everything on the DLQ.
func (e *env) drainDLQ() []deadLetter {
	e.t.Helper()
	var out []deadLetter
	empty := 0
	for empty < 2 {
		res, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.queues.DeadLetter.URL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			e.t.Fatalf("DLQ receive: %v", err)
		}
		if len(res.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range res.Messages {
			d := deadLetter{body: aws.ToString(m.Body)}
			attr := func(k string) string {
				if v, ok := m.MessageAttributes[k]; ok {
					return aws.ToString(v.StringValue)
				}
				return ""
			}
			d.reason, d.webhook, d.target = attr("hookline-reason"), attr("hookline-webhook"), attr("hookline-target")
			d.status, d.attempts = attr("hookline-status"), attr("hookline-attempts")
			if env, err := payload.Decode([]byte(d.body)); err == nil {
				for _, ev := range env.Events {
					d.markers = append(d.markers, ev.UserID)
				}
			}
			out = append(out, d)
			if _, err := e.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(e.queues.DeadLetter.URL),
				ReceiptHandle: m.ReceiptHandle}); err != nil {
				e.t.Fatalf("DLQ delete: %v", err)
			}
		}
	}
	return out
}

// settled reports whether every sent event reached every webhook it was for.
func (e *env) allDelivered() bool {
	e.sentMu.Lock()
	defer e.sentMu.Unlock()
	for m, hooks := range e.sent {
		for _, h := range hooks {
			if !e.rcs[h].has(h, m) {
				return false
			}
		}
	}
	return true
}

// waitDrained waits until the main queue is empty and, when want is set,
// every sent event was delivered; it returns how long that took.
func (e *env) waitDrained(limit time.Duration, wantAll bool) time.Duration {
	e.t.Helper()
	start := time.Now()
	for {
		if e.depth(e.queues.Main.URL) == 0 && (!wantAll || e.allDelivered()) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			e.t.Errorf("not drained after %v: depth %d", limit, e.depth(e.queues.Main.URL))
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond) // SQS offers no change notification; poll its counters
	}
}

// account builds the scenario's row from the receiver and the DLQ: an event
// is lost when some webhook it was for neither got it nor has it in a dead
// letter for that webhook (or the whole app).
func (e *env) account(name string, drain time.Duration, dls []deadLetter, note string) row {
	e.sentMu.Lock()
	defer e.sentMu.Unlock()
	r := row{scenario: name, sent: len(e.sent), drain: drain, note: note, deadLetters: map[string][2]int{}}
	dead := map[string]map[string]bool{} // marker → target → dead-lettered
	for _, d := range dls {
		n := r.deadLetters[d.reason]
		r.deadLetters[d.reason] = [2]int{n[0] + 1, n[1] + len(d.markers)}
		for _, m := range d.markers {
			if dead[m] == nil {
				dead[m] = map[string]bool{}
			}
			dead[m][d.webhook] = true
		}
	}
	for m, hooks := range e.sent {
		ok := true
		for _, h := range hooks {
			if !e.rcs[h].has(h, m) && !dead[m][h] && !deadApp(dead[m]) {
				ok = false
			}
		}
		if !ok {
			r.lost++
		} else {
			delivered := len(hooks) > 0
			for _, h := range hooks {
				delivered = delivered && e.rcs[h].has(h, m)
			}
			if delivered {
				r.delivered++
			}
		}
	}
	for _, hooks := range e.appHooks {
		for _, h := range hooks {
			_, d := e.rcs[h].delivered(h)
			r.duplicates += d
		}
	}
	// Every request a receiver got was signed with the app's secret and
	// decoded as a Pusher webhook body.
	checked := map[*receiver]bool{}
	for _, rc := range e.rcs {
		if checked[rc] {
			continue
		}
		checked[rc] = true
		if bad := rc.rejected(); len(bad) > 0 {
			e.t.Errorf("%s: the receiver rejected %d requests, first: %s", name, len(bad), bad[0])
		}
	}
	return r
}

func deadApp(targets map[string]bool) bool {
	for t := range targets {
		if strings.HasPrefix(t, "app:") {
			return true
		}
	}
	return false
}

var errorLine = regexp.MustCompile(`"level":"(ERROR|WARN)"`)

// invisible is the main queue's in-flight (not visible) messages.
func (e *env) invisible() int {
	out, err := e.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e.queues.Main.URL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		e.t.Fatalf("attributes: %v", err)
	}
	n, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return n
}

func (e *env) deleteQueue(url string) error {
	_, err := e.sqs.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
	return err
}

// failingLambda is the Lambda Invoke API answering every invocation with a
// FunctionError (200 and X-Amz-Function-Error: Unhandled), which the
// Runtime Interface Emulator never reports: a fake at the AWS API seam.
type failingLambda struct {
	URL string
	mu  sync.Mutex
	n   int
}

func fakeFailingLambda(t *testing.T) *failingLambda {
	t.Helper()
	l := &failingLambda{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if !strings.HasSuffix(r.URL.Path, "/invocations") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		l.mu.Lock()
		l.n++
		l.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		io.WriteString(w, `{"errorMessage":"injected failure","errorType":"Error"}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	l.URL = "http://" + ln.Addr().String()
	return l
}

func (l *failingLambda) invocations() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}
