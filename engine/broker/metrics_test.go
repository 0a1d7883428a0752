package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/engine/meta"
)

// scrapeMetrics gathers b's metrics through a pedantic registry (which checks every metric
// against its descriptor and rejects duplicates), writes them in the text exposition format, and
// checks that the text parses back with expfmt's parser, as a Prometheus server would read it.
func scrapeMetrics(t *testing.T, b *Broker) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(b); err != nil {
		t.Fatalf("register: %v", err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatalf("encode %s: %v", f.GetName(), err)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, buf.String())
	}
	return buf.String()
}

// lookupMetric returns one sample's value from the text exposition; ok is false when it is absent.
func lookupMetric(text, series string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	v, ok := lookupMetric(text, series)
	if !ok {
		t.Fatalf("metric %s missing from:\n%s", series, text)
	}
	return v
}

func TestMetricsCountTraffic(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	ctx := context.Background()
	if _, err := kadm.NewClient(tb.client()).CreateTopic(ctx, 1, 1, nil, "m"); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic("m"))
	for range 10 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: bytes.Repeat([]byte("x"), 100)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	consumeAll(t, tb, "m", 10)
	text := scrapeMetrics(t, tb.b)
	if v := metricValue(t, text, `sluice_topic_records_in_total{topic="m"}`); v != 10 {
		t.Fatalf("records in %v, want 10", v)
	}
	in := metricValue(t, text, `sluice_topic_bytes_in_total{topic="m"}`)
	out := metricValue(t, text, `sluice_topic_bytes_out_total{topic="m"}`)
	if in <= 0 || out < in { // franz-go compresses batches, so bytes in may be below the raw 1000
		t.Fatalf("bytes in %v, out %v: want bytes in and everything read out", in, out)
	}
	if v := metricValue(t, text, `sluice_request_latency_seconds_count{api="Produce"}`); v < 10 {
		t.Fatalf("Produce latency count %v, want ≥ 10", v)
	}
	if inf, count := metricValue(t, text, `sluice_request_latency_seconds_bucket{api="Produce",le="+Inf"}`),
		metricValue(t, text, `sluice_request_latency_seconds_count{api="Produce"}`); inf != count {
		t.Fatalf("Produce latency: +Inf bucket %v, count %v", inf, count)
	}
	if v := metricValue(t, text, `sluice_partition_log_end_offset{partition="0",topic="m"}`); v != 10 {
		t.Fatalf("log end offset metric %v", v)
	}
	// A single node leads its one partition, in sync, and is its own controller.
	for series, want := range map[string]float64{
		"sluice_replica_partitions": 1, "sluice_replica_leader_partitions": 1, "sluice_replica_under_replicated_partitions": 0,
		"sluice_replica_under_min_isr_partitions": 0, "sluice_controller_active": 1, "sluice_controller_offline_partitions": 0,
	} {
		if v := metricValue(t, text, series); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
}

// TestMetricsConsumerTimeLag: a group committed at offset 4 of ten records stamped an hour ago,
// one second apart, in one uncompressed batch: its time lag is the age of record 4 exactly, read
// from the log; once it commits the end, 0.
func TestMetricsConsumerTimeLag(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	ctx := context.Background()
	adm := kadm.NewClient(tb.client())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "aged"); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	prod := tb.client(kgo.DefaultProduceTopic("aged"), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(time.Second))
	var rs []*kgo.Record
	for i := range 10 {
		rs = append(rs, &kgo.Record{Value: []byte(strconv.Itoa(i)), Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	commit := func(at int64) {
		t.Helper()
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "aged", Partition: 0, At: at, LeaderEpoch: -1})
		if r, err := adm.CommitOffsets(ctx, "aged-group", offs); err != nil || r.Error() != nil {
			t.Fatalf("commit: %v %v", err, r.Error())
		}
	}
	commit(4)
	record4 := base.Add(4 * time.Second)
	before := time.Since(record4)
	text := scrapeMetrics(t, tb.b)
	after := time.Since(record4)
	const series = `sluice_group_partition_time_lag_seconds{group="aged-group",partition="0",topic="aged"}`
	lag := time.Duration(metricValue(t, text, series) * float64(time.Second))
	if lag < before.Truncate(time.Millisecond) || lag > after {
		t.Errorf("time lag %v, want the age of record 4, between %v and %v", lag, before, after)
	}
	if max := time.Duration(metricValue(t, text, `sluice_group_max_time_lag_seconds{group="aged-group"}`) * float64(time.Second)); max != lag {
		t.Errorf("group max time lag %v, want the partition's %v", max, lag)
	}
	if v := metricValue(t, text, `sluice_group_partition_lag{group="aged-group",partition="0",topic="aged"}`); v != 6 {
		t.Errorf("offset lag %v, want 6", v)
	}
	d, err := tb.b.DescribeGroup("aged-group")
	if err != nil || len(d.Partitions) != 1 {
		t.Fatalf("describe: %+v %v", d, err)
	}
	if got := time.Duration(d.Partitions[0].TimeLagMs) * time.Millisecond; got < before.Truncate(time.Millisecond) {
		t.Errorf("describe time lag %v, want at least %v", got, before)
	}

	commit(10)
	text = scrapeMetrics(t, tb.b)
	if v := metricValue(t, text, series); v != 0 {
		t.Errorf("caught up: time lag %v, want 0", v)
	}
}

