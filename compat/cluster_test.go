//go:build compat

package compat

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
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

// realCluster is three `sluice serve` processes in cluster mode (controller.quorum.voters).
type realCluster struct {
	t      *testing.T
	kafka  []int // node i+1's Kafka port
	ctrl   []int // node i+1's CONTROLLER (Raft) port
	dirs   []string
	voters string
	nodes  []*broker
	// extra flags for every node, after the defaults (a later flag wins).
	extra []string
}

func startRealCluster(t *testing.T, extra ...string) *realCluster {
	t.Helper()
	ports := freePorts(t, 6)
	rc := &realCluster{t: t, kafka: ports[:3], ctrl: ports[3:], nodes: make([]*broker, 3), extra: extra}
	var vs []string
	for i := range 3 {
		vs = append(vs, fmt.Sprintf("%d@127.0.0.1:%d", i+1, rc.ctrl[i]))
		rc.dirs = append(rc.dirs, t.TempDir())
	}
	rc.voters = strings.Join(vs, ",")
	for id := int32(1); id <= 3; id++ {
		rc.start(id)
	}
	return rc
}

func (rc *realCluster) start(id int32) {
	i := id - 1
	rc.nodes[i] = startServe(rc.t, rc.dirs[i], append([]string{
		"--node.id=" + strconv.Itoa(int(id)),
		fmt.Sprintf("--listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", rc.kafka[i], rc.ctrl[i]),
		"--controller.quorum.voters=" + rc.voters,
		"--min.insync.replicas=2", "--default.replication.factor=3",
		"--broker.session.timeout.ms=3000", "--broker.heartbeat.interval.ms=500",
		"--replica.lag.time.max.ms=5000"}, rc.extra...)...)
}

