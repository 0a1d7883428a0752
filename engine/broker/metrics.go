package broker

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicemq/sluice/netio"
)

// Metrics: per-topic traffic and per-API request latency. Counters are atomics updated on the
// request path (no lock, no allocation, no labelled-vector lookup); the Broker is a
// prometheus.Collector that reads them only when scraped (Describe/Collect below), turning each into
// a constant metric. The admin HTTP port registers it with client_golang's registry
// (cmd/sluice/admin.go). Replication metrics are in metrics_replication.go; consumer-group metrics
// come from engine/group's collector.

// latencyBucketsSec are the upper bounds of the request-latency histogram.
var latencyBucketsSec = [...]float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5}

// apiMetrics is one API's latency histogram. The request count is the sum of the buckets, read at
// scrape time, so a request costs two atomic adds.
type apiMetrics struct {
	sumNs   atomic.Int64
	buckets [len(latencyBucketsSec) + 1]atomic.Int64 // last: +Inf
}

func (m *apiMetrics) observe(d time.Duration) {
	m.sumNs.Add(int64(d))
	sec := d.Seconds()
	i := sort.SearchFloat64s(latencyBucketsSec[:], sec)
	m.buckets[i].Add(1)
}

type topicMetrics struct {
	bytesIn, recordsIn, bytesOut atomic.Int64
}

// timedWriter measures a request from its arrival to its answer (parked ones included). Pooled:
// it returns itself to the pool once it has passed the answer on, so the hot path allocates none.
type timedWriter struct {
	netio.ResponseWriter
	start time.Time
	m     *apiMetrics
}

var timedWriterPool = sync.Pool{New: func() any { return new(timedWriter) }}

func (w *timedWriter) Respond(parts ...netio.Part) {
	w.m.observe(time.Since(w.start))
	inner := w.ResponseWriter
	w.recycle()
	inner.Respond(parts...)
}

func (w *timedWriter) NoResponse() {
	w.m.observe(time.Since(w.start))
	inner := w.ResponseWriter
	w.recycle()
	inner.NoResponse()
}

func (w *timedWriter) Close() {
	inner := w.ResponseWriter
	w.recycle()
	inner.Close()
}

func (w *timedWriter) recycle() {
	*w = timedWriter{}
	timedWriterPool.Put(w)
}

var apiNames = map[int16]string{
	0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
	10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
	15: "DescribeGroups", 16: "ListGroups", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
	21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch", 32: "DescribeConfigs", 33: "AlterConfigs",
	37: "CreatePartitions", 42: "DeleteGroups", 44: "IncrementalAlterConfigs", 47: "OffsetDelete",
	43: "ElectLeaders", 45: "AlterPartitionReassignments", 46: "ListPartitionReassignments",
	56: "AlterPartition", 60: "DescribeCluster", 62: "BrokerRegistration", 63: "BrokerHeartbeat",
	67: "AllocateProducerIds",
}

func apiName(k int16) string {
	if n, ok := apiNames[k]; ok {
		return n
	}
	return fmt.Sprintf("api%d", k)
}

// Descriptors of the broker's metric families; docs/metrics.md documents each.
var (
	descTopicBytesIn = prometheus.NewDesc("sluice_topic_bytes_in_total",
		"Record batch bytes appended, per topic.", []string{"topic"}, nil)
	descTopicRecordsIn = prometheus.NewDesc("sluice_topic_records_in_total",
		"Records appended, per topic.", []string{"topic"}, nil)
	descTopicBytesOut = prometheus.NewDesc("sluice_topic_bytes_out_total",
		"Record batch bytes sent to fetchers, per topic.", []string{"topic"}, nil)
	descPartitionLogEndOffset = prometheus.NewDesc("sluice_partition_log_end_offset",
		"Log end offset, per partition.", []string{"topic", "partition"}, nil)
	descRequestLatency = prometheus.NewDesc("sluice_request_latency_seconds",
		"Time from a request's arrival to its answer, per API.", []string{"api"}, nil)
	descWriteBehindRings = prometheus.NewDesc("sluice_write_behind_rings",
		"log.write.mode=direct: write-behind rings held by partitions now (log.write.direct.memory.bytes allows 4 MiB each).", nil, nil)
	descWriteBehindMisses = prometheus.NewDesc("sluice_write_behind_ring_misses_total",
		"log.write.mode=direct: appends written buffered because every write-behind ring was taken.", nil, nil)
)

// Describe sends the descriptors of every metric Collect sends (prometheus.Collector).
func (b *Broker) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTopicBytesIn, descTopicRecordsIn, descTopicBytesOut, descPartitionLogEndOffset, descRequestLatency,
		descWriteBehindRings, descWriteBehindMisses} {
		ch <- d
	}
	describeReplication(ch)
	b.groups.Collector().Describe(ch)
}

// Collect reads the broker's counters and sends them as constant metrics (prometheus.Collector).
// Called on the scraping HTTP goroutine, concurrently with the broker's work: it reads atomics and
// the lock-free topic view, and the group coordinator's store (see engine/group's Collect).
func (b *Broker) Collect(ch chan<- prometheus.Metric) {
	topics := *b.topicsView.Load()
	for name, t := range topics {
		ch <- prometheus.MustNewConstMetric(descTopicBytesIn, prometheus.CounterValue, float64(t.metrics.bytesIn.Load()), name)
		ch <- prometheus.MustNewConstMetric(descTopicRecordsIn, prometheus.CounterValue, float64(t.metrics.recordsIn.Load()), name)
		ch <- prometheus.MustNewConstMetric(descTopicBytesOut, prometheus.CounterValue, float64(t.metrics.bytesOut.Load()), name)
		for _, p := range t.partitions {
			ch <- prometheus.MustNewConstMetric(descPartitionLogEndOffset, prometheus.GaugeValue, float64(p.log.LogEndOffset()),
				name, strconv.Itoa(int(p.index)))
		}
	}
	for k := range apis {
		m := &b.apiMetrics[k]
		// The count is the +Inf bucket, summed from the same reads as the finite buckets, so the
		// histogram is consistent even while requests complete (the sum may run a request ahead).
		buckets := make(map[float64]uint64, len(latencyBucketsSec))
		var cum uint64
		for i, le := range latencyBucketsSec {
			cum += uint64(m.buckets[i].Load())
			buckets[le] = cum
		}
		cum += uint64(m.buckets[len(latencyBucketsSec)].Load())
		ch <- prometheus.MustNewConstHistogram(descRequestLatency, cum, float64(m.sumNs.Load())/1e9, buckets, apiName(k))
	}
	rings := b.cfg.LogDefaults.RingBudget
	ch <- prometheus.MustNewConstMetric(descWriteBehindRings, prometheus.GaugeValue, float64(rings.InUse()))
	ch <- prometheus.MustNewConstMetric(descWriteBehindMisses, prometheus.CounterValue, float64(rings.Misses()))
	b.collectReplication(ch)
	b.groups.Collector().Collect(ch)
}
