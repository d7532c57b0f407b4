package registry

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	apps        prometheus.Gauge
	skipped     prometheus.Gauge
	stale       prometheus.Gauge
	lastSuccess prometheus.Gauge
	loads       *prometheus.CounterVec
	lookups     *prometheus.CounterVec
	reloads     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, source string) (*metrics, error) {
	labels := prometheus.Labels{"source": source}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "hookline", Subsystem: "registry", Name: name, Help: help, ConstLabels: labels})
	}
	vec := func(name, help string, l ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "hookline", Subsystem: "registry", Name: name, Help: help, ConstLabels: labels}, l)
	}
	m := &metrics{
		apps:        gauge("apps", "Apps in the registry being served."),
		skipped:     gauge("rows_skipped", "Rows of the last database read left out because their app or webhooks are invalid (each is logged with its id and JSON path)."),
		stale:       gauge("stale", "1 while the last read of the database failed and the last good registry is served."),
		lastSuccess: gauge("last_success_timestamp_seconds", "When the database was last read successfully."),
		loads:       vec("loads_total", "Reads of the app source by trigger (start, ttl, reload, miss) and result (ok, error, invalid).", "trigger", "result"),
		lookups:     vec("lookups_total", "Look-ups of an unknown app id or key by result: found, missing, error, limited (the same one not found within 5 s: not read again), throttled (more than 20 a second in all).", "by", "result"),
		reloads:     vec("config_reloads_total", "Config file reloads by trigger (sighup, file) and result (ok; invalid: the old config is kept).", "trigger", "result"),
	}
	for _, c := range []prometheus.Collector{m.apps, m.skipped, m.stale, m.lastSuccess, m.loads, m.lookups, m.reloads} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, t := range []string{"start", "ttl", "reload", "miss"} {
		for _, res := range []string{"ok", "error"} {
			m.loads.WithLabelValues(t, res)
		}
	}
	for _, by := range []string{"id", "key"} {
		for _, res := range []string{"found", "missing", "error", "limited", "throttled"} {
			m.lookups.WithLabelValues(by, res)
		}
	}
	for _, t := range []string{"sighup", "file"} {
		for _, res := range []string{"ok", "invalid"} {
			m.reloads.WithLabelValues(t, res)
		}
	}
	return m, nil
}
