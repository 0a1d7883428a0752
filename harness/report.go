package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is one run's report. The top-level fields are the OpenMessaging
// Benchmark's TestResult, names and units included (rates in records/s,
// latencies in ms, one array entry per stats interval of the measured
// window), so OMB's charting scripts read it. Everything Sluice adds is
// under "sluice".
type Result struct {
	Workload          string `json:"workload"`
	Driver            string `json:"driver"`
	MessageSize       int    `json:"messageSize"`
	Topics            int    `json:"topics"`
	Partitions        int    `json:"partitions"`
	ProducersPerTopic int    `json:"producersPerTopic"`
	// ConsumersPerTopic is consumerPerSubscription, as OMB fills it.
	ConsumersPerTopic int `json:"consumersPerTopic"`

	PublishRate      []float64 `json:"publishRate"`
	PublishErrorRate []float64 `json:"publishErrorRate"`
	ConsumeRate      []float64 `json:"consumeRate"`
	Backlog          []int64   `json:"backlog"`

	PublishLatencyAvg      []float64 `json:"publishLatencyAvg"`
	PublishLatency50pct    []float64 `json:"publishLatency50pct"`
	PublishLatency75pct    []float64 `json:"publishLatency75pct"`
	PublishLatency95pct    []float64 `json:"publishLatency95pct"`
	PublishLatency99pct    []float64 `json:"publishLatency99pct"`
	PublishLatency999pct   []float64 `json:"publishLatency999pct"`
	PublishLatency9999pct  []float64 `json:"publishLatency9999pct"`
	PublishLatency99999pct []float64 `json:"publishLatency99999pct"`
	PublishLatencyMax      []float64 `json:"publishLatencyMax"`

	AggregatedPublishLatencyAvg       float64            `json:"aggregatedPublishLatencyAvg"`
	AggregatedPublishLatency50pct     float64            `json:"aggregatedPublishLatency50pct"`
	AggregatedPublishLatency75pct     float64            `json:"aggregatedPublishLatency75pct"`
	AggregatedPublishLatency95pct     float64            `json:"aggregatedPublishLatency95pct"`
	AggregatedPublishLatency99pct     float64            `json:"aggregatedPublishLatency99pct"`
	AggregatedPublishLatency999pct    float64            `json:"aggregatedPublishLatency999pct"`
	AggregatedPublishLatency9999pct   float64            `json:"aggregatedPublishLatency9999pct"`
	AggregatedPublishLatency99999pct  float64            `json:"aggregatedPublishLatency99999pct"`
	AggregatedPublishLatencyMax       float64            `json:"aggregatedPublishLatencyMax"`
	AggregatedPublishLatencyQuantiles map[string]float64 `json:"aggregatedPublishLatencyQuantiles"`

	EndToEndLatencyAvg      []float64 `json:"endToEndLatencyAvg"`
	EndToEndLatency50pct    []float64 `json:"endToEndLatency50pct"`
	EndToEndLatency75pct    []float64 `json:"endToEndLatency75pct"`
	EndToEndLatency95pct    []float64 `json:"endToEndLatency95pct"`
	EndToEndLatency99pct    []float64 `json:"endToEndLatency99pct"`
	EndToEndLatency999pct   []float64 `json:"endToEndLatency999pct"`
	EndToEndLatency9999pct  []float64 `json:"endToEndLatency9999pct"`
	EndToEndLatency99999pct []float64 `json:"endToEndLatency99999pct"`
	EndToEndLatencyMax      []float64 `json:"endToEndLatencyMax"`

	AggregatedEndToEndLatencyAvg       float64            `json:"aggregatedEndToEndLatencyAvg"`
	AggregatedEndToEndLatency50pct     float64            `json:"aggregatedEndToEndLatency50pct"`
	AggregatedEndToEndLatency75pct     float64            `json:"aggregatedEndToEndLatency75pct"`
	AggregatedEndToEndLatency95pct     float64            `json:"aggregatedEndToEndLatency95pct"`
	AggregatedEndToEndLatency99pct     float64            `json:"aggregatedEndToEndLatency99pct"`
	AggregatedEndToEndLatency999pct    float64            `json:"aggregatedEndToEndLatency999pct"`
	AggregatedEndToEndLatency9999pct   float64            `json:"aggregatedEndToEndLatency9999pct"`
	AggregatedEndToEndLatency99999pct  float64            `json:"aggregatedEndToEndLatency99999pct"`
	AggregatedEndToEndLatencyMax       float64            `json:"aggregatedEndToEndLatencyMax"`
	AggregatedEndToEndLatencyQuantiles map[string]float64 `json:"aggregatedEndToEndLatencyQuantiles"`

	Sluice Extra `json:"sluice"`
}

