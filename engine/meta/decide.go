package meta

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strconv"
)

// Controller decisions: pure functions from the image (and, for liveness, the time) to the records
// the active controller proposes. They decide on the image they are given; Apply re-validates on
// the image the records meet when committed, so a decision made on a stale image is rejected
// (stale partition epoch, stale broker epoch), never misapplied. Every iteration is in sorted
// order, so equal inputs give equal records.

// Topic configs the controller reads (Kafka names).
const (
	ConfigUncleanLeaderElection = "unclean.leader.election.enable"
	ConfigMinInsyncReplicas     = "min.insync.replicas"
)

// DefaultProducerIDBlockSize is the size of the producer id blocks brokers ask for (Kafka's 1000).
const DefaultProducerIDBlockSize = 1000

// Policy holds the cluster-wide settings decisions consult; topic configs override them.
type Policy struct {
	// UncleanLeaderElection is the broker default of unclean.leader.election.enable (Kafka: false).
	UncleanLeaderElection bool
}

// Unclean reports whether a topic allows electing an out-of-sync replica.
func (pol Policy) Unclean(t *Topic) bool {
	if v, ok := t.Configs[ConfigUncleanLeaderElection]; ok {
		b, err := strconv.ParseBool(v)
		return err == nil && b
	}
	return pol.UncleanLeaderElection
}

// PlaceReplicas assigns count partitions, numbered from firstPartition, to replicationFactor of
// the given brokers each (the controller passes the unfenced ones).
//
// The brokers are put in a ring: by id, or, when they have racks, alternating between racks
// (rack a's first broker, rack b's first, …, rack a's second, …). Partition p's leader is the
// ring's broker (start+p) mod n, so leaders go round-robin. Its followers are taken walking the
// ring from the broker after the leader, offset by a shift that grows every n partitions (as
// Kafka's assignment does) so that the same brokers are not always paired; a broker is taken only
// if its rack holds no more replicas of the partition than any other rack would, which spreads
// each partition over as many racks as it can. With no racks, every broker leads and holds the
// same number of partitions to within one for every full round of n partitions.
func PlaceReplicas(brokers []*Broker, firstPartition, count int32, replicationFactor, start int) ([][]int32, error) {
	n := len(brokers)
	if replicationFactor < 1 || replicationFactor > n {
		return nil, fmt.Errorf("replication factor %d with %d live brokers: %w", replicationFactor, n, ErrInvalidReplicationFactor)
	}
	if count < 1 || firstPartition < 0 || int(firstPartition)+int(count) > partitionsPerTopicMax {
		return nil, fmt.Errorf("%d partitions from %d: %w", count, firstPartition, ErrInvalidPartitions)
	}
	if start < 0 {
		start = -start
	}
	ring := rackAlternated(brokers)
	out := make([][]int32, count)
	for i := range out {
		p := int(firstPartition) + i
		first := (start + p) % n
		shift := 0 // constant within each round of n partitions, so every round is balanced
		if n > 1 {
			shift = (start + p/n) % (n - 1)
		}
		replicas := []int32{ring[first].ID}
		chosen := map[int]bool{first: true}
		perRack := map[string]int{ring[first].Rack: 1}
		for level := 1; len(replicas) < replicationFactor; level++ {
			for j := 0; j < n-1 && len(replicas) < replicationFactor; j++ {
				idx := (first + 1 + (shift+j)%(n-1)) % n
				if chosen[idx] || perRack[ring[idx].Rack] >= level {
					continue
				}
				chosen[idx] = true
				perRack[ring[idx].Rack]++
				replicas = append(replicas, ring[idx].ID)
			}
		}
		out[i] = replicas
	}
	return out, nil
}

