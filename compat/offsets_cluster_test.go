//go:build compat

package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterOffsetsFailoverRealProcesses: three `sluice serve` processes; a franz-go group
// consumer reads part of a topic and commits (the first FindCoordinator creates
// __consumer_offsets); kill -9 the group coordinator's process; a survivor, the partition's new
// leader, answers OffsetFetch with every committed offset, and a new member of the group resumes
// from exactly those offsets.
func TestClusterOffsetsFailoverRealProcesses(t *testing.T) {
	rc := startRealCluster(t)
	ctx := context.Background()
	adm := rc.adminWhenUp()

	const topic, groupName, total = "events", "audit", 900
	waitFor(t, 20*time.Second, "CreateTopic RF=3", func() bool {
		r, err := adm.CreateTopic(ctx, 3, 3, nil, topic)
		return err == nil && r.Err == nil
	})
	prod, err := kgo.NewClient(kgo.SeedBrokers(rc.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range total {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}

	groupOpts := []kgo.Opt{kgo.SeedBrokers(rc.seeds()...), kgo.ConsumerGroup(groupName), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.RetryTimeout(60 * time.Second)}
	c1, err := kgo.NewClient(groupOpts...)
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	consumed := 0
	for consumed < total/2 {
		fs := c1.PollRecords(pctx, 100)
		if err := pctx.Err(); err != nil {
			t.Fatalf("consumed %d records: %v", consumed, err)
		}
		consumed += fs.NumRecords()
	}
	if err := c1.CommitUncommittedOffsets(pctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	committed := map[int32]int64{}
	for p, o := range c1.CommittedOffsets()[topic] {
		committed[p] = o.Offset
	}
	c1.Close()
	if len(committed) == 0 {
		t.Fatal("nothing committed")
	}
	md, err := adm.Metadata(ctx, "__consumer_offsets")
	if err != nil || !md.Topics["__consumer_offsets"].IsInternal || len(md.Topics["__consumer_offsets"].Partitions) != 50 {
		t.Fatalf("__consumer_offsets in Metadata: %+v %v", md.Topics["__consumer_offsets"], err)
	}
	coord := adm.FindGroupCoordinators(ctx, groupName)[groupName]
	if coord.Err != nil || coord.NodeID < 1 || coord.NodeID > 3 {
		t.Fatalf("FindCoordinator: %+v", coord)
	}
	t.Logf("consumed %d, committed %v; kill -9 node %d, the coordinator", consumed, committed, coord.NodeID)
	rc.nodes[coord.NodeID-1].kill()

	var survivors []string
	for i, p := range rc.kafka {
		if int32(i+1) != coord.NodeID {
			survivors = append(survivors, fmt.Sprintf("127.0.0.1:%d", p))
		}
	}
	var fetched kadm.OffsetResponses
	killedAt := time.Now()
	waitFor(t, 60*time.Second, "OffsetFetch from the new coordinator", func() bool {
		// A fresh client each time: one that found the killed coordinator keeps dialing it.
		cl, err := kgo.NewClient(kgo.SeedBrokers(survivors...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		fetched, err = kadm.NewClient(cl).FetchOffsets(fctx, groupName)
		return err == nil
	})
	t.Logf("new coordinator answered %v after the kill", time.Since(killedAt))
	for p, want := range committed {
		if got, ok := fetched.Lookup(topic, p); !ok || got.Err != nil || got.At != want {
			t.Fatalf("offset of %s-%d after the failover: %+v (found %v), want %d", topic, p, got, ok, want)
		}
	}

	c2, err := kgo.NewClient(append(groupOpts, kgo.SeedBrokers(survivors...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	left := total
	for _, o := range committed {
		left -= int(o)
	}
	first := map[int32]int64{}
	got := 0
	rctx, rcancel := context.WithTimeout(ctx, 90*time.Second)
	defer rcancel()
	for got < left {
		fs := c2.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			t.Fatalf("resumed: %d of %d records: %v", got, left, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, seen := first[r.Partition]; !seen {
				first[r.Partition] = r.Offset
			}
			got++
		})
	}
	for p, o := range first {
		if o != committed[p] {
			t.Errorf("partition %d resumed at %d, want the committed %d", p, o, committed[p])
		}
	}
	t.Logf("resumed from the committed offsets: %d records, first offsets %v", got, first)
}
