package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicemq/sluice/netio"
)

type fakeStats netio.Stats

func (f fakeStats) Stats() netio.Stats { return netio.Stats(f) }

// fakeMetrics is a broker's collector with one gauge, sluice_topics.
type fakeMetrics float64

var descFakeTopics = prometheus.NewDesc("sluice_topics", "Topics.", nil, nil)

func (fakeMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- descFakeTopics }
func (f fakeMetrics) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descFakeTopics, prometheus.GaugeValue, float64(f))
}

func get(t *testing.T, url string) (status int, contentType, body string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestAdminMetrics(t *testing.T) {
	stats := fakeStats{
		ConnectionsOpen: 3, ConnectionsAccepted: 11, Requests: 1234, BytesIn: 56789,
		BytesOutWrite: 1001, BytesOutSendfile: 2002, SendfileFallbacks: 4, FramesRejected: 5, RequestsInPlace: 800, RequestsStreamed: 80, ColdReads: 9,
		InboundOverflows: 6, Mutes: 7,
	}
	srv := httptest.NewServer(newAdminMux(stats, []prometheus.Collector{fakeMetrics(2)}))
	defer srv.Close()

	status, ctype, body := get(t, srv.URL+"/metrics")
	if status != http.StatusOK || !strings.HasPrefix(ctype, "text/plain; version=0.0.4; charset=utf-8") {
		t.Fatalf("status %d content type %q", status, ctype)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse as the text exposition format: %v\n%s", err, body)
	}
	// The Go runtime and process collectors are registered.
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_open_fds"} {
		if f := fams[name]; f == nil || len(f.GetMetric()) == 0 {
			t.Errorf("%s not served", name)
		}
	}
	samples := map[string]string{}
	types := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if name, typ, ok := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " "); ok && strings.HasPrefix(line, "# TYPE ") {
			types[name] = typ
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("malformed sample line %q", line)
		}
		if !strings.HasPrefix(name, "sluice_") {
			continue // go_ and process_
		}
		if _, dup := samples[name]; dup {
			t.Fatalf("sample %s twice", name)
		}
		samples[name] = value
	}
	for name, want := range map[string]string{
		"sluice_network_connections_open":                 "3",
		"sluice_network_connections_accepted_total":       "11",
		"sluice_network_requests_total":                   "1234",
		"sluice_network_bytes_in_total":                   "56789",
		`sluice_network_bytes_out_total{path="write"}`:    "1001",
		`sluice_network_bytes_out_total{path="sendfile"}`: "2002",
		"sluice_network_sendfile_fallbacks_total":         "4",
		"sluice_network_requests_in_place_total":          "800",
		"sluice_network_requests_streamed_total":          "80",
		"sluice_network_cold_reads_total":                 "9",
		"sluice_network_frames_rejected_total":            "5",
		"sluice_network_inbound_overflows_total":          "6",
		"sluice_network_mutes_total":                      "7",
		"sluice_topics":                                   "2",
	} {
		if got := samples[name]; got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if len(samples) != 14 {
		t.Errorf("%d samples, want 14:\n%s", len(samples), body)
	}
	for name := range samples {
		family, _, _ := strings.Cut(name, "{")
		want := "counter"
		if family == "sluice_network_connections_open" || family == "sluice_topics" {
			want = "gauge"
		}
		if types[family] != want {
			t.Errorf("# TYPE %s is %q, want %q", family, types[family], want)
		}
	}
}

func TestAdminHealthzAndPprof(t *testing.T) {
	srv := httptest.NewServer(newAdminMux(fakeStats{}, nil))
	defer srv.Close()

	if status, _, body := get(t, srv.URL+"/healthz"); status != http.StatusOK || body != "ok" {
		t.Errorf("/healthz: %d %q", status, body)
	}
	for path, want := range map[string]string{
		"/debug/pprof/":                   "goroutine",
		"/debug/pprof/goroutine?debug=1":  "goroutine profile",
		"/debug/pprof/cmdline":            "",
		"/debug/pprof/profile?seconds=1":  "", // the shortest CPU profile pprof takes
		"/debug/pprof/trace?seconds=0.05": "",
		"/debug/pprof/symbol":             "num_symbols",
	} {
		status, _, body := get(t, srv.URL+path)
		if strings.HasPrefix(path, "/debug/pprof/profile") && strings.Contains(body, "cpu profiling already in use") {
			continue // go test -cpuprofile holds the CPU profiler; the route is there
		}
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("%s: status %d, body %.80q, want it to contain %q", path, status, body, want)
		}
	}
	if status, _, _ := get(t, srv.URL+"/nope"); status != http.StatusNotFound {
		t.Errorf("/nope: status %d, want 404", status)
	}
	resp, err := http.Post(srv.URL+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: status %d, want 405", resp.StatusCode)
	}
}

// registerDefaultMuxProbe puts a route on http.DefaultServeMux once per process (-count=N runs
// the test N times; a second registration would panic).
var registerDefaultMuxProbe = sync.OnceValue(func() string {
	const path = "/test-default-mux-probe"
	http.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {})
	return path
})

// The admin mux is not http.DefaultServeMux: registering there does not reach it.
func TestAdminNotDefaultServeMux(t *testing.T) {
	path := registerDefaultMuxProbe()
	srv := httptest.NewServer(newAdminMux(fakeStats{}, nil))
	defer srv.Close()
	if status, _, _ := get(t, srv.URL+path); status != http.StatusNotFound {
		t.Errorf("DefaultServeMux route served by the admin mux: status %d", status)
	}
}
