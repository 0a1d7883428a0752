package broker

// Three brokers in one process, each with its own meta.Controller (three voters over real TCP
// transports on loopback) and its own netio server: the Raft controller, not testCluster,
// registers them, places partitions, commits ISR changes and fences a dead leader.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/engine/meta"
)

const (
	testSessionTimeoutMs    = 1500
	testHeartbeatIntervalMs = 200
)

type metaNode struct {
	tb   *testBroker
	c    *meta.Controller
	link *ControllerLink
}

// metaCluster runs brokers with real controllers. Route finds a node's link by id; with network
// set there is no Route and every request for the active controller is forwarded over TCP
// (controller_rpc.go), as between separate processes.
type metaCluster struct {
	t        *testing.T
	network  bool
	voters   []meta.Voter
	dirs     map[int32]string
	metaDirs map[int32]string

	// brokerCfg and linkCfg, when set before nodes start, adjust every broker's configuration and
	// controller link.
	brokerCfg func(*Config)
	linkCfg   func(*ControllerLinkConfig)
	// trailingLogs is meta.Config.TrailingLogs (0: its default).
	trailingLogs uint64

	mu    sync.Mutex
	nodes map[int32]*metaNode
}

func startMetaCluster(t *testing.T, n int) *metaCluster {
	t.Helper()
	return startMetaClusterWith(t, n, false)
}

func startMetaClusterWith(t *testing.T, n int, network bool, brokerCfg ...func(*Config)) *metaCluster {
	t.Helper()
	mc := &metaCluster{t: t, network: network, dirs: map[int32]string{}, metaDirs: map[int32]string{}, nodes: map[int32]*metaNode{}}
	if len(brokerCfg) > 0 {
		mc.brokerCfg = brokerCfg[0]
	}
	mc.startAll(n)
	return mc
}

// startAll starts nodes 1..n, each a voter on a free loopback port.
func (mc *metaCluster) startAll(n int) {
	t := mc.t
	t.Helper()
	var ls []net.Listener
	for id := int32(1); id <= int32(n); id++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		mc.voters = append(mc.voters, meta.Voter{ID: id, Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port})
		mc.dirs[id], mc.metaDirs[id] = t.TempDir(), t.TempDir()
	}
	for _, l := range ls {
		l.Close()
	}
	var wg sync.WaitGroup
	for id := int32(1); id <= int32(n); id++ {
		wg.Add(1)
		go func() { defer wg.Done(); mc.start(id) }()
	}
	wg.Wait()
}

