package broker

// Replication across three brokers in one process, each its own netio server on 127.0.0.1:0 with
// its own data directory: a test "controller" (testCluster) assigns partitions with
// SetPartitionState, commits the leaders' ISR changes to every live broker (as the Raft controller
// will), and stops and restarts brokers. Timings are shortened (replica.lag.time.max.ms 600).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/engine/replica"
)

func init() {
	if versionCases[23] == nil {
		versionCases[23] = offsetForLeaderEpochVersionCase
	}
}

// Timings of the test clusters.
const (
	testReplicaLagMs       = 600
	testReplicaFetchWaitMs = 100
	testReplicaBackoffMs   = 50
	// convergeTimeout bounds every wait for replicas to agree.
	convergeTimeout = 20 * time.Second
)

type tpKey struct {
	topic     string
	partition int32
}

// testCluster plays controller for in-process brokers: it holds every partition's assignment,
// applies it to every live broker, and commits leaders' ISR changes (replica.ISRChanger).
type testCluster struct {
	t *testing.T

	mu      sync.Mutex
	nodes   map[int32]*testBroker // live brokers
	brokers map[int32]*Broker     // their brokers (testBroker.stop clears tb.b; this does not race it)
	dirs    map[int32]string
	addrs   map[int32]string // last known address of every broker, live or not
	states  map[tpKey]PartitionState
	mutate  []func(*Config) // applied to every broker's configuration
}

func startCluster(t *testing.T, n int, mutate ...func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, mutate: mutate, nodes: map[int32]*testBroker{}, brokers: map[int32]*Broker{}, dirs: map[int32]string{}, addrs: map[int32]string{}, states: map[tpKey]PartitionState{}}
	for id := range int32(n) {
		c.dirs[id] = t.TempDir()
		c.start(id)
	}
	return c
}

// start starts (or restarts) broker id on a fresh port and gives it every assignment.
func (c *testCluster) start(id int32) *testBroker {
	c.t.Helper()
	tb := startBroker(c.t, c.dirs[id], func(cfg *Config) {
		cfg.NodeID, cfg.Cluster = id, true
		cfg.ReplicaLagTimeMaxMs = testReplicaLagMs
		cfg.ReplicaFetchWaitMaxMs = testReplicaFetchWaitMs
		cfg.ReplicaFetchBackoffMs = testReplicaBackoffMs
		cfg.ReplicaSocketTimeoutMs = 5000
		for _, m := range c.mutate {
			m(cfg)
		}
	})
	tb.b.SetISRChanger(c)
	// Runs before startBroker's own cleanup (LIFO): the broker leaves the cluster, then closes.
	c.t.Cleanup(func() { c.stopIf(id, tb) })
	c.mu.Lock()
	c.nodes[id] = tb
	c.brokers[id] = tb.b
	c.addrs[id] = tb.addr
	var states []PartitionState
	for _, ps := range c.states {
		states = append(states, ps)
	}
	live := c.liveLocked()
	peers := c.peersLocked()
	c.mu.Unlock()
	for _, b := range live {
		b.SetPeers(peers)
	}
	for _, ps := range states {
		if err := tb.b.SetPartitionState(ps); err != nil {
			c.t.Fatalf("broker %d: %v", id, err)
		}
	}
	return tb
}

// stop closes broker id (server and broker), as a crash would leave it unreachable.
func (c *testCluster) stop(id int32) {
	c.mu.Lock()
	tb := c.nodes[id]
	c.mu.Unlock()
	c.stopIf(id, tb)
}

func (c *testCluster) stopIf(id int32, tb *testBroker) {
	c.mu.Lock()
	if c.nodes[id] != tb {
		c.mu.Unlock()
		return
	}
	delete(c.nodes, id)
	delete(c.brokers, id)
	c.mu.Unlock()
	tb.stop() // not under c.mu: closing waits for ISR proposals, which call ChangeISR
}

func (c *testCluster) node(id int32) *testBroker {
	c.mu.Lock()
	defer c.mu.Unlock()
	tb := c.nodes[id]
	if tb == nil {
		c.t.Fatalf("broker %d is not running", id)
	}
	return tb
}

