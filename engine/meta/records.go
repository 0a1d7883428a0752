package meta

import (
	"fmt"
	"sort"
	"strings"
)

// RecordType identifies a record in the Raft log. The numbers are part of the on-disk format:
// never reuse or renumber one.
type RecordType uint8

const (
	TypeRegisterBroker      RecordType = 1
	TypeFenceBroker         RecordType = 2
	TypeUnfenceBroker       RecordType = 3
	TypeCreateTopic         RecordType = 4
	TypeDeleteTopic         RecordType = 5
	TypeCreatePartitions    RecordType = 6
	TypeAlterTopicConfig    RecordType = 7
	TypeChangeISR           RecordType = 8
	TypeElectLeader         RecordType = 9
	TypeAllocateProducerIDs RecordType = 10
	TypeReassignPartition   RecordType = 11
)

var recordTypeNames = map[RecordType]string{
	TypeRegisterBroker:      "RegisterBroker",
	TypeFenceBroker:         "FenceBroker",
	TypeUnfenceBroker:       "UnfenceBroker",
	TypeCreateTopic:         "CreateTopic",
	TypeDeleteTopic:         "DeleteTopic",
	TypeCreatePartitions:    "CreatePartitions",
	TypeAlterTopicConfig:    "AlterTopicConfig",
	TypeChangeISR:           "ChangeISR",
	TypeElectLeader:         "ElectLeader",
	TypeAllocateProducerIDs: "AllocateProducerIDs",
	TypeReassignPartition:   "ReassignPartition",
}

func (t RecordType) String() string {
	if s, ok := recordTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("RecordType(%d)", uint8(t))
}

// Record is one change to the image, like a KRaft metadata record. The concrete types below are
// the only implementations; a Raft entry holds a batch of them, applied all or none.
type Record interface {
	Type() RecordType
}

// RegisterBroker registers a broker process (KRaft's RegisterBrokerRecord). It assigns the next
// broker epoch and leaves the broker fenced. A broker already registered with another incarnation
// must be fenced first (RegisterBrokerRecords does that); one registered with the same
// incarnation is a duplicate and rejected.
type RegisterBroker struct {
	BrokerID      int32
	IncarnationID [16]byte
	Endpoints     []Endpoint
	Rack          string
}

// FenceBroker fences a broker (KRaft's FenceBrokerRecord). Rejected while the broker leads a
// partition or sits in an ISR with other members: the ElectLeader records that move those away
// come first in the same batch (FenceBrokerRecords).
type FenceBroker struct {
	BrokerID    int32
	BrokerEpoch int64
}

// UnfenceBroker lets a fenced broker lead and join ISRs again (KRaft's UnfenceBrokerRecord).
type UnfenceBroker struct {
	BrokerID    int32
	BrokerEpoch int64
}

// PartitionAssignment is a new partition's initial state: leader epoch and partition epoch start
// at 0.
type PartitionAssignment struct {
	Replicas []int32
	ISR      []int32
	Leader   int32
}

// CreateTopic creates a topic with its partitions (KRaft's TopicRecord, PartitionRecords and
// ConfigRecords, as one record).
type CreateTopic struct {
	Name       string
	TopicID    TopicID
	Configs    map[string]string
	Partitions []PartitionAssignment
}

// DeleteTopic removes a topic (KRaft's RemoveTopicRecord). Both name and id must match, so a
// decision about a deleted topic never removes a new topic of the same name.
type DeleteTopic struct {
	Name    string
	TopicID TopicID
}

// CreatePartitions adds partitions to a topic. FirstPartition must equal the topic's current
// partition count: two concurrent requests decided on the same image cannot both apply.
type CreatePartitions struct {
	TopicID        TopicID
	FirstPartition int32
	Partitions     []PartitionAssignment
}

// ConfigChange sets (or, with Delete, removes) one topic config.
type ConfigChange struct {
	Name   string
	Value  string
	Delete bool
}

// AlterTopicConfig changes a topic's configs (KRaft's ConfigRecords for one topic).
type AlterTopicConfig struct {
	TopicID TopicID
	Changes []ConfigChange
}

