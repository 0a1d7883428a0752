package broker

// Produce: v0-11 advertised (librdkafka needs v0 in the range to enable compression). v0-2 carry
// message sets of magic 0/1, which Sluice does not store: their partitions get UNSUPPORTED_VERSION,
// as from Kafka 4. zstd batches need v7+ (UNSUPPORTED_COMPRESSION_TYPE otherwise, as in Kafka).
// One batch per partition, as Kafka requires for v2 batches. acks=0 sends nothing back; acks=1 is
// answered after the leader's append (after the fsync when the append reached flush.messages).
// acks=all on a partition never assigned (this broker its only replica) is the same; on a
// replicated partition it is refused with NOT_ENOUGH_REPLICAS while the ISR is smaller than
// min.insync.replicas, and otherwise answered once the high watermark passes the batch,
// REQUEST_TIMED_OUT after the request's timeout, or NOT_LEADER_OR_FOLLOWER if leadership moved
// meanwhile — parked off the event loop like a long-poll fetch. A replicated partition this
// broker does not lead is NOT_LEADER_OR_FOLLOWER; batches carry the leader epoch they were
// appended in. Idempotent producers are de-duplicated per partition over their last 5 batches;
// that state survives restarts (producer_state.go) and follows the leader (followers rebuild it
// from the batches they copy), and a retried batch with acks=all waits for the HW like the first.
// Transactional produce is refused until transactions exist.
// Versions 3-11 are served by the hand-written serveProduceWire (the measured hot path); the kmsg
// path serves 0-2 and is the reference the wire path is tested against. Large v3+ requests are
// served partition by partition as they arrive (produce_run.go).

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/engine/replica"
	"github.com/sluicemq/sluice/netio"
)

func init() {
	register(0, 0, 11, serveProduce)
	registerWire(0, serveProduceWire)
}

// ServesInPlace implements netio.InPlaceHandler: Produce v3+ (serveProduceWire) is done with the
// request body when ServeKafka returns — the batches are validated in place and written to the
// log (the write copies them), the response is built in its own buffer, and a parked acks=all
// answer holds offsets, not request bytes. netio then spares its copy of the frame.
func (b *Broker) ServesInPlace(apiKey, apiVersion int16) bool {
	return apiKey == 0 && apiVersion >= 3
}

// maxReplicationWait bounds how long an acks=all produce may wait for the high watermark,
// whatever timeout the client asks for.
const maxReplicationWait = 5 * time.Minute

// durableWait is a stored batch whose acknowledgement waits: for an fsync (flush.messages), for
// the high watermark to pass it (acks=all on a replicated partition), or both.
type durableWait struct {
	p           *partition
	offset      int64 // the offset after the batch
	errPos      int   // hand-written path: where the partition's error code sits in the response
	fsync       bool
	replicated  bool
	leaderEpoch int32 // the epoch the batch was appended in; leadership must last until the HW passes
}

// wait reports whether the result's acknowledgement must wait, and for what.
func (res *produceResult) wait(p *partition, errPos int) (durableWait, bool) {
	dw := durableWait{p: p, offset: res.nextOffset, errPos: errPos, fsync: res.flushTriggered,
		replicated: res.awaitHighWatermark && p.log.HighWatermark() < res.nextOffset, leaderEpoch: res.leaderEpoch}
	return dw, res.code == errNone && (dw.fsync || dw.replicated)
}

