package broker

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/log"
)

func directMode(c *Config) { setWriteMode(c, log.WriteDirect) }

// setWriteMode sets the broker's write mode; in direct mode every partition written to takes a
// ring however slowly (log.write.direct.min.bytes.per.second=0): these tests are about the ring.
func setWriteMode(c *Config, mode log.WriteMode) {
	c.LogDefaults.WriteMode = mode
	if mode == log.WriteDirect {
		c.LogDefaults.RingBudget = log.NewRingBudget(log.DefaultDirectMemoryBytes, 0, false)
	}
}

// A consumer tailing a write-behind log gets each record once the writer has written it: the
// writer wakes the parked fetch (a long poll of 10 s would otherwise hold every record that long).
func TestWriteBehindTailingConsumer(t *testing.T) {
	tb := startBroker(t, t.TempDir(), directMode)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(tb.client()).CreateTopic(ctx, 1, 1, nil, "tail"); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic("tail"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	cons := tb.client(kgo.ConsumeTopics("tail"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Second))
	const rounds = 20
	start := time.Now()
	for i := range rounds {
		want := fmt.Sprintf("tail-%02d", i)
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(want)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("round %d: no record within the deadline (%s since the start)", i, time.Since(start))
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		recs := fs.Records()
		if len(recs) != 1 || string(recs[0].Value) != want || recs[0].Offset != int64(i) {
			t.Fatalf("round %d: fetched %d records, want %q at offset %d", i, len(recs), want, i)
		}
	}
	t.Logf("%d produce-then-consume rounds in %s", rounds, time.Since(start))
}

// The broker reports its write mode through DescribeConfigs (cmd/sluice validates the key).
func TestWriteBehindDescribeConfigs(t *testing.T) {
	for _, mode := range []log.WriteMode{log.WriteBuffered, log.WriteDirect} {
		tb := startBroker(t, t.TempDir(), func(c *Config) { setWriteMode(c, mode) })
		got := brokerConfigs(t, kadm.NewClient(tb.client()), 0)["log.write.mode"]
		if got.Value == nil || *got.Value != mode.String() {
			t.Fatalf("log.write.mode = %q, want %q", got.MaybeValue(), mode)
		}
	}
}

// Write-behind on every replica: acks=all answers only once the leader and the in-sync
// followers have written the record, and every replica ends with the same bytes.
func TestWriteBehindReplicated(t *testing.T) {
	c := startCluster(t, 3, directMode)
	const topic = "rf3-direct"
	c.createRF3(topic, map[string]string{"min.insync.replicas": "3"})
	leader := c.node(0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 3000
	prod := leader.client(kgo.SeedBrokers(c.node(0).addr, c.node(1).addr, c.node(2).addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("r%05d", i))}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", r.Value, err)
				return
			}
			if err := writtenEverywhere(c, topic, r.Offset); err != nil {
				t.Error(err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitConverged(topic, 0, n, 0, 1, 2)
	want := logBytes(t, leader, topic, 0)
	for id := int32(1); id < 3; id++ {
		if got := logBytes(t, c.node(id), topic, 0); !bytes.Equal(got, want) {
			t.Fatalf("replica %d holds %d bytes differing from the leader's %d", id, len(got), len(want))
		}
	}
	if got := consumedValues(t, leader, topic, n); len(got) != n || got[0] != "r00000" || got[n-1] != fmt.Sprintf("r%05d", n-1) {
		t.Fatalf("consumed %d records, want %d in order", len(got), n)
	}
}

// A follower whose disk fails reports none of what it could not write: its fetcher waits for its
// own writes before it fetches on (followerTarget.Append), so acks=all is answered only once every
// in-sync replica has written the record, here after the disk recovers (meanwhile the follower
// stops fetching, and min.insync.replicas=3 holds the answer).
func TestWriteBehindFollowerWriteFailureHoldsAcksAll(t *testing.T) {
	c := startCluster(t, 3, directMode)
	const topic = "rf3-failing-follower"
	c.createRF3(topic, map[string]string{"min.insync.replicas": "3"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod := c.node(0).client(kgo.SeedBrokers(c.node(0).addr, c.node(1).addr, c.node(2).addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.waitConverged(topic, 0, 1, 0, 1, 2)

	release := log.FailWritesForTesting(c.node(2).b.cfg.LogDir, syscall.EIO)
	defer release()
	done := make(chan error, 1)
	prod.Produce(ctx, &kgo.Record{Value: []byte("during")}, func(r *kgo.Record, err error) {
		if err == nil {
			err = writtenEverywhere(c, topic, r.Offset)
		}
		done <- err
	})
	// Long enough for the follower to fetch the record, fail to write it and retry, many times
	// over; a follower that reported its log end without waiting would have the record
	// acknowledged within a fetch.
	time.Sleep(1500 * time.Millisecond)
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.waitConverged(topic, 0, 2, 0, 1, 2)
}

// Read-your-writes with the writer held: a record answered (acks=1 and acks=all) but not yet
// written counts at once in ListOffsets and the high watermark, as it would in Kafka, and a
// Fetch that would not wait (MaxWait 0, MinBytes 0) and a ListOffsets by its timestamp wait for
// the writer rather than answer without it.
func TestWriteBehindReadYourWrites(t *testing.T) {
	tb := startBroker(t, t.TempDir(), directMode)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(tb.client())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "ryw"); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic("ryw"), kgo.DisableIdempotentWrite())
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("written")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pl := tb.b.lookupPartition("ryw", 0).log
	if err := pl.WaitWritten(); err != nil {
		t.Fatal(err)
	}

	release := log.HoldWritesForTesting()
	defer release()
	ts := time.Now().Add(time.Second).Truncate(time.Millisecond) // later than the first record's
	for i, acks := range []kgo.Acks{kgo.LeaderAck(), kgo.AllISRAcks()} {
		cl := tb.client(kgo.DefaultProduceTopic("ryw"), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(acks))
		r := &kgo.Record{Value: []byte(fmt.Sprintf("held-%d", i)), Timestamp: ts}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("acks=%d: %v", i, err)
		}
		if r.Offset != int64(1+i) {
			t.Fatalf("acks=%d: answered offset %d, want %d", i, r.Offset, 1+i)
		}
	}
	if end, leo := pl.WrittenEnd(), pl.LogEndOffset(); end != 1 || leo != 3 {
		t.Fatalf("written end %d, log end %d: the test needs records answered and held from the disk", end, leo)
	}
	ends, err := adm.ListEndOffsets(ctx, "ryw")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("ryw", 0); o.Err != nil || o.Offset != 3 {
		t.Fatalf("ListOffsets latest: %+v, want 3 (every answered record)", o)
	}

	fetched := make(chan *kmsg.FetchResponse, 1)
	go func() {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 0, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "ryw"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 2, 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, tb.client())
		if err != nil {
			t.Errorf("fetch: %v", err)
		}
		fetched <- resp
	}()
	byTime := make(chan kadm.ListedOffsets, 1)
	go func() {
		lo, err := adm.ListOffsetsAfterMilli(ctx, ts.UnixMilli(), "ryw")
		if err != nil {
			t.Errorf("ListOffsets by timestamp: %v", err)
		}
		byTime <- lo
	}()
	select {
	case resp := <-fetched:
		t.Fatalf("Fetch answered while the writer is held: %+v", resp)
	case lo := <-byTime:
		t.Fatalf("ListOffsets by timestamp answered while the writer is held: %+v", lo)
	case <-time.After(200 * time.Millisecond):
	}
	release()

	resp := <-fetched
	if resp == nil {
		t.FailNow()
	}
	var got []string
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 || rp.HighWatermark != 3 {
				t.Fatalf("fetch: error %d, high watermark %d, want 0 and 3", rp.ErrorCode, rp.HighWatermark)
			}
			fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "ryw", Partition: 0}, &rp, kgo.DefaultDecompressor(), nil)
			for _, r := range fp.Records {
				got = append(got, string(r.Value))
			}
		}
	}
	if fmt.Sprint(got) != "[held-1]" {
		t.Fatalf("fetched %q from offset 2, want the last answered record", got)
	}
	lo := <-byTime
	if o, _ := lo.Lookup("ryw", 0); o.Err != nil || o.Offset != 1 {
		t.Fatalf("ListOffsets by timestamp: %+v, want offset 1", o)
	}
}

