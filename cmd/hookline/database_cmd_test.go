package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/internal/dbtest"
	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/receiver"
)

// config check with the pgsql app manager reads the table as the worker
// would: a row with an invalid webhook is named with its JSON path and fails
// the check; fixed, the check passes and counts the apps read.
func TestConfigCheckReadsThePostgresTable(t *testing.T) {
	srv := dbtest.Postgres(t)
	table := srv.AppsTable(t, "", []config.AppRecord{
		{ID: "app-1", Key: "key-1", Secret: "secret-1", Enabled: true, Webhooks: []byte(`[{"url":"https://example.test/h","event_types":["channel_occupied"]}]`)},
		{ID: "app-bad", Key: "key-bad", Secret: "s", Enabled: true, Policy: []byte(`{"webhooks":[{"url":"https://example.test/h","event_type":["channel_occupied"]}]}`)},
		{ID: "app-http", Key: "key-http", Secret: "s", Enabled: true, Webhooks: []byte(`[{"url":"http://plain.test/h","event_types":["channel_occupied"]}]`)},
	}, true)
	d := srv.Settings()
	cfgPath := writeFile(t, "config.json", fmt.Sprintf(`{"app_manager":{"driver":"pgsql"},"database":{"postgres":{"host":"127.0.0.1","port":%d,
		"username":%q,"password":"${PG_PASSWORD}","database":%q,"table_name":%q}}}`, d.Port, d.Username, d.Database, table))
	env := envMap(map[string]string{"PG_PASSWORD": d.Password.Reveal()})
	code, stdout, stderr := hookline(t, env, "config", "check", "--config", cfgPath)
	want := table + `[id="app-bad"].policy.webhooks[0].event_type: unknown key; did you mean "event_types"?`
	if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "1 row(s) of the pgsql table would be skipped") {
		t.Fatalf("config check with a bad row: exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr, want)
	}
	if strings.Contains(stdout+stderr, d.Password.Reveal()) {
		t.Error("the database password was printed")
	}
	srv.Exec(t, "UPDATE "+table+` SET policy = '{"webhooks":[]}' WHERE id = 'app-bad'`)
	code, _, stderr = hookline(t, env, "config", "check", "--config", cfgPath)
	if code != 0 || !strings.Contains(stderr, "3 apps read from the pgsql table") {
		t.Fatalf("config check after the fix: exit %d, stderr:\n%s", code, stderr)
	}
	// A row's warnings are printed as the file's are.
	if want := "warning: " + table + `[id="app-http"].webhooks[0].url: "http://plain.test/h" is not https`; !strings.Contains(stderr, want) {
		t.Errorf("config check stderr:\n%s\nwant %q", stderr, want)
	}
	// A wrong password: the check fails naming the registry, not the password.
	env = envMap(map[string]string{"PG_PASSWORD": "not-the-password"})
	code, stdout, stderr = hookline(t, env, "config", "check", "--config", cfgPath)
	if code == 0 || !strings.Contains(stderr, "reading the pgsql app registry") || strings.Contains(stdout+stderr, "not-the-password") {
		t.Errorf("config check with a wrong password: exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, stderr = hookline(t, env, "config", "check", "--config", cfgPath, "--offline"); code != 0 {
		t.Errorf("config check --offline: exit %d, stderr:\n%s", code, stderr)
	}
}

// Apps in MariaDB, selected with Sockudo's environment names: ingest and
// the worker serve them; an app inserted while both run is accepted by
// ingest on its first request (an unknown key re-reads the registry) and
// delivered by the worker (an unknown app id is looked up), no restart.
func TestAppsFromMySQLThroughIngestAndWorker(t *testing.T) {
	srv := dbtest.MariaDB(t)
	queue := testQueue(t, "mysql")

	rec := receiver.NewRecorder(receiver.StaticApps{"key-1": {ID: "app-1", Secret: "secret-1"}, "key-2": {ID: "app-2", Secret: "secret-2"}})
	hooks := receiver.NewServer(rec)
	t.Cleanup(hooks.Close)
	hook := []byte(fmt.Sprintf(`[{"url":%q,"event_types":["member_added"]}]`, hooks.URL))
	table := srv.AppsTable(t, "", []config.AppRecord{{ID: "app-1", Key: "key-1", Secret: "secret-1", Enabled: true, Webhooks: hook}}, true)

	cfgPath := writeFile(t, "config.json", "{"+queue+"}")
	d := srv.Settings()
	env := envMap(map[string]string{"APP_MANAGER_DRIVER": "mysql", "DATABASE_MYSQL_HOST": d.Host,
		"DATABASE_MYSQL_PORT": strconv.Itoa(d.Port), "DATABASE_MYSQL_USERNAME": d.Username,
		"DATABASE_MYSQL_PASSWORD": d.Password.Reveal(), "DATABASE_MYSQL_DATABASE": d.Database, "DATABASE_MYSQL_TABLE_NAME": table})
	ingestAddr := startIngest(t, env, cfgPath)
	workerLog := background(t, env, "worker", "--config", cfgPath, "--listen", "", "--log-format", "json", "--sqs-call-timeout", "3s")
	if l := waitLine(t, workerLog, "apps from a database"); strings.Contains(l, d.Password.Reveal()) {
		t.Errorf("the password is in the log: %s", l)
	}

	post := func(key, secret, user string) int {
		t.Helper()
		return postPusher(t, ingestAddr, key, secret, []byte(fmt.Sprintf(
			`{"time_ms":%d,"events":[{"name":"member_added","channel":"presence-lobby","user_id":%q}]}`, time.Now().UnixMilli(), user)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Ingest answers 503 until its first read; retry until it has it.
	for code := post("key-1", "secret-1", "u1"); code != 200; code = post("key-1", "secret-1", "u1") {
		if code != http.StatusServiceUnavailable || ctx.Err() != nil {
			t.Fatalf("POST for app-1: %d", code)
		}
		time.Sleep(100 * time.Millisecond) // polling ingest's readiness
	}
	if err := rec.WaitEvents(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if code := post("key-2", "secret-2", "u2"); code != 401 {
		t.Fatalf("POST for an app not in the table: %d, want 401", code)
	}
	srv.Insert(t, table, true, config.AppRecord{ID: "app-2", Key: "key-2", Secret: "secret-2", Enabled: true, Webhooks: hook})
	// The 401 above started key-2's rate limit (5 s): wait it out by polling.
	deadline := time.Now().Add(20 * time.Second)
	for code := post("key-2", "secret-2", "u2"); code != 200; code = post("key-2", "secret-2", "u2") {
		if code != 401 || time.Now().After(deadline) {
			t.Fatalf("POST for app-2 after its insert: %d", code)
		}
		time.Sleep(250 * time.Millisecond) // polling the rate-limited re-read
	}
	if err := rec.WaitEvents(ctx, 2); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range rec.Deliveries() {
		for _, e := range d.Body.Events {
			got[e.UserID] = d.AppID
		}
	}
	if got["u1"] != "app-1" || got["u2"] != "app-2" || len(rec.Rejections()) != 0 {
		t.Errorf("delivered %v (rejections %v); want u1 from app-1 and u2 from app-2", got, rec.Rejections())
	}
}

// The database goes down under a running ingest: it keeps accepting the
// apps it read, /readyz stays 200 but says the registry is stale, and
// hookline_registry_stale is 1; the database back, both clear.
func TestIngestServesTheLastGoodRegistryWhilePostgresIsDown(t *testing.T) {
	srv := dbtest.Postgres(t)
	queue := testQueue(t, "pgdown")
	table := srv.AppsTable(t, "", []config.AppRecord{{ID: "app-1", Key: "key-1", Secret: "secret-1", Enabled: true}}, true)
	cfgPath := writeFile(t, "config.json", "{"+queue+"}")
	d := srv.Settings()
	env := envMap(map[string]string{"APP_MANAGER_DRIVER": "postgres", "DATABASE_POSTGRES_HOST": d.Host,
		"DATABASE_POSTGRES_PORT": strconv.Itoa(d.Port), "DATABASE_POSTGRES_USER": d.Username,
		"DATABASE_POSTGRES_PASSWORD": d.Password.Reveal(), "DATABASE_POSTGRES_DATABASE": d.Database,
		"DATABASE_POSTGRES_TABLE_NAME": table, "CACHE_TTL_SECONDS": "1"})
	ingestAddr := startIngest(t, env, cfgPath)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + ingestAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	postAs := func(key, secret string) int {
		t.Helper()
		return postPusher(t, ingestAddr, key, secret,
			[]byte(fmt.Sprintf(`{"time_ms":%d,"events":[{"name":"channel_occupied","channel":"c"}]}`, time.Now().UnixMilli())))
	}
	post := func() int { return postAs("key-1", "secret-1") }
	const staleMetric = `hookline_registry_stale{source="pgsql"} `
	// poll waits for /readyz and /metrics to agree with stale.
	poll := func(stale bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, body := get("/readyz")
			_, metrics := get("/metrics")
			if code == 200 && strings.Contains(body, "stale since") == stale &&
				strings.Contains(metrics, staleMetric+map[bool]string{true: "1", false: "0"}[stale]) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("stale=%t not reported: /readyz %d %q; metrics stale: %q", stale, code, body, grepLine(metrics, staleMetric))
			}
			time.Sleep(100 * time.Millisecond) // polling the endpoints
		}
	}
	poll(false)
	if code := post(); code != 200 {
		t.Fatalf("POST with the database up: %d", code)
	}
	restart := srv.Stop(t)
	stopped := true
	t.Cleanup(func() {
		if stopped {
			restart()
		}
	})
	poll(true)
	if code := post(); code != 200 {
		t.Errorf("POST with the database down: %d, want 200 from the last good registry", code)
	}
	// A key the registry does not have cannot be ruled out: 503, which
	// Sockudo retries, not a 401, which it does not.
	if code := postAs("key-new", "secret-new"); code != http.StatusServiceUnavailable {
		t.Errorf("POST with an unknown key and the database down: %d, want 503", code)
	}
	restart()
	stopped = false
	poll(false)
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// config check with the dynamodb app manager, selected and pointed at a
// local DynamoDB with Sockudo's environment names, reads the table: a bad
// row fails the check naming the item and the JSON path.
func TestConfigCheckReadsTheDynamoDBTable(t *testing.T) {
	endpoint := localstack.DynamoDBEndpoint(t)
	table := localstack.NewAppsTable(t, endpoint)
	table.Reset(t, localstack.SockudoItems([]config.AppRecord{
		{ID: "app-1", Key: "key-1", Secret: "secret-1", Enabled: true, Webhooks: []byte(`[{"url":"https://example.test/h","event_types":["channel_occupied"]}]`)},
		{ID: "app-2", Key: "key-2", Secret: "secret-2", Enabled: true, Policy: []byte(`{"webhooks":[{"url":"https://example.test/h","event_types":["member_added"],"filter":{"channel_prefx":"presence-"}}]}`)},
	}))
	cfgPath := writeFile(t, "config.json", `{"database":{"dynamodb":{"aws_access_key_id":"test","aws_secret_access_key":"dynamo-secret-value"}}}`)
	env := envMap(map[string]string{"APP_MANAGER_DRIVER": "dynamodb", "DATABASE_DYNAMODB_REGION": localstack.AppsRegion,
		"DATABASE_DYNAMODB_TABLE_NAME": table.Name, "DATABASE_DYNAMODB_ENDPOINT_URL": endpoint})
	code, stdout, stderr := hookline(t, env, "config", "check", "--config", cfgPath)
	want := table.Name + `[id="app-2"].policy.webhooks[0].filter.channel_prefx: unknown key`
	if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "1 row(s) of the dynamodb table would be skipped") {
		t.Fatalf("config check: exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr, want)
	}
	if strings.Contains(stdout+stderr, "dynamo-secret-value") {
		t.Error("the AWS secret key was printed")
	}
	table.Reset(t, localstack.SockudoItems([]config.AppRecord{{ID: "app-1", Key: "key-1", Secret: "secret-1", Enabled: true}}))
	if code, _, stderr = hookline(t, env, "config", "check", "--config", cfgPath); code != 0 || !strings.Contains(stderr, "1 apps read from the dynamodb table") {
		t.Fatalf("config check after the fix: exit %d, stderr:\n%s", code, stderr)
	}
}
