package meta

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Why a record was rejected. Apply wraps one of these with the record and the detail; the broker
// maps them to Kafka error codes in one place (engine/broker/errors.go) when it is wired in.
var (
	ErrUnknownBroker            = errors.New("unknown broker")              // BROKER_ID_NOT_REGISTERED
	ErrStaleBrokerEpoch         = errors.New("stale broker epoch")          // STALE_BROKER_EPOCH
	ErrBrokerState              = errors.New("broker in the wrong state")   // DUPLICATE_BROKER_REGISTRATION, …
	ErrInvalidBroker            = errors.New("invalid broker registration") // INVALID_REGISTRATION
	ErrTopicExists              = errors.New("topic already exists")        // TOPIC_ALREADY_EXISTS
	ErrUnknownTopic             = errors.New("unknown topic")               // UNKNOWN_TOPIC_ID / UNKNOWN_TOPIC_OR_PARTITION
	ErrUnknownPartition         = errors.New("unknown partition")           // UNKNOWN_TOPIC_OR_PARTITION
	ErrInvalidTopic             = errors.New("invalid topic")               // INVALID_TOPIC_EXCEPTION
	ErrInvalidPartitions        = errors.New("invalid partitions")          // INVALID_PARTITIONS
	ErrInvalidReplicas          = errors.New("invalid replica assignment")  // INVALID_REPLICA_ASSIGNMENT
	ErrInvalidConfig            = errors.New("invalid config")              // INVALID_CONFIG
	ErrInvalidISR               = errors.New("invalid ISR")                 // INVALID_REQUEST
	ErrIneligibleReplica        = errors.New("ineligible replica")          // INELIGIBLE_REPLICA
	ErrNotLeader                = errors.New("not the partition leader")    // NOT_LEADER_OR_FOLLOWER
	ErrFencedLeaderEpoch        = errors.New("fenced leader epoch")         // FENCED_LEADER_EPOCH
	ErrStalePartitionEpoch      = errors.New("stale partition epoch")       // INVALID_UPDATE_VERSION
	ErrUncleanElection          = errors.New("unclean election")            // an out-of-sync leader without Unclean
	ErrNoChange                 = errors.New("record changes nothing")      // a decision bug: never proposed
	ErrStaleProducerIDs         = errors.New("stale producer id block")     // retry: another block came first
	ErrInvalidProducerIDs       = errors.New("invalid producer id block")   // a size outside 1..producerIDBlockSizeMax
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")  // INVALID_REPLICATION_FACTOR

	// Answers of the controller's decisions (decide.go), never of Apply.
	ErrElectionNotNeeded           = errors.New("election not needed")            // ELECTION_NOT_NEEDED
	ErrPreferredLeaderNotAvailable = errors.New("preferred leader not available") // PREFERRED_LEADER_NOT_AVAILABLE
	ErrEligibleLeadersNotAvailable = errors.New("eligible leaders not available") // ELIGIBLE_LEADERS_NOT_AVAILABLE
	ErrNoReassignmentInProgress    = errors.New("no reassignment in progress")    // NO_REASSIGNMENT_IN_PROGRESS
	ErrInvalidElection             = errors.New("invalid election type")          // INVALID_REQUEST
)

// Limits on what a record may ask for. Decoders bound allocations by the bytes they hold; these
// bound what a valid record may describe.
const (
	partitionsPerTopicMax  = 1 << 16 // a CreateTopic or CreatePartitions beyond this is a mistake
	producerIDBlockSizeMax = 1 << 20 // Kafka hands out blocks of 1000
	topicNameLenMax        = 249     // Kafka's limit
)

// Apply applies one record to img and returns the new image; img is not changed. On error the
// record is rejected and img stays the image.
func Apply(img *Image, rec Record) (*Image, error) { return ApplyBatch(img, []Record{rec}) }

