package broker

// Fetch: v4-12 (by topic name; v13+ names topics by id and is not advertised). Fetch sessions
// (KIP-227, v7+) as Kafka serves them: epoch 0 opens one, later epochs send only changed
// partitions each way, epoch -1 fetches without one (fetch_sessions.go). Isolation levels read up to the
// high watermark alike (no transactions, so the last stable offset is the high watermark).
// Replicated partitions (replication.go): only the leader serves them (NOT_LEADER_OR_FOLLOWER
// otherwise; no KIP-392 follower fetching), and a CurrentLeaderEpoch (v9+) older or newer than the
// leader's is FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH. A follower's Fetch (ReplicaID ≥ 0, a
// replica of the partition) reads up to the log end offset instead of the high watermark, and
// its fetch offset is the follower's log end offset: recorded when the request arrives, it may
// advance the high watermark (waking parked acks=all produces and consumer fetches) and the ISR.
// Replica ids are not authenticated yet (no SASL): any client can claim one. The response's
// DivergingEpoch (KIP-595) is never set: followers find divergence with OffsetForLeaderEpoch.
// Long poll: when less than MinBytes is ready the request parks, off the event loop, until an
// append or MaxWaitMillis. With write-behind the high watermark may cover records not yet
// written (engine/log/writebehind.go): a consumer's fetch that would answer nothing because of
// them parks until the writer has written some, even with MaxWaitMillis 0 (for at most
// maxWriterWait), so a record answered before the fetch came is read back. A follower's fetch
// does not wait so: it takes what is written, as before. Record data is never copied: the
// response is framed here by hand (kmsg's encoder would copy the records) and the batches go out
// as file regions (sendfile).

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/engine/replica"
	"github.com/sluicemq/sluice/netio"
)

func init() { register(1, 4, 12, serveFetch) }

// maxFetchWait bounds how long a fetch may park, whatever the client asks.
const maxFetchWait = 30 * time.Second

// maxWriterWait bounds how long a fetch parks for records written behind (log.write.mode=direct)
// that it may read but that are not yet written: the writer takes milliseconds; on a failing
// disk the fetch answers with what is written after this.
const maxWriterWait = time.Second

func serveFetch(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
	r := kreq.(*kmsg.FetchRequest)
	plan := b.planFetch(r)
	if r.ReplicaID >= 0 {
		b.noteFollowerFetch(r.ReplicaID, &plan)
	}
	res := b.fetchOnce(r, &plan)
	if res.ready(r) {
		res.send(w, &plan)
		return
	}
	res.release()
	wait := min(time.Duration(r.MaxWaitMillis)*time.Millisecond, maxFetchWait)
	if res.unwritten {
		wait = max(wait, maxWriterWait)
	}
	b.parked.Add(1)
	b.waiters.Add(1)
	go func() { // captures wait, not res: res stays on the stack (one allocation less per fetch)
		defer b.parked.Done()
		defer b.waiters.Add(-1)
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for {
			appended := *b.progress.Load() // before reading, so no append is missed
			res := b.fetchOnce(r, &plan)
			if res.ready(r) {
				res.send(w, &plan)
				return
			}
			select {
			case <-appended:
				res.release()
			case <-timer.C:
				res.send(w, &plan)
				return
			case <-b.stop:
				res.send(w, &plan)
				return
			}
		}
	}()
}

// fetchPart is one partition to read: from the request, or from the fetch session.
type fetchPart struct {
	topic              string
	partition          int32
	offset             int64
	maxBytes           int32
	currentLeaderEpoch int32             // -1: not checked
	sess               *sessionPartition // nil without a session
}

// noteFollowerFetch records a follower's fetch offsets, as its log end offsets, on the replicated
// partitions this broker leads. Runs on the event loop, once per request (not on a parked
// request's re-reads): the state machine's calls take a short lock and never block.
func (b *Broker) noteFollowerFetch(replicaID int32, plan *fetchPlan) {
	now := time.Now().UnixMilli()
	for _, fp := range plan.parts {
		p := b.lookupPartition(fp.topic, fp.partition)
		if p == nil {
			continue
		}
		rp := p.replica.Load()
		if rp == nil || leaderEpochCode(rp.View(), fp.currentLeaderEpoch) != errNone {
			continue
		}
		leo := p.log.LogEndOffset()
		if fp.offset < p.log.LogStartOffset() || fp.offset > leo {
			continue // answered OFFSET_OUT_OF_RANGE; the follower will truncate or start over
		}
		u, err := rp.FollowerFetch(replicaID, fp.offset, leo, now)
		if err == nil {
			b.afterReplicaUpdate(rp, u)
		}
	}
}

