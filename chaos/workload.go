package chaos

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/harness"
)

// Workload limits.
const (
	valueBytes        = 64               // a record: the 16-byte id below, then padding
	bufferedRecordMax = 20000            // per producer: Produce blocks beyond it (an unavailable cluster)
	flushWait         = 90 * time.Second // after healing, every buffered record must resolve within it
	drainWait         = 3 * time.Minute  // the final read of every partition up to its end
	pollWait          = 2 * time.Second  // one consumer poll
)

// putID and readID: a value starts with magic (4 bytes, "SLCH"), producer (4) and sequence (8),
// big endian, so a read names the record without a lookup.
const valueMagic = 0x534c4348

func putID(v []byte, producer uint32, seq uint64) {
	binary.BigEndian.PutUint32(v[0:], valueMagic)
	binary.BigEndian.PutUint32(v[4:], producer)
	binary.BigEndian.PutUint64(v[8:], seq)
}

func readID(v []byte) (producer uint32, seq uint64, ok bool) {
	if len(v) < 16 || binary.BigEndian.Uint32(v) != valueMagic {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(v[4:]), binary.BigEndian.Uint64(v[8:]), true
}

// clientOpts are every client's options against the proxied cluster. A proxy whose broker is
// down accepts the connection and then closes it, where the broker's own port would refuse it:
// kgo takes an EOF on a connection's first request for a TLS or SASL misconfiguration and fails
// the records unless told to retry (AlwaysRetryEOF), which a client of a real cluster would do on
// the refusal. Metadata is refreshed often so clients follow leader changes quickly.
func clientOpts(seeds []string, more ...kgo.Opt) []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.AlwaysRetryEOF(), kgo.MetadataMinAge(250 * time.Millisecond)}, more...)
}

// phantomProducer names a read whose value this suite did not write: the checker counts it as a
// phantom (no producer has this index).
const phantomProducer = 1 << 31

// topicLog is one topic's history, appended from promise and poll goroutines under mu.
type topicLog struct {
	topic      string
	partitions int32
	idempotent bool

	mu      sync.Mutex
	sent    []uint64
	acks    []harness.Ack
	group   []harness.Poll // reads by the consumer group during the run
	drain   []harness.Poll
	commits []harness.Commit
	errs    map[string]int // why sends failed, by message
}

func (l *topicLog) history() *harness.History {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := make([]int32, l.partitions)
	for i := range all {
		all[i] = int32(i)
	}
	h := &harness.History{Sent: append([]uint64(nil), l.sent...), Acks: append([]harness.Ack(nil), l.acks...),
		Idempotent: l.idempotent, Commits: append([]harness.Commit(nil), l.commits...)}
	h.Subscriptions = append(h.Subscriptions, harness.Subscription{Name: "drain", Partitions: all, Polls: append([]harness.Poll(nil), l.drain...)})
	if len(l.group) > 0 {
		// The group read during the faults: what it read must match the acknowledgements, but it
		// need not have read everything (Partitions nil: no loss check).
		h.Subscriptions = append(h.Subscriptions, harness.Subscription{Name: "group", Polls: append([]harness.Poll(nil), l.group...)})
	}
	return h
}

func (l *topicLog) poll(r *kgo.Record, into *[]harness.Poll) {
	p, seq, ok := readID(r.Value)
	if !ok {
		p, seq = phantomProducer, uint64(r.Offset)
	}
	*into = append(*into, harness.Poll{Offset: r.Offset, Seq: seq, Partition: r.Partition, Producer: p})
}

// producer sends records round-robin over the topic's partitions at a steady rate until stopped.
type producer struct {
	log   *topicLog
	index uint32
	cl    *kgo.Client
	sent  atomic.Uint64
	acked atomic.Uint64
}

