package main

import (
	"bufio"
	"context"
	"fmt"
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

// A running worker process reloads its config: an invalid file is refused
// and the running config kept; SIGHUP after a valid change routes new
// messages to the new webhook.
func TestWorkerReloadsConfigOnSIGHUP(t *testing.T) {
	const region = "us-east-1"
	endpoint := localstack.SQSEndpoint(t)
	client := localstack.SQSClient(t, region)
	name := localstack.UniqueQueueName(t, "hup")
	res, err := queues.Ensure(context.Background(), client, queues.Spec{Name: name}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	apps := receiver.StaticApps{"k": {ID: "app", Secret: "s"}}
	recA, recB := receiver.NewRecorder(apps), receiver.NewRecorder(apps)
	srvA, srvB := receiver.NewServer(recA), receiver.NewServer(recB)
	t.Cleanup(srvA.Close)
	t.Cleanup(srvB.Close)
	send := func(channel string) {
		body, _ := payload.Encode(&payload.Envelope{V: 1, ID: "hup-" + channel, AppID: "app",
			Events: []payload.Event{{Name: "member_added", Channel: channel, TimeMS: 1}}})
		if _, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{
			QueueUrl: aws.String(res.Main.URL), MessageBody: aws.String(string(body))}); err != nil {
			t.Fatal(err)
		}
	}
	doc := func(url, eventTypesKey string) string {
		return fmt.Sprintf(`{"app_manager":{"array":{"apps":[{"id":"app","key":"k","secret":"s",
			"webhooks":[{"url":%q,%q:["member_added"]}]}]}},
			"queue":{"sqs":{"region":%q,"endpoint_url":%q,"queue_name":%q,"wait_time_seconds":1}}}`,
			url, eventTypesKey, region, endpoint, name)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.json")
	write := func(s string) {
		if err := os.WriteFile(cfgPath+".new", []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(cfgPath+".new", cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	write(doc(srvA.URL, "event_types"))
	bin := filepath.Join(dir, "hookline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "worker", "--config", cfgPath, "--listen", "", "--log-format", "json")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	send("presence-1")
	if err := recA.WaitEvents(ctx, 1); err != nil {
		t.Fatalf("before the reload: %v", err)
	}
	write(doc(srvB.URL, "event_type")) // a typo: refused, A stays
	waitLine(t, lines, "config reload refused")
	send("presence-2")
	if err := recA.WaitEvents(ctx, 2); err != nil {
		t.Fatalf("after the refused reload: %v", err)
	}
	write(doc(srvB.URL, "event_types"))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for {
		// The file watch may reload first; wait for the signal's own reload.
		if l := waitLine(t, lines, "config reloaded"); strings.Contains(l, `"trigger":"sighup"`) {
			break
		}
	}
	send("presence-3")
	if err := recB.WaitEvents(ctx, 1); err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}
	if got := recB.Events()[0].Channel; got != "presence-3" {
		t.Errorf("new webhook got %s", got)
	}
	if n := len(recA.Events()); n != 2 {
		t.Errorf("old webhook got %d events, want 2", n)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}