func (c *testCluster) liveLocked() []*Broker {
	var out []*Broker
	for _, b := range c.brokers {
		out = append(out, b)
	}
	return out
}

func (c *testCluster) peersLocked() []Peer {
	var out []Peer
	for id, addr := range c.addrs {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		out = append(out, Peer{NodeID: id, Host: host, Port: int32(p)})
	}
	return out
}

// createTopic creates the topic on every live broker.
func (c *testCluster) createTopic(name string, partitions int32, configs map[string]string) {
	c.t.Helper()
	c.mu.Lock()
	live := c.liveLocked()
	c.mu.Unlock()
	for _, b := range live {
		if err := b.EnsureTopic(name, partitions, configs); err != nil {
			c.t.Fatal(err)
		}
	}
}

// update changes a partition's assignment (the partition epoch moves on by itself) and applies it
// to every live broker.
func (c *testCluster) update(topic string, partition int32, change func(*PartitionState)) PartitionState {
	c.t.Helper()
	c.mu.Lock()
	k := tpKey{topic, partition}
	ps, ok := c.states[k]
	if ok {
		ps.PartitionEpoch++
	} else {
		ps = PartitionState{Topic: topic, Partition: partition}
	}
	change(&ps)
	c.states[k] = ps
	live := c.liveLocked()
	c.mu.Unlock()
	c.apply(live, ps)
	return ps
}

func (c *testCluster) apply(live []*Broker, ps PartitionState) {
	for _, b := range live {
		if err := b.SetPartitionState(ps); err != nil && !errors.Is(err, replica.ErrStaleAssignment) && !b.closed.Load() {
			c.t.Logf("broker %d: applying %+v: %v", b.cfg.NodeID, ps, err)
		}
	}
}

// ChangeISR commits a leader's ISR change if it was decided on the current assignment.
func (c *testCluster) ChangeISR(_ context.Context, ch replica.ISRChange) error {
	c.mu.Lock()
	k := tpKey{ch.Topic, ch.Partition}
	ps, ok := c.states[k]
	if !ok || ps.Leader != ch.BrokerID || ps.LeaderEpoch != ch.LeaderEpoch || ps.PartitionEpoch != ch.PartitionEpoch {
		c.mu.Unlock()
		return fmt.Errorf("stale ISR change %+v, assignment %+v", ch, ps)
	}
	ps.ISR, ps.PartitionEpoch = slices.Clone(ch.ISR), ps.PartitionEpoch+1
	c.states[k] = ps
	live := c.liveLocked()
	c.mu.Unlock()
	c.apply(live, ps)
	return nil
}

// eventually polls cond until it returns nil or convergeTimeout passes.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(convergeTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logBytes is a partition's whole log, batch after batch, as stored.
func logBytes(t *testing.T, tb *testBroker, topic string, partition int32) []byte {
	t.Helper()
	var out []byte
	if err := tb.b.lookupPartition(topic, partition).log.ForEachBatch(0, func(b record.Batch) error {
		out = append(out, b...)
		return nil
	}); err != nil {
		t.Fatalf("broker %d: reading its log: %v", tb.b.cfg.NodeID, err)
	}
	return out
}

// waitConverged waits until every listed broker holds exactly the leader's log, end offset leo,
// with the high watermark at leo.
func (c *testCluster) waitConverged(topic string, partition int32, leo int64, ids ...int32) {
	c.t.Helper()
	eventually(c.t, fmt.Sprintf("%s-%d converging at %d on brokers %v", topic, partition, leo, ids), func() error {
		var first []byte
		for i, id := range ids {
			tb := c.node(id)
			l := tb.b.lookupPartition(topic, partition).log
			if l.LogEndOffset() != leo || l.HighWatermark() != leo {
				return fmt.Errorf("broker %d: log end %d high watermark %d", id, l.LogEndOffset(), l.HighWatermark())
			}
			got := logBytes(c.t, tb, topic, partition)
			if i == 0 {
				first = got
			} else if !bytes.Equal(got, first) {
				return fmt.Errorf("broker %d holds %d bytes differing from broker %d's %d", id, len(got), ids[0], len(first))
			}
		}
		return nil
	})
}

