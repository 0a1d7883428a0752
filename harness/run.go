package harness

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Limits: every wait in a run is bounded, and so is every client's memory.
const (
	// setupTimeout bounds creating the topics and seeing a leader for
	// every partition.
	setupTimeout = 30 * time.Second
	// consumersReadyTimeout bounds the consumer groups' first rebalance.
	consumersReadyTimeout = 30 * time.Second
	// flushTimeout bounds the producers' outstanding records after the
	// measured window; records still outstanding then are "unresolved".
	flushTimeout = 30 * time.Second
	// leaveTimeout bounds each consumer's leaving its group at the end.
	leaveTimeout = 5 * time.Second
	// teardownTimeout bounds deleting the run's topics.
	teardownTimeout = 10 * time.Second
	// drainSettle separates two listings of the end offsets in the drain:
	// produce requests still in a socket or the broker's queue land within it.
	drainSettle = 100 * time.Millisecond
	// pollEvery is how often bounded waits look again.
	pollEvery = 20 * time.Millisecond

	// inflightBytesMax bounds each producer's unresolved records in bytes.
	// It matches the Java producer's buffer.memory (32 MiB), so latencies at
	// full speed compare with kafka-producer-perf-test's.
	inflightBytesMax = 32 << 20
	// inflightRecordsMax bounds them in records, for tiny messages.
	inflightRecordsMax = 100_000
	// kgoBufferSlack keeps kgo's own buffer limit above ours: kgo frees a
	// slot only after the promise (which frees ours) returns, so at equal
	// limits Produce could block for a moment.
	kgoBufferSlack = 16

	// topicPrefix starts every topic and group name a run creates, so they
	// are recognisable on a shared cluster.
	topicPrefix = "sluicebench"
)

// Options are how a caller wants a run presented, not what it measures.
type Options struct {
	// Progress receives a live line per second; nil is quiet. See
	// ProgressWriter.
	Progress io.Writer
	// Logf reports phases ("consumers ready"); nil is quiet.
	Logf func(format string, args ...any)
	// KeepTopics leaves the run's topics on the cluster for inspection.
	KeepTopics bool
	// OnMeasure, if set, is called as the measured window opens, with its
	// length; AfterMeasure as it closes, before the drain, while the target
	// still runs. Both run on Run's goroutine and should return quickly
	// (start a goroutine for slow work): `make profile` starts the broker's
	// CPU profile in the first and takes the heap in the second.
	OnMeasure    func(window time.Duration)
	AfterMeasure func()
}

// Run starts t, runs w against it, checks what came back and stops t. The
// error is for a run that could not be carried out (no broker, topics not
// created); a run that completed but lost or reordered records returns a
// Result with Sluice.Passed false.
//
// Cancelling ctx ends the warmup or measured window early; the flush, drain
// and check still happen, within their own bounds.
func Run(ctx context.Context, w *Workload, t Target, opt Options) (res *Result, err error) {
	if w.padding == nil {
		if err := w.Validate(); err != nil {
			return nil, err
		}
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	// Stop runs even when Start fails: a target that got half-way (a
	// process started, a port not yet open) cleans up after itself.
	defer func() {
		if stopErr := t.Stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("stop %s: %w", t.Name(), stopErr)
		}
	}()
	bootstrap, err := t.Start(ctx)
	if err != nil {
		return nil, err
	}

	r := &run{
		w:         w,
		target:    t,
		bootstrap: bootstrap,
		opt:       opt,
		runID:     rand.Uint32() | 1, // never 0, so a zeroed value is foreign
		t0:        time.Now(),
	}
	if po, ok := t.(ProduceOnly); ok && po.ProduceOnly() {
		r.produceOnly = true
	}
	return r.execute(ctx)
}

// run is one execution of a workload; its methods run on Run's goroutine.
type run struct {
	w           *Workload
	target      Target
	bootstrap   []string
	opt         Options
	runID       uint32
	t0          time.Time
	produceOnly bool

	topics []string
	admCl  *kgo.Client
	adm    *kadm.Client

	// A client is in producers or consumers only once created, so
	// shutdown closes exactly what exists, whatever failed half-way.
	producers       []*producer
	stopProducing   context.CancelFunc // nil until the loops start
	producing       sync.WaitGroup
	producersClosed bool

	subs            []*subscription
	consumers       []*consumer
	stopConsuming   context.CancelFunc // nil until the loops start
	consuming       sync.WaitGroup
	consumersClosed bool

	res *Result
}

