package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/netio"
)

// streamProduce serves body as netio serves a streamed frame: StreamFrame, Arrived with every
// prefix ending at a multiple of step less what the stream consumed, then ServeKafka's path with
// the rest.
func streamProduce(t *testing.T, b *Broker, v int16, body []byte, step int, w netio.ResponseWriter) {
	t.Helper()
	s := b.StreamFrame(0, v)
	if s == nil {
		t.Fatalf("v%d: Produce not streamed", v)
	}
	off := 0 // what the stream consumed
	for n := step; n < len(body); n += step {
		off += s.Arrived(body[off:n])
	}
	if !serveProduceWire(b, &netio.Request{APIKey: 0, APIVersion: v, Body: body[off:], Stream: s}, w) {
		t.Fatalf("v%d: wire path declined a streamed request", v)
	}
}

// TestProduceStreamedMatchesWhole: a Produce request served as it arrives — in pieces of any size,
// down to one byte — answers byte for byte as the same request served whole, and stores the same
// batches, for every version and acks value, with good, unknown, corrupt and oversize partitions.
func TestProduceStreamedMatchesWhole(t *testing.T) {
	for v := int16(3); v <= 11; v++ {
		for _, step := range []int{1, 5, 64, 1 << 20} {
			whole, streamed := newTestBroker(t), newTestBroker(t)
			for _, acks := range []int16{1, -1, 0, 7} {
				body := mixedProduceBody(v, acks)
				var cw, cs captureWriter
				serveProduceWire(whole, &netio.Request{APIKey: 0, APIVersion: v, Body: body}, &cw)
				streamProduce(t, streamed, v, body, step, &cs)
				if cw.calls != 1 || cs.calls != 1 || cw.none != cs.none || cw.closed || cs.closed || !bytes.Equal(cw.body, cs.body) {
					t.Fatalf("v%d acks %d step %d: streamed answer %+v, whole %+v", v, acks, step, cs, cw)
				}
			}
			for _, p := range []int32{0, 1} {
				a, b := readAllBatches(t, whole, "a", p), readAllBatches(t, streamed, "a", p)
				if !bytes.Equal(a, b) || len(a) == 0 {
					t.Fatalf("v%d step %d: partition a-%d holds %d bytes streamed, %d whole", v, step, p, len(b), len(a))
				}
			}
		}
	}
}