func newProducer(seeds []string, l *topicLog, index uint32) (*producer, error) {
	opts := clientOpts(seeds, kgo.DefaultProduceTopic(l.topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(bufferedRecordMax), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ClientID(fmt.Sprintf("chaos-%s-p%d", l.topic, index)))
	if !l.idempotent {
		// At-least-once: one request in flight keeps the order; a retry after a lost response
		// writes the batch twice.
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(1))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	for uint32(len(l.sent)) <= index {
		l.sent = append(l.sent, 0)
	}
	l.mu.Unlock()
	return &producer{log: l, index: index, cl: cl}, nil
}

// run produces rate records a second until ctx ends. A full buffer blocks Produce: the cluster
// is unavailable, and the producer waits as a real one would.
func (p *producer) run(ctx context.Context, rate int) {
	tick := time.NewTicker(time.Second / time.Duration(max(rate, 1)))
	defer tick.Stop()
	for seq := uint64(0); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		v := make([]byte, valueBytes)
		putID(v, p.index, seq)
		r := &kgo.Record{Value: v, Partition: int32(seq % uint64(p.log.partitions))}
		p.log.mu.Lock()
		p.log.sent[p.index] = seq + 1
		p.log.mu.Unlock()
		p.sent.Add(1)
		p.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			a := harness.Ack{Producer: p.index, Seq: seq, Partition: r.Partition, Offset: r.Offset, Err: err != nil}
			if err != nil {
				a.Offset = -1
				p.log.mu.Lock()
				if p.log.errs == nil {
					p.log.errs = map[string]int{}
				}
				p.log.errs[err.Error()]++
				p.log.mu.Unlock()
			} else {
				p.acked.Add(1)
			}
			p.log.mu.Lock()
			p.log.acks = append(p.log.acks, a)
			p.log.mu.Unlock()
		})
	}
}

// groupConsumer is one member of a consumer group that commits after every poll and logs every
// commit the coordinator acknowledged.
type groupConsumer struct {
	log   *topicLog
	group string
	cl    *kgo.Client
}

func newGroupConsumer(seeds []string, l *topicLog, group string) (*groupConsumer, error) {
	cl, err := kgo.NewClient(clientOpts(seeds, kgo.ConsumeTopics(l.topic), kgo.ConsumerGroup(group),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(10*time.Second))...)
	if err != nil {
		return nil, err
	}
	return &groupConsumer{log: l, group: group, cl: cl}, nil
}

// run polls, logs and commits until ctx ends. Rebalances wait from each poll until its commit is
// done (BlockRebalanceOnPoll), so a member commits only partitions it still owns: a commit that
// raced a revocation could otherwise land after the next owner's and look like a step back.
func (g *groupConsumer) run(ctx context.Context) {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, pollWait)
		fs := g.cl.PollFetches(pctx)
		cancel()
		g.log.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) { g.log.poll(r, &g.log.group) })
		g.log.mu.Unlock()
		if offsets := g.cl.UncommittedOffsets(); len(offsets) > 0 {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			g.cl.CommitOffsetsSync(cctx, offsets, g.logCommit)
			cancel()
		}
		g.cl.AllowRebalance()
	}
}

// logCommit records each partition the coordinator accepted, with the offset the request named.
func (g *groupConsumer) logCommit(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err != nil || req == nil || resp == nil {
		return
	}
	asked := map[int32]int64{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			asked[p.Partition] = p.Offset
		}
	}
	g.log.mu.Lock()
	defer g.log.mu.Unlock()
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 {
				g.log.commits = append(g.log.commits, harness.Commit{Group: g.group, Partition: p.Partition, Offset: asked[p.Partition]})
			}
		}
	}
}

// drain reads every partition of the topic from offset 0 up to the end offsets ListOffsets
// reports now, with a fresh client that is no group member.
func drain(ctx context.Context, seeds []string, l *topicLog) error {
	admCl, err := kgo.NewClient(clientOpts(seeds)...)
	if err != nil {
		return err
	}
	defer admCl.Close()
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, l.topic)
	if err != nil {
		return fmt.Errorf("drain: ListOffsets: %w", err)
	}
	want := map[int32]int64{}
	start := map[int32]kgo.Offset{}
	var endErr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			endErr = errors.Join(endErr, fmt.Errorf("partition %d: %w", o.Partition, o.Err))
		}
		want[o.Partition] = o.Offset
		start[o.Partition] = kgo.NewOffset().At(0)
	})
	if endErr != nil {
		return fmt.Errorf("drain: end offsets: %w", endErr)
	}
	cl, err := kgo.NewClient(clientOpts(seeds, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{l.topic: start}),
		kgo.FetchMaxWait(500*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	next := map[int32]int64{}
	done := func() bool {
		for p, end := range want {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	dctx, cancel := context.WithTimeout(ctx, drainWait)
	defer cancel()
	for !done() {
		if dctx.Err() != nil {
			return fmt.Errorf("drain: read %v of end offsets %v within %v", next, want, drainWait)
		}
		pctx, pcancel := context.WithTimeout(dctx, pollWait)
		fs := cl.PollFetches(pctx)
		pcancel()
		l.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			l.poll(r, &l.drain)
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		})
		l.mu.Unlock()
	}
	return nil
}
