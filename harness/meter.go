package harness

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

const (
	// latencyUsMax is the largest latency a histogram holds; larger ones are
	// recorded as this. An hour is far past any drain timeout.
	latencyUsMax = int64(time.Hour / time.Microsecond)
	// latencySignificantDigits: three keep every percentile within 0.1%
	// at about 200 KiB a histogram.
	latencySignificantDigits = 3
)

func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, latencyUsMax, latencySignificantDigits)
}

// meter counts one client's records, bytes, errors and latencies since the
// sampler last harvested it. It has no lock of its own: the producer or
// consumer that owns it guards it with its mutex, in the same critical
// section that appends to its operation log.
type meter struct {
	records, bytes, errors int64
	latency                *hdrhistogram.Histogram // microseconds
}

func newMeter() meter { return meter{latency: newLatencyHistogram()} }

// observe records one record of n bytes that took latency.
func (m *meter) observe(n int, latency time.Duration) {
	us := latency.Microseconds()
	us = max(0, min(us, latencyUsMax))
	m.records++
	m.bytes += int64(n)
	// The value is clamped into range above, so RecordValue cannot fail.
	_ = m.latency.RecordValue(us)
}

// harvestInto adds m to into and empties m.
func (m *meter) harvestInto(into *meter) {
	into.records += m.records
	into.bytes += m.bytes
	into.errors += m.errors
	into.latency.Merge(m.latency)
	m.reset()
}

func (m *meter) reset() {
	m.records, m.bytes, m.errors = 0, 0, 0
	m.latency.Reset()
}