// More busy partitions than rings (log.write.direct.memory.bytes of one ring): the partitions
// without one write buffered, and every record comes back in order from each partition.
func TestWriteBehindRingBudgetSharedByPartitions(t *testing.T) {
	budget := log.NewRingBudget(log.RingBytes, 0, false)
	tb := startBroker(t, t.TempDir(), directMode, func(c *Config) { c.LogDefaults.RingBudget = budget })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const partitions, n = 4, 8000
	if _, err := kadm.NewClient(tb.client()).CreateTopic(ctx, partitions, 1, nil, "shared"); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic("shared"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%06d", i))}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", r.Value, err)
			}
			if inUse := budget.InUse(); inUse > 1 {
				t.Errorf("%d rings in use, budget 1", inUse)
			}
		})
		if i%200 == 199 { // many batches per partition
			if err := prod.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if m := budget.Misses(); m < 3*n/200 {
		t.Fatalf("%d appends found the ring taken: the test needs partitions written buffered throughout", m)
	}
	last := map[int32]string{}
	for _, r := range consumeAll(t, tb, "shared", n) {
		if v := string(r.Value); v <= last[r.Partition] {
			t.Fatalf("partition %d: %q after %q", r.Partition, v, last[r.Partition])
		}
		last[r.Partition] = string(r.Value)
	}
	t.Logf("%d appends written buffered for want of a ring", budget.Misses())
}

