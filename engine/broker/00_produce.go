package broker

// Produce: v0-11 advertised (librdkafka needs v0 in the range to enable compression); v0-2 carry
// magic 0/1 message sets, which Sluice does not store: those partitions get
// UNSUPPORTED_FOR_MESSAGE_FORMAT. One batch per partition (as Kafka requires for v2 batches).
// acks=0 sends nothing back; acks=1 and acks=all are answered after the append (this broker is
// the only in-sync replica), or after the fsync when the append reached flush.messages.
// Idempotent producers are de-duplicated per partition over their last 5 batches; that state is
// in memory only for now, so after a restart a producer's next batch starts fresh state.
// Transactional produce is refused until transactions exist.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/netio"
)

func init() { register(0, 0, 11, serveProduce) }

// durableWait is a stored batch whose acknowledgement waits for an fsync.
type durableWait struct {
	p      *partition
	offset int64
}

func serveProduce(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
	r := kreq.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	badAcks := r.Acks != 0 && r.Acks != 1 && r.Acks != -1
	var waits []durableWait
	for _, rt := range r.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			p := b.lookupPartition(rt.Topic, rp.Partition)
			switch {
			case badAcks:
				sp.ErrorCode = errInvalidRequiredAcks
			case r.TransactionID != nil:
				sp.ErrorCode = errUnsupportedVersion
				sp.ErrorMessage = strPtr("transactions are not supported yet")
			case p == nil:
				sp.ErrorCode = errUnknownTopicOrPartition
			default:
				res := p.produce(rp.Records)
				sp.ErrorCode, sp.BaseOffset, sp.LogAppendTime = res.code, res.baseOffset, res.logAppendTime
				sp.LogStartOffset = p.log.LogStartOffset()
				if res.msg != "" {
					sp.ErrorMessage = strPtr(res.msg)
				}
				if res.code == errNone && res.flushTriggered {
					waits = append(waits, durableWait{p, res.nextOffset})
				}
				if res.stored {
					p.topic.metrics.bytesIn.Add(int64(len(rp.Records)))
					p.topic.metrics.recordsIn.Add(int64(res.records))
					b.notifyAppend()
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if r.Acks == 0 {
		w.NoResponse()
		return
	}
	if len(waits) == 0 {
		w.Respond(netio.Part{Bytes: resp.AppendTo(nil)})
		return
	}
	// fsync runs off the event loop; the response waits for it (and netio keeps order).
	b.parked.Add(1)
	go func() {
		defer b.parked.Done()
		ctx, cancel := context.WithTimeout(context.Background(), msDuration(int64(max(r.TimeoutMillis, 1000))))
		defer cancel()
		for _, dw := range waits {
			if err := dw.p.log.WaitDurable(ctx, dw.offset); err != nil {
				setPartitionError(resp, dw.p, errKafkaStorage)
			}
		}
		w.Respond(netio.Part{Bytes: resp.AppendTo(nil)})
	}()
}

func setPartitionError(resp *kmsg.ProduceResponse, p *partition, code int16) {
	for i := range resp.Topics {
		if resp.Topics[i].Topic != p.topic.name {
			continue
		}
		for j := range resp.Topics[i].Partitions {
			if resp.Topics[i].Partitions[j].Partition == p.index {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
	}
}

type produceResult struct {
	code           int16
	msg            string
	baseOffset     int64
	nextOffset     int64
	logAppendTime  int64
	flushTriggered bool
	stored         bool
	records        int32
}

// produce validates and stores one partition's records. Runs on an event loop: the append is a
// page-cache write, never an fsync.
func (p *partition) produce(records []byte) produceResult {
	res := produceResult{baseOffset: -1, logAppendTime: -1}
	batch, err := record.Validate(records, int(p.maxMessageBytes.Load()))
	if err != nil {
		res.code = record.KafkaCode(err)
		res.msg = err.Error()
		return res
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var st *producerState
	if pid := batch.ProducerID(); pid >= 0 {
		if st = p.producers[pid]; st != nil {
			dup, code := st.check(batch)
			if code != errNone {
				res.code = code
				return res
			}
			if dup >= 0 {
				res.baseOffset = dup
				return res
			}
		} else {
			st = &producerState{epoch: batch.ProducerEpoch()}
			p.producers[pid] = st
		}
	}
	if p.logAppendTime.Load() {
		now := time.Now().UnixMilli()
		batch.SetLogAppendTime(now)
		res.logAppendTime = now
	}
	info, err := p.log.Append(batch, 0)
	if err != nil {
		res.code, res.msg = errKafkaStorage, err.Error()
		return res
	}
	if st != nil {
		st.record(batch, info.BaseOffset)
	}
	// A single replica: the high watermark follows the log end at once.
	p.log.SetHighWatermark(info.LogEndOffset)
	res.baseOffset, res.nextOffset = info.BaseOffset, info.LastOffset+1
	res.flushTriggered, res.stored, res.records = info.FlushTriggered, true, batch.RecordCount()
	return res
}
