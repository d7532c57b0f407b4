package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/signing"
)

// maxSinkBody is the largest body the sink reads: the worker's
// max_body_bytes default (512 KiB) with room to spare.
const maxSinkBody = 4 << 20

// sink is the fast loopback receiver: it checks the key, the content type
// and the signature of every request, counts the events of the body, and
// answers 200. It decodes only the event names (enough to count events and
// see that the body is a Pusher body), and logs nothing.
type sink struct {
	key, secret string
	run         atomic.Pointer[sinkRun]
	srv         *http.Server
	url         string
}

// sinkRun is what the sink counted for one contender run.
type sinkRun struct {
	events   *milestone
	requests atomic.Int64
	rejected atomic.Int64 // requests answered with a 4xx
	lastErr  atomic.Pointer[string]
}

// startSink listens on a free loopback port.
func startSink(key, secret string) (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sink: listen: %w", err)
	}
	s := &sink{key: key, secret: secret, url: "http://" + ln.Addr().String() + "/pusher"}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err) // Serve on a listener we own fails only on programming errors
		}
	}()
	return s, nil
}

func (s *sink) close() error { return s.srv.Close() }

// begin starts counting for a run that must deliver events events.
func (s *sink) begin(events int64) *sinkRun {
	r := &sinkRun{events: newMilestone(events)}
	s.run.Store(r)
	return r
}

// end stops counting; requests after it are answered but not counted.
func (s *sink) end() { s.run.Store(nil) }

// pusherBody is as much of a Pusher webhook body as the sink decodes.
type pusherBody struct {
	TimeMS *int64 `json:"time_ms"`
	Events []struct {
		Name string `json:"name"`
	} `json:"events"`
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	run := s.run.Load()
	n, status, why := s.check(r)
	if run == nil {
		w.WriteHeader(status)
		return
	}
	run.requests.Add(1)
	if status != http.StatusOK {
		run.rejected.Add(1)
		run.lastErr.Store(&why)
		http.Error(w, why, status)
		return
	}
	run.events.add(int64(n))
	w.WriteHeader(http.StatusOK)
}

// check verifies one request and returns its event count, or the status and
// reason of a rejection.
func (s *sink) check(r *http.Request) (events, status int, why string) {
	body, status, why := verifyRequest(r, s.key, s.secret)
	if status != http.StatusOK {
		return 0, status, why
	}
	var b pusherBody
	if err := json.Unmarshal(body, &b); err != nil {
		return 0, http.StatusBadRequest, "body: " + err.Error()
	}
	if b.TimeMS == nil || *b.TimeMS == 0 {
		return 0, http.StatusBadRequest, "body: no time_ms"
	}
	if len(b.Events) == 0 {
		return 0, http.StatusBadRequest, "body: no events"
	}
	for i, e := range b.Events {
		if e.Name == "" {
			return 0, http.StatusBadRequest, fmt.Sprintf("body: events[%d]: no name", i)
		}
	}
	return len(b.Events), http.StatusOK, ""
}

// verifyRequest reads a webhook request's body and checks the method, the
// size, the content type, the key and the signature; it returns the body,
// or the status and reason of a rejection.
func verifyRequest(r *http.Request, key, secret string) (body []byte, status int, why string) {
	if r.Method != http.MethodPost {
		return nil, http.StatusMethodNotAllowed, "method " + r.Method
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSinkBody+1))
	if err != nil {
		return nil, http.StatusBadRequest, "read body: " + err.Error()
	}
	if len(body) > maxSinkBody {
		return nil, http.StatusRequestEntityTooLarge, "body too large"
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return nil, http.StatusUnsupportedMediaType, "content type " + ct
	}
	if k := r.Header.Get(signing.HeaderKey); k != key {
		return nil, http.StatusUnauthorized, "unknown key " + k
	}
	if !signing.Verify(secret, body, r.Header.Get(signing.HeaderSignature)) {
		return nil, http.StatusUnauthorized, "bad signature"
	}
	return body, http.StatusOK, ""
}
