package broker

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/sluicemq/sluice/netio"
)

// produceRun serves one Produce v3-11 request on the hand-written path, element by element:
// each partition's batch is validated and written as soon as its bytes are there. serveProduceWire
// hands it a whole body; for a frame of netio.StreamFrameMinBytes or more, netio hands it the body
// while it arrives (StreamFrame), so that a 12-partition request's batches are checked and written
// while they are in the CPU cache rather than read back cold once the last partition has arrived
// (results/broker.md, "streamed Produce").
//
// A streamed request is acted on before it is known to be well formed: a request whose end turns
// out malformed (or that never arrives whole) has had its earlier partitions stored, where Kafka
// stores nothing of a request it cannot parse. Clients do not send such requests; a connection lost
// mid-request is retried by the client, and an idempotent producer's retry is answered from its
// de-duplication window (as after a lost response). A whole request is still checked first
// (produceWellFormed) and a malformed one changes nothing.
type produceRun struct {
	b        *Broker
	version  int16
	flexible bool
	step     produceStep
	done     int // body bytes acted on: every element before done has been handled
	// elementLeft: after Arrived, the bytes still to arrive that complete the partition it waits
	// for (0: unknown, or not waiting for a partition); netio.ElementSizer.
	elementLeft int

	transactional bool
	acks          int16
	timeoutMs     int32
	topicsLeft    int
	partsLeft     int
	topic         *topic // the current topic; nil when unknown

	out   wireWriter    // the response, built as the partitions are served
	waits []durableWait // acknowledgements that wait (acks=all, flush.messages)
}

// produceStep is the element a produceRun expects next.
type produceStep uint8

const (
	stepRequest    produceStep = iota // transactional id, acks, timeout, topic count
	stepTopic                         // a topic's name and partition count
	stepPartition                     // a partition: index, records, tags
	stepTopicEnd                      // a topic's tags
	stepRequestEnd                    // the request's tags
	stepDone
)

var produceRuns = sync.Pool{New: func() any { return new(produceRun) }}

// newProduceRun returns a pooled run for a request of this version.
func newProduceRun(b *Broker, version int16) *produceRun {
	run := produceRuns.Get().(*produceRun)
	*run = produceRun{b: b, version: version, flexible: version >= 9, waits: run.waits[:0]}
	run.out = wireWriter{b: netio.NewBuffer(produceResponseBytes), flexible: run.flexible}
	return run
}

// StreamFrame implements netio.StreamingHandler: large Produce v3+ frames are served as they
// arrive (produceRun).
func (b *Broker) StreamFrame(apiKey, apiVersion int16) netio.FrameStream {
	if apiKey != 0 || apiVersion < 3 || apiVersion > apis[0].max {
		return nil
	}
	return newProduceRun(b, apiVersion)
}

// Arrived implements netio.FrameStream: it consumes every element it acted on, so finish sees
// only the rest.
func (run *produceRun) Arrived(body []byte) int {
	run.advance(body)
	n := run.done
	run.elementLeft = run.partitionLeft(body[n:])
	run.done = 0
	return n
}

var _ netio.ElementSizer = (*produceRun)(nil)

// ElementRemaining implements netio.ElementSizer: netio ends its next read where the partition
// this run waits for ends.
func (run *produceRun) ElementRemaining() int { return run.elementLeft }

// partitionLeft returns how many bytes beyond rest complete the partition element at its front,
// once its index and records length are in; 0 when the run waits for something else, the length
// is not in yet, or the element is (by its length) whole. Counts one byte of the partition's tag
// section in flexible versions, its usual size (an empty section); a longer one arrives in the
// reads after.
func (run *produceRun) partitionLeft(rest []byte) int {
	if run.step != stepPartition || len(rest) <= 4 {
		return 0
	}
	pos, n := 4, int64(0) // after the partition index: the records' length
	if run.flexible {
		v, k := binary.Uvarint(rest[pos:])
		if k <= 0 {
			return 0
		}
		pos, n = pos+k, int64(min(v, math.MaxInt32))-1 // compact: length+1, 0 for null
	} else {
		if len(rest) < pos+4 {
			return 0
		}
		pos, n = pos+4, int64(int32(binary.BigEndian.Uint32(rest[pos:])))
	}
	end := int64(pos) + max(n, 0)
	if run.flexible {
		end++
	}
	return int(max(end-int64(len(rest)), 0))
}

