package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDatabaseDriversAndSettings(t *testing.T) {
	doc := `{"app_manager":{"driver":"pgsql","cache":{"enabled":true,"ttl":120}},
	  "database":{"postgres":{"host":"db.internal","port":"5433","username":"sockudo","password":"pw",
	    "database":"apps","table_name":"public.applications","pool_max":4},
	    "mysql":{"cache_ttl":30},"redis":{"host":"ignored"}}}`
	cfg, err := Parse([]byte(doc), Sources{LookupEnv: noEnv}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	pg := cfg.Database.Postgres
	if cfg.AppManager.Driver != DriverPostgres || pg.Host != "db.internal" || pg.Port != 5433 || pg.Username != "sockudo" ||
		pg.Password.Reveal() != "pw" || pg.Database != "apps" || pg.TableName != "public.applications" || pg.PoolMax != 4 {
		t.Errorf("postgres settings = %+v (driver %q)", pg, cfg.AppManager.Driver)
	}
	if cfg.AppManager.CacheTTL != 120*time.Second {
		t.Errorf("cache TTL = %v, want app_manager.cache.ttl 120s", cfg.AppManager.CacheTTL)
	}
	if hasWarning(cfg, "app_manager.array.apps") {
		t.Errorf("a database registry warned about an empty file registry: %v", cfg.Warnings)
	}

	// Sockudo's env names, with the driver aliases; CACHE_TTL_SECONDS wins.
	env := map[string]string{"APP_MANAGER_DRIVER": "postgresql", "DATABASE_POSTGRES_USER": "u", "DATABASE_POSTGRES_PASSWORD": "secret-pw",
		"DATABASE_POSTGRES_HOST": "127.0.0.1", "DATABASE_POSTGRES_PORT": "6543", "DATABASE_POSTGRES_DATABASE": "d", "CACHE_TTL_SECONDS": "7"}
	cfg, err = Parse([]byte(`{}`), Sources{LookupEnv: envMap(env)}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	pg = cfg.Database.Postgres
	if cfg.AppManager.Driver != DriverPostgres || pg.Username != "u" || pg.Password.Reveal() != "secret-pw" || pg.Host != "127.0.0.1" ||
		pg.Port != 6543 || pg.Database != "d" || cfg.AppManager.CacheTTL != 7*time.Second {
		t.Errorf("from env: driver %q, %+v, ttl %v", cfg.AppManager.Driver, pg, cfg.AppManager.CacheTTL)
	}

	// database.<driver>.cache_ttl beats app_manager.cache.ttl; the default is 300 s.
	cfg, err = Parse([]byte(`{"app_manager":{"driver":"mysql","cache":{"ttl":120}},"database":{"mysql":{"cache_ttl":30}}}`), Sources{LookupEnv: noEnv}, Overrides{})
	if err != nil || cfg.AppManager.CacheTTL != 30*time.Second || cfg.Database.MySQL.Port != 3306 || cfg.Database.MySQL.TableName != "applications" {
		t.Errorf("mysql: ttl %v, %+v, %v", cfg.AppManager.CacheTTL, cfg.Database.MySQL, err)
	}
	cfg, err = Parse([]byte(`{"app_manager":{"driver":"dynamodb"},"database":{"dynamodb":{"region":"eu-west-1","endpoint_url":"http://127.0.0.1:4567"}}}`), Sources{LookupEnv: noEnv}, Overrides{})
	if err != nil || cfg.AppManager.CacheTTL != DefaultCacheTTL || cfg.Database.DynamoDB.TableName != "sockudo-applications" ||
		cfg.Database.DynamoDB.Region != "eu-west-1" || cfg.Database.DynamoDB.EndpointURL != "http://127.0.0.1:4567" {
		t.Errorf("dynamodb: ttl %v, %+v, %v", cfg.AppManager.CacheTTL, cfg.Database.DynamoDB, err)
	}
	// A typo in a database section is named, with a hint (a warning: Sockudo has keys Hookline does not read).
	cfg, _ = Parse([]byte(`{"app_manager":{"driver":"pgsql"},"database":{"postgres":{"user":"x"}}}`), Sources{LookupEnv: noEnv}, Overrides{})
	if !hasWarning(cfg, `database.postgres.user: unknown key; did you mean "username"?`) {
		t.Errorf("warnings = %v", cfg.Warnings)
	}
}

func TestAppFromRecord(t *testing.T) {
	cfg, err := Parse([]byte(`{"webhooks":{"request_timeout_ms":2500,"retry":{"max_attempts":3}},"queue":{"sqs":{"region":"eu-west-1"}}}`),
		Sources{LookupEnv: envMap(map[string]string{"AWS_ENDPOINT_URL_LAMBDA": "http://127.0.0.1:9001"})}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	where := RecordPath("applications", "app-1")
	rec := AppRecord{ID: "app-1", Key: "k1", Secret: "s1", Enabled: true,
		Webhooks: []byte(`[{"url":"https://legacy.test/h","event_types":["channel_occupied"]}]`),
		Policy: []byte(`{"limits":{"max_connections":10},"webhooks":[{"url":"https://policy.test/h","event_types":["member_added"],"retry":{"max_attempts":"5"}},
			{"lambda_function":"fn","event_types":["client_event"]}]}`)}
	app, _, err := cfg.AppFromRecord(rec, where)
	if err != nil {
		t.Fatal(err)
	}
	if app.ID != "app-1" || app.Key != "k1" || app.Secret.Reveal() != "s1" || !app.Enabled || app.Path != where {
		t.Errorf("app = %+v", app)
	}
	if len(app.Webhooks) != 2 || app.Webhooks[0].URL != "https://policy.test/h" {
		t.Fatalf("policy.webhooks must win over the webhooks column: %+v", app.Webhooks)
	}
	h, l := app.Webhooks[0], app.Webhooks[1]
	if h.RequestTimeout != 2500*time.Millisecond || h.Retry.MaxAttempts != 5 || h.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Errorf("defaults/overrides: timeout %v, attempts %d, max body %d", h.RequestTimeout, h.Retry.MaxAttempts, h.MaxBodyBytes)
	}
	if l.Lambda == nil || l.Lambda.Region != "eu-west-1" || l.Lambda.EndpointURL != "http://127.0.0.1:9001" || l.Retry.MaxAttempts != 3 {
		t.Errorf("lambda webhook = %+v (%+v)", l, l.Lambda)
	}

	// The webhooks column alone; a JSON string holding the JSON (DynamoDB's attribute, some drivers) is read too.
	rec.Policy = nil
	rec.Webhooks = []byte(`"[{\"url\":\"https://legacy.test/h\",\"event_types\":[\"channel_occupied\"]}]"`)
	if app, _, err = cfg.AppFromRecord(rec, where); err != nil || len(app.Webhooks) != 1 || app.Webhooks[0].URL != "https://legacy.test/h" {
		t.Errorf("webhooks column: %+v, %v", app.Webhooks, err)
	}
	// No webhooks at all, disabled.
	if app, _, err = cfg.AppFromRecord(AppRecord{ID: "a", Key: "k", Secret: "s"}, where); err != nil || len(app.Webhooks) != 0 || app.Enabled {
		t.Errorf("bare row: %+v, %v", app, err)
	}

	for _, tc := range []struct {
		rec  AppRecord
		want string
	}{
		{AppRecord{ID: "app-1", Key: "k", Secret: "s", Policy: []byte(`{"webhooks":[{"url":"ftp://x","event_types":["channel_occupied"]}]}`)},
			`applications[id="app-1"].policy.webhooks[0].url: "ftp://x"`},
		{AppRecord{ID: "app-1", Key: "k", Secret: "s", Webhooks: []byte(`[{"url":"https://x.test","event_type":["a"]}]`)},
			`applications[id="app-1"].webhooks[0].event_type: unknown key; did you mean "event_types"?`},
		{AppRecord{ID: "app-1", Key: "k", Secret: "s", Webhooks: []byte(`[{"url":`)},
			`applications[id="app-1"].webhooks: is not JSON`},
		{AppRecord{ID: "app-1", Key: "", Secret: "s"}, `applications[id="app-1"].key: is required`},
		{AppRecord{ID: "app 1", Key: "k", Secret: "s"}, `applications[id="app-1"].id: "app 1": use 1 to 128 printable ASCII characters without spaces`},
	} {
		_, _, err := cfg.AppFromRecord(tc.rec, where)
		var es Errors
		if !errors.As(err, &es) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.rec, err, tc.want)
		}
	}
}

// A secret of the wrong type is named, never shown: not even a number.
func TestWrongTypeSecretIsNotShown(t *testing.T) {
	docs := map[Format]string{
		FormatJSON: `{"database":{"postgres":{"password":98765432}},"app_manager":{"array":{"apps":[{"id":"a","key":"k","secret":12345678}]}}}`,
		FormatTOML: "[database.postgres]\npassword = 98765432\n[[app_manager.array.apps]]\nid = \"a\"\nkey = \"k\"\nsecret = 12345678\n",
	}
	for f, doc := range docs {
		_, err := ParseFormat([]byte(doc), f, Sources{}, Overrides{})
		if err == nil {
			t.Fatalf("%v: no error", f)
		}
		for _, want := range []string{"database.postgres.password: must be a string, got a number", "apps[0].secret: must be a string, got a number"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: %v; want %q", f, err, want)
			}
		}
		if strings.Contains(err.Error(), "98765432") || strings.Contains(err.Error(), "12345678") {
			t.Errorf("%v: the secret's value is in the error: %v", f, err)
		}
	}
}
