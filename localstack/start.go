package localstack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// StartFauxqs starts a new fauxqs emulator for local tooling outside tests (benchmarks,
// scripts), the way the test harness does: `node localstack/fauxqs.mjs --port 0`, bound to
// 127.0.0.1 on a free port. It returns the endpoint URL and a function that stops it (SIGTERM,
// then wait, killing it after 10 s); the caller must call stop. The emulator also exits when the
// calling process dies, because it watches its stdin.
//
// Unlike SQSEndpoint it ignores AWS_ENDPOINT_URL_SQS, never skips, and starts a new emulator on
// every call. It fails when node is not on PATH or `npm ci` has not been run in localstack/.
func StartFauxqs() (endpoint string, stop func() error, err error) {
	s, err := fauxqsLauncher.start(0)
	if err != nil {
		return "", nil, fmt.Errorf("localstack: start fauxqs: %w", err)
	}
	return s.url, s.stop, nil
}

// FauxqsVersion is the version of the installed fauxqs package (from its package.json), for
// reports.
func FauxqsVersion() (string, error) {
	dir, err := launcherDir()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "fauxqs", "package.json"))
	if err != nil {
		return "", fmt.Errorf("localstack: fauxqs version: %w", err)
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", fmt.Errorf("localstack: fauxqs version: %w", err)
	}
	return pkg.Version, nil
}
