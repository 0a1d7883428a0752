package harness

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// Merging per-client, per-interval histograms must give the histogram of
// all the values: the percentiles a report quotes come from merges only.
func TestHistogramMerge(t *testing.T) {
	a, b := newMeter(), newMeter()
	all := newLatencyHistogram()
	for i := 1; i <= 1000; i++ { // a: 1..1000 µs
		a.observe(100, time.Duration(i)*time.Microsecond)
		_ = all.RecordValue(int64(i))
	}
	for i := 1; i <= 10; i++ { // b: a slow tail, 100..1000 ms
		b.observe(200, time.Duration(i)*100*time.Millisecond)
		_ = all.RecordValue(int64(i) * 100_000)
	}
	b.errors = 3

	into := newMeter()
	a.harvestInto(&into)
	b.harvestInto(&into)
	if into.records != 1010 || into.bytes != 1000*100+10*200 || into.errors != 3 {
		t.Errorf("counts: %d records, %d bytes, %d errors", into.records, into.bytes, into.errors)
	}
	if a.records != 0 || a.latency.TotalCount() != 0 || b.errors != 0 {
		t.Error("harvest did not empty the client meters")
	}
	for _, p := range []float64{50, 90, 99, 99.9, 100} {
		if got, want := into.latency.ValueAtPercentile(p), all.ValueAtPercentile(p); got != want {
			t.Errorf("p%v: merged %d µs, direct %d µs", p, got, want)
		}
	}
	if into.latency.Max() != all.Max() || into.latency.Mean() != all.Mean() {
		t.Errorf("max %d/%d, mean %f/%f", into.latency.Max(), all.Max(), into.latency.Mean(), all.Mean())
	}

	// Out-of-range latencies are clamped, never dropped.
	c := newMeter()
	c.observe(1, -time.Second)
	c.observe(1, 2*time.Hour)
	if c.latency.TotalCount() != 2 || c.latency.Max() < latencyUsMax*999/1000 {
		t.Errorf("clamping: count %d, max %d", c.latency.TotalCount(), c.latency.Max())
	}
}

// The sampler turns client meters into a result: per-interval series and
// aggregates over the measured window only.
func TestSamplerAggregates(t *testing.T) {
	res := &Result{}
	p1 := &producer{meter: newMeter()}
	p2 := &producer{meter: newMeter()}
	s := newSampler(res, nil, 0)
	s.producers = []*producer{p1, p2}

	// Warmup: recorded, then discarded.
	p1.meter.observe(1000, time.Second)
	s.tick(s.last.Add(time.Second), false)
	// Two measured intervals.
	for i := range 100 {
		p1.meter.observe(1<<10, time.Duration(i+1)*time.Millisecond)
	}
	s.tick(s.last.Add(time.Second), true)
	for range 100 {
		p2.meter.observe(1<<10, 200*time.Millisecond)
	}
	s.tick(s.last.Add(time.Second), true)
	s.finish()

	e := &res.Sluice
	if len(res.PublishRate) != 2 || len(res.PublishLatency99pct) != 2 || e.PublishedRecords != 200 {
		t.Fatalf("series %v, published %d", res.PublishRate, e.PublishedRecords)
	}
	if e.PublishedBytes != 200<<10 || e.MeasuredSeconds < 1.99 || e.MeasuredSeconds > 2.01 {
		t.Errorf("bytes %d over %fs", e.PublishedBytes, e.MeasuredSeconds)
	}
	// The 1 s warmup record must not be in the aggregate.
	if res.AggregatedPublishLatencyMax > 201 {
		t.Errorf("max %f ms includes the warmup", res.AggregatedPublishLatencyMax)
	}
	// Half the values are 1..100 ms, half 200 ms: the median is near 100.
	if p50 := res.AggregatedPublishLatency50pct; p50 < 99 || p50 > 101 {
		t.Errorf("p50 %f ms", p50)
	}
	if q := res.AggregatedPublishLatencyQuantiles["99"]; q < 199 || q > 201 {
		t.Errorf("quantile 99 = %f ms", q)
	}
	if e.PublishMBPerSec < 0.09 || e.PublishMBPerSec > 0.11 { // 200 KiB over 2 s
		t.Errorf("%f MB/s", e.PublishMBPerSec)
	}
}

// A result survives JSON: what one run writes, a later report or OMB's
// scripts read back unchanged.
func TestResultJSONRoundTrip(t *testing.T) {
	res := &Result{Workload: "w", Driver: "sluice", MessageSize: 1024, Topics: 1, Partitions: 4, ProducersPerTopic: 1}
	p := &producer{meter: newMeter()}
	s := newSampler(res, nil, 1)
	s.producers = []*producer{p}
	for i := range 1000 {
		p.meter.observe(1024, time.Duration(i)*time.Microsecond)
	}
	s.tick(s.last.Add(time.Second), true)
	s.finish()
	res.Sluice.Start = time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	res.Sluice.Settings = Settings{Acks: "all", Idempotence: true, ConsumerAssignment: AssignDirect}
	res.Sluice.Broker = &ProcessUsage{PID: 42, CPUSeconds: 1.5, CPUSecondsPerGiB: 0.75, RSSBytes: 1 << 20}
	res.Sluice.Correctness = Verdict{Sent: 1000, Acknowledged: 1000, Failures: []string{"x"}}
	res.Sluice.Notes = []string{"a note"}
	res.Sluice.PerfTestSummary = res.PerfTestLine()

	path := filepath.Join(t.TempDir(), "r.json")
	if err := res.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // every field written is one Result declares
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, &back) {
		t.Errorf("round trip differs:\nwrote %+v\nread  %+v", res, &back)
	}
}