func (c *testCluster) waitISR(topic string, partition int32, leader int32, want ...int32) {
	c.t.Helper()
	eventually(c.t, fmt.Sprintf("ISR of %s-%d becoming %v", topic, partition, want), func() error {
		ps, ok := c.node(leader).b.PartitionState(topic, partition)
		if !ok || !slices.Equal(ps.ISR, want) {
			return fmt.Errorf("leader %d has ISR %v", leader, ps.ISR)
		}
		return nil
	})
}

// rawProduce sends one batch of values with acks and a timeout, and returns the partition's
// answer.
func rawProduce(t *testing.T, addr, topic string, partition int32, acks int16, timeoutMs int32, values ...string) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := produceReq(apis[0].max, topic, map[int32][]byte{partition: testBatch(time.Now().UnixMilli(), values...)})
	req.Acks, req.TimeoutMillis = acks, timeoutMs
	return producePartitions(t, dialRaw(t, addr), req)[partition]
}

// consumedValues reads n records from the leader and returns their values in offset order,
// failing on a gap.
func consumedValues(t *testing.T, tb *testBroker, topic string, n int) []string {
	t.Helper()
	var vals []string
	for i, r := range consumeAll(t, tb, topic, n) {
		if r.Offset != int64(i) {
			t.Fatalf("record %d at offset %d", i, r.Offset)
		}
		vals = append(vals, string(r.Value))
	}
	return vals
}

// createRF3 creates topic with one partition replicated on brokers 0, 1 and 2, led by broker 0
// in leader epoch 1, the ISR full.
func (c *testCluster) createRF3(topic string, configs map[string]string) {
	c.t.Helper()
	c.createTopic(topic, 1, configs)
	c.update(topic, 0, func(ps *PartitionState) {
		ps.Replicas, ps.ISR, ps.Leader, ps.LeaderEpoch = []int32{0, 1, 2}, []int32{0, 1, 2}, 0, 1
	})
}

