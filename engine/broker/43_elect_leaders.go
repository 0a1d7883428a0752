package broker

// ElectLeaders: v0-2. v0 elects the preferred replica; from v1 ElectionType chooses PREFERRED (0)
// or UNCLEAN (1); anything else is INVALID_REQUEST for the whole request (per partition in v0,
// which has no top-level error). Null topics mean every partition, and the answer then leaves out
// the partitions needing no election, as Kafka's controller does.
//
// With a Raft controller attached each election is decided by it (ControllerLink.electLeaders,
// meta.ElectLeaderRecord): PREFERRED moves leadership to the first replica when it is an unfenced
// ISR member (ELECTION_NOT_NEEDED if it leads, PREFERRED_LEADER_NOT_AVAILABLE if it cannot);
// UNCLEAN elects a leader only for a leaderless partition, an ISR member if one is alive, else
// any live replica (ELECTION_NOT_NEEDED if it has a leader, ELIGIBLE_LEADERS_NOT_AVAILABLE if no
// replica is alive). On a single node this broker is every partition's only replica and leader:
// every election is ELECTION_NOT_NEEDED, an unknown partition UNKNOWN_TOPIC_OR_PARTITION.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/netio"
)

func init() { register(43, 0, 2, offLoop(handleElectLeaders)) }

func handleElectLeaders(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.ElectLeadersRequest)
	typ := meta.ElectionPreferred
	if r.Version >= 1 {
		typ = meta.ElectionType(r.ElectionType)
	}
	if typ != meta.ElectionPreferred && typ != meta.ElectionUnclean {
		resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
		if r.Version >= 1 {
			resp.ErrorCode = errInvalidRequest
			return resp
		}
		return electLeadersEach(r, func(string, int32) (int16, string) {
			return errInvalidRequest, fmt.Sprintf("unknown election type %d", r.ElectionType)
		})
	}
	if l := b.link.Load(); l != nil {
		return l.electLeaders(r, typ) // through the Raft controller (controller_ops.go)
	}
	if r.Topics == nil {
		return r.ResponseKind().(*kmsg.ElectLeadersResponse) // nothing needs an election
	}
	return electLeadersEach(r, func(topic string, partition int32) (int16, string) {
		if b.lookupPartition(topic, partition) == nil {
			return errUnknownTopicOrPartition, ""
		}
		return errElectionNotNeeded, fmt.Sprintf("broker %d is the only replica and leads %s-%d", b.cfg.NodeID, topic, partition)
	})
}

// electLeadersEach answers every named partition with what answer says.
func electLeadersEach(r *kmsg.ElectLeadersRequest, answer func(topic string, partition int32) (int16, string)) *kmsg.ElectLeadersResponse {
	resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			code, msg := answer(rt.Topic, p)
			sp.ErrorCode = code
			if msg != "" {
				sp.ErrorMessage = strPtr(msg)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
