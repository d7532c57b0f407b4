package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func noEnv(string) (string, bool) { return "", false }

// hookline runs the CLI in-process and returns its exit code and output.
func hookline(t *testing.T, lookupEnv func(string) (string, bool), args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, lookupEnv)
	return code, stdout.String(), stderr.String()
}

func TestConfigCheckAcceptsSeedExamplesAndSockudoFixture(t *testing.T) {
	for _, name := range []string{"seed-http.json", "seed-lambda.json", "seed-mixed.json", "sockudo-fixture.json"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "..", "config", "testdata", name)
			code, stdout, stderr := hookline(t, noEnv, "config", "check", "--config", path)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if !strings.Contains(stderr, path+": OK") {
				t.Errorf("stderr lacks the OK line:\n%s", stderr)
			}
			if strings.HasPrefix(name, "seed-lambda") || strings.HasPrefix(name, "seed-mixed") {
				if !strings.Contains(stderr, "invocation_type Event: a 202 only means Lambda queued the event") {
					t.Errorf("no note about Event invocations:\n%s", stderr)
				}
			}
			if !strings.Contains(stdout, `"secret": "[redacted]"`) {
				t.Errorf("stdout lacks the redacted secret:\n%s", stdout)
			}
			for _, secret := range []string{"app-secret-wh", "mysecrettoken", "seed-mixed-secret", "Bearer your-api-token", `"app-secret"`} {
				if strings.Contains(stdout+stderr, secret) {
					t.Errorf("output reveals %q", secret)
				}
			}
		})
	}
}

func TestConfigCheckRejectsTyposNamingThePath(t *testing.T) {
	const hook = `app_manager.array.apps[0].webhooks[0]`
	tests := []struct{ name, webhook, want string }{
		{"filters", `{"url":"https://x.test","event_types":["member_added"],"filters":{}}`,
			hook + `.filters: unknown key; did you mean "filter"?`},
		{"channel_prefix outside filter", `{"url":"https://x.test","event_types":["member_added"],"channel_prefix":"presence-"}`,
			hook + `.channel_prefix: unknown key; "channel_prefix" belongs inside "filter"`},
		{"unknown channel_type", `{"url":"https://x.test","event_types":["member_added"],"filter":{"channel_type":"secret"}}`,
			hook + `.filter.channel_type: "secret"`},
		{"no target", `{"event_types":["member_added"]}`, hook + `: has no target`},
		{"empty event_types", `{"url":"https://x.test","event_types":[]}`, hook + `.event_types: must not be empty`},
		{"reserved header", `{"url":"https://x.test","event_types":["member_added"],"headers":{"X-Pusher-Key":"k"}}`,
			hook + `.headers.X-Pusher-Key: collides`},
		{"Content-Type header", `{"url":"https://x.test","event_types":["member_added"],"headers":{"Content-Type":"text/plain"}}`,
			hook + `.headers.Content-Type: collides`},
		{"identical webhooks", `{"url":"https://x.test","event_types":["member_added"]},{"url":"https://x.test","event_types":["member_added"]}`,
			`app_manager.array.apps[0].webhooks[1]: identical to ` + hook},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			doc := `{"app_manager":{"driver":"memory","array":{"apps":[{"id":"a","key":"k","secret":"s3cr3t","webhooks":[` + tt.webhook + `]}]}}}`
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := hookline(t, noEnv, "config", "check", "--config", path)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("printed a config despite errors:\n%s", stdout)
			}
		})
	}
}

func TestConfigCheckWarnsAboutPlainHTTP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	doc := `{"app_manager":{"array":{"apps":[{"id":"a","key":"k","secret":"s","webhooks":[{"url":"http://127.0.0.1:8090/h","event_types":["member_added"]}]}]}}}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := hookline(t, noEnv, "config", "check", "--config", path)
	if code != 0 || !strings.Contains(stderr, `warning: app_manager.array.apps[0].webhooks[0].url: "http://127.0.0.1:8090/h" is not https`) {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestMissingConfigFileFails(t *testing.T) {
	code, _, stderr := hookline(t, noEnv, "config", "check", "--config", filepath.Join(t.TempDir(), "nope.json"))
	if code != 1 || !strings.Contains(stderr, "nope.json") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestUnknownFlagIsUsageError(t *testing.T) {
	code, _, stderr := hookline(t, noEnv, "config", "check", "--no-such-flag")
	if code != 2 {
		t.Errorf("exit %d, want 2; stderr %q", code, stderr)
	}
}

func TestIngestRejectsNonPositiveReadTimeout(t *testing.T) {
	for _, args := range [][]string{{"--read-timeout", "0s"}, {"--read-timeout", "-1s"}, {"--timeout", "-1s"}} {
		code, _, stderr := hookline(t, noEnv, append([]string{"ingest"}, args...)...)
		if code == 0 || !strings.Contains(stderr, args[0]) {
			t.Errorf("ingest %v: exit %d, stderr %q; want a failure naming %s", args, code, stderr, args[0])
		}
	}
}
