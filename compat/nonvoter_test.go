//go:build compat

package compat

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterNonVoterBrokerRealProcesses: a fourth `sluice serve` whose node.id is not in
// controller.quorum.voters joins the three-voter quorum as a non-voter (broker only), registers,
// is given replicas and leaderships by the controller's placement, and serves a franz-go producer
// and consumer; Metadata lists four brokers while the controller stays one of the voters.
func TestClusterNonVoterBrokerRealProcesses(t *testing.T) {
	rc := startRealCluster(t)
	ports := freePorts(t, 2)
	dir := t.TempDir()
	n4 := startServe(t, dir, "--node.id=4",
		fmt.Sprintf("--listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", ports[0], ports[1]),
		"--controller.quorum.voters="+rc.voters,
		"--min.insync.replicas=2", "--default.replication.factor=3",
		"--broker.session.timeout.ms=3000", "--broker.heartbeat.interval.ms=500")
	defer n4.stop()
	seeds := append(rc.seeds(), "127.0.0.1:"+strconv.Itoa(ports[0]))
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	var controller int32
	waitFor(t, 60*time.Second, "four registered brokers", func() bool {
		m, err := adm.BrokerMetadata(ctx)
		controller = m.Controller
		return err == nil && len(m.Brokers) == 4
	})
	if controller < 1 || controller > 3 {
		t.Fatalf("controller %d: want one of the voters 1-3", controller)
	}

	const topic = "wide"
	if _, err := adm.CreateTopic(ctx, 4, 3, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	var led []int32
	waitFor(t, 30*time.Second, "full ISRs, node 4 among the replicas", func() bool {
		td, err := adm.ListTopics(ctx, topic)
		if err != nil || !td.Has(topic) || len(td[topic].Partitions) != 4 {
			return false
		}
		led = nil
		led4 := false
		for _, p := range td[topic].Partitions.Sorted() {
			if len(p.ISR) != 3 || p.Leader < 1 {
				return false
			}
			led4 = led4 || slices.Contains(p.Replicas, 4)
			led = append(led, p.Leader)
		}
		return led4
	})
	if !slices.Contains(led, 4) {
		t.Logf("leaders %v: node 4 leads no partition (placement rotates; replicas include it)", led)
	}

	// Produce through every broker's partitions, the non-voter's included, and read back.
	prod, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:"+strconv.Itoa(ports[0])), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const total = 400
	for i := range total {
		prod.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", r.Value, err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:"+strconv.Itoa(ports[0])), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(seen) < total && cctx.Err() == nil {
		cons.PollFetches(cctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	if len(seen) != total {
		t.Fatalf("read %d distinct records of %d", len(seen), total)
	}
	n4.stop()
	for _, n := range rc.nodes {
		n.stop()
	}
}
