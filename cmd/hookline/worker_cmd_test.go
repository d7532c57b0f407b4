package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/queues"
	"github.com/hookline/hookline/receiver"
)

// startWorkerProcess builds hookline, creates a queue pair holding one
// message, and starts `hookline worker` against a receiver that holds the
// request until release is closed. It returns once the request arrived.
func startWorkerProcess(t *testing.T, release <-chan struct{}) (*exec.Cmd, <-chan error, <-chan string) {
	t.Helper()
	const region = "us-east-1"
	endpoint := localstack.SQSEndpoint(t)
	client := localstack.SQSClient(t, region)
	name := localstack.UniqueQueueName(t, "sig")
	res, err := queues.Ensure(context.Background(), client, queues.Spec{Name: name}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	rec := receiver.NewRecorder(receiver.StaticApps{"k": {ID: "app", Secret: "s"}})
	rec.Respond(func(*receiver.Delivery, int) receiver.Response { return receiver.Response{Status: 200, Block: release} })
	srv := receiver.NewServer(rec)
	t.Cleanup(srv.Close)
	body, _ := payload.Encode(&payload.Envelope{V: 1, ID: "sig-1", AppID: "app",
		Events: []payload.Event{{Name: "member_added", Channel: "presence-x", TimeMS: 1}}})
	if _, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(res.Main.URL), MessageBody: aws.String(string(body))}); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	doc := fmt.Sprintf(`{"app_manager":{"array":{"apps":[{"id":"app","key":"k","secret":"s",
		"webhooks":[{"url":%q,"event_types":["member_added"],"request_timeout_ms":60000}]}]}},
		"shutdown_grace_period":20,
		"queue":{"sqs":{"region":%q,"endpoint_url":%q,"queue_name":%q,"wait_time_seconds":1}}}`,
		srv.URL, region, endpoint, name)
	if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "hookline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "worker", "--config", cfgPath, "--listen", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if testing.Verbose() {
				fmt.Fprintln(os.Stderr, sc.Text())
			}
			select {
			case lines <- sc.Text():
			default: // nobody is reading: drop
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	arrived := make(chan error, 1)
	go func() { arrived <- rec.WaitRequests(ctx, 1) }()
	select {
	case err := <-exited:
		t.Fatalf("worker exited early: %v", err)
	case err := <-arrived:
		if err != nil {
			t.Fatal(err)
		}
	}
	return cmd, exited, lines
}

// waitLine waits for a stderr line containing part and returns it.
func waitLine(t *testing.T, lines <-chan string, part string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, part) {
				return l
			}
		case <-timeout:
			t.Fatalf("no stderr line containing %q", part)
		}
	}
}

// SIGTERM with a delivery running: the worker waits for it, then exits 0.
func TestWorkerExitsZeroAfterDrainOnSIGTERM(t *testing.T) {
	release := make(chan struct{})
	cmd, exited, lines := startWorkerProcess(t, release)

	// Health and metrics while it works.
	var serving struct{ Addr string }
	if err := json.Unmarshal([]byte(waitLine(t, lines, "serving health and metrics")), &serving); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "hookline_worker_messages_received_total 1"} {
		resp, err := http.Get("http://" + serving.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d %q, want 200 containing %q", path, resp.StatusCode, b, want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, "worker stopping")
	select {
	case err := <-exited:
		t.Fatalf("exited (%v) before the running delivery finished", err)
	default: // still draining: the held request has not been answered
	}
	close(release)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v, want status 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not exit within the grace period")
	}
}

// A second signal exits at once, non-zero.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	cmd, exited, lines := startWorkerProcess(t, release)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, "shutting down")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("exit: %v, want status 2", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second SIGTERM did not exit at once")
	}
}
