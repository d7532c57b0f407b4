package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/receiver"
)

func newReceiveCmd(e *env, g *globalFlags) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "receive",
		Short: "Run a local webhook receiver that verifies signatures and prints events",
		Long: `Listen for Pusher webhook POSTs, verify each one with the app secrets of the
config the way the official Pusher SDKs do, and print every event on its own
line. Invalid requests are answered 4xx with the reason (also printed):
401 for an unknown key, a bad signature or a stale time_ms; 400 for a
malformed body or header names in the wrong case; 415 for a Content-Type other
than exactly application/json; 405 for anything but POST; 505 for anything
but HTTP/1.1.

Use it to check a setup end to end: point a webhook's url at it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(e)
			if err != nil {
				return err
			}
			cfg, err := g.loadConfig(e)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			h := &printer{verifier: receiver.Verifier{Apps: receiver.AppsFromConfig(cfg)}, out: e.stdout}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
			receiver.EnableRawCase(srv)
			log.Info("receiving", "addr", ln.Addr().String(), "apps", len(cfg.Apps))
			fmt.Fprintf(e.stdout, "receiving on http://%s\n", ln.Addr())
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(receiver.NewRawCaseListener(ln)) }()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			accepted, rejected, events := h.counts()
			fmt.Fprintf(e.stdout, "received %d events in %d requests; rejected %d requests\n", events, accepted, rejected)
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8090", "address to listen on")
	return cmd
}

// printer verifies and prints deliveries.
type printer struct {
	verifier receiver.Verifier
	mu       sync.Mutex
	out      io.Writer
	accepted int
	rejected int
	events   int
}

func (p *printer) counts() (accepted, rejected, events int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, p.rejected, p.events
}

func (p *printer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, receiver.MaxBodyBytes))
	if err != nil {
		p.reject(w, r, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	d, err := p.verifier.Verify(r, body)
	if err != nil {
		var re *receiver.RejectError
		if errors.As(err, &re) {
			if re.Status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", http.MethodPost)
			}
			p.reject(w, r, re.Status, re.Reason)
		} else {
			p.reject(w, r, http.StatusBadRequest, err.Error())
		}
		return
	}
	p.mu.Lock()
	p.accepted++
	p.events += len(d.Body.Events)
	now := time.Now().Format("15:04:05.000")
	for _, ev := range d.Body.Events {
		fmt.Fprintf(p.out, "%s %s %s attempt=%d %s\n", now, d.AppID, d.Path, d.Attempt, describeEvent(ev))
	}
	p.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (p *printer) reject(w http.ResponseWriter, r *http.Request, status int, reason string) {
	p.mu.Lock()
	p.rejected++
	fmt.Fprintf(p.out, "%s REJECTED %d %s %s: %s\n", time.Now().Format("15:04:05.000"), status, r.Method, r.URL.Path, reason)
	p.mu.Unlock()
	http.Error(w, reason, status)
}

// describeEvent prints an event's fields readably, name first.
func describeEvent(ev payload.Event) string {
	var b strings.Builder
	b.WriteString(ev.Name)
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	field("channel", ev.Channel)
	field("event", ev.Event)
	field("user_id", ev.UserID)
	field("socket_id", ev.SocketID)
	if ev.SubscriptionCount != nil {
		fmt.Fprintf(&b, " subscription_count=%d", *ev.SubscriptionCount)
	}
	field("data", ev.Data)
	field("id", ev.ID)
	return b.String()
}
