// Package sourcetest is the behaviour suite every registry.Source runs:
// the PostgreSQL, MySQL/MariaDB and DynamoDB sources, each against a real
// server on loopback.
package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/registry"
)

// Backend is one database under test.
type Backend struct {
	// New returns a source reading a fresh, empty table holding rows
	// (written as Sockudo writes them: policy and webhooks as JSON, NULL
	// when nil). Each call must use its own table.
	New func(t *testing.T, rows []config.AppRecord) registry.Source
	// Table is the table name messages carry (RecordPath's table).
	Table string
	// Stop makes the database unreachable for the source returned by the
	// last New (stops the server, or closes its port); restart, when not
	// nil, brings it back. Nil skips the outage case.
	Stop func(t *testing.T) (restart func())
}

// Config is the configuration rows are resolved with.
func Config(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`{"webhooks":{"request_timeout_ms":2500}}`), config.Sources{}, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const hook = `{"url":"https://example.test/h","event_types":["channel_occupied"]}`

// Rows is the suite's table: valid apps in both layouts, a disabled app, an
// app without webhooks and an invalid one.
func Rows() []config.AppRecord {
	return []config.AppRecord{
		{ID: "app-legacy", Key: "key-legacy", Secret: "s1", Enabled: true, Webhooks: []byte("[" + hook + "]")},
		{ID: "app-policy", Key: "key-policy", Secret: "s2", Enabled: true,
			Webhooks: []byte(`[{"url":"https://legacy.test/h","event_types":["member_added"]}]`),
			Policy:   []byte(`{"limits":{"max_connections":100},"webhooks":[` + hook + `,{"url":"https://two.test/h","event_types":["client_event"],"filter":{"channel_prefix":"private-"}}]}`)},
		{ID: "app-off", Key: "key-off", Secret: "s3", Enabled: false, Webhooks: []byte("[" + hook + "]")},
		{ID: "app-bare", Key: "key-bare", Secret: "s4", Enabled: true},
		{ID: "app-bad", Key: "key-bad", Secret: "s5", Enabled: true, Webhooks: []byte(`[` + hook + `,{"url":"https://x.test/h","event_type":["x"]}]`)},
	}
}

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	ctx := context.Background()
	t.Run("Load", func(t *testing.T) {
		src := b.New(t, Rows())
		defer src.Close()
		apps, skipped, err := src.Load(ctx, Config(t))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]config.App{}
		for _, a := range apps {
			got[a.ID] = a
		}
		if len(apps) != 4 || len(got) != 4 {
			t.Fatalf("apps = %v, want app-legacy, app-policy, app-off, app-bare", ids(apps))
		}
		if a := got["app-legacy"]; a.Key != "key-legacy" || a.Secret.Reveal() != "s1" || !a.Enabled || len(a.Webhooks) != 1 ||
			a.Webhooks[0].URL != "https://example.test/h" || a.Webhooks[0].RequestTimeout != 2500*time.Millisecond {
			t.Errorf("app-legacy = %+v", a)
		}
		if a := got["app-policy"]; len(a.Webhooks) != 2 || a.Webhooks[0].URL != "https://example.test/h" ||
			a.Webhooks[1].FilterSpec.ChannelPrefix != "private-" {
			t.Errorf("app-policy: policy.webhooks must win over the webhooks column: %+v", a.Webhooks)
		}
		if a := got["app-off"]; a.Enabled {
			t.Errorf("app-off is enabled")
		}
		if a := got["app-bare"]; len(a.Webhooks) != 0 || !a.Enabled {
			t.Errorf("app-bare = %+v", a)
		}
		want := config.RecordPath(b.Table, "app-bad") + `.webhooks[1].event_type: unknown key; did you mean "event_types"?`
		if len(skipped) != 1 || !strings.Contains(skipped[0].Error(), want) {
			t.Errorf("skipped = %v, want one error containing %q", skipped, want)
		}
	})
	t.Run("LookUps", func(t *testing.T) {
		src := b.New(t, Rows())
		defer src.Close()
		cfg := Config(t)
		a, ok, err := src.AppByID(ctx, cfg, "app-policy")
		if err != nil || !ok || a.Key != "key-policy" || len(a.Webhooks) != 2 {
			t.Errorf("AppByID(app-policy) = %+v, %t, %v", a, ok, err)
		}
		a, ok, err = src.AppByKey(ctx, cfg, "key-legacy")
		if err != nil || !ok || a.ID != "app-legacy" {
			t.Errorf("AppByKey(key-legacy) = %+v, %t, %v", a, ok, err)
		}
		for _, v := range []string{"nope", "app-legacy' OR '1'='1", ""} {
			if _, ok, err := src.AppByID(ctx, cfg, v); ok || err != nil {
				t.Errorf("AppByID(%q) = found %t, %v; want not found", v, ok, err)
			}
			if _, ok, err := src.AppByKey(ctx, cfg, v); ok || err != nil {
				t.Errorf("AppByKey(%q) = found %t, %v; want not found", v, ok, err)
			}
		}
		_, ok, err = src.AppByID(ctx, cfg, "app-bad")
		if ok || err == nil || !strings.Contains(err.Error(), config.RecordPath(b.Table, "app-bad")) {
			t.Errorf("AppByID(app-bad) = found %t, %v; want an error naming the row", ok, err)
		}
	})
	t.Run("RegistryLooksUpOnAMiss", func(t *testing.T) {
		src := &counting{Source: b.New(t, Rows())}
		defer src.Close()
		// Not loaded: every app is a miss, read as one row.
		reg, err := registry.New(Config(t), registry.Options{Source: src, MissInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if a, err := reg.App(ctx, "app-policy"); err != nil || a == nil || a.Key != "key-policy" {
			t.Fatalf("App(app-policy) on a miss = %+v, %v", a, err)
		}
		if a, err := reg.AppByKey(ctx, "key-legacy"); err != nil || a == nil || a.ID != "app-legacy" {
			t.Fatalf("AppByKey(key-legacy) on a miss = %+v, %v", a, err)
		}
		// Served from the snapshot from now on, by id and by key.
		if reg.Snapshot().App("app-legacy") == nil || reg.Snapshot().AppByKey("key-policy") == nil {
			t.Error("looked-up apps are not in the snapshot")
		}
		// Twice: the second miss of the same id is not read again.
		before := src.lookUps.Load()
		for range 2 {
			if a, err := reg.App(ctx, "app-nope"); a != nil || err != nil {
				t.Errorf("App(app-nope) = %+v, %v; want no such app", a, err)
			}
		}
		if n := src.lookUps.Load() - before; n != 1 {
			t.Errorf("two misses of app-nope read the source %d times, want 1", n)
		}
		// An invalid row is neither an app nor known to be absent.
		if a, err := reg.AppByKey(ctx, "key-bad"); a != nil || !errors.Is(err, registry.ErrLookup) ||
			!strings.Contains(err.Error(), config.RecordPath(b.Table, "app-bad")) {
			t.Errorf("AppByKey(key-bad) = %+v, %v; want an ErrLookup naming the row", a, err)
		}
	})
	t.Run("ManyRows", func(t *testing.T) {
		// More than one page of a DynamoDB scan (1 MB): 600 rows of ~2 KB.
		pad := strings.Repeat("x", 1800)
		rows := make([]config.AppRecord, 600)
		for i := range rows {
			rows[i] = config.AppRecord{ID: fmt.Sprintf("app-%04d", i), Key: fmt.Sprintf("key-%04d", i), Secret: "s", Enabled: true,
				Webhooks: []byte(`[{"url":"https://example.test/h","event_types":["channel_occupied"],"headers":{"X-Pad":"` + pad + `"}}]`)}
		}
		src := b.New(t, rows)
		defer src.Close()
		apps, skipped, err := src.Load(ctx, Config(t))
		if err != nil || len(skipped) != 0 || len(apps) != len(rows) {
			t.Fatalf("Load: %d apps, %d skipped, %v; want %d", len(apps), len(skipped), err, len(rows))
		}
	})
	if b.Stop != nil {
		t.Run("Outage", func(t *testing.T) {
			src := b.New(t, Rows())
			defer src.Close()
			reg, err := registry.New(Config(t), registry.Options{Source: src, LookupTimeout: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := reg.Ready(); err == nil {
				t.Error("Ready before the first read: nil")
			}
			if err := reg.Load(ctx, "start"); err != nil {
				t.Fatal(err)
			}
			restart := b.Stop(t)
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = reg.Load(lctx, "ttl")
			cancel()
			if err == nil {
				t.Fatal("Load with the database down: nil error")
			}
			if since, why := reg.Stale(); since.IsZero() || why == nil {
				t.Errorf("Stale() = %v, %v; want stale", since, why)
			}
			// A failure below must not leave the server down for the tests
			// after this one.
			restarted := restart == nil
			t.Cleanup(func() {
				if !restarted {
					restart()
				}
			})
			legacy, err1 := reg.App(ctx, "app-legacy")
			policy, err2 := reg.AppByKey(ctx, "key-policy")
			if reg.Ready() != nil || legacy == nil || policy == nil || err1 != nil || err2 != nil {
				t.Error("the last good registry is not served while the database is down")
			}
			// A miss cannot be answered: an error, not "no such app".
			if a, err := reg.App(ctx, "app-new"); a != nil || !errors.Is(err, registry.ErrLookup) {
				t.Errorf("App(app-new) with the database down = %+v, %v; want an ErrLookup", a, err)
			}
			if restart == nil {
				return
			}
			restart()
			restarted = true
			deadline := time.Now().Add(30 * time.Second)
			for reg.Load(ctx, "ttl") != nil {
				if time.Now().After(deadline) {
					t.Fatal("the registry did not recover after the database came back")
				}
				time.Sleep(200 * time.Millisecond) // polling a restarted server; no event to wait on
			}
			if _, why := reg.Stale(); why != nil {
				t.Errorf("still stale after a good read: %v", why)
			}
		})
	}
}

func ids(apps []config.App) []string {
	var out []string
	for _, a := range apps {
		out = append(out, a.ID)
	}
	return out
}

// counting counts a source's one-row reads.
type counting struct {
	registry.Source
	lookUps atomic.Int64
}

func (c *counting) AppByID(ctx context.Context, cfg *config.Config, id string) (config.App, bool, error) {
	c.lookUps.Add(1)
	return c.Source.AppByID(ctx, cfg, id)
}

func (c *counting) AppByKey(ctx context.Context, cfg *config.Config, key string) (config.App, bool, error) {
	c.lookUps.Add(1)
	return c.Source.AppByKey(ctx, cfg, key)
}
