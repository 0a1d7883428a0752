package broker

// AlterPartitionReassignments: v0-1 (KIP-455). Each partition names its target replicas, or null
// to cancel the reassignment in progress. With a Raft controller attached it goes through it
// (ControllerLink.alterPartitionReassignments, meta.ReassignPartitionRecord): while a partition
// moves its replicas are the target followed by the original replicas leaving, the new ones catch
// up as followers, and once every target replica is in the ISR the controller completes the move
// (the leader moves into the target if it was leaving; the replicas removed give up their logs).
// Errors per partition: UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT (empty,
// duplicated or unregistered brokers), NO_REASSIGNMENT_IN_PROGRESS (a cancel with none), and from
// v1 INVALID_REPLICATION_FACTOR when AllowReplicationFactorChange is false and the target's size
// differs.
//
// On a single node the only assignment is this broker alone: naming it changes nothing, any other
// target is INVALID_REPLICA_ASSIGNMENT and a cancel NO_REASSIGNMENT_IN_PROGRESS.

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(45, 0, 1, offLoop(handleAlterPartitionReassignments)) }

func handleAlterPartitionReassignments(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	if l := b.link.Load(); l != nil {
		return l.alterPartitionReassignments(r) // through the Raft controller (controller_ops.go)
	}
	return reassignEach(r, func(topic string, rp kmsg.AlterPartitionAssignmentsRequestTopicPartition) (int16, *string) {
		switch {
		case b.lookupPartition(topic, rp.Partition) == nil:
			return errUnknownTopicOrPartition, nil
		case rp.Replicas == nil:
			return errNoReassignmentInProgress, nil
		case !slices.Equal(rp.Replicas, []int32{b.cfg.NodeID}):
			return errInvalidReplicaAssignment, strPtr(fmt.Sprintf("target replicas %v: this cluster is the single broker %d", rp.Replicas, b.cfg.NodeID))
		}
		return errNone, nil
	})
}

// reassignEach answers every partition of the request with what answer says, in order.
func reassignEach(r *kmsg.AlterPartitionAssignmentsRequest,
	answer func(topic string, rp kmsg.AlterPartitionAssignmentsRequestTopicPartition) (int16, *string)) *kmsg.AlterPartitionAssignmentsResponse {
	resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode, sp.ErrorMessage = answer(rt.Topic, rp)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
