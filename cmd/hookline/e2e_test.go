package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/queues"
	"github.com/hookline/hookline/receiver"
	"github.com/hookline/hookline/signing"
)

// background runs a hookline command in-process until the test ends and
// returns its stderr lines (JSON logs).
func background(t *testing.T, env func(string) (string, bool), args ...string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	pr, pw := io.Pipe()
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	go func() { done <- run(ctx, args, strings.NewReader(""), io.Discard, pw, env); pw.Close() }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("%s exited %d", args[0], code)
		}
	})
	return lines
}

// testQueue creates a queue pair on the local SQS for a test, gives the
// process test AWS credentials and returns the config's "queue" member
// naming it.
func testQueue(t *testing.T, prefix string) string {
	t.Helper()
	const region = "us-east-1"
	endpoint := localstack.SQSEndpoint(t)
	name := localstack.UniqueQueueName(t, prefix)
	if _, err := queues.Ensure(context.Background(), localstack.SQSClient(t, region), queues.Spec{Name: name}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	return fmt.Sprintf(`"queue":{"sqs":{"region":%q,"endpoint_url":%q,"queue_name":%q,"wait_time_seconds":1}}`, region, endpoint, name)
}

// writeFile writes a test's config file and returns its path.
func writeFile(t *testing.T, name, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startIngest runs ingest in-process on a free loopback port until the
// test ends and returns its address.
func startIngest(t *testing.T, env func(string) (string, bool), cfgPath string) string {
	t.Helper()
	lines := background(t, env, "ingest", "--config", cfgPath, "--listen", "127.0.0.1:0", "--log-format", "json")
	var listening struct{ Addr string }
	if err := json.Unmarshal([]byte(waitLine(t, lines, "ingest listening")), &listening); err != nil {
		t.Fatal(err)
	}
	return listening.Addr
}

// postPusher POSTs body to ingest's /pusher signed as Pusher signs
// webhooks, and returns the status.
func postPusher(t *testing.T, addr, key, secret string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/pusher", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", key)
	req.Header.Set("X-Pusher-Signature", signing.Sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A Pusher-signed POST to ingest → SQS → worker → a receiver that verifies
// the signature: the events arrive intact; the same POST twice is enqueued
// once.
func TestIngestToWorkerEndToEnd(t *testing.T) {
	queue := testQueue(t, "e2e")
	rec := receiver.NewRecorder(receiver.StaticApps{"key-1": {ID: "app-1", Secret: "secret-1"}})
	srv := receiver.NewServer(rec)
	t.Cleanup(srv.Close)
	cfgPath := writeFile(t, "config.json", fmt.Sprintf(`{"app_manager":{"array":{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1",
		"webhooks":[{"url":%q,"event_types":["member_added","client_event"]}]}]}},`+queue+`}`, srv.URL+"/hooks"))
	ingestAddr := startIngest(t, noEnv, cfgPath)
	background(t, noEnv, "worker", "--config", cfgPath, "--listen", "", "--log-format", "json", "--sqs-call-timeout", "3s")

	body := []byte(fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"member_added","channel":"presence-lobby","user_id":"u1"},`+
		`{"name":"client_event","channel":"presence-lobby","event":"client-wave","data":"{\"to\":\"u2\"}","socket_id":"12.34","user_id":"u1"}]}`,
		time.Now().UnixMilli()))
	post := func() int { return postPusher(t, ingestAddr, "key-1", "secret-1", body) }
	if got := post(); got != 200 {
		t.Fatalf("first POST: %d", got)
	}
	if got := post(); got != 200 {
		t.Fatalf("repeated POST: %d", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rec.WaitEvents(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// A third event through a different POST proves the pipeline is still
	// flowing; had the repeat been enqueued, its events would precede it.
	body = []byte(fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"member_added","channel":"presence-lobby","user_id":"u9"}]}`, time.Now().UnixMilli()))
	if got := post(); got != 200 {
		t.Fatalf("third POST: %d", got)
	}
	if err := rec.WaitEvents(ctx, 3); err != nil {
		t.Fatal(err)
	}
	evs := rec.Events()
	if len(evs) != 3 || len(rec.Rejections()) != 0 {
		t.Fatalf("got %d events (%d rejections), want 3: the repeated POST must not be enqueued again", len(evs), len(rec.Rejections()))
	}

	// hookline send: JSON lines on stdin straight to SQS (object data becomes
	// its JSON string), and one event from flags through ingest.
	var out bytes.Buffer
	stdin := strings.NewReader(`{"name":"client_event","channel":"presence-lobby","event":"client-move","data":{"x":1}}` + "\n\n")
	if code := run(context.Background(), []string{"send", "--config", cfgPath, "--app", "app-1", "--log-format", "json"},
		stdin, &out, io.Discard, noEnv); code != 0 {
		t.Fatalf("send from stdin: exit %d", code)
	}
	if code := run(context.Background(), []string{"send", "--config", cfgPath, "--app", "app-1", "--name", "member_added",
		"--channel", "presence-lobby", "--user-id", "u7", "--ingest-url", "http://" + ingestAddr},
		strings.NewReader(""), &out, io.Discard, noEnv); code != 0 {
		t.Fatalf("send via ingest: exit %d", code)
	}
	for _, want := range []string{"enqueued app-1 client_event channel=presence-lobby event=client-move data={\"x\":1}",
		"sent 1 events for app app-1 via SQS", "sent 1 events for app app-1 via ingest"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("send printed:\n%s\nwant %q", out.String(), want)
		}
	}
	if err := rec.WaitEvents(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if e := evs[1]; e.Name != "client_event" || e.Event != "client-wave" || e.Data != `{"to":"u2"}` || e.SocketID != "12.34" || e.UserID != "u1" {
		t.Errorf("client_event not intact: %+v", e)
	}
	if e := evs[0]; e.Name != "member_added" || e.Channel != "presence-lobby" || e.UserID != "u1" || e.TimeMS == 0 {
		t.Errorf("member_added not intact: %+v", e)
	}
}
