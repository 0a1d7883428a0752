package harness

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// subscription is one consumer group reading one topic, shared by its
// members.
type subscription struct {
	name          string // also the group id
	topic         string
	topicIndex    int
	partitionBase int32 // run-wide index of the topic's partition 0
	partitions    int
	members       int

	// assigned counts partitions currently owned by some member and ready
	// counts members that have been through a first assignment; together
	// they say the group has settled (see run.waitConsumersReady).
	assigned atomic.Int64
	ready    atomic.Int64

	mu   sync.Mutex
	next []int64 // guarded by mu; per partition, one past the highest offset read
}

// advance notes that offset was read from partition (of the topic).
func (s *subscription) advance(partition int32, offset int64) {
	s.mu.Lock()
	if int(partition) < len(s.next) && offset+1 > s.next[partition] {
		s.next[partition] = offset + 1
	}
	s.mu.Unlock()
}

// caughtUp reports whether every partition has been read up to end (one past
// the last offset, per partition of the topic).
func (s *subscription) caughtUp(end []int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, e := range end {
		if s.next[p] < e {
			return false
		}
	}
	return true
}

// consumer is one member of a subscription. Its poll loop is the only
// writer of its log; the sampler and the final check read it under mu.
type consumer struct {
	id    int
	sub   *subscription
	runID uint32
	t0    time.Time
	cl    *kgo.Client

	mu       sync.Mutex
	meter    meter  // guarded by mu; latency is end to end
	polls    []Poll // guarded by mu; the operation log
	foreign  int64  // guarded by mu; records another run (or tool) wrote
	firstErr error  // guarded by mu
}

// groupCallbacks returns the options that keep sub.assigned and sub.ready
// current. With autocommit on, kgo's default revoke handler commits; ours
// must do the same before giving partitions up, or the next owner rereads
// (harmless to the checker, which counts it as redelivery, but wasteful).
func (c *consumer) groupCallbacks() []kgo.Opt {
	var once sync.Once
	count := func(m map[string][]int32) int64 {
		var n int64
		for _, ps := range m {
			n += int64(len(ps))
		}
		return n
	}
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.sub.assigned.Add(count(m))
			once.Do(func() { c.sub.ready.Add(1) })
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				c.noteErr(err)
			}
			c.sub.assigned.Add(-count(m))
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.sub.assigned.Add(-count(m))
		}),
	}
}

// run polls until ctx is done or the client closes.
func (c *consumer) run(ctx context.Context) {
	for {
		fs := c.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		now := time.Since(c.t0)
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				c.noteErr(err)
			}
		})
		c.mu.Lock()
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			for _, r := range ftp.Records {
				c.observe(r, now)
			}
			if n := len(ftp.Records); n > 0 {
				c.sub.advance(ftp.Partition, ftp.Records[n-1].Offset)
			}
		})
		c.mu.Unlock()
	}
}

// observe logs one record. Caller holds c.mu.
func (c *consumer) observe(r *kgo.Record, now time.Duration) {
	h, ok := readHeader(r.Value)
	if !ok || h.runID != c.runID {
		c.foreign++
		return
	}
	c.polls = append(c.polls, Poll{
		Partition: c.sub.partitionBase + r.Partition,
		Offset:    r.Offset,
		Producer:  h.producer,
		Seq:       h.seq,
	})
	c.meter.observe(len(r.Value), now-time.Duration(h.sendNs))
}

func (c *consumer) noteErr(err error) {
	c.mu.Lock()
	c.meter.errors++
	if c.firstErr == nil {
		c.firstErr = err
	}
	c.mu.Unlock()
}
