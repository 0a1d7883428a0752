package broker

// Fetch: v4-12 (by topic name; v13+ names topics by id and is not advertised). No fetch sessions
// yet: every response carries SessionID 0, which Kafka clients treat as "send full requests"
// (what a Kafka broker does when its session cache is full). Isolation levels read up to the
// high watermark alike (no transactions, so the last stable offset is the high watermark).
// Long poll: when less than MinBytes is ready the request parks, off the event loop, until an
// append or MaxWaitMillis. Record data is never copied: the response is framed here by hand
// (kmsg's encoder would copy the records) and the batches go out as file regions (sendfile).

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/netio"
)

func init() { register(1, 4, 12, serveFetch) }

// maxFetchWait bounds how long a fetch may park, whatever the client asks.
const maxFetchWait = 30 * time.Second

func serveFetch(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
	r := kreq.(*kmsg.FetchRequest)
	res := b.fetchOnce(r)
	if res.ready(r) {
		res.send(w)
		return
	}
	res.release()
	b.parked.Add(1)
	b.fetchWaiters.Add(1)
	go func() {
		defer b.parked.Done()
		defer b.fetchWaiters.Add(-1)
		wait := min(time.Duration(r.MaxWaitMillis)*time.Millisecond, maxFetchWait)
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for {
			appended := *b.appended.Load() // before reading, so no append is missed
			res := b.fetchOnce(r)
			if res.ready(r) {
				res.send(w)
				return
			}
			select {
			case <-appended:
				res.release()
			case <-timer.C:
				res.send(w)
				return
			case <-b.stop:
				res.send(w)
				return
			}
		}
	}()
}

type fetchResult struct {
	parts    []netio.Part
	counted  []countedBytes // per-topic bytes out, added when the response is sent
	regions  []*log.Region
	bytes    int64
	hasError bool
}

func (f *fetchResult) ready(r *kmsg.FetchRequest) bool {
	return f.hasError || f.bytes >= int64(r.MinBytes) || r.MaxWaitMillis <= 0
}

type countedBytes struct {
	t *topic
	n int64
}

// send answers with the result and counts the bytes out.
func (f *fetchResult) send(w netio.ResponseWriter) {
	for _, c := range f.counted {
		c.t.metrics.bytesOut.Add(c.n)
	}
	w.Respond(f.parts...)
}

// release unpins the regions of a result that will not be sent.
func (f *fetchResult) release() {
	for _, reg := range f.regions {
		reg.Release()
	}
	f.regions = nil
}

// fetchOnce reads every requested partition once and frames the response.
func (b *Broker) fetchOnce(r *kmsg.FetchRequest) fetchResult {
	var res fetchResult
	budget := int64(r.MaxBytes)
	if r.Version < 3 || budget <= 0 {
		budget = math.MaxInt32
	}
	e := fetchEncoder{v: r.Version}
	e.int32(0) // ThrottleMillis
	if e.v >= 7 {
		e.int16(errNone)
		e.int32(0) // SessionID: no session
	}
	e.arrayLen(len(r.Topics))
	for _, rt := range r.Topics {
		e.string(rt.Topic)
		e.arrayLen(len(rt.Partitions))
		for _, rp := range rt.Partitions {
			p := b.lookupPartition(rt.Topic, rp.Partition)
			code := errNone
			var hw, logStart int64 = -1, -1
			var reg *log.Region
			if p == nil {
				code = errUnknownTopicOrPartition
			} else {
				hw, logStart = p.log.HighWatermark(), p.log.LogStartOffset()
				maxBytes := min(int64(rp.PartitionMaxBytes), budget-res.bytes)
				if maxBytes < 0 {
					maxBytes = 0
				}
				got, err := p.log.Read(rp.FetchOffset, maxBytes, hw, res.bytes == 0)
				switch {
				case errors.Is(err, log.ErrOffsetOutOfRange):
					code = errOffsetOutOfRange
				case err != nil:
					code = errKafkaStorage
				case got.Len > 0:
					reg = &got
					res.counted = append(res.counted, countedBytes{p.topic, got.Len})
					res.regions = append(res.regions, reg)
					res.bytes += got.Len
				}
			}
			if code != errNone {
				res.hasError = true
			}
			e.int32(rp.Partition)
			e.int16(code)
			e.int64(hw)
			e.int64(hw) // LastStableOffset
			if e.v >= 5 {
				e.int64(logStart)
			}
			e.nullArray() // AbortedTransactions
			if e.v >= 11 {
				e.int32(-1) // PreferredReadReplica
			}
			e.records(reg)
			e.tags()
		}
		e.tags()
	}
	e.tags()
	res.parts = e.finish()
	return res
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
