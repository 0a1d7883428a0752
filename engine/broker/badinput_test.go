package broker

// Bad input from one client must cost that client its connection (or its request a per-partition
// error) and nothing else: TestBadInputHurtsOnlyItsSender throws the input faults of
// ../shared/RELIABILITY.md at one broker while a franz-go producer and consumer keep working on
// their own connections, then checks they never noticed.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/netio"
)

// steadyPair is a franz-go producer and consumer working on one topic in the background: the
// producer sends "s-0", "s-1", … one at a time with acks=all (idempotent, franz-go's default);
// the consumer checks it reads exactly that sequence.
type steadyPair struct {
	t        *testing.T
	tb       *testBroker
	topic    string
	prod     *kgo.Client
	produced atomic.Int64
	consumed atomic.Int64
	stopProd chan struct{}
	prodDone chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	errs     []error
}

func startSteadyPair(t *testing.T, tb *testBroker, topic string) *steadyPair {
	sp := &steadyPair{t: t, tb: tb, topic: topic, stopProd: make(chan struct{}), prodDone: make(chan struct{})}
	sp.prod = tb.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.AllowAutoTopicCreation())
	cons := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	sp.cancel = cancel
	// The first record creates the topic, so the consumer has something to find.
	sp.produceOne(ctx)
	sp.wg.Add(1)
	go func() {
		defer close(sp.prodDone)
		for {
			select {
			case <-sp.stopProd:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if !sp.produceOne(ctx) {
				return
			}
		}
	}()
	go func() {
		defer sp.wg.Done()
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachError(func(tp string, p int32, err error) {
				if ctx.Err() == nil {
					sp.fail(fmt.Errorf("consume %s/%d: %w", tp, p, err))
				}
			})
			for _, r := range fs.Records() {
				if want := fmt.Sprintf("s-%d", sp.consumed.Load()); string(r.Value) != want {
					sp.fail(fmt.Errorf("consumed %q at offset %d, want %q", r.Value, r.Offset, want))
				}
				sp.consumed.Add(1)
			}
		}
	}()
	return sp
}

func (sp *steadyPair) fail(err error) {
	sp.mu.Lock()
	sp.errs = append(sp.errs, err)
	sp.mu.Unlock()
}

func (sp *steadyPair) produceOne(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n := sp.produced.Load()
	if err := sp.prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "s-%d", n)}).FirstErr(); err != nil {
		sp.fail(fmt.Errorf("produce s-%d: %w", n, err))
		return false
	}
	sp.produced.Add(1)
	return true
}