func (r *run) execute(ctx context.Context) (*Result, error) {
	w := r.w
	r.res = r.newResult()
	e := &r.res.Sluice

	cl, err := kgo.NewClient(kgo.SeedBrokers(r.bootstrap...), kgo.ClientID(topicPrefix+"-admin"))
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	r.admCl, r.adm = cl, kadm.NewClient(cl)
	defer r.admCl.Close()

	r.topics = r.topicNames()
	if err := r.createTopics(ctx); err != nil {
		return nil, err
	}
	if !r.opt.KeepTopics {
		defer r.deleteTopics()
	}
	// Whatever happens from here, every loop stops and every client closes.
	defer r.shutdown()

	if w.Consumers() && !r.produceOnly {
		if err := r.startConsumers(ctx); err != nil {
			return nil, err
		}
	}
	if err := r.newProducers(); err != nil {
		return nil, err
	}

	subs := 0 // OMB's backlog counts reads owed per record published
	if len(r.consumers) > 0 {
		subs = w.SubscriptionsPerTopic
	}
	s := newSampler(r.res, r.opt.Progress, subs)
	s.producers, s.consumers = r.producers, r.consumers
	r.startProducers()
	if w.WarmupDuration > 0 {
		r.opt.Logf("warming up for %s", w.WarmupDuration)
		e.WarmupSeconds = s.phase(ctx, w.WarmupDuration, false).Seconds()
	}
	r.opt.Logf("measuring for %s", w.TestDuration)
	if r.opt.OnMeasure != nil {
		r.opt.OnMeasure(w.TestDuration)
	}
	before := r.sampleProcesses()
	s.phase(ctx, w.TestDuration, true)
	after := r.sampleProcesses()
	s.finish()
	r.reportProcesses(before, after)
	if r.opt.AfterMeasure != nil {
		r.opt.AfterMeasure()
	}

	r.stopProducers()
	if len(r.consumers) > 0 {
		start := time.Now()
		e.DrainComplete = r.drain()
		e.DrainSeconds = time.Since(start).Seconds()
		r.opt.Logf("drained in %.2fs (complete: %v)", e.DrainSeconds, e.DrainComplete)
	}
	r.shutdown()

	r.check()
	e.PerfTestSummary = r.res.PerfTestLine()
	return r.res, nil
}

// startConsumers creates every subscription's members, starts their poll
// loops and waits until each group has settled, so the measured window
// does not include the first rebalance.
func (r *run) startConsumers(ctx context.Context) error {
	w, parts := r.w, r.w.PartitionsPerTopic
	for ti, topic := range r.topics {
		for si := range w.SubscriptionsPerTopic {
			sub := &subscription{
				name:          fmt.Sprintf("%s-%08x-t%d-s%d", topicPrefix, r.runID, ti, si),
				topic:         topic,
				topicIndex:    ti,
				partitionBase: int32(ti * parts),
				partitions:    parts,
				members:       w.ConsumerPerSubscription,
				next:          make([]int64, parts),
			}
			r.subs = append(r.subs, sub)
			direct := w.ConsumerAssignment == AssignDirect
			for m := range w.ConsumerPerSubscription {
				c := &consumer{id: len(r.consumers), sub: sub, runID: r.runID, t0: r.t0, meter: newMeter()}
				opts := []kgo.Opt{
					kgo.SeedBrokers(r.bootstrap...),
					kgo.ClientID(fmt.Sprintf("%s-c%d", topicPrefix, c.id)),
				}
				if direct {
					// Member m of n reads partitions m, m+n, m+2n, ...
					// from the start: the topic is new, so that is all of it.
					share := map[int32]kgo.Offset{}
					for p := m; p < parts; p += w.ConsumerPerSubscription {
						share[int32(p)] = kgo.NewOffset().AtStart()
					}
					opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: share}))
					sub.assigned.Add(int64(len(share)))
					sub.ready.Add(1)
				} else {
					opts = append(opts,
						kgo.ConsumerGroup(sub.name),
						kgo.ConsumeTopics(topic),
						kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
					opts = append(opts, c.groupCallbacks()...)
				}
				cl, err := kgo.NewClient(opts...)
				if err != nil {
					return fmt.Errorf("consumer %d: %w", c.id, err)
				}
				c.cl = cl
				r.consumers = append(r.consumers, c)
			}
		}
	}

	cctx, cancel := context.WithCancel(context.Background())
	r.stopConsuming = cancel
	for _, c := range r.consumers {
		r.consuming.Go(func() { c.run(cctx) })
	}

	start := time.Now()
	deadline := time.NewTimer(consumersReadyTimeout)
	defer deadline.Stop()
	for {
		waiting := r.unsettled()
		if waiting == nil {
			r.opt.Logf("%d consumer(s) in %d %s subscription(s) ready in %s", len(r.consumers), len(r.subs), w.ConsumerAssignment, time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("consumers not ready after %s: %w", consumersReadyTimeout, waiting)
		case <-time.After(pollEvery):
		}
	}
}

