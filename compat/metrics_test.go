//go:build compat

package compat

// Replication metrics of real `sluice serve` processes, scraped from their admin listeners as
// Prometheus would and parsed with Prometheus' own parser.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scrapeGauges reads b's /metrics and returns the unlabelled samples of the named families, and
// the sample count and largest value of sluice_replica_follower_lag_records.
func scrapeGauges(b *broker, names ...string) (map[string]float64, error) {
	resp, err := http.Get(b.admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("/metrics of %s does not parse: %w", b.addr, err)
	}
	out := map[string]float64{}
	if f := fams["sluice_replica_follower_lag_records"]; f != nil {
		for _, m := range f.GetMetric() {
			out["follower lag samples"]++
			out["follower lag max"] = max(out["follower lag max"], m.GetGauge().GetValue())
		}
	}
	for _, name := range names {
		f := fams[name]
		if f == nil || len(f.GetMetric()) != 1 {
			return nil, fmt.Errorf("%s: family %s missing", b.addr, name)
		}
		m := f.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			out[name] = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			out[name] = m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// clusterSums adds up the named metrics over the running nodes.
func (rc *realCluster) clusterSums(names ...string) (map[string]float64, error) {
	sums := map[string]float64{}
	for _, n := range rc.nodes {
		if n.cmd == nil {
			continue // stopped
		}
		m, err := scrapeGauges(n, names...)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			if k == "follower lag max" {
				sums[k] = max(sums[k], v)
				continue
			}
			sums[k] += v
		}
	}
	return sums, nil
}

// TestClusterMetricsRealProcesses: three processes, a topic with RF=3 and three partitions. One
// active controller among them; every partition led once and held three times, none
// under-replicated. kill -9 a broker: the survivors report its partitions under-replicated (the
// ISR shrinks), still one active controller and no partition offline; restarted, it catches up
// and the ISR expands back, under-replicated back to 0.
func TestClusterMetricsRealProcesses(t *testing.T) {
	rc := startRealCluster(t, "--admin.listener=127.0.0.1:0")
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(rc.seeds()...), kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	waitFor(t, 30*time.Second, "three registered brokers", func() bool {
		m, err := adm.BrokerMetadata(ctx)
		return err == nil && len(m.Brokers) == 3
	})
	const topic, partitions = "watched", 3
	waitFor(t, 20*time.Second, "CreateTopic RF=3", func() bool {
		r, err := adm.CreateTopic(ctx, partitions, 3, nil, topic)
		return err == nil && r.Err == nil
	})

	names := []string{"sluice_controller_active", "sluice_controller_offline_partitions", "sluice_replica_partitions",
		"sluice_replica_leader_partitions", "sluice_replica_under_replicated_partitions",
		"sluice_replica_isr_shrinks_total", "sluice_replica_isr_expands_total"}
	var last map[string]float64
	waitMetrics := func(d time.Duration, what string, cond func(m map[string]float64) bool) {
		t.Helper()
		waitFor(t, d, what, func() bool {
			m, err := rc.clusterSums(names...)
			if err != nil {
				t.Logf("scrape: %v", err)
				return false
			}
			last = m
			return cond(m)
		})
		t.Logf("%s: %v", what, last)
	}
	waitMetrics(30*time.Second, "the healthy cluster's metrics", func(m map[string]float64) bool {
		return m["sluice_controller_active"] == 1 && m["sluice_replica_partitions"] == 3*partitions &&
			m["sluice_replica_leader_partitions"] == partitions && m["sluice_replica_under_replicated_partitions"] == 0
	})

	// A record in every partition, so that the stopped broker misses writes (a replica at the
	// leader's log end stays in sync).
	prod, err := kgo.NewClient(kgo.SeedBrokers(rc.seeds()...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	produceAll := func() {
		t.Helper()
		for p := range int32(partitions) {
			if err := prod.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatalf("produce to partition %d: %v", p, err)
			}
		}
	}
	produceAll()

	const victim = 3
	rc.nodes[victim-1].kill()
	produceAll() // acks=all with min.insync.replicas=2: two replicas suffice
	waitMetrics(60*time.Second, "the survivors reporting the ISR shrunk", func(m map[string]float64) bool {
		return m["sluice_controller_active"] == 1 && m["sluice_controller_offline_partitions"] == 0 &&
			m["sluice_replica_under_replicated_partitions"] == partitions && m["sluice_replica_isr_shrinks_total"] >= 1 &&
			m["follower lag max"] >= 1 // the stopped broker missed the second round of writes
	})

	rc.start(victim)
	waitMetrics(60*time.Second, "the ISR expanded back", func(m map[string]float64) bool {
		return m["sluice_controller_active"] == 1 && m["sluice_replica_under_replicated_partitions"] == 0 &&
			m["sluice_replica_isr_expands_total"] >= 1 && m["sluice_replica_partitions"] == 3*partitions &&
			m["follower lag samples"] == 2*partitions && m["follower lag max"] == 0 // two followers a partition, caught up
	})
}
