package deploy_test

// deploy/grafana/hookline.json: a Grafana dashboard over the worker's,
// ingest's and the producer's metrics. Every metric a query names must be
// one the real code registers (a worker, an ingest handler and a producer
// built here on the in-memory SQS), with the labels the query selects on.

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/ingest"
	"github.com/hookline/hookline/localstack/sqsmem"
	"github.com/hookline/hookline/producer"
	"github.com/hookline/hookline/worker"
)

// grafanaDashboard is the part of Grafana's dashboard JSON model this
// dashboard uses; anything else fails to decode.
type grafanaDashboard struct {
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	Description   string   `json:"description"`
	Tags          []string `json:"tags"`
	Timezone      string   `json:"timezone"`
	Editable      bool     `json:"editable"`
	GraphTooltip  int      `json:"graphTooltip"`
	SchemaVersion int      `json:"schemaVersion"`
	Version       int      `json:"version"`
	Refresh       string   `json:"refresh"`
	Time          struct{ From, To string }
	Templating    struct {
		List []struct {
			Name    string           `json:"name"`
			Label   string           `json:"label"`
			Type    string           `json:"type"`
			Query   string           `json:"query"`
			Current map[string]any   `json:"current"`
			Hide    int              `json:"hide"`
			Refresh int              `json:"refresh"`
			Regex   string           `json:"regex"`
			Options []map[string]any `json:"options"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []map[string]any `json:"list"`
	} `json:"annotations"`
	Links  []map[string]any `json:"links"`
	Panels []grafanaPanel   `json:"panels"`
}

type grafanaPanel struct {
	ID          int                      `json:"id"`
	Type        string                   `json:"type"`
	Title       string                   `json:"title"`
	Description string                   `json:"description"`
	Collapsed   bool                     `json:"collapsed"`
	Datasource  *grafanaDataRef          `json:"datasource"`
	GridPos     struct{ H, W, X, Y int } `json:"gridPos"`
	FieldConfig map[string]any           `json:"fieldConfig"`
	Options     map[string]any           `json:"options"`
	Panels      []grafanaPanel           `json:"panels"`
	Targets     []struct {
		RefID        string          `json:"refId"`
		Datasource   *grafanaDataRef `json:"datasource"`
		Expr         string          `json:"expr"`
		LegendFormat string          `json:"legendFormat"`
	} `json:"targets"`
}

type grafanaDataRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func TestGrafanaDashboard(t *testing.T) {
	const path = "grafana/hookline.json"
	var d grafanaDashboard
	// Grafana's model is lowerCamel; the json tags spell it.
	if err := decodeJSON(render(t, path), &d, lowerCamel); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 || len(d.Panels) == 0 {
		t.Fatalf("uid %q, title %q, schemaVersion %d, %d panels: want all", d.UID, d.Title, d.SchemaVersion, len(d.Panels))
	}
	// A data source variable, so the dashboard imports into any Grafana.
	var dsVar string
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			dsVar = "${" + v.Name + "}"
		}
	}
	if dsVar == "" {
		t.Fatal("no Prometheus data source variable in templating.list")
	}

	known := registeredMetrics(t)
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != dsVar || len(p.Targets) == 0 {
			t.Errorf("panel %q: want data source %s and targets", p.Title, dsVar)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || tg.Datasource == nil || tg.Datasource.UID != dsVar {
				t.Errorf("panel %q: target %q: want expr, refId and data source %s", p.Title, tg.RefID, dsVar)
			}
			for _, m := range metricRE.FindAllStringSubmatch(tg.Expr, -1) {
				name, sel := m[1], m[2]
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(name, suffix); ok {
						if _, isBase := known[b]; isBase {
							base = b
						}
					}
				}
				used[base] = true
				lbls, ok := known[base]
				if !ok {
					t.Errorf("panel %q: %s is not a metric Hookline registers", p.Title, name)
					continue
				}
				for _, l := range labelRE.FindAllStringSubmatch(sel, -1) {
					if l[1] != "le" && !slices.Contains(lbls, l[1]) {
						t.Errorf("panel %q: %s has no label %q (it has %v)", p.Title, base, l[1], lbls)
					}
				}
			}
		}
	}
	// The metrics an operator needs are on it.
	for _, m := range []string{"hookline_worker_queue_messages", "hookline_worker_dead_letters_total", "hookline_worker_events_delivered_total",
		"hookline_worker_requests_total", "hookline_worker_event_age_seconds", "hookline_worker_inflight_messages", "hookline_ingest_requests_total"} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

var (
	metricRE = regexp.MustCompile(`\b(hookline_[a-z_]+)(\{[^}]*\})?`)
	labelRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	// descRE reads a metric's name and variable labels from
	// prometheus.Desc.String() (client_golang keeps them unexported).
	descRE = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
)

// recorder is a Registerer that remembers what was registered, so that
// labelled metrics with no series yet are known too (Gather shows only
// series).
type recorder struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func (r *recorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registry.Register(c)
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// registeredMetrics builds a worker, an ingest handler and its producer as
// the commands do, on the in-memory SQS, and returns every metric they
// register with its variable labels.
func registeredMetrics(t *testing.T) map[string][]string {
	t.Helper()
	cfg := loadConfig(t, allSecrets(t))
	srv := sqsmem.New()
	mainURL, dlqURL := srv.CreatePair(cfg.Queue.QueueName, cfg.Queue.FIFO, cfg.Queue.VisibilityTimeout, 10)
	reg := &recorder{Registry: prometheus.NewRegistry()}

	sender := delivery.SenderFunc(func(context.Context, *delivery.Request) delivery.Outcome { return delivery.Outcome{} })
	if _, err := worker.New(cfg, worker.Options{QueueURL: mainURL, DeadLetterQueueURL: dlqURL, Registry: reg}, srv.Client(), sender); err != nil {
		t.Fatalf("worker.New: %v", err)
	}
	prod, err := producer.New(context.Background(), srv.Client(), producer.Options{QueueURL: mainURL, Registry: reg})
	if err != nil {
		t.Fatalf("producer.New: %v", err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	if _, err := ingest.New(prod, ingest.Options{Config: cfg, Registry: reg}); err != nil {
		t.Fatalf("ingest.New: %v", err)
	}

	out := map[string][]string{}
	for _, c := range reg.collectors {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for desc := range ch {
			m := descRE.FindStringSubmatch(desc.String())
			if m == nil {
				t.Fatalf("cannot read %s", desc)
			}
			var lbls []string
			if m[2] != "" {
				lbls = strings.Split(m[2], ",")
			}
			out[m[1]] = lbls
		}
	}
	// Gather agrees on the names it shows (series at zero included).
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if _, ok := out[f.GetName()]; !ok {
			t.Errorf("gathered %s, which no Describe announced", f.GetName())
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d metrics registered: %v", len(out), out)
	}
	return out
}
