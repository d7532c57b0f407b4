package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func load(t *testing.T, name string) *Config {
	t.Helper()
	cfg, err := Load(filepath.Join("testdata", name), Sources{LookupEnv: noEnv, ReadFile: os.ReadFile}, Overrides{})
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return cfg
}

func TestLoadSeedHTTPExample(t *testing.T) {
	cfg := load(t, "seed-http.json")
	if len(cfg.Apps) != 1 {
		t.Fatalf("apps = %d, want 1", len(cfg.Apps))
	}
	a := cfg.Apps[0]
	if a.ID != "my-app-with-webhooks" || a.Key != "app-key-wh" || a.Secret.Reveal() != "app-secret-wh" || !a.Enabled {
		t.Errorf("app = %+v", a)
	}
	if len(a.Webhooks) != 1 {
		t.Fatalf("webhooks = %d, want 1", len(a.Webhooks))
	}
	wh := a.Webhooks[0]
	if wh.URL != "https://api.example.com/sockudo/events" {
		t.Errorf("url = %q", wh.URL)
	}
	if got := wh.Headers["X-Custom-Auth"]; got != "mysecrettoken" {
		t.Errorf("X-Custom-Auth = %q", got)
	}
	if got := wh.Headers["User-Agent"]; got != "Sockudo-Webhook/1.0" {
		t.Errorf("User-Agent = %q", got)
	}
	if !strings.HasPrefix(wh.ID, "wh_") || len(wh.ID) != 19 {
		t.Errorf("derived id = %q, want wh_ + 16 hex", wh.ID)
	}
	if cfg.Webhooks.Batching.Duration != 75*time.Millisecond || !cfg.Webhooks.Batching.Enabled {
		t.Errorf("batching = %+v", cfg.Webhooks.Batching)
	}
	if cfg.Webhooks.Batching.Size != DefaultBatchingSize || wh.RequestTimeout != DefaultRequestTimeout {
		t.Errorf("defaults not applied: size %d timeout %v", cfg.Webhooks.Batching.Size, wh.RequestTimeout)
	}
	if !hasWarning(cfg, "headers.User-Agent") {
		t.Errorf("no warning for the User-Agent override; warnings: %q", cfg.Warnings)
	}
}

func hasWarning(cfg *Config, part string) bool {
	for _, w := range cfg.Warnings {
		if strings.Contains(w, part) {
			return true
		}
	}
	return false
}

func TestLoadSeedLambdaExample(t *testing.T) {
	cfg := load(t, "seed-lambda.json")
	wh := cfg.Apps[0].Webhooks[0]
	if wh.Lambda == nil {
		t.Fatal("lambda target not parsed")
	}
	want := Lambda{FunctionName: "sockudoPresenceHandler", Region: "us-east-1", InvocationType: "Event", PayloadFormat: "pusher"}
	if *wh.Lambda != want {
		t.Errorf("lambda = %+v, want %+v", *wh.Lambda, want)
	}
	if wh.FilterSpec.ChannelPrefix != "presence-" {
		t.Errorf("channel_prefix = %q", wh.FilterSpec.ChannelPrefix)
	}
}

func TestLoadSeedMixedExample(t *testing.T) {
	cfg := load(t, "seed-mixed.json")
	hooks := cfg.Apps[0].Webhooks
	if len(hooks) != 3 {
		t.Fatalf("webhooks = %d, want 3", len(hooks))
	}
	if hooks[1].Lambda == nil || hooks[1].Lambda.FunctionName != "handleClientEvents" {
		t.Fatalf("lambda_function not parsed: %+v", hooks[1].Lambda)
	}
	if hooks[1].Lambda.InvocationType != "Event" || hooks[1].Lambda.PayloadFormat != "pusher" {
		t.Errorf("lambda_function defaults = %+v, want Event / pusher", *hooks[1].Lambda)
	}
	// lambda_function takes the worker's region, not Sockudo's fixed us-east-1.
	if hooks[1].Lambda.Region != cfg.Queue.Region {
		t.Errorf("lambda region = %q, want the queue's %q", hooks[1].Lambda.Region, cfg.Queue.Region)
	}
	if hooks[1].FilterSpec.ChannelType != "presence" || hooks[2].FilterSpec.ChannelPrefix != "presence-chat" {
		t.Errorf("filters = %+v / %+v", hooks[1].FilterSpec, hooks[2].FilterSpec)
	}
	if hooks[0].ID == hooks[2].ID {
		t.Error("different webhooks share an id")
	}
}

