package worker_test

import (
	"io"
	"log/slog"
	"os"
	"testing"
)

// testLogger discards worker logs unless HOOKLINE_TEST_LOG is set (then
// they go to stderr at debug level).
func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	var w io.Writer = io.Discard
	if os.Getenv("HOOKLINE_TEST_LOG") != "" {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
