// Package registry is the app registry the worker and ingest look apps up
// in: the config file's apps, and, with a database app manager (Sockudo's
// pgsql, mysql or dynamodb), the apps of its table.
//
// A Registry serves an immutable [Snapshot] swapped atomically, so a look-up
// never waits on a database and a message in flight keeps the app
// definitions it started with. The snapshot is replaced when
//
//   - the source is read again, every cache_ttl (Sockudo's default 300 s);
//   - the config file is reloaded (SIGHUP, a change on disk: [Registry.SetConfig]);
//   - a look-up misses: the worker asks for an app id and ingest for an app
//     key it does not know. A database source is asked for that one row; a
//     file-only registry reloads the file. An id or key not found is not
//     read again for MissInterval (5 s), look-ups in all are bounded
//     (MissRate, 20 a second), and at most one read of the source runs at a
//     time. A look-up that cannot tell (the source failed, too slow, too
//     many look-ups) is an error wrapping [ErrLookup], not a miss.
//
// When the source cannot be read, the last good snapshot keeps being
// served; [Registry.Stale] and hookline_registry_stale say so.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/hookline/hookline/config"
)

// Source reads apps from where they are kept (a database table).
type Source interface {
	// Name names the source in logs and metrics: "pgsql", "mysql",
	// "dynamodb".
	Name() string
	// Load reads every app. Rows that cannot be used are left out and
	// reported in skipped, each error naming the row's id and the JSON
	// path (config.AppFromRecord's errors); err is set only when the
	// source could not be read. cfg gives the global webhook settings.
	Load(ctx context.Context, cfg *config.Config) (apps []config.App, skipped []error, err error)
	// AppByID and AppByKey read one app; found is false when there is no
	// such row. A row that cannot be used is an error.
	AppByID(ctx context.Context, cfg *config.Config, id string) (app config.App, found bool, err error)
	AppByKey(ctx context.Context, cfg *config.Config, key string) (app config.App, found bool, err error)
	// Close releases the connections.
	Close() error
}

// Snapshot is one immutable version of the registry.
type Snapshot struct {
	byID  map[string]*config.App
	byKey map[string]*config.App
	// Config is the configuration the snapshot was built with.
	Config *config.Config
	// Version counts swaps, from 1.
	Version uint64
}

// App returns the app with the given id, or nil.
func (s *Snapshot) App(id string) *config.App { return s.byID[id] }

// AppByKey returns the app with the given key, or nil.
func (s *Snapshot) AppByKey(key string) *config.App { return s.byKey[key] }

// Len is the number of apps.
func (s *Snapshot) Len() int { return len(s.byID) }