// TestReplicationRF3 follows one partition with RF=3 and min.insync.replicas=2 through a
// follower's loss, a second loss and their return.
func TestReplicationRF3(t *testing.T) {
	c := startCluster(t, 3)
	const topic = "rf3"
	c.createRF3(topic, map[string]string{"min.insync.replicas": "2"})
	leader := c.node(0)
	ctx := context.Background()

	// An idempotent franz-go producer, acks=all, seeded with every broker: N records.
	const n = 2000
	prod := leader.client(kgo.SeedBrokers(c.node(0).addr, c.node(1).addr, c.node(2).addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var want []string
	for i := range n {
		v := fmt.Sprintf("r%05d", i)
		want = append(want, v)
		prod.Produce(ctx, &kgo.Record{Value: []byte(v), Partition: 0}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", r.Value, err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// acks=all answered: the leader's HW passed every record.
	if hw := leader.b.lookupPartition(topic, 0).log.HighWatermark(); hw != n {
		t.Fatalf("leader high watermark %d after every acks=all answer, want %d", hw, n)
	}
	c.waitConverged(topic, 0, n, 0, 1, 2)
	if got := consumedValues(t, leader, topic, n); !slices.Equal(got, want) {
		t.Fatalf("consumed %d records differing from the %d produced", len(got), len(want))
	}
	// Every batch carries leader epoch 1, on every replica (the logs are identical).
	leader.b.lookupPartition(topic, 0).log.ForEachBatch(0, func(b record.Batch) error {
		if b.PartitionLeaderEpoch() != 1 {
			t.Fatalf("batch at %d has leader epoch %d, want 1", b.BaseOffset(), b.PartitionLeaderEpoch())
		}
		return nil
	})

	// Clients of a follower are sent to the leader; a stale or future leader epoch is fenced.
	if p := rawProduce(t, c.node(1).addr, topic, 0, -1, 1000, "x"); p.ErrorCode != errNotLeaderOrFollower {
		t.Errorf("produce to a follower: error %d, want NOT_LEADER_OR_FOLLOWER", p.ErrorCode)
	}
	fetchAt := func(addr string, epoch int32) int16 {
		req := fetchReq(apis[1].max, topic, 0, 0)
		req.Topics[0].Partitions[0].CurrentLeaderEpoch = epoch
		return fetchPartition(t, dialRaw(t, addr), req).ErrorCode
	}
	for _, tc := range []struct {
		addr  string
		epoch int32
		want  int16
	}{{c.node(1).addr, 1, errNotLeaderOrFollower}, {leader.addr, 0, errFencedLeaderEpoch}, {leader.addr, 2, errUnknownLeaderEpoch}, {leader.addr, 1, errNone}, {leader.addr, -1, errNone}} {
		if code := fetchAt(tc.addr, tc.epoch); code != tc.want {
			t.Errorf("fetch from %s with leader epoch %d: error %d, want %d", tc.addr, tc.epoch, code, tc.want)
		}
	}
	ofle := func(addr string, epoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := versioned(kmsg.NewPtrOffsetForLeaderEpochRequest(), 4)
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.CurrentLeaderEpoch = 0, epoch, 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return dialRaw(t, addr).do(req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}
	if p := ofle(leader.addr, 1); p.ErrorCode != 0 || p.LeaderEpoch != 1 || p.EndOffset != n {
		t.Errorf("OffsetForLeaderEpoch(1) on the leader: %+v, want epoch 1 end %d", p, n)
	}
	if p := ofle(c.node(2).addr, 1); p.ErrorCode != errNotLeaderOrFollower {
		t.Errorf("OffsetForLeaderEpoch on a follower: error %d, want NOT_LEADER_OR_FOLLOWER", p.ErrorCode)
	}

	// One follower gone: acks=all waits for the lag timeout to shrink the ISR, then succeeds
	// with two in-sync replicas.
	c.stop(2)
	if p := rawProduce(t, leader.addr, topic, 0, -1, 10000, "isr-2"); p.ErrorCode != 0 || p.BaseOffset != n {
		t.Fatalf("acks=all with one follower down: error %d base offset %d", p.ErrorCode, p.BaseOffset)
	}
	c.waitISR(topic, 0, 0, 0, 1)

	// Both gone: an acks=all write lands but cannot be committed (REQUEST_TIMED_OUT), or is
	// refused up front once the ISR has shrunk to the leader (NOT_ENOUGH_REPLICAS); acks=1 works,
	// and the high watermark stays put (KIP-966).
	c.stop(1)
	wantTail := []string{"isr-2"}
	switch p := rawProduce(t, leader.addr, topic, 0, -1, 200, "timed-out"); p.ErrorCode {
	case errRequestTimedOut: // appended, never committed until the followers return
		wantTail = append(wantTail, "timed-out")
	case errNotEnoughReplicas: // the ISR shrank first
	default:
		t.Fatalf("acks=all with both followers down: error %d, want REQUEST_TIMED_OUT or NOT_ENOUGH_REPLICAS", p.ErrorCode)
	}
	c.waitISR(topic, 0, 0, 0)
	if p := rawProduce(t, leader.addr, topic, 0, -1, 10000, "refused"); p.ErrorCode != errNotEnoughReplicas {
		t.Fatalf("acks=all with ISR {leader}: error %d, want NOT_ENOUGH_REPLICAS", p.ErrorCode)
	}
	p := rawProduce(t, leader.addr, topic, 0, 1, 10000, "acks-1")
	if p.ErrorCode != 0 {
		t.Fatalf("acks=1 with ISR {leader}: error %d", p.ErrorCode)
	}
	end := p.BaseOffset + 1
	wantTail = append(wantTail, "acks-1")
	if hw := leader.b.lookupPartition(topic, 0).log.HighWatermark(); hw != n+1 {
		t.Fatalf("high watermark %d with the ISR below min.insync.replicas, want it held at %d", hw, n+1)
	}

	// Consumers read below the high watermark only.
	if p := fetchPartition(t, dialRaw(t, leader.addr), fetchReq(apis[1].max, topic, 0, n+1)); p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.HighWatermark != n+1 {
		t.Fatalf("consumer fetch above the high watermark: error %d, %d bytes, high watermark %d", p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
	}

	// The leader restarts: its uncommitted tail stays uncommitted (its high watermark is the
	// checkpointed one, not its log end), and it leads again in the same epoch.
	c.stop(0)
	leader = c.start(0)
	if l := leader.b.lookupPartition(topic, 0).log; l.HighWatermark() != n+1 || l.LogEndOffset() != end {
		t.Fatalf("restarted leader: high watermark %d log end %d, want %d and %d", l.HighWatermark(), l.LogEndOffset(), n+1, end)
	}

	// Both followers back: they catch up, rejoin the ISR, and everything is committed everywhere.
	c.start(1)
	c.start(2)
	c.waitISR(topic, 0, 0, 0, 1, 2)
	c.waitConverged(topic, 0, end, 0, 1, 2)
	if p := rawProduce(t, leader.addr, topic, 0, -1, 10000, "back"); p.ErrorCode != 0 || p.BaseOffset != end {
		t.Fatalf("acks=all after the followers' return: error %d base offset %d, want 0, %d", p.ErrorCode, p.BaseOffset, end)
	}
	c.waitConverged(topic, 0, end+1, 0, 1, 2)
	wantTail = append(wantTail, "back")
	all := consumedValues(t, leader, topic, int(end+1))
	if !slices.Equal(all[:n], want) || !slices.Equal(all[n:], wantTail) {
		t.Fatalf("records after the first %d: %q, want %q", n, all[n:], wantTail)
	}
}

// TestReplicationTruncatesDivergentTail is KIP-101's divergence: the old leader of epoch 1 holds
// batches its followers never got; a new leader is elected in epoch 2 without them. Following the
// new leader, the old one truncates to the new leader's end for epoch 1 — not to its own high
// watermark — and then matches it byte for byte.
func TestReplicationTruncatesDivergentTail(t *testing.T) {
	c := startCluster(t, 3)
	const topic = "diverge"
	c.createTopic(topic, 1, map[string]string{"min.insync.replicas": "2"})
	c.update(topic, 0, func(ps *PartitionState) {
		ps.Replicas, ps.ISR, ps.Leader, ps.LeaderEpoch = []int32{0, 1, 2}, []int32{0, 1, 2}, 0, 1
	})
	var want []string
	for i := range 5 {
		vals := []string{}
		for j := range 10 {
			vals = append(vals, fmt.Sprintf("e1-%d-%d", i, j))
		}
		want = append(want, vals...)
		if p := rawProduce(t, c.node(0).addr, topic, 0, -1, 10000, vals...); p.ErrorCode != 0 {
			t.Fatalf("acks=all: error %d", p.ErrorCode)
		}
	}
	const committed = 50
	c.waitConverged(topic, 0, committed, 0, 1, 2)

	// Broker 0 leads on alone: what it writes now reaches nobody.
	c.stop(1)
	c.stop(2)
	for i := range 3 {
		if p := rawProduce(t, c.node(0).addr, topic, 0, 1, 10000, fmt.Sprintf("divergent-%d", i)); p.ErrorCode != 0 {
			t.Fatalf("acks=1: error %d", p.ErrorCode)
		}
	}
	old := c.node(0).b.lookupPartition(topic, 0).log
	if e, end := old.EndOffsetForEpoch(1); e != 1 || end != committed+3 {
		t.Fatalf("old leader's end for epoch 1: (%d, %d), want (1, %d)", e, end, committed+3)
	}

	// Broker 1 is elected in epoch 2 with broker 2; broker 0 becomes their follower.
	c.update(topic, 0, func(ps *PartitionState) { ps.Leader, ps.LeaderEpoch, ps.ISR = 1, 2, []int32{1, 2} })
	c.start(1)
	c.start(2)
	for i := range 2 {
		vals := []string{}
		for j := range 10 {
			vals = append(vals, fmt.Sprintf("e2-%d-%d", i, j))
		}
		want = append(want, vals...)
		if p := rawProduce(t, c.node(1).addr, topic, 0, -1, 10000, vals...); p.ErrorCode != 0 {
			t.Fatalf("acks=all to the new leader: error %d", p.ErrorCode)
		}
	}
	c.waitConverged(topic, 0, committed+20, 1, 2, 0)
	if e, end := old.EndOffsetForEpoch(1); e != 1 || end != committed {
		t.Fatalf("after truncation, broker 0's end for epoch 1: (%d, %d), want (1, %d)", e, end, committed)
	}
	if e, end := old.EndOffsetForEpoch(2); e != 2 || end != committed+20 {
		t.Fatalf("broker 0's end for epoch 2: (%d, %d), want (2, %d)", e, end, committed+20)
	}
	c.waitISR(topic, 0, 1, 0, 1, 2)
	if got := consumedValues(t, c.node(1), topic, committed+20); !slices.Equal(got, want) {
		t.Fatalf("consumed from the new leader: %q, want %q", got, want)
	}
}

// TestReplicationFollowerBehindLogStart: a follower returns to find the leader's log start past
// its log end (DeleteRecords while it was away), inside a batch. Its fetch gets
// OFFSET_OUT_OF_RANGE; it empties its log, restarts at the leader's log start (then at the start
// of the batch holding it) and catches up from there.
func TestReplicationFollowerBehindLogStart(t *testing.T) {
	c := startCluster(t, 2)
	const topic = "behind"
	c.createTopic(topic, 1, map[string]string{"min.insync.replicas": "1"})
	c.update(topic, 0, func(ps *PartitionState) {
		ps.Replicas, ps.ISR, ps.Leader, ps.LeaderEpoch = []int32{0, 1}, []int32{0, 1}, 0, 1
	})
	leader := c.node(0)
	five := func(prefix string) []string {
		return []string{prefix + "0", prefix + "1", prefix + "2", prefix + "3", prefix + "4"}
	}
	for _, prefix := range []string{"a", "b"} {
		if p := rawProduce(t, leader.addr, topic, 0, -1, 10000, five(prefix)...); p.ErrorCode != 0 {
			t.Fatalf("acks=all: error %d", p.ErrorCode)
		}
	}
	c.waitConverged(topic, 0, 10, 0, 1)
	c.stop(1)
	for _, prefix := range []string{"c", "d"} { // batches [10, 15) and [15, 20)
		if p := rawProduce(t, leader.addr, topic, 0, 1, 10000, five(prefix)...); p.ErrorCode != 0 {
			t.Fatalf("acks=1: error %d", p.ErrorCode)
		}
	}
	// With min.insync.replicas=1 the leader commits alone once the follower is out of the ISR.
	c.waitISR(topic, 0, 0, 0)
	eventually(t, "the leader's high watermark reaching 20", func() error {
		if hw := leader.b.lookupPartition(topic, 0).log.HighWatermark(); hw != 20 {
			return fmt.Errorf("high watermark %d", hw)
		}
		return nil
	})
	// The new log start falls inside the batch [10, 15): the follower, emptied and restarted at
	// 13, receives that whole batch first.
	if lw, code := leader.b.deleteRecords(topic, 0, 13); code != 0 || lw != 13 {
		t.Fatalf("delete records before 13: low watermark %d error %d", lw, code)
	}
	follower := c.start(1)
	c.waitConverged(topic, 0, 20, 0, 1)
	if s := follower.b.lookupPartition(topic, 0).log.LogStartOffset(); s != 13 {
		t.Fatalf("follower's log start %d, want the leader's 13", s)
	}
	c.waitISR(topic, 0, 0, 0, 1)
}

// offsetForLeaderEpochVersionCase checks OffsetForLeaderEpoch at v on a partition never assigned
// (epoch 0) and on one assigned to this broker alone in epoch 3.
func offsetForLeaderEpochVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("offset-for-leader-epoch-v%d", v)
	rawCreateTopic(t, c, topic, 2)
	now := time.Now().UnixMilli()
	for _, vals := range [][]string{{"a", "b"}, {"c"}} {
		for _, p := range []int32{0, 1} {
			if r := produceOne(t, c, apis[0].max, topic, p, testBatch(now, vals...)); r.ErrorCode != 0 {
				t.Fatalf("produce: error %d", r.ErrorCode)
			}
		}
	}
	// Partition 1: this broker alone, leader epoch 3 from offset 3 on.
	if err := tb.b.SetPartitionState(PartitionState{Topic: topic, Partition: 1, Replicas: []int32{0}, ISR: []int32{0}, LeaderEpoch: 3}); err != nil {
		t.Fatal(err)
	}
	if r := produceOne(t, c, apis[0].max, topic, 1, testBatch(now, "d", "e")); r.ErrorCode != 0 {
		t.Fatalf("produce: error %d", r.ErrorCode)
	}
	type ask struct {
		partition, epoch, current int32
	}
	type answer struct {
		code  int16
		epoch int32
		end   int64
	}
	type oflCase struct {
		ask
		want answer
	}
	cases := []oflCase{
		{ask{0, 0, -1}, answer{0, 0, 3}},
		{ask{0, 1, -1}, answer{0, -1, -1}}, // newer than any: undefined
		{ask{1, 0, -1}, answer{0, 0, 3}},   // ends where epoch 3 starts
		{ask{1, 2, -1}, answer{0, 0, 3}},   // epoch 2 never wrote: the largest below it, 0
		{ask{1, 3, -1}, answer{0, 3, 5}},
		{ask{7, 0, -1}, answer{errUnknownTopicOrPartition, -1, -1}},
	}
	if v >= 2 { // CurrentLeaderEpoch
		cases = append(cases,
			oflCase{ask{1, 3, 2}, answer{errFencedLeaderEpoch, -1, -1}},
			oflCase{ask{1, 3, 4}, answer{errUnknownLeaderEpoch, -1, -1}},
			oflCase{ask{0, 0, 1}, answer{errUnknownLeaderEpoch, -1, -1}},
			oflCase{ask{1, 0, 3}, answer{0, 0, 3}})
	}
	req := versioned(kmsg.NewPtrOffsetForLeaderEpochRequest(), v)
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = topic
	for _, tc := range cases {
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.CurrentLeaderEpoch = tc.partition, tc.epoch, tc.current
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := c.do(req).(*kmsg.OffsetForLeaderEpochResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != len(cases) {
		t.Fatalf("v%d: answer %+v", v, resp.Topics)
	}
	for i, tc := range cases {
		got := resp.Topics[0].Partitions[i]
		if got.Partition != tc.partition || got.ErrorCode != tc.want.code || got.EndOffset != tc.want.end || (v >= 1 && got.LeaderEpoch != tc.want.epoch) {
			t.Errorf("v%d %+v: partition %d error %d epoch %d end %d, want %+v", v, tc.ask, got.Partition, got.ErrorCode, got.LeaderEpoch, got.EndOffset, tc.want)
		}
	}
}

// TestReplicationUnassignedRefusesProduce: a cluster-mode broker with a partition it has no
// assignment for yet (as after a restart, before its metadata image is replayed) refuses Produce
// with NOT_LEADER_OR_FOLLOWER (acks=all and acks=1), instead of appending and committing the
// records alone; once it is assigned leadership it accepts them.
func TestReplicationUnassignedRefusesProduce(t *testing.T) {
	c := startCluster(t, 1)
	const topic = "unassigned"
	c.createTopic(topic, 1, nil)
	for _, acks := range []int16{-1, 1} {
		if p := rawProduce(t, c.node(0).addr, topic, 0, acks, 1000, "x"); p.ErrorCode != errNotLeaderOrFollower {
			t.Errorf("acks=%d before any assignment: error %d, want NOT_LEADER_OR_FOLLOWER (%d)", acks, p.ErrorCode, errNotLeaderOrFollower)
		}
	}
	log := c.node(0).b.lookupPartition(topic, 0).log
	if leo, hw := log.LogEndOffset(), log.HighWatermark(); leo != 0 || hw != 0 {
		t.Fatalf("unassigned partition stored records: log end %d, high watermark %d", leo, hw)
	}
	c.update(topic, 0, func(ps *PartitionState) {
		ps.Replicas, ps.ISR, ps.Leader, ps.LeaderEpoch = []int32{0}, []int32{0}, 0, 0
	})
	if p := rawProduce(t, c.node(0).addr, topic, 0, -1, 10000, "y"); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("acks=all once assigned: error %d offset %d, want 0 and 0", p.ErrorCode, p.BaseOffset)
	}
}