// log.write.direct.unread.only: a partition written behind gives its ring back once a consumer
// fetches from it, so the consumer reads the newest records from the page cache, and takes one
// again once nobody has fetched for a while. Seen through the budget, with a real consumer.
func TestWriteBehindRingGoesToUnreadPartitions(t *testing.T) {
	budget := log.NewRingBudget(log.DefaultDirectMemoryBytes, 0, true) // any rate: reads decide
	tb := startBroker(t, t.TempDir(), directMode, func(c *Config) { c.LogDefaults.RingBudget = budget })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(tb.client()).CreateTopic(ctx, 1, 1, nil, "unread"); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic("unread"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	produced := 0
	produce := func() {
		t.Helper()
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%06d", produced)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		produced++
	}
	produce()
	if n := budget.InUse(); n != 1 {
		t.Fatalf("%d rings in use with nobody reading, want 1", n)
	}

	cons := tb.client(kgo.ConsumeTopics("unread"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	consumed := 0
	for consumed < produced {
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", consumed, produced, ctx.Err())
		}
		consumed += cons.PollFetches(ctx).NumRecords()
	}
	produce()
	if n := budget.InUse(); n != 0 {
		t.Fatalf("%d rings in use after a consumer fetched, want 0 (the partition writes buffered)", n)
	}

	cons.Close() // nobody reads now: within a second or two of appends the ring comes back
	deadline := time.Now().Add(10 * time.Second)
	for budget.InUse() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no ring 10 s after the consumer left")
		}
		produce()
		time.Sleep(50 * time.Millisecond)
	}
	last := ""
	for _, r := range consumeAll(t, tb, "unread", produced) {
		if v := string(r.Value); v <= last {
			t.Fatalf("%q after %q", v, last)
		}
		last = string(r.Value)
	}
}

// writtenEverywhere returns an error unless all three replicas of topic's partition 0 have
// written offset (an acks=all answer must not come sooner).
func writtenEverywhere(c *testCluster, topic string, offset int64) error {
	for id := range int32(3) {
		if end := c.node(id).b.lookupPartition(topic, 0).log.WrittenEnd(); end <= offset {
			return fmt.Errorf("acks=all answered for offset %d while replica %d has written up to %d", offset, id, end)
		}
	}
	return nil
}
