package broker

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicemq/sluice/netio"
)

// Metrics: per-topic traffic and per-API request latency, written in Prometheus text format by
// WriteMetrics (the admin HTTP port serves it). Counters are atomics updated on the request path;
// nothing here takes a lock.

// latencyBucketsSec are the upper bounds of the request-latency histogram.
var latencyBucketsSec = [...]float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5}

type apiMetrics struct {
	requests atomic.Int64
	sumNs    atomic.Int64
	buckets  [len(latencyBucketsSec) + 1]atomic.Int64 // last: +Inf
}

func (m *apiMetrics) observe(d time.Duration) {
	m.requests.Add(1)
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
	60: "DescribeCluster",
}

func apiName(k int16) string {
	if n, ok := apiNames[k]; ok {
		return n
	}
	return fmt.Sprintf("api%d", k)
}

// WriteMetrics writes the broker's metrics in Prometheus text exposition format.
func (b *Broker) WriteMetrics(w io.Writer) {
	fmt.Fprintln(w, "# HELP sluice_topic_bytes_in_total Record batch bytes appended, per topic.")
	fmt.Fprintln(w, "# TYPE sluice_topic_bytes_in_total counter")
	topics := *b.topicsView.Load()
	names := make([]string, 0, len(topics))
	for n := range topics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "sluice_topic_bytes_in_total{topic=%q} %d\n", n, topics[n].metrics.bytesIn.Load())
	}
	fmt.Fprintln(w, "# HELP sluice_topic_records_in_total Records appended, per topic.")
	fmt.Fprintln(w, "# TYPE sluice_topic_records_in_total counter")
	for _, n := range names {
		fmt.Fprintf(w, "sluice_topic_records_in_total{topic=%q} %d\n", n, topics[n].metrics.recordsIn.Load())
	}
	fmt.Fprintln(w, "# HELP sluice_topic_bytes_out_total Record batch bytes sent to fetchers, per topic.")
	fmt.Fprintln(w, "# TYPE sluice_topic_bytes_out_total counter")
	for _, n := range names {
		fmt.Fprintf(w, "sluice_topic_bytes_out_total{topic=%q} %d\n", n, topics[n].metrics.bytesOut.Load())
	}
	fmt.Fprintln(w, "# HELP sluice_partition_log_end_offset Log end offset, per partition.")
	fmt.Fprintln(w, "# TYPE sluice_partition_log_end_offset gauge")
	for _, n := range names {
		for _, p := range topics[n].partitions {
			fmt.Fprintf(w, "sluice_partition_log_end_offset{topic=%q,partition=\"%d\"} %d\n", n, p.index, p.log.LogEndOffset())
		}
	}
	fmt.Fprintln(w, "# HELP sluice_request_latency_seconds Time from a request's arrival to its answer, per API.")
	fmt.Fprintln(w, "# TYPE sluice_request_latency_seconds histogram")
	keys := make([]int, 0, len(apis))
	for k := range apis {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	for _, k := range keys {
		m := &b.apiMetrics[k]
		name := apiName(int16(k))
		var cum int64
		for i, le := range latencyBucketsSec {
			cum += m.buckets[i].Load()
			fmt.Fprintf(w, "sluice_request_latency_seconds_bucket{api=%q,le=\"%g\"} %d\n", name, le, cum)
		}
		cum += m.buckets[len(latencyBucketsSec)].Load()
		fmt.Fprintf(w, "sluice_request_latency_seconds_bucket{api=%q,le=\"+Inf\"} %d\n", name, cum)
		fmt.Fprintf(w, "sluice_request_latency_seconds_sum{api=%q} %g\n", name, float64(m.sumNs.Load())/1e9)
		fmt.Fprintf(w, "sluice_request_latency_seconds_count{api=%q} %d\n", name, m.requests.Load())
	}
	b.WriteGroupMetrics(w)
}