func (mc *metaCluster) start(id int32) *metaNode {
	t := mc.t
	c, err := meta.Open(meta.Config{
		NodeID: id, Voters: mc.voters, Dir: mc.metaDirs[id],
		HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
		LeaderLeaseTimeout: 500 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
		ProposeTimeout: 5 * time.Second, TrailingLogs: mc.trailingLogs,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Errorf("controller %d: %v", id, err)
		return nil
	}
	tb := startBroker(t, mc.dirs[id], func(cfg *Config) {
		cfg.NodeID, cfg.Cluster = id, true
		cfg.ReplicaLagTimeMaxMs = testReplicaLagMs
		cfg.ReplicaFetchWaitMaxMs = testReplicaFetchWaitMs
		cfg.ReplicaFetchBackoffMs = testReplicaBackoffMs
		cfg.ReplicaSocketTimeoutMs = 5000
		if mc.brokerCfg != nil {
			mc.brokerCfg(cfg)
		}
	})
	host, port, _ := net.SplitHostPort(tb.addr)
	p, _ := strconv.Atoi(port)
	route := mc.route
	if mc.network {
		route = nil
	}
	lcfg := ControllerLinkConfig{
		Controller: c, Host: host, Port: int32(p),
		SessionTimeoutMs: testSessionTimeoutMs, HeartbeatIntervalMs: testHeartbeatIntervalMs,
		Route: route,
	}
	if mc.linkCfg != nil {
		mc.linkCfg(&lcfg)
	}
	link, err := tb.b.AttachController(lcfg)
	if err != nil {
		t.Errorf("attach %d: %v", id, err)
		return nil
	}
	n := &metaNode{tb: tb, c: c, link: link}
	mc.mu.Lock()
	mc.nodes[id] = n
	mc.mu.Unlock()
	t.Cleanup(func() { mc.stopIf(id, n) }) // before startBroker's cleanup
	return n
}

func (mc *metaCluster) route(id int32) *ControllerLink {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if n := mc.nodes[id]; n != nil {
		return n.link
	}
	return nil
}

func (mc *metaCluster) node(id int32) *metaNode {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	n := mc.nodes[id]
	if n == nil {
		mc.t.Fatalf("node %d is not running", id)
	}
	return n
}

// stop stops node id's broker (and its link) and then its controller, as a crash would.
func (mc *metaCluster) stop(id int32) {
	mc.mu.Lock()
	n := mc.nodes[id]
	mc.mu.Unlock()
	mc.stopIf(id, n)
}

func (mc *metaCluster) stopIf(id int32, n *metaNode) {
	mc.mu.Lock()
	if n == nil || mc.nodes[id] != n {
		mc.mu.Unlock()
		return
	}
	delete(mc.nodes, id)
	mc.mu.Unlock()
	n.tb.stop()
	if err := n.c.Close(); err != nil {
		mc.t.Errorf("controller %d close: %v", id, err)
	}
}

func (mc *metaCluster) addrs(ids ...int32) []string {
	var out []string
	for _, id := range ids {
		out = append(out, mc.node(id).tb.addr)
	}
	return out
}

// waitImage waits until node id has applied an image satisfying cond.
func (mc *metaCluster) waitImage(id int32, what string, cond func(*meta.Image) error) *meta.Image {
	mc.t.Helper()
	var img *meta.Image
	eventually(mc.t, fmt.Sprintf("node %d: %s", id, what), func() error {
		img = mc.node(id).link.Image()
		return cond(img)
	})
	return img
}

// waitLogsConverged waits until the listed nodes hold identical logs ending at leo, HW at leo.
func (mc *metaCluster) waitLogsConverged(topic string, partition int32, leo int64, ids ...int32) {
	mc.t.Helper()
	eventually(mc.t, fmt.Sprintf("%s-%d converging at %d on %v", topic, partition, leo, ids), func() error {
		var first []byte
		for i, id := range ids {
			tb := mc.node(id).tb
			p := tb.b.lookupPartition(topic, partition)
			if p == nil {
				return fmt.Errorf("node %d: no partition", id)
			}
			if p.log.LogEndOffset() != leo || p.log.HighWatermark() != leo {
				return fmt.Errorf("node %d: log end %d high watermark %d", id, p.log.LogEndOffset(), p.log.HighWatermark())
			}
			got := logBytes(mc.t, tb, topic, partition)
			if i == 0 {
				first = got
			} else if string(got) != string(first) {
				return fmt.Errorf("node %d's log differs from node %d's", id, ids[0])
			}
		}
		return nil
	})
}

func allUnfenced(n int) func(*meta.Image) error {
	return func(img *meta.Image) error {
		if got := len(img.UnfencedBrokers()); got != n {
			return fmt.Errorf("%d unfenced brokers:\n%s", got, img)
		}
		return nil
	}
}

// TestControllerFailover: CreateTopic RF=3 through the controller, an idempotent acks=all
// producer, convergence; the partition leader's broker and controller stop; the survivors fence it
// after broker.session.timeout.ms and elect a new leader from the ISR in a new leader epoch; the
// producer carries on and a consumer reads every acknowledged record once, in order. The stopped
// node returns with an unreplicated tail in its old epoch, truncates it (KIP-101), follows and
// rejoins the ISR. Along the way: admin requests through the controller (TOPIC_ALREADY_EXISTS,
// INVALID_REPLICATION_FACTOR, CreatePartitions; the other admin operations are in
// TestControllerAdmin),
// DescribeCluster, and producer ids unique across brokers.
func TestControllerFailover(t *testing.T) { testControllerFailover(t, false) }

// TestControllerFailoverForwarded is TestControllerFailover with no in-process Route: every
// registration, heartbeat, ISR change, CreateTopics and producer-id block reaches the active
// controller over the network (BrokerRegistration, BrokerHeartbeat, AlterPartition,
// AllocateProducerIds on the Kafka listener).
func TestControllerFailoverForwarded(t *testing.T) { testControllerFailover(t, true) }

func testControllerFailover(t *testing.T, network bool) {
	start := time.Now()
	mc := startMetaClusterWith(t, 3, network)
	for id := int32(1); id <= 3; id++ {
		mc.waitImage(id, "three unfenced brokers", allUnfenced(3))
	}
	t.Logf("cluster up: %v", time.Since(start))
	ctx := context.Background()
	seeds := kgo.SeedBrokers(mc.addrs(1, 2, 3)...)
	adm := kadm.NewClient(mc.node(1).tb.client(seeds))

	const topic = "failover"
	if _, err := adm.CreateTopic(ctx, 1, 4, nil, "too-wide"); !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("RF 4 on 3 brokers: %v, want INVALID_REPLICATION_FACTOR", err)
	}
	mis := "2"
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &mis}, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	// kadm asks the controller Metadata names; it answered once it had applied the topic.
	ctrl, _ := mc.node(1).c.Leader()
	if img := mc.node(ctrl).link.Image(); img.Topic(topic) == nil {
		t.Fatalf("CreateTopics answered before node %d applied the topic", ctrl)
	}
	img := mc.waitImage(1, "the topic", func(img *meta.Image) error {
		if img.Topic(topic) == nil {
			return errors.New("no topic")
		}
		return nil
	})
	p0 := img.Partition(topic, 0)
	if p0 == nil || len(p0.Replicas) != 3 || len(p0.ISR) != 3 || p0.Leader == meta.NoLeader {
		t.Fatalf("placement: %v", p0)
	}
	oldLeader, oldEpoch := p0.Leader, p0.LeaderEpoch
	t.Logf("topic created: leader %d epoch %d (%v)", oldLeader, oldEpoch, time.Since(start))

	// Admin through the controller: a name taken, partitions added with the topic's replication
	// factor, DescribeCluster from the image.
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, topic); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("creating %s again: %v, want TOPIC_ALREADY_EXISTS", topic, err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 2, nil, "grow"); err != nil {
		t.Fatalf("create grow: %v", err)
	}
	for id := int32(1); id <= 3; id++ { // kadm reads the partition count from any broker's Metadata
		mc.waitImage(id, "grow", func(img *meta.Image) error {
			if img.Topic("grow") == nil {
				return errors.New("no topic grow")
			}
			return nil
		})
	}
	if rs, err := adm.CreatePartitions(ctx, 2, "grow"); err != nil || rs["grow"].Err != nil {
		t.Fatalf("create partitions: %v %v", err, rs["grow"].Err)
	}
	mc.waitImage(1, "grow with 3 partitions of 2 replicas", func(img *meta.Image) error {
		g := img.Topic("grow")
		if g == nil || len(g.Partitions) != 3 {
			return fmt.Errorf("grow: %v", g)
		}
		for i := range g.Partitions {
			if len(g.Partitions[i].Replicas) != 2 {
				return fmt.Errorf("grow-%d: %v", i, &g.Partitions[i])
			}
		}
		return nil
	})
	dreq := kmsg.NewPtrDescribeClusterRequest()
	dreq.Version = 0
	if dc := dialRaw(t, mc.node(3).tb.addr).do(dreq).(*kmsg.DescribeClusterResponse); len(dc.Brokers) != 3 || dc.ControllerID != ctrl {
		t.Fatalf("DescribeCluster: controller %d brokers %+v", dc.ControllerID, dc.Brokers)
	}

	// Producer ids come from per-broker blocks the controller allocates: never the same twice.
	pids := map[int64]int32{}
	for id := int32(1); id <= 3; id++ {
		for range 2 {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.Version = 4
			resp := dialRaw(t, mc.node(id).tb.addr).do(req).(*kmsg.InitProducerIDResponse)
			if resp.ErrorCode != 0 || resp.ProducerID < 0 {
				t.Fatalf("InitProducerId on node %d: error %d id %d", id, resp.ErrorCode, resp.ProducerID)
			}
			if other, dup := pids[resp.ProducerID]; dup {
				t.Fatalf("producer id %d from nodes %d and %d", resp.ProducerID, other, id)
			}
			pids[resp.ProducerID] = id
		}
	}

	prod := mc.node(1).tb.client(seeds, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(250*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	var (
		ackMu sync.Mutex
		acked []string
	)
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			prod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("r%05d", i)), Partition: 0}, func(r *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce %s: %v", r.Value, err)
					return
				}
				ackMu.Lock()
				acked = append(acked, string(r.Value))
				ackMu.Unlock()
			})
		}
	}
	const n1, n2 = 1000, 1000
	produce(0, n1)
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mc.waitLogsConverged(topic, 0, n1, 1, 2, 3)
	t.Logf("%d records on all three replicas (%v)", n1, time.Since(start))

	// The leader's broker and controller stop; records keep coming.
	stopAt := time.Now()
	active, _ := mc.node(oldLeader).c.Leader()
	t.Logf("stopping node %d (partition leader; active controller: node %d)", oldLeader, active)
	mc.stop(oldLeader)
	var survivors []int32
	for id := int32(1); id <= 3; id++ {
		if id != oldLeader {
			survivors = append(survivors, id)
		}
	}
	produce(n1, n1+n2)
	newImg := mc.waitImage(survivors[0], "a new leader", func(img *meta.Image) error {
		p := img.Partition(topic, 0)
		if br := img.Broker(oldLeader); br == nil || !br.Fenced {
			return fmt.Errorf("broker %d not fenced:\n%s", oldLeader, img)
		}
		if p.Leader == meta.NoLeader || p.Leader == oldLeader || p.LeaderEpoch <= oldEpoch {
			return fmt.Errorf("partition %v", p)
		}
		return nil
	})
	newLeader := newImg.Partition(topic, 0).Leader
	t.Logf("broker %d fenced, leader %d in epoch %d after %v", oldLeader, newLeader, newImg.Partition(topic, 0).LeaderEpoch, time.Since(stopAt))

	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := prod.Flush(fctx); err != nil {
		t.Fatalf("flush after failover: %v", err)
	}
	t.Logf("producer carried on: %d records acknowledged, %v after the stop", len(acked), time.Since(stopAt))

	// Metadata from a survivor names the new leader and leaves the fenced broker out.
	sadm := kadm.NewClient(mc.node(survivors[0]).tb.client(kgo.SeedBrokers(mc.addrs(survivors...)...)))
	md, err := sadm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if mp := md.Topics[topic].Partitions[0]; mp.Leader != newLeader || mp.LeaderEpoch <= oldEpoch || slices.Contains(mp.ISR, oldLeader) {
		t.Fatalf("metadata after failover: %+v", mp)
	}
	if len(md.Brokers) != 2 {
		t.Fatalf("metadata brokers %v, want the two survivors", md.Brokers)
	}

	ackMu.Lock()
	want := slices.Clone(acked)
	ackMu.Unlock()
	if len(want) != n1+n2 {
		t.Fatalf("%d records acknowledged, want %d", len(want), n1+n2)
	}
	slices.Sort(want) // acknowledged order may interleave callbacks; values sort in produce order
	got := consumedValues(t, mc.node(newLeader).tb, topic, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("consumed %d records differing from the %d acknowledged", len(got), len(want))
	}
	mc.waitLogsConverged(topic, 0, int64(len(want)), survivors...)

	// The old leader "had appended" a batch in its epoch that no follower got before it died
	// (written into its closed log here): on return it must truncate it (KIP-101: to the new
	// leader's end offset for that epoch), not keep it.
	lcfg, err := topicLogConfig(DefaultConfig().LogDefaults, map[string]string{"min.insync.replicas": "2"})
	if err != nil {
		t.Fatal(err)
	}
	oldLog, err := log.Open(partitionDir(mc.dirs[oldLeader], topic, 0), lcfg)
	if err != nil {
		t.Fatal(err)
	}
	if oldLog.LogEndOffset() != n1 {
		t.Fatalf("old leader's log ends at %d, want %d", oldLog.LogEndOffset(), n1)
	}
	if _, err := oldLog.Append(testBatch(time.Now().UnixMilli(), "divergent-0", "divergent-1", "divergent-2"), oldEpoch); err != nil {
		t.Fatal(err)
	}
	if err := oldLog.Close(); err != nil {
		t.Fatal(err)
	}

	// The old leader returns: it registers anew, is unfenced, follows, truncates and rejoins the ISR.
	restartAt := time.Now()
	mc.start(oldLeader)
	mc.waitImage(survivors[0], "the old leader back in the ISR", func(img *meta.Image) error {
		p := img.Partition(topic, 0)
		if br := img.Broker(oldLeader); br == nil || br.Fenced || !p.InISR(oldLeader) {
			return fmt.Errorf("partition %v:\n%s", p, img)
		}
		return nil
	})
	mc.waitLogsConverged(topic, 0, int64(len(want)), newLeader, oldLeader)
	if e, end := mc.node(oldLeader).tb.b.lookupPartition(topic, 0).log.EndOffsetForEpoch(oldEpoch); e != oldEpoch || end != n1 {
		t.Fatalf("returned node's end for epoch %d: (%d, %d), want (%d, %d): the divergent tail was kept", oldEpoch, e, end, oldEpoch, n1)
	}
	t.Logf("old leader %d back in the ISR after %v; total %v", oldLeader, time.Since(restartAt), time.Since(start))
}

