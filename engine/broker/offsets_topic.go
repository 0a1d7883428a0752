package broker

// Replicated consumer offsets (cluster mode): the internal topic __consumer_offsets, whose
// partition abs(javaHashCode(group)) % offsets.topic.num.partitions holds a group's records and
// whose leader coordinates the group (FindCoordinator answers that leader).
//
//   - The active controller creates the topic, through the CreateTopics path, on the first
//     FindCoordinator for a group (as Kafka does): offsets.topic.num.partitions partitions,
//     offsets.topic.replication.factor replicas capped by the unfenced brokers. Metadata marks it
//     internal. Compaction does not exist yet, so the topic keeps every record (retention.ms and
//     retention.bytes -1) instead of cleanup.policy=compact.
//   - The coordinator's journal (offsetsReplication.Append) appends a group's records as one
//     uncompressed record batch through the partition leader's append path, acks=all, and calls
//     back once the high watermark has passed the batch and the batch is applied to this broker's
//     store; failures answer Kafka's codes for failed offset-topic writes.
//   - One applier goroutine per broker applies, for every partition of the topic it holds, the
//     records below the high watermark to the group store, with the applied offset in the same
//     pebble batch (records above the HW could still be truncated). When the broker becomes a
//     partition's leader it applies everything up to its log end, then loads the partition's
//     groups; when it stops leading, it unloads them. It runs on kicks (a leader's HW advance, a
//     follower's HW update, an assignment change) and on a short tick that expires appends the
//     HW has not passed within offsets.commit.timeout.ms.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/group"
	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/engine/replica"
)

// offsetsTopic is Kafka's name of the internal topic of committed offsets and group metadata.
const offsetsTopic = "__consumer_offsets"

// Kafka's defaults of offsets.topic.num.partitions and offsets.topic.replication.factor, and of
// offsets.commit.timeout.ms (how long a write to the topic may wait for the high watermark).
const (
	DefaultOffsetsTopicNumPartitions     = 50
	DefaultOffsetsTopicReplicationFactor = 3
	offsetsCommitTimeout                 = 5 * time.Second
)

const (
	// offsetsApplyTick is how often the applier checks pending appends' deadlines, and catches
	// up with any progress no kick announced.
	offsetsApplyTick = 100 * time.Millisecond
	// offsetsReadBytesMax bounds one read of the log by the applier (one pebble batch).
	offsetsReadBytesMax = 1 << 20
	// offsetsProduceVersion is the Produce version the coordinator's appends are checked as.
	offsetsProduceVersion = 11
)

// Kafka error codes of the coordinator's writes (Errors.java), beside errors.go's.
const (
	errCoordinatorNotAvailable int16 = 15
	errNotCoordinator          int16 = 16
	errRecordListTooLarge      int16 = 18
	errNotEnoughReplicasAfter  int16 = 20
	errInvalidCommitOffsetSize int16 = 28
)

// offsetsTopicPartitions is offsets.topic.num.partitions in force.
func (b *Broker) offsetsTopicPartitions() int32 {
	if n := b.cfg.OffsetsTopicNumPartitions; n > 0 {
		return n
	}
	return DefaultOffsetsTopicNumPartitions
}

// offsetsReplication is the replicated journal and the applier of one broker.
type offsetsReplication struct {
	b          *Broker
	partitions int32
	kickCh     chan struct{} // capacity 1: a kick while the applier runs is one more pass
	creating   atomic.Bool   // a creation of the topic is in flight
	// current: the broker's image is current (ControllerLink.current); tests that drive the
	// journal without a controller replace it.
	current func() bool

	mu        sync.Mutex
	pending   map[int32][]offsetsAppend // by partition; appended in offset order per group
	truncated map[int32]int64           // lowest offset each partition's log was truncated to since the last pass
	stopped   bool

	parts map[int32]*offsetsPartition // applier goroutine only
}

// offsetsAppend is a journal append waiting for the high watermark.
type offsetsAppend struct {
	next     int64 // the offset after the batch
	epoch    int32 // the leader epoch it was appended in
	deadline time.Time
	done     func(error)
}

// offsetsPartition is what the applier knows of one partition. Applier goroutine only.
type offsetsPartition struct {
	applied int64 // every record below it is in the store
	loaded  bool  // applied read from the store
	leading bool  // the coordinator has loaded its groups
	epoch   int32 // the leader epoch they were loaded in
}