// finish stops the producer, produces and consumes one more record, and fails the test if the
// pair ever saw an error or stalled.
func (sp *steadyPair) finish(minProduced int64) {
	sp.t.Helper()
	// Keep producing until the pair has shown it works (at least minProduced records), however
	// quickly the bad input went by.
	for deadline := time.Now().Add(15 * time.Second); sp.produced.Load() < minProduced && time.Now().Before(deadline); {
		select {
		case <-sp.prodDone:
			deadline = time.Time{} // the producer failed: its error is reported below
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(sp.stopProd)
	defer func() {
		sp.cancel()
		sp.wg.Wait()
	}()
	// The producer loop ends before the final record, so the sequence stays ordered.
	select {
	case <-sp.prodDone:
	case <-time.After(15 * time.Second):
		sp.t.Fatalf("the steady producer did not stop")
	}
	before := sp.produced.Load()
	if before < minProduced {
		sp.t.Errorf("the steady producer managed only %d records in 15 s (want ≥ %d)", before, minProduced)
	}
	sp.produceOne(context.Background())
	want := sp.produced.Load()
	for deadline := time.Now().Add(15 * time.Second); sp.consumed.Load() < want && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := sp.consumed.Load(); got != want {
		sp.t.Errorf("the steady consumer read %d of %d records", got, want)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, err := range sp.errs {
		sp.t.Errorf("steady pair: %v", err)
	}
}

func TestBadInputHurtsOnlyItsSender(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	setup := dialRaw(t, tb.addr)
	rawCreateTopic(t, setup, "bad", 2)
	pair := startSteadyPair(t, tb, "steady")

	// A connection that sends half a frame and then nothing, held open throughout.
	stuck := dialRaw(t, tb.addr)
	stuck.write([]byte{0, 0, 0x03, 0xe8, 0, 3, 0, 1, 0, 0})

	t.Run("unknown api key", func(t *testing.T) {
		for _, key := range []int16{999, -1, 17, kmsg.MaxKey, 32767} {
			c := dialRaw(t, tb.addr)
			c.sendBody(key, 0, false, nil)
			c.expectClosed(fmt.Sprintf("api key %d", key))
		}
	})

	t.Run("truncated body", func(t *testing.T) {
		for _, v := range []int16{7, 9} {
			body := produceReq(v, "bad", map[int32][]byte{0: testBatch(time.Now().UnixMilli(), "t")}).AppendTo(nil)
			for _, cut := range []int{0, 1, len(body) / 2, len(body) - 1} {
				req := versioned(kmsg.NewPtrProduceRequest(), v)
				if req.ReadFrom(body[:cut]) == nil {
					t.Fatalf("produce v%d cut to %d of %d bytes still decodes: pick another cut", v, cut, len(body))
				}
				c := dialRaw(t, tb.addr)
				c.sendBody(0, v, v >= 9, body[:cut])
				c.expectClosed(fmt.Sprintf("produce v%d cut to %d of %d bytes", v, cut, len(body)))
			}
		}
	})

	t.Run("random body", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for key, a := range apis {
			for _, v := range []int16{a.min, a.max} {
				empty := kmsg.RequestForKey(key)
				empty.SetVersion(v)
				if empty.ReadFrom(nil) == nil {
					continue // no fields (ApiVersions v0-2, ListGroups v0-2): nothing can fail to decode
				}
				body := make([]byte, 64)
				for tries := 0; ; tries++ {
					for i := range body {
						body[i] = byte(rng.Uint32())
					}
					req := kmsg.RequestForKey(key)
					req.SetVersion(v)
					if req.ReadFrom(body) != nil {
						break
					}
					if tries == 100 {
						t.Fatalf("key %d v%d: 100 random bodies all decode", key, v)
					}
				}
				c := dialRaw(t, tb.addr)
				c.sendBody(key, v, flexibleRequest(key, v), body)
				c.expectClosed(fmt.Sprintf("key %d v%d with a random body", key, v))
			}
		}
	})

	t.Run("array count 2^31-1", func(t *testing.T) {
		maxCount := []byte{0x7f, 0xff, 0xff, 0xff}
		compactMax := []byte{0x80, 0x80, 0x80, 0x80, 0x08} // uvarint 2^31: count 2^31-1
		cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
		for _, tc := range []struct {
			name         string
			key, version int16
			body         []byte
		}{
			{"metadata topics", 3, 1, maxCount},
			{"metadata topics, compact", 3, 12, compactMax},
			{"produce topics", 0, 7, cat([]byte{0xff, 0xff, 0, 1, 0, 0, 0x13, 0x88}, maxCount)},
			{"produce records length", 0, 7, cat([]byte{0xff, 0xff, 0, 1, 0, 0, 0x13, 0x88, 0, 0, 0, 1, 0, 3, 'b', 'a', 'd', 0, 0, 0, 1, 0, 0, 0, 0}, maxCount, make([]byte, 100))},
			{"produce partitions, compact", 0, 9, cat([]byte{0, 0, 1, 0, 0, 0x13, 0x88, 2, 4, 'b', 'a', 'd'}, compactMax)},
			{"fetch topics", 1, 4, cat([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0}, maxCount)},
			{"list offsets topics", 2, 1, cat([]byte{0xff, 0xff, 0xff, 0xff}, maxCount)},
			{"create topics", 19, 4, maxCount},
			{"delete topics", 20, 0, maxCount},
		} {
			req := kmsg.RequestForKey(tc.key)
			req.SetVersion(tc.version)
			if req.ReadFrom(tc.body) == nil {
				t.Fatalf("%s: body decodes", tc.name)
			}
			c := dialRaw(t, tb.addr)
			c.sendBody(tc.key, tc.version, flexibleRequest(tc.key, tc.version), tc.body)
			c.expectClosed(tc.name)
		}
	})

	t.Run("null for a non-nullable array", func(t *testing.T) {
		// Kafka's generated decoders reject these ("non-nullable field … was serialized as
		// null") and close the connection. Closing is right; answering is acceptable only with a
		// well-formed response, never with a null array of its own.
		for _, tc := range []struct {
			name    string
			version int16
			body    []byte
		}{
			{"topics", 7, []byte{0xff, 0xff, 0, 1, 0, 0, 0x13, 0x88, 0xff, 0xff, 0xff, 0xff}},
			{"topics, compact", 9, []byte{0, 0, 1, 0, 0, 0x13, 0x88, 0, 0}},
			{"partitions", 7, []byte{0xff, 0xff, 0, 1, 0, 0, 0x13, 0x88, 0, 0, 0, 1, 0, 3, 'b', 'a', 'd', 0xff, 0xff, 0xff, 0xff}},
			{"partitions, compact", 9, []byte{0, 0, 1, 0, 0, 0x13, 0x88, 2, 4, 'b', 'a', 'd', 0, 0, 0}},
		} {
			t.Run(fmt.Sprintf("%s v%d", tc.name, tc.version), func(t *testing.T) {
				c := dialRaw(t, tb.addr)
				corr := c.sendBody(0, tc.version, tc.version >= 9, tc.body)
				f, err := c.readFrame()
				if err != nil {
					return // closed, as Kafka does
				}
				if got := int32(binary.BigEndian.Uint32(f)); got != corr {
					t.Fatalf("correlation id %d, want %d", got, corr)
				}
				f = f[4:]
				if tc.version >= 9 {
					f = f[1:] // response header tags
				}
				decodeFully(t, versioned(kmsg.NewPtrProduceResponse(), tc.version), f)
			})
		}
	})

	t.Run("bad size prefix", func(t *testing.T) {
		for _, prefix := range [][]byte{
			{0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 1}, // 2^31-1
			{0xff, 0xff, 0xff, 0xff},             // -1
			{0x80, 0, 0, 0},                      // -2^31
			{0, 0, 0, 5, 0, 18, 0, 0, 0},         // shorter than a request header
			{0x16, 0x03, 0x01, 0x02, 0},          // a TLS ClientHello on the plaintext port
		} {
			c := dialRaw(t, tb.addr)
			c.write(prefix)
			c.expectClosed(fmt.Sprintf("size prefix % x", prefix[:4]))
		}
	})

	t.Run("unknown tagged fields", func(t *testing.T) {
		c := dialRaw(t, tb.addr)
		req := versioned(kmsg.NewPtrMetadataRequest(), 12)
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr("bad")
		mt.UnknownTags.Set(77, []byte{9, 9})
		req.Topics = append(req.Topics, mt)
		req.UnknownTags.Set(99, []byte{1, 2, 3})
		// Header v2 with a tagged field of its own (tag 5, 2 bytes) before the body.
		c.corr++
		c.write(rawRequestFrame(3, 12, c.corr, false, append([]byte{1, 5, 2, 0xaa, 0xbb}, req.AppendTo(nil)...)))
		resp := versioned(kmsg.NewPtrMetadataResponse(), 12)
		decodeFully(t, resp, c.readBody(c.corr, 3, true))
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 2 {
			t.Fatalf("metadata with unknown tagged fields: %+v", resp.Topics)
		}
	})

	t.Run("corrupt batches fail only their partition", func(t *testing.T) {
		c := dialRaw(t, tb.addr)
		now := time.Now().UnixMilli()
		good := testBatch(now, "good")
		flipped := testBatch(now, "flipped")
		flipped[len(flipped)-3] ^= 0x40 // a bit of the value: the CRC no longer matches
		longer := testBatch(now, "longer")
		binary.BigEndian.PutUint32(longer[8:], binary.BigEndian.Uint32(longer[8:])+10) // batchLength beyond the bytes sent
		two := append(testBatch(now, "one"), testBatch(now, "two")...)
		for _, tc := range []struct {
			name  string
			batch []byte
			code  int16 // 0: any non-zero code
		}{
			{"CRC mismatch", flipped, errCorruptMessage},
			{"batch longer than its bytes", longer, 0},
			{"two batches in one partition", two, 0},
			{"garbage", []byte("not a record batch at all, just some text that is long enough to hold a header"), 0},
			{"empty", []byte{}, 0},
		} {
			before := listOffset(t, c, apis[2].max, "bad", 0, -1).Offset
			got := producePartitions(t, c, produceReq(apis[0].max, "bad", map[int32][]byte{0: tc.batch, 1: good}))
			t.Logf("%s: partition 0 answered with error %d", tc.name, got[0].ErrorCode)
			if got[0].ErrorCode == 0 || (tc.code != 0 && got[0].ErrorCode != tc.code) {
				t.Errorf("%s: partition 0 got error %d, want %d (0: any error)", tc.name, got[0].ErrorCode, tc.code)
			}
			if got[1].ErrorCode != 0 || got[1].BaseOffset < 0 {
				t.Errorf("%s: the good batch in the same request got error %d base offset %d", tc.name, got[1].ErrorCode, got[1].BaseOffset)
			}
			if after := listOffset(t, c, apis[2].max, "bad", 0, -1).Offset; after != before {
				t.Errorf("%s: partition 0 grew from %d to %d", tc.name, before, after)
			}
		}
	})

	t.Run("message too large", func(t *testing.T) {
		c := dialRaw(t, tb.addr)
		limit := tb.b.cfg.MessageMaxBytes
		for _, tc := range []struct {
			size int
			code int16
		}{{int(limit), 0}, {int(limit) + 1, errMessageTooLarge}, {2 * int(limit), errMessageTooLarge}} {
			batch := batchOfSize(t, tc.size)
			if p := produceOne(t, c, apis[0].max, "bad", 1, batch); p.ErrorCode != tc.code {
				t.Errorf("batch of %d bytes (message.max.bytes %d): error %d, want %d", tc.size, limit, p.ErrorCode, tc.code)
			}
		}
		// The topic's max.message.bytes overrides the broker's.
		req := versioned(kmsg.NewPtrCreateTopicsRequest(), apis[19].max)
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "small-max", 1, 1
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = "max.message.bytes", kmsg.StringPtr("2000")
		rt.Configs = append(rt.Configs, cfg)
		req.Topics = append(req.Topics, rt)
		if r := c.do(req).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
			t.Fatalf("create small-max: %+v", r.Topics[0])
		}
		for size, code := range map[int]int16{2000: 0, 2001: errMessageTooLarge} {
			if p := produceOne(t, c, apis[0].max, "small-max", 0, batchOfSize(t, size)); p.ErrorCode != code {
				t.Errorf("batch of %d bytes to a topic with max.message.bytes=2000: error %d, want %d", size, p.ErrorCode, code)
			}
		}
	})

	t.Run("unknown topic or partition", func(t *testing.T) {
		c := dialRaw(t, tb.addr)
		batch := testBatch(time.Now().UnixMilli(), "x")
		if p := produceOne(t, c, apis[0].max, "no-such-topic", 0, batch); p.ErrorCode != errUnknownTopicOrPartition {
			t.Errorf("produce to a missing topic: error %d, want %d", p.ErrorCode, errUnknownTopicOrPartition)
		}
		if tb.b.lookupTopic("no-such-topic") != nil {
			t.Errorf("produce created no-such-topic (Kafka's Produce never auto-creates)")
		}
		for _, part := range []int32{2, 99, -1} {
			if p := produceOne(t, c, apis[0].max, "bad", part, batch); p.ErrorCode != errUnknownTopicOrPartition {
				t.Errorf("produce to bad/%d: error %d, want %d", part, p.ErrorCode, errUnknownTopicOrPartition)
			}
		}
	})

	t.Run("fetch out of range", func(t *testing.T) {
		c := dialRaw(t, tb.addr)
		hw := listOffset(t, c, apis[2].max, "bad", 1, -1).Offset
		if hw == 0 {
			t.Fatal("bad/1 is empty; the corrupt-batch case should have stored good batches there")
		}
		for _, off := range []int64{hw + 1, 1 << 40, -1, -1 << 62} {
			p := fetchPartition(t, c, fetchReq(apis[1].max, "bad", 1, off))
			if p.ErrorCode != errOffsetOutOfRange || len(p.RecordBatches) != 0 {
				t.Errorf("fetch at offset %d (high watermark %d): error %d with %d bytes, want %d", off, hw, p.ErrorCode, len(p.RecordBatches), errOffsetOutOfRange)
			}
		}
	})

	t.Run("invalid acks", func(t *testing.T) {
		c := dialRaw(t, tb.addr)
		before := listOffset(t, c, apis[2].max, "bad", 0, -1).Offset
		for _, acks := range []int16{5, 2, -2} {
			req := produceReq(apis[0].max, "bad", map[int32][]byte{0: testBatch(time.Now().UnixMilli(), "acks"), 1: testBatch(time.Now().UnixMilli(), "acks")})
			req.Acks = acks
			for p, r := range producePartitions(t, c, req) {
				if r.ErrorCode != errInvalidRequiredAcks {
					t.Errorf("acks=%d: partition %d got error %d, want %d", acks, p, r.ErrorCode, errInvalidRequiredAcks)
				}
			}
		}
		if after := listOffset(t, c, apis[2].max, "bad", 0, -1).Offset; after != before {
			t.Errorf("produce with invalid acks stored records: %d → %d", before, after)
		}
	})

	t.Run("idempotent producer", func(t *testing.T) {
		c := dialRaw(t, tb.addr)
		rawCreateTopic(t, c, "idem", 1)
		init := versioned(kmsg.NewPtrInitProducerIDRequest(), apis[22].max)
		init.ProducerID, init.ProducerEpoch = -1, -1
		ir := c.do(init).(*kmsg.InitProducerIDResponse)
		if ir.ErrorCode != 0 {
			t.Fatalf("init producer id: error %d", ir.ErrorCode)
		}
		now := time.Now().UnixMilli()
		batch := func(epoch int16, seq int32, values ...string) []byte {
			return testBatchSpec(record.BatchSpec{ProducerID: ir.ProducerID, ProducerEpoch: epoch, BaseSequence: seq, BaseTimestamp: now}, values...)
		}
		a, b := batch(0, 0, "a0", "a1", "a2"), batch(0, 3, "b3", "b4")
		for _, step := range []struct {
			name       string
			batch      []byte
			code       int16
			baseOffset int64
			end        int64 // log end offset afterwards
		}{
			{"first batch", a, 0, 0, 3},
			{"the same batch again", a, 0, 0, 3},
			{"next sequence", b, 0, 3, 5},
			{"the newest batch again", b, 0, 3, 5},
			{"an older batch again", a, 0, 0, 5},
			{"sequence gap", batch(0, 10, "gap"), errOutOfOrderSequence, -1, 5},
			{"new epoch from sequence 0", batch(1, 0, "e1"), 0, 5, 6},
			{"older epoch after the newer", batch(0, 5, "old"), errInvalidProducerEpoch, -1, 6},
			{"new epoch not from sequence 0", batch(2, 4, "e2"), errOutOfOrderSequence, -1, 6},
		} {
			p := produceOne(t, c, apis[0].max, "idem", 0, step.batch)
			if p.ErrorCode != step.code || (step.code == 0 && p.BaseOffset != step.baseOffset) {
				t.Errorf("%s: error %d base offset %d, want %d and %d", step.name, p.ErrorCode, p.BaseOffset, step.code, step.baseOffset)
			}
			if end := listOffset(t, c, apis[2].max, "idem", 0, -1).Offset; end != step.end {
				t.Errorf("after %s: log end offset %d, want %d", step.name, end, step.end)
			}
		}
		recs := decodeRecordBatches(t, fetchPartition(t, c, fetchReq(apis[1].max, "idem", 0, 0)).RecordBatches)
		var vals []string
		for _, r := range recs {
			vals = append(vals, r.value)
		}
		if got := strings.Join(vals, ","); got != "a0,a1,a2,b3,b4,e1" {
			t.Errorf("stored %s, want each batch once: a0,a1,a2,b3,b4,e1", got)
		}
	})

	pair.finish(10)
	// The stuck connection was never answered, and is still open.
	_ = stuck.conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if n, err := stuck.conn.Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
		t.Errorf("the connection holding half a frame: read %d bytes, %v", n, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(interface{ Timeout() bool })
	return ok && ne.Timeout()
}

// batchOfSize returns an uncompressed one-record batch of exactly size bytes (size ≥ 80).
func batchOfSize(t testing.TB, size int) []byte {
	t.Helper()
	valueLen := size - record.HeaderSize - 10
	for range 4 {
		b := testBatch(time.Now().UnixMilli(), strings.Repeat("m", valueLen))
		if len(b) == size {
			return b
		}
		valueLen += size - len(b)
	}
	t.Fatalf("cannot build a batch of exactly %d bytes", size)
	return nil
}

// TestMalformedRequestAllocationBounded: decoding a request must allocate in proportion to the
// bytes received with a small factor, whatever counts it claims. kmsg bounds an array count by
// the bytes left (times a minimum element size for arrays of structs) but then allocates the whole
// array at once, twice (make, then append's copy), so a count of N costs 2 × N × the element's
// Go size. With socket.request.max.bytes at 100 MiB, the factor measured here times 100 MiB is
// what one frame can make the broker allocate. Kafka's own decoder allocates an ArrayList of N
// references (4-8 bytes each) for the same frame; the bound here is 8× the frame.
func TestMalformedRequestAllocationBounded(t *testing.T) {
	b, err := New(func() Config { c := DefaultConfig(); c.LogDir = t.TempDir(); return c }())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// kmsg allocates a claimed array whole (up to ~64× the bytes that could hold it), so the broker
	// caps what it decodes: the worst a body at that cap can cost is the bound asserted here, and a
	// larger body is refused without decoding.
	const bodyBytes = maxDecodedRequestBytes - 64 // what follows the array count, at the cap
	const allocMaxBytes = 80 << 20
	for _, tc := range []struct {
		name         string
		key, version int16
		prefix       []byte // the body before the array count
	}{
		{"Produce topics", 0, 7, []byte{0xff, 0xff, 0, 1, 0, 0, 0x13, 0x88}},
		{"Fetch topics", 1, 4, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0}},
		{"ListOffsets topics", 2, 1, []byte{0xff, 0xff, 0xff, 0xff}},
		{"Metadata topics", 3, 1, nil},
		{"CreateTopics topics", 19, 4, nil},
		{"DeleteTopics names", 20, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Claim one element per k bytes for several k: kmsg's minimum element size decides
			// which counts it believes.
			var worst uint64
			var worstK int
			for _, k := range []int{1, 2, 3, 6, 12, 18} {
				body := append(bytes.Clone(tc.prefix), binary.BigEndian.AppendUint32(nil, uint32(bodyBytes/k))...)
				body = append(body, make([]byte, bodyBytes)...)
				// The first element fails at once: a string length of -2 is invalid everywhere.
				body[len(tc.prefix)+4], body[len(tc.prefix)+5] = 0xff, 0xfe
				w := newRecordingWriter(nil)
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				b.ServeKafka(&netio.Request{APIKey: tc.key, APIVersion: tc.version, Body: body}, w)
				runtime.ReadMemStats(&after)
				if kind, _, _ := w.result(); kind != "Close" {
					t.Fatalf("k=%d: answered %q, want Close", k, kind)
				}
				if a := after.TotalAlloc - before.TotalAlloc; a > worst {
					worst, worstK = a, k
				}
			}
			factor := float64(worst) / float64(bodyBytes)
			t.Logf("%s v%d: a %d-byte body allocates up to %d bytes (%.1f×, one element claimed per %d bytes)", tc.name, tc.version, bodyBytes, worst, factor, worstK)
			if worst > allocMaxBytes {
				t.Errorf("%s v%d: a %d-byte malformed request allocated %d bytes (%.0f×), above the %d-byte bound", tc.name, tc.version, bodyBytes, worst, factor, allocMaxBytes)
			}
			// Past the cap: refused before decoding, whatever it claims.
			big := append(bytes.Clone(tc.prefix), binary.BigEndian.AppendUint32(nil, uint32(1<<30))...)
			big = append(big, make([]byte, maxDecodedRequestBytes)...)
			w := newRecordingWriter(nil)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ServeKafka(&netio.Request{APIKey: tc.key, APIVersion: tc.version, Body: big}, w)
			runtime.ReadMemStats(&after)
			if kind, _, _ := w.result(); kind != "Close" {
				t.Fatalf("a %d-byte body: answered %q, want Close", len(big), kind)
			}
			if a := after.TotalAlloc - before.TotalAlloc; a > 1<<20 {
				t.Errorf("%s v%d: refusing a %d-byte body allocated %d bytes", tc.name, tc.version, len(big), a)
			}
		})
	}
}

// TestCreateTopicsDoesNotStallOtherConnections: ServeKafka runs on the event loop (startBroker's
// server has one), so disk work there delays every other connection. A CreateTopics of a few
// hundred partitions must not hold up another client's ApiVersions.
func TestCreateTopicsDoesNotStallOtherConnections(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	a, other := dialRaw(t, tb.addr), dialRaw(t, tb.addr)
	req := versioned(kmsg.NewPtrCreateTopicsRequest(), apis[19].max)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "wide", 100, 1
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	corr := a.send(req)
	time.Sleep(20 * time.Millisecond)
	pingStart := time.Now()
	if r := other.do(versioned(kmsg.NewPtrApiVersionsRequest(), 0)).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatalf("api versions: error %d", r.ErrorCode)
	}
	ping := time.Since(pingStart)
	resp := req.ResponseKind()
	decodeFully(t, resp, a.readBody(corr, 19, req.IsFlexible()))
	create := time.Since(start)
	t.Logf("CreateTopics of 100 partitions took %v; an ApiVersions on another connection meanwhile took %v", create, ping)
	if ping > 250*time.Millisecond {
		t.Errorf("an ApiVersions waited %v behind another connection's CreateTopics (%v): topic creation blocks the event loop", ping, create)
	}
}
