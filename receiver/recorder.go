package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/hookline/hookline/payload"
)

// MaxBodyBytes is the largest body a Recorder reads; larger ones are
// rejected with 413.
const MaxBodyBytes = 16 << 20

// Response is a Recorder's scripted answer to an accepted delivery.
type Response struct {
	// Status is the HTTP status. Default 200.
	Status int
	// Header is added to the response (Retry-After, Location, ...).
	Header http.Header
	// Body is the response body. Default empty.
	Body []byte
	// Block, when not nil, holds the answer until it is closed (or the
	// client goes away, in which case nothing is answered and the
	// delivery's Status stays 0).
	Block <-chan struct{}
}

// Sequence scripts answers by arrival: the n-th request gets statuses[n-1],
// and every request after the last gets the last status. Sequence(500, 500,
// 200) fails twice, then succeeds. With no statuses every answer is 200.
func Sequence(statuses ...int) func(d *Delivery, n int) Response {
	return func(_ *Delivery, n int) Response {
		if len(statuses) == 0 {
			return Response{Status: http.StatusOK}
		}
		return Response{Status: statuses[min(n, len(statuses))-1]}
	}
}

// Recorder is an http.Handler that verifies every request with Verifier,
// answers a rejection with its status and reason (and records it), and
// records accepted deliveries, answering them as scripted by Respond (200
// by default). Make one with NewRecorder. All methods are safe for concurrent use. Waiting methods are
// woken by each record, never by polling.
type Recorder struct {
	// Verifier checks requests; set its fields before the first request.
	Verifier Verifier

	mu         sync.Mutex
	respond    func(d *Delivery, n int) Response
	requests   int
	deliveries []*Delivery
	rejections []*RejectError
	events     int           // events of 2xx-answered deliveries
	changed    chan struct{} // closed and replaced on every change
}

var _ http.Handler = (*Recorder)(nil)

// NewRecorder returns a Recorder that verifies requests against apps with
// the default clock and skew.
func NewRecorder(apps Apps) *Recorder {
	return &Recorder{Verifier: Verifier{Apps: apps}, changed: make(chan struct{})}
}

// Respond sets the function that answers accepted deliveries; n is the
// 1-based arrival number of the request among all requests to the
// recorder, rejected ones included. f gets a copy of the delivery and may
// run concurrently with itself. nil restores the default 200.
func (rec *Recorder) Respond(f func(d *Delivery, n int) Response) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.respond = f
}

// ServeHTTP implements http.Handler.
func (rec *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rec.mu.Lock()
	rec.requests++
	n := rec.requests
	rec.notifyLocked()
	rec.mu.Unlock()

	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			rec.rejectRequest(w, reject(RuleBody, http.StatusRequestEntityTooLarge, "body over %d bytes", MaxBodyBytes))
		} else {
			rec.rejectRequest(w, reject(RuleBody, http.StatusBadRequest, "reading body: %v", err))
		}
		return
	}
	d, err := rec.Verifier.Verify(req, body)
	if err != nil {
		var re *RejectError
		if !errors.As(err, &re) {
			re = reject(RuleBody, http.StatusBadRequest, "%v", err)
		}
		rec.rejectRequest(w, re)
		return
	}
	d.Seq = n

	rec.mu.Lock()
	rec.deliveries = append(rec.deliveries, d)
	respond := rec.respond
	rec.notifyLocked()
	rec.mu.Unlock()

	resp := Response{Status: http.StatusOK}
	if respond != nil {
		dc := *d
		resp = respond(&dc, n)
		if resp.Status == 0 {
			resp.Status = http.StatusOK
		}
	}
	if resp.Block != nil {
		select {
		case <-resp.Block:
		case <-req.Context().Done():
			return // the client left: nothing answered, Status stays 0
		}
	}

	// Record before answering: once a sender sees the answer, Events and
	// Deliveries show it.
	rec.mu.Lock()
	d.Status = resp.Status
	if resp.Status >= 200 && resp.Status < 300 {
		rec.events += len(d.Body.Events)
	}
	rec.notifyLocked()
	rec.mu.Unlock()

	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if len(resp.Body) > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

func (rec *Recorder) rejectRequest(w http.ResponseWriter, re *RejectError) {
	rec.mu.Lock()
	rec.rejections = append(rec.rejections, re)
	rec.notifyLocked()
	rec.mu.Unlock()
	if re.Rule == RuleMethod {
		w.Header().Set("Allow", http.MethodPost)
	}
	http.Error(w, re.Reason, re.Status)
}

func (rec *Recorder) notifyLocked() {
	if rec.changed != nil {
		close(rec.changed)
	}
	rec.changed = make(chan struct{})
}

// Requests returns how many requests have arrived, rejected ones included.
func (rec *Recorder) Requests() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.requests
}

// Deliveries returns snapshots of the accepted deliveries in arrival order
// (Status 0: not answered yet, or the client left). Their Header, RawBody
// and Body are shared and must not be modified.
func (rec *Recorder) Deliveries() []*Delivery {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]*Delivery, len(rec.deliveries))
	for i, d := range rec.deliveries {
		dc := *d
		out[i] = &dc
	}
	return out
}

// Rejections returns the rejected requests' errors in the order they were
// answered.
func (rec *Recorder) Rejections() []*RejectError {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]*RejectError, len(rec.rejections))
	for i, re := range rec.rejections {
		c := *re
		out[i] = &c
	}
	return out
}

// Events returns the events of every delivery answered with a 2xx, in
// arrival order of the deliveries, flattened. Retried events appear once
// per accepted delivery: de-duplicate by Event.ID if needed.
func (rec *Recorder) Events() []payload.Event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []payload.Event
	for _, d := range rec.deliveries {
		if d.Status >= 200 && d.Status < 300 {
			out = append(out, d.Body.Events...)
		}
	}
	return out
}

// WaitEvents blocks until at least n events were accepted (their delivery
// answered 2xx) or ctx is done; then it returns an error saying how many
// arrived.
func (rec *Recorder) WaitEvents(ctx context.Context, n int) error {
	return rec.wait(ctx, "events accepted", n, func() int { return rec.events })
}

// WaitRequests blocks until at least n requests arrived (rejected ones
// included; a request counts as soon as its handler starts) or ctx is done.
func (rec *Recorder) WaitRequests(ctx context.Context, n int) error {
	return rec.wait(ctx, "requests", n, func() int { return rec.requests })
}

// WaitRejections blocks until at least n requests were rejected or ctx is
// done.
func (rec *Recorder) WaitRejections(ctx context.Context, n int) error {
	return rec.wait(ctx, "rejections", n, func() int { return len(rec.rejections) })
}

func (rec *Recorder) wait(ctx context.Context, what string, n int, count func() int) error {
	for {
		rec.mu.Lock()
		if rec.changed == nil {
			rec.changed = make(chan struct{})
		}
		got, ch := count(), rec.changed
		rec.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("receiver: %d of %d %s: %w", got, n, what, context.Cause(ctx))
		}
	}
}