// Options configure a Registry.
type Options struct {
	// Source is the database the apps are read from; nil for the file's
	// apps only.
	Source Source
	// ReloadFile re-reads the config file. On a look-up miss of a registry
	// without Source it is called (rate-limited) and its config swapped in;
	// nil: no reload on a miss.
	ReloadFile func() (*config.Config, error)
	// MissInterval is how long a missed id or key is not looked up again.
	// Default 5 s.
	MissInterval time.Duration
	// LookupTimeout bounds a look-up on a miss, the wait for a read in
	// progress included. Default 2 s.
	LookupTimeout time.Duration
	// LoadTimeout bounds one full read of the source. Default 60 s.
	LoadTimeout time.Duration
	// MissRate bounds look-ups on a miss, all ids and keys together, per
	// second (bursts of as many). Default 20.
	MissRate float64
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Registry serves the apps. The zero value is not usable; call New.
type Registry struct {
	opts Options
	log  *slog.Logger
	cur  atomic.Pointer[Snapshot]
	m    *metrics

	// sem admits one read of the source (or of the file) at a time.
	sem chan struct{}

	mu         sync.Mutex
	cfg        *config.Config
	dbApps     []config.App // the source's apps of the last good load
	loaded     bool         // the source was read at least once
	staleSince time.Time    // zero when the last read succeeded
	lastErr    error
	tried      map[string]time.Time // misses: "id\x00…" / "key\x00…" → when last not found
	version    uint64
	cfgGen     uint64 // configurations swapped in (setConfig)

	// limit bounds look-ups on a miss in all (MissRate).
	limit *rate.Limiter
	// settles counts the file watch's looks at the file after a change
	// (tests wait on it).
	settles atomic.Int64
}

// New returns a registry serving cfg's apps. With a Source, call Load
// before serving: until the source has been read once, Ready fails.
func New(cfg *config.Config, opts Options) (*Registry, error) {
	if opts.MissInterval <= 0 {
		opts.MissInterval = 5 * time.Second
	}
	if opts.LookupTimeout <= 0 {
		opts.LookupTimeout = 2 * time.Second
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = 60 * time.Second
	}
	if opts.MissRate <= 0 {
		opts.MissRate = 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	source := "file"
	if opts.Source != nil {
		source = opts.Source.Name()
	}
	m, err := newMetrics(opts.Registry, source)
	if err != nil {
		return nil, err
	}
	r := &Registry{opts: opts, log: opts.Logger.With("registry", source), m: m, sem: make(chan struct{}, 1),
		cfg: cfg, tried: map[string]time.Time{}, limit: rate.NewLimiter(rate.Limit(opts.MissRate), max(int(opts.MissRate), 1))}
	r.swapLocked()
	return r, nil
}

// Snapshot returns the current snapshot. It never blocks.
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load() }

// Config returns the configuration of the current snapshot.
func (r *Registry) Config() *config.Config { return r.cur.Load().Config }

// ErrLookup is wrapped by the errors of a look-up that could not tell
// whether the app exists: the source failed or was too slow, too many
// look-ups are under way, or the reloaded config file is invalid. Callers
// answer "try again later" (ingest: 503), not "unknown app".
var ErrLookup = errors.New("app look-up failed")

// App returns the app with the given id. On a miss it looks the id up
// (see the package documentation): nil and no error mean there is no such
// app; an error (wrapping ErrLookup) that it could not tell.
func (r *Registry) App(ctx context.Context, id string) (*config.App, error) {
	if a := r.cur.Load().App(id); a != nil {
		return a, nil
	}
	return r.miss(ctx, "id", id)
}

// AppByKey returns the app with the given key, looking it up on a miss,
// as App does.
func (r *Registry) AppByKey(ctx context.Context, key string) (*config.App, error) {
	if a := r.cur.Load().AppByKey(key); a != nil {
		return a, nil
	}
	return r.miss(ctx, "key", key)
}

func (r *Registry) find(kind, v string) *config.App {
	s := r.cur.Load()
	if kind == "id" {
		return s.App(v)
	}
	return s.AppByKey(v)
}

// missed reports whether v was looked up within MissInterval and not
// found: asking again would tell nothing new.
func (r *Registry) missed(tk string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tried[tk]
	return ok && now.Sub(t) < r.opts.MissInterval
}

func (r *Registry) miss(ctx context.Context, kind, v string) (*config.App, error) {
	if v == "" || (r.opts.Source == nil && r.opts.ReloadFile == nil) {
		return nil, nil
	}
	tk := kind + "\x00" + v
	if r.missed(tk, r.opts.Now()) {
		r.m.lookups.WithLabelValues(kind, "limited").Inc()
		return nil, nil
	}
	// Unknown keys from the internet are cheap to send: bound the reads
	// they cause in all, not only per key.
	if !r.limit.Allow() {
		r.m.lookups.WithLabelValues(kind, "throttled").Inc()
		return nil, fmt.Errorf("%w: more than %g look-ups a second", ErrLookup, float64(r.limit.Limit()))
	}
	fail := func(err error) (*config.App, error) {
		r.m.lookups.WithLabelValues(kind, "error").Inc()
		return nil, fmt.Errorf("%w: %w", ErrLookup, err)
	}

	// The wait for a read in progress counts against the look-up's time.
	ctx, cancel := context.WithTimeout(ctx, r.opts.LookupTimeout)
	defer cancel()
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return fail(fmt.Errorf("waiting for a read in progress: %w", ctx.Err()))
	}
	defer func() { <-r.sem }()
	// Another caller may have found it, or not found it, while this one
	// waited.
	if a := r.find(kind, v); a != nil {
		return a, nil
	}
	now := r.opts.Now()
	if r.missed(tk, now) {
		r.m.lookups.WithLabelValues(kind, "limited").Inc()
		return nil, nil
	}

	var app *config.App
	if r.opts.Source == nil {
		// A file registry: read the file again, once.
		gen := r.configGen()
		cfg, err := r.opts.ReloadFile()
		if err != nil {
			r.m.loads.WithLabelValues("miss", "invalid").Inc()
			r.log.Warn("config reload on an unknown app "+kind+" failed; keeping the current apps", "error", err)
			return fail(fmt.Errorf("reloading the config file: %w", err))
		}
		// A reload (SIGHUP, the file watch) may have swapped in a newer
		// file meanwhile: never put this one back over it.
		if r.setConfigIf(cfg, gen) {
			r.m.loads.WithLabelValues("miss", "ok").Inc()
		}
		app = r.find(kind, v)
	} else {
		cfg := r.Config()
		var (
			a   config.App
			ok  bool
			err error
		)
		if kind == "id" {
			a, ok, err = r.opts.Source.AppByID(ctx, cfg, v)
		} else {
			a, ok, err = r.opts.Source.AppByKey(ctx, cfg, v)
		}
		if err != nil {
			r.log.Warn("app look-up failed", "by", kind, "error", err)
			return fail(err)
		}
		if ok {
			r.mu.Lock()
			r.warnLocked([]config.App{a})
			r.dbApps = upsert(r.dbApps, a)
			r.swapLocked()
			r.mu.Unlock()
			r.log.Info("app read on a look-up miss", "app_id", a.ID, "webhooks", len(a.Webhooks))
			app = r.find(kind, v)
		}
	}
	r.m.lookups.WithLabelValues(kind, found(app != nil)).Inc()
	if app == nil {
		r.mu.Lock()
		if len(r.tried) > 10_000 { // unknown keys from the internet must not grow it for ever
			for k, t := range r.tried {
				if now.Sub(t) >= r.opts.MissInterval {
					delete(r.tried, k)
				}
			}
		}
		r.tried[tk] = now
		r.mu.Unlock()
	}
	return app, nil
}

