package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// targetPrefix starts the X-Amz-Target header of the SQS JSON protocol:
// "AmazonSQS.ReceiveMessage".
const targetPrefix = "AmazonSQS."

// receiptHandleKey occurs once per message in a ReceiveMessage response. A
// message body is a JSON string inside the response, where every quote is
// escaped, so the key cannot occur inside one.
var receiptHandleKey = []byte(`"ReceiptHandle":`)

// proxy is a loopback HTTP proxy in front of the SQS endpoint that counts
// the calls of the current run by operation, the messages ReceiveMessage
// returned, the empty receives, and the messages deleted.
type proxy struct {
	rp  *httputil.ReverseProxy
	srv *http.Server
	url string
	run atomic.Pointer[proxyRun]
}

// proxyRun is what the proxy counted for one contender run.
type proxyRun struct {
	deleted *milestone // messages deleted: DeleteMessage 200s and DeleteMessageBatch Successful entries

	firstReceiveOnce sync.Once
	firstReceive     chan struct{} // closed at the first ReceiveMessage request
	firstReceiveAt   time.Time     // valid once firstReceive is closed

	mu        sync.Mutex
	calls     map[string]int64 // requests by operation
	billed    map[string]int64 // billed requests by operation: see billedUnits
	failed    map[string]int64 // non-2xx answers and transport errors by operation
	received  int64            // messages returned by ReceiveMessage
	empty     int64            // ReceiveMessage answers without messages
	cancelled int64            // calls the contender cancelled before the answer
	lastErr   string
}

func newProxyRun(messages int64) *proxyRun {
	return &proxyRun{
		deleted:      newMilestone(messages),
		firstReceive: make(chan struct{}),
		calls:        map[string]int64{},
		billed:       map[string]int64{},
		failed:       map[string]int64{},
	}
}

// startProxy listens on a free loopback port and forwards to target.
func startProxy(target string) (*proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("proxy: target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	p := &proxy{url: "http://" + ln.Addr().String()}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		ModifyResponse: p.inspect,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if run := p.run.Load(); run != nil {
				if r.Context().Err() != nil { // the contender gave up the call: a long poll cut by its stop
					run.mu.Lock()
					run.cancelled++
					run.mu.Unlock()
				} else {
					run.fail(operation(r), err.Error())
				}
			}
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err) // Serve on a listener we own fails only on programming errors
		}
	}()
	return p, nil
}

func (p *proxy) close() error { return p.srv.Close() }

// begin starts counting for a run over a queue of messages messages.
func (p *proxy) begin(messages int64) *proxyRun {
	r := newProxyRun(messages)
	p.run.Store(r)
	return r
}

// end stops counting.
func (p *proxy) end() { p.run.Store(nil) }

// operation is the SQS operation of a request: "ReceiveMessage".
func operation(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	if t == "" {
		return "(no X-Amz-Target)"
	}
	return strings.TrimPrefix(t, targetPrefix)
}

// billedChunk is SQS's billing unit: every 64 KiB chunk of a request's
// payload is one billed request.
const billedChunk = 64 << 10

// billedUnits is what SQS bills for a request of size bytes:
// ceil(size / 64 KiB), at least 1.
func billedUnits(size int64) int64 { return max(1, (size+billedChunk-1)/billedChunk) }

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if run := p.run.Load(); run != nil {
		op := operation(r)
		size := r.ContentLength
		if size < 0 { // no Content-Length: read the body to count it
			body, err := io.ReadAll(r.Body)
			if err != nil {
				run.fail(op, "read request: "+err.Error())
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			size = int64(len(body))
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = size
		}
		run.mu.Lock()
		run.calls[op]++
		run.billed[op] += billedUnits(size)
		run.mu.Unlock()
		if op == "ReceiveMessage" {
			run.firstReceiveOnce.Do(func() {
				run.firstReceiveAt = time.Now()
				close(run.firstReceive)
			})
		}
	}
	p.rp.ServeHTTP(w, r)
}

// inspect counts what a response says: failures, messages received, empty
// receives and deletes. It reads only the bodies it must.
func (p *proxy) inspect(resp *http.Response) error {
	run := p.run.Load()
	if run == nil {
		return nil
	}
	op := operation(resp.Request)
	if resp.StatusCode/100 != 2 {
		run.fail(op, fmt.Sprintf("%s: HTTP %d", op, resp.StatusCode))
		return nil
	}
	switch op {
	case "ReceiveMessage", "DeleteMessageBatch":
	case "DeleteMessage":
		run.deleted.add(1)
		return nil
	default:
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return fmt.Errorf("proxy: read %s response: %w", op, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	switch op {
	case "ReceiveMessage":
		n := int64(bytes.Count(body, receiptHandleKey))
		run.mu.Lock()
		run.received += n
		if n == 0 {
			run.empty++
		}
		run.mu.Unlock()
	case "DeleteMessageBatch":
		var out struct {
			Successful []json.RawMessage
			Failed     []struct{ Code, Message string }
		}
		if err := json.Unmarshal(body, &out); err != nil {
			run.fail(op, "decode response: "+err.Error())
			return nil
		}
		run.deleted.add(int64(len(out.Successful)))
		for _, f := range out.Failed {
			run.fail(op+" entry", f.Code+": "+f.Message)
		}
	}
	return nil
}

func (r *proxyRun) fail(op, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed[op]++
	r.lastErr = why
}

// proxyCounts is a copy of a run's counters.
type proxyCounts struct {
	Calls, Failed   map[string]int64
	Billed          map[string]int64 // billed requests by operation (billedUnits of each request body)
	Received, Empty int64
	Deleted         int64
	Cancelled       int64 // calls cut by the contender, e.g. long polls at its stop
	LastErr         string
}

func (r *proxyRun) counts() proxyCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return proxyCounts{
		Calls: maps.Clone(r.calls), Billed: maps.Clone(r.billed), Failed: maps.Clone(r.failed),
		Received: r.received, Empty: r.empty, Deleted: r.deleted.load(), Cancelled: r.cancelled, LastErr: r.lastErr,
	}
}