func newOffsetsReplication(b *Broker) *offsetsReplication {
	return &offsetsReplication{b: b, partitions: b.offsetsTopicPartitions(), kickCh: make(chan struct{}, 1),
		pending: map[int32][]offsetsAppend{}, truncated: map[int32]int64{}, parts: map[int32]*offsetsPartition{},
		current: func() bool {
			l := b.link.Load()
			return l != nil && l.current()
		}}
}

// startOffsets switches the coordinator to replicated mode and starts the applier; it stops
// with the link. Called by AttachController.
func (l *ControllerLink) startOffsets() {
	o := l.offsets
	l.b.groups.Replicate(o.partitions, o)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		o.run(l.stop)
	}()
}

// kickOffsets wakes the applier after a change to a partition of the offsets topic: a high
// watermark that moved, an assignment. Never blocks.
func (b *Broker) kickOffsets(p *partition) {
	if p.topic.name != offsetsTopic {
		return
	}
	if l := b.link.Load(); l != nil && l.offsets != nil {
		l.offsets.kick()
	}
}

// offsetsTruncated tells the applier that a partition of the offsets topic lost its log from
// offset on (a follower truncating to its leader). Never blocks.
func (b *Broker) offsetsTruncated(p *partition, offset int64) {
	if p.topic.name != offsetsTopic {
		return
	}
	if l := b.link.Load(); l != nil && l.offsets != nil {
		o := l.offsets
		o.mu.Lock()
		if cur, ok := o.truncated[p.index]; !ok || offset < cur {
			o.truncated[p.index] = offset
		}
		o.mu.Unlock()
		o.kick()
	}
}

func (o *offsetsReplication) kick() {
	select {
	case o.kickCh <- struct{}{}:
	default:
	}
}

// Append implements group.Journal: the records go to the group's partition as one batch, through
// this broker's leader append path; done waits for the high watermark and the local apply.
func (o *offsetsReplication) Append(groupName string, recs []group.Record, done func(error)) {
	fail := func(code int16, err error) {
		if done != nil {
			go done(&group.AppendError{Code: code, Err: err})
		}
	}
	idx := group.PartitionFor(groupName, o.partitions)
	p := o.b.lookupPartition(offsetsTopic, idx)
	if p == nil {
		fail(errCoordinatorNotAvailable, fmt.Errorf("%s-%d does not exist here", offsetsTopic, idx))
		return
	}
	res := o.b.produceTo(p, offsetsBatch(recs, time.Now().UnixMilli()), offsetsProduceVersion, -1)
	if res.code != errNone {
		fail(offsetsWriteCode(res.code), fmt.Errorf("%s-%d: %s", offsetsTopic, idx, res.msg))
		return
	}
	o.b.notifyAppend() // followers' parked fetches
	o.mu.Lock()
	if o.stopped {
		o.mu.Unlock()
		fail(errNotCoordinator, errors.New("broker closing"))
		return
	}
	o.pending[idx] = append(o.pending[idx], offsetsAppend{next: res.nextOffset, epoch: res.leaderEpoch,
		deadline: time.Now().Add(offsetsCommitTimeout), done: done})
	o.mu.Unlock()
	o.kick() // the HW may be past it already (an ISR of one)
}

// Leading implements group.Journal: this broker's replica of partition idx is the leader, and
// the image that made it so is current (ControllerLink.current; the image is applied to the
// replicas before the heartbeats report its offset).
func (o *offsetsReplication) Leading(idx int32) bool {
	if !o.current() {
		return false
	}
	p := o.b.lookupPartition(offsetsTopic, idx)
	if p == nil {
		return false
	}
	rp := p.replica.Load()
	return rp != nil && rp.View().Role == replica.RoleLeader
}

// offsetsBatch is recs as one uncompressed record batch of the offsets topic, without producer id.
func offsetsBatch(recs []group.Record, nowMs int64) []byte {
	krecs := make([]record.Record, len(recs))
	for i, r := range recs {
		krecs[i].Key, krecs[i].Value = group.KafkaRecord(r)
	}
	return record.AppendBatch(nil, record.BatchSpec{BaseTimestamp: nowMs, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, krecs)
}

// offsetsWriteCode maps a failed append to the offsets topic to what the coordinator answers, as
// Kafka's GroupMetadataManager does.
func offsetsWriteCode(code int16) int16 {
	switch code {
	case errUnknownTopicOrPartition, errNotEnoughReplicas, errNotEnoughReplicasAfter:
		return errCoordinatorNotAvailable
	case errNotLeaderOrFollower, errKafkaStorage:
		return errNotCoordinator
	case errMessageTooLarge, errRecordListTooLarge:
		return errInvalidCommitOffsetSize
	}
	return code
}

// run is the applier goroutine.
func (o *offsetsReplication) run(stop <-chan struct{}) {
	t := time.NewTicker(offsetsApplyTick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			o.shutdown()
			return
		case <-o.kickCh:
		case <-t.C:
		}
		o.pass()
	}
}