func serveProduce(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
	r := kreq.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	var waits []durableWait
	for _, rt := range r.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			res, p := b.producePartition(r.Version, t, rp.Partition, rp.Records, r.Acks, r.TransactionID != nil)
			sp.ErrorCode, sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.code, res.baseOffset, res.logAppendTime, res.logStartOffset
			if res.msg != "" {
				sp.ErrorMessage = strPtr(res.msg)
			}
			if dw, ok := res.wait(p, 0); ok {
				waits = append(waits, dw)
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
	b.afterDurable(waits, r.TimeoutMillis, func(dw durableWait, code int16) { setPartitionError(resp, dw.p, code) },
		func() { w.Respond(netio.Part{Bytes: resp.AppendTo(nil)}) })
}

// afterDurable waits, off the event loop, for the fsyncs the appends triggered and for the high
// watermark to pass the acks=all batches of replicated partitions, marks the partitions that
// failed (KAFKA_STORAGE_ERROR, REQUEST_TIMED_OUT, NOT_LEADER_OR_FOLLOWER), then answers (netio
// keeps the connection's order).
func (b *Broker) afterDurable(waits []durableWait, timeoutMs int32, failed func(durableWait, int16), respond func()) {
	b.parked.Add(1)
	b.waiters.Add(1)
	go func() {
		defer b.parked.Done()
		defer b.waiters.Add(-1)
		// The request's timeout bounds the replication wait from the moment the request parked.
		replicationDeadline := time.Now().Add(min(msDuration(int64(max(timeoutMs, 0))), maxReplicationWait))
		ctx, cancel := context.WithTimeout(context.Background(), msDuration(int64(max(timeoutMs, 1000))))
		defer cancel()
		for _, dw := range waits {
			if !dw.fsync {
				continue
			}
			if err := dw.p.log.WaitDurable(ctx, dw.offset); err != nil {
				failed(dw, errKafkaStorage)
			}
		}
		b.awaitHighWatermark(waits, replicationDeadline, failed)
		respond()
	}()
}

// awaitHighWatermark waits until the high watermark passes every replicated wait, or the request
// times out, or leadership moves. Runs on a parked request's goroutine.
func (b *Broker) awaitHighWatermark(waits []durableWait, deadline time.Time, failed func(durableWait, int16)) {
	pending := 0
	for _, dw := range waits {
		if dw.replicated {
			pending++
		}
	}
	if pending == 0 {
		return
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	done := make([]bool, len(waits))
	for {
		progress := *b.progress.Load() // before checking, so no advance is missed
		for i, dw := range waits {
			if !dw.replicated || done[i] {
				continue
			}
			switch code := dw.p.replicationOutcome(dw); code {
			case errNone:
				done[i] = true
				pending--
			case -1: // still waiting
			default:
				failed(dw, code)
				done[i] = true
				pending--
			}
		}
		if pending == 0 {
			return
		}
		select {
		case <-progress:
			continue
		case <-timer.C:
		case <-b.stop:
		}
		for i, dw := range waits {
			if dw.replicated && !done[i] {
				if code := dw.p.replicationOutcome(dw); code > 0 || code == -1 {
					if code == -1 {
						code = errRequestTimedOut
					}
					failed(dw, code)
				}
			}
		}
		return
	}
}

// replicationOutcome: errNone once the HW has passed the batch, -1 while it may still,
// NOT_LEADER_OR_FOLLOWER once this broker no longer leads in the batch's epoch.
func (p *partition) replicationOutcome(dw durableWait) int16 {
	if rp := p.replica.Load(); rp != nil {
		if v := rp.View(); v.Role != replica.RoleLeader || v.LeaderEpoch != dw.leaderEpoch {
			return errNotLeaderOrFollower
		}
	}
	if p.log.HighWatermark() >= dw.offset {
		return errNone
	}
	return -1
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

// producePartition validates and stores one partition's records: everything Produce does per
// partition, shared by the kmsg path and the hand-written one. t may be nil (unknown topic).
func (b *Broker) producePartition(version int16, t *topic, index int32, records []byte, acks int16, transactional bool) (produceResult, *partition) {
	res := produceResult{baseOffset: -1, logAppendTime: -1, logStartOffset: -1}
	var p *partition
	if t != nil && index >= 0 && int(index) < len(t.partitions) {
		p = t.partitions[index]
	}
	switch {
	case version < 3:
		// v0-2 carry message sets of magic 0/1; Kafka 4 refuses them the same way.
		res.code, res.msg = errUnsupportedVersion, "Produce v0-2 (message format v0/v1) is not supported: use v3 or later"
	case acks != 0 && acks != 1 && acks != -1:
		res.code = errInvalidRequiredAcks
	case transactional:
		res.code, res.msg = errUnsupportedVersion, "transactions are not supported yet"
	case p == nil:
		res.code = errUnknownTopicOrPartition
	case isInternalTopic(t.name):
		// Only the group coordinator appends to __consumer_offsets (through produceTo); a client's
		// batch there would be skipped by every replica's applier. Kafka's answer.
		res.code, res.msg = errInvalidTopic, "Cannot append to internal topic "+t.name
	case b.cfg.Cluster && p.replica.Load() == nil:
		// No assignment yet (a restarted broker replaying its metadata): this replica leads
		// nothing. Served as a single node it would append at its own log end and commit at
		// once — records the real leader never sees, acknowledged and then truncated when this
		// replica follows (found by the chaos suite: a killed leader restarted, and producers
		// with the old metadata had hundreds of records acknowledged and lost).
		res.code = errNotLeaderOrFollower
	default:
		res = b.produceTo(p, records, version, acks)
		res.logStartOffset = p.log.LogStartOffset()
		if res.code == errKafkaStorage {
			// Off the hot path; Kafka logs every failed append too (a full or failing disk must
			// show in the broker's log, not only in clients' retries).
			b.logger.Error("append failed: KAFKA_STORAGE_ERROR", "topic", t.name, "partition", index, "err", res.msg)
		}
		if res.stored {
			t.metrics.bytesIn.Add(int64(len(records)))
			t.metrics.recordsIn.Add(int64(res.records))
			b.notifyAppend()
		}
	}
	return res, p
}

type produceResult struct {
	logStartOffset int64
	code           int16
	msg            string
	baseOffset     int64
	nextOffset     int64
	logAppendTime  int64
	flushTriggered bool
	stored         bool
	records        int32
	// awaitHighWatermark: acks=all on a replicated partition; the answer waits until the high
	// watermark reaches nextOffset while this broker leads in leaderEpoch.
	awaitHighWatermark bool
	leaderEpoch        int32
}

// produceTo stores one partition's records and acts on a high watermark the append moved.
func (b *Broker) produceTo(p *partition, records []byte, version, acks int16) produceResult {
	res, u := p.produce(records, version, acks)
	if rp := p.replica.Load(); rp != nil {
		b.afterReplicaUpdate(rp, u)
	}
	return res
}

// produce validates and stores one partition's records. Runs on an event loop: the append is a
// page-cache write, never an fsync.
func (p *partition) produce(records []byte, version, acks int16) (produceResult, replica.Update) {
	res := produceResult{baseOffset: -1, logAppendTime: -1}
	var u replica.Update
	batch, err := record.Validate(records, int(p.maxMessageBytes.Load()))
	if err != nil {
		res.code = record.KafkaCode(err)
		res.msg = err.Error()
		return res, u
	}
	if version < 7 && batch.Compression() == record.CompressionZstd {
		res.code, res.msg = record.CodeUnsupportedCompressionType, "zstd needs Produce v7 or later"
		return res, u
	}
	rp := p.replica.Load()
	if rp != nil && rp.View().Role != replica.RoleLeader {
		// Lock-free refusal: on a follower p.mu may be held by the fetcher's appends.
		res.code = errNotLeaderOrFollower
		return res, u
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if rp = p.replica.Load(); rp != nil { // again under p.mu: the first assignment may have come
		// Under p.mu: a role or leader epoch change takes it too, so the epoch stays current
		// for this append.
		epoch, err := rp.CheckProduce(acks == -1)
		switch {
		case errors.Is(err, replica.ErrNotLeader):
			res.code = errNotLeaderOrFollower
			return res, u
		case errors.Is(err, replica.ErrNotEnoughReplicas):
			res.code, res.msg = errNotEnoughReplicas, err.Error()
			return res, u
		}
		res.leaderEpoch, res.awaitHighWatermark = epoch, acks == -1
	}
	var st *producerState
	if pid := batch.ProducerID(); pid >= 0 {
		if st = p.producers[pid]; st != nil {
			dup, code := st.check(batch)
			if code != errNone {
				res.code = code
				return res, u
			}
			if dup >= 0 {
				// A retry of a stored batch: the same answer, once the same conditions hold.
				res.baseOffset, res.nextOffset = dup, dup+int64(batch.RecordCount())
				return res, u
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
	info, err := p.log.Append(batch, res.leaderEpoch)
	if err != nil {
		res.code, res.msg = errKafkaStorage, err.Error()
		return res, u
	}
	if st != nil {
		st.record(batch, info.BaseOffset)
	}
	if rp == nil {
		// The only replica: the high watermark follows the log end at once.
		p.log.SetHighWatermark(info.LogEndOffset)
	} else {
		u = rp.Appended(info.LogEndOffset) // moves the HW only when no follower is in the ISR
	}
	res.baseOffset, res.nextOffset = info.BaseOffset, info.LastOffset+1
	res.flushTriggered, res.stored, res.records = info.FlushTriggered, true, batch.RecordCount()
	return res, u
}

// serveProduceWire is the measured hot path: Produce v3-11 decoded in place and answered with a
// hand-encoded response (kmsg's decoder allocates the request tree, its encoder the response:
// 13 allocations for a one-partition request; see results/broker.md), by a produceRun. A request
// that arrived whole is checked first, so a malformed one changes nothing; a large one that netio
// streamed (req.Stream) has had its partitions served as they arrived, and is finished here.
// Returns false for versions it does not handle (the kmsg path serves those).
func serveProduceWire(b *Broker, req *netio.Request, w netio.ResponseWriter) bool {
	if req.APIVersion < 3 {
		return false
	}
	run, streamed := req.Stream.(*produceRun)
	if !streamed {
		if !produceWellFormed(req.Body, req.APIVersion >= 9) {
			b.logger.Debug("malformed produce request; closing connection", "version", req.APIVersion)
			w.Close()
			return true
		}
		run = newProduceRun(b, req.APIVersion)
	}
	if !run.finish(req.Body, w) {
		b.logger.Debug("malformed produce request; closing connection", "version", req.APIVersion, "streamed", streamed)
		w.Close()
	}
	return true
}

// produceResponseBytes is the pooled buffer a Produce response starts in: a few partitions' worth
// (about 40 bytes each plus the topic name); a larger response grows it once.
const produceResponseBytes = 512

// Allocation budget of the produce path (serveProduceWire, acks=0/1, nothing to wait for): zero
// per request in steady state. The response is built in a buffer from netio's pool and handed
// back with Part.Recycle; the one-element parts slice comes from partsPool (netio copies the
// slice during Respond); the latency wrapper is pooled (timedWriter); netio pools its responder
// and serves the frame in place or from its frame pool. TestProduceAllocs holds the handler to it.

// partsPool holds one-element part slices for respondRecycled: a slice literal passed through the
// ResponseWriter interface escapes, which would be an allocation per response.
var partsPool = sync.Pool{New: func() any { return new([1]netio.Part) }}

// respondRecycled answers w with body, a buffer from netio.NewBuffer that netio recycles once
// written.
func respondRecycled(w netio.ResponseWriter, body []byte) {
	parts := partsPool.Get().(*[1]netio.Part)
	parts[0] = netio.Part{Bytes: body, Recycle: true}
	w.Respond(parts[:]...)
	parts[0] = netio.Part{}
	partsPool.Put(parts)
}

// produceWellFormed walks a Produce v3+ body without acting on it.
func produceWellFormed(body []byte, flexible bool) bool {
	r := wireReader{b: body, flexible: flexible}
	r.nullableString()
	r.int16()
	r.int32()
	for range r.arrayLen() {
		r.string()
		for range r.arrayLen() {
			r.int32()
			r.nullableBytes()
			r.skipTags()
		}
		r.skipTags()
	}
	r.skipTags()
	return r.ok() && len(r.b) == 0
}