// ApplyBatch applies records in order, all or none: the first rejected record rejects the batch.
// Each record is validated against the image left by the ones before it, so a batch can move
// leadership away from a broker and then fence it. It is pure: the same image and records give
// the same result on every node.
//
// With the invariants build tag (or -race) the whole image is checked after every record, and a
// violation panics: it means a validation here let a bad record through.
func ApplyBatch(img *Image, recs []Record) (*Image, error) {
	return applyBatch(img, recs, img.offset)
}

func applyBatch(img *Image, recs []Record, offset uint64) (*Image, error) {
	b := &builder{img: img.clone(), owned: map[string]bool{}}
	for i, rec := range recs {
		if err := b.apply(rec); err != nil {
			if len(recs) == 1 {
				return nil, fmt.Errorf("%s: %w", FormatRecord(img, rec), err)
			}
			return nil, fmt.Errorf("record %d of %d (%s): %w", i+1, len(recs), FormatRecord(b.img, rec), err)
		}
		if invariantsEnabled {
			if err := CheckInvariants(b.img); err != nil {
				panic(fmt.Sprintf("BUG: meta: %s left an invalid image: %v", FormatRecord(b.img, rec), err))
			}
		}
	}
	b.img.offset = offset
	return b.img, nil
}

// builder is an image under construction: its maps are private copies; a topic is copied the
// first time a record in the batch changes it (owned), so unchanged topics stay shared.
type builder struct {
	img   *Image
	owned map[string]bool
}

func (b *builder) apply(rec Record) error {
	switch r := rec.(type) {
	case RegisterBroker:
		return b.registerBroker(r)
	case FenceBroker:
		return b.fenceBroker(r)
	case UnfenceBroker:
		return b.unfenceBroker(r)
	case CreateTopic:
		return b.createTopic(r)
	case DeleteTopic:
		return b.deleteTopic(r)
	case CreatePartitions:
		return b.createPartitions(r)
	case AlterTopicConfig:
		return b.alterTopicConfig(r)
	case ChangeISR:
		return b.changeISR(r)
	case ElectLeader:
		return b.electLeader(r)
	case AllocateProducerIDs:
		return b.allocateProducerIDs(r)
	case ReassignPartition:
		return b.reassignPartition(r)
	case nil:
		return errors.New("nil record")
	default:
		panic(fmt.Sprintf("BUG: meta: unknown record type %T", rec))
	}
}

// topicMut returns a topic of the batch's own, copying it on first change.
func (b *builder) topicMut(name string) *Topic {
	t := b.img.topics[name]
	if !b.owned[name] {
		c := *t
		c.Partitions = append([]Partition(nil), t.Partitions...)
		t = &c
		b.img.topics[name] = t
		b.owned[name] = true
	}
	return t
}

func (b *builder) brokerAt(id int32, epoch int64) (*Broker, error) {
	br := b.img.brokers[id]
	if br == nil {
		return nil, fmt.Errorf("broker %d: %w", id, ErrUnknownBroker)
	}
	if br.Epoch != epoch {
		return nil, fmt.Errorf("broker %d has epoch %d, not %d: %w", id, br.Epoch, epoch, ErrStaleBrokerEpoch)
	}
	return br, nil
}

func (b *builder) registerBroker(r RegisterBroker) error {
	if r.BrokerID < 0 {
		return fmt.Errorf("broker id %d: %w", r.BrokerID, ErrInvalidBroker)
	}
	if err := validEndpoints(r.Endpoints); err != nil {
		return err
	}
	if old := b.img.brokers[r.BrokerID]; old != nil {
		if old.IncarnationID == r.IncarnationID {
			return fmt.Errorf("broker %d already registered with this incarnation: %w", r.BrokerID, ErrBrokerState)
		}
		if !old.Fenced {
			return fmt.Errorf("broker %d: the previous incarnation must be fenced first: %w", r.BrokerID, ErrBrokerState)
		}
	}
	b.img.brokerEpochLast++
	b.img.brokers[r.BrokerID] = &Broker{
		ID:            r.BrokerID,
		IncarnationID: r.IncarnationID,
		Epoch:         b.img.brokerEpochLast,
		Endpoints:     append([]Endpoint(nil), r.Endpoints...),
		Rack:          r.Rack,
		Fenced:        true,
	}
	return nil
}

