package broker

// DeleteRecords: v0-2. Per partition, the log start offset moves up to the requested offset (-1
// means the high watermark) and the segments wholly below it are deleted; LowWatermark answers
// the log start offset afterwards. An offset below the current log start offset changes nothing.
// An offset above the high watermark, or negative other than -1, is OFFSET_OUT_OF_RANGE; unknown
// partitions are UNKNOWN_TOPIC_OR_PARTITION. The new log start offset is checkpointed, so it
// survives a restart. Same behaviour as Kafka; the timeout is unused, as the deletion is done
// before answering. A replicated partition is answered by its leader only (NOT_LEADER_OR_FOLLOWER
// elsewhere), once the leader's log start moved; followers follow it on their next fetch (Kafka
// waits for every replica's low watermark).

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/engine/replica"
	"github.com/sluicemq/sluice/netio"
)

func init() { register(21, 0, 2, offLoop(handleDeleteRecords)) }

func handleDeleteRecords(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark, sp.ErrorCode = b.deleteRecords(rt.Topic, rp.Partition, rp.Offset)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// deleteRecords moves one partition's log start offset to offset and returns the new log start
// offset (-1 on error) and the Kafka error code.
func (b *Broker) deleteRecords(topic string, partition int32, offset int64) (int64, int16) {
	p := b.lookupPartition(topic, partition)
	if p == nil {
		return -1, errUnknownTopicOrPartition
	}
	if rp := p.replica.Load(); rp != nil && rp.View().Role != replica.RoleLeader {
		return -1, errNotLeaderOrFollower
	}
	if offset == -1 {
		offset = p.log.HighWatermark()
	}
	if offset < 0 {
		return -1, errOffsetOutOfRange
	}
	switch err := p.log.DeleteBefore(offset); {
	case err == nil:
		return p.log.LogStartOffset(), errNone
	case errors.Is(err, log.ErrOffsetOutOfRange):
		return -1, errOffsetOutOfRange
	case errors.Is(err, log.ErrClosed): // the topic was deleted under us
		return -1, errUnknownTopicOrPartition
	default:
		b.logger.Warn("delete records failed", "topic", topic, "partition", partition, "offset", offset, "err", err)
		return -1, errKafkaStorage
	}
}