// shutdown fails the appends still waiting: the broker is closing, the group moves elsewhere.
func (o *offsetsReplication) shutdown() {
	o.mu.Lock()
	o.stopped = true
	pending := o.pending
	o.pending = map[int32][]offsetsAppend{}
	o.mu.Unlock()
	for _, as := range pending {
		for _, a := range as {
			if a.done != nil {
				a.done(&group.AppendError{Code: errNotCoordinator, Err: errors.New("broker closing")})
			}
		}
	}
}

// pass brings every partition of the topic held here up to date: leadership, store, appends.
func (o *offsetsReplication) pass() {
	t := o.b.lookupTopic(offsetsTopic)
	if t == nil {
		return
	}
	for i, p := range t.partitions {
		if int32(i) >= o.partitions {
			break
		}
		o.passPartition(int32(i), p)
	}
}

func (o *offsetsReplication) passPartition(idx int32, p *partition) {
	c := o.b.groups
	st := o.parts[idx]
	if st == nil {
		st = &offsetsPartition{}
		o.parts[idx] = st
	}
	if !st.loaded {
		applied, err := c.AppliedOffset(idx)
		if err != nil {
			o.b.logger.Error("offsets topic: reading the applied offset", "partition", idx, "err", err)
			return
		}
		st.applied, st.loaded = applied, true
	}
	o.mu.Lock()
	cut, truncated := o.truncated[idx]
	delete(o.truncated, idx)
	o.mu.Unlock()
	if leo := p.log.LogEndOffset(); !truncated && st.applied > leo {
		// The log ends below what the store applied: it lost its tail while the broker was down
		// (recovery after a crash) or without a truncation this applier heard of.
		cut, truncated = leo, true
	}
	if truncated && cut < st.applied {
		// The store holds records the log no longer has (this broker applied its log end as a
		// leader and was deposed before the HW passed them, or the log lost its tail): rebuild
		// the partition's groups from the log.
		o.b.logger.Warn("offsets topic: log truncated below the applied offset; rebuilding the partition's groups", "partition", idx, "applied", st.applied, "truncated_to", cut)
		start := p.log.LogStartOffset()
		if err := c.ResetPartition(idx, start); err != nil {
			o.b.logger.Error("offsets topic: rebuilding", "partition", idx, "err", err)
			o.mu.Lock()
			o.truncated[idx] = cut // again on the next pass
			o.mu.Unlock()
			return
		}
		st.applied = start
	}
	leader, epoch := false, int32(-1)
	if rp := p.replica.Load(); rp != nil {
		v := rp.View()
		leader, epoch = v.Role == replica.RoleLeader, v.LeaderEpoch
	}
	if st.leading && (!leader || st.epoch != epoch) {
		c.UnloadPartition(idx)
		st.leading = false
	}
	if leader && !st.leading {
		// A new leader: what its log holds is what the partition holds (followers will copy it),
		// so the groups are loaded from all of it.
		c.BeginLoad(idx)
		if err := o.apply(idx, p, st, p.log.LogEndOffset()); err != nil {
			o.b.logger.Error("offsets topic: loading", "partition", idx, "err", err)
			c.UnloadPartition(idx) // tried again on the next pass
		} else if err := c.LoadPartition(idx); err != nil {
			o.b.logger.Error("offsets topic: loading", "partition", idx, "err", err)
		} else {
			st.leading, st.epoch = true, epoch
		}
	}
	if err := o.apply(idx, p, st, p.log.HighWatermark()); err != nil {
		o.b.logger.Error("offsets topic: applying", "partition", idx, "err", err)
	}
	o.complete(idx, st.applied, st.leading, epoch)
}

// complete answers the appends to partition idx that the store now holds, in offset order, and
// fails those whose leadership ended or whose time is up.
func (o *offsetsReplication) complete(idx int32, applied int64, leading bool, epoch int32) {
	o.mu.Lock()
	as := o.pending[idx]
	if len(as) == 0 {
		o.mu.Unlock()
		return
	}
	now := time.Now()
	var ready, notLeader, timedOut, keep []offsetsAppend
	for _, a := range as {
		switch {
		case !leading || a.epoch != epoch:
			notLeader = append(notLeader, a)
		case a.next <= applied:
			ready = append(ready, a)
		case now.After(a.deadline):
			timedOut = append(timedOut, a)
		default:
			keep = append(keep, a)
		}
	}
	o.pending[idx] = keep
	o.mu.Unlock()
	slices.SortFunc(ready, func(x, y offsetsAppend) int { return int(x.next - y.next) })
	for _, a := range ready {
		if a.done != nil {
			a.done(nil)
		}
	}
	for _, a := range notLeader {
		if a.done != nil {
			a.done(&group.AppendError{Code: errNotCoordinator, Err: fmt.Errorf("%s-%d: leadership moved", offsetsTopic, idx)})
		}
	}
	for _, a := range timedOut {
		if a.done != nil {
			a.done(&group.AppendError{Code: errRequestTimedOut, Err: fmt.Errorf("%s-%d: the high watermark did not reach %d", offsetsTopic, idx, a.next)})
		}
	}
}

