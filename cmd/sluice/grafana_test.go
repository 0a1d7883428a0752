package main

// docs/grafana/sluice.json: valid JSON that Grafana can import, querying only the metrics
// docs/metrics.md documents (which TestMetricsDocumented checks against a running broker), with
// the panels an operator looks for first.

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

const grafanaDashboardPath = "../../docs/grafana/sluice.json"

type grafanaPanel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos *struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's panels
}

type grafanaDashboard struct {
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

var (
	metricRef   = regexp.MustCompile(`\b(?:sluice|go|process)_[a-z0-9_]+`)
	variableRef = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)`)
)

func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(grafanaDashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", grafanaDashboardPath, err)
	}
	if dec.More() {
		t.Fatalf("%s: data after the dashboard object", grafanaDashboardPath)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion == 0 || len(d.Panels) == 0 {
		t.Fatalf("not a dashboard: title %q uid %q schemaVersion %d, %d panels", d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}

	documented := readMetricsDoc(t)
	variables := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	for _, v := range d.Templating.List {
		variables[v.Name] = true
	}
	ids := map[int]string{}
	used := map[string]bool{} // documented families the dashboard queries
	var exprs []string
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource must be the ${datasource} variable", p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
				if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") {
					t.Errorf("panel %q: unbalanced query %s", p.Title, tg.Expr)
				}
				refs := metricRef.FindAllString(tg.Expr, -1)
				if len(refs) == 0 {
					t.Errorf("panel %q: query names no documented metric: %s", p.Title, tg.Expr)
				}
				for _, name := range refs {
					family := metricFamily(name, documented)
					if family == "" {
						t.Errorf("panel %q queries %s, which docs/metrics.md does not document", p.Title, name)
						continue
					}
					used[family] = true
				}
				for _, m := range variableRef.FindAllStringSubmatch(tg.Expr, -1) {
					if !variables[m[1]] {
						t.Errorf("panel %q uses $%s, which the dashboard does not define", p.Title, m[1])
					}
				}
			}
		}
	}
	walk(d.Panels)

	// What the issue asks of the dashboard.
	for what, want := range map[string]string{
		"throughput in per topic":  "sum by (topic) (rate(sluice_topic_bytes_in_total",
		"throughput out per topic": "sum by (topic) (rate(sluice_topic_bytes_out_total",
		"p99 latency per API":      "histogram_quantile(0.99, sum by (api, le) (rate(sluice_request_latency_seconds_bucket",
		"consumer lag per group":   "sum by (group) (sluice_group_lag",
		"consumer time lag":        "sluice_group_max_time_lag_seconds",
		"under-replicated":         "sum(sluice_replica_under_replicated_partitions",
		"ISR shrinks":              "rate(sluice_replica_isr_shrinks_total",
		"active controllers":       "sum(sluice_controller_active",
		"connections":              "sluice_network_connections_open",
	} {
		found := false
		for _, e := range exprs {
			found = found || strings.Contains(e, want)
		}
		if !found {
			t.Errorf("no panel shows %s (a query containing %q)", what, want)
		}
	}
	t.Logf("%d panels query %d of the %d documented metrics", len(ids), len(used), len(documented))
}

// metricFamily maps a metric name in a query to its documented family (a histogram's _bucket,
// _sum and _count series belong to it), or "" if it is not documented.
func metricFamily(name string, documented map[string]documentedMetric) string {
	if _, ok := documented[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base := strings.TrimSuffix(name, suffix)
		if d, ok := documented[base]; ok && base != name && d.typ == "histogram" {
			return base
		}
	}
	return ""
}