// The broker-to-controller APIs on the Kafka listener: answered only by the active controller
// (NOT_CONTROLLER elsewhere), and only for a registered broker at its current epoch.
func TestControllerRPCRefusals(t *testing.T) {
	mc := startMetaClusterWith(t, 3, true)
	for id := int32(1); id <= 3; id++ {
		mc.waitImage(id, "three unfenced brokers", allUnfenced(3))
	}
	var active, standby *metaNode
	for id := int32(1); id <= 3; id++ {
		n := mc.node(id)
		if n.c.IsActive() {
			active = n
		} else {
			standby = n
		}
	}
	if active == nil || standby == nil {
		t.Fatal("no active and standby controller")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hb := func(addr string, id int32, epoch int64) int16 {
		t.Helper()
		req := kmsg.NewPtrBrokerHeartbeatRequest()
		req.BrokerID, req.BrokerEpoch = id, epoch
		resp, err := rpcCall(ctx, addr, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.BrokerHeartbeatResponse).ErrorCode
	}
	self := standby.link.b.cfg.NodeID
	epoch := standby.link.BrokerEpoch()
	if code := hb(active.tb.addr, self, epoch); code != errNone {
		t.Errorf("heartbeat of a registered broker: error %d", code)
	}
	if code := hb(standby.tb.addr, self, epoch); code != errNotController {
		t.Errorf("heartbeat to a standby: error %d, want NOT_CONTROLLER", code)
	}
	if code := hb(active.tb.addr, self, epoch+100); code != errStaleBrokerEpoch {
		t.Errorf("heartbeat at a wrong epoch: error %d, want STALE_BROKER_EPOCH", code)
	}
	ap := kmsg.NewPtrAlterPartitionRequest()
	ap.SetVersion(1)
	ap.BrokerID, ap.BrokerEpoch = 99, 1
	resp, err := rpcCall(ctx, active.tb.addr, ap)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.AlterPartitionResponse).ErrorCode; code != errBrokerIDNotRegistered {
		t.Errorf("AlterPartition from an unregistered broker: error %d, want BROKER_ID_NOT_REGISTERED", code)
	}
	pr := kmsg.NewPtrAllocateProducerIDsRequest()
	pr.BrokerID, pr.BrokerEpoch = self, epoch+1
	resp, err = rpcCall(ctx, active.tb.addr, pr)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.AllocateProducerIDsResponse).ErrorCode; code != errStaleBrokerEpoch {
		t.Errorf("AllocateProducerIds at a stale epoch: error %d, want STALE_BROKER_EPOCH", code)
	}
	pr.BrokerEpoch = epoch
	resp, err = rpcCall(ctx, active.tb.addr, pr)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.(*kmsg.AllocateProducerIDsResponse); r.ErrorCode != errNone || r.ProducerIDLen <= 0 {
		t.Errorf("AllocateProducerIds: %+v", r)
	}
}