// apply applies partition idx's records below upTo to the store, batch by batch, with the applied
// offset. Applier goroutine only.
func (o *offsetsReplication) apply(idx int32, p *partition, st *offsetsPartition, upTo int64) error {
	if start := p.log.LogStartOffset(); st.applied < start {
		// Records below the log start are gone (nothing deletes them today: retention is off).
		o.b.logger.Warn("offsets topic: records below the log start were never applied", "partition", idx, "applied", st.applied, "log_start", start)
		st.applied = start
	}
	read := func(offset, maxBytes, upTo int64, minOneBatch bool) (logRegion, error) {
		r, err := p.log.Read(offset, maxBytes, upTo, minOneBatch)
		return &r, err
	}
	skip := func(base int64, err error) {
		o.b.logger.Warn("offsets topic: passing over a batch that is not the coordinator's", "partition", idx, "offset", base, "err", err)
	}
	return applyOffsetsLog(idx, read, upTo, &st.applied, o.b.groups.ApplyReplicated, skip)
}

// applyOffsetsLog reads batches from *applied up to upTo with read (a log's Read) and hands their
// records, with the offset after the last whole batch below upTo, to applyFn; *applied follows.
// A batch whose records are not the coordinator's (a client produced to the topic) is passed
// over, reported to skip: it must not stop the partition's groups from loading.
func applyOffsetsLog(idx int32, read func(offset, maxBytes, upTo int64, minOneBatch bool) (logRegion, error),
	upTo int64, applied *int64, applyFn func(int32, []group.Record, int64) error, skip func(baseOffset int64, err error)) error {
	for *applied < upTo {
		r, err := read(*applied, offsetsReadBytesMax, upTo, true)
		if err != nil {
			return err
		}
		buf, err := r.ReadAll()
		r.Release()
		if err != nil {
			return fmt.Errorf("read at %d: %w", *applied, err)
		}
		if len(buf) == 0 {
			return nil
		}
		var recs []group.Record
		next := *applied
		for len(buf) > 0 {
			b, rest, err := record.Next(buf)
			if err != nil {
				return fmt.Errorf("batch at %d: %w", next, err)
			}
			buf = rest
			if b.NextOffset() <= next {
				continue // before what is applied (the region starts at the batch holding it)
			}
			if b.NextOffset() > upTo {
				break // not below the high watermark yet
			}
			if !b.Control() {
				before := len(recs)
				if recs, err = appendBatchRecords(recs, b); err != nil {
					recs = recs[:before]
					skip(b.BaseOffset(), err)
				}
			}
			next = b.NextOffset()
		}
		if next == *applied {
			return nil
		}
		if err := applyFn(idx, recs, next); err != nil {
			return err
		}
		*applied = next
	}
	return nil
}

// logRegion is what applyOffsetsLog needs of a log.Region.
type logRegion interface {
	ReadAll() ([]byte, error)
	Release()
}

// appendBatchRecords decodes an uncompressed batch's records (the coordinator never compresses
// its batches) as coordinator records. They alias b.
func appendBatchRecords(dst []group.Record, b record.Batch) ([]group.Record, error) {
	if b.Compression() != 0 {
		return dst, fmt.Errorf("compressed batch (codec %d) in the offsets topic", b.Compression())
	}
	body := b.Records()
	if b.RecordCount() < 0 {
		return dst, fmt.Errorf("record count %d", b.RecordCount())
	}
	for range b.RecordCount() {
		length, n := binary.Varint(body)
		if n <= 0 || length < 0 || int64(len(body)-n) < length {
			return dst, errors.New("truncated record")
		}
		rec := body[n : n+int(length)]
		body = body[n+int(length):]
		if len(rec) == 0 {
			return dst, errors.New("empty record")
		}
		rec = rec[1:] // attributes
		for range 2 { // timestamp delta, offset delta
			if _, n = binary.Varint(rec); n <= 0 {
				return dst, errors.New("truncated record")
			}
			rec = rec[n:]
		}
		key, keyNull, rest, ok := readVarintBytes(rec)
		if !ok || keyNull {
			return dst, errors.New("record without a key")
		}
		value, valueNull, _, ok := readVarintBytes(rest)
		if !ok {
			return dst, errors.New("truncated record value")
		}
		r, err := group.RecordFromKafka(key, value, valueNull)
		if err != nil {
			return dst, err
		}
		dst = append(dst, r)
	}
	if len(body) != 0 {
		return dst, fmt.Errorf("%d bytes after the batch's %d records", len(body), b.RecordCount())
	}
	return dst, nil
}