// Extra is what Sluice reports beyond OMB.
type Extra struct {
	Target    string    `json:"target"`
	Bootstrap []string  `json:"bootstrap"`
	Client    string    `json:"client"`
	Start     time.Time `json:"start"`
	Settings  Settings  `json:"settings"`

	IntervalSeconds float64 `json:"intervalSeconds"` // width of each per-interval entry above
	WarmupSeconds   float64 `json:"warmupSeconds"`
	MeasuredSeconds float64 `json:"measuredSeconds"`
	DrainSeconds    float64 `json:"drainSeconds"`
	// DrainComplete is false when consumers had not read everything the
	// broker held when the drain timeout ran out.
	DrainComplete bool `json:"drainComplete"`

	// Totals over the measured window; MB is MiB.
	PublishedRecords      int64     `json:"publishedRecords"`
	PublishedBytes        int64     `json:"publishedBytes"`
	PublishRecordsPerSec  float64   `json:"publishRecordsPerSec"`
	PublishMBPerSec       float64   `json:"publishMBPerSec"`
	ConsumedRecords       int64     `json:"consumedRecords"`
	ConsumedBytes         int64     `json:"consumedBytes"`
	ConsumeRecordsPerSec  float64   `json:"consumeRecordsPerSec"`
	ConsumeMBPerSec       float64   `json:"consumeMBPerSec"`
	PublishMBPerSecSeries []float64 `json:"publishMBPerSecSeries"`
	ConsumeMBPerSecSeries []float64 `json:"consumeMBPerSecSeries"`

	// The measured window's latencies at the percentiles a table quotes
	// (OMB's fields above skip p90).
	PublishLatencyMs  LatencyMs `json:"publishLatencyMs"`
	EndToEndLatencyMs LatencyMs `json:"endToEndLatencyMs"`

	PublishErrors     int64  `json:"publishErrors"`
	FirstPublishError string `json:"firstPublishError,omitempty"`
	ConsumeErrors     int64  `json:"consumeErrors"`
	FirstConsumeError string `json:"firstConsumeError,omitempty"`
	ForeignRecords    int64  `json:"foreignRecords"`

	Correctness Verdict  `json:"correctness"`
	Passed      bool     `json:"passed"`
	Notes       []string `json:"notes,omitempty"`

	// Broker is the target process's use over the measured window, when it
	// is a separate process with a known PID.
	Broker *ProcessUsage `json:"broker,omitempty"`
	// Harness is this process over the measured window: the clients, and an
	// in-process target (kfake) too.
	Harness *ProcessUsage `json:"harness,omitempty"`
	// LoadAvg1 is the machine's 1-minute load average as the measured
	// window closed: above the core count, something else was competing.
	LoadAvg1 float64 `json:"loadAvg1"`
	// OtherCPUCores is how many cores' worth of CPU every other process on
	// the machine used during the measured window (all CPU time less the
	// harness's and the broker's): the competition the figures were
	// measured under.
	OtherCPUCores float64 `json:"otherCpuCores"`

	// PerfTestSummary is kafka-producer-perf-test's final line.
	PerfTestSummary string `json:"perfTestSummary"`
}

// Settings are the workload's producer settings after defaults.
type Settings struct {
	Acks                    string  `json:"acks"`
	Idempotence             bool    `json:"idempotence"`
	Compression             string  `json:"compression"`
	LingerMs                int     `json:"lingerMs"`
	BatchBytes              int     `json:"batchBytes"`
	ProducerRate            int     `json:"producerRate"`
	SubscriptionsPerTopic   int     `json:"subscriptionsPerTopic"`
	ConsumerPerSubscription int     `json:"consumerPerSubscription"`
	ConsumerAssignment      string  `json:"consumerAssignment"`
	ReplicationFactor       int     `json:"replicationFactor"`
	RandomBytesRatio        float64 `json:"randomBytesRatio"`
}