// leaderEpochCode checks a request's CurrentLeaderEpoch (-1: unchecked) against a replicated
// partition's state: only the leader serves, in its own epoch.
func leaderEpochCode(v *replica.View, current int32) int16 {
	switch {
	case current >= 0 && current < v.LeaderEpoch:
		return errFencedLeaderEpoch
	case current > v.LeaderEpoch:
		return errUnknownLeaderEpoch
	case v.Role != replica.RoleLeader:
		return errNotLeaderOrFollower
	}
	return errNone
}

// partResult is what one read found.
type partResult struct {
	code         int16
	hw, logStart int64
	region       *log.Region
	include      bool // part of the response (incremental responses leave unchanged ones out)
	t            *topic
}

type fetchResult struct {
	parts    []netio.Part
	results  []partResult
	regions  []*log.Region
	bytes    int64
	hasError bool
	// unwritten: a consumer's read of a partition stopped short of committed records that
	// write-behind has not written yet.
	unwritten bool
}

// ready: the result answers the request now. An empty result whose records the high watermark
// already covers waits for them even in a fetch that would not wait (MaxWaitMillis 0, MinBytes
// 0): a client that was answered, or saw them in ListOffsets, reads them back, as from Kafka. A
// result with data does not wait for the rest: waiting for every partition's writer held
// 1,000-partition fetches and re-read all of them at every write (results/broker.md).
func (f *fetchResult) ready(r *kmsg.FetchRequest) bool {
	if f.hasError {
		return true
	}
	if f.unwritten && f.bytes == 0 {
		return false
	}
	return f.bytes >= int64(r.MinBytes) || r.MaxWaitMillis <= 0
}

// send answers with the result, counts the bytes out and records what the session was told.
func (f *fetchResult) send(w netio.ResponseWriter, plan *fetchPlan) {
	for _, pr := range f.results {
		if pr.region != nil && pr.t != nil {
			pr.t.metrics.bytesOut.Add(pr.region.Len)
		}
	}
	plan.sent(f.results)
	w.Respond(f.parts...)
}

// release unpins the regions of a result that will not be sent.
func (f *fetchResult) release() {
	for _, reg := range f.regions {
		reg.Release()
	}
	f.regions = nil
}

// fetchOnce reads every planned partition once and frames the response.
func (b *Broker) fetchOnce(r *kmsg.FetchRequest, plan *fetchPlan) fetchResult {
	var res fetchResult
	budget := int64(r.MaxBytes)
	if budget <= 0 {
		budget = math.MaxInt32
	}
	res.results = make([]partResult, len(plan.parts))
	if plan.errorCode == errNone {
		for i, fp := range plan.parts {
			pr := &res.results[i]
			p := b.lookupPartition(fp.topic, fp.partition)
			if p == nil {
				pr.code, pr.hw, pr.logStart = errUnknownTopicOrPartition, -1, -1
			} else if code := fetchAllowed(p, r.ReplicaID, fp.currentLeaderEpoch); code != errNone {
				pr.code, pr.hw, pr.logStart = code, -1, -1
			} else {
				pr.t = p.topic
				pr.hw, pr.logStart = p.log.HighWatermark(), p.log.LogStartOffset()
				upTo := pr.hw // consumers read below the high watermark only
				if r.ReplicaID >= 0 && p.replica.Load() != nil {
					upTo = p.log.LogEndOffset() // followers copy everything
				}
				maxBytes := max(min(int64(fp.maxBytes), budget-res.bytes), 0)
				got, err := p.log.Read(fp.offset, maxBytes, upTo, res.bytes == 0)
				switch {
				case errors.Is(err, log.ErrOffsetOutOfRange):
					pr.code = errOffsetOutOfRange
				case err != nil:
					pr.code = errKafkaStorage
				case got.Len > 0:
					pr.region = &got
					res.regions = append(res.regions, pr.region)
					res.bytes += got.Len
				}
				if got.Unwritten && r.ReplicaID < 0 {
					// Consumers only: a follower takes what is written and fetches on at once,
					// which keeps replication's pace as it was.
					res.unwritten = true
				}
			}
			if pr.code != errNone {
				res.hasError = true
			}
			pr.include = !plan.incremental || pr.region != nil || pr.code != errNone ||
				fp.sess == nil || pr.hw != fp.sess.sentHW || pr.logStart != fp.sess.sentLogStart
		}
	} else {
		res.hasError = true
	}

	e := fetchEncoder{v: r.Version}
	e.int32(0) // ThrottleMillis
	if e.v >= 7 {
		e.int16(plan.errorCode)
		e.int32(plan.sessionID)
	}
	// Topics in first-appearance order, each with its included partitions.
	type topicGroup struct {
		name string
		idx  []int
	}
	var groups []topicGroup
	pos := map[string]int{}
	for i, fp := range plan.parts {
		if !res.results[i].include {
			continue
		}
		g, ok := pos[fp.topic]
		if !ok {
			g = len(groups)
			pos[fp.topic] = g
			groups = append(groups, topicGroup{name: fp.topic})
		}
		groups[g].idx = append(groups[g].idx, i)
	}
	e.arrayLen(len(groups))
	for _, g := range groups {
		e.string(g.name)
		e.arrayLen(len(g.idx))
		for _, i := range g.idx {
			pr := &res.results[i]
			e.int32(plan.parts[i].partition)
			e.int16(pr.code)
			e.int64(pr.hw)
			e.int64(pr.hw) // LastStableOffset
			if e.v >= 5 {
				e.int64(pr.logStart)
			}
			e.nullArray() // AbortedTransactions
			if e.v >= 11 {
				e.int32(-1) // PreferredReadReplica
			}
			e.records(pr.region)
			e.tags()
		}
		e.tags()
	}
	e.tags()
	res.parts = e.finish()
	return res
}

