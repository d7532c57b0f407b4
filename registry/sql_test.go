package registry_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/internal/dbtest"
	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/registry"
	"github.com/hookline/hookline/registry/sourcetest"
)

func sqlTable(t *testing.T, srv *dbtest.Server, rows []config.AppRecord, policy bool) string {
	t.Helper()
	return srv.AppsTable(t, "", rows, policy)
}

func sqlSource(t *testing.T, srv *dbtest.Server, table string) *registry.SQLSource {
	t.Helper()
	d := srv.Settings()
	d.TableName = table
	var src *registry.SQLSource
	var err error
	if srv.Kind == "mariadb" {
		src, err = registry.NewMySQL(d)
	} else {
		src, err = registry.NewPostgres(d)
	}
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func sqlBackend(srv *dbtest.Server) sourcetest.Backend {
	return sourcetest.Backend{
		// The cases run one after the other, each with a new table of
		// Sockudo's default name.
		New: func(t *testing.T, rows []config.AppRecord) registry.Source {
			return sqlSource(t, srv, srv.AppsTable(t, "applications", rows, true))
		},
		Table: "applications",
		Stop:  func(t *testing.T) func() { return srv.Stop(t) },
	}
}

func TestPostgresSource(t *testing.T) { runSQL(t, dbtest.Postgres(t)) }

func TestMySQLSource(t *testing.T) { runSQL(t, dbtest.MariaDB(t)) }

func runSQL(t *testing.T, srv *dbtest.Server) {
	t.Run("Suite", func(t *testing.T) { sourcetest.Run(t, sqlBackend(srv)) })
	ctx := context.Background()
	cfg := sourcetest.Config(t)

	t.Run("WithoutPolicyColumn", func(t *testing.T) {
		// A Sockudo from before the policy column: webhooks from the
		// webhooks column; NULL webhooks is an app without webhooks.
		rows := sourcetest.Rows()
		rows = append(rows[:1], config.AppRecord{ID: "app-null", Key: "key-null", Secret: "s", Enabled: true})
		table := sqlTable(t, srv, rows, false)
		src := sqlSource(t, srv, table)
		defer src.Close()
		apps, skipped, err := src.Load(ctx, cfg)
		if err != nil || len(skipped) != 0 || len(apps) != 2 {
			t.Fatalf("Load = %v, %v, %v", apps, skipped, err)
		}
		for _, a := range apps {
			if want := map[string]int{"app-legacy": 1, "app-null": 0}[a.ID]; len(a.Webhooks) != want {
				t.Errorf("%s: %d webhooks, want %d", a.ID, len(a.Webhooks), want)
			}
		}
		// Sockudo adds the column at start-up; the next full read uses it.
		srv.Exec(t, "ALTER TABLE "+table+" ADD COLUMN policy "+map[bool]string{true: "JSON", false: "JSONB"}[srv.Kind == "mariadb"])
		q := `"`
		if srv.Kind == "mariadb" {
			q = "`"
		}
		srv.Exec(t, "UPDATE "+table+" SET policy = '{\"webhooks\":[]}' WHERE "+q+"key"+q+" = 'key-legacy'")
		apps, _, err = src.Load(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range apps {
			if a.ID == "app-legacy" && len(a.Webhooks) != 0 {
				t.Errorf("policy.webhooks [] added after the first read does not win: %d webhooks", len(a.Webhooks))
			}
		}
	})

	t.Run("NullEnabledAndExactKeys", func(t *testing.T) {
		table := sqlTable(t, srv, []config.AppRecord{{ID: "App-1", Key: "Key-1", Secret: "s", Enabled: true}}, true)
		srv.Exec(t, "UPDATE "+table+" SET enabled = NULL")
		src := sqlSource(t, srv, table)
		defer src.Close()
		a, ok, err := src.AppByKey(ctx, cfg, "Key-1")
		if err != nil || !ok || !a.Enabled {
			t.Errorf("AppByKey(Key-1) with enabled NULL = %+v, %t, %v; want enabled (Sockudo's default)", a, ok, err)
		}
		// MySQL's default collation is case-insensitive: a key is not.
		for _, v := range []string{"key-1", "KEY-1"} {
			if _, ok, err := src.AppByKey(ctx, cfg, v); ok || err != nil {
				t.Errorf("AppByKey(%q) = found %t, %v; want not found", v, ok, err)
			}
		}
		if _, ok, err := src.AppByID(ctx, cfg, "app-1"); ok || err != nil {
			t.Errorf("AppByID(app-1) = found %t, %v; want not found", ok, err)
		}
	})

	t.Run("RowWarningsLoggedOnce", func(t *testing.T) {
		// A plain-http URL is a warning, not an error: the app is served,
		// and the warning logged when it first appears or changes, not at
		// every read.
		hook := func(host string) []byte {
			return []byte(`[{"url":"http://` + host + `/h","event_types":["member_added"]}]`)
		}
		table := sqlTable(t, srv, []config.AppRecord{{ID: "app-http", Key: "key-http", Secret: "s", Enabled: true, Webhooks: hook("one.test")}}, true)
		src := sqlSource(t, srv, table)
		defer src.Close()
		logs := &localstack.TailBuffer{Max: 1 << 20}
		reg, err := registry.New(cfg, registry.Options{Source: src, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := reg.Load(ctx, "ttl"); err != nil {
				t.Fatal(err)
			}
		}
		// The text handler quotes the problem: its quotes come escaped.
		want := strings.ReplaceAll(config.RecordPath(table, "app-http")+`.webhooks[0].url: "http://one.test/h" is not https`, `"`, `\"`)
		if a, err := reg.App(ctx, "app-http"); err != nil || a == nil || len(a.Warnings) != 1 {
			t.Fatalf("app-http = %+v; want it served with one warning", a)
		}
		if n := strings.Count(logs.String(), want); n != 1 {
			t.Errorf("warning logged %d times over two reads, want 1; logs:\n%s", n, logs.String())
		}
		q := `"`
		if srv.Kind == "mariadb" {
			q = "`"
		}
		srv.Exec(t, "UPDATE "+table+" SET webhooks = '"+string(hook("two.test"))+"' WHERE "+q+"id"+q+" = 'app-http'")
		if err := reg.Load(ctx, "ttl"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "two.test") {
			t.Errorf("a changed warning was not logged; logs:\n%s", logs.String())
		}
	})

	t.Run("TableNameCase", func(t *testing.T) {
		// As in Sockudo's unquoted queries: PostgreSQL folds the name to
		// lower case; MySQL on Linux compares it exactly.
		table := sqlTable(t, srv, sourcetest.Rows()[:1], true)
		src := sqlSource(t, srv, strings.ToUpper(table))
		defer src.Close()
		_, _, err := src.Load(ctx, cfg)
		if srv.Kind == "postgres" && err != nil {
			t.Errorf("Load of %s as %s: %v", table, strings.ToUpper(table), err)
		}
		if srv.Kind == "mariadb" && err == nil {
			t.Errorf("Load of %s as %s: no error", table, strings.ToUpper(table))
		}
	})

	t.Run("Errors", func(t *testing.T) {
		// No table, no privilege, a wrong password: errors that name the
		// table and never the password.
		src := sqlSource(t, srv, "no_such_table")
		defer src.Close()
		if _, _, err := src.Load(ctx, cfg); err == nil || !strings.Contains(err.Error(), "no_such_table") {
			t.Errorf("Load of a missing table: %v", err)
		}
		srv.Exec(t, "CREATE TABLE not_granted (id VARCHAR(10))")
		src2 := sqlSource(t, srv, "not_granted")
		defer src2.Close()
		if _, _, err := src2.Load(ctx, cfg); err == nil || !strings.Contains(err.Error(), "not_granted") {
			t.Errorf("Load without SELECT: %v", err)
		}
		table := sqlTable(t, srv, nil, true)
		d := srv.Settings()
		d.TableName, d.Password = table, "wrong-password-xyz"
		var bad *registry.SQLSource
		if srv.Kind == "mariadb" {
			bad, _ = registry.NewMySQL(d)
		} else {
			bad, _ = registry.NewPostgres(d)
		}
		defer bad.Close()
		_, _, err := bad.Load(ctx, cfg)
		if err == nil || strings.Contains(err.Error(), "wrong-password-xyz") {
			t.Errorf("Load with a wrong password: %v", err)
		}
		srv.Exec(t, "CREATE TABLE no_key_column (id VARCHAR(10), secret VARCHAR(10))", "GRANT SELECT ON no_key_column TO "+dbtest.Reader)
		src3 := sqlSource(t, srv, "no_key_column")
		defer src3.Close()
		if _, _, err := src3.Load(ctx, cfg); err == nil || !strings.Contains(err.Error(), "no column key") {
			t.Errorf("Load of a table without key: %v", err)
		}
	})
}