// Abandon implements netio.FrameStream: the request will never be whole, so nothing is answered.
// What was stored stays stored (and replicates); nobody waits for it.
func (run *produceRun) Abandon() {
	netio.RecycleBuffer(run.out.b)
	run.recycle()
}

func (run *produceRun) recycle() {
	clear(run.waits) // drop the partitions they point to
	*run = produceRun{waits: run.waits[:0]}
	produceRuns.Put(run)
}

// advance acts on every element of body after done that is there whole. body is the request
// body so far; it only grows between calls. An element that does not parse may be one still
// arriving, so advance stops there; finish tells the two apart.
func (run *produceRun) advance(body []byte) {
	for run.step != stepDone {
		r := wireReader{b: body[run.done:], flexible: run.flexible}
		switch run.step {
		case stepRequest:
			_, transactional := r.nullableString()
			acks, timeoutMs := r.int16(), r.int32()
			ntopics := r.arrayLen()
			if !r.ok() {
				return
			}
			run.transactional, run.acks, run.timeoutMs, run.topicsLeft = transactional, acks, timeoutMs, ntopics
			run.out.arrayLen(ntopics)
			run.step = stepTopic
			if ntopics == 0 {
				run.step = stepRequestEnd
			}
		case stepTopic:
			name := r.string()
			nparts := r.arrayLen()
			if !r.ok() {
				return
			}
			run.topic = run.b.lookupTopic(string(name)) // no allocation: map index by converted bytes
			run.out.string(name)
			run.out.arrayLen(nparts)
			run.partsLeft = nparts
			run.step = stepPartition
			if nparts == 0 {
				run.step = stepTopicEnd
			}
		case stepPartition:
			index := r.int32()
			records := r.nullableBytes()
			r.skipTags()
			if !r.ok() {
				return
			}
			run.partition(index, records)
			if run.partsLeft--; run.partsLeft == 0 {
				run.step = stepTopicEnd
			}
		case stepTopicEnd:
			if r.skipTags(); !r.ok() {
				return
			}
			run.out.tags()
			run.step = stepTopic
			if run.topicsLeft--; run.topicsLeft == 0 {
				run.step = stepRequestEnd
			}
		case stepRequestEnd:
			if r.skipTags(); !r.ok() {
				return
			}
			run.step = stepDone
		}
		run.done = len(body) - len(r.b)
	}
}

// partition stores one partition's records and adds its answer to the response.
func (run *produceRun) partition(index int32, records []byte) {
	res, p := run.b.producePartition(run.version, run.topic, index, records, run.acks, run.transactional)
	out := &run.out
	out.int32(index)
	errPos := len(out.b)
	out.int16(res.code)
	out.int64(res.baseOffset)
	out.int64(res.logAppendTime)
	if run.version >= 5 {
		out.int64(res.logStartOffset)
	}
	if run.version >= 8 {
		out.arrayLen(0) // ErrorRecords
		out.nullableString(res.msg, res.msg != "")
	}
	out.tags()
	if dw, ok := res.wait(p, errPos); ok {
		run.waits = append(run.waits, dw)
	}
}

// finish acts on the rest of the whole body and answers w, recycling the run. It returns false,
// answering nothing, when the body is malformed; the caller closes the connection.
func (run *produceRun) finish(body []byte, w netio.ResponseWriter) bool {
	run.advance(body)
	if run.step != stepDone || run.done != len(body) {
		netio.RecycleBuffer(run.out.b)
		run.recycle()
		return false
	}
	run.out.int32(0) // ThrottleMillis
	run.out.tags()
	switch body := run.out.b; {
	case run.acks == 0:
		w.NoResponse()
		netio.RecycleBuffer(body)
	case len(run.waits) == 0:
		respondRecycled(w, body)
	default:
		waits := run.waits // outlives the run, which starts a new slice
		run.waits = nil
		run.b.afterDurable(waits, run.timeoutMs, func(dw durableWait, code int16) {
			binary.BigEndian.PutUint16(body[dw.errPos:], uint16(code))
		}, func() { respondRecycled(w, body) })
	}
	run.recycle()
	return true
}
