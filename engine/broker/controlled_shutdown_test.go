package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/engine/meta"
)

// Controlled shutdown (Kafka's controlled.shutdown.enable, KIP-631's WantShutDown heartbeat):
// while a steady acks=all producer writes to three partitions of RF=3, the broker leading the
// most of them — the active controller in one case, a plain voter in the other, the request
// forwarded over TCP in the second — asks to leave. When ControlledShutdown returns, that broker
// is still running, yet every survivor's image already has it fenced, leading nothing and in no
// ISR (the leaderships moved before it stopped, not a session timeout after); an active
// controller has handed Raft leadership to another voter. It then stops; the producer finishes
// without an error and a consumer reads every acknowledged record once, in order. Restarted, it
// registers again, is unfenced and rejoins every ISR.
func TestControlledShutdown(t *testing.T) {
	for _, tc := range []struct {
		name       string
		controller bool // shut down the active controller's node
		network    bool
	}{
		{"active-controller", true, false},
		{"voter-forwarded", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testControlledShutdown(t, tc.controller, tc.network) })
	}
}

func testControlledShutdown(t *testing.T, shutController, network bool) {
	mc := startMetaClusterWith(t, 3, network)
	for id := int32(1); id <= 3; id++ {
		mc.waitImage(id, "three unfenced brokers", allUnfenced(3))
	}
	ctx := context.Background()
	seeds := kgo.SeedBrokers(mc.addrs(1, 2, 3)...)
	const topic, partitions = "leaving", 3
	cl := mc.node(1).tb.client(seeds, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	createTopicRF3(t, mc, topic, partitions)

	active, _ := mc.node(1).c.Leader()
	victim := active
	if !shutController {
		victim = active%3 + 1
	}
	img := mc.waitImage(victim, "the topic with full ISRs", fullISRs(topic, partitions))
	var led []int32
	for p := range int32(partitions) {
		if img.Partition(topic, p).Leader == victim {
			led = append(led, p)
		}
	}
	t.Logf("node %d (active controller: %v) leads partitions %v", victim, victim == active, led)

	// A steady stream across the shutdown, round robin over the partitions.
	var (
		mu     sync.Mutex
		acked  = map[int32][]string{}
		failed []error
	)
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			p := int32(i % partitions)
			cl.Produce(ctx, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "r%05d", i)}, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, err)
					return
				}
				acked[r.Partition] = append(acked[r.Partition], string(r.Value))
			})
			if i%50 == 49 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	produce(0, 600)
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	streamDone := make(chan struct{})
	go func() { defer close(streamDone); produce(600, 1800) }()

	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := mc.node(victim).link.ControlledShutdown(sctx); err != nil {
		t.Fatalf("controlled shutdown of node %d: %v", victim, err)
	}
	// The broker has not stopped, and every survivor already sees it gone from every partition.
	if mc.node(victim).tb.b.closed.Load() {
		t.Fatal("the broker closed before its controlled shutdown returned")
	}
	var survivors []int32
	for id := int32(1); id <= 3; id++ {
		if id != victim {
			survivors = append(survivors, id)
		}
	}
	for _, id := range survivors {
		mc.waitImage(id, fmt.Sprintf("node %d out of every partition", victim), func(img *meta.Image) error {
			if br := img.Broker(victim); br == nil || !br.Fenced {
				return fmt.Errorf("broker %d not fenced", victim)
			}
			for p := range int32(partitions) {
				part := img.Partition(topic, p)
				if part.Leader == victim || part.Leader == meta.NoLeader || slices.Contains(part.ISR, victim) {
					return fmt.Errorf("partition %d: %v", p, part)
				}
			}
			return nil
		})
	}
	if shutController {
		if mc.node(victim).c.IsActive() {
			t.Fatal("the shut-down node is still the active controller")
		}
		if now, _ := mc.node(survivors[0]).c.Leader(); now == victim || now < 0 {
			t.Fatalf("Raft leader after the transfer: %d", now)
		}
	}
	mc.stop(victim)
	<-streamDone
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	defer fcancel()
	if err := cl.Flush(fctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	mu.Lock()
	if len(failed) > 0 {
		t.Errorf("%d records failed across the controlled shutdown, first: %v", len(failed), failed[0])
	}
	total := 0
	for p := range int32(partitions) {
		total += len(acked[p])
	}
	mu.Unlock()
	if total != 1800 {
		t.Fatalf("%d records acknowledged, want 1800", total)
	}
	for p := range int32(partitions) {
		mu.Lock()
		want := slices.Clone(acked[p])
		mu.Unlock()
		slices.Sort(want)
		got := consumedPartition(t, mc.node(survivors[0]).tb, mc.addrs(survivors...), topic, p, len(want))
		if !slices.Equal(got, want) {
			t.Fatalf("partition %d: consumed %d records differing from the %d acknowledged", p, len(got), len(want))
		}
	}

	// Back again: registered with a new epoch, unfenced, in every ISR.
	mc.start(victim)
	for _, id := range []int32{survivors[0], victim} {
		mc.waitImage(id, fmt.Sprintf("node %d back in every ISR", victim), fullISRs(topic, partitions))
	}
}

// createTopicRF3 creates topic with RF=3 and min.insync.replicas=2 through the controller.
func createTopicRF3(t *testing.T, mc *metaCluster, topic string, partitions int32) {
	t.Helper()
	req := mc.node(1).tb.client(kgo.SeedBrokers(mc.addrs(1, 2, 3)...))
	mis := "2"
	if _, err := kadm.NewClient(req).CreateTopic(context.Background(), partitions, 3, map[string]*string{"min.insync.replicas": &mis}, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
}

// fullISRs: every partition of topic has a leader and all three replicas in its ISR.
func fullISRs(topic string, partitions int32) func(*meta.Image) error {
	return func(img *meta.Image) error {
		for p := range partitions {
			part := img.Partition(topic, p)
			if part == nil {
				return errors.New("no partition yet")
			}
			if part.Leader == meta.NoLeader || len(part.ISR) != 3 {
				return fmt.Errorf("partition %d: %v", p, part)
			}
		}
		return nil
	}
}

// consumedPartition reads n values of one partition from the start.
func consumedPartition(t *testing.T, tb *testBroker, seeds []string, topic string, p int32, n int) []string {
	t.Helper()
	cl := tb.client(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for len(got) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}
