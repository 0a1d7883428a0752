package chaos

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TP names one partition of one topic.
type TP struct {
	Topic     string
	Partition int32
}

// PartitionState is what Metadata says of one partition.
type PartitionState struct {
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
}

// View is the cluster's metadata as the reachable nodes see it: for each partition the entry with
// the highest leader epoch any of them reported (a node cut off from the controller quorum keeps
// an old image; the newest epoch is the cluster's current decision).
type View struct {
	Partitions map[TP]PartitionState
	Brokers    []int32 // registered (unfenced) brokers, by the freshest answer
	Controller int32
	AskedNodes []int32 // the nodes that answered
}

// reachable are the nodes a request can reach now: running, not paused, links not cut.
func (c *Cluster) reachable() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		n.mu.Lock()
		ok := n.cmd != nil && !n.paused && n.cut == ""
		n.mu.Unlock()
		if ok {
			out = append(out, n)
		}
	}
	return out
}

// View asks every reachable node (on its real listener) for the topics' metadata.
func (c *Cluster) View(ctx context.Context, topics ...string) View {
	v := View{Partitions: map[TP]PartitionState{}, Controller: -1}
	bestEpochs := int64(-1)
	for _, n := range c.reachable() {
		req := kmsg.NewPtrMetadataRequest()
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
		raw, err := n.Request(ctx, req)
		if err != nil {
			continue
		}
		resp := raw.(*kmsg.MetadataResponse)
		v.AskedNodes = append(v.AskedNodes, n.ID)
		var epochs int64 // how far this node's image has come: brokers and controller from the furthest
		for _, t := range resp.Topics {
			if t.ErrorCode != 0 || t.Topic == nil {
				continue
			}
			for _, p := range t.Partitions {
				epochs += int64(p.LeaderEpoch)
				tp := TP{*t.Topic, p.Partition}
				if old, seen := v.Partitions[tp]; seen && old.LeaderEpoch >= p.LeaderEpoch {
					continue
				}
				v.Partitions[tp] = PartitionState{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
					Replicas: slices.Clone(p.Replicas), ISR: slices.Clone(p.ISR)}
			}
		}
		if epochs >= bestEpochs {
			bestEpochs = epochs
			v.Brokers = v.Brokers[:0]
			for _, b := range resp.Brokers {
				v.Brokers = append(v.Brokers, b.NodeID)
			}
			slices.Sort(v.Brokers)
			v.Controller = resp.ControllerID
		}
	}
	return v
}

// LedBy lists the partitions node id leads in v.
func (v View) LedBy(id int32) []TP {
	var out []TP
	for tp, p := range v.Partitions {
		if p.Leader == id {
			out = append(out, tp)
		}
	}
	slices.SortFunc(out, compareTP)
	return out
}

// FullISR reports whether every partition of v has a leader and all its replicas in the ISR.
func (v View) FullISR(partitions int) bool {
	if len(v.Partitions) < partitions {
		return false
	}
	for _, p := range v.Partitions {
		if p.Leader < 0 || len(p.ISR) != len(p.Replicas) || len(p.Replicas) == 0 {
			return false
		}
	}
	return true
}

func compareTP(a, b TP) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition - b.Partition)
}