// rackAlternated orders brokers by id, or interleaved across racks (sorted by name) when any broker
// has a rack; brokers without one form the rack "".
func rackAlternated(brokers []*Broker) []*Broker {
	sorted := append([]*Broker(nil), brokers...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	byRack := map[string][]*Broker{}
	var racks []string
	for _, b := range sorted {
		if _, ok := byRack[b.Rack]; !ok {
			racks = append(racks, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	if len(racks) <= 1 {
		return sorted
	}
	sort.Strings(racks)
	ring := make([]*Broker, 0, len(sorted))
	for round := 0; len(ring) < len(sorted); round++ {
		for _, r := range racks {
			if round < len(byRack[r]) {
				ring = append(ring, byRack[r][round])
			}
		}
	}
	return ring
}

// placementStart derives the ring position of a topic's partition 0 from its (random) id, so
// topics' leaders start on different brokers, and a topic's later partitions continue its pattern.
func placementStart(id TopicID, n int) int {
	if n == 0 {
		return 0
	}
	return int(binary.BigEndian.Uint32(id[:4]) % uint32(n))
}

// CreateTopicRecord decides a new topic's placement over the unfenced brokers; every replica starts
// in the ISR and the preferred replica leads.
func CreateTopicRecord(img *Image, name string, id TopicID, partitions int32, replicationFactor int, configs map[string]string) (CreateTopic, error) {
	if !ValidTopicName(name) {
		return CreateTopic{}, fmt.Errorf("name %q: %w", name, ErrInvalidTopic)
	}
	if img.Topic(name) != nil {
		return CreateTopic{}, fmt.Errorf("topic %s: %w", name, ErrTopicExists)
	}
	live := img.UnfencedBrokers()
	placed, err := PlaceReplicas(live, 0, partitions, replicationFactor, placementStart(id, len(live)))
	if err != nil {
		return CreateTopic{}, fmt.Errorf("topic %s: %w", name, err)
	}
	return CreateTopic{Name: name, TopicID: id, Configs: configs, Partitions: assignments(placed)}, nil
}

// CreatePartitionsRecord decides the placement of the partitions that bring a topic to total,
// with the replication factor of its partition 0.
func CreatePartitionsRecord(img *Image, name string, total int32) (CreatePartitions, error) {
	t := img.Topic(name)
	if t == nil {
		return CreatePartitions{}, fmt.Errorf("topic %s: %w", name, ErrUnknownTopic)
	}
	have := int32(len(t.Partitions))
	if total <= have {
		return CreatePartitions{}, fmt.Errorf("topic %s has %d partitions, asked for %d: %w", name, have, total, ErrInvalidPartitions)
	}
	live := img.UnfencedBrokers()
	placed, err := PlaceReplicas(live, have, total-have, len(t.Partitions[0].Replicas), placementStart(t.ID, len(live)))
	if err != nil {
		return CreatePartitions{}, fmt.Errorf("topic %s: %w", name, err)
	}
	return CreatePartitions{TopicID: t.ID, FirstPartition: have, Partitions: assignments(placed)}, nil
}

func assignments(placed [][]int32) []PartitionAssignment {
	out := make([]PartitionAssignment, len(placed))
	for i, r := range placed {
		out[i] = PartitionAssignment{Replicas: r, ISR: clone32(r), Leader: r[0]}
	}
	return out
}

// RegisterBrokerRecords decides a registration. A duplicate (same incarnation) needs no record:
// the caller answers with the broker's current epoch. A new incarnation of a broker that was never
// fenced (it restarted within its session) first has its old incarnation fenced, moving its
// leadership away: the new process may have lost unflushed data.
func RegisterBrokerRecords(img *Image, reg RegisterBroker, pol Policy) []Record {
	old := img.Broker(reg.BrokerID)
	if old != nil && old.IncarnationID == reg.IncarnationID {
		return nil
	}
	var recs []Record
	if old != nil && !old.Fenced {
		recs = FenceBrokerRecords(img, reg.BrokerID, pol)
	}
	return append(recs, reg)
}

// FenceBrokerRecords fences one broker; see FenceBrokersRecords.
func FenceBrokerRecords(img *Image, id int32, pol Policy) []Record {
	return FenceBrokersRecords(img, []int32{id}, pol)
}

// FenceBrokersRecords fences a set of brokers together. For each partition whose ISR holds one of
// them, an ElectLeader removes them from the ISR and, if the leader is among them, hands
// leadership to the first remaining ISR member in replica order (a new leader epoch), so no
// partition moves to a broker fenced in the same batch. When no ISR member would remain, the
// partition goes leaderless keeping one of them (its leader if it had one) as its sole in-sync
// replica — unless the topic allows unclean election and a replica outside the set is unfenced,
// which then leads alone, marked unclean. The FenceBroker records come last, once nothing depends
// on the brokers. Unknown and already fenced brokers are skipped.
func FenceBrokersRecords(img *Image, ids []int32, pol Policy) []Record {
	var fence []Record
	var set []int32
	for _, id := range sortedUnique(ids) {
		if b := img.Broker(id); b != nil && !b.Fenced {
			fence = append(fence, FenceBroker{BrokerID: id, BrokerEpoch: b.Epoch})
			set = append(set, id)
		}
	}
	if len(set) == 0 {
		return nil
	}
	var recs []Record
	img.forEachPartition(func(t *Topic, pid int32, p *Partition) {
		var remaining []int32
		for _, r := range p.ISR {
			if !contains(set, r) {
				remaining = append(remaining, r)
			}
		}
		if len(remaining) == len(p.ISR) {
			return // none of the set is in this ISR
		}
		e := ElectLeader{TopicID: t.ID, Partition: pid, PartitionEpoch: p.PartitionEpoch}
		switch {
		case len(remaining) > 0:
			e.ISR, e.Leader = remaining, p.Leader
			if !contains(remaining, p.Leader) {
				e.Leader = firstIn(p.Replicas, func(r int32) bool { return contains(remaining, r) })
			}
		case pol.Unclean(t) && firstIn(p.Replicas, func(r int32) bool { return !contains(set, r) && unfenced(img, r) }) != NoLeader:
			e.Leader = firstIn(p.Replicas, func(r int32) bool { return !contains(set, r) && unfenced(img, r) })
			e.ISR, e.Unclean = []int32{e.Leader}, true
		default:
			// The last replicas known to hold every acknowledged record are all going: keep one
			// in the ISR, leaderless, so that only it can lead again (cleanly) when it returns.
			keep := p.Leader
			if keep == NoLeader {
				keep = firstIn(p.Replicas, p.InISR)
			}
			if p.Leader == NoLeader && len(p.ISR) == 1 {
				return // already leaderless with its last in-sync replica
			}
			e.Leader, e.ISR = NoLeader, []int32{keep}
		}
		recs = append(recs, e)
	})
	return append(recs, fence...)
}

func sortedUnique(ids []int32) []int32 {
	out := append([]int32(nil), ids...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	n := 0
	for i, v := range out {
		if i == 0 || v != out[n-1] {
			out[n] = v
			n++
		}
	}
	return out[:n]
}

// UnfenceBrokerRecords unfences a broker and gives a leader to every leaderless partition that can
// now have one (ElectLeaderlessRecords). No records if the broker is unknown or not fenced.
func UnfenceBrokerRecords(img *Image, id int32, pol Policy) []Record {
	b := img.Broker(id)
	if b == nil || !b.Fenced {
		return nil
	}
	u := UnfenceBroker{BrokerID: id, BrokerEpoch: b.Epoch}
	next, err := Apply(img, u)
	if err != nil {
		panic(fmt.Sprintf("BUG: meta: unfence decided on an image that rejects it: %v", err))
	}
	return append([]Record{u}, ElectLeaderlessRecords(next, pol)...)
}

// ElectLeaderlessRecords elects a leader for every leaderless partition that has an unfenced ISR
// member (the first in replica order), or, where the topic allows unclean election, an unfenced
// replica outside the ISR.
func ElectLeaderlessRecords(img *Image, pol Policy) []Record {
	var recs []Record
	img.forEachPartition(func(t *Topic, pid int32, p *Partition) {
		if p.Leader != NoLeader {
			return
		}
		e := ElectLeader{TopicID: t.ID, Partition: pid, PartitionEpoch: p.PartitionEpoch, ISR: p.ISR}
		e.Leader = firstIn(p.Replicas, func(r int32) bool { return p.InISR(r) && unfenced(img, r) })
		if e.Leader == NoLeader && pol.Unclean(t) {
			e.Leader = firstIn(p.Replicas, func(r int32) bool { return unfenced(img, r) })
			e.ISR, e.Unclean = []int32{e.Leader}, true
		}
		if e.Leader != NoLeader {
			recs = append(recs, e)
		}
	})
	return recs
}

// PreferredLeaderRecords moves leadership back to each partition's preferred replica
// (Replicas[0]) where it is an unfenced ISR member and not already leading (Kafka's preferred
// leader election, ElectLeaders with type PREFERRED, for every partition; auto.leader.rebalance).
// only limits it to some partitions (topic → partition ids); nil means all.
func PreferredLeaderRecords(img *Image, only map[string][]int32) []Record {
	var recs []Record
	img.forEachPartition(func(t *Topic, pid int32, p *Partition) {
		if only != nil {
			ids, ok := only[t.Name]
			if !ok || !contains(ids, pid) {
				return
			}
		}
		if rec, err := preferredElection(img, t, pid, p); err == nil {
			recs = append(recs, rec)
		}
	})
	return recs
}

// ElectionType is ElectLeaders' election type, Kafka's numbering.
type ElectionType int8

const (
	ElectionPreferred ElectionType = 0
	ElectionUnclean   ElectionType = 1
)

// ElectLeaderRecord decides one partition's election as Kafka's ElectLeaders does.
//
// PREFERRED elects Replicas[0] (the target's first replica during a reassignment): it is
// ErrElectionNotNeeded when that replica already leads and ErrPreferredLeaderNotAvailable when it
// is fenced or out of sync.
//
// UNCLEAN elects only for a partition without a leader: an unfenced ISR member if there is one
// (a clean election), else the first unfenced replica, which leads alone in a record marked
// Unclean (acknowledged records it lacks are lost: the operator asked for it). It is
// ErrElectionNotNeeded when the partition has a leader and ErrEligibleLeadersNotAvailable when
// no replica is unfenced.
func ElectLeaderRecord(img *Image, topic string, partition int32, typ ElectionType) (Record, error) {
	t, p, err := partitionNamed(img, topic, partition)
	if err != nil {
		return nil, err
	}
	switch typ {
	case ElectionPreferred:
		return preferredElection(img, t, partition, p)
	case ElectionUnclean:
		if p.Leader != NoLeader {
			return nil, fmt.Errorf("%s-%d is led by %d: %w", topic, partition, p.Leader, ErrElectionNotNeeded)
		}
		e := ElectLeader{TopicID: t.ID, Partition: partition, PartitionEpoch: p.PartitionEpoch, ISR: p.ISR}
		e.Leader = firstIn(p.Replicas, func(r int32) bool { return p.InISR(r) && unfenced(img, r) })
		if e.Leader == NoLeader {
			e.Leader = firstIn(p.Replicas, func(r int32) bool { return unfenced(img, r) })
			e.ISR, e.Unclean = []int32{e.Leader}, true
		}
		if e.Leader == NoLeader {
			return nil, fmt.Errorf("%s-%d: no replica of %v is alive: %w", topic, partition, p.Replicas, ErrEligibleLeadersNotAvailable)
		}
		return e, nil
	default:
		return nil, fmt.Errorf("election type %d: %w", typ, ErrInvalidElection)
	}
}

// partitionNamed finds a partition by topic name, or says it does not exist.
func partitionNamed(img *Image, topic string, partition int32) (*Topic, *Partition, error) {
	t := img.Topic(topic)
	if t == nil {
		return nil, nil, fmt.Errorf("topic %s: %w", topic, ErrUnknownTopic)
	}
	if partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, nil, fmt.Errorf("%s-%d: %w", topic, partition, ErrUnknownPartition)
	}
	return t, &t.Partitions[partition], nil
}

func preferredElection(img *Image, t *Topic, pid int32, p *Partition) (Record, error) {
	pref := p.Replicas[0]
	switch {
	case p.Leader == pref:
		return nil, fmt.Errorf("%s-%d: the preferred replica %d leads: %w", t.Name, pid, pref, ErrElectionNotNeeded)
	case !p.InISR(pref) || !unfenced(img, pref):
		return nil, fmt.Errorf("%s-%d: the preferred replica %d is not an unfenced member of the ISR %v: %w", t.Name, pid, pref, p.ISR, ErrPreferredLeaderNotAvailable)
	}
	return ElectLeader{TopicID: t.ID, Partition: pid, PartitionEpoch: p.PartitionEpoch, Leader: pref, ISR: p.ISR}, nil
}

// DeleteTopicRecord decides a topic's deletion, by name or, when name is "", by id.
func DeleteTopicRecord(img *Image, name string, id TopicID) (DeleteTopic, error) {
	t := img.Topic(name)
	if name == "" {
		t = img.TopicByID(id)
	}
	if t == nil {
		return DeleteTopic{}, fmt.Errorf("topic %q id %s: %w", name, id, ErrUnknownTopic)
	}
	return DeleteTopic{Name: t.Name, TopicID: t.ID}, nil
}

// ReassignPartitionRecord decides a partition reassignment (KIP-455, AlterPartitionReassignments).
//
// target names the new replicas, preferred first; nil cancels the reassignment in progress. A
// reassignment starts with Replicas = target followed by the original replicas leaving, Adding =
// target − original, Removing = original − target; the new replicas catch up as followers and
// the leader adds them to the ISR; CompleteReassignmentRecords finishes it. A target naming the
// current replicas is no record; one that only reorders them (or, during a reassignment, names
// the original replicas) applies at once. A new target during a reassignment replaces it,
// starting from the original replicas. Leadership stays where it is while the leader remains a
// replica; otherwise it goes to the first unfenced ISR member that does.
func ReassignPartitionRecord(img *Image, topic string, partition int32, target []int32) (Record, error) {
	t, p, err := partitionNamed(img, topic, partition)
	if err != nil {
		return nil, err
	}
	original := p.OriginalReplicas()
	if target == nil {
		if !p.Reassigning() {
			return nil, fmt.Errorf("%s-%d: %w", topic, partition, ErrNoReassignmentInProgress)
		}
		target = original
	}
	if len(target) == 0 {
		return nil, fmt.Errorf("%s-%d: empty target replicas: %w", topic, partition, ErrInvalidReplicas)
	}
	if err := distinct(target); err != nil {
		return nil, fmt.Errorf("%s-%d: target replicas %v: %v: %w", topic, partition, target, err, ErrInvalidReplicas)
	}
	for _, id := range target {
		if img.Broker(id) == nil {
			return nil, fmt.Errorf("%s-%d: target replica %d is not a registered broker: %w", topic, partition, id, ErrInvalidReplicas)
		}
	}
	if slices.Equal(target, p.TargetReplicas()) && (!p.Reassigning() || !slices.Equal(target, original)) {
		return nil, nil // already the assignment, or already the reassignment in progress
	}
	rec := ReassignPartition{TopicID: t.ID, Partition: partition, PartitionEpoch: p.PartitionEpoch, Replicas: clone32(target)}
	for _, r := range original {
		if !contains(target, r) {
			rec.Replicas = append(rec.Replicas, r)
			rec.Removing = append(rec.Removing, r)
		}
	}
	for _, r := range target {
		if !contains(original, r) {
			rec.Adding = append(rec.Adding, r)
		}
	}
	if len(rec.Adding) == 0 && len(rec.Removing) > 0 && subset(target, p.ISR) {
		// Only removals, and the target is in sync already: complete at once.
		rec.Replicas, rec.Removing = clone32(target), nil
	}
	if err := settleLeadership(img, p, &rec); err != nil {
		return nil, fmt.Errorf("%s-%d: %w", topic, partition, err)
	}
	return rec, nil
}

// settleLeadership fills rec's ISR (the partition's, less what leaves Replicas) and leader (kept
// while it stays an ISR member, else the first unfenced ISR member in rec.Replicas' order).
func settleLeadership(img *Image, p *Partition, rec *ReassignPartition) error {
	rec.ISR = nil
	for _, r := range p.ISR {
		if contains(rec.Replicas, r) {
			rec.ISR = append(rec.ISR, r)
		}
	}
	if len(rec.ISR) == 0 {
		return fmt.Errorf("no member of the ISR %v would remain among the replicas %v: %w", p.ISR, rec.Replicas, ErrIneligibleReplica)
	}
	rec.Leader = p.Leader
	if rec.Leader == NoLeader || !contains(rec.ISR, rec.Leader) {
		rec.Leader = firstIn(rec.Replicas, func(r int32) bool { return contains(rec.ISR, r) && unfenced(img, r) })
	}
	return nil
}

// CompleteReassignmentRecords completes every reassignment whose target replicas are all in the
// ISR: the removed replicas leave Replicas and the ISR, and leadership moves into the target if
// the leader is leaving. The active controller runs it after each change.
func CompleteReassignmentRecords(img *Image) []Record {
	var recs []Record
	img.forEachPartition(func(t *Topic, pid int32, p *Partition) {
		if !p.Reassigning() {
			return
		}
		target := p.TargetReplicas()
		if !subset(target, p.ISR) {
			return
		}
		rec := ReassignPartition{TopicID: t.ID, Partition: pid, PartitionEpoch: p.PartitionEpoch, Replicas: target}
		if settleLeadership(img, p, &rec) == nil {
			recs = append(recs, rec)
		}
	})
	return recs
}

func subset(a, b []int32) bool {
	for _, x := range a {
		if !contains(b, x) {
			return false
		}
	}
	return true
}

// AllocateProducerIDsRecord decides the next producer id block for a broker.
func AllocateProducerIDsRecord(img *Image, broker int32, size int32) (AllocateProducerIDs, error) {
	b := img.Broker(broker)
	if b == nil {
		return AllocateProducerIDs{}, fmt.Errorf("broker %d: %w", broker, ErrUnknownBroker)
	}
	if b.Fenced {
		return AllocateProducerIDs{}, fmt.Errorf("broker %d is fenced: %w", broker, ErrBrokerState)
	}
	return AllocateProducerIDs{BrokerID: broker, BrokerEpoch: b.Epoch, FirstProducerID: img.NextProducerID(), Size: size}, nil
}

// Liveness is the active controller's view of broker heartbeats. Like KRaft's, it is not in the
// log: a newly active controller starts a fresh session for every unfenced broker. Times are
// milliseconds on any monotonic clock, passed in so tests control them. Not safe for concurrent
// use: the controller's decision loop owns it.
type Liveness struct {
	lastMs map[int32]int64
	epoch  map[int32]int64
}

// NewLiveness returns a tracker with no sessions.
func NewLiveness() *Liveness {
	return &Liveness{lastMs: map[int32]int64{}, epoch: map[int32]int64{}}
}

// Heartbeat records a broker's heartbeat. It fails for an unknown broker or a stale epoch (a
// heartbeat from a previous incarnation), which the broker must answer by registering again.
func (l *Liveness) Heartbeat(img *Image, id int32, epoch int64, nowMs int64) error {
	b := img.Broker(id)
	if b == nil {
		return fmt.Errorf("broker %d: %w", id, ErrUnknownBroker)
	}
	if b.Epoch != epoch {
		return fmt.Errorf("broker %d has epoch %d, not %d: %w", id, b.Epoch, epoch, ErrStaleBrokerEpoch)
	}
	l.lastMs[id], l.epoch[id] = nowMs, epoch
	return nil
}

// Expired returns the unfenced brokers whose last heartbeat is more than sessionTimeoutMs old,
// by id. A broker it has not seen in its current epoch starts a session now.
func (l *Liveness) Expired(img *Image, nowMs, sessionTimeoutMs int64) []int32 {
	var out []int32
	for _, b := range img.UnfencedBrokers() {
		last, ok := l.lastMs[b.ID]
		if !ok || l.epoch[b.ID] != b.Epoch {
			l.lastMs[b.ID], l.epoch[b.ID] = nowMs, b.Epoch
			continue
		}
		if nowMs-last > sessionTimeoutMs {
			out = append(out, b.ID)
		}
	}
	return out
}

// FenceExpiredRecords fences, in one batch, every broker that missed broker.session.timeout.ms.
func FenceExpiredRecords(img *Image, l *Liveness, nowMs, sessionTimeoutMs int64, pol Policy) []Record {
	return FenceBrokersRecords(img, l.Expired(img, nowMs, sessionTimeoutMs), pol)
}

func unfenced(img *Image, id int32) bool {
	b := img.Broker(id)
	return b != nil && !b.Fenced
}

func firstIn(s []int32, ok func(int32) bool) int32 {
	for _, v := range s {
		if ok(v) {
			return v
		}
	}
	return NoLeader
}
