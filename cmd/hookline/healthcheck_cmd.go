package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// defaultHealthURL is the worker's liveness endpoint on its default --listen.
const defaultHealthURL = "http://127.0.0.1:9464/healthz"

func newHealthcheckCmd(e *env) *cobra.Command {
	var (
		url     string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the local /healthz answers 200 (a container health check for distroless images)",
		Long: `GET --url (default ` + defaultHealthURL + `, the worker's /healthz on its
default --listen) and exit 0 on 200, 1 otherwise, saying why on stderr. For
ingest use --url http://127.0.0.1:8080/healthz.

The images are distroless (no shell, no curl), so this is the command for an
ECS container health check or a Docker HEALTHCHECK:

  "healthCheck": {"command": ["CMD", "/hookline", "healthcheck"], ...}

It reads no config and needs no AWS credentials.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return usageError{fmt.Errorf("--url %q: %w", url, err)}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("healthcheck %s: %w", url, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck %s: %s %s", url, resp.Status, body)
			}
			fmt.Fprintf(e.stdout, "%s: %s", url, body)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", defaultHealthURL, "health endpoint to check")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "longest wait for the answer")
	return cmd
}