// replicationMetrics scrapes one broker's replication gauges and counters.
func replicationMetrics(t *testing.T, b *Broker) map[string]float64 {
	t.Helper()
	text := scrapeMetrics(t, b)
	out := map[string]float64{}
	for _, name := range []string{"sluice_replica_partitions", "sluice_replica_leader_partitions", "sluice_replica_under_replicated_partitions",
		"sluice_replica_under_min_isr_partitions", "sluice_replica_isr_shrinks_total", "sluice_replica_isr_expands_total",
		"sluice_controller_active", "sluice_controller_offline_partitions"} {
		out[name] = metricValue(t, text, name)
	}
	return out
}

// followerLag is the leader's sluice_replica_follower_lag_records for follower of topic's partition 0.
func followerLag(t *testing.T, leader *Broker, topic string, follower int32) float64 {
	t.Helper()
	return metricValue(t, scrapeMetrics(t, leader),
		fmt.Sprintf(`sluice_replica_follower_lag_records{follower="%d",partition="0",topic="%s"}`, follower, topic))
}

// wantMetrics compares the named metrics of m with want.
func wantMetrics(m map[string]float64, want map[string]float64) error {
	var errs []string
	for name, v := range want {
		if m[name] != v {
			errs = append(errs, fmt.Sprintf("%s = %v, want %v", name, m[name], v))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// TestMetricsReplication: three brokers, one partition on all three led by broker 0 with
// min.insync.replicas=3. Stopping a follower shrinks the ISR: the leader reports one
// under-replicated and one under-min-ISR partition and counts the shrink; the follower's return
// expands the ISR back, and both gauges go back to 0.
func TestMetricsReplication(t *testing.T) {
	c := startCluster(t, 3)
	const topic = "watched"
	c.createRF3(topic, map[string]string{"min.insync.replicas": "3"})
	leader := func() *Broker { return c.node(0).b }
	eventually(t, "the leader's metrics with the full ISR", func() error {
		return wantMetrics(replicationMetrics(t, leader()), map[string]float64{
			"sluice_replica_partitions": 1, "sluice_replica_leader_partitions": 1,
			"sluice_replica_under_replicated_partitions": 0, "sluice_replica_under_min_isr_partitions": 0,
			"sluice_replica_isr_shrinks_total": 0, "sluice_replica_isr_expands_total": 0,
		})
	})
	if err := wantMetrics(replicationMetrics(t, c.node(1).b), map[string]float64{
		"sluice_replica_partitions": 1, "sluice_replica_leader_partitions": 0, "sluice_replica_under_replicated_partitions": 0,
		// testCluster plays controller from outside: no broker is the active controller.
		"sluice_controller_active": 0,
	}); err != nil {
		t.Errorf("follower: %v", err)
	}

	// Both followers have fetched (the leader knows their log ends): a follower stopped before its
	// first fetch would have no lag to report but "unknown" (-1).
	eventually(t, "both followers known to the leader", func() error {
		for _, f := range []int32{1, 2} {
			if lag := followerLag(t, leader(), topic, f); lag != 0 {
				return fmt.Errorf("follower %d's lag %v, want 0", f, lag)
			}
		}
		return nil
	})
	// The ISR shrinks only when the stopped follower misses a write (Kafka's rule: a replica at
	// the leader's log end is never out of sync), so write one with acks=1.
	c.stop(2)
	if p := rawProduce(t, c.node(0).addr, topic, 0, 1, 5000, "missed"); p.ErrorCode != 0 {
		t.Fatalf("acks=1 produce: error %d", p.ErrorCode)
	}
	c.waitISR(topic, 0, 0, 0, 1)
	eventually(t, "the leader reporting the shrunk ISR", func() error {
		m := replicationMetrics(t, leader())
		if m["sluice_replica_isr_shrinks_total"] < 1 {
			return fmt.Errorf("ISR shrinks %v, want ≥ 1", m["sluice_replica_isr_shrinks_total"])
		}
		// The stopped follower lacks the record it missed; the other has it.
		if lag := followerLag(t, leader(), topic, 2); lag < 1 {
			return fmt.Errorf("stopped follower's lag %v, want ≥ 1", lag)
		}
		if lag := followerLag(t, leader(), topic, 1); lag != 0 {
			return fmt.Errorf("live follower's lag %v, want 0", lag)
		}
		return wantMetrics(m, map[string]float64{
			"sluice_replica_under_replicated_partitions": 1, "sluice_replica_under_min_isr_partitions": 1,
		})
	})
	shrinks := replicationMetrics(t, leader())["sluice_replica_isr_shrinks_total"]

	c.start(2)
	c.waitISR(topic, 0, 0, 0, 1, 2)
	eventually(t, "the leader reporting the full ISR again", func() error {
		m := replicationMetrics(t, leader())
		if m["sluice_replica_isr_expands_total"] < 1 {
			return fmt.Errorf("ISR expands %v, want ≥ 1", m["sluice_replica_isr_expands_total"])
		}
		if m["sluice_replica_isr_shrinks_total"] < shrinks {
			return fmt.Errorf("ISR shrinks went down from %v to %v", shrinks, m["sluice_replica_isr_shrinks_total"])
		}
		for _, f := range []int32{1, 2} {
			if lag := followerLag(t, leader(), topic, f); lag != 0 {
				return fmt.Errorf("follower %d's lag %v, want 0", f, lag)
			}
		}
		return wantMetrics(m, map[string]float64{
			"sluice_replica_under_replicated_partitions": 0, "sluice_replica_under_min_isr_partitions": 0,
		})
	})
}

// TestMetricsController: with the Raft controller, exactly one broker reports itself the active
// controller; when a broker leading an RF=1 partition stops, the active controller reports that
// partition offline.
func TestMetricsController(t *testing.T) {
	mc := startMetaCluster(t, 3)
	for id := int32(1); id <= 3; id++ {
		mc.waitImage(id, "three unfenced brokers", allUnfenced(3))
	}
	active := func() (int32, error) {
		var ids []int32
		for id := int32(1); id <= 3; id++ {
			mc.mu.Lock()
			n := mc.nodes[id]
			mc.mu.Unlock()
			if n == nil {
				continue
			}
			if replicationMetrics(t, n.tb.b)["sluice_controller_active"] == 1 {
				ids = append(ids, id)
			}
		}
		if len(ids) != 1 {
			return -1, fmt.Errorf("brokers %v report being the active controller, want exactly one", ids)
		}
		return ids[0], nil
	}
	var ctrl int32
	eventually(t, "one active controller", func() (err error) { ctrl, err = active(); return err })

	const topic = "single"
	adm := kadm.NewClient(mc.node(ctrl).tb.client(kgo.SeedBrokers(mc.addrs(1, 2, 3)...)))
	if _, err := adm.CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	img := mc.waitImage(ctrl, "the topic", func(img *meta.Image) error {
		if img.Topic(topic) == nil {
			return errors.New("no topic")
		}
		return nil
	})
	// Stop a broker other than the controller that leads some of the topic's partitions.
	victim, led := int32(-1), 0
	for _, p := range img.Topic(topic).Partitions {
		if p.Leader != ctrl && (victim < 0 || p.Leader == victim) {
			victim = p.Leader
			led++
		}
	}
	if victim < 0 {
		t.Fatalf("the controller %d leads every partition of a 3-partition topic on 3 brokers: %v", ctrl, img.Topic(topic).Partitions)
	}
	if m := replicationMetrics(t, mc.node(ctrl).tb.b); m["sluice_controller_offline_partitions"] != 0 {
		t.Fatalf("offline partitions %v before any broker stopped", m["sluice_controller_offline_partitions"])
	}
	mc.stop(victim)
	eventually(t, "the controller reporting the victim's partitions offline", func() error {
		if _, err := active(); err != nil {
			return err
		}
		return wantMetrics(replicationMetrics(t, mc.node(ctrl).tb.b), map[string]float64{
			"sluice_controller_offline_partitions": float64(led),
		})
	})
}