func (rc *realCluster) seeds() []string {
	var s []string
	for _, p := range rc.kafka {
		s = append(s, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	return s
}

// admin is a kadm client on every node that looks at fresh metadata each time (kgo otherwise
// keeps its broker list for MetadataMaxAge).
func (rc *realCluster) admin() *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(rc.seeds()...), kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// createTopic waits for three registered brokers, creates topic with one partition and RF=3
// through the controller, and waits for its leader and a full ISR.
func (rc *realCluster) createTopic(adm *kadm.Client, topic string) {
	t := rc.t
	t.Helper()
	ctx := context.Background()
	waitFor(t, 30*time.Second, "three registered brokers", func() bool {
		m, err := adm.BrokerMetadata(ctx)
		return err == nil && len(m.Brokers) == 3
	})
	waitFor(t, 20*time.Second, "CreateTopic RF=3", func() bool {
		r, err := adm.CreateTopic(ctx, 1, 3, nil, topic)
		if err != nil || r.Err != nil {
			t.Logf("create topic: %v %v", err, r.Err)
			return false
		}
		return true
	})
	waitFor(t, 20*time.Second, "a leader with a full ISR", func() bool {
		l, isr := leaderOf(adm, topic)
		return l > 0 && len(isr) == 3
	})
}

// leaderOf is partition 0's leader and ISR from Metadata, -1 while there is none.
func leaderOf(adm *kadm.Client, topic string) (leader int32, isr []int32) {
	td, err := adm.ListTopics(context.Background(), topic)
	if err != nil || !td.Has(topic) {
		return -1, nil
	}
	p := td[topic].Partitions[0]
	return p.Leader, p.ISR
}

// adminWhenUp returns an admin client of the cluster once all three brokers are registered.
func (rc *realCluster) adminWhenUp() *kadm.Client {
	rc.t.Helper()
	adm := rc.admin()
	waitFor(rc.t, 30*time.Second, "three registered brokers", func() bool {
		m, err := adm.BrokerMetadata(context.Background())
		return err == nil && len(m.Brokers) == 3
	})
	return adm
}

// readInts reads a topic's records from the start, each an integer, until it has n or 30 s pass.
func (rc *realCluster) readInts(ctx context.Context, topic string, n int) []int {
	rc.t.Helper()
	return readInts(ctx, rc.t, rc.seeds(), topic, n)
}

// readInts reads a topic's records from seeds, from the start, each an integer, until it has n
// or 30 s pass.
func readInts(ctx context.Context, t *testing.T, seeds []string, topic string, n int) []int {
	t.Helper()
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []int
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(got) < n && cctx.Err() == nil {
		cons.PollFetches(cctx).EachRecord(func(r *kgo.Record) {
			v, err := strconv.Atoi(string(r.Value))
			if err != nil {
				t.Fatalf("bad record %q at offset %d", r.Value, r.Offset)
			}
			got = append(got, v)
		})
	}
	return got
}

// waitFor polls cond every 100 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterFailoverRealProcesses: three `sluice serve` processes, a topic with RF=3, an
// idempotent acks=all producer; kill -9 the partition leader's process mid-stream; the producer
// carries on; every acknowledged record is read back exactly once, in order; the killed process
// restarts and rejoins the ISR.
func TestClusterFailoverRealProcesses(t *testing.T) {
	start := time.Now()
	rc := startRealCluster(t)
	ctx := context.Background()
	const topic = "orders"
	adm := rc.admin()
	rc.createTopic(adm, topic)
	leaderOf := func() (int32, []int32) { return leaderOf(adm, topic) }
	t.Logf("cluster up, topic created: %v", time.Since(start))

	prod, err := kgo.NewClient(kgo.SeedBrokers(rc.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(1000), kgo.RetryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	const total = 3000
	var (
		mu     sync.Mutex
		acked  []int
		failed []error
	)
	ackedN := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range total {
			v := i
			prod.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(v))}, func(_ *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, err)
					return
				}
				acked = append(acked, v)
			})
			if i%100 == 99 {
				time.Sleep(20 * time.Millisecond) // a steady stream across the failover
			}
		}
		prod.Flush(ctx)
	}()

	waitFor(t, 30*time.Second, "1000 acknowledged records", func() bool { return ackedN() >= 1000 })
	victim, _ := leaderOf()
	if victim < 1 || victim > 3 {
		t.Fatalf("no leader to kill: %d", victim)
	}
	controller := int32(-1)
	if m, err := adm.BrokerMetadata(ctx); err == nil {
		controller = m.Controller
	}
	killedAt := time.Now()
	t.Logf("kill -9 node %d (partition leader; active controller: node %d) at %d acknowledged records", victim, controller, ackedN())
	rc.nodes[victim-1].kill()

	waitFor(t, 30*time.Second, "a new leader", func() bool {
		l, _ := leaderOf()
		return l > 0 && l != victim
	})
	newLeader, isr := leaderOf()
	t.Logf("new leader %d (ISR %v) %v after the kill", newLeader, isr, time.Since(killedAt))
	select {
	case <-produced:
	case <-time.After(60 * time.Second):
		t.Fatalf("producer stuck: %d of %d acknowledged", ackedN(), total)
	}
	mu.Lock()
	if len(failed) > 0 {
		t.Errorf("%d records failed, first: %v", len(failed), failed[0])
	}
	ack := append([]int(nil), acked...)
	mu.Unlock()
	t.Logf("producer carried on: %d acknowledged, done %v after the kill", len(ack), time.Since(killedAt))

	// Read everything back from the surviving brokers.
	got := rc.readInts(ctx, topic, len(ack))
	seen := make(map[int]bool, len(got))
	for i, v := range got {
		if seen[v] {
			t.Errorf("duplicate record %d at position %d", v, i)
		}
		seen[v] = true
		if i > 0 && v <= got[i-1] {
			t.Errorf("reordered: %d after %d", v, got[i-1])
		}
	}
	lost := 0
	for _, v := range ack {
		if !seen[v] {
			lost++
		}
	}
	if lost > 0 || t.Failed() {
		t.Fatalf("%d acknowledged records lost (read %d, acknowledged %d)", lost, len(got), len(ack))
	}
	t.Logf("read back %d records: none lost, none duplicated, in order", len(got))

	restartAt := time.Now()
	rc.start(victim)
	waitFor(t, 30*time.Second, fmt.Sprintf("node %d back in the ISR", victim), func() bool {
		_, isr := leaderOf()
		for _, id := range isr {
			if id == victim {
				return len(isr) == 3
			}
		}
		return false
	})
	t.Logf("node %d rejoined the ISR %v after its restart; total %v", victim, time.Since(restartAt), time.Since(start))
	for _, n := range rc.nodes {
		n.stop()
	}
}
