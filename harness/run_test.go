package harness

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// These runs are short (about a second each) and assert what happened, never
// how fast: timings on a shared 2-core machine under -race mean nothing.

func shortWorkload(t *testing.T, extra string) *Workload {
	t.Helper()
	base := `
name: run-test
topics: 1
partitionsPerTopic: 3
messageSize: 256
producersPerTopic: 1
subscriptionsPerTopic: 1
consumerPerSubscription: 1
producerRate: 3000
warmupDuration: 300ms
testDuration: 1s
drainTimeout: 15s
`
	w, err := ParseWorkload([]byte(overlay(base, extra)), "")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func runFor(t *testing.T, w *Workload, target Target) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	start := time.Now()
	logf := func(format string, args ...any) {
		t.Logf("%6.3fs "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}
	res, err := Run(ctx, w, target, Options{Logf: logf})
	logf("run returned")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.PerfTestLine())
	t.Log(res.ConsumeLine())
	t.Log(res.CorrectnessLine())
	for _, n := range res.Sluice.Notes {
		t.Log("note: ", n)
	}
	return res
}

func TestRunKfake(t *testing.T) {
	res := runFor(t, shortWorkload(t, ""), &KfakeTarget{Brokers: 1})
	v := res.Sluice.Correctness
	if !res.Sluice.Passed || !v.OK() {
		t.Fatalf("run failed: %q %q", v.Failures, v.Examples)
	}
	if v.Acknowledged == 0 || v.Consumed != v.Acknowledged || v.Sent != v.Acknowledged || !v.ConsumeChecked {
		t.Errorf("sent %d acknowledged %d consumed %d", v.Sent, v.Acknowledged, v.Consumed)
	}
	if !res.Sluice.DrainComplete {
		t.Error("drain incomplete")
	}
	if res.Sluice.PublishedRecords == 0 || res.Sluice.ConsumedRecords == 0 {
		t.Errorf("measured window: %d published, %d consumed", res.Sluice.PublishedRecords, res.Sluice.ConsumedRecords)
	}
	if res.Sluice.Harness == nil || res.Sluice.Harness.CPUSeconds <= 0 {
		t.Errorf("no CPU figures for the harness: %+v", res.Sluice.Harness)
	}

	// The JSON carries OMB's fields with real values.
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workload", "driver"} {
		if s, _ := m[k].(string); s == "" {
			t.Errorf("%s is empty", k)
		}
	}
	for _, k := range []string{
		"messageSize", "topics", "partitions", "producersPerTopic", "consumersPerTopic",
		"aggregatedPublishLatencyAvg", "aggregatedPublishLatency50pct", "aggregatedPublishLatency75pct",
		"aggregatedPublishLatency95pct", "aggregatedPublishLatency99pct", "aggregatedPublishLatency999pct",
		"aggregatedPublishLatency9999pct", "aggregatedPublishLatencyMax",
		"aggregatedEndToEndLatencyAvg", "aggregatedEndToEndLatency50pct", "aggregatedEndToEndLatency99pct",
		"aggregatedEndToEndLatency999pct", "aggregatedEndToEndLatencyMax",
	} {
		if f, _ := m[k].(float64); f <= 0 {
			t.Errorf("%s = %v, want > 0", k, m[k])
		}
	}
	for _, k := range []string{
		"publishRate", "consumeRate", "backlog", "publishLatencyAvg", "publishLatency50pct",
		"publishLatency99pct", "publishLatencyMax", "endToEndLatencyAvg", "endToEndLatency99pct",
	} {
		a, _ := m[k].([]any)
		if len(a) == 0 {
			t.Errorf("%s is empty", k)
		}
	}
	for _, k := range []string{"publishRate", "consumeRate"} {
		if a, _ := m[k].([]any); len(a) > 0 {
			if f, _ := a[0].(float64); f <= 0 {
				t.Errorf("%s[0] = %v, want > 0", k, a[0])
			}
		}
	}
	for _, k := range []string{"aggregatedPublishLatencyQuantiles", "aggregatedEndToEndLatencyQuantiles"} {
		q, _ := m[k].(map[string]any)
		if p99, _ := q["99"].(float64); p99 <= 0 {
			t.Errorf("%s[99] = %v, want > 0", k, q["99"])
		}
	}
	sluice, _ := m["sluice"].(map[string]any)
	if f, _ := sluice["publishMBPerSec"].(float64); f <= 0 {
		t.Errorf("sluice.publishMBPerSec = %v", sluice["publishMBPerSec"])
	}
	if p90, _ := sluice["publishLatencyMs"].(map[string]any)["p90"].(float64); p90 <= 0 {
		t.Errorf("sluice.publishLatencyMs.p90 = %v", sluice["publishLatencyMs"])
	}
	if _, ok := sluice["correctness"].(map[string]any)["lost"]; !ok {
		t.Error("sluice.correctness.lost missing")
	}

	perfTest := regexp.MustCompile(`^\d+ records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, [\d.]+ ms max latency, [\d.]+ ms 50th, [\d.]+ ms 95th, [\d.]+ ms 99th, [\d.]+ ms 99\.9th\.$`)
	if !perfTest.MatchString(res.Sluice.PerfTestSummary) {
		t.Errorf("summary line %q is not kafka-producer-perf-test's shape", res.Sluice.PerfTestSummary)
	}
}

