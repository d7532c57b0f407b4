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
	if code != 1 || !strings.Contains(stderr, "nope.json") || !strings.Contains(stderr, "from --config") ||
		!strings.Contains(stderr, "pass --config FILE or set HOOKLINE_CONFIG") {
		t.Errorf("exit %d, stderr %q; want the path, where it came from and how to set it", code, stderr)
	}
	missing := filepath.Join(t.TempDir(), "env.json")
	fromEnv := func(k string) (string, bool) {
		if k == "HOOKLINE_CONFIG" {
			return missing, true
		}
		return "", false
	}
	if code, _, stderr := hookline(t, fromEnv, "config", "check"); code != 1 || !strings.Contains(stderr, missing+" (from HOOKLINE_CONFIG)") {
		t.Errorf("exit %d, stderr %q; want it to name HOOKLINE_CONFIG", code, stderr)
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

// --log-format text writes plain text when stderr is not a terminal: no
// ANSI colour codes in files or log collectors.
func TestTextLogsHaveNoColourOffATerminal(t *testing.T) {
	var stderr bytes.Buffer
	g := &globalFlags{logFormat: "text", logLevel: "info"}
	log, err := g.logger(&env{stderr: &stderr, lookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	log.Warn("delivery", "webhook", "wh_1", "status", 503)
	if out := stderr.String(); !strings.Contains(out, "WRN delivery webhook=wh_1 status=503") || strings.Contains(out, "\x1b[") {
		t.Errorf("text log off a terminal: %q; want plain text without colour codes", out)
	}
}

// Without AWS credentials a command that talks to SQS fails at once,
// saying what to set (not at the first call, in the SDK's words).
func TestMissingAWSCredentialsSayWhatToSet(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgPath, []byte(`{"queue":{"sqs":{"region":"us-east-1","endpoint_url":"http://127.0.0.1:1"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := hookline(t, noEnv, "queues", "create", "--config", cfgPath)
	if code != 1 || !strings.Contains(stderr, "could not get AWS credentials") ||
		!strings.Contains(stderr, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
		t.Errorf("exit %d, stderr %q; want 1 saying which variables to set", code, stderr)
	}
}

// config check reads Sockudo's config.toml like its config.json, ${VAR}
// expanded from the environment; an unset variable is an error naming it.
func TestConfigCheckReadsTOML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	doc := "[[app_manager.array.apps]]\nid = \"app-1\"\nkey = \"k\"\nsecret = \"${APP_SECRET}\"\n\n" +
		"[[app_manager.array.apps.webhooks]]\nurl = \"https://hooks.example/x\"\nevent_types = [\"member_added\"]\n\n" +
		"[queue.sqs]\nregion = \"eu-west-1\"\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	withSecret := func(k string) (string, bool) {
		if k == "APP_SECRET" {
			return "from-env", true
		}
		return "", false
	}
	code, stdout, stderr := hookline(t, withSecret, "config", "check", "--config", path)
	if code != 0 || !strings.Contains(stderr, "OK (1 apps, 1 webhooks)") || strings.Contains(stdout, "from-env") {
		t.Errorf("exit %d, stdout %q, stderr %q; want OK and the secret redacted", code, stdout, stderr)
	}
	if code, _, stderr := hookline(t, noEnv, "config", "check", "--config", path); code != 1 || !strings.Contains(stderr, "line 4: ${APP_SECRET}: APP_SECRET is not set") {
		t.Errorf("unset APP_SECRET: exit %d, stderr %q", code, stderr)
	}
}
