package broker

// OffsetForLeaderEpoch: v0-4. Per partition, the end offset of the leader epoch asked, from this
// broker's leader epoch cache (engine/log's EndOffsetForEpoch, Kafka's rules): for the latest
// epoch, the log end offset; for an older one, the start offset of the next epoch the log knows,
// with the largest epoch at or below the one asked (which may differ from it); for an epoch newer
// than any it knows, or -1, UNDEFINED (-1, -1) without an error. Followers ask it before fetching
// in a new leader epoch (KIP-101), consumers to detect truncation (KIP-320).
//
// A replicated partition is answered by its leader only (NOT_LEADER_OR_FOLLOWER elsewhere), and
// CurrentLeaderEpoch (v2+, -1 unchecked) must be the leader's: FENCED_LEADER_EPOCH when older,
// UNKNOWN_LEADER_EPOCH when newer. A partition never assigned is led by this broker at epoch 0.
// v0 answers carry no LeaderEpoch. ReplicaID (v3+) is taken from consumers (-1) and followers
// alike: the answer does not depend on it. Same behaviour as Kafka.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/replica"
	"github.com/sluicemq/sluice/netio"
)

func init() { register(23, 0, 4, simple(handleOffsetForLeaderEpoch)) }

func handleOffsetForLeaderEpoch(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			current := rp.CurrentLeaderEpoch
			if r.Version < 2 {
				current = -1
			}
			p := b.lookupPartition(rt.Topic, rp.Partition)
			if p == nil {
				sp.ErrorCode = errUnknownTopicOrPartition
			} else if sp.ErrorCode = offsetForLeaderEpochAllowed(p, current); sp.ErrorCode == errNone {
				sp.LeaderEpoch, sp.EndOffset = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// offsetForLeaderEpochAllowed checks the leader and its epoch; a partition never assigned is
// this broker's alone, at epoch 0.
func offsetForLeaderEpochAllowed(p *partition, current int32) int16 {
	if rp := p.replica.Load(); rp != nil {
		return leaderEpochCode(rp.View(), current)
	}
	return leaderEpochCode(&replica.View{Role: replica.RoleLeader}, current)
}
