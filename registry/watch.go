package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hookline/hookline/config"
)

// WatchOptions configure Watch.
type WatchOptions struct {
	// Path is the config file.
	Path string
	// Load reads and validates the config file.
	Load func() (*config.Config, error)
	// Signals delivers SIGHUP; nil: no signal reloads.
	Signals <-chan os.Signal
	// Settle is how long the file must stay unchanged after a change
	// before it is read (editors and ConfigMap updates write in several
	// steps). Default 250 ms.
	Settle time.Duration
}

// Watch reloads the config file on SIGHUP and when it changes on disk,
// until ctx ends, swapping in each new configuration that loads without
// error. An invalid one keeps the current configuration; it is logged and
// counted in hookline_registry_config_reloads_total{result="invalid"}.
//
// The file's directory is watched, not the file: an editor's rename and a
// Kubernetes ConfigMap's symlink swap replace the file. A change event whose
// file content is the same as the last one read is ignored.
//
// It returns once the watch is set up; the error is fsnotify's.
func (r *Registry) Watch(ctx context.Context, o WatchOptions) error {
	if o.Settle <= 0 {
		o.Settle = 250 * time.Millisecond
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	if err := fw.Add(filepath.Dir(o.Path)); err != nil {
		fw.Close()
		return err
	}
	last := fileSum(o.Path)
	base := filepath.Base(o.Path)
	go func() {
		defer fw.Close()
		settle := time.NewTimer(time.Hour)
		settle.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-o.Signals:
				// The bytes before the read: a change during it is read
				// again when its event settles.
				sum := fileSum(o.Path)
				r.reload(ctx, o, "sighup")
				last = sum
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Create) {
					continue
				}
				// The config file itself, or Kubernetes' atomic writer
				// swapping a ConfigMap's "..data" symlink; other files in
				// the directory (a log) must not keep postponing the read.
				if n := filepath.Base(ev.Name); n != base && !strings.HasPrefix(n, "..") {
					continue
				}
				settle.Reset(o.Settle)
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				r.log.Warn("config file watch", "error", err)
			case <-settle.C:
				r.settles.Add(1)
				sum := fileSum(o.Path)
				if bytes.Equal(sum, last) {
					continue
				}
				last = sum
				r.reload(ctx, o, "file")
			}
		}
	}()
	return nil
}

func fileSum(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := sha256.Sum256(data)
	return s[:]
}

// reload loads the file and swaps the new configuration in.
func (r *Registry) reload(ctx context.Context, o WatchOptions, trigger string) {
	cfg, err := o.Load()
	if err != nil {
		r.m.reloads.WithLabelValues(trigger, "invalid").Inc()
		r.log.Error("config reload refused; keeping the running configuration", "trigger", trigger, "path", o.Path, "error", err)
		return
	}
	old := r.Config()
	for _, w := range cfg.Warnings {
		r.log.Warn("config", "problem", w)
	}
	for _, what := range restartOnly(old, cfg) {
		r.log.Warn("config reload: this setting takes effect at the next restart", "setting", what)
	}
	r.SetConfig(ctx, cfg)
	r.m.reloads.WithLabelValues(trigger, "ok").Inc()
	r.log.Info("config reloaded", "trigger", trigger, "apps", r.Snapshot().Len(), "version", r.Snapshot().Version)
}

// restartOnly names the settings that differ between a and b and are read
// only at startup: the queue, batching, event ids, the grace period and
// the app source.
func restartOnly(a, b *config.Config) []string {
	var out []string
	if a.Queue != b.Queue {
		out = append(out, "queue.sqs")
	}
	if a.Webhooks.Batching != b.Webhooks.Batching {
		out = append(out, "webhooks.batching")
	}
	if a.Webhooks.EventIDs != b.Webhooks.EventIDs {
		out = append(out, "webhooks.event_ids")
	}
	if a.ShutdownGracePeriod != b.ShutdownGracePeriod {
		out = append(out, "shutdown_grace_period")
	}
	if a.AppManager.Driver != b.AppManager.Driver || !reflect.DeepEqual(a.Database, b.Database) {
		out = append(out, "app_manager.driver / database")
	}
	return out
}