// LatencyMs summarises one latency histogram in milliseconds.
type LatencyMs struct {
	Avg  float64 `json:"avg"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func latencyMs(h *hdrhistogram.Histogram) LatencyMs {
	return LatencyMs{
		Avg:  h.Mean() / 1e3,
		P50:  quantileMs(h, 50),
		P90:  quantileMs(h, 90),
		P99:  quantileMs(h, 99),
		P999: quantileMs(h, 99.9),
		Max:  float64(h.Max()) / 1e3,
	}
}

// ProcessUsage is CPU time and memory read from /proc.
type ProcessUsage struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpuSeconds"`
	// CPUSecondsPerGiB divides by the bytes published in the window.
	CPUSecondsPerGiB float64 `json:"cpuSecondsPerGiB"`
	RSSBytes         int64   `json:"rssBytes"`
	PeakRSSBytes     int64   `json:"peakRSSBytes"`
}

// WriteJSON writes the result, indented, creating the directory.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// PerfTestLine is kafka-producer-perf-test's summary of the measured window.
// One deviation: percentiles print with two decimals, not as whole
// milliseconds, because on loopback they are mostly below one.
func (r *Result) PerfTestLine() string {
	e := &r.Sluice
	return fmt.Sprintf("%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.",
		e.PublishedRecords, e.PublishRecordsPerSec, e.PublishMBPerSec,
		r.AggregatedPublishLatencyAvg, r.AggregatedPublishLatencyMax,
		r.AggregatedPublishLatency50pct, r.AggregatedPublishLatency95pct,
		r.AggregatedPublishLatency99pct, r.AggregatedPublishLatency999pct)
}

// ConsumeLine summarises the consumers in the same shape.
func (r *Result) ConsumeLine() string {
	e := &r.Sluice
	if r.Sluice.Settings.ConsumerPerSubscription == 0 || !e.Correctness.ConsumeChecked {
		return "no consumers (producer-only run)"
	}
	return fmt.Sprintf("%d records consumed, %.1f records/sec (%.2f MB/sec), %.2f ms avg end-to-end latency, %.2f ms max, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.",
		e.ConsumedRecords, e.ConsumeRecordsPerSec, e.ConsumeMBPerSec,
		r.AggregatedEndToEndLatencyAvg, r.AggregatedEndToEndLatencyMax,
		r.AggregatedEndToEndLatency50pct, r.AggregatedEndToEndLatency95pct,
		r.AggregatedEndToEndLatency99pct, r.AggregatedEndToEndLatency999pct)
}

// CorrectnessLine states the checker's verdict in one line.
func (r *Result) CorrectnessLine() string {
	v := &r.Sluice.Correctness
	verdict := "PASS"
	if !r.Sluice.Passed {
		verdict = "FAIL"
	}
	what := "consumed"
	if !v.ConsumeChecked {
		what = "consumed (not checked: nothing consumes)"
	}
	return fmt.Sprintf("correctness %s: %d sent, %d acknowledged, %d send errors, %d unresolved, %d %s, %d lost, %d duplicates, %d reordered, %d nonmonotonic acks, %d inconsistent offsets, %d phantoms, %d redelivered",
		verdict, v.Sent, v.Acknowledged, v.SendFailed, v.Unresolved, v.Consumed, what,
		v.Lost, v.Duplicates, v.Reordered, v.NonmonotonicAcks, v.InconsistentOffsets, v.Phantoms, v.Redelivered)
}

// latencyColumns points at one latency kind's per-interval arrays.
type latencyColumns struct {
	avg, p50, p75, p95, p99, p999, p9999, p99999, max *[]float64
}

func (r *Result) publishColumns() latencyColumns {
	return latencyColumns{&r.PublishLatencyAvg, &r.PublishLatency50pct, &r.PublishLatency75pct,
		&r.PublishLatency95pct, &r.PublishLatency99pct, &r.PublishLatency999pct,
		&r.PublishLatency9999pct, &r.PublishLatency99999pct, &r.PublishLatencyMax}
}