func validEndpoints(eps []Endpoint) error {
	seen := map[string]bool{}
	for _, e := range eps {
		if e.Listener == "" || e.Host == "" || e.Port <= 0 || e.Port > math.MaxUint16 {
			return fmt.Errorf("endpoint %s://%s:%d: %w", e.Listener, e.Host, e.Port, ErrInvalidBroker)
		}
		if seen[e.Listener] {
			return fmt.Errorf("listener %s twice: %w", e.Listener, ErrInvalidBroker)
		}
		seen[e.Listener] = true
	}
	return nil
}

func (b *builder) fenceBroker(r FenceBroker) error {
	br, err := b.brokerAt(r.BrokerID, r.BrokerEpoch)
	if err != nil {
		return err
	}
	if br.Fenced {
		return fmt.Errorf("broker %d already fenced: %w", r.BrokerID, ErrBrokerState)
	}
	// Fencing changes no partition: the batch's ElectLeader records must already have moved the
	// broker's leadership and ISR memberships away, so every partition change is explicit in the
	// log and bumps its epochs there.
	var blocked error
	b.img.forEachPartition(func(t *Topic, id int32, p *Partition) {
		if blocked != nil {
			return
		}
		if p.Leader == r.BrokerID {
			blocked = fmt.Errorf("broker %d still leads %s-%d: %w", r.BrokerID, t.Name, id, ErrBrokerState)
		} else if len(p.ISR) > 1 && p.InISR(r.BrokerID) {
			blocked = fmt.Errorf("broker %d still in the ISR %v of %s-%d: %w", r.BrokerID, p.ISR, t.Name, id, ErrBrokerState)
		}
	})
	if blocked != nil {
		return blocked
	}
	c := *br
	c.Fenced = true
	b.img.brokers[r.BrokerID] = &c
	return nil
}

func (b *builder) unfenceBroker(r UnfenceBroker) error {
	br, err := b.brokerAt(r.BrokerID, r.BrokerEpoch)
	if err != nil {
		return err
	}
	if !br.Fenced {
		return fmt.Errorf("broker %d not fenced: %w", r.BrokerID, ErrBrokerState)
	}
	c := *br
	c.Fenced = false
	b.img.brokers[r.BrokerID] = &c
	return nil
}

func (b *builder) createTopic(r CreateTopic) error {
	if !ValidTopicName(r.Name) {
		return fmt.Errorf("name %q: %w", r.Name, ErrInvalidTopic)
	}
	if r.TopicID.IsZero() {
		return fmt.Errorf("topic %s: zero id: %w", r.Name, ErrInvalidTopic)
	}
	if b.img.topics[r.Name] != nil {
		return fmt.Errorf("topic %s: %w", r.Name, ErrTopicExists)
	}
	if _, ok := b.img.topicNames[r.TopicID]; ok {
		return fmt.Errorf("topic %s: id %s in use: %w", r.Name, r.TopicID, ErrTopicExists)
	}
	if len(r.Partitions) == 0 || len(r.Partitions) > partitionsPerTopicMax {
		return fmt.Errorf("topic %s: %d partitions: %w", r.Name, len(r.Partitions), ErrInvalidPartitions)
	}
	for name, value := range r.Configs {
		if err := validTopicConfig(name, value); err != nil {
			return fmt.Errorf("topic %s: %w", r.Name, err)
		}
	}
	t := &Topic{Name: r.Name, ID: r.TopicID, Configs: map[string]string{}}
	for k, v := range r.Configs {
		t.Configs[k] = v
	}
	for i, a := range r.Partitions {
		p := Partition{Replicas: clone32(a.Replicas), ISR: clone32(a.ISR), Leader: a.Leader}
		if err := b.newPartitionValid(&p); err != nil {
			return fmt.Errorf("topic %s partition %d: %w", r.Name, i, err)
		}
		t.Partitions = append(t.Partitions, p)
	}
	b.img.topics[r.Name] = t
	b.img.topicNames[r.TopicID] = r.Name
	b.owned[r.Name] = true
	return nil
}