// unsettled names a group still rebalancing: one whose members have not all
// had an assignment, or whose partitions are not all owned.
func (r *run) unsettled() error {
	for _, s := range r.subs {
		ready, assigned := s.ready.Load(), s.assigned.Load()
		if ready < int64(s.members) || assigned != int64(s.partitions) {
			return fmt.Errorf("group %s: %d of %d members assigned, %d of %d partitions owned",
				s.name, ready, s.members, assigned, s.partitions)
		}
	}
	return nil
}

func (r *run) newProducers() error {
	w := r.w
	inflight := max(1, min(inflightRecordsMax, inflightBytesMax/w.MessageSize))
	for ti, topic := range r.topics {
		for range w.ProducersPerTopic {
			p := &producer{
				id:            uint32(len(r.producers)),
				topic:         topic,
				partitionBase: int32(ti * w.PartitionsPerTopic),
				runID:         r.runID,
				t0:            r.t0,
				ackOffsets:    w.Acks != "0",
				padding:       w.padding,
				inflight:      make(chan struct{}, inflight),
				meter:         newMeter(),
			}
			cl, err := kgo.NewClient(r.producerOpts(p.id, inflight)...)
			if err != nil {
				return fmt.Errorf("producer %d: %w", p.id, err)
			}
			p.cl = cl
			r.producers = append(r.producers, p)
		}
	}
	return nil
}

func (r *run) producerOpts(id uint32, inflight int) []kgo.Opt {
	w := r.w
	acks := map[Acks]kgo.Acks{"0": kgo.NoAck(), "1": kgo.LeaderAck(), "all": kgo.AllISRAcks()}[w.Acks]
	codec := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}[w.Compression]
	opts := []kgo.Opt{
		kgo.SeedBrokers(r.bootstrap...),
		kgo.ClientID(fmt.Sprintf("%s-p%d", topicPrefix, id)),
		kgo.RequiredAcks(acks),
		kgo.ProducerLinger(time.Duration(w.LingerMs) * time.Millisecond),
		kgo.ProducerBatchCompression(codec),
		kgo.MaxBufferedRecords(inflight + kgoBufferSlack),
	}
	if !*w.Idempotence {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if w.BatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(w.BatchBytes)))
	}
	return opts
}

func (r *run) startProducers() {
	var interval time.Duration
	if rate := r.w.ProducerRate; rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(len(r.producers)) / float64(rate))
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stopProducing = cancel
	for _, p := range r.producers {
		r.producing.Go(func() { p.run(ctx, interval) })
	}
}

// stopProducers ends the loops, then waits (bounded) for every record
// already handed to kgo, then closes the clients. Close fails whatever is
// still buffered, so every record sent gets an outcome unless the broker
// stopped answering.
func (r *run) stopProducers() {
	if r.producersClosed {
		return
	}
	r.producersClosed = true
	if r.stopProducing != nil {
		r.stopProducing()
		r.producing.Wait()

		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		var timedOut atomic.Bool
		var flushing sync.WaitGroup
		for _, p := range r.producers {
			flushing.Go(func() {
				if p.cl.Flush(ctx) != nil {
					timedOut.Store(true)
				}
			})
		}
		flushing.Wait()
		if timedOut.Load() {
			r.note("producers' final flush timed out after %s: the records still buffered were failed", flushTimeout)
		}
	}
	for _, p := range r.producers {
		p.cl.Close()
	}
}