// warnLocked logs the warnings of database apps, once: an app whose
// warnings are those it had in the registry already is not logged again at
// every read.
func (r *Registry) warnLocked(apps []config.App) {
	had := make(map[string]string, len(r.dbApps))
	for _, a := range r.dbApps {
		had[a.ID] = strings.Join(a.Warnings, "\n")
	}
	for _, a := range apps {
		if len(a.Warnings) == 0 || had[a.ID] == strings.Join(a.Warnings, "\n") {
			continue
		}
		for _, w := range a.Warnings {
			r.log.Warn("app row", "app_id", a.ID, "problem", w)
		}
	}
}

func found(ok bool) string {
	if ok {
		return "found"
	}
	return "missing"
}

// upsert replaces the app with app's id, or appends it.
func upsert(apps []config.App, app config.App) []config.App {
	out := make([]config.App, 0, len(apps)+1)
	for _, a := range apps {
		if a.ID != app.ID && a.Key != app.Key {
			out = append(out, a)
		}
	}
	return append(out, app)
}

// Load reads the source and swaps in what it holds. trigger names why, for
// the metric ("start", "ttl", "reload"). On an error the current snapshot
// stays; the registry is stale until a read succeeds.
func (r *Registry) Load(ctx context.Context, trigger string) error {
	if r.opts.Source == nil {
		return nil
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.sem }()
	cfg := r.Config()
	ctx, cancel := context.WithTimeout(ctx, r.opts.LoadTimeout)
	defer cancel()
	apps, skipped, err := r.opts.Source.Load(ctx, cfg)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if r.staleSince.IsZero() {
			r.staleSince = r.opts.Now()
		}
		r.lastErr = err
		r.m.stale.Set(1)
		r.m.loads.WithLabelValues(trigger, "error").Inc()
		return fmt.Errorf("registry: reading %s: %w", r.opts.Source.Name(), err)
	}
	for _, e := range skipped {
		r.log.Error("app skipped: its row is invalid", "error", e)
	}
	r.warnLocked(apps)
	r.m.skipped.Set(float64(len(skipped)))
	r.dbApps, r.loaded, r.staleSince, r.lastErr = apps, true, time.Time{}, nil
	r.tried = map[string]time.Time{}
	r.m.stale.Set(0)
	r.m.lastSuccess.Set(float64(r.opts.Now().UnixNano()) / 1e9)
	r.m.loads.WithLabelValues(trigger, "ok").Inc()
	r.swapLocked()
	return nil
}