// ChangeISR is a partition leader's ISR change (Kafka's AlterPartition). It names the leader epoch
// and partition epoch the leader holds; if either is stale (a new leader, or a controller change
// came first) it is rejected and the leader must learn the new state from the image. The new ISR
// holds the leader and only unfenced replicas.
type ChangeISR struct {
	TopicID        TopicID
	Partition      int32
	BrokerID       int32 // the proposing leader
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// ElectLeader is the controller's change to a partition's leader and ISR (KRaft's
// PartitionChangeRecord): on fencing, preferred or unclean election, or to give a leaderless
// partition a leader. The leader epoch increases iff Leader changes; the partition epoch always
// does. The controller only shrinks an ISR (leaders grow it with ChangeISR), and electing a
// replica outside the ISR requires Unclean, which sets the ISR to that replica alone.
type ElectLeader struct {
	TopicID        TopicID
	Partition      int32
	PartitionEpoch int32 // the epoch this change was decided on
	Leader         int32 // NoLeader to leave the partition leaderless
	ISR            []int32
	Unclean        bool
}

// AllocateProducerIDs hands a broker the block [FirstProducerID, FirstProducerID+Size) (KRaft's
// ProducerIdsRecord). FirstProducerID must be the image's NextProducerID.
type AllocateProducerIDs struct {
	BrokerID        int32
	BrokerEpoch     int64
	FirstProducerID int64
	Size            int32
}

// ReassignPartition changes a partition's replica assignment (KRaft's PartitionChangeRecord with
// replicas, adding and removing replicas; KIP-455). It starts a reassignment (Replicas = target ∪
// original, Adding = target − original, Removing = original − target), completes one (Replicas =
// target, nothing adding or removing) or cancels one (Replicas = original). The ISR may only
// shrink (to members still in Replicas) and the leader must be an unfenced member of it; the
// leader epoch increases iff Leader changes, the partition epoch always does.
type ReassignPartition struct {
	TopicID        TopicID
	Partition      int32
	PartitionEpoch int32 // the epoch this change was decided on
	Replicas       []int32
	Adding         []int32
	Removing       []int32
	ISR            []int32
	Leader         int32
}

func (RegisterBroker) Type() RecordType      { return TypeRegisterBroker }
func (FenceBroker) Type() RecordType         { return TypeFenceBroker }
func (UnfenceBroker) Type() RecordType       { return TypeUnfenceBroker }
func (CreateTopic) Type() RecordType         { return TypeCreateTopic }
func (DeleteTopic) Type() RecordType         { return TypeDeleteTopic }
func (CreatePartitions) Type() RecordType    { return TypeCreatePartitions }
func (AlterTopicConfig) Type() RecordType    { return TypeAlterTopicConfig }
func (ChangeISR) Type() RecordType           { return TypeChangeISR }
func (ElectLeader) Type() RecordType         { return TypeElectLeader }
func (AllocateProducerIDs) Type() RecordType { return TypeAllocateProducerIDs }
func (ReassignPartition) Type() RecordType   { return TypeReassignPartition }

// FormatRecord renders a record on one line for logs and test traces, naming topics by name when
// img knows them (img may be nil).
func FormatRecord(img *Image, r Record) string {
	topic := func(id TopicID) string {
		if img != nil {
			if t := img.TopicByID(id); t != nil {
				return t.Name
			}
		}
		return id.String()
	}
	switch r := r.(type) {
	case RegisterBroker:
		var eps []string
		for _, e := range r.Endpoints {
			eps = append(eps, fmt.Sprintf("%s://%s:%d", e.Listener, e.Host, e.Port))
		}
		return fmt.Sprintf("RegisterBroker id=%d rack=%q endpoints=[%s]", r.BrokerID, r.Rack, strings.Join(eps, " "))
	case FenceBroker:
		return fmt.Sprintf("FenceBroker id=%d epoch=%d", r.BrokerID, r.BrokerEpoch)
	case UnfenceBroker:
		return fmt.Sprintf("UnfenceBroker id=%d epoch=%d", r.BrokerID, r.BrokerEpoch)
	case CreateTopic:
		var sb strings.Builder
		fmt.Fprintf(&sb, "CreateTopic %s configs=%s", r.Name, formatConfigs(r.Configs))
		for i, p := range r.Partitions {
			fmt.Fprintf(&sb, " p%d=%s", i, formatAssignment(p))
		}
		return sb.String()
	case DeleteTopic:
		return fmt.Sprintf("DeleteTopic %s", r.Name)
	case CreatePartitions:
		var sb strings.Builder
		fmt.Fprintf(&sb, "CreatePartitions %s", topic(r.TopicID))
		for i, p := range r.Partitions {
			fmt.Fprintf(&sb, " p%d=%s", int(r.FirstPartition)+i, formatAssignment(p))
		}
		return sb.String()
	case AlterTopicConfig:
		var parts []string
		for _, c := range r.Changes {
			if c.Delete {
				parts = append(parts, "-"+c.Name)
			} else {
				parts = append(parts, c.Name+"="+c.Value)
			}
		}
		return fmt.Sprintf("AlterTopicConfig %s %s", topic(r.TopicID), strings.Join(parts, " "))
	case ChangeISR:
		return fmt.Sprintf("ChangeISR %s-%d by=%d leaderEpoch=%d partitionEpoch=%d isr=%v",
			topic(r.TopicID), r.Partition, r.BrokerID, r.LeaderEpoch, r.PartitionEpoch, r.ISR)
	case ElectLeader:
		s := fmt.Sprintf("ElectLeader %s-%d partitionEpoch=%d leader=%d isr=%v",
			topic(r.TopicID), r.Partition, r.PartitionEpoch, r.Leader, r.ISR)
		if r.Unclean {
			s += " unclean"
		}
		return s
	case AllocateProducerIDs:
		return fmt.Sprintf("AllocateProducerIDs broker=%d epoch=%d first=%d size=%d", r.BrokerID, r.BrokerEpoch, r.FirstProducerID, r.Size)
	case ReassignPartition:
		s := fmt.Sprintf("ReassignPartition %s-%d partitionEpoch=%d replicas=%v", topic(r.TopicID), r.Partition, r.PartitionEpoch, r.Replicas)
		if len(r.Adding) > 0 || len(r.Removing) > 0 {
			s += fmt.Sprintf(" adding=%v removing=%v", r.Adding, r.Removing)
		}
		return s + fmt.Sprintf(" isr=%v leader=%d", r.ISR, r.Leader)
	default:
		return fmt.Sprintf("%T", r)
	}
}

func formatAssignment(p PartitionAssignment) string {
	return fmt.Sprintf("{replicas=%v isr=%v leader=%d}", p.Replicas, p.ISR, p.Leader)
}

func formatConfigs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return "{" + strings.Join(parts, " ") + "}"
}