// drain waits, up to the workload's drainTimeout, until every subscription
// has read every partition to its end offset. The end offsets are listed
// again once the consumers reach them, and the drain ends only when a
// listing no longer moves and covers every record acknowledged with an
// offset: with acks=0 a record counts as sent once written to the socket,
// so the broker may still be appending when the producers have finished;
// with acks=1 the leader acknowledges before its followers copy, and the
// listed end (the high watermark) reaches those records only once they
// have, which at full speed takes seconds, with pauses (a follower's
// segment roll) longer than the settle between two listings.
func (r *run) drain() bool {
	ctx, cancel := context.WithTimeout(context.Background(), r.w.DrainTimeout)
	defer cancel()
	acked := r.acknowledgedEnds()
	var last [][]int64
	for {
		ends, err := r.listEnds(ctx)
		if err != nil {
			r.note("drain: could not list end offsets within %s: %v", r.w.DrainTimeout, err)
			return false
		}
		covered := coversEnds(ends, acked)
		if covered && last != nil && equalEnds(ends, last) {
			return true
		}
		last = ends
		settle := time.After(drainSettle) // a quiet moment before the next listing
		for !r.caughtUp(ends) {
			select {
			case <-ctx.Done():
				r.note("drain: consumers had not reached the end offsets after %s", r.w.DrainTimeout)
				return false
			case <-time.After(pollEvery):
			}
		}
		select {
		case <-ctx.Done():
			if covered {
				r.note("drain: the end offsets were still moving after %s", r.w.DrainTimeout)
			} else {
				r.note("drain: the listed end offsets had not reached every acknowledged record after %s", r.w.DrainTimeout)
			}
			return false
		case <-settle:
		}
	}
}

// acknowledgedEnds is, for every topic and partition, the offset after the
// last record acknowledged with an offset (0 where none was, as with acks=0).
// Call it once the producers have stopped.
func (r *run) acknowledgedEnds() [][]int64 {
	ends := make([][]int64, len(r.topics))
	for ti := range ends {
		ends[ti] = make([]int64, r.w.PartitionsPerTopic)
	}
	for _, p := range r.producers {
		p.mu.Lock()
		for _, a := range p.acks {
			if a.Err || a.Offset < 0 || a.Partition < 0 {
				continue
			}
			ti, pi := int(a.Partition)/r.w.PartitionsPerTopic, int(a.Partition)%r.w.PartitionsPerTopic
			ends[ti][pi] = max(ends[ti][pi], a.Offset+1)
		}
		p.mu.Unlock()
	}
	return ends
}

// coversEnds reports whether every listed end offset is at least acked's.
func coversEnds(listed, acked [][]int64) bool {
	for ti := range acked {
		for p, a := range acked[ti] {
			if listed[ti][p] < a {
				return false
			}
		}
	}
	return true
}

// listEnds lists every topic's end offsets, retrying until ctx is done.
func (r *run) listEnds(ctx context.Context) ([][]int64, error) {
	for {
		lo, err := r.adm.ListEndOffsets(ctx, r.topics...)
		if err == nil {
			err = lo.Error()
		}
		if err == nil {
			ends := make([][]int64, len(r.topics))
			for ti, t := range r.topics {
				ends[ti] = make([]int64, r.w.PartitionsPerTopic)
				for p := range ends[ti] {
					if o, ok := lo.Lookup(t, int32(p)); ok {
						ends[ti][p] = o.Offset
					}
				}
			}
			return ends, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pollEvery):
		}
	}
}

// caughtUp reports whether every subscription has read up to ends.
func (r *run) caughtUp(ends [][]int64) bool {
	for _, s := range r.subs {
		if !s.caughtUp(ends[s.topicIndex]) {
			return false
		}
	}
	return true
}

func equalEnds(a, b [][]int64) bool {
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// shutdown stops every loop and closes every client; it is safe to call
// twice and on any path out of execute.
func (r *run) shutdown() {
	r.stopProducers()
	if r.consumersClosed {
		return
	}
	r.consumersClosed = true
	if r.stopConsuming != nil {
		r.stopConsuming()
		r.consuming.Wait()
	}
	// Members leave their groups in parallel so the leaves do not queue
	// behind one another. Close alone would wait for the leave however
	// long a dead coordinator takes; after a bounded LeaveGroupContext it
	// returns at once.
	var closing sync.WaitGroup
	for _, c := range r.consumers {
		closing.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
			defer cancel()
			if err := c.cl.LeaveGroupContext(ctx); err != nil {
				c.noteErr(fmt.Errorf("leave group %s: %w", c.sub.name, err))
			}
			c.cl.Close()
		})
	}
	closing.Wait()
}