// readAllBatches returns a partition's log bytes, every append written.
func readAllBatches(t *testing.T, b *Broker, topic string, index int32) []byte {
	t.Helper()
	p := b.lookupPartition(topic, index)
	if err := p.log.WaitWritten(); err != nil { // write-behind: every append is in the file
		t.Fatal(err)
	}
	r, err := p.log.Read(0, 1<<30, p.log.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	data, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestProduceStreamedMalformedEnd: the departure streaming makes from a whole request's
// all-or-nothing check, pinned down. A streamed request whose end is malformed closes the
// connection like a whole one, but the partitions that arrived whole before it are stored; one
// abandoned mid-way (the connection closed) keeps those too and answers nothing.
func TestProduceStreamedMalformedEnd(t *testing.T) {
	body, batch := twoRecordProduceBody()

	b := newTestBroker(t)
	var cw captureWriter
	streamProduce(t, b, 9, append(body, 0), 1, &cw) // a byte after the request's end
	if !cw.closed || cw.calls != 1 {
		t.Fatalf("a request with a trailing byte answered %+v, want the connection closed", cw)
	}
	if leo := b.lookupPartition("a", 0).log.LogEndOffset(); leo != 2 {
		t.Fatalf("streamed request with a malformed end stored %d records, want both partitions' 2", leo)
	}
	var whole captureWriter
	serveProduceWire(b, &netio.Request{APIKey: 0, APIVersion: 9, Body: append(body, 0)}, &whole)
	if leo := b.lookupPartition("a", 0).log.LogEndOffset(); !whole.closed || leo != 2 {
		t.Fatalf("the same request served whole: %+v, log end %d; want closed and nothing stored", whole, leo)
	}

	// Abandoned after the first partition and half the second.
	s := b.StreamFrame(0, 9)
	firstEnd := len(body) - len(batch) - 2 // the second partition's records and tags remain
	for n, off := 1, 0; n < firstEnd+len(batch)/2; n++ {
		off += s.Arrived(body[off:n])
	}
	s.Abandon()
	if leo := b.lookupPartition("a", 0).log.LogEndOffset(); leo != 3 {
		t.Fatalf("abandoned stream: log end %d, want 3 (its first partition stored)", leo)
	}
}

// TestFranzGoStreamedProduce: a franz-go producer whose requests are megabytes (8 partitions of
// 1 MB batches, as in the produce benchmark) has them served as they arrive, and every record comes
// back once, in order per partition, with its value intact.
func TestFranzGoStreamedProduce(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	ctx := context.Background()
	if _, err := kadm.NewClient(tb.client()).CreateTopic(ctx, 8, 1, nil, "big"); err != nil {
		t.Fatal(err)
	}
	const n = 24000
	value := func(i int) []byte {
		v := make([]byte, 1024)
		x := uint64(i)*0x9e3779b97f4a7c15 + 1
		for j := range v {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			v[j] = byte(x)
		}
		binary.BigEndian.PutUint32(v, uint32(i))
		return v
	}
	// A long linger, so that batches fill (1 MB) and one request carries several partitions.
	prod := tb.client(kgo.DefaultProduceTopic("big"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(time.Second), kgo.ProducerBatchMaxBytes(1_000_000), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Value: value(i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := tb.srv.Stats(); st.RequestsStreamed == 0 {
		t.Fatalf("no request was streamed (%+v): the test does not exercise the streamed path", st)
	}
	last := map[int32]int{}
	seen := make([]bool, n)
	for _, r := range consumeAll(t, tb, "big", n) {
		i := int(binary.BigEndian.Uint32(r.Value))
		if i >= n || seen[i] || !bytes.Equal(r.Value, value(i)) {
			t.Fatalf("partition %d offset %d: record %d duplicated or corrupt", r.Partition, r.Offset, i)
		}
		seen[i] = true
		if prev, ok := last[r.Partition]; ok && i <= prev {
			t.Fatalf("partition %d: record %d after %d", r.Partition, i, prev)
		}
		last[r.Partition] = i
	}
}

// TestProduceStreamTellsWherePartitionsEnd: a streamed Produce request says, after each Arrived,
// how many more bytes complete the partition it waits for (netio.ElementSizer, which netio ends
// its reads with), in flexible and older versions, for known and unknown topics: never a wrong
// end, and the right one at least from the byte before the end. The request is then served as
// usual.
func TestProduceStreamTellsWherePartitionsEnd(t *testing.T) {
	for _, v := range []int16{3, 8, 9, 11} {
		b := newTestBroker(t)
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = v, 1, 1000
		var batches [][]byte
		for ti, topic := range []string{"a", "missing"} {
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = topic
			for p, size := range []int{10, 3000, 70_000} {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = int32(p % 2)
				value := bytes.Repeat([]byte{byte('a' + 3*ti + p)}, size) // every batch differs
				rp.Records = record.AppendBatch(nil, record.BatchSpec{ProducerID: -1}, []record.Record{{Value: value}})
				batches = append(batches, rp.Records)
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		body := req.AppendTo(nil)
		var ends []int // where each partition element ends in body
		for _, batch := range batches {
			end := bytes.Index(body, batch) + len(batch)
			if v >= 9 {
				end++ // the partition's tag section, empty: one byte
			}
			ends = append(ends, end)
		}
		s := b.StreamFrame(0, v)
		sizer, ok := s.(netio.ElementSizer)
		if !ok {
			t.Fatalf("v%d: the Produce stream does not say where its partitions end", v)
		}
		off, e := 0, 0 // consumed; the next partition end not yet arrived
		for n := 1; n < len(body); n++ {
			off += s.Arrived(body[off:n])
			for e < len(ends) && ends[e] <= n {
				e++
			}
			got := sizer.ElementRemaining()
			switch {
			case got != 0 && (e == len(ends) || n+got != ends[e]):
				t.Fatalf("v%d: with %d bytes in, %d more said to end the partition; it ends at %v", v, n, got, ends)
			case e < len(ends) && n == ends[e]-1 && got != 1:
				t.Fatalf("v%d: one byte before partition %d's end, %d more said to end it", v, e, got)
			}
		}
		var w captureWriter
		if !serveProduceWire(b, &netio.Request{APIKey: 0, APIVersion: v, Body: body[off:], Stream: s}, &w) || w.calls != 1 || w.closed {
			t.Fatalf("v%d: the streamed request was not answered: %+v", v, w)
		}
		if got := b.lookupPartition("a", 0).log.LogEndOffset(); got != 2 {
			t.Fatalf("v%d: partition a-0 holds %d records, want 2", v, got)
		}
	}
}