// Run reads the source every cache_ttl until ctx ends; after a failed read
// it tries again sooner (every tenth of the TTL, at least 1 s, at most 30 s).
func (r *Registry) Run(ctx context.Context) {
	if r.opts.Source == nil {
		return
	}
	for {
		wait := r.Config().AppManager.CacheTTL
		if wait <= 0 {
			wait = config.DefaultCacheTTL
		}
		if _, err := r.Stale(); err != nil {
			wait = min(max(wait/10, time.Second), 30*time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := r.Load(ctx, "ttl"); err != nil && ctx.Err() == nil {
			since, _ := r.Stale()
			r.log.Error("app registry not refreshed; serving the last good one", "error", err, "stale_since", since)
		}
	}
}

// SetConfig swaps in a newly loaded configuration: the file's apps and the
// global webhook settings. A database source is read again with it in the
// background (its rows are resolved with the global settings).
func (r *Registry) SetConfig(ctx context.Context, cfg *config.Config) {
	r.setConfig(cfg)
	if r.opts.Source != nil {
		go func() {
			if err := r.Load(ctx, "reload"); err != nil && ctx.Err() == nil {
				r.log.Error("app registry not refreshed after the config reload; serving the last good one", "error", err)
			}
		}()
	}
}

func (r *Registry) setConfig(cfg *config.Config) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg = cfg
	r.cfgGen++
	r.swapLocked()
}

// configGen counts the configurations swapped in.
func (r *Registry) configGen() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfgGen
}

// setConfigIf swaps cfg in unless another configuration was swapped in
// since gen was read.
func (r *Registry) setConfigIf(cfg *config.Config, gen uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfgGen != gen {
		return false
	}
	r.cfg = cfg
	r.cfgGen++
	r.swapLocked()
	return true
}

// swapLocked builds and publishes a snapshot: the source's apps, then the
// file's apps whose id and key the source does not have (the source wins:
// Sockudo registers inline apps into its database).
func (r *Registry) swapLocked() {
	r.version++
	s := &Snapshot{byID: map[string]*config.App{}, byKey: map[string]*config.App{}, Config: r.cfg, Version: r.version}
	add := func(apps []config.App, from string) {
		for i := range apps {
			a := &apps[i]
			if s.byID[a.ID] != nil || s.byKey[a.Key] != nil {
				if from == "file" {
					r.log.Warn("app of the config file hidden by a database row with the same id or key", "app_id", a.ID, "path", a.Path)
				}
				continue
			}
			s.byID[a.ID] = a
			s.byKey[a.Key] = a
		}
	}
	add(r.dbApps, "source")
	add(r.cfg.Apps, "file")
	r.cur.Store(s)
	r.m.apps.Set(float64(len(s.byID)))
}

// Ready is nil once the registry can serve: always for a file registry,
// after the first successful read for a database one.
func (r *Registry) Ready() error {
	if r.opts.Source == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded {
		if r.lastErr != nil {
			return fmt.Errorf("app registry %s not read yet: %w", r.opts.Source.Name(), r.lastErr)
		}
		return errors.New("app registry " + r.opts.Source.Name() + " not read yet")
	}
	return nil
}

// Stale reports since when the source could not be read, and why; a nil
// error means the last read succeeded.
func (r *Registry) Stale() (time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.staleSince, r.lastErr
}

// Close closes the source.
func (r *Registry) Close() error {
	if r.opts.Source == nil {
		return nil
	}
	return r.opts.Source.Close()
}

// Static returns a registry of cfg's apps only, for tests and tools that
// never reload.
func Static(cfg *config.Config) *Registry {
	r, err := New(cfg, Options{})
	if err != nil {
		panic(err) // a fresh prometheus registry never refuses
	}
	return r
}
