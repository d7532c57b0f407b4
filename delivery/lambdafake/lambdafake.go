// Package lambdafake is an httptest fake of the AWS Lambda Invoke REST API
// (POST /2015-03-31/functions/{name}/invocations) for tests: it honours
// X-Amz-Invocation-Type and the Qualifier query parameter, records every
// invocation, and answers as scripted (function errors, throttling with
// Retry-After, 5xx, unknown functions).
package lambdafake

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Invocation is one recorded Invoke call.
type Invocation struct {
	Function       string
	InvocationType string // "Event", "RequestResponse" or "DryRun"
	Qualifier      string
	Payload        []byte
	// At is when the call arrived.
	At time.Time
}

// Reply is a scripted answer.
type Reply struct {
	// Status 0 means success: 202 for Event, 200 for RequestResponse.
	Status int
	// ErrorType is the AWS error type (X-Amzn-ErrorType), e.g.
	// "TooManyRequestsException", "ResourceNotFoundException".
	ErrorType string
	// RetryAfter is the Retry-After header (seconds) of a throttle.
	RetryAfter string
	// FunctionError, when set, answers 200 with X-Amz-Function-Error.
	FunctionError string
	// Payload is the response payload of a RequestResponse invocation.
	Payload string
}

// Server is the fake. Make one with New; it closes with the test.
type Server struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []Invocation
	arrived int
	script  func(inv Invocation, n int) Reply
	changed chan struct{}
}

// New starts a fake on loopback. The default script answers success.
func New() *Server {
	s := &Server{changed: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Script sets how invocations are answered; n is the 1-based arrival
// number of the call.
func (s *Server) Script(f func(inv Invocation, n int) Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = f
}

// Calls returns the invocations so far.
func (s *Server) Calls() []Invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Invocation(nil), s.calls...)
}

// WaitCalls blocks until n invocations were answered or ctx is done.
func (s *Server) WaitCalls(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := len(s.calls), s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lambdafake: %d of %d invocations: %w", got, n, ctx.Err())
		case <-ch:
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	const prefix, suffix = "/2015-03-31/functions/", "/invocations"
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, prefix) || !strings.HasSuffix(r.URL.Path, suffix) {
		http.Error(w, "not the Invoke API", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	inv := Invocation{
		Function:       strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, prefix), suffix),
		InvocationType: r.Header.Get("X-Amz-Invocation-Type"),
		Qualifier:      r.URL.Query().Get("Qualifier"),
		Payload:        body,
		At:             time.Now(),
	}
	if inv.InvocationType == "" {
		inv.InvocationType = "RequestResponse" // the API's default
	}
	s.mu.Lock()
	s.arrived++
	n := s.arrived
	script := s.script
	s.mu.Unlock()
	var reply Reply
	if script != nil {
		reply = script(inv, n)
	}
	s.answer(w, inv, reply)
	s.mu.Lock()
	s.calls = append(s.calls, inv)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) answer(w http.ResponseWriter, inv Invocation, r Reply) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.ErrorType != "":
		w.Header().Set("X-Amzn-ErrorType", r.ErrorType)
		if r.RetryAfter != "" {
			w.Header().Set("Retry-After", r.RetryAfter)
		}
		status := r.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"Type":"User","message":"scripted %s"}`, r.ErrorType)
	case r.Status >= 400:
		w.WriteHeader(r.Status)
		fmt.Fprintf(w, `{"message":"scripted %d"}`, r.Status)
	case r.FunctionError != "":
		w.Header().Set("X-Amz-Function-Error", r.FunctionError)
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, r.Payload)
	case inv.InvocationType == "Event":
		w.WriteHeader(http.StatusAccepted)
	default:
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, r.Payload)
	}
}