// newPartitionValid checks a new partition: its state must satisfy the partition invariants and
// it must have a leader (placement only assigns live brokers).
func (b *builder) newPartitionValid(p *Partition) error {
	if err := partitionValid(b.img, p); err != nil {
		return err
	}
	if p.Leader == NoLeader {
		return fmt.Errorf("a new partition needs a leader: %w", ErrInvalidISR)
	}
	return nil
}

func (b *builder) deleteTopic(r DeleteTopic) error {
	t := b.img.topics[r.Name]
	if t == nil || t.ID != r.TopicID {
		return fmt.Errorf("topic %s id %s: %w", r.Name, r.TopicID, ErrUnknownTopic)
	}
	delete(b.img.topics, r.Name)
	delete(b.img.topicNames, r.TopicID)
	delete(b.owned, r.Name)
	return nil
}

func (b *builder) topicByID(id TopicID) (*Topic, error) {
	name, ok := b.img.topicNames[id]
	if !ok {
		return nil, fmt.Errorf("topic id %s: %w", id, ErrUnknownTopic)
	}
	return b.img.topics[name], nil
}

func (b *builder) createPartitions(r CreatePartitions) error {
	t, err := b.topicByID(r.TopicID)
	if err != nil {
		return err
	}
	if int(r.FirstPartition) != len(t.Partitions) {
		return fmt.Errorf("topic %s has %d partitions, the request started from %d: %w", t.Name, len(t.Partitions), r.FirstPartition, ErrInvalidPartitions)
	}
	if len(r.Partitions) == 0 || len(t.Partitions)+len(r.Partitions) > partitionsPerTopicMax {
		return fmt.Errorf("topic %s: adding %d partitions: %w", t.Name, len(r.Partitions), ErrInvalidPartitions)
	}
	var added []Partition
	for i, a := range r.Partitions {
		p := Partition{Replicas: clone32(a.Replicas), ISR: clone32(a.ISR), Leader: a.Leader}
		if err := b.newPartitionValid(&p); err != nil {
			return fmt.Errorf("topic %s partition %d: %w", t.Name, int(r.FirstPartition)+i, err)
		}
		added = append(added, p)
	}
	mt := b.topicMut(t.Name)
	mt.Partitions = append(mt.Partitions, added...)
	return nil
}

func (b *builder) alterTopicConfig(r AlterTopicConfig) error {
	t, err := b.topicByID(r.TopicID)
	if err != nil {
		return err
	}
	if len(r.Changes) == 0 {
		return fmt.Errorf("topic %s: %w", t.Name, ErrNoChange)
	}
	seen := map[string]bool{}
	for _, c := range r.Changes {
		if seen[c.Name] {
			return fmt.Errorf("topic %s: config %s twice: %w", t.Name, c.Name, ErrInvalidConfig)
		}
		seen[c.Name] = true
		if c.Delete {
			if c.Name == "" {
				return fmt.Errorf("topic %s: empty config name: %w", t.Name, ErrInvalidConfig)
			}
			continue
		}
		if err := validTopicConfig(c.Name, c.Value); err != nil {
			return fmt.Errorf("topic %s: %w", t.Name, err)
		}
	}
	configs := make(map[string]string, len(t.Configs)+len(r.Changes))
	for k, v := range t.Configs {
		configs[k] = v
	}
	for _, c := range r.Changes {
		if c.Delete {
			delete(configs, c.Name)
		} else {
			configs[c.Name] = c.Value
		}
	}
	b.topicMut(t.Name).Configs = configs
	return nil
}

