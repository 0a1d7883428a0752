package meta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// Raft timings for tests: elections within a second (tighter ones lose leadership under -race on
// two shared cores, where an fsync can take tens of milliseconds), a snapshot after 16 entries
// with 4 kept behind it, so a node that misses a few dozen entries must be sent a snapshot.
func testConfig(t *testing.T, id int32, voters []Voter, dir string) Config {
	return Config{
		NodeID:             id,
		Voters:             voters,
		Dir:                dir,
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		SnapshotThreshold:  16,
		SnapshotInterval:   100 * time.Millisecond,
		TrailingLogs:       4,
		ProposeTimeout:     5 * time.Second,
		Logger:             testLogger(),
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func propose(t *testing.T, c *Controller, recs ...Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Propose(ctx, recs...); err != nil {
		t.Fatalf("propose %d records: %v", len(recs), err)
	}
}

// registerAndUnfence proposes the registration and unfencing of brokers on the controller c.
func registerAndUnfence(t *testing.T, c *Controller, ids ...int32) {
	t.Helper()
	for _, id := range ids {
		propose(t, c, RegisterBrokerRecords(c.Image(), testRegistration(id, "", 1), Policy{})...)
		propose(t, c, UnfenceBrokerRecords(c.Image(), id, Policy{})...)
	}
}

func TestSingleVoter(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(testConfig(t, 1, nil, dir))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "single voter to lead", c.IsActive)
	if id, _ := c.Leader(); id != 1 {
		t.Fatalf("leader %d", id)
	}
	watch, stop := c.Watch()
	defer stop()
	if img := <-watch; img != Empty {
		t.Fatalf("watch did not start with the current image")
	}

	registerAndUnfence(t, c, 1)
	rec, err := CreateTopicRecord(c.Image(), "orders", testTopicID("orders"), 3, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	propose(t, c, rec)
	if c.Image().Topic("orders") == nil {
		t.Fatal("Propose returned before the image had the topic")
	}
	waitFor(t, "watch to see the topic", func() bool {
		select {
		case img := <-watch:
			return img.Topic("orders") != nil
		default:
			return false
		}
	})

	// A rejected proposal: the same topic again.
	err = c.Propose(context.Background(), rec)
	if !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate CreateTopic: %v", err)
	}
	if err := c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	pids, _ := AllocateProducerIDsRecord(c.Image(), 1, DefaultProducerIDBlockSize)
	propose(t, c, pids)
	want := EncodeImage(c.Image())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for range watch { // Close closes the channel; at most the newest image is still in it
	}
	if err := c.Propose(context.Background(), pids); !errors.Is(err, ErrClosed) {
		t.Fatalf("Propose after Close: %v", err)
	}

	// Reopen: the snapshot, then the entry after it, bring the image back.
	c, err = Open(testConfig(t, 1, nil, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "restart to restore the image", func() bool { return bytes.Equal(EncodeImage(c.Image()), want) })
	if blk, ok := c.Image().ProducerIDBlock(1); !ok || blk.Size != DefaultProducerIDBlockSize {
		t.Fatalf("producer id block after restart: %+v", blk)
	}
}

// freePorts reserves n loopback ports by listening on port 0, then frees them for the nodes.
func freePorts(t *testing.T, n int) []int {
	var ports []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

type cluster struct {
	t      *testing.T
	voters []Voter
	dirs   map[int32]string
	nodes  map[int32]*Controller // running nodes
}

func (cl *cluster) start(id int32) {
	cl.t.Helper()
	c, err := Open(testConfig(cl.t, id, cl.voters, cl.dirs[id]))
	if err != nil {
		cl.t.Fatalf("node %d: %v", id, err)
	}
	cl.nodes[id] = c
}

func (cl *cluster) stop(id int32) {
	cl.t.Helper()
	if err := cl.nodes[id].Close(); err != nil {
		cl.t.Fatalf("node %d close: %v", id, err)
	}
	delete(cl.nodes, id)
}

// leader waits until exactly one running node is active and every running node names it.
func (cl *cluster) leader() *Controller {
	cl.t.Helper()
	var leader *Controller
	waitFor(cl.t, "a leader every node agrees on", func() bool {
		leader = nil
		for _, c := range cl.nodes {
			if c.IsActive() {
				if leader != nil {
					return false
				}
				leader = c
			}
		}
		if leader == nil {
			return false
		}
		for _, c := range cl.nodes {
			if id, _ := c.Leader(); id != leader.cfg.NodeID {
				return false
			}
		}
		return true
	})
	return leader
}

// converged waits until every running node's image encodes exactly as the leader's.
func (cl *cluster) converged(leader *Controller) *Image {
	cl.t.Helper()
	waitFor(cl.t, "images to converge", func() bool {
		want := EncodeImage(leader.Image())
		for _, c := range cl.nodes {
			if !bytes.Equal(EncodeImage(c.Image()), want) {
				return false
			}
		}
		return true
	})
	return leader.Image()
}

func lastSnapshotIndex(c *Controller) uint64 {
	n, _ := strconv.ParseUint(c.raft.Stats()["last_snapshot_index"], 10, 64)
	return n
}

// TestCluster runs three voters over real TCP transports on loopback: proposals converge, a
// follower refuses with NotController naming the leader, the leader's loss elects another, and a
// node restarted from its directory catches up from its snapshot, its log and the leader's
// snapshot.
func TestCluster(t *testing.T) {
	ports := freePorts(t, 3)
	voters, err := ParseQuorumVoters(fmt.Sprintf("1@127.0.0.1:%d,2@127.0.0.1:%d,3@127.0.0.1:%d", ports[0], ports[1], ports[2]))
	if err != nil {
		t.Fatal(err)
	}
	cl := &cluster{t: t, voters: voters, dirs: map[int32]string{}, nodes: map[int32]*Controller{}}
	for _, v := range voters {
		cl.dirs[v.ID] = t.TempDir()
		cl.start(v.ID)
	}
	defer func() {
		for id := range cl.nodes {
			cl.stop(id)
		}
	}()

	// Proposals on the leader apply on all three.
	leader := cl.leader()
	// Replication is not pipelined (Open says why): the transport refuses a pipeline.
	if _, err := leader.transport.AppendEntriesPipeline("2", raft.ServerAddress(voters[1].Addr())); !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatalf("AppendEntriesPipeline: %v, want %v", err, raft.ErrPipelineReplicationNotSupported)
	}
	registerAndUnfence(t, leader, 1, 2, 3)
	rec, err := CreateTopicRecord(leader.Image(), "orders", testTopicID("orders"), 6, 3, map[string]string{ConfigMinInsyncReplicas: "2"})
	if err != nil {
		t.Fatal(err)
	}
	propose(t, leader, rec)
	img := cl.converged(leader)
	if tp := img.Topic("orders"); tp == nil || len(tp.Partitions) != 6 {
		t.Fatalf("orders not applied: %v", img)
	}

	// A follower refuses, naming the leader, so the broker can forward.
	for id, c := range cl.nodes {
		if c == leader {
			continue
		}
		err := c.Propose(context.Background(), DeleteTopic{Name: "orders", TopicID: testTopicID("orders")})
		var nc *NotControllerError
		if !errors.As(err, &nc) || nc.LeaderID != leader.cfg.NodeID || nc.LeaderAddr != voters[leader.cfg.NodeID-1].Addr() {
			t.Fatalf("node %d: got %v, want NotController naming node %d", id, err, leader.cfg.NodeID)
		}
	}
	// A stale decision is rejected everywhere alike.
	stale := ElectLeader{TopicID: testTopicID("orders"), Partition: 0, PartitionEpoch: 7, Leader: NoLeader, ISR: []int32{1}}
	if err := leader.Propose(context.Background(), stale); !errors.Is(err, ErrStalePartitionEpoch) {
		t.Fatalf("stale ElectLeader: %v", err)
	}
	// Every node snapshots now, so a restart begins from a local snapshot.
	for id, c := range cl.nodes {
		if err := c.Snapshot(); err != nil {
			t.Fatalf("node %d snapshot: %v", id, err)
		}
	}

	// The leader goes away: another is elected, and the new controller fences the old one's
	// broker and goes on applying everywhere.
	old := leader.cfg.NodeID
	oldApplied := leader.AppliedIndex()
	cl.stop(old)
	leader = cl.leader()
	if leader.cfg.NodeID == old {
		t.Fatal("the stopped node still leads")
	}
	if err := leader.Barrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	propose(t, leader, FenceBrokerRecords(leader.Image(), old, Policy{})...)
	rec, err = CreateTopicRecord(leader.Image(), "payments", testTopicID("payments"), 2, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	propose(t, leader, rec)
	// Enough entries, then snapshots, that the log the stopped node needs is compacted away.
	for i := 0; i < 40; i++ {
		var alloc AllocateProducerIDs
		if alloc, err = AllocateProducerIDsRecord(leader.Image(), leader.cfg.NodeID, 100); err != nil {
			t.Fatal(err)
		}
		propose(t, leader, alloc)
	}
	img = cl.converged(leader)
	for _, c := range cl.nodes {
		if err := c.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range img.Topic("orders").Partitions {
		if p.Leader == old || p.InISR(old) && len(p.ISR) > 1 {
			t.Fatalf("fenced broker %d still leads or shares an ISR: %v", old, p)
		}
	}

	// The old leader restarts from its directory and catches up: its own snapshot and log, then
	// the leader's snapshot for what was compacted.
	cl.start(old)
	img = cl.converged(leader)
	// Raft restores the FSM from an installed snapshot before it records the snapshot's index, so
	// the image can converge a moment before the index moves: wait for it, bounded.
	waitFor(t, "the restarted node to record the leader's snapshot", func() bool {
		return lastSnapshotIndex(cl.nodes[old]) > oldApplied
	})
	if img.Topic("payments") == nil || img.NextProducerID() != 4000 {
		t.Fatalf("restarted node's image: %v", img)
	}
	// And it keeps applying.
	propose(t, leader, UnfenceBrokerRecords(leader.Image(), old, Policy{})...)
	img = cl.converged(leader)
	if b := img.Broker(old); b.Fenced {
		t.Fatalf("broker %d still fenced", old)
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("META_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return quietLogger()
}

func TestOpenRejects(t *testing.T) {
	voters, _ := ParseQuorumVoters("1@127.0.0.1:1,2@127.0.0.1:2")
	if _, err := Open(testConfig(t, 3, voters, t.TempDir())); err == nil {
		t.Fatal("opened a node outside controller.quorum.voters")
	}
	if _, err := Open(testConfig(t, 1, nil, "")); err == nil {
		t.Fatal("opened without a directory")
	}
	cfg := testConfig(t, 1, nil, t.TempDir())
	cfg.LeaderLeaseTimeout = 2 * cfg.HeartbeatTimeout
	if _, err := Open(cfg); err == nil {
		t.Fatal("opened with a lease longer than the heartbeat timeout")
	}
	var nc error = &NotControllerError{LeaderID: 2, LeaderAddr: "127.0.0.1:2", MaybeCommitted: true}
	if got := nc.Error(); got != "meta: not the controller (controller is node 2 at 127.0.0.1:2); the proposal may have been committed" {
		t.Fatalf("Error() = %q", got)
	}
}
