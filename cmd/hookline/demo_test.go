package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hookline/hookline/localstack"
)

// TestDemoScript runs make demo's script with a freshly built binary and
// checks its summary line: the scenario's events routed by the filters to
// the right webhooks and the Lambda function, every signature verified, the
// down endpoint's event dead-lettered once and delivered after the redrive.
func TestDemoScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs scripts/demo; drop -short to run it")
	}
	localstack.SQSEndpoint(t) // same preconditions (node, npm ci) and the same CI rule: fail, never skip
	bin := filepath.Join(t.TempDir(), "hookline")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(filepath.Join("..", "..", "scripts", "demo"))
	cmd.Env = append(os.Environ(), "HOOKLINE="+bin, "AWS_ENDPOINT_URL_SQS=", "QUEUE_SQS_ENDPOINT_URL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/demo: %v\n%s", err, out)
	}
	summary := regexp.MustCompile(`demo: 7 events delivered to 3 webhooks \(expected 7\), 0 rejected; Lambda: 2 events \(expected 2\); ` +
		`down endpoint: 1 dead-lettered, 1 delivered after redrive \(expected 1 and 1\); queues drift on second run: 0`)
	if !summary.Match(out) {
		t.Errorf("summary missing or wrong:\n%s", out)
	}
}
