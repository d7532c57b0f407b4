package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookline/hookline/config"
)

// configDoc is a config file with apps named by ids; each app's webhook
// URL carries tag.
func configDoc(tag string, ids ...string) string {
	var apps []string
	for _, id := range ids {
		apps = append(apps, fmt.Sprintf(`{"id":%q,"key":"key-%s","secret":"s","webhooks":[{"url":"https://%s.test/h","event_types":["channel_occupied"]}]}`, id, id, tag))
	}
	return `{"app_manager":{"array":{"apps":[` + strings.Join(apps, ",") + `]}}}`
}

func writeConfig(t *testing.T, path, doc string) {
	t.Helper()
	// Write and rename, as editors and ConfigMap updates do: the file is
	// never seen half-written.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func loader(path string) func() (*config.Config, error) {
	return func() (*config.Config, error) {
		return config.Load(path, config.Sources{LookupEnv: func(string) (string, bool) { return "", false }, ReadFile: os.ReadFile}, config.Overrides{})
	}
}

func mustLoad(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := loader(path)()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// eventually polls cond until it holds or 10 s pass: the watcher reacts
// to the file system on its own goroutine, with nothing to wait on.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSwapKeepsInFlightDefinitions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	writeConfig(t, path, configDoc("old", "a", "b"))
	r := Static(mustLoad(t, path))
	held := mustApp(t, r, "a") // a message routed before the reload
	writeConfig(t, path, configDoc("new", "a", "c"))
	r.SetConfig(context.Background(), mustLoad(t, path))

	if got := held.Webhooks[0].URL; got != "https://old.test/h" {
		t.Errorf("the in-flight message's app changed under it: %s", got)
	}
	if got := mustApp(t, r, "a").Webhooks[0].URL; got != "https://new.test/h" {
		t.Errorf("new look-ups get %s, want the new definition", got)
	}
	if mustApp(t, r, "b") != nil || mustKey(t, r, "key-c") == nil {
		t.Error("the removed app is still served, or the added one is not")
	}
}

func TestWatchReloadsOnChangeAndSIGHUPAndKeepsTheOldOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	writeConfig(t, path, configDoc("v1", "a"))
	reg := prometheus.NewRegistry()
	r, err := New(mustLoad(t, path), Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Watch(ctx, WatchOptions{Path: path, Load: loader(path), Settle: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	reloads := func(trigger, result string) float64 {
		return testutil.ToFloat64(r.m.reloads.WithLabelValues(trigger, result))
	}

	writeConfig(t, path, configDoc("v2", "a", "b"))
	eventually(t, "the changed file to be swapped in", func() bool { return r.Snapshot().App("b") != nil })
	if r.Snapshot().App("a").Webhooks[0].URL != "https://v2.test/h" || reloads("file", "ok") != 1 {
		t.Errorf("after the change: %s, reloads ok %v", r.Snapshot().App("a").Webhooks[0].URL, reloads("file", "ok"))
	}

	// An invalid file: the running config stays, the refusal is counted.
	before := r.Snapshot()
	writeConfig(t, path, strings.Replace(configDoc("v3", "a"), `"event_types"`, `"event_type"`, 1))
	eventually(t, "the invalid file to be refused", func() bool { return reloads("file", "invalid") == 1 })
	if r.Snapshot() != before {
		t.Error("an invalid config replaced the running one")
	}

	// Same bytes again (a touch, a ConfigMap resync): no reload.
	writeConfig(t, path, configDoc("v4", "a", "d"))
	eventually(t, "the fixed file", func() bool { return r.Snapshot().App("d") != nil })
	v, settles := r.Snapshot().Version, r.settles.Load()
	writeConfig(t, path, configDoc("v4", "a", "d"))
	eventually(t, "the unchanged rewrite to be looked at", func() bool { return r.settles.Load() > settles })
	if got := r.Snapshot().Version; got != v {
		t.Errorf("version %d after an unchanged rewrite, was %d: it was reloaded", got, v)
	}
}

func TestSIGHUPReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	writeConfig(t, path, configDoc("v1", "a"))
	r, err := New(mustLoad(t, path), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 1)
	// A settle time longer than the test: only the signal reloads.
	if err := r.Watch(ctx, WatchOptions{Path: path, Load: loader(path), Signals: sig, Settle: time.Hour}); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, path, configDoc("v2", "a", "b"))
	if r.Snapshot().App("b") != nil {
		t.Fatal("reloaded before the signal")
	}
	sig <- syscall.SIGHUP
	eventually(t, "SIGHUP to reload", func() bool { return r.Snapshot().App("b") != nil })
	if got := testutil.ToFloat64(r.m.reloads.WithLabelValues("sighup", "ok")); got != 1 {
		t.Errorf("sighup reloads = %v", got)
	}
}