func (r *Result) endToEndColumns() latencyColumns {
	return latencyColumns{&r.EndToEndLatencyAvg, &r.EndToEndLatency50pct, &r.EndToEndLatency75pct,
		&r.EndToEndLatency95pct, &r.EndToEndLatency99pct, &r.EndToEndLatency999pct,
		&r.EndToEndLatency9999pct, &r.EndToEndLatency99999pct, &r.EndToEndLatencyMax}
}

// append adds one interval's histogram (microseconds) as milliseconds.
func (c latencyColumns) append(h *hdrhistogram.Histogram) {
	*c.avg = append(*c.avg, h.Mean()/1e3)
	*c.p50 = append(*c.p50, quantileMs(h, 50))
	*c.p75 = append(*c.p75, quantileMs(h, 75))
	*c.p95 = append(*c.p95, quantileMs(h, 95))
	*c.p99 = append(*c.p99, quantileMs(h, 99))
	*c.p999 = append(*c.p999, quantileMs(h, 99.9))
	*c.p9999 = append(*c.p9999, quantileMs(h, 99.99))
	*c.p99999 = append(*c.p99999, quantileMs(h, 99.999))
	*c.max = append(*c.max, float64(h.Max())/1e3)
}

// latencySummary points at one latency kind's aggregated fields.
type latencySummary struct {
	avg, p50, p75, p95, p99, p999, p9999, p99999, max *float64
	quantiles                                         *map[string]float64
}

func (r *Result) publishSummary() latencySummary {
	return latencySummary{&r.AggregatedPublishLatencyAvg, &r.AggregatedPublishLatency50pct,
		&r.AggregatedPublishLatency75pct, &r.AggregatedPublishLatency95pct,
		&r.AggregatedPublishLatency99pct, &r.AggregatedPublishLatency999pct,
		&r.AggregatedPublishLatency9999pct, &r.AggregatedPublishLatency99999pct,
		&r.AggregatedPublishLatencyMax, &r.AggregatedPublishLatencyQuantiles}
}

func (r *Result) endToEndSummary() latencySummary {
	return latencySummary{&r.AggregatedEndToEndLatencyAvg, &r.AggregatedEndToEndLatency50pct,
		&r.AggregatedEndToEndLatency75pct, &r.AggregatedEndToEndLatency95pct,
		&r.AggregatedEndToEndLatency99pct, &r.AggregatedEndToEndLatency999pct,
		&r.AggregatedEndToEndLatency9999pct, &r.AggregatedEndToEndLatency99999pct,
		&r.AggregatedEndToEndLatencyMax, &r.AggregatedEndToEndLatencyQuantiles}
}

// quantilePercentiles are the keys of the aggregated quantile maps: halving
// the remaining tail each step (50, 75, 87.5, ...) as HdrHistogram's
// percentile iterator does, plus the round numbers people quote.
var quantilePercentiles = func() []float64 {
	ps := []float64{90, 95, 99, 99.9, 99.99, 99.999, 100}
	tail := 100.0
	for range 16 {
		tail /= 2
		ps = append(ps, 100-tail)
	}
	return ps
}()

func (s latencySummary) set(h *hdrhistogram.Histogram) {
	*s.avg = h.Mean() / 1e3
	*s.p50 = quantileMs(h, 50)
	*s.p75 = quantileMs(h, 75)
	*s.p95 = quantileMs(h, 95)
	*s.p99 = quantileMs(h, 99)
	*s.p999 = quantileMs(h, 99.9)
	*s.p9999 = quantileMs(h, 99.99)
	*s.p99999 = quantileMs(h, 99.999)
	*s.max = float64(h.Max()) / 1e3
	// JSON object keys are strings; OMB's Jackson writes its Double keys
	// the same way ("99.9").
	q := make(map[string]float64, len(quantilePercentiles))
	for _, p := range quantilePercentiles {
		q[strconv.FormatFloat(p, 'f', -1, 64)] = quantileMs(h, p)
	}
	*s.quantiles = q
}

func quantileMs(h *hdrhistogram.Histogram, percentile float64) float64 {
	return float64(h.ValueAtPercentile(percentile)) / 1e3
}
