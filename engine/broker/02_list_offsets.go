package broker

// ListOffsets: v1-6. Timestamp -2 is the log start offset, -1 the high watermark (Kafka's answer
// for read_uncommitted and read_committed alike while there are no transactions; a replica,
// ReplicaID ≥ 0, gets the log end offset); any other timestamp finds the first record at or after
// it below the high watermark through the time index (for a compressed batch, that batch's base
// offset). A replicated partition answers only on its leader and checks CurrentLeaderEpoch (v4+)
// as Fetch does; LeaderEpoch is the leader's current epoch (0 for a partition never assigned).

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(2, 1, 6, serveListOffsets) }

// serveListOffsets answers on the event loop, unless a lookup by timestamp must first wait for
// write-behind (log.write.mode=direct) to write records the high watermark already covers: the
// time index holds only written batches. Then it answers from its own goroutine.
func serveListOffsets(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
	if resp := listOffsets(b, kreq.(*kmsg.ListOffsetsRequest), false); resp != nil {
		w.Respond(netio.Part{Bytes: resp.AppendTo(nil)})
		return
	}
	offLoop(func(b *Broker, _ *netio.Request, kreq kmsg.Request) kmsg.Response {
		return listOffsets(b, kreq.(*kmsg.ListOffsetsRequest), true)
	})(b, req, kreq, w)
}

// listOffsets builds the response. Without mayWait it returns nil as soon as a lookup by
// timestamp would have to wait for the writer; with it, it waits (off the event loop).
func listOffsets(b *Broker, r *kmsg.ListOffsetsRequest, mayWait bool) *kmsg.ListOffsetsResponse {
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset = -1, -1
			p := b.lookupPartition(rt.Topic, rp.Partition)
			current := rp.CurrentLeaderEpoch
			if r.Version < 4 {
				current = -1
			}
			var code int16
			if p != nil {
				code = listOffsetsAllowed(p, current)
			}
			switch {
			case p == nil:
				sp.ErrorCode = errUnknownTopicOrPartition
			case code != errNone:
				sp.ErrorCode = code
			case rp.Timestamp == -2:
				sp.Offset = p.log.LogStartOffset()
			case rp.Timestamp == -1 && r.ReplicaID >= 0:
				sp.Offset = p.log.LogEndOffset()
			case rp.Timestamp == -1:
				sp.Offset = p.log.HighWatermark()
			case rp.Timestamp < 0:
				sp.ErrorCode = errUnsupportedVersion
			default:
				hw := p.log.HighWatermark()
				if !mayWait && p.log.WrittenEnd() < hw {
					return nil
				}
				err := p.log.WaitReadable(hw)
				off, ok := int64(0), false
				if err == nil {
					off, ok, err = p.log.OffsetForTimestamp(rp.Timestamp)
				}
				switch {
				case err != nil:
					sp.ErrorCode = errKafkaStorage
				case ok && off < p.log.HighWatermark():
					sp.Offset, sp.Timestamp = off, rp.Timestamp
				}
			}
			sp.LeaderEpoch = 0
			if p != nil && p.replica.Load() != nil {
				sp.LeaderEpoch = p.replica.Load().View().LeaderEpoch
			}
			if code != errNone {
				sp.LeaderEpoch = -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// listOffsetsAllowed: a replicated partition's offsets come from its leader, in its epoch.
func listOffsetsAllowed(p *partition, currentLeaderEpoch int32) int16 {
	rp := p.replica.Load()
	if rp == nil {
		return errNone
	}
	return leaderEpochCode(rp.View(), currentLeaderEpoch)
}
