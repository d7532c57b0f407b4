package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/registry"
)

// openApps builds the app registry of a long-running command (worker,
// ingest): the file's apps, and those of the database app_manager.driver
// names. It watches the config file (and SIGHUP) and reads the database
// again every cache_ttl, until ctx ends. The database is not read yet:
// call firstRead.
func (g *globalFlags) openApps(ctx context.Context, e *env, log *slog.Logger, cfg *config.Config, reg prometheus.Registerer) (*registry.Registry, error) {
	src, err := openSource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	load := func() (*config.Config, error) { return g.loadConfig(e) }
	apps, err := registry.New(cfg, registry.Options{Source: src, ReloadFile: load, Logger: log, Registry: reg})
	if err != nil {
		return nil, err
	}
	if err := apps.Watch(ctx, registry.WatchOptions{Path: g.configPath, Load: load, Signals: e.hup}); err != nil {
		// Reload by SIGHUP and on a miss still work; only the file watch is lost.
		log.Warn("config file not watched for changes; SIGHUP reloads it", "path", g.configPath, "error", err)
	}
	if src != nil {
		log.Info("apps from a database", "driver", cfg.AppManager.Driver, "cache_ttl", cfg.AppManager.CacheTTL.String(),
			"file_apps", len(cfg.Apps))
	}
	return apps, nil
}

// firstRead reads the database until it succeeds or ctx ends, so that no
// message is routed, and no key answered 401, before the apps are known.
// A file registry returns at once.
func firstRead(ctx context.Context, log *slog.Logger, apps *registry.Registry) error {
	b := backoff.WithContext(backoff.NewExponentialBackOff(backoff.WithInitialInterval(500*time.Millisecond),
		backoff.WithMaxInterval(15*time.Second), backoff.WithMaxElapsedTime(0)), ctx)
	return backoff.RetryNotify(func() error {
		return apps.Load(ctx, "start")
	}, b, func(err error, wait time.Duration) {
		log.Error("app registry not read; retrying (nothing is delivered or accepted until it is)", "error", err, "retry_in", wait.Round(time.Millisecond).String())
	})
}

// readiness is the /readyz body of the registry: an error while it was
// never read; a note while the last good one is served because the
// database is down (ready: what it serves is still the last good state).
func readiness(apps *registry.Registry) (note string, err error) {
	if err := apps.Ready(); err != nil {
		return "", err
	}
	if since, why := apps.Stale(); why != nil {
		return fmt.Sprintf("app registry stale since %s (serving the last good one): %v", since.UTC().Format(time.RFC3339), why), nil
	}
	return "", nil
}

// readyzHandler answers /readyz from the registry and ready.
func readyzHandler(apps *registry.Registry, ready func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		note, err := readiness(apps)
		if err == nil && ready != nil {
			err = ready()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
		if note != "" {
			fmt.Fprintln(w, note)
		}
	}
}

// openSource returns the database source app_manager.driver names; nil
// for memory.
func openSource(ctx context.Context, cfg *config.Config) (registry.Source, error) {
	switch cfg.AppManager.Driver {
	case config.DriverMemory, "":
		return nil, nil
	}
	return openDatabase(ctx, cfg)
}