// validTopicConfig checks the configs the controller itself reads; the rest are the broker's to
// validate before it proposes them.
func validTopicConfig(name, value string) error {
	if name == "" {
		return fmt.Errorf("empty config name: %w", ErrInvalidConfig)
	}
	switch name {
	case ConfigUncleanLeaderElection:
		if _, err := strconv.ParseBool(value); err != nil {
			return fmt.Errorf("%s=%q: %w", name, value, ErrInvalidConfig)
		}
	case ConfigMinInsyncReplicas:
		if n, err := strconv.Atoi(value); err != nil || n < 1 {
			return fmt.Errorf("%s=%q: %w", name, value, ErrInvalidConfig)
		}
	}
	return nil
}

// partitionOf finds an existing partition for a change and checks the partition epoch it was
// decided on.
func (b *builder) partitionOf(id TopicID, partition, partitionEpoch int32) (*Topic, *Partition, error) {
	t, err := b.topicByID(id)
	if err != nil {
		return nil, nil, err
	}
	if partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, nil, fmt.Errorf("%s-%d: %w", t.Name, partition, ErrUnknownPartition)
	}
	p := &t.Partitions[partition]
	if p.PartitionEpoch != partitionEpoch {
		return nil, nil, fmt.Errorf("%s-%d is at partition epoch %d, not %d: %w", t.Name, partition, p.PartitionEpoch, partitionEpoch, ErrStalePartitionEpoch)
	}
	return t, p, nil
}

func (b *builder) changeISR(r ChangeISR) error {
	t, err := b.topicByID(r.TopicID)
	if err != nil {
		return err
	}
	if r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
		return fmt.Errorf("%s-%d: %w", t.Name, r.Partition, ErrUnknownPartition)
	}
	p := &t.Partitions[r.Partition]
	// Leadership first, as Kafka's AlterPartition does: a deposed leader learns it is deposed.
	if p.Leader != r.BrokerID {
		return fmt.Errorf("%s-%d is led by %d, not %d: %w", t.Name, r.Partition, p.Leader, r.BrokerID, ErrNotLeader)
	}
	if p.LeaderEpoch != r.LeaderEpoch {
		return fmt.Errorf("%s-%d is at leader epoch %d, not %d: %w", t.Name, r.Partition, p.LeaderEpoch, r.LeaderEpoch, ErrFencedLeaderEpoch)
	}
	if _, _, err := b.partitionOf(r.TopicID, r.Partition, r.PartitionEpoch); err != nil {
		return err
	}
	if !contains(r.ISR, r.BrokerID) {
		return fmt.Errorf("%s-%d: ISR %v without its leader %d: %w", t.Name, r.Partition, r.ISR, r.BrokerID, ErrInvalidISR)
	}
	next := *p
	next.ISR = clone32(r.ISR)
	next.PartitionEpoch++
	if err := partitionValid(b.img, &next); err != nil {
		return fmt.Errorf("%s-%d: %w", t.Name, r.Partition, err)
	}
	if sameSet(next.ISR, p.ISR) {
		return fmt.Errorf("%s-%d: ISR %v unchanged: %w", t.Name, r.Partition, r.ISR, ErrNoChange)
	}
	b.topicMut(t.Name).Partitions[r.Partition] = next
	return nil
}