func TestMissReadsTheFileOnceRateLimited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	writeConfig(t, path, configDoc("v1", "a"))
	var reads atomic.Int32
	load := loader(path)
	now := time.Unix(1_000_000, 0)
	r, err := New(mustLoad(t, path), Options{
		ReloadFile:   func() (*config.Config, error) { reads.Add(1); return load() },
		MissInterval: 5 * time.Second,
		Now:          func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	writeConfig(t, path, configDoc("v1", "a", "b")) // an app added, not yet reloaded
	if a := mustKey(t, r, "key-b"); a == nil || a.ID != "b" {
		t.Fatalf("AppByKey(key-b) after the file gained it = %+v", a)
	}
	if reads.Load() != 1 {
		t.Errorf("file reads = %d, want 1", reads.Load())
	}
	// An unknown key: one read, then none for the same key within the interval.
	for range 3 {
		if mustKey(t, r, "key-zzz") != nil {
			t.Fatal("unknown key found")
		}
	}
	if reads.Load() != 2 {
		t.Errorf("file reads = %d after three look-ups of one unknown key, want 2", reads.Load())
	}
	now = now.Add(6 * time.Second)
	mustKey(t, r, "key-zzz")
	if reads.Load() != 3 {
		t.Errorf("file reads = %d after the interval, want 3", reads.Load())
	}
	// Known apps never read the file.
	mustApp(t, r, "a")
	mustKey(t, r, "key-b")
	if reads.Load() != 3 {
		t.Errorf("file reads = %d, a hit read the file", reads.Load())
	}
	// A broken file on a miss: the running registry stays.
	writeConfig(t, path, `{"app_manager":`)
	if a, err := r.AppByKey(ctx, "key-new"); a != nil || !errors.Is(err, ErrLookup) || r.Snapshot().App("b") == nil {
		t.Errorf("a broken file on a miss: %+v, %v; want ErrLookup and the registry unchanged", a, err)
	}
}

func mustApp(t *testing.T, r *Registry, id string) *config.App {
	t.Helper()
	a, err := r.App(context.Background(), id)
	if err != nil {
		t.Fatalf("App(%s): %v", id, err)
	}
	return a
}

func mustKey(t *testing.T, r *Registry, key string) *config.App {
	t.Helper()
	a, err := r.AppByKey(context.Background(), key)
	if err != nil {
		t.Fatalf("AppByKey(%s): %v", key, err)
	}
	return a
}

// A miss re-reads the file while a reload swaps in a newer one: the newer
// stays.
func TestMissNeverPutsAnOlderFileBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	writeConfig(t, path, configDoc("v1", "a"))
	v1 := mustLoad(t, path)
	reading, release := make(chan struct{}), make(chan struct{})
	r, err := New(v1, Options{ReloadFile: func() (*config.Config, error) {
		close(reading)
		<-release
		return v1, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _, _ = r.AppByKey(context.Background(), "key-zzz") }()
	<-reading
	writeConfig(t, path, configDoc("v2", "a", "b"))
	r.SetConfig(context.Background(), mustLoad(t, path))
	close(release)
	<-done
	if r.Snapshot().App("b") == nil || r.Snapshot().App("a").Webhooks[0].URL != "https://v2.test/h" {
		t.Error("the miss's older read replaced the newer reload")
	}
}

// Changes of other files in the config's directory (a log, say) do not
// hold a change of the config file back.
func TestWatchIgnoresOtherFilesInTheDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	writeConfig(t, path, configDoc("v1", "a"))
	r, err := New(mustLoad(t, path), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Watch(ctx, WatchOptions{Path: path, Load: loader(path), Settle: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond) // a busy neighbour, faster than the settle time
		defer tick.Stop()
		f, err := os.Create(filepath.Join(dir, "worker.log"))
		if err != nil {
			return
		}
		defer f.Close()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_, _ = f.WriteString("a log line\n")
			}
		}
	}()
	writeConfig(t, path, configDoc("v2", "a", "b"))
	eventually(t, "the config change beside a busy log file", func() bool { return r.Snapshot().App("b") != nil })
}

// Look-ups in all are bounded: past MissRate a miss is an error, not "no
// such app".
func TestMissesAreThrottledInAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	writeConfig(t, path, configDoc("v1", "a"))
	r, err := New(mustLoad(t, path), Options{ReloadFile: loader(path), MissRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	if a := mustKey(t, r, "key-x1"); a != nil {
		t.Fatal("unknown key found")
	}
	a, err := r.AppByKey(context.Background(), "key-x2")
	if a != nil || !errors.Is(err, ErrLookup) {
		t.Errorf("a second unknown key at once = %+v, %v; want ErrLookup (throttled)", a, err)
	}
	if got := testutil.ToFloat64(r.m.lookups.WithLabelValues("key", "throttled")); got != 1 {
		t.Errorf("throttled look-ups = %v, want 1", got)
	}
}
