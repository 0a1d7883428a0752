package main

// docs/metrics.md against a running broker: after a small workload (produce, consume in a group,
// commit) every documented metric is served with its documented type, nothing undocumented is
// served, and the counters that say the workload happened are not zero.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const metricsDocPath = "../../docs/metrics.md"

// documentedMetric is one row of a metrics table in docs/metrics.md.
type documentedMetric struct {
	name, typ string
	labels    []string
}

// metricRow matches a table row: | `name` | type | labels | ...
var metricRow = regexp.MustCompile("^\\| `((?:sluice|go|process)_[a-z0-9_]+)` \\| (counter|gauge|histogram|summary) \\| ([^|]*) \\|")

// readMetricsDoc returns the metrics docs/metrics.md documents, by name.
func readMetricsDoc(t *testing.T) map[string]documentedMetric {
	t.Helper()
	data, err := os.ReadFile(metricsDocPath)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]documentedMetric{}
	for _, line := range strings.Split(string(data), "\n") {
		m := metricRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := out[m[1]]; dup {
			t.Errorf("%s documented twice", m[1])
		}
		var labels []string
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" && l != "-" {
				labels = append(labels, l)
			}
		}
		out[m[1]] = documentedMetric{name: m[1], typ: m[2], labels: labels}
	}
	if len(out) == 0 {
		t.Fatal("docs/metrics.md documents no metric")
	}
	return out
}

// scrapedFamily is one metric family of a /metrics answer.
type scrapedFamily struct {
	typ     string
	samples map[string]float64 // sample name{labels sorted by name} → value
	labels  map[string]bool    // label names seen (le excluded)
}

// parseExposition reads a /metrics answer with Prometheus' own text parser (expfmt), which rejects
// what a Prometheus server would: malformed lines, a family twice, samples outside their family,
// a # TYPE after samples. Samples are keyed name{a="x",b="y"} with labels sorted by name, histogram
// samples as _bucket (with le), _sum and _count.
func parseExposition(t *testing.T, body string) map[string]*scrapedFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	fams := map[string]*scrapedFamily{}
	for name, mf := range mfs {
		if strings.TrimSpace(mf.GetHelp()) == "" {
			t.Errorf("%s has no help text", name)
		}
		f := &scrapedFamily{typ: strings.ToLower(mf.GetType().String()), samples: map[string]float64{}, labels: map[string]bool{}}
		fams[name] = f
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				f.labels[l.GetName()] = true
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := func(suffix string, extra ...string) string {
				ls := append(slices.Clone(labels), extra...)
				sort.Strings(ls)
				if len(ls) == 0 {
					return name + suffix
				}
				return name + suffix + "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				f.samples[key("")] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				f.samples[key("")] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					f.samples[key("_bucket", fmt.Sprintf("le=%q", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)))] = float64(b.GetCumulativeCount())
				}
				f.samples[key("_bucket", `le="+Inf"`)] = float64(h.GetSampleCount())
				f.samples[key("_sum")] = h.GetSampleSum()
				f.samples[key("_count")] = float64(h.GetSampleCount())
			case m.GetUntyped() != nil:
				f.samples[key("")] = m.GetUntyped().GetValue()
			case m.GetSummary() != nil:
				f.samples[key("_sum")] = m.GetSummary().GetSampleSum()
				f.samples[key("_count")] = float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	return fams
}

// servedOnlyInCluster are documented families a single node has no samples of (they are per
// follower replica), so client_golang does not write them; engine/broker's TestMetricsReplication
// and compat's TestClusterMetricsRealProcesses check them.
var servedOnlyInCluster = map[string]bool{"sluice_replica_follower_lag_records": true}

// standardPrefixes are the families client_golang's Go runtime and process collectors serve. Their
// full list depends on the Go version, so only the ones docs/metrics.md names are checked; the rest
// may be served undocumented (client_golang documents them).
var standardPrefixes = []string{"go_", "process_"}