func TestLoadSockudoFixture(t *testing.T) {
	cfg := load(t, "sockudo-fixture.json")
	if len(cfg.Apps) != 1 || cfg.Apps[0].ID != "app-id" || cfg.Apps[0].Key != "app-key" {
		t.Fatalf("apps = %+v", cfg.Apps)
	}
	if cfg.Webhooks.Batching.Enabled {
		t.Error("webhooks.batching.enabled: false not applied")
	}
	if cfg.ShutdownGracePeriod != 2*time.Second {
		t.Errorf("shutdown_grace_period = %v, want 2s", cfg.ShutdownGracePeriod)
	}
	if !hasWarning(cfg, "queue.driver") {
		t.Errorf("no warning for queue.driver memory; warnings: %q", cfg.Warnings)
	}
}

func TestSeedFragmentsExplainWhereWebhooksGo(t *testing.T) {
	for _, name := range []string{"seed-lambda.fragment.json", "seed-mixed.fragment.json"} {
		_, err := Load(filepath.Join("testdata", name), Sources{LookupEnv: noEnv, ReadFile: os.ReadFile}, Overrides{})
		if err == nil || !strings.Contains(err.Error(), "webhooks: is an array; a list of webhooks belongs to an app") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// appWith wraps webhook objects (JSON text) in a one-app config.
func appWith(webhooks string) string {
	return `{"app_manager":{"driver":"memory","array":{"apps":[{"id":"a1","key":"k1","secret":"s1","webhooks":[` +
		webhooks + `]}]}}}`
}

func TestRejectsWithPathAndHint(t *testing.T) {
	const base = `app_manager.array.apps[0].webhooks`
	tests := []struct {
		name, doc, want string
	}{
		{"filters typo", appWith(`{"url":"https://x.test/h","event_types":["channel_occupied"],"filters":{"channel_prefix":"a"}}`),
			base + `[0].filters: unknown key; did you mean "filter"?`},
		{"channel_prefix outside filter", appWith(`{"url":"https://x.test/h","event_types":["channel_occupied"],"channel_prefix":"presence-"}`),
			base + `[0].channel_prefix: unknown key; "channel_prefix" belongs inside "filter"`},
		{"unknown channel_type", appWith(`{"url":"https://x.test/h","event_types":["channel_occupied"],"filter":{"channel_type":"privat"}}`),
			base + `[0].filter.channel_type: "privat"`},
		{"no target", appWith(`{"event_types":["channel_occupied"]}`),
			base + `[0]: has no target; set "url"`},
		{"empty event_types", appWith(`{"url":"https://x.test/h","event_types":[]}`),
			base + `[0].event_types: must not be empty`},
		{"missing event_types", appWith(`{"url":"https://x.test/h"}`),
			base + `[0].event_types: is required`},
		{"X-Pusher header", appWith(`{"url":"https://x.test/h","event_types":["channel_occupied"],"headers":{"x-pusher-signature":"abc"}}`),
			base + `[0].headers.x-pusher-signature: collides with the Pusher signature headers`},
		{"Content-Type header", appWith(`{"url":"https://x.test/h","event_types":["channel_occupied"],"headers":{"content-type":"text/plain"}}`),
			base + `[0].headers.content-type: collides with a header Hookline sets`},
		{"identical webhooks", appWith(`{"url":"https://x.test/h","event_types":["member_added"]},{"url":"https://x.test/h","event_types":["member_added"]}`),
			base + `[1]: identical to ` + base + `[0]`},
		{"invalid regex", appWith(`{"url":"https://x.test/h","event_types":["channel_occupied"],"filter":{"channel_pattern":"(["}}`),
			base + `[0].filter.channel_pattern: "(["`},
		{"unknown filter key", appWith(`{"url":"https://x.test/h","event_types":["channel_occupied"],"filter":{"channel_prefx":"a"}}`),
			base + `[0].filter.channel_prefx: unknown key; did you mean "channel_prefix"?`},
		{"url and lambda", appWith(`{"url":"https://x.test/h","lambda_function":"f","event_types":["channel_occupied"]}`),
			base + `[0]: has both url and a Lambda target`},
		{"bad invocation type", appWith(`{"lambda":{"function_name":"f","invocation_type":"Async"},"event_types":["channel_occupied"]}`),
			base + `[0].lambda.invocation_type: "Async"`},
		{"bad url scheme", appWith(`{"url":"ftp://x.test/h","event_types":["channel_occupied"]}`),
			base + `[0].url: "ftp://x.test/h": scheme must be http or https`},
		{"event_types not strings", appWith(`{"url":"https://x.test/h","event_types":["a",3]}`),
			base + `[0].event_types[1]: must be a string, got 3`},
		{"app manager Hookline lacks", `{"app_manager":{"driver":"surrealdb"}}`,
			`app_manager.driver: "surrealdb" is not supported by Hookline; use memory (apps under app_manager.array), pgsql, mysql or dynamodb`},
		{"database table name", `{"app_manager":{"driver":"pgsql"},"database":{"postgres":{"table_name":"apps; drop"}}}`,
			`database.postgres.table_name: "apps; drop": use letters, digits and '_'`},
		{"database port", `{"app_manager":{"driver":"mysql"},"database":{"mysql":{"port":"x"}}}`,
			`database.mysql.port: must be an integer`},
		{"wait time out of range", `{"queue":{"sqs":{"wait_time_seconds":30}}}`,
			`queue.sqs.wait_time_seconds: 30 is out of range; allowed 0 to 20`},
		{"invalid region", `{"queue":{"sqs":{"region":"us-east"}}}`,
			`queue.sqs.region: "us-east" is not an AWS region (like us-east-1`},
		{"region in capitals", `{"queue":{"sqs":{"region":"US-EAST-1"}}}`,
			`queue.sqs.region: "US-EAST-1" is not an AWS region`},
		{"sqs key typo", `{"queue":{"sqs":{"endpoint":"http://127.0.0.1:1"}}}`,
			`queue.sqs.endpoint: unknown key; did you mean "endpoint_url"?`},
		{"missing secret", `{"app_manager":{"array":{"apps":[{"id":"a1","key":"k1"}]}}}`,
			`app_manager.array.apps[0].secret: is required (or set HOOKLINE_APP_A1_SECRET`},
		{"duplicate app key", `{"app_manager":{"array":{"apps":[{"id":"a1","key":"k","secret":"s"},{"id":"a2","key":"k","secret":"s"}]}}}`,
			`app_manager.array.apps[1].key: "k" is also the key of app_manager.array.apps[0]`},
		{"app id with a space", `{"app_manager":{"array":{"apps":[{"id":"my app","key":"k","secret":"s"}]}}}`,
			`app_manager.array.apps[0].id: "my app": use 1 to 128 printable ASCII characters`},
		{"syntax error", "{\n  \"queue\": {,\n}", `line 2, column 13`},
		{"webhooks in both layouts", `{"app_manager":{"array":{"apps":[{"id":"a1","key":"k1","secret":"s1",` +
			`"webhooks":[{"url":"https://x.test/a","event_types":["x"]}],` +
			`"policy":{"webhooks":[{"url":"https://x.test/b","event_types":["x"]}]}}]}}}`,
			`app_manager.array.apps[0].policy.webhooks: webhooks are also listed at app_manager.array.apps[0].webhooks`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), Sources{LookupEnv: noEnv}, Overrides{})
			if err == nil {
				t.Fatalf("accepted; want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

func TestReportsEveryProblem(t *testing.T) {
	doc := appWith(`{"url":"https://x.test/h","filters":{}},{"event_types":["a"]}`)
	_, err := Parse([]byte(doc), Sources{LookupEnv: noEnv}, Overrides{})
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %T %v, want Errors", err, err)
	}
	if len(errs) != 3 {
		t.Fatalf("got %d errors, want 3 (filters, event_types, no target):\n%v", len(errs), err)
	}
}

func TestWarnsAboutPlainHTTP(t *testing.T) {
	cfg, err := Parse([]byte(appWith(`{"url":"http://127.0.0.1:9/h","event_types":["channel_occupied"]}`)),
		Sources{LookupEnv: noEnv}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(cfg, `webhooks[0].url: "http://127.0.0.1:9/h" is not https`) {
		t.Errorf("warnings = %q", cfg.Warnings)
	}
}

func TestPolicyWebhooksLayoutAndStringNumbers(t *testing.T) {
	doc := `{"app_manager":{"driver":"memory","array":{"apps":[{"id":"a1","key":"k1","secret":"s1",
		"max_connections":"1000","policy":{"limits":{"max_connections":5},"webhooks":[
		{"url":"https://x.test/h","event_types":["member_added"],"request_timeout_ms":"2500",
		 "retry":{"max_attempts":"3","initial_backoff_ms":10,"max_backoff_ms":"40"},
		 "filter":{"channel_namespaces":["chat","orders"]}}]}}]}},
		"webhooks":{"retry":{"max_elapsed_time_ms":1000},"request_timeout_ms":"4000"}}`
	cfg, err := Parse([]byte(doc), Sources{LookupEnv: noEnv}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	wh := cfg.Apps[0].Webhooks[0]
	if wh.RequestTimeout != 2500*time.Millisecond {
		t.Errorf("request timeout = %v", wh.RequestTimeout)
	}
	want := Retry{Enabled: true, MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond,
		MaxBackoff: 40 * time.Millisecond, MaxElapsedTime: time.Second}
	if wh.Retry != want {
		t.Errorf("retry = %+v, want %+v (webhook over global over defaults)", wh.Retry, want)
	}
	if cfg.Webhooks.RequestTimeout != 4*time.Second {
		t.Errorf("global request timeout = %v", cfg.Webhooks.RequestTimeout)
	}
	if got := fmt.Sprint(wh.FilterSpec.ChannelNamespaces); got != "[chat orders]" {
		t.Errorf("namespaces = %s", got)
	}
}

func TestEnvPrecedence(t *testing.T) {
	file := `{"queue":{"sqs":{"region":"eu-west-1","endpoint_url":"http://127.0.0.1:1"}}}`
	tests := []struct {
		name       string
		env        map[string]string
		ov         Overrides
		wantRegion string
		wantURL    string
	}{
		{"file", nil, Overrides{}, "eu-west-1", "http://127.0.0.1:1"},
		{"aws env beats file", map[string]string{"AWS_REGION": "us-west-2", "AWS_ENDPOINT_URL": "http://127.0.0.1:2"},
			Overrides{}, "us-west-2", "http://127.0.0.1:2"},
		{"service endpoint beats generic", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:2", "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:3"},
			Overrides{}, "eu-west-1", "http://127.0.0.1:3"},
		{"sockudo env beats aws env", map[string]string{"AWS_REGION": "us-west-2", "QUEUE_SQS_REGION": "ap-south-1",
			"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:3", "QUEUE_SQS_ENDPOINT_URL": "http://127.0.0.1:4"},
			Overrides{}, "ap-south-1", "http://127.0.0.1:4"},
		{"flag beats everything", map[string]string{"QUEUE_SQS_REGION": "ap-south-1", "QUEUE_SQS_ENDPOINT_URL": "http://127.0.0.1:4"},
			Overrides{Region: "ca-central-1", EndpointURL: "http://127.0.0.1:5"}, "ca-central-1", "http://127.0.0.1:5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(file), Sources{LookupEnv: envMap(tt.env)}, tt.ov)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Queue.Region != tt.wantRegion || cfg.Queue.EndpointURL != tt.wantURL {
				t.Errorf("region %q endpoint %q, want %q %q", cfg.Queue.Region, cfg.Queue.EndpointURL, tt.wantRegion, tt.wantURL)
			}
		})
	}
}

func TestEnvErrorsNameTheVariable(t *testing.T) {
	_, err := Parse([]byte(`{}`), Sources{LookupEnv: envMap(map[string]string{"WEBHOOK_BATCHING_ENABLED": "sometimes"})}, Overrides{})
	if err == nil || !strings.Contains(err.Error(), `env WEBHOOK_BATCHING_ENABLED: must be true or false, got "sometimes"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	secretPath := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretPath, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`{"app_manager":{"array":{"apps":[
		{"id":"app-1","key":"k1","secret_file":%q},
		{"id":"app.two","key":"k2","secret":"in-file"}]}}}`, secretPath)
	src := Sources{LookupEnv: envMap(map[string]string{"HOOKLINE_APP_APP_TWO_SECRET": "from-env"}), ReadFile: os.ReadFile}
	cfg, err := Parse([]byte(doc), src, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Apps[0].Secret.Reveal(); got != "from-file" {
		t.Errorf("secret_file: %q", got)
	}
	if got := cfg.Apps[1].Secret.Reveal(); got != "from-env" {
		t.Errorf("env secret: %q", got)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	cfg := load(t, "seed-http.json")
	var buf bytes.Buffer
	if err := cfg.WriteRedacted(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, secret := range []string{"app-secret-wh", "mysecrettoken"} {
		if strings.Contains(out, secret) {
			t.Errorf("redacted output contains %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, `"X-Custom-Auth": "[redacted]"`) || !strings.Contains(out, `"secret": "[redacted]"`) {
		t.Errorf("redacted output lacks placeholders:\n%s", out)
	}
	s := cfg.Apps[0].Secret
	for _, got := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %#v", s, s, s)} {
		if strings.Contains(got, "app-secret-wh") {
			t.Errorf("formatting reveals the secret: %q", got)
		}
	}
}

func TestWebhookIDs(t *testing.T) {
	parse := func(hooks string) []Webhook {
		t.Helper()
		cfg, err := Parse([]byte(appWith(hooks)), Sources{LookupEnv: noEnv}, Overrides{})
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Apps[0].Webhooks
	}
	a := parse(`{"url":"https://x.test/h","event_types":["member_added","member_removed"]}`)
	b := parse(`{"event_types":["member_removed","member_added"],"url":"https://x.test/h"}`)
	if a[0].ID != b[0].ID {
		t.Errorf("same definition, different ids: %s %s", a[0].ID, b[0].ID)
	}
	// Same URL, different filters: two webhooks (Sockudo collapses them).
	c := parse(`{"url":"https://x.test/h","event_types":["member_added"]},
		{"url":"https://x.test/h","event_types":["member_added"],"filter":{"channel_prefix":"presence-"}}`)
	if len(c) != 2 || c[0].ID == c[1].ID {
		t.Errorf("same url, different filter: %+v", c)
	}
	d := parse(`{"id":"orders-hook","url":"https://x.test/h","event_types":["member_added"]}`)
	if d[0].ID != "orders-hook" {
		t.Errorf("explicit id = %q", d[0].ID)
	}
}

func TestQueueNames(t *testing.T) {
	cfg, err := Parse([]byte(`{"queue":{"sqs":{"fifo":true}}}`), Sources{LookupEnv: noEnv}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Queue.MainQueueName() != "hookline-webhooks.fifo" || cfg.Queue.DLQName() != "hookline-webhooks-dlq.fifo" {
		t.Errorf("names %q %q", cfg.Queue.MainQueueName(), cfg.Queue.DLQName())
	}
}

func TestLambdaEndpointPrecedenceAndLimits(t *testing.T) {
	doc := appWith(`{"id":"own","lambda":{"function_name":"f","endpoint_url":"http://127.0.0.1:1"},"event_types":["member_added"]},
		{"id":"env","lambda_function":"g","event_types":["member_added"],"max_body_bytes":6000000},
		{"id":"sync","lambda":{"function_name":"h","invocation_type":"RequestResponse"},"event_types":["member_added"],"max_body_bytes":6000000}`)
	env := envMap(map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:2", "AWS_ENDPOINT_URL_LAMBDA": "http://127.0.0.1:3"})
	cfg, err := Parse([]byte(doc), Sources{LookupEnv: env}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	hooks := cfg.Apps[0].Webhooks
	if got := hooks[0].Lambda.EndpointURL; got != "http://127.0.0.1:1" {
		t.Errorf("lambda.endpoint_url lost to the environment: %q", got)
	}
	if got := hooks[1].Lambda.EndpointURL; got != "http://127.0.0.1:3" {
		t.Errorf("AWS_ENDPOINT_URL_LAMBDA not applied (or lost to AWS_ENDPOINT_URL): %q", got)
	}
	if hooks[1].MaxBodyBytes != lambdaEventLimit || hooks[2].MaxBodyBytes != 6000000 {
		t.Errorf("max body bytes %d / %d, want the Event cap %d and 6000000 (under the RequestResponse cap)",
			hooks[1].MaxBodyBytes, hooks[2].MaxBodyBytes, lambdaEventLimit)
	}
	if !hasWarning(cfg, "webhooks[1].max_body_bytes") {
		t.Errorf("no warning for the capped max_body_bytes: %q", cfg.Warnings)
	}
}

func TestWarnsAboutFIFOAttemptsOverTheRedriveBackstop(t *testing.T) {
	doc := `{"queue":{"sqs":{"fifo":true}},"app_manager":{"array":{"apps":[{"id":"a","key":"k","secret":"s","webhooks":[
		{"url":"https://x.test/a","event_types":["x"],"retry":{"max_attempts":20}},
		{"url":"https://x.test/b","event_types":["x"]}]}]}}}`
	cfg, err := Parse([]byte(doc), Sources{LookupEnv: noEnv}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(cfg, "webhooks[0]: retry.max_attempts 20 on a FIFO queue") || hasWarning(cfg, "webhooks[1]: retry") {
		t.Errorf("warnings %q", cfg.Warnings)
	}
}

// Real region names pass; an emulator's made-up region is accepted with a
// warning when the endpoint is set.
func TestRegionNames(t *testing.T) {
	for _, r := range []string{"us-east-1", "eu-central-2", "ap-southeast-4", "us-gov-west-1", "cn-northwest-1", "us-isob-east-1", "il-central-1", "eusc-de-east-1"} {
		if _, err := Parse([]byte(`{"queue":{"sqs":{"region":"`+r+`"}}}`), Sources{LookupEnv: noEnv}, Overrides{}); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
	cfg, err := Parse([]byte(`{"queue":{"sqs":{"region":"local","endpoint_url":"http://127.0.0.1:9324"}}}`), Sources{LookupEnv: noEnv}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) == 0 || !strings.Contains(cfg.Warnings[0], `queue.sqs.region: "local" is not an AWS region; accepted because`) {
		t.Errorf("warnings %q, want one about the region", cfg.Warnings)
	}
}

// Sockudo's config.toml reads like its config.json: the same apps,
// webhooks and resolved settings, with ${VAR} and ${VAR:-default} taken
// from the environment.
func TestTOMLMatchesJSON(t *testing.T) {
	src := func(env map[string]string) Sources { return Sources{LookupEnv: envMap(env), ReadFile: os.ReadFile} }
	fromJSON, err := Load(filepath.Join("testdata", "seed-mixed.json"), src(nil), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	fromTOML, err := Load(filepath.Join("testdata", "seed-mixed.toml"), src(map[string]string{"SEED_SECRET": "seed-mixed-secret"}), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := fromJSON.WriteRedacted(&a); err != nil {
		t.Fatal(err)
	}
	if err := fromTOML.WriteRedacted(&b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("TOML resolves differently from JSON:\n%s\nwant:\n%s", b.String(), a.String())
	}
	if fromTOML.Apps[0].Secret.Reveal() != "seed-mixed-secret" {
		t.Errorf("secret from ${SEED_SECRET} not expanded")
	}
	// The same file under another name is recognised by its content.
	data, _ := os.ReadFile(filepath.Join("testdata", "seed-mixed.toml"))
	if _, err := Parse(data, src(map[string]string{"SEED_SECRET": "s"}), Overrides{}); err != nil {
		t.Errorf("TOML by content: %v", err)
	}
}

// TOML gets the same path-named errors and hints, and syntax errors with
// line and column.
func TestTOMLErrors(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{"[[app_manager.array.apps]]\nid = \"a\"\nkey = \"k\"\nsecret = \"s\"\n[[app_manager.array.apps.webhooks]]\nurl = \"https://x.test/h\"\nevent_types = [\"member_added\"]\nfilters = { channel_prefix = \"a\" }\n",
			`app_manager.array.apps[0].webhooks[0].filters: unknown key; did you mean "filter"?`},
		{"[queue.sqs]\nwait_time_seconds = 30\n", `queue.sqs.wait_time_seconds: 30 is out of range; allowed 0 to 20`},
		{"[queue.sqs]\nregion = \"us-east-1\"\nregion = \"eu-west-1\"\n", `line 3, column 22: TOML: Key 'queue.sqs.region' has already been defined`},
		{"[queue\n", `line 2, column 7: TOML: expected '.' or ']' to end table name`},
	} {
		_, err := ParseFormat([]byte(tt.doc), FormatTOML, Sources{LookupEnv: noEnv}, Overrides{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.doc, err, tt.want)
		}
	}
}

// ${VAR} expansion like Sockudo's: a set variable, a default when unset or
// empty, $${ for the text itself; an unset variable without a default is
// an error naming it and its line, never a literal "${APP_SECRET}" secret.
func TestEnvExpansion(t *testing.T) {
	env := envMap(map[string]string{"SECRET": "s3", "EMPTY": "", "REGION": "eu-west-1"})
	doc := `{"app_manager":{"array":{"apps":[{"id":"a","key":"k","secret":"${SECRET}",
  "webhooks":[{"url":"https://x.test/${EMPTY:-hook}?q=$${literal}","event_types":["member_added"]}]}]}},
  "queue":{"sqs":{"region":"${REGION}","queue_name":"${QUEUE:-hookline-webhooks}"}}}`
	cfg, err := Parse([]byte(doc), Sources{LookupEnv: env}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Apps[0].Secret.Reveal(); got != "s3" {
		t.Errorf("secret %q, want s3", got)
	}
	if got := cfg.Apps[0].Webhooks[0].URL; got != "https://x.test/hook?q=${literal}" {
		t.Errorf("url %q", got)
	}
	if cfg.Queue.Region != "eu-west-1" || cfg.Queue.QueueName != "hookline-webhooks" {
		t.Errorf("queue %q %q", cfg.Queue.Region, cfg.Queue.QueueName)
	}
	_, err = Parse([]byte("{\n\"app_manager\":{\"array\":{\"apps\":[{\"id\":\"a\",\"key\":\"k\",\n\"secret\":\"${APP_SECRET}\"}]}}}"), Sources{LookupEnv: env}, Overrides{})
	if err == nil || !strings.Contains(err.Error(), "line 3: ${APP_SECRET}: APP_SECRET is not set and has no default") {
		t.Errorf("unset variable: %v", err)
	}
}

// Sockudo's app environment names are honoured with Sockudo's meaning or
// refused naming the variable, never ignored.
func TestSockudoAppEnv(t *testing.T) {
	file := `{"app_manager":{"driver":"memory","array":{"apps":[{"id":"a1","key":"k1","secret":"s1"}]}}}`
	parse := func(env map[string]string) (*Config, error) {
		return Parse([]byte(file), Sources{LookupEnv: envMap(env)}, Overrides{})
	}
	cfg, err := parse(map[string]string{"SOCKUDO_DEFAULT_APP_ID": "env-app", "SOCKUDO_DEFAULT_APP_KEY": "env-key",
		"SOCKUDO_DEFAULT_APP_SECRET": "env-secret", "SOCKUDO_DEFAULT_APP_ENABLED": "false"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 2 || cfg.AppByKey("env-key") == nil || cfg.AppByKey("env-key").Enabled || cfg.AppByKey("env-key").Secret.Reveal() != "env-secret" {
		t.Errorf("apps %+v: want a1 and the disabled env-app", cfg.Apps)
	}
	cfg, err = parse(map[string]string{"SOCKUDO_SKIP_INLINE_APPS": "true", "SOCKUDO_DEFAULT_APP_ID": "env-app",
		"SOCKUDO_DEFAULT_APP_KEY": "env-key", "SOCKUDO_DEFAULT_APP_SECRET": "env-secret"})
	if err != nil || len(cfg.Apps) != 1 || cfg.Apps[0].ID != "env-app" {
		t.Errorf("SOCKUDO_SKIP_INLINE_APPS: apps %+v, %v; want only env-app", cfg.Apps, err)
	}
	if cfg, err := parse(map[string]string{"APP_MANAGER_REGISTER_INLINE_APPS": "false"}); err != nil || len(cfg.Apps) != 0 {
		t.Errorf("APP_MANAGER_REGISTER_INLINE_APPS=false: %d apps, %v", len(cfg.Apps), err)
	}
	for env, want := range map[string]map[string]string{
		`env APP_MANAGER_DRIVER: "scylladb" is not supported by Hookline`: {"APP_MANAGER_DRIVER": "scylladb"},
		`env DATABASE_POSTGRES_PORT: must be an integer`:                  {"APP_MANAGER_DRIVER": "postgres", "DATABASE_POSTGRES_PORT": "fivefour"},
		`env APP_MANAGER_DRIVER: "array": did you mean "memory"?`:         {"APP_MANAGER_DRIVER": "array"},
		`SOCKUDO_DEFAULT_APP_ID, _KEY and _SECRET must be set together`:   {"SOCKUDO_DEFAULT_APP_ID": "x"},
		`env SOCKUDO_SKIP_INLINE_APPS: "maybe": want true or false`:       {"SOCKUDO_SKIP_INLINE_APPS": "maybe"},
	} {
		if _, err := parse(want); err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%v: error %v, want %q", want, err, env)
		}
	}
	if _, err := Parse([]byte(`{"app_manager":{"driver":"array"}}`), Sources{LookupEnv: noEnv}, Overrides{}); err == nil ||
		!strings.Contains(err.Error(), `app_manager.driver: "array": did you mean "memory"?`) {
		t.Errorf(`driver "array": %v`, err)
	}
}