func (b *builder) electLeader(r ElectLeader) error {
	t, p, err := b.partitionOf(r.TopicID, r.Partition, r.PartitionEpoch)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%d", t.Name, r.Partition)
	if r.Unclean {
		// An unclean election makes an out-of-sync replica the leader and sole ISR member: it is
		// the one deliberate way acknowledged writes can be lost, so the record says so.
		if r.Leader == NoLeader || p.InISR(r.Leader) {
			return fmt.Errorf("%s: unclean election of %d, which is in the ISR %v or no one: %w", name, r.Leader, p.ISR, ErrInvalidISR)
		}
		if len(r.ISR) != 1 || r.ISR[0] != r.Leader {
			return fmt.Errorf("%s: unclean election of %d with ISR %v: %w", name, r.Leader, r.ISR, ErrInvalidISR)
		}
	} else {
		if r.Leader != NoLeader && !p.InISR(r.Leader) {
			return fmt.Errorf("%s: %d is not in the ISR %v: %w", name, r.Leader, p.ISR, ErrUncleanElection)
		}
		for _, id := range r.ISR {
			if !p.InISR(id) {
				return fmt.Errorf("%s: the controller only shrinks the ISR %v, not to %v: %w", name, p.ISR, r.ISR, ErrInvalidISR)
			}
		}
	}
	next := *p
	next.Leader = r.Leader
	next.ISR = clone32(r.ISR)
	next.PartitionEpoch++
	if next.Leader != p.Leader {
		next.LeaderEpoch++
	}
	if err := partitionValid(b.img, &next); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if next.Leader == p.Leader && sameSet(next.ISR, p.ISR) {
		return fmt.Errorf("%s: leader %d and ISR %v unchanged: %w", name, r.Leader, r.ISR, ErrNoChange)
	}
	b.topicMut(t.Name).Partitions[r.Partition] = next
	return nil
}

func (b *builder) reassignPartition(r ReassignPartition) error {
	t, p, err := b.partitionOf(r.TopicID, r.Partition, r.PartitionEpoch)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%d", t.Name, r.Partition)
	for _, id := range r.ISR {
		if !p.InISR(id) {
			return fmt.Errorf("%s: the controller only shrinks the ISR %v, not to %v: %w", name, p.ISR, r.ISR, ErrInvalidISR)
		}
	}
	if r.Leader != NoLeader && !p.InISR(r.Leader) {
		return fmt.Errorf("%s: %d is not in the ISR %v: %w", name, r.Leader, p.ISR, ErrUncleanElection)
	}
	next := *p
	next.Replicas, next.ISR, next.Leader = clone32(r.Replicas), clone32(r.ISR), r.Leader
	next.AddingReplicas, next.RemovingReplicas = nilIfEmpty(r.Adding), nilIfEmpty(r.Removing)
	next.PartitionEpoch++
	if next.Leader != p.Leader {
		next.LeaderEpoch++
	}
	if err := partitionValid(b.img, &next); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if next.Leader == p.Leader && sameSet(next.ISR, p.ISR) && slices.Equal(next.Replicas, p.Replicas) &&
		sameSet(next.AddingReplicas, p.AddingReplicas) && sameSet(next.RemovingReplicas, p.RemovingReplicas) {
		return fmt.Errorf("%s: assignment unchanged: %w", name, ErrNoChange)
	}
	b.topicMut(t.Name).Partitions[r.Partition] = next
	return nil
}

func nilIfEmpty(s []int32) []int32 {
	if len(s) == 0 {
		return nil
	}
	return clone32(s)
}

func (b *builder) allocateProducerIDs(r AllocateProducerIDs) error {
	br, err := b.brokerAt(r.BrokerID, r.BrokerEpoch)
	if err != nil {
		return err
	}
	if br.Fenced {
		return fmt.Errorf("broker %d is fenced: %w", r.BrokerID, ErrBrokerState)
	}
	if r.FirstProducerID != b.img.producerIDNext {
		return fmt.Errorf("block starts at %d, next free id is %d: %w", r.FirstProducerID, b.img.producerIDNext, ErrStaleProducerIDs)
	}
	if r.Size <= 0 || r.Size > producerIDBlockSizeMax || r.FirstProducerID > math.MaxInt64-int64(r.Size) {
		return fmt.Errorf("block of %d ids from %d: %w", r.Size, r.FirstProducerID, ErrInvalidProducerIDs)
	}
	b.img.producerBlocks[r.BrokerID] = ProducerIDBlock{BrokerID: r.BrokerID, First: r.FirstProducerID, Size: r.Size}
	b.img.producerIDNext = r.FirstProducerID + int64(r.Size)
	return nil
}

// ValidTopicName applies Kafka's rules: 1–249 characters of [a-zA-Z0-9._-], not "." or "..".
func ValidTopicName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > topicNameLenMax {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func clone32(s []int32) []int32 { return append([]int32(nil), s...) }