// readVarintBytes reads a varint-length-prefixed byte string (-1: null).
func readVarintBytes(p []byte) (b []byte, null bool, rest []byte, ok bool) {
	n, w := binary.Varint(p)
	switch {
	case w <= 0:
		return nil, false, nil, false
	case n == -1:
		return nil, true, p[w:], true
	case n < 0 || int64(len(p)-w) < n:
		return nil, false, nil, false
	}
	return p[w : w+int(n)], false, p[w+int(n):], true
}

// findCoordinatorCluster answers FindCoordinator for a group in cluster mode: the leader of the
// group's partition of the offsets topic, COORDINATOR_NOT_AVAILABLE while the topic is being
// created (its first FindCoordinator asks the controller to create it) or the partition has no
// leader.
func (l *ControllerLink) findCoordinatorCluster(key string) (nodeID int32, host string, port int32, code int16, msg string) {
	if !l.current() {
		return -1, "", -1, errCoordinatorNotAvailable, "this broker has not heard from the controller within broker.session.timeout.ms"
	}
	img := l.image.Load()
	n := l.b.offsetsTopicPartitions()
	t := img.Topic(offsetsTopic)
	if t == nil {
		l.ensureOffsetsTopic(img)
		return -1, "", -1, errCoordinatorNotAvailable, "the offsets topic is being created"
	}
	if int32(len(t.Partitions)) < n {
		return -1, "", -1, errCoordinatorNotAvailable, fmt.Sprintf("the offsets topic has %d partitions, offsets.topic.num.partitions is %d", len(t.Partitions), n)
	}
	p := &t.Partitions[group.PartitionFor(key, n)]
	if p.Leader == meta.NoLeader {
		return -1, "", -1, errCoordinatorNotAvailable, "the group's offsets partition has no leader"
	}
	br := img.Broker(p.Leader)
	if br == nil || br.Fenced {
		return -1, "", -1, errCoordinatorNotAvailable, "the group's coordinator is not available"
	}
	e, ok := br.Endpoint(l.cfg.Listener)
	if !ok {
		return -1, "", -1, errCoordinatorNotAvailable, "the group's coordinator has no " + l.cfg.Listener + " listener"
	}
	return br.ID, e.Host, e.Port, errNone, ""
}

// ensureOffsetsTopic asks the controller, on its own goroutine, to create the offsets topic
// unless a creation is in flight.
func (l *ControllerLink) ensureOffsetsTopic(img *meta.Image) {
	if !l.offsets.creating.CompareAndSwap(false, true) {
		return
	}
	b := l.b
	rf := int16(DefaultOffsetsTopicReplicationFactor)
	if b.cfg.OffsetsTopicReplicationFactor > 0 {
		rf = b.cfg.OffsetsTopicReplicationFactor
	}
	rf = int16(max(min(int(rf), len(img.UnfencedBrokers())), 1)) // capped by the live brokers, as Kafka does
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = offsetsTopic, b.offsetsTopicPartitions(), rf
	// No compaction yet: keep every record rather than let retention delete live offsets.
	for k, v := range map[string]string{"retention.ms": "-1", "retention.bytes": "-1"} {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	b.parked.Add(1)
	go func() {
		defer b.parked.Done()
		defer l.offsets.creating.Store(false)
		resp := l.createTopics(req)
		if st := resp.Topics[0]; st.ErrorCode != errNone && st.ErrorCode != errTopicAlreadyExists {
			msg := ""
			if st.ErrorMessage != nil {
				msg = *st.ErrorMessage
			}
			b.logger.Warn("creating the offsets topic failed", "code", st.ErrorCode, "err", msg)
			return
		}
		b.logger.Info("offsets topic ready", "partitions", rt.NumPartitions, "replication_factor", rf)
	}()
}

// isInternalTopic: Metadata marks it is_internal.
func isInternalTopic(name string) bool { return name == offsetsTopic }