func isStandard(name string) bool {
	for _, p := range standardPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// TestMetricsDocumented scrapes /metrics from `serve` with the real broker after a workload.
func TestMetricsDocumented(t *testing.T) {
	doc := readMetricsDoc(t)
	p := startRealServe(t)

	const topic, group, records = "metrics-doc", "metrics-group", 20
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()
	produce := func(n int) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafkaAddr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		rs := make([]*kgo.Record, n)
		for i := range rs {
			rs[i] = kgo.StringRecord(fmt.Sprintf("record-%d", i))
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	produce(records)

	// Consume everything in a group, commit, leave.
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafkaAddr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for got := 0; got < records; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", got, records)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		got += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl.Close() // leaves the group
	// Three more records the group has not read: its lag.
	producedLate := time.Now()
	produce(3)
	adm, err := kgo.NewClient(kgo.SeedBrokers(p.kafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).DescribeTopicConfigs(ctx, topic); err != nil {
		t.Fatalf("describe configs: %v", err)
	}

	_, _, body := get(t, p.adminURL+"/metrics")
	fams := parseExposition(t, body)

	for name, d := range doc {
		f, ok := fams[name]
		switch {
		case !ok && servedOnlyInCluster[name]:
		case !ok:
			t.Errorf("%s is documented but not served", name)
		case f.typ != d.typ:
			t.Errorf("%s is documented as a %s but served as a %s", name, d.typ, f.typ)
		default:
			for l := range f.labels {
				if !contains(d.labels, l) {
					t.Errorf("%s is served with label %s, which the doc does not list (%v)", name, l, d.labels)
				}
			}
			for _, l := range d.labels {
				if len(f.samples) > 0 && !f.labels[l] {
					t.Errorf("%s: documented label %s not served", name, l)
				}
			}
		}
	}
	for name := range fams {
		if _, ok := doc[name]; !ok && !isStandard(name) {
			t.Errorf("%s is served but not documented in docs/metrics.md", name)
		}
	}

	// The workload shows.
	sample := func(family, sample string) float64 {
		t.Helper()
		f := fams[family]
		if f == nil {
			return -1
		}
		v, ok := f.samples[sample]
		if !ok {
			t.Errorf("no sample %s", sample)
			return -1
		}
		return v
	}
	positive := map[string][2]string{
		"connections accepted":     {"sluice_network_connections_accepted_total", "sluice_network_connections_accepted_total"},
		"requests":                 {"sluice_network_requests_total", "sluice_network_requests_total"},
		"bytes in":                 {"sluice_network_bytes_in_total", "sluice_network_bytes_in_total"},
		"bytes out (write)":        {"sluice_network_bytes_out_total", `sluice_network_bytes_out_total{path="write"}`},
		"topic bytes in":           {"sluice_topic_bytes_in_total", `sluice_topic_bytes_in_total{topic="` + topic + `"}`},
		"topic bytes out":          {"sluice_topic_bytes_out_total", `sluice_topic_bytes_out_total{topic="` + topic + `"}`},
		"Produce requests":         {"sluice_request_latency_seconds", `sluice_request_latency_seconds_count{api="Produce"}`},
		"Fetch requests":           {"sluice_request_latency_seconds", `sluice_request_latency_seconds_count{api="Fetch"}`},
		"JoinGroup requests":       {"sluice_request_latency_seconds", `sluice_request_latency_seconds_count{api="JoinGroup"}`},
		"OffsetCommit requests":    {"sluice_request_latency_seconds", `sluice_request_latency_seconds_count{api="OffsetCommit"}`},
		"DescribeConfigs requests": {"sluice_request_latency_seconds", `sluice_request_latency_seconds_count{api="DescribeConfigs"}`},
		"Produce latency sum":      {"sluice_request_latency_seconds", `sluice_request_latency_seconds_sum{api="Produce"}`},
		"rebalances":               {"sluice_group_rebalances_total", "sluice_group_rebalances_total"},
		"offset commits":           {"sluice_group_offset_commits_total", "sluice_group_offset_commits_total"},
		"journal batches":          {"sluice_group_journal_batches_total", "sluice_group_journal_batches_total"},
		"journal records":          {"sluice_group_journal_records_total", "sluice_group_journal_records_total"},
	}
	for what, fs := range positive {
		if v := sample(fs[0], fs[1]); v <= 0 {
			t.Errorf("%s: %s = %v, want > 0", what, fs[1], v)
		}
	}
	exact := map[string]float64{
		`sluice_topic_records_in_total{topic="` + topic + `"}`:                                     records + 3,
		`sluice_partition_log_end_offset{partition="0",topic="` + topic + `"}`:                     records + 3,
		`sluice_group_committed_offset{group="` + group + `",partition="0",topic="` + topic + `"}`: records,
		`sluice_group_partition_lag{group="` + group + `",partition="0",topic="` + topic + `"}`:    3,
		`sluice_group_lag{group="` + group + `"}`:                                                  3,
		`sluice_group_members{group="` + group + `"}`:                                              0,
		`sluice_group_state{group="` + group + `",state="Empty"}`:                                  1,
		// One node: its own controller, leader of its one partition, in sync.
		"sluice_replica_partitions":                  1,
		"sluice_replica_leader_partitions":           1,
		"sluice_replica_under_replicated_partitions": 0,
		"sluice_replica_under_min_isr_partitions":    0,
		"sluice_controller_active":                   1,
		"sluice_controller_offline_partitions":       0,
	}
	for s, want := range exact {
		family, _, _ := strings.Cut(s, "{")
		if v := sample(family, s); v != want {
			t.Errorf("%s = %v, want %v", s, v, want)
		}
	}
	// The three records produced after the commit are unconsumed: their age is the time lag, more
	// than 0 and no more than the time since they were produced.
	timeLag := sample("sluice_group_partition_time_lag_seconds", `sluice_group_partition_time_lag_seconds{group="`+group+`",partition="0",topic="`+topic+`"}`)
	if since := time.Since(producedLate).Seconds(); timeLag < 0 || timeLag > since {
		t.Errorf("time lag %vs, want within [0, %v] (the unconsumed records' age)", timeLag, since)
	}
	// Histogram buckets are cumulative and end at most at the count.
	prev := 0.0
	for _, le := range []string{"0.0001", "0.0005", "0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5"} {
		v := sample("sluice_request_latency_seconds", `sluice_request_latency_seconds_bucket{api="Produce",le="`+le+`"}`)
		if v < prev {
			t.Errorf("Produce latency bucket le=%s holds %v, below the previous bucket's %v", le, v, prev)
		}
		prev = v
	}
	if count := sample("sluice_request_latency_seconds", `sluice_request_latency_seconds_count{api="Produce"}`); prev > count {
		t.Errorf("Produce latency: last bucket %v above the count %v", prev, count)
	}
	// The Go runtime and process collectors.
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if v := sample(name, name); v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// realServe is serve() running in this process with the real broker on 127.0.0.1 ports.
type realServe struct {
	kafkaAddr, adminURL string
}

// startRealServe runs serve as `sluice serve` would, with the real engine/broker, a temp data
// directory, one partition per topic and no initial rebalance delay; it is stopped, and must stop
// cleanly, when the test ends.
func startRealServe(t *testing.T, extra ...string) realServe {
	t.Helper()
	args := append([]string{
		"--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=127.0.0.1:0", "--log.dirs=" + t.TempDir(),
		"--group.initial.rebalance.delay.ms=0",
	}, extra...)
	cfg, _, err := loadServeConfig(args)
	if err != nil {
		t.Fatal(err)
	}
	return startRealServeConfig(t, cfg)
}

// startRealServeConfig runs serve with cfg as startRealServe does.
func startRealServeConfig(t *testing.T, cfg serveConfig) realServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		err := serve(ctx, cfg, openBroker, pw, logger)
		pw.Close()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(testTimeout):
			t.Error("serve did not stop")
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, pr) // serve prints one line; never block it
	}()
	select {
	case line := <-lines:
		m := listeningLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("listening line %q", line)
		}
		return realServe{kafkaAddr: m[1], adminURL: m[4]}
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(testTimeout):
		t.Fatal("no listening line")
	}
	return realServe{}
}
