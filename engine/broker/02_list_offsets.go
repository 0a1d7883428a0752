package broker

// ListOffsets: v1-6. Timestamp -2 is the log start offset, -1 the high watermark (Kafka's answer
// for read_uncommitted and read_committed alike while there are no transactions); any other
// timestamp finds the first record at or after it through the time index (for a compressed batch,
// that batch's base offset).

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(2, 1, 6, simple(handleListOffsets)) }

func handleListOffsets(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset = -1, -1
			p := b.lookupPartition(rt.Topic, rp.Partition)
			switch {
			case p == nil:
				sp.ErrorCode = errUnknownTopicOrPartition
			case rp.Timestamp == -2:
				sp.Offset = p.log.LogStartOffset()
			case rp.Timestamp == -1:
				sp.Offset = p.log.HighWatermark()
			case rp.Timestamp < 0:
				sp.ErrorCode = errUnsupportedVersion
			default:
				off, ok, err := p.log.OffsetForTimestamp(rp.Timestamp)
				switch {
				case err != nil:
					sp.ErrorCode = errKafkaStorage
				case ok && off < p.log.HighWatermark():
					sp.Offset, sp.Timestamp = off, rp.Timestamp
				}
			}
			sp.LeaderEpoch = 0
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