// Against the blackhole, producers run flat out and only acknowledgements
// are checked. Also covers the no-consumer path and acks=1.
func TestRunBlackhole(t *testing.T) {
	w := shortWorkload(t, "producerRate: 0\nacks: 1\nidempotence: false\nwarmupDuration: 0s\nlingerMs: 1")
	res := runFor(t, w, &KfakeTarget{Blackhole: true})
	v := res.Sluice.Correctness
	if !res.Sluice.Passed || v.Acknowledged == 0 || v.ConsumeChecked || v.Consumed != 0 {
		t.Fatalf("passed %v acknowledged %d consumeChecked %v consumed %d; failures %q",
			res.Sluice.Passed, v.Acknowledged, v.ConsumeChecked, v.Consumed, v.Failures)
	}
	if res.Driver != "blackhole" || res.Sluice.PublishRecordsPerSec <= 0 {
		t.Errorf("driver %q, %f records/s", res.Driver, res.Sluice.PublishRecordsPerSec)
	}
}

// lossyTarget is kfake answering every third produce request with success
// without storing it: the run must notice and fail, however fast it was.
type lossyTarget struct {
	KfakeTarget
	dropped atomic.Int64
}

func (t *lossyTarget) Start(ctx context.Context) ([]string, error) {
	addrs, err := t.KfakeTarget.Start(ctx)
	if err != nil {
		return nil, err
	}
	var n int
	c := t.cluster
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		n++
		if n%3 != 0 {
			return nil, nil, false // kfake stores this one
		}
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.BaseOffset = -1 // "offset unknown": nothing to contradict
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		t.dropped.Add(1)
		return resp, nil, true
	})
	return addrs, nil
}

func TestRunDetectsLoss(t *testing.T) {
	// Without idempotence: a dropped idempotent batch would make the next
	// one's sequence look out of order and kgo would stall, not lose.
	w := shortWorkload(t, "acks: 1\nidempotence: false\nwarmupDuration: 0s")
	target := &lossyTarget{KfakeTarget: KfakeTarget{InMemory: true}} // and covers kfake on the heap
	res := runFor(t, w, target)
	v := res.Sluice.Correctness
	if target.dropped.Load() == 0 {
		t.Fatal("the lossy broker dropped nothing")
	}
	if res.Sluice.Passed || v.Lost == 0 {
		t.Fatalf("a broker that dropped %d produce requests passed: lost %d", target.dropped.Load(), v.Lost)
	}
	if v.Lost+v.Consumed != v.Acknowledged {
		t.Errorf("lost %d + consumed %d != acknowledged %d", v.Lost, v.Consumed, v.Acknowledged)
	}
}

// laggingTarget is kfake whose listed end offsets lag the records it has
// acknowledged, as a high watermark does behind acks=1 while followers copy:
// from lag() on, its first lagListings answers for the latest offsets give
// half of each partition's records. Its fetches are not held back, so the
// consumers read everything; what it checks is that the drain goes on
// listing until a listing covers every acknowledged record.
type laggingTarget struct {
	KfakeTarget
	mu       sync.Mutex
	produced map[int32]int64 // records per partition of the one topic
	lagging  bool
	lagged   int // lagging answers given
	exact    int // answers kfake gave after the lag
}

const lagListings = 4

func (t *laggingTarget) Start(ctx context.Context) ([]string, error) {
	addrs, err := t.KfakeTarget.Start(ctx)
	if err != nil {
		return nil, err
	}
	t.produced = map[int32]int64{}
	c := t.cluster
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		t.mu.Lock()
		defer t.mu.Unlock()
		for _, rt := range kreq.(*kmsg.ProduceRequest).Topics {
			for _, rp := range rt.Partitions {
				for b := rp.Records; len(b) >= 61; { // batch length at 8, record count at 57
					t.produced[rp.Partition] += int64(binary.BigEndian.Uint32(b[57:]))
					b = b[min(len(b), 12+int(binary.BigEndian.Uint32(b[8:]))):]
				}
			}
		}
		return nil, nil, false // kfake stores it
	})
	c.ControlKey(int16(kmsg.ListOffsets), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.ListOffsetsRequest)
		t.mu.Lock()
		defer t.mu.Unlock()
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				if rp.Timestamp != -1 {
					return nil, nil, false
				}
			}
		}
		if !t.lagging || t.lagged == lagListings {
			if t.lagging {
				t.exact++
			}
			return nil, nil, false
		}
		t.lagged++
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.Timestamp, sp.Offset = rp.Partition, -1, t.produced[rp.Partition]/2
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return addrs, nil
}

func (t *laggingTarget) lag() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lagging = true
}

func TestRunDrainWaitsForAcknowledgedRecords(t *testing.T) {
	w := shortWorkload(t, "acks: 1\nidempotence: false\nwarmupDuration: 0s")
	target := &laggingTarget{KfakeTarget: KfakeTarget{InMemory: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	res, err := Run(ctx, w, target, Options{Logf: t.Logf, AfterMeasure: target.lag})
	if err != nil {
		t.Fatal(err)
	}
	target.mu.Lock()
	defer target.mu.Unlock()
	if target.lagged != lagListings || target.exact == 0 {
		t.Fatalf("the drain ended after %d lagging listings and %d exact ones: it must list until the end offsets cover what was acknowledged",
			target.lagged, target.exact)
	}
	if v := res.Sluice.Correctness; !res.Sluice.Passed || !res.Sluice.DrainComplete || v.Acknowledged == 0 {
		t.Fatalf("passed %v, drain complete %v: %q (%d acknowledged)", res.Sluice.Passed, res.Sluice.DrainComplete, v.Failures, v.Acknowledged)
	}
}
