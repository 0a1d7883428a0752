package broker

// ListPartitionReassignments: v0 (KIP-455). Lists the partitions with a reassignment in progress
// (of the named ones, when topics are named; null means all) with their replicas, adding and
// removing replicas, from this broker's copy of the controller's image. A named topic that does
// not exist is UNKNOWN_TOPIC_OR_PARTITION for the whole request, as in Kafka. A single node has
// no reassignments: its answer lists none.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(46, 0, 0, offLoop(handleListPartitionReassignments)) }

func handleListPartitionReassignments(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.ListPartitionReassignmentsRequest)
	if l := b.link.Load(); l != nil {
		return listReassignments(l.Image(), r)
	}
	resp := r.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	for _, rt := range r.Topics {
		if b.lookupTopic(rt.Topic) == nil {
			resp.ErrorCode = errUnknownTopicOrPartition
			resp.ErrorMessage = strPtr("topic " + rt.Topic + " does not exist")
			return resp
		}
	}
	return resp
}
