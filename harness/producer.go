package harness

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producer is one kgo client writing one topic. Its loop runs on its own
// goroutine; kgo calls its promise on kgo's promise goroutine, serially.
type producer struct {
	id            uint32
	topic         string
	partitionBase int32 // run-wide index of the topic's partition 0
	runID         uint32
	t0            time.Time // the run's start; send times are offsets from it
	ackOffsets    bool      // false with acks=0: kgo numbers those records itself
	padding       []byte
	cl            *kgo.Client

	// inflight bounds records handed to kgo and not yet resolved. Waiting
	// on it (not inside kgo's Produce) keeps stopping clean: a record is
	// sent exactly when Produce was called, never half-way.
	inflight chan struct{}

	// sent is the next sequence number; only the loop goroutine writes it,
	// and Run reads it after the loop has returned.
	sent uint64

	mu       sync.Mutex
	meter    meter         // guarded by mu
	acks     []Ack         // guarded by mu; the operation log
	free     []*kgo.Record // guarded by mu; records back from kgo, reused
	firstErr error         // guarded by mu
}

// run produces until ctx is done: as fast as inflight allows when
// interval is 0, else one record every interval.
//
// Latency is measured from the record's intended send time when paced, so a
// stalled broker cannot hide its stall by slowing the producer down
// (coordinated omission). Unpaced, it is measured from just before the wait
// for room, as kafka-producer-perf-test measures from before its blocking
// send().
func (p *producer) run(ctx context.Context, interval time.Duration) {
	paceStart := time.Now()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for ctx.Err() == nil {
		var sendAt time.Time
		if interval > 0 {
			sendAt = paceStart.Add(time.Duration(p.sent) * interval)
			// Sleeping under ~50µs costs more than it waits; the records
			// catch up with their intended times in a burst instead.
			if d := time.Until(sendAt); d > 50*time.Microsecond {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		} else {
			sendAt = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case p.inflight <- struct{}{}:
		}
		r := p.record()
		putHeader(r.Value, header{runID: p.runID, producer: p.id, seq: p.sent, sendNs: int64(sendAt.Sub(p.t0))})
		p.sent++
		// Produce does not block: kgo's own buffer limit is above inflight.
		p.cl.Produce(context.Background(), r, p.promise)
	}
}

// record returns a record whose value holds the padding, ready for a header.
func (p *producer) record() *kgo.Record {
	p.mu.Lock()
	var r *kgo.Record
	if n := len(p.free); n > 0 {
		r = p.free[n-1]
		p.free = p.free[:n-1]
	}
	p.mu.Unlock()
	if r == nil {
		v := make([]byte, headerBytes+len(p.padding))
		copy(v[headerBytes:], p.padding)
		return &kgo.Record{Topic: p.topic, Value: v}
	}
	// Only the header changes between uses; the padding stays in place.
	*r = kgo.Record{Topic: p.topic, Value: r.Value}
	return r
}

// promise runs on kgo's promise goroutine. kgo no longer touches r once it
// returns (it reads the record's size before calling), so r is reused.
func (p *producer) promise(r *kgo.Record, err error) {
	latency := time.Since(p.t0)
	h, ok := readHeader(r.Value)
	if !ok || h.producer != p.id {
		panic("BUG: a producer's promise got a record it did not write")
	}
	latency -= time.Duration(h.sendNs)
	a := Ack{Producer: p.id, Seq: h.seq, Partition: -1, Offset: -1, Err: err != nil}
	if err == nil {
		a.Partition = p.partitionBase + r.Partition
		if p.ackOffsets {
			a.Offset = r.Offset
		}
	}
	p.mu.Lock()
	p.acks = append(p.acks, a)
	if err != nil {
		p.meter.errors++
		if p.firstErr == nil {
			p.firstErr = err
		}
	} else {
		p.meter.observe(len(r.Value), latency)
	}
	p.free = append(p.free, r)
	p.mu.Unlock()
	<-p.inflight
}