// TestControllerAdmin: the admin operations that change metadata, through the Raft controller of
// three brokers (kadm, and raw requests to a standby controller's broker so they are forwarded):
// topic configs (AlterConfigs, IncrementalAlterConfigs; applied on every broker, min.insync.replicas
// enforced by the leader, DescribeConfigs from the image), DeleteTopics by name and id (every
// broker drops the logs; the name is free again with a new id), auto-creation on Metadata,
// ElectLeaders (preferred and unclean, with Kafka's error codes) and partition reassignment
// (KIP-455: start, list, cancel, complete with leadership moving into the target and the removed
// replica giving up its log).
func TestControllerAdmin(t *testing.T) { testControllerAdmin(t, false) }

// TestControllerAdminForwarded is TestControllerAdmin with no in-process Route: a standby's
// broker forwards each operation to the active controller over the Kafka listener.
func TestControllerAdminForwarded(t *testing.T) { testControllerAdmin(t, true) }

func testControllerAdmin(t *testing.T, network bool) {
	mc := &metaCluster{t: t, network: network, dirs: map[int32]string{}, metaDirs: map[int32]string{}, nodes: map[int32]*metaNode{},
		brokerCfg:    func(cfg *Config) { cfg.DefaultReplicationFactor, cfg.NumPartitions = 3, 2 },
		trailingLogs: 1, // a snapshot leaves no log behind: a node starting empty installs it
	}
	mc.startAll(3)
	for id := int32(1); id <= 3; id++ {
		mc.waitImage(id, "three unfenced brokers", allUnfenced(3))
	}
	ctx := context.Background()
	seeds := kgo.SeedBrokers(mc.addrs(1, 2, 3)...)
	adm := kadm.NewClient(mc.node(1).tb.client(seeds))
	standby := func() *metaNode { // a node whose requests the active controller must decide
		t.Helper()
		for id := int32(1); id <= 3; id++ {
			if mc.nodes[id] != nil && !mc.node(id).c.IsActive() {
				return mc.node(id)
			}
		}
		t.Fatal("no standby controller")
		return nil
	}
	everyNode := func(what string, cond func(*metaNode) error) {
		t.Helper()
		for id := int32(1); id <= 3; id++ {
			if mc.nodes[id] == nil {
				continue
			}
			n := mc.node(id)
			eventually(t, fmt.Sprintf("node %d: %s", id, what), func() error { return cond(n) })
		}
	}
	createTopic := func(name string, partitions int32, rf int16) {
		t.Helper()
		if _, err := adm.CreateTopic(ctx, partitions, rf, nil, name); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		everyNode("topic "+name, func(n *metaNode) error {
			if n.link.Image().Topic(name) == nil || n.tb.b.lookupTopic(name) == nil {
				return errors.New("not applied")
			}
			return nil
		})
	}

	// ---- topic configs ----
	createTopic("cfg", 1, 3)
	ret := "60000"
	if rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: &ret}}, "cfg"); err != nil || rs[0].Err != nil {
		t.Fatalf("alter retention.ms: %v %v", err, rs)
	}
	everyNode("retention.ms applied", func(n *metaNode) error {
		if got := localTopicConfig(n.tb.b, "cfg", "retention.ms"); got != "60000" {
			return fmt.Errorf("retention.ms=%q", got)
		}
		return nil
	})
	rc, err := kadm.NewClient(standby().tb.client(seeds)).DescribeTopicConfigs(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	v, err := rc.On("cfg", nil)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(v.Configs, func(c kadm.Config) bool { return c.Key == "retention.ms" })
	if i < 0 || v.Configs[i].MaybeValue() != "60000" || v.Configs[i].Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("DescribeConfigs through a standby: %+v", v.Configs)
	}
	incr := func(n *metaNode, topic string, op kmsg.IncrementalAlterConfigOp, name, value string) (int16, *string) {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = name, op, &value
		rr.Configs = append(rr.Configs, c)
		req.Resources = append(req.Resources, rr)
		res := dialRaw(t, n.tb.addr).do(req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0]
		return res.ErrorCode, res.ErrorMessage
	}
	// min.insync.replicas above the replication factor: the leader refuses acks=all writes.
	if code, msg := incr(standby(), "cfg", kmsg.IncrementalAlterConfigOpSet, "min.insync.replicas", "4"); code != 0 {
		t.Fatalf("set min.insync.replicas through a standby: error %d %v", code, msg)
	}
	everyNode("min.insync.replicas applied", func(n *metaNode) error {
		if got := localTopicConfig(n.tb.b, "cfg", "min.insync.replicas"); got != "4" {
			return fmt.Errorf("min.insync.replicas=%q", got)
		}
		return nil
	})
	leaderOf := func(topic string, p int32) *metaNode {
		t.Helper()
		var n *metaNode
		eventually(t, fmt.Sprintf("a leader of %s-%d", topic, p), func() error {
			part := mc.node(1).link.Image().Partition(topic, p)
			if mc.nodes[1] == nil {
				part = standby().link.Image().Partition(topic, p)
			}
			if part == nil || part.Leader == meta.NoLeader {
				return fmt.Errorf("partition %v", part)
			}
			n = mc.node(part.Leader)
			return nil
		})
		return n
	}
	raw := dialRaw(t, leaderOf("cfg", 0).tb.addr)
	if p := produceOne(t, raw, apis[0].max, "cfg", 0, testBatch(time.Now().UnixMilli(), "x")); p.ErrorCode != errNotEnoughReplicas {
		t.Fatalf("acks=all with min.insync.replicas=4 and 3 in sync: error %d, want NOT_ENOUGH_REPLICAS", p.ErrorCode)
	}
	if code, msg := incr(standby(), "cfg", kmsg.IncrementalAlterConfigOpDelete, "min.insync.replicas", ""); code != 0 {
		t.Fatalf("delete min.insync.replicas: error %d %v", code, msg)
	}
	eventually(t, "acks=all accepted again", func() error {
		if p := produceOne(t, raw, apis[0].max, "cfg", 0, testBatch(time.Now().UnixMilli(), "x")); p.ErrorCode != 0 {
			return fmt.Errorf("error %d", p.ErrorCode)
		}
		return nil
	})
	for _, tc := range []struct {
		topic, name, value string
		want               int16
	}{
		{"cfg", "segment.bytes", "1", errInvalidConfig},
		{"cfg", "no.such.config", "1", errInvalidConfig},
		{"nope", "retention.ms", "1", errUnknownTopicOrPartition},
	} {
		if code, _ := incr(standby(), tc.topic, kmsg.IncrementalAlterConfigOpSet, tc.name, tc.value); code != tc.want {
			t.Errorf("%s %s=%s: error %d, want %d", tc.topic, tc.name, tc.value, code, tc.want)
		}
	}

	// ---- DeleteTopics ----
	createTopic("doomed", 2, 3)
	oldID := mc.node(1).link.Image().Topic("doomed").ID
	dprod := mc.node(1).tb.client(seeds, kgo.DefaultProduceTopic("doomed"), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range 20 {
		if err := dprod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("old-%d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	dreq := versioned(kmsg.NewPtrDeleteTopicsRequest(), 6)
	dreq.TimeoutMillis = 10000
	dreq.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: strPtr("doomed")}}
	if r := dialRaw(t, standby().tb.addr).do(dreq).(*kmsg.DeleteTopicsResponse); len(r.Topics) != 1 || r.Topics[0].ErrorCode != 0 || r.Topics[0].TopicID != oldID {
		t.Fatalf("delete through a standby: %+v", r.Topics)
	}
	everyNode("doomed gone with its logs", func(n *metaNode) error {
		if n.link.Image().Topic("doomed") != nil || n.tb.b.lookupTopic("doomed") != nil {
			return errors.New("still there")
		}
		for p := int32(0); p < 2; p++ {
			if _, err := os.Stat(partitionDir(mc.dirs[n.tb.b.cfg.NodeID], "doomed", p)); !os.IsNotExist(err) {
				return fmt.Errorf("partition %d directory: %v", p, err)
			}
		}
		return nil
	})
	for id := int32(1); id <= 3; id++ {
		mreq := versioned(kmsg.NewPtrMetadataRequest(), 12) // AllowAutoTopicCreation false
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = strPtr("doomed")
		mreq.Topics = append(mreq.Topics, mt)
		if r := dialRaw(t, mc.node(id).tb.addr).do(mreq).(*kmsg.MetadataResponse); r.Topics[0].ErrorCode != errUnknownTopicOrPartition {
			t.Errorf("node %d: Metadata of a deleted topic: error %d, want UNKNOWN_TOPIC_OR_PARTITION", id, r.Topics[0].ErrorCode)
		}
		if p := produceOne(t, dialRaw(t, mc.node(id).tb.addr), apis[0].max, "doomed", 0, testBatch(time.Now().UnixMilli(), "late")); p.ErrorCode != errUnknownTopicOrPartition {
			t.Errorf("node %d: Produce to a deleted topic: error %d, want UNKNOWN_TOPIC_OR_PARTITION", id, p.ErrorCode)
		}
	}
	if rs, err := adm.DeleteTopics(ctx, "doomed"); err != nil || !errors.Is(rs["doomed"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("deleting it again: %v %v, want UNKNOWN_TOPIC_OR_PARTITION", err, rs["doomed"].Err)
	}
	createTopic("doomed", 1, 3)
	if newID := mc.node(1).link.Image().Topic("doomed").ID; newID == oldID {
		t.Fatal("the recreated topic has the deleted topic's id")
	}
	dprod.PurgeTopicsFromClient("doomed")
	if err := dprod.ProduceSync(ctx, &kgo.Record{Value: []byte("new-0")}).FirstErr(); err != nil {
		t.Fatalf("produce to the recreated topic: %v", err)
	}
	if got := consumedValues(t, mc.node(1).tb, "doomed", 1); !slices.Equal(got, []string{"new-0"}) {
		t.Fatalf("recreated topic holds %v, want only the new record", got)
	}
	// By id (v6), through a standby.
	id := mc.node(1).link.Image().Topic("doomed").ID
	dreq = versioned(kmsg.NewPtrDeleteTopicsRequest(), 6)
	dreq.TimeoutMillis = 10000
	dreq.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: id}}
	if r := dialRaw(t, standby().tb.addr).do(dreq).(*kmsg.DeleteTopicsResponse); r.Topics[0].ErrorCode != 0 || r.Topics[0].Topic == nil || *r.Topics[0].Topic != "doomed" {
		t.Fatalf("delete by id: %+v", r.Topics)
	}
	if r := dialRaw(t, standby().tb.addr).do(dreq).(*kmsg.DeleteTopicsResponse); r.Topics[0].ErrorCode != errUnknownTopicID {
		t.Fatalf("delete by id again: error %d, want UNKNOWN_TOPIC_ID", r.Topics[0].ErrorCode)
	}

	// ---- auto-creation: num.partitions=2, default.replication.factor=3 ----
	mreq := versioned(kmsg.NewPtrMetadataRequest(), 12)
	mreq.AllowAutoTopicCreation = true
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = strPtr("auto-created")
	mreq.Topics = append(mreq.Topics, mt)
	mraw := dialRaw(t, standby().tb.addr)
	if r := mraw.do(mreq).(*kmsg.MetadataResponse); r.Topics[0].ErrorCode != errLeaderNotAvailable && r.Topics[0].ErrorCode != 0 {
		t.Fatalf("Metadata auto-creating: error %d, want LEADER_NOT_AVAILABLE", r.Topics[0].ErrorCode)
	}
	eventually(t, "auto-created topic", func() error {
		r := mraw.do(mreq).(*kmsg.MetadataResponse)
		if r.Topics[0].ErrorCode != 0 || len(r.Topics[0].Partitions) != 2 || len(r.Topics[0].Partitions[0].Replicas) != 3 {
			return fmt.Errorf("error %d, %d partitions", r.Topics[0].ErrorCode, len(r.Topics[0].Partitions))
		}
		return nil
	})

	// ---- ElectLeaders and reassignment ----
	createTopic("elect", 1, 3)
	pref := mc.node(1).link.Image().Partition("elect", 0).Replicas[0]
	one := kadm.TopicsSet{"elect": {0: {}}}
	elect := func(how kadm.ElectLeadersHow) error {
		t.Helper()
		rs, err := adm.ElectLeaders(ctx, how, one)
		if err != nil {
			t.Fatalf("ElectLeaders: %v", err)
		}
		return rs["elect"][0].Err
	}
	if err := elect(kadm.ElectPreferredReplica); !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("preferred election of the leading preferred replica: %v, want ELECTION_NOT_NEEDED", err)
	}
	if err := elect(kadm.ElectLiveReplica); !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("unclean election of a led partition: %v, want ELECTION_NOT_NEEDED", err)
	}

	// "move" goes to the two brokers other than pref: a reassignment that completes once they are
	// in sync; pref, if it was a replica, gives up its log.
	createTopic("move", 1, 2)
	mprod := mc.node(1).tb.client(seeds, kgo.DefaultProduceTopic("move"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	for i := range 100 {
		mprod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("m%03d", i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := mprod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var others []int32
	for id := int32(1); id <= 3; id++ {
		if id != pref {
			others = append(others, id)
		}
	}
	wasReplica := mc.node(1).link.Image().Partition("move", 0).IsReplica(pref)
	reassign := func(target []int32) error {
		t.Helper()
		req := kadm.AlterPartitionAssignmentsReq{}
		if target == nil {
			req.CancelAssign("move", 0)
		} else {
			req.Assign("move", 0, target)
		}
		rs, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			t.Fatalf("AlterPartitionAssignments: %v", err)
		}
		return rs["move"][0].Err
	}
	// moved waits for move-0 to be on target, in that order unless anyOrder (a cancel restores the
	// original replicas as a set: as in Kafka, their order is not kept during a reassignment).
	moved := func(target []int32, anyOrder bool, leo int64) {
		t.Helper()
		everyNode(fmt.Sprintf("move-0 on %v", target), func(n *metaNode) error {
			p := n.link.Image().Partition("move", 0)
			same := slices.Equal(p.Replicas, target)
			if anyOrder {
				same = slices.Equal(slices.Sorted(slices.Values(p.Replicas)), slices.Sorted(slices.Values(target)))
			}
			if p.Reassigning() || !same || !slices.Contains(target, p.Leader) {
				return fmt.Errorf("partition %v", p)
			}
			return nil
		})
		mc.waitLogsConverged("move", 0, leo, target...)
	}
	if err := reassign(others); err != nil {
		t.Fatalf("reassign to %v: %v", others, err)
	}
	moved(others, false, 100)
	if wasReplica {
		eventually(t, "the removed replica's log emptied", func() error {
			if leo := mc.node(pref).tb.b.lookupPartition("move", 0).log.LogEndOffset(); leo != 0 {
				return fmt.Errorf("log end %d", leo)
			}
			return nil
		})
	}
	// A broker holding no replica serves none: a produce sent to it is refused, not stored.
	praw := dialRaw(t, mc.node(pref).tb.addr)
	eventually(t, "a produce to a broker holding no replica refused", func() error {
		if p := produceOne(t, praw, apis[0].max, "move", 0, testBatch(time.Now().UnixMilli(), "stray")); p.ErrorCode != errNotLeaderOrFollower {
			return fmt.Errorf("error %d, want NOT_LEADER_OR_FOLLOWER", p.ErrorCode)
		}
		return nil
	})
	if err := reassign([]int32{others[0], others[0]}); !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("duplicate target replicas: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
	if err := reassign(nil); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel with nothing in progress: %v, want NO_REASSIGNMENT_IN_PROGRESS", err)
	}

	// pref stops: preferred election cannot have it; auto-creation with 2 live brokers and
	// default.replication.factor=3 is INVALID_REPLICATION_FACTOR; a move to pref stays in
	// progress (it cannot catch up) until cancelled.
	createTopic("orphan", 1, 3) // deleted while pref is down
	createTopic("stale", 1, 3)  // moved off pref while it is down
	sprod := mc.node(1).tb.client(seeds, kgo.DefaultProduceTopic("stale"), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range 10 {
		if err := sprod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	mc.waitLogsConverged("stale", 0, 10, 1, 2, 3)
	mc.stop(pref)
	for _, id := range others {
		mc.waitImage(id, "pref fenced and not leading", func(img *meta.Image) error {
			if br := img.Broker(pref); br == nil || !br.Fenced || img.Partition("elect", 0).Leader == pref {
				return fmt.Errorf("broker %v partition %v", br, img.Partition("elect", 0))
			}
			return nil
		})
	}
	adm = kadm.NewClient(mc.node(others[0]).tb.client(kgo.SeedBrokers(mc.addrs(others...)...)))
	if err := elect(kadm.ElectPreferredReplica); !errors.Is(err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred election of a fenced replica: %v, want PREFERRED_LEADER_NOT_AVAILABLE", err)
	}
	mreq.Topics[0].Topic = strPtr("auto-too-wide")
	if r := dialRaw(t, mc.node(others[1]).tb.addr).do(mreq).(*kmsg.MetadataResponse); r.Topics[0].ErrorCode != errInvalidReplicationFactor {
		t.Fatalf("auto-creating with 2 live brokers: error %d, want INVALID_REPLICATION_FACTOR", r.Topics[0].ErrorCode)
	}
	if rs, err := adm.DeleteTopics(ctx, "orphan"); err != nil || rs["orphan"].Err != nil {
		t.Fatalf("delete orphan: %v %v", err, rs["orphan"].Err)
	}
	if _, err := os.Stat(partitionDir(mc.dirs[pref], "orphan", 0)); err != nil {
		t.Fatalf("the stopped broker's copy of orphan: %v", err)
	}
	sreq := kadm.AlterPartitionAssignmentsReq{}
	sreq.Assign("stale", 0, others)
	if rs, err := adm.AlterPartitionAssignments(ctx, sreq); err != nil || rs.Error() != nil {
		t.Fatalf("move stale off the stopped broker: %v %v", err, rs.Error())
	}
	toPref := []int32{pref, others[1]}
	if err := reassign(toPref); err != nil {
		t.Fatalf("reassign to %v: %v", toPref, err)
	}
	moveSet := kadm.TopicsSet{"move": {0: {}}} // kadm sends nothing for a nil set
	ls, err := adm.ListPartitionReassignments(ctx, moveSet)
	if err != nil {
		t.Fatal(err)
	}
	if l := ls["move"][0]; !slices.Equal(l.Replicas, []int32{pref, others[1], others[0]}) || !slices.Equal(l.AddingReplicas, []int32{pref}) || !slices.Equal(l.RemovingReplicas, []int32{others[0]}) {
		t.Fatalf("ListPartitionReassignments: %+v", ls)
	}
	if err := reassign(nil); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if ls, err := adm.ListPartitionReassignments(ctx, moveSet); err != nil || len(ls) != 0 {
		t.Fatalf("ListPartitionReassignments after the cancel: %v %+v", err, ls)
	}
	moved(others, true, 100)

	// pref returns with an empty metadata log (a replaced disk), so it learns the image from a
	// snapshot that never held "orphan": only its own reconciliation can remove its copy. Once
	// back in the ISR it can be elected; the move to it completes, leadership following into the
	// target.
	for _, id := range others {
		if err := mc.node(id).c.Snapshot(); err != nil {
			t.Fatalf("snapshot on node %d: %v", id, err)
		}
	}
	if err := os.RemoveAll(mc.metaDirs[pref]); err != nil {
		t.Fatal(err)
	}
	mc.metaDirs[pref] = t.TempDir()
	mc.start(pref)
	eventually(t, "the restarted broker emptying the partition moved off it while it was down", func() error {
		if leo := mc.node(pref).tb.b.lookupPartition("stale", 0).log.LogEndOffset(); leo != 0 {
			return fmt.Errorf("log end %d", leo)
		}
		return nil
	})
	eventually(t, "the restarted broker removing the topic deleted while it was down", func() error {
		if mc.node(pref).tb.b.lookupTopic("orphan") != nil {
			return errors.New("still served")
		}
		if _, err := os.Stat(partitionDir(mc.dirs[pref], "orphan", 0)); !os.IsNotExist(err) {
			return fmt.Errorf("directory: %v", err)
		}
		return nil
	})
	mc.waitImage(others[0], "pref back in the ISR of elect-0", func(img *meta.Image) error {
		if p := img.Partition("elect", 0); p == nil || !p.InISR(pref) {
			return fmt.Errorf("partition %v", p)
		}
		return nil
	})
	if err := elect(kadm.ElectPreferredReplica); err != nil {
		t.Fatalf("preferred election: %v", err)
	}
	mc.waitImage(others[0], "the preferred replica leading", func(img *meta.Image) error {
		if p := img.Partition("elect", 0); p == nil || p.Leader != pref {
			return fmt.Errorf("partition %v, want leader %d", p, pref)
		}
		return nil
	})
	if err := elect(kadm.ElectPreferredReplica); !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("preferred election again: %v, want ELECTION_NOT_NEEDED", err)
	}
	if err := reassign(toPref); err != nil {
		t.Fatalf("reassign to %v: %v", toPref, err)
	}
	moved(toPref, false, 100)
	for i := 100; i < 150; i++ {
		mprod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("m%03d", i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := mprod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mc.waitLogsConverged("move", 0, 150, toPref...)
	var want []string
	for i := range 150 {
		want = append(want, fmt.Sprintf("m%03d", i))
	}
	if got := consumedValues(t, mc.node(pref).tb, "move", 150); !slices.Equal(got, want) {
		t.Fatalf("consumed %d records differing from the %d produced", len(got), len(want))
	}
	eventually(t, "the replica moved away emptied", func() error {
		if leo := mc.node(others[0]).tb.b.lookupPartition("move", 0).log.LogEndOffset(); leo != 0 {
			return fmt.Errorf("log end %d", leo)
		}
		return nil
	})
}

// localTopicConfig reads a broker's own copy of a topic config (changed under b.mu).
func localTopicConfig(b *Broker, topic, key string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.topics[topic]; t != nil {
		return t.configs[key]
	}
	return ""
}

// TestControllerAutoLeaderRebalance: with auto.leader.rebalance.enable (a short
// leader.imbalance.check.interval), leadership returns to the preferred replica by itself once it
// is back in the ISR after a failure.
func TestControllerAutoLeaderRebalance(t *testing.T) {
	mc := &metaCluster{t: t, dirs: map[int32]string{}, metaDirs: map[int32]string{}, nodes: map[int32]*metaNode{},
		linkCfg: func(c *ControllerLinkConfig) { c.LeaderImbalanceCheckIntervalMs = 300 }}
	mc.startAll(3)
	for id := int32(1); id <= 3; id++ {
		mc.waitImage(id, "three unfenced brokers", allUnfenced(3))
	}
	ctx := context.Background()
	adm := kadm.NewClient(mc.node(1).tb.client(kgo.SeedBrokers(mc.addrs(1, 2, 3)...)))
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "rebalance"); err != nil {
		t.Fatal(err)
	}
	img := mc.waitImage(1, "the topic", func(img *meta.Image) error {
		if img.Topic("rebalance") == nil {
			return errors.New("no topic")
		}
		return nil
	})
	pref := img.Partition("rebalance", 0).Replicas[0]
	other := pref%3 + 1
	mc.stop(pref)
	mc.waitImage(other, "leadership moved off the stopped preferred replica", func(img *meta.Image) error {
		// Node other may not have applied the topic yet (the wait above was on node 1).
		if p := img.Partition("rebalance", 0); p == nil || p.Leader == pref || p.Leader == meta.NoLeader {
			return fmt.Errorf("partition %v", p)
		}
		return nil
	})
	mc.start(pref)
	mc.waitImage(other, "the preferred replica leading again, unasked", func(img *meta.Image) error {
		if p := img.Partition("rebalance", 0); p == nil || p.Leader != pref {
			return fmt.Errorf("partition %v", p)
		}
		return nil
	})
}