// fetchAllowed checks a partition may be read here: always when it is not replicated (this node
// is its only replica), else only from its leader in its epoch, and by a follower only if it is a
// replica.
func fetchAllowed(p *partition, replicaID, currentLeaderEpoch int32) int16 {
	rp := p.replica.Load()
	if rp == nil {
		return errNone
	}
	v := rp.View()
	if code := leaderEpochCode(v, currentLeaderEpoch); code != errNone {
		return code
	}
	if replicaID >= 0 && !v.IsReplica(replicaID) {
		return errNotLeaderOrFollower
	}
	return errNone
}

// fetchEncoder frames a Fetch response (v4-12) as byte parts interleaved with file regions.
type fetchEncoder struct {
	v     int16
	buf   []byte
	parts []netio.Part
}

func (e *fetchEncoder) flexible() bool { return e.v >= 12 }
func (e *fetchEncoder) int16(x int16)  { e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(x)) }
func (e *fetchEncoder) int32(x int32)  { e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(x)) }
func (e *fetchEncoder) int64(x int64)  { e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(x)) }
func (e *fetchEncoder) uvarint(x uint64) {
	e.buf = binary.AppendUvarint(e.buf, x)
}

func (e *fetchEncoder) string(s string) {
	if e.flexible() {
		e.uvarint(uint64(len(s)) + 1)
	} else {
		e.int16(int16(len(s)))
	}
	e.buf = append(e.buf, s...)
}

func (e *fetchEncoder) arrayLen(n int) {
	if e.flexible() {
		e.uvarint(uint64(n) + 1)
	} else {
		e.int32(int32(n))
	}
}

func (e *fetchEncoder) nullArray() {
	if e.flexible() {
		e.uvarint(0)
	} else {
		e.int32(-1)
	}
}

func (e *fetchEncoder) tags() {
	if e.flexible() {
		e.uvarint(0)
	}
}

// records writes the RecordBatches length, then the region as a file part.
func (e *fetchEncoder) records(reg *log.Region) {
	var n int64
	if reg != nil {
		n = reg.Len
	}
	if e.flexible() {
		e.uvarint(uint64(n) + 1)
	} else {
		e.int32(int32(n))
	}
	if n == 0 {
		return
	}
	e.parts = append(e.parts, netio.Part{Bytes: e.buf})
	e.buf = nil
	e.parts = append(e.parts, netio.Part{File: &netio.FileRegion{Fd: reg.Fd, Offset: reg.Pos, Len: reg.Len, Release: reg.Release}})
}

func (e *fetchEncoder) finish() []netio.Part {
	if len(e.buf) > 0 {
		e.parts = append(e.parts, netio.Part{Bytes: e.buf})
	}
	return e.parts
}
