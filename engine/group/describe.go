package group

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Description is one group as an operator sees it (`sluice group describe G`): its members, what
// each is assigned, and per partition the committed offset, the end offset (high watermark) and
// the lag between them.
type Description struct {
	Group        string
	State        string
	ProtocolType string
	Protocol     string
	Generation   int32
	Leader       string
	Members      []MemberDescription
	Partitions   []PartitionLag // by topic, then partition
}

// MemberDescription is one member of a Description.
type MemberDescription struct {
	MemberID   string
	InstanceID string // "" for dynamic members
	ClientID   string
	ClientHost string
	// Assigned is the member's assignment decoded as the consumer protocol; nil for other
	// protocols or before the first assignment.
	Assigned []TopicPartitions
}

// TopicPartitions are partitions of one topic.
type TopicPartitions struct {
	Topic      string
	Partitions []int32
}

// PartitionLag is one partition the group has committed to or is assigned.
type PartitionLag struct {
	Topic     string
	Partition int32
	// CommittedOffset is -1 when nothing is committed; EndOffset (the high watermark) is -1 when
	// the partition no longer exists; Lag is EndOffset-CommittedOffset, or -1 if either is.
	CommittedOffset int64
	LeaderEpoch     int32
	Metadata        string
	EndOffset       int64
	Lag             int64
	// TimeLagMs is how old the first record the group has not consumed is: now minus the
	// timestamp of the record at CommittedOffset (or of the log's first record, if retention has
	// deleted that one); 0 when Lag is 0, -1 when unknown (Lag unknown, or Topics cannot read
	// record timestamps).
	TimeLagMs int64
	// The member the current assignment gives the partition to; "" if none.
	MemberID, ClientID, ClientHost string
}

// Describe returns a group's description; ErrGroupNotFound if the coordinator does not know it.
// The offsets are one range read of the store; the end offsets come from Topics.
func (c *Coordinator) Describe(name string) (Description, error) {
	g := c.lookupGroup(name)
	if g == nil {
		return Description{}, fmt.Errorf("%w: %q", ErrGroupNotFound, name)
	}
	d := Description{Group: name}
	g.mu.Lock()
	d.State, d.ProtocolType, d.Protocol, d.Generation, d.Leader = g.state.String(), g.protocolType, g.protocol, g.generation, g.leader
	if g.state == stateDead {
		g.mu.Unlock()
		return Description{}, fmt.Errorf("%w: %q", ErrGroupNotFound, name)
	}
	type owner struct{ member, client, host string }
	owners := map[topicPartition]owner{}
	for _, m := range g.sortedMembers() {
		md := MemberDescription{MemberID: m.id, ClientID: m.clientID, ClientHost: m.clientHost}
		if m.instanceID != nil {
			md.InstanceID = *m.instanceID
		}
		if g.protocolType == "consumer" && len(m.assignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if a.ReadFrom(m.assignment) == nil {
				for _, t := range a.Topics {
					md.Assigned = append(md.Assigned, TopicPartitions{t.Topic, append([]int32(nil), t.Partitions...)})
					for _, p := range t.Partitions {
						owners[topicPartition{t.Topic, p}] = owner{m.id, m.clientID, m.clientHost}
					}
				}
			}
		}
		d.Members = append(d.Members, md)
	}
	g.mu.Unlock()

	seen := map[topicPartition]bool{}
	err := c.readStore(func() error {
		return c.store.Offsets(name, func(topic string, p int32, v OffsetValue) bool {
			tp := topicPartition{topic, p}
			seen[tp] = true
			o := owners[tp]
			d.Partitions = append(d.Partitions, c.partitionLag(tp, v, o.member, o.client, o.host, nil))
			return true
		})
	})
	if err != nil {
		return Description{}, err
	}
	for tp, o := range owners {
		if !seen[tp] {
			d.Partitions = append(d.Partitions, c.partitionLag(tp, noOffset, o.member, o.client, o.host, nil))
		}
	}
	sort.Slice(d.Partitions, func(i, j int) bool {
		a, b := d.Partitions[i], d.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return d, nil
}

type topicPartition struct {
	topic     string
	partition int32
}

// partitionLag is one partition's lag. memo, when not nil, remembers record timestamps across
// calls (see timeLagMs).
func (c *Coordinator) partitionLag(tp topicPartition, v OffsetValue, member, client, host string, memo timestampMemo) PartitionLag {
	pl := PartitionLag{
		Topic: tp.topic, Partition: tp.partition, CommittedOffset: v.Offset, LeaderEpoch: v.LeaderEpoch, Metadata: v.Metadata,
		EndOffset: c.topics.HighWatermark(tp.topic, tp.partition), Lag: -1, TimeLagMs: -1,
		MemberID: member, ClientID: client, ClientHost: host,
	}
	if pl.EndOffset >= 0 && pl.CommittedOffset >= 0 {
		pl.Lag = max(pl.EndOffset-pl.CommittedOffset, 0)
		pl.TimeLagMs = c.timeLagMs(tp, pl.CommittedOffset, pl.Lag, memo)
	}
	return pl
}

// WriteText writes d as `sluice group describe` prints it: a summary line, the members, then one
// line per partition in the columns of Kafka's kafka-consumer-groups.sh --describe.
func (d *Description) WriteText(w io.Writer) error {
	dash := func(v int64) string {
		if v < 0 {
			return "-"
		}
		return strconv.FormatInt(v, 10)
	}
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	protocol := d.ProtocolType
	if d.Protocol != "" {
		protocol += "/" + d.Protocol
	}
	fmt.Fprintf(w, "GROUP %s  STATE %s  PROTOCOL %s  GENERATION %d  MEMBERS %d\n", d.Group, d.State, orDash(protocol), d.Generation, len(d.Members))
	if len(d.Members) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONSUMER-ID\tGROUP-INSTANCE-ID\tHOST\tCLIENT-ID\tLEADER\tASSIGNMENT")
		for _, m := range d.Members {
			leader := ""
			if m.MemberID == d.Leader {
				leader = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.MemberID, orDash(m.InstanceID), orDash(m.ClientHost), orDash(m.ClientID), orDash(leader), orDash(formatAssignment(m.Assigned)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID")
	for _, p := range d.Partitions {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Topic, p.Partition, dash(p.CommittedOffset), dash(p.EndOffset), dash(p.Lag), orDash(p.MemberID), orDash(p.ClientHost), orDash(p.ClientID))
	}
	return tw.Flush()
}

func formatAssignment(ts []TopicPartitions) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += " "
		}
		s += t.Topic + ":"
		for j, p := range t.Partitions {
			if j > 0 {
				s += ","
			}
			s += strconv.Itoa(int(p))
		}
	}
	return s
}
