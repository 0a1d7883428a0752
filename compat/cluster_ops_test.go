//go:build compat

package compat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterReassignAndDeleteRealProcesses: three `sluice serve` processes; a topic with RF=2
// takes acks=all records, then is reassigned (kadm AlterPartitionAssignments) onto the broker
// that held no replica in place of its preferred replica. The move completes through the Raft
// controller: the new replica catches up, leadership moves into the target, the replica that
// left empties its log, and every record reads back in order. Then DeleteTopics removes the
// topic's directories on all three brokers, and the name is free again.
func TestClusterReassignAndDeleteRealProcesses(t *testing.T) {
	rc := startRealCluster(t)
	ctx := context.Background()
	adm := rc.adminWhenUp()

	const topic = "moving"
	waitFor(t, 20*time.Second, "CreateTopic RF=2", func() bool {
		r, err := adm.CreateTopic(ctx, 1, 2, nil, topic)
		return err == nil && r.Err == nil
	})
	partition := func() (replicas, isr []int32, leader int32) {
		td, err := adm.ListTopics(ctx, topic)
		if err != nil || !td.Has(topic) || len(td[topic].Partitions) == 0 {
			return nil, nil, -1
		}
		p := td[topic].Partitions[0]
		return p.Replicas, p.ISR, p.Leader
	}
	waitFor(t, 20*time.Second, "a leader with both replicas in sync", func() bool {
		_, isr, l := partition()
		return l > 0 && len(isr) == 2
	})
	prod, err := kgo.NewClient(kgo.SeedBrokers(rc.seeds()...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const total = 500
	for i := range total {
		prod.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	replicas, _, _ := partition()
	leaving := replicas[0]
	var newcomer int32
	for id := int32(1); id <= 3; id++ {
		if !slices.Contains(replicas, id) {
			newcomer = id
		}
	}
	target := []int32{newcomer, replicas[1]}
	t.Logf("reassigning %s-0 from %v to %v", topic, replicas, target)
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, 0, target)
	rs, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil || rs.Error() != nil {
		t.Fatalf("AlterPartitionAssignments: %v %v", err, rs.Error())
	}
	movedAt := time.Now()
	waitFor(t, 30*time.Second, fmt.Sprintf("%s-0 on %v, in sync, led from the target", topic, target), func() bool {
		r, isr, l := partition()
		ls, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
		return err == nil && len(ls) == 0 && slices.Equal(r, target) && len(isr) == 2 && slices.Contains(target, l)
	})
	t.Logf("reassignment complete after %v", time.Since(movedAt))

	got := rc.readInts(ctx, topic, total)
	for i := range total {
		if i >= len(got) || got[i] != i {
			t.Fatalf("read back %d records, want 0..%d in order (first difference at %d)", len(got), total-1, i)
		}
	}
	logBytes := func(id int32) int64 {
		var n int64
		files, _ := filepath.Glob(filepath.Join(rc.dirs[id-1], topic+"-0", "*.log"))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				n += st.Size()
			}
		}
		return n
	}
	waitFor(t, 20*time.Second, fmt.Sprintf("node %d's copy emptied", leaving), func() bool { return logBytes(leaving) == 0 })
	if logBytes(newcomer) == 0 {
		t.Fatalf("node %d holds no data after the move", newcomer)
	}

	dr, err := adm.DeleteTopics(ctx, topic)
	if err != nil || dr[topic].Err != nil {
		t.Fatalf("DeleteTopics: %v %v", err, dr[topic].Err)
	}
	waitFor(t, 20*time.Second, "the topic's directories gone on every broker", func() bool {
		for _, dir := range rc.dirs {
			if _, err := os.Stat(filepath.Join(dir, topic+"-0")); !os.IsNotExist(err) {
				return false
			}
		}
		return true
	})
	if dr, err := adm.DeleteTopics(ctx, topic); err != nil || !errors.Is(dr[topic].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("deleting again: %v %v, want UNKNOWN_TOPIC_OR_PARTITION", err, dr[topic].Err)
	}
	waitFor(t, 20*time.Second, "the name free again", func() bool {
		r, err := adm.CreateTopic(ctx, 1, 3, nil, topic)
		return err == nil && r.Err == nil
	})
	for _, n := range rc.nodes {
		n.stop()
	}
}
