package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Paths of the recorder's two webhooks.
const (
	pathHealthy = "/healthy"
	pathHung    = "/hung"
)

// recorder is the receiver of the hung scenario: two webhooks on one
// loopback server, each verifying every request like the sink and
// recording every event by id (unique, duplicates, and the delay of its
// first arrival). /healthy answers at once; /hung, while the outage lasts,
// accepts the request and never answers: it blocks until the outage ends
// (then answers 200, counting the events, if the client still waits) or
// the client goes away.
type recorder struct {
	key, secret string
	srv         *http.Server
	url         string // base: url + pathHealthy is the healthy webhook

	healthy, hung *eventLog

	outage      atomic.Bool
	release     chan struct{} // closed when the outage ends
	releaseOnce sync.Once
}

// eventLog is what one webhook of the recorder received.
type eventLog struct {
	mu         sync.Mutex
	seen       map[string]struct{}
	requests   int64 // accepted and answered 200
	rejected   int64 // failed verification
	abandoned  int64 // hung requests the client gave up on
	events     int64 // events in accepted requests, duplicates included
	duplicates int64 // events whose id had arrived before
	first      []arrival
	lastErr    string
}

// arrival is the first arrival of one event.
type arrival struct {
	sentMS int64         // the event's time_ms: when the producer sent it
	delay  time.Duration // arrival − sentMS
}

func newEventLog() *eventLog { return &eventLog{seen: map[string]struct{}{}} }

// startRecorder listens on a free loopback port.
func startRecorder(key, secret string) (*recorder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("recorder: listen: %w", err)
	}
	rc := &recorder{key: key, secret: secret, url: "http://" + ln.Addr().String(),
		healthy: newEventLog(), hung: newEventLog(), release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc(pathHealthy, func(w http.ResponseWriter, r *http.Request) { rc.serve(w, r, rc.healthy, false) })
	mux.HandleFunc(pathHung, func(w http.ResponseWriter, r *http.Request) { rc.serve(w, r, rc.hung, true) })
	rc.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := rc.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err) // Serve on a listener we own fails only on programming errors
		}
	}()
	return rc, nil
}

func (rc *recorder) close() error {
	rc.endOutage()
	return rc.srv.Close()
}

// startOutage makes /hung hang.
func (rc *recorder) startOutage() { rc.outage.Store(true) }

// endOutage makes /hung answer again and releases the requests it holds.
func (rc *recorder) endOutage() {
	rc.releaseOnce.Do(func() {
		rc.outage.Store(false)
		close(rc.release)
	})
}

// recordedBody is as much of a Pusher body as the recorder decodes.
type recordedBody struct {
	TimeMS *int64 `json:"time_ms"`
	Events []struct {
		Name   string `json:"name"`
		ID     string `json:"id"`
		TimeMS int64  `json:"time_ms"`
	} `json:"events"`
}

func (rc *recorder) serve(w http.ResponseWriter, r *http.Request, log *eventLog, hangs bool) {
	body, status, why := verifyRequest(r, rc.key, rc.secret)
	var b recordedBody
	if status == http.StatusOK {
		status, why = decodeRecorded(body, &b)
	}
	if status != http.StatusOK {
		log.mu.Lock()
		log.rejected++
		log.lastErr = why
		log.mu.Unlock()
		http.Error(w, why, status)
		return
	}
	if hangs && rc.outage.Load() {
		select {
		case <-rc.release:
		case <-r.Context().Done():
			log.mu.Lock()
			log.abandoned++
			log.mu.Unlock()
			return
		}
		if r.Context().Err() != nil {
			log.mu.Lock()
			log.abandoned++
			log.mu.Unlock()
			return
		}
	}
	nowMS := time.Now().UnixMilli()
	log.mu.Lock()
	log.requests++
	log.events += int64(len(b.Events))
	for _, e := range b.Events {
		if _, dup := log.seen[e.ID]; dup {
			log.duplicates++
			continue
		}
		log.seen[e.ID] = struct{}{}
		log.first = append(log.first, arrival{sentMS: e.TimeMS, delay: time.Duration(nowMS-e.TimeMS) * time.Millisecond})
	}
	log.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// decodeRecorded decodes a verified body and checks that every event has a
// name, an id and a time_ms.
func decodeRecorded(body []byte, b *recordedBody) (status int, why string) {
	if err := json.Unmarshal(body, b); err != nil {
		return http.StatusBadRequest, "body: " + err.Error()
	}
	if b.TimeMS == nil || *b.TimeMS == 0 {
		return http.StatusBadRequest, "body: no time_ms"
	}
	if len(b.Events) == 0 {
		return http.StatusBadRequest, "body: no events"
	}
	for i, e := range b.Events {
		if e.Name == "" || e.ID == "" || e.TimeMS == 0 {
			return http.StatusBadRequest, fmt.Sprintf("body: events[%d]: want a name, an id and a time_ms", i)
		}
	}
	return http.StatusOK, ""
}

// unique is the number of distinct events received.
func (l *eventLog) unique() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.seen))
}

// webhookStats is a copy of an eventLog's counters and arrivals.
type webhookStats struct {
	Requests, Rejected, Abandoned int64
	Events, Unique, Duplicates    int64
	Arrivals                      []arrival
	LastErr                       string
}

func (l *eventLog) stats() webhookStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return webhookStats{
		Requests: l.requests, Rejected: l.rejected, Abandoned: l.abandoned,
		Events: l.events, Unique: int64(len(l.seen)), Duplicates: l.duplicates,
		Arrivals: append([]arrival(nil), l.first...), LastErr: l.lastErr,
	}
}
