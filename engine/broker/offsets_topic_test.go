package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/group"
	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/engine/record"
)

// A replica applies the offsets topic to its store only below the high watermark: records above
// it may still be truncated. The applied offset moves with the records, in the same batch.
func TestOffsetsApplyStopsAtHighWatermark(t *testing.T) {
	dir := t.TempDir()
	l, err := log.Open(filepath.Join(dir, offsetsTopic+"-0"), log.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	store, err := group.OpenStore(filepath.Join(dir, "store"), nil, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	appendRecs := func(recs ...group.Record) int64 {
		b, err := record.Validate(offsetsBatch(recs, 1), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		info, err := l.Append(b, 1)
		if err != nil {
			t.Fatal(err)
		}
		return info.LogEndOffset
	}
	first := appendRecs(group.SetOffsetRecord("g", "t", 0, group.OffsetValue{Offset: 10, LeaderEpoch: -1}))
	second := appendRecs(group.SetOffsetRecord("g", "t", 0, group.OffsetValue{Offset: 20, LeaderEpoch: -1}),
		group.SetOffsetRecord("g", "t", 1, group.OffsetValue{Offset: 5, LeaderEpoch: -1}))
	read := func(offset, maxBytes, upTo int64, minOneBatch bool) (logRegion, error) {
		r, err := l.Read(offset, maxBytes, upTo, minOneBatch)
		return &r, err
	}
	offset := func(partition int32) int64 {
		v, ok, err := store.Offset("g", "t", partition)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return -1
		}
		return v.Offset
	}
	check := func(what string, wantApplied, want0, want1 int64) {
		t.Helper()
		applied, err := store.AppliedOffset(0)
		if err != nil {
			t.Fatal(err)
		}
		if applied != wantApplied || offset(0) != want0 || offset(1) != want1 {
			t.Fatalf("%s: applied %d, offsets %d %d; want %d, %d %d", what, applied, offset(0), offset(1), wantApplied, want0, want1)
		}
	}

	var skipped []int64
	skip := func(base int64, _ error) { skipped = append(skipped, base) }
	var applied int64
	l.SetHighWatermark(first) // the follower has both batches, the HW covers the first
	if err := applyOffsetsLog(0, read, l.HighWatermark(), &applied, store.ApplyReplicated, skip); err != nil {
		t.Fatal(err)
	}
	check("HW after the first batch", first, 10, -1)
	if err := applyOffsetsLog(0, read, l.HighWatermark(), &applied, store.ApplyReplicated, skip); err != nil {
		t.Fatal(err)
	}
	check("no progress", first, 10, -1)

	// A high watermark inside the second batch applies nothing more: a batch is applied whole.
	if err := applyOffsetsLog(0, read, second-1, &applied, store.ApplyReplicated, skip); err != nil {
		t.Fatal(err)
	}
	check("HW inside the second batch", first, 10, -1)

	l.SetHighWatermark(second)
	if err := applyOffsetsLog(0, read, l.HighWatermark(), &applied, store.ApplyReplicated, skip); err != nil {
		t.Fatal(err)
	}
	check("HW at the log end", second, 20, 5)

	// A client's batch in the topic (a key that is no coordinator record) is passed over; the
	// coordinator's next batch applies.
	foreign, err := record.Validate(record.AppendBatch(nil, record.BatchSpec{ProducerID: -1, BaseSequence: -1},
		[]record.Record{{Key: []byte("not a group key"), Value: []byte("v")}}), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(foreign, 1); err != nil {
		t.Fatal(err)
	}
	third := appendRecs(group.SetOffsetRecord("g", "t", 1, group.OffsetValue{Offset: 6, LeaderEpoch: -1}))
	l.SetHighWatermark(third)
	if err := applyOffsetsLog(0, read, l.HighWatermark(), &applied, store.ApplyReplicated, skip); err != nil {
		t.Fatal(err)
	}
	check("past a foreign batch", third, 20, 6)
	if len(skipped) != 1 || skipped[0] != second {
		t.Fatalf("batches passed over: %v, want the one at %d", skipped, second)
	}
}

// TestOffsetsCoordinatorFailover: in a 3-broker cluster the first FindCoordinator creates
// __consumer_offsets (internal, 50 partitions, RF 3); the group's coordinator is the leader of
// partition abs(hashCode(group)) % 50; a franz-go group consumer commits; every replica's store
// stays at or below its high watermark; the coordinator's broker stops; the new leader of the
// partition answers OffsetFetch with every committed offset, and the member carries on exactly
// from them and commits to the new coordinator.
func TestOffsetsCoordinatorFailover(t *testing.T) {
	mc := startMetaCluster(t, 3)
	for id := int32(1); id <= 3; id++ {
		mc.waitImage(id, "three unfenced brokers", allUnfenced(3))
	}
	ctx := context.Background()
	seeds := kgo.SeedBrokers(mc.addrs(1, 2, 3)...)
	adm := kadm.NewClient(mc.node(1).tb.client(seeds))
	const topic, groupName, n = "orders", "billing", 600
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	for id := int32(1); id <= 3; id++ {
		mc.waitImage(id, "the topic", func(img *meta.Image) error {
			if img.Topic(topic) == nil {
				return errors.New("no topic")
			}
			return nil
		})
	}
	prod := mc.node(1).tb.client(seeds, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("r%04d", i))}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	groupOpts := []kgo.Opt{seeds, kgo.ConsumerGroup(groupName), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(testSessionTimeout), kgo.HeartbeatInterval(testHeartbeatInterval),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.RetryTimeout(30 * time.Second)}
	c1 := mc.node(1).tb.client(groupOpts...)
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	consumed := 0
	for consumed < n/2 { // part of the topic, then commit what was read
		fs := c1.PollRecords(pctx, 50)
		if err := pctx.Err(); err != nil {
			t.Fatalf("consumed %d records: %v", consumed, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s-%d: %v", tp, p, err) })
		consumed += fs.NumRecords()
	}
	if err := c1.CommitUncommittedOffsets(pctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	committed := map[int32]int64{}
	for p, o := range c1.CommittedOffsets()[topic] {
		committed[p] = o.Offset
	}
	if len(committed) == 0 {
		t.Fatal("nothing committed")
	}
	t.Logf("consumed %d records, committed %v", consumed, committed)

	// The coordinator is the leader of the group's partition, by Kafka's formula.
	idx := group.PartitionFor(groupName, DefaultOffsetsTopicNumPartitions)
	img := mc.node(1).link.Image()
	ot := img.Topic(offsetsTopic)
	if ot == nil || len(ot.Partitions) != DefaultOffsetsTopicNumPartitions || len(ot.Partitions[idx].Replicas) != 3 {
		t.Fatalf("offsets topic: %+v", ot)
	}
	cs := adm.FindGroupCoordinators(ctx, groupName)
	if cs[groupName].Err != nil {
		t.Fatalf("FindCoordinator: %v", cs[groupName].Err)
	}
	coord := cs[groupName].NodeID
	if leader := img.Partition(offsetsTopic, idx).Leader; coord != leader {
		t.Fatalf("coordinator %d, leader of %s-%d is %d", coord, offsetsTopic, idx, leader)
	}
	// FindCoordinator v4 batches keys, v3 names one; any broker answers with the leaders.
	leaderNode := func(key string) int32 {
		return img.Partition(offsetsTopic, group.PartitionFor(key, DefaultOffsetsTopicNumPartitions)).Leader
	}
	freq := kmsg.NewPtrFindCoordinatorRequest()
	freq.Version, freq.CoordinatorKeys = 4, []string{groupName, "hello", "polygenelubricants"}
	for id := int32(1); id <= 3; id++ {
		fresp := dialRaw(t, mc.node(id).tb.addr).do(freq).(*kmsg.FindCoordinatorResponse)
		if len(fresp.Coordinators) != 3 {
			t.Fatalf("FindCoordinator v4 from node %d: %+v", id, fresp)
		}
		for _, c := range fresp.Coordinators {
			if c.ErrorCode != 0 || c.NodeID != leaderNode(c.Key) || c.Host != "127.0.0.1" {
				t.Fatalf("FindCoordinator v4 from node %d for %q: %+v, want node %d", id, c.Key, c, leaderNode(c.Key))
			}
		}
	}
	freq = kmsg.NewPtrFindCoordinatorRequest()
	freq.Version, freq.CoordinatorKey = 3, groupName
	if fresp := dialRaw(t, mc.node(1).tb.addr).do(freq).(*kmsg.FindCoordinatorResponse); fresp.ErrorCode != 0 || fresp.NodeID != coord {
		t.Fatalf("FindCoordinator v3: %+v, want node %d", fresp, coord)
	}
	md, err := adm.Metadata(ctx, offsetsTopic)
	if err != nil || !md.Topics[offsetsTopic].IsInternal {
		t.Fatalf("Metadata of %s: internal %v, %v", offsetsTopic, md.Topics[offsetsTopic].IsInternal, err)
	}
	// Every replica applies up to its high watermark and no further; all three get there with
	// the ISR whole, so the partition has a leader to fail over to.
	eventually(t, "replicas of the group's partition caught up", func() error {
		if p := mc.node(coord).link.Image().Partition(offsetsTopic, idx); len(p.ISR) != 3 {
			return fmt.Errorf("ISR %v", p.ISR)
		}
		for id := int32(1); id <= 3; id++ {
			b := mc.node(id).tb.b
			applied, err := b.groups.AppliedOffset(idx)
			if err != nil {
				return err
			}
			p := b.lookupPartition(offsetsTopic, idx)
			if hw := p.log.HighWatermark(); applied > hw {
				t.Fatalf("node %d: store applied to %d, above the high watermark %d", id, applied, hw)
			} else if applied != p.log.LogEndOffset() {
				return fmt.Errorf("node %d: applied %d, log end %d", id, applied, p.log.LogEndOffset())
			}
		}
		return nil
	})

	t.Logf("stopping node %d, the coordinator", coord)
	mc.stop(coord)
	var survivors []int32
	for id := int32(1); id <= 3; id++ {
		if id != coord {
			survivors = append(survivors, id)
		}
	}
	sseeds := kgo.SeedBrokers(mc.addrs(survivors...)...)
	var fetched kadm.OffsetResponses
	eventually(t, "OffsetFetch from the new coordinator", func() error {
		// A fresh client each time: one that found the stopped coordinator keeps dialing it.
		cl, err := kgo.NewClient(sseeds)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		fetched, err = kadm.NewClient(cl).FetchOffsets(fctx, groupName)
		return err
	})
	sadm := kadm.NewClient(mc.node(survivors[0]).tb.client(sseeds))
	for p, want := range committed {
		if got, ok := fetched.Lookup(topic, p); !ok || got.Err != nil || got.At != want {
			t.Fatalf("offset of %s-%d from the new coordinator: %+v (found %v), want %d", topic, p, got, ok, want)
		}
	}
	// Each survivor answers from its own copy of the metadata, which follows the controller's
	// log a moment behind; so each must name a survivor soon, not at once (a client that was
	// sent to the stopped node retries, as with Kafka).
	freq = kmsg.NewPtrFindCoordinatorRequest()
	freq.Version, freq.CoordinatorKey = 3, groupName
	for _, id := range survivors {
		raw := dialRaw(t, mc.node(id).tb.addr)
		eventually(t, fmt.Sprintf("FindCoordinator from node %d after the failover", id), func() error {
			if fresp := raw.do(freq).(*kmsg.FindCoordinatorResponse); fresp.ErrorCode != 0 || fresp.NodeID == coord {
				return fmt.Errorf("%+v, want a node other than %d", fresp, coord)
			}
			return nil
		})
	}

	// The member carries on through the failover (its coordinator gone, it finds the new one):
	// each partition continues exactly at the committed offset, and its last commit lands on the
	// new coordinator.
	first := map[int32]int64{}
	left := n
	for _, o := range committed {
		left -= int(o)
	}
	got := 0
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	for got < left {
		fs := c1.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			t.Fatalf("after the failover: %d of %d records: %v", got, left, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, seen := first[r.Partition]; !seen {
				first[r.Partition] = r.Offset
			}
			got++
		})
	}
	for p, o := range first {
		if want := committed[p]; o != want {
			t.Errorf("partition %d continued at %d, want the committed %d", p, o, want)
		}
	}
	if got != left {
		t.Errorf("read %d records after the failover, want %d", got, left)
	}
	eventually(t, "the last commit, on the new coordinator", func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return c1.CommitUncommittedOffsets(cctx)
	})
	fetched, err = sadm.FetchOffsets(ctx, groupName)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	fetched.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != n {
		t.Errorf("committed offsets after the failover sum to %d, want every record (%d): %v", total, n, fetched)
	}

	// The old coordinator comes back as a follower: it resumes applying where its store stopped
	// and holds the commits made while it was away.
	mc.start(coord)
	eventually(t, fmt.Sprintf("node %d's store catching up", coord), func() error {
		b := mc.node(coord).tb.b
		p := b.lookupPartition(offsetsTopic, idx)
		applied, err := b.groups.AppliedOffset(idx)
		if err != nil {
			return err
		}
		if hw := p.log.HighWatermark(); applied > hw {
			t.Fatalf("node %d: store applied to %d, above the high watermark %d", coord, applied, hw)
		}
		for _, o := range fetched.Sorted() {
			v, ok, err := b.groups.StoredOffset(groupName, o.Topic, o.Partition)
			if err != nil || !ok || v.Offset != o.At {
				return fmt.Errorf("%s-%d: stored %+v (found %v, %v), want %d", o.Topic, o.Partition, v, ok, err, o.At)
			}
		}
		return nil
	})
}

// The replicated journal on one broker, driven by hand (no controller): a commit is answered only
// once the high watermark passes its batch; the new leader loads its groups; a log truncated below
// what the store applied makes the applier rebuild the partition's groups from the log.
func TestOffsetsJournalAnswersAtHighWatermark(t *testing.T) {
	tb := startBroker(t, t.TempDir(), func(cfg *Config) { cfg.Cluster = true; cfg.OffsetsTopicNumPartitions = 1 })
	b := tb.b
	if err := b.EnsureTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureTopic(offsetsTopic, 1, nil); err != nil {
		t.Fatal(err)
	}
	// Leader with a follower (node 9, never fetching) in the ISR: the HW cannot move by itself.
	ps := PartitionState{Topic: offsetsTopic, Replicas: []int32{0, 9}, ISR: []int32{0, 9}, Leader: 0, LeaderEpoch: 1, PartitionEpoch: 1}
	if err := b.SetPartitionState(ps); err != nil {
		t.Fatal(err)
	}
	o := newOffsetsReplication(b)
	o.current = func() bool { return true } // no controller: the test's image is the truth
	b.groups.Replicate(1, o)
	o.pass() // leader: loads partition 0

	replies := make(chan int16, 1)
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group = 8, "g"
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = 42
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	b.groups.OffsetCommit(req, func(resp *kmsg.OffsetCommitResponse) { replies <- resp.Topics[0].Partitions[0].ErrorCode })
	p := b.lookupPartition(offsetsTopic, 0)
	if p.log.LogEndOffset() != 1 || p.log.HighWatermark() != 0 {
		t.Fatalf("after the commit: log end %d, high watermark %d; want the batch appended, not committed", p.log.LogEndOffset(), p.log.HighWatermark())
	}
	o.pass()
	select {
	case code := <-replies:
		t.Fatalf("commit answered (%d) before the high watermark passed it", code)
	default:
	}
	if v, ok, _ := b.groups.StoredOffset("g", "t", 0); ok {
		t.Fatalf("the store holds %+v above the high watermark", v)
	}

	// The follower leaves the ISR: the HW reaches the log end and the commit is answered.
	ps.ISR, ps.PartitionEpoch = []int32{0}, 2
	if err := b.SetPartitionState(ps); err != nil {
		t.Fatal(err)
	}
	o.pass()
	if code := <-replies; code != errNone {
		t.Fatalf("commit: error %d", code)
	}
	if v, ok, _ := b.groups.StoredOffset("g", "t", 0); !ok || v.Offset != 42 {
		t.Fatalf("store after the commit: %+v %v", v, ok)
	}

	// Deposed, and the log cut below what the store applied: the groups go, the store is rebuilt
	// from what the log still holds (nothing).
	ps = PartitionState{Topic: offsetsTopic, Replicas: []int32{0, 9}, ISR: []int32{9}, Leader: 9, LeaderEpoch: 2, PartitionEpoch: 3}
	if err := b.SetPartitionState(ps); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	err := p.log.TruncateFully(0)
	p.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	o.pass()
	if v, ok, _ := b.groups.StoredOffset("g", "t", 0); ok {
		t.Fatalf("store after the truncation: %+v, want nothing", v)
	}
	if applied, err := b.groups.AppliedOffset(0); applied != 0 || err != nil {
		t.Fatalf("applied offset after the truncation: %d %v", applied, err)
	}
	if code := b.groups.Heartbeat(&kmsg.HeartbeatRequest{Group: "g"}).ErrorCode; code != errNotCoordinator {
		t.Fatalf("heartbeat on a deposed coordinator: %d, want NOT_COORDINATOR", code)
	}
	o.shutdown()
}

// The applier decodes whatever a valid batch of the offsets topic holds without panicking: a
// client may produce anything to it.
func FuzzOffsetsBatchRecords(f *testing.F) {
	f.Add(offsetsBatch([]group.Record{group.SetOffsetRecord("g", "t", 0, group.OffsetValue{Offset: 1}),
		group.DeleteGroupOffsetsRecord("g"), group.DeleteGroupRecord("g")}, 1))
	f.Add(record.AppendBatch(nil, record.BatchSpec{ProducerID: -1, BaseSequence: -1}, []record.Record{{Key: []byte("x"), Value: nil}}))
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) >= record.HeaderSize && record.PeekSize(p) == len(p) {
			record.Batch(p).UpdateCRC() // past the CRC, to the records
		}
		b, err := record.ValidateStored(p)
		if err != nil {
			return
		}
		recs, err := appendBatchRecords(nil, b)
		if err == nil && len(recs) != int(b.RecordCount()) {
			t.Fatalf("%d records decoded from a batch of %d", len(recs), b.RecordCount())
		}
	})
}
