package harness

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// statsInterval is the width of every per-interval entry in a result. OMB
// uses 10 s; one second shows the shape of short runs.
const statsInterval = time.Second

// sampler harvests every client's meter once per interval and turns the
// intervals into the result's series. Only Run's goroutine calls it.
type sampler struct {
	producers []*producer
	consumers []*consumer
	res       *Result
	progress  io.Writer // nil: quiet
	subs      int64     // subscriptions per topic, for OMB's backlog

	pub, e2e       meter                   // the interval being assembled
	pubAll, e2eAll *hdrhistogram.Histogram // the measured window
	last           time.Time               // end of the previous interval
	begin          time.Time               // start of the first phase, for the progress line

	// Over every phase, for the backlog and the progress line.
	publishedTotal, consumedTotal int64
}

func newSampler(res *Result, progress io.Writer, subs int) *sampler {
	now := time.Now()
	return &sampler{
		res:      res,
		progress: progress,
		subs:     int64(subs),
		pub:      newMeter(),
		e2e:      newMeter(),
		pubAll:   newLatencyHistogram(),
		e2eAll:   newLatencyHistogram(),
		last:     now,
		begin:    now,
	}
}

// phase samples every interval for d (or until ctx is done), keeping the
// intervals in the result when measuring and discarding them when warming
// up. It returns the time the phase covered.
func (s *sampler) phase(ctx context.Context, d time.Duration, measuring bool) time.Duration {
	start := s.last
	end := start.Add(d)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	if s.progress != nil {
		// The progress line rewrites itself; end it so what follows
		// starts on a line of its own.
		defer fmt.Fprintln(s.progress)
	}
	for {
		next := s.last.Add(statsInterval)
		if next.After(end) {
			next = end
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			s.tick(time.Now(), measuring)
			return s.last.Sub(start)
		case <-timer.C:
		}
		s.tick(time.Now(), measuring)
		if !s.last.Before(end) {
			return s.last.Sub(start)
		}
	}
}

// tick closes the interval that ends at now.
func (s *sampler) tick(now time.Time, measuring bool) {
	s.pub.reset()
	s.e2e.reset()
	for _, p := range s.producers {
		p.mu.Lock()
		p.meter.harvestInto(&s.pub)
		p.mu.Unlock()
	}
	for _, c := range s.consumers {
		c.mu.Lock()
		c.meter.harvestInto(&s.e2e)
		c.mu.Unlock()
	}
	secs := now.Sub(s.last).Seconds()
	s.last = now
	s.publishedTotal += s.pub.records
	s.consumedTotal += s.e2e.records

	if measuring && secs > 0 {
		r, e := s.res, &s.res.Sluice
		r.PublishRate = append(r.PublishRate, float64(s.pub.records)/secs)
		r.PublishErrorRate = append(r.PublishErrorRate, float64(s.pub.errors)/secs)
		r.ConsumeRate = append(r.ConsumeRate, float64(s.e2e.records)/secs)
		r.Backlog = append(r.Backlog, max(0, s.subs*s.publishedTotal-s.consumedTotal))
		r.publishColumns().append(s.pub.latency)
		r.endToEndColumns().append(s.e2e.latency)
		e.PublishMBPerSecSeries = append(e.PublishMBPerSecSeries, mib(s.pub.bytes)/secs)
		e.ConsumeMBPerSecSeries = append(e.ConsumeMBPerSecSeries, mib(s.e2e.bytes)/secs)
		e.PublishedRecords += s.pub.records
		e.PublishedBytes += s.pub.bytes
		e.ConsumedRecords += s.e2e.records
		e.ConsumedBytes += s.e2e.bytes
		e.PublishErrors += s.pub.errors
		e.ConsumeErrors += s.e2e.errors
		e.MeasuredSeconds += secs
		s.pubAll.Merge(s.pub.latency)
		s.e2eAll.Merge(s.e2e.latency)
	}
	s.printProgress(now, secs, measuring)
}

// finish fills the result's aggregated fields from the measured window.
func (s *sampler) finish() {
	r, e := s.res, &s.res.Sluice
	r.publishSummary().set(s.pubAll)
	r.endToEndSummary().set(s.e2eAll)
	e.PublishLatencyMs, e.EndToEndLatencyMs = latencyMs(s.pubAll), latencyMs(s.e2eAll)
	if e.MeasuredSeconds > 0 {
		e.PublishRecordsPerSec = float64(e.PublishedRecords) / e.MeasuredSeconds
		e.PublishMBPerSec = mib(e.PublishedBytes) / e.MeasuredSeconds
		e.ConsumeRecordsPerSec = float64(e.ConsumedRecords) / e.MeasuredSeconds
		e.ConsumeMBPerSec = mib(e.ConsumedBytes) / e.MeasuredSeconds
	}
}

// printProgress rewrites one terminal line: elapsed time, records
// published, this interval's MB/s and the p99 publish latency so far.
func (s *sampler) printProgress(now time.Time, secs float64, measuring bool) {
	if s.progress == nil || secs <= 0 {
		return
	}
	phase, p99 := "warmup ", s.pub.latency.ValueAtPercentile(99)
	if measuring {
		phase, p99 = "measure", s.pubAll.ValueAtPercentile(99)
	}
	// \r returns to the line start; \x1b[K clears what a longer line left.
	fmt.Fprintf(s.progress, "\r%s %5.0fs  %12d records  %8.2f MB/s out  %8.2f MB/s in  publish p99 %.2f ms\x1b[K",
		phase, now.Sub(s.begin).Seconds(), s.publishedTotal,
		mib(s.pub.bytes)/secs, mib(s.e2e.bytes)/secs, float64(p99)/1e3)
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }
