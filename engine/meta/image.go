package meta

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// NoLeader is a partition's leader while it has none (Kafka's -1).
const NoLeader int32 = -1

// TopicID is a topic's 16-byte id (Kafka's topic UUID). The zero id is never assigned.
type TopicID [16]byte

// String is the id as 32 lowercase hex digits, the form engine/broker already writes.
func (id TopicID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the unassigned id.
func (id TopicID) IsZero() bool { return id == TopicID{} }

// Endpoint is one listener a broker serves on (KRaft's BrokerEndpoint): its name as in
// listeners= ("PLAINTEXT", "CONTROLLER"), host and port.
type Endpoint struct {
	Listener string
	Host     string
	Port     int32
}

// Broker is a registered broker. Read-only: images share it.
type Broker struct {
	ID int32
	// IncarnationID is chosen at random by the broker process at start; a registration with a new
	// one means the process restarted.
	IncarnationID [16]byte
	// Epoch is the broker epoch, assigned at registration and larger for every registration in
	// the cluster's history. Heartbeats, fencing and producer-id requests name it, so a stale
	// decision about an old incarnation never touches a new one.
	Epoch     int64
	Endpoints []Endpoint
	Rack      string // broker.rack; "" when not given
	// Fenced brokers lead nothing and are in no ISR except as the sole, leaderless member (see
	// invariants.go). A broker registers fenced and is unfenced once it heartbeats.
	Fenced bool
}

// Endpoint returns the broker's endpoint for listener, if it has one.
func (b *Broker) Endpoint(listener string) (Endpoint, bool) {
	for _, e := range b.Endpoints {
		if e.Listener == listener {
			return e, true
		}
	}
	return Endpoint{}, false
}

// Topic is a topic. Read-only: images share it.
type Topic struct {
	Name       string
	ID         TopicID
	Configs    map[string]string // explicitly set topic configs, Kafka names
	Partitions []Partition       // index = partition id
}

// Partition is one partition's replica assignment and leadership. Read-only: images share the
// slices.
type Partition struct {
	// Replicas is the assignment; Replicas[0] is the preferred leader.
	Replicas []int32
	// ISR is the in-sync replica set, in no particular order. Never empty; see invariants.go.
	ISR []int32
	// Leader is the broker leading the partition, or NoLeader.
	Leader int32
	// LeaderEpoch increases with every change of Leader (including to and from NoLeader).
	LeaderEpoch int32
	// PartitionEpoch increases with every change of the partition. A leader's ISR change names
	// the PartitionEpoch it started from and is rejected if another change came first.
	PartitionEpoch int32
	// AddingReplicas and RemovingReplicas describe a reassignment in progress (KIP-455): while
	// one runs, Replicas is the target replicas followed by the ones leaving, AddingReplicas the
	// target's new members and RemovingReplicas the original members not in the target. Both
	// are empty when no reassignment runs.
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Reassigning reports whether a reassignment is in progress.
func (p *Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas is the assignment a reassignment in progress moves to (Replicas when none runs).
func (p *Partition) TargetReplicas() []int32 { return without(p.Replicas, p.RemovingReplicas) }

// OriginalReplicas is the assignment before the reassignment in progress (Replicas when none runs).
func (p *Partition) OriginalReplicas() []int32 { return without(p.Replicas, p.AddingReplicas) }

// without returns the members of s not in drop, in s's order.
func without(s, drop []int32) []int32 {
	var out []int32
	for _, v := range s {
		if !contains(drop, v) {
			out = append(out, v)
		}
	}
	return out
}

// InISR reports whether broker id is in the ISR.
func (p *Partition) InISR(id int32) bool { return contains(p.ISR, id) }

// IsReplica reports whether broker id holds a replica.
func (p *Partition) IsReplica(id int32) bool { return contains(p.Replicas, id) }

// ProducerIDBlock is a range of producer ids [First, First+Size) handed to one broker, which
// gives them out to InitProducerId callers without asking the controller each time.
type ProducerIDBlock struct {
	BrokerID int32
	First    int64
	Size     int32
}

// Image is the cluster metadata image: everything the controller's Raft log says, applied. An
// Image is immutable once returned by Apply, ApplyBatch, DecodeImage or the Controller; any
// goroutine may read it without locks, and nothing reachable from it may be modified.
type Image struct {
	offset          uint64 // Raft index of the last entry that changed the image; 0 for none
	brokers         map[int32]*Broker
	topics          map[string]*Topic
	topicNames      map[TopicID]string
	brokerEpochLast int64 // the largest broker epoch ever assigned
	producerIDNext  int64 // the first producer id not yet in any block
	producerBlocks  map[int32]ProducerIDBlock
}

// Empty is the image of a cluster with nothing in it. Shared; immutable like every image.
var Empty = &Image{
	brokers:        map[int32]*Broker{},
	topics:         map[string]*Topic{},
	topicNames:     map[TopicID]string{},
	producerBlocks: map[int32]ProducerIDBlock{},
}

// Offset is the Raft log index of the last entry that changed this image (0 if none did). A broker
// can compare offsets to tell which of two images is newer.
func (img *Image) Offset() uint64 { return img.offset }

// Broker returns a registered broker, or nil.
func (img *Image) Broker(id int32) *Broker { return img.brokers[id] }

// Brokers returns every registered broker, by id.
func (img *Image) Brokers() []*Broker {
	out := make([]*Broker, 0, len(img.brokers))
	for _, b := range img.brokers {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// UnfencedBrokers returns the brokers that may lead and be in an ISR, by id.
func (img *Image) UnfencedBrokers() []*Broker {
	var out []*Broker
	for _, b := range img.Brokers() {
		if !b.Fenced {
			out = append(out, b)
		}
	}
	return out
}

// Topic returns a topic by name, or nil.
func (img *Image) Topic(name string) *Topic { return img.topics[name] }

// TopicByID returns a topic by id, or nil.
func (img *Image) TopicByID(id TopicID) *Topic {
	name, ok := img.topicNames[id]
	if !ok {
		return nil
	}
	return img.topics[name]
}

// TopicNames returns every topic's name, sorted.
func (img *Image) TopicNames() []string {
	out := make([]string, 0, len(img.topics))
	for name := range img.topics {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Partition returns one partition, or nil if the topic or partition does not exist.
func (img *Image) Partition(topic string, partition int32) *Partition {
	t := img.topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil
	}
	return &t.Partitions[partition]
}

// NextProducerID is the first producer id not yet allocated to any broker.
func (img *Image) NextProducerID() int64 { return img.producerIDNext }

// ProducerIDBlock returns the block most recently allocated to a broker.
func (img *Image) ProducerIDBlock(broker int32) (ProducerIDBlock, bool) {
	b, ok := img.producerBlocks[broker]
	return b, ok
}

// forEachPartition calls fn for every partition in (topic name, partition id) order, which makes
// decisions built on it deterministic.
func (img *Image) forEachPartition(fn func(t *Topic, id int32, p *Partition)) {
	for _, name := range img.TopicNames() {
		t := img.topics[name]
		for i := range t.Partitions {
			fn(t, int32(i), &t.Partitions[i])
		}
	}
}

// clone returns a copy whose maps may be modified; the brokers, topics and partitions they point
// to are still shared and must be replaced, never modified (see builder in apply.go).
func (img *Image) clone() *Image {
	c := &Image{
		offset:          img.offset,
		brokers:         make(map[int32]*Broker, len(img.brokers)+1),
		topics:          make(map[string]*Topic, len(img.topics)+1),
		topicNames:      make(map[TopicID]string, len(img.topicNames)+1),
		brokerEpochLast: img.brokerEpochLast,
		producerIDNext:  img.producerIDNext,
		producerBlocks:  make(map[int32]ProducerIDBlock, len(img.producerBlocks)+1),
	}
	for k, v := range img.brokers {
		c.brokers[k] = v
	}
	for k, v := range img.topics {
		c.topics[k] = v
	}
	for k, v := range img.topicNames {
		c.topicNames[k] = v
	}
	for k, v := range img.producerBlocks {
		c.producerBlocks[k] = v
	}
	return c
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func sameSet(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !contains(b, x) {
			return false
		}
	}
	return true
}

// String renders the image for logs and test traces: one line per broker, topic, partition and
// producer-id block, in sorted order.
func (img *Image) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "offset=%d brokerEpochLast=%d nextProducerID=%d\n", img.offset, img.brokerEpochLast, img.producerIDNext)
	for _, b := range img.Brokers() {
		sb.WriteString(b.String())
		sb.WriteByte('\n')
	}
	for _, name := range img.TopicNames() {
		t := img.topics[name]
		fmt.Fprintf(&sb, "topic %s configs=%s\n", name, formatConfigs(t.Configs))
		for i := range t.Partitions {
			fmt.Fprintf(&sb, "  %s-%d %s\n", name, i, t.Partitions[i].String())
		}
	}
	ids := make([]int32, 0, len(img.producerBlocks))
	for id := range img.producerBlocks {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		blk := img.producerBlocks[id]
		fmt.Fprintf(&sb, "producer ids: broker %d [%d, %d)\n", id, blk.First, blk.First+int64(blk.Size))
	}
	return sb.String()
}

func (b *Broker) String() string {
	var eps []string
	for _, e := range b.Endpoints {
		eps = append(eps, fmt.Sprintf("%s://%s:%d", e.Listener, e.Host, e.Port))
	}
	s := fmt.Sprintf("broker %d epoch=%d", b.ID, b.Epoch)
	if b.Rack != "" {
		s += " rack=" + b.Rack
	}
	if b.Fenced {
		s += " fenced"
	}
	return s + " [" + strings.Join(eps, " ") + "]"
}

func (p *Partition) String() string {
	s := fmt.Sprintf("replicas=%v isr=%v leader=%d leaderEpoch=%d partitionEpoch=%d", p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch)
	if p.Reassigning() {
		s += fmt.Sprintf(" adding=%v removing=%v", p.AddingReplicas, p.RemovingReplicas)
	}
	return s
}
