package meta

import (
	"errors"
	"fmt"
	"sort"
)

// The image's invariants. Apply's validation keeps them; CheckInvariants proves it after every
// record in tests and in builds with the invariants tag (or -race), and always when an image is
// decoded from a snapshot, since a snapshot comes from disk or from another node.
//
// Brokers
//   - keyed by id; epochs are distinct and ≤ the largest epoch ever assigned.
//
// Topics
//   - keyed by a valid name; ids are non-zero, distinct, and the id index matches exactly.
//   - at least one partition.
//
// Partitions (partitionValid)
//   - Replicas: non-empty, distinct, registered brokers.
//   - ISR: non-empty, distinct, a subset of Replicas. It never empties: when its last member is
//     fenced that member stays, leaderless, as the only replica known to hold every acknowledged
//     record (Kafka's "last replica standing"; an unclean election is the only way past it).
//   - Leader: NoLeader, or an unfenced ISR member.
//   - A fenced broker is in an ISR only as its sole member, and then the partition has no leader.
//   - AddingReplicas and RemovingReplicas: distinct, disjoint subsets of Replicas, and the
//     target (Replicas − RemovingReplicas) is not empty.
//   - LeaderEpoch, PartitionEpoch ≥ 0. (That they only grow is Apply's to keep: electLeader and
//     changeISR only increment them; TestApplyEpochsOnlyGrow checks it across a scenario.)
//
// Producer ids
//   - blocks are non-empty, lie below NextProducerID and do not overlap.

// ErrCorrupt is returned for an encoded image or record batch that cannot be decoded or that
// decodes to an image breaking an invariant.
var ErrCorrupt = errors.New("meta: corrupt metadata")

// CheckInvariants returns the first invariant img breaks, or nil.
func CheckInvariants(img *Image) error {
	epochs := map[int64]int32{}
	for id, b := range img.brokers {
		if b == nil || b.ID != id || id < 0 {
			return fmt.Errorf("broker %d: keyed wrongly", id)
		}
		if b.Epoch <= 0 || b.Epoch > img.brokerEpochLast {
			return fmt.Errorf("broker %d: epoch %d outside 1..%d", id, b.Epoch, img.brokerEpochLast)
		}
		if other, dup := epochs[b.Epoch]; dup {
			return fmt.Errorf("brokers %d and %d share epoch %d", id, other, b.Epoch)
		}
		epochs[b.Epoch] = id
		if err := validEndpoints(b.Endpoints); err != nil {
			return fmt.Errorf("broker %d: %v", id, err)
		}
	}
	if len(img.topicNames) != len(img.topics) {
		return fmt.Errorf("%d topic ids for %d topics", len(img.topicNames), len(img.topics))
	}
	for name, t := range img.topics {
		if t == nil || t.Name != name || !ValidTopicName(name) {
			return fmt.Errorf("topic %q: keyed wrongly or badly named", name)
		}
		if t.ID.IsZero() || img.topicNames[t.ID] != name {
			return fmt.Errorf("topic %s: id %s not indexed", name, t.ID)
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("topic %s: no partitions", name)
		}
		for i := range t.Partitions {
			if err := partitionValid(img, &t.Partitions[i]); err != nil {
				return fmt.Errorf("%s-%d: %v", name, i, err)
			}
		}
	}
	blocks := make([]ProducerIDBlock, 0, len(img.producerBlocks))
	for id, blk := range img.producerBlocks {
		if blk.BrokerID != id || blk.Size <= 0 || blk.First < 0 || blk.First+int64(blk.Size) > img.producerIDNext {
			return fmt.Errorf("producer id block %+v: outside [0, %d)", blk, img.producerIDNext)
		}
		blocks = append(blocks, blk)
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].First < blocks[j].First })
	for i := 1; i < len(blocks); i++ {
		if blocks[i-1].First+int64(blocks[i-1].Size) > blocks[i].First {
			return fmt.Errorf("producer id blocks %+v and %+v overlap", blocks[i-1], blocks[i])
		}
	}
	return nil
}

// partitionValid checks one partition's state against the partition invariants above.
func partitionValid(img *Image, p *Partition) error {
	if len(p.Replicas) == 0 {
		return fmt.Errorf("no replicas: %w", ErrInvalidReplicas)
	}
	if err := distinct(p.Replicas); err != nil {
		return fmt.Errorf("replicas %v: %v: %w", p.Replicas, err, ErrInvalidReplicas)
	}
	for _, id := range p.Replicas {
		if img.brokers[id] == nil {
			return fmt.Errorf("replica %d: %w", id, ErrUnknownBroker)
		}
	}
	if len(p.ISR) == 0 {
		return fmt.Errorf("empty ISR: %w", ErrInvalidISR)
	}
	if err := distinct(p.ISR); err != nil {
		return fmt.Errorf("ISR %v: %v: %w", p.ISR, err, ErrInvalidISR)
	}
	for _, id := range p.ISR {
		if !contains(p.Replicas, id) {
			return fmt.Errorf("ISR member %d is not a replica %v: %w", id, p.Replicas, ErrInvalidISR)
		}
		if img.brokers[id].Fenced && (len(p.ISR) > 1 || p.Leader != NoLeader) {
			return fmt.Errorf("fenced broker %d in the ISR %v with leader %d: %w", id, p.ISR, p.Leader, ErrIneligibleReplica)
		}
	}
	if p.Leader != NoLeader {
		if !contains(p.ISR, p.Leader) {
			return fmt.Errorf("leader %d not in the ISR %v: %w", p.Leader, p.ISR, ErrInvalidISR)
		}
		if img.brokers[p.Leader].Fenced {
			return fmt.Errorf("leader %d is fenced: %w", p.Leader, ErrIneligibleReplica)
		}
	}
	for _, set := range [][]int32{p.AddingReplicas, p.RemovingReplicas} {
		if err := distinct(set); err != nil {
			return fmt.Errorf("reassignment %v: %v: %w", set, err, ErrInvalidReplicas)
		}
		for _, id := range set {
			if !contains(p.Replicas, id) {
				return fmt.Errorf("reassigned replica %d is not a replica %v: %w", id, p.Replicas, ErrInvalidReplicas)
			}
		}
	}
	for _, id := range p.AddingReplicas {
		if contains(p.RemovingReplicas, id) {
			return fmt.Errorf("replica %d both adding and removing: %w", id, ErrInvalidReplicas)
		}
	}
	if len(p.RemovingReplicas) >= len(p.Replicas) {
		return fmt.Errorf("every replica %v removing: %w", p.Replicas, ErrInvalidReplicas)
	}
	if p.LeaderEpoch < 0 || p.PartitionEpoch < 0 {
		return fmt.Errorf("negative epochs %d/%d: %w", p.LeaderEpoch, p.PartitionEpoch, ErrInvalidISR)
	}
	return nil
}

func distinct(s []int32) error {
	for i := range s {
		if s[i] < 0 {
			return fmt.Errorf("negative broker id %d", s[i])
		}
		for j := 0; j < i; j++ {
			if s[i] == s[j] {
				return fmt.Errorf("%d twice", s[i])
			}
		}
	}
	return nil
}
