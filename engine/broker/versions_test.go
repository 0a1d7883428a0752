package broker

// Every advertised (API key, version) against a running broker, through a raw Kafka client: each
// request is encoded by kmsg at exactly that version, and each response must decode at that
// version, consume every byte, and carry the expected error codes. The cases are looked up by
// iterating apis, so an API registered without a case here fails TestEveryAdvertisedVersion.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/record"
)

// rawIOTimeout bounds every read and write of a rawClient, so a broker that does not answer fails
// the test instead of hanging the package.
const rawIOTimeout = 10 * time.Second

// rawClient is a minimal Kafka client for tests: one connection, requests encoded with kmsg at the
// version the caller sets, responses read in order.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	corr int32
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, rawIOTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, corr: 100}
}

// rawRequestFrame frames body as a request: size | api key | version | correlation id | client id |
// empty tag section if flexible | body.
func rawRequestFrame(key, version int16, corr int32, flexible bool, body []byte) []byte {
	const clientID = "sluice-raw"
	f := make([]byte, 4, 4+10+len(clientID)+1+len(body))
	f = binary.BigEndian.AppendUint16(f, uint16(key))
	f = binary.BigEndian.AppendUint16(f, uint16(version))
	f = binary.BigEndian.AppendUint32(f, uint32(corr))
	f = binary.BigEndian.AppendUint16(f, uint16(len(clientID)))
	f = append(f, clientID...)
	if flexible {
		f = append(f, 0) // request header v2: no tagged fields
	}
	f = append(f, body...)
	binary.BigEndian.PutUint32(f, uint32(len(f)-4))
	return f
}

// write sends raw bytes (a frame, part of one, or garbage).
func (c *rawClient) write(p []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(rawIOTimeout))
	if _, err := c.conn.Write(p); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes req, encoded at its version, and returns the correlation id used.
func (c *rawClient) send(req kmsg.Request) int32 {
	c.t.Helper()
	return c.sendBody(req.Key(), req.GetVersion(), req.IsFlexible(), req.AppendTo(nil))
}

// sendBody writes an already encoded body under a request header.
func (c *rawClient) sendBody(key, version int16, flexible bool, body []byte) int32 {
	c.t.Helper()
	c.corr++
	c.write(rawRequestFrame(key, version, c.corr, flexible, body))
	return c.corr
}

// readFrame reads one response frame and returns what follows the size prefix.
func (c *rawClient) readFrame() ([]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(rawIOTimeout))
	var size [4]byte
	if _, err := io.ReadFull(c.conn, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 64<<20 {
		return nil, fmt.Errorf("response size prefix %d", n)
	}
	f := make([]byte, n)
	_, err := io.ReadFull(c.conn, f)
	return f, err
}

// readBody reads the response to corr and returns its body: the correlation id is checked and the
// response header's tag section skipped when flexible (never for ApiVersions, whose response
// header is always v0).
func (c *rawClient) readBody(corr int32, key int16, flexible bool) []byte {
	c.t.Helper()
	f, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading the response to key %d (correlation id %d): %v", key, corr, err)
	}
	if len(f) < 4 {
		c.t.Fatalf("response frame of %d bytes", len(f))
	}
	if got := int32(binary.BigEndian.Uint32(f)); got != corr {
		c.t.Fatalf("response correlation id %d, want %d", got, corr)
	}
	f = f[4:]
	if flexible && key != 18 {
		if len(f) == 0 || f[0] != 0 {
			c.t.Fatalf("key %d: flexible response header without an empty tag section: % x", key, f[:min(len(f), 8)])
		}
		f = f[1:]
	}
	return f
}

// decodeFully decodes body into resp at resp's version and fails unless every byte was consumed
// (kmsg ignores trailing bytes, so the check is that re-encoding reproduces the input exactly).
func decodeFully(t testing.TB, resp kmsg.Response, body []byte) {
	t.Helper()
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("%s v%d response does not decode: %v (% x)", kmsg.NameForKey(resp.Key()), resp.GetVersion(), err, body[:min(len(body), 64)])
	}
	if re := resp.AppendTo(nil); !bytes.Equal(re, body) {
		t.Fatalf("%s v%d response: %d bytes received, %d decoded and re-encoded (extra or misread fields)\nreceived % x\nre-encoded % x",
			kmsg.NameForKey(resp.Key()), resp.GetVersion(), len(body), len(re), body[:min(len(body), 256)], re[:min(len(re), 256)])
	}
}

// do sends req and returns its response, decoded at req's version.
func (c *rawClient) do(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	corr := c.send(req)
	resp := req.ResponseKind()
	decodeFully(c.t, resp, c.readBody(corr, req.Key(), req.IsFlexible()))
	return resp
}

// expectClosed fails unless the broker closes the connection without sending anything more.
func (c *rawClient) expectClosed(what string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(rawIOTimeout))
	var b [64]byte
	n, err := c.conn.Read(b[:])
	var ne net.Error
	switch {
	case n > 0:
		c.t.Fatalf("%s: expected the connection closed, got %d bytes: % x", what, n, b[:n])
	case errors.As(err, &ne) && ne.Timeout():
		c.t.Fatalf("%s: connection still open after %v", what, rawIOTimeout)
	case err == nil:
		c.t.Fatalf("%s: expected the connection closed", what)
	}
}

// versioned returns req with its version set.
func versioned[R interface{ SetVersion(int16) }](req R, v int16) R {
	req.SetVersion(v)
	return req
}

// rawCreateTopic creates a topic through CreateTopics at the highest advertised version.
func rawCreateTopic(t testing.TB, c *rawClient, name string, partitions int32) {
	t.Helper()
	req := versioned(kmsg.NewPtrCreateTopicsRequest(), apis[19].max)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, rt)
	resp := c.do(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic %s: %+v", name, resp.Topics)
	}
}

// testBatch is an uncompressed batch without producer id whose records carry values, with
// timestamps baseTimestamp, +10 ms, +20 ms, …
func testBatch(baseTimestamp int64, values ...string) []byte {
	return testBatchSpec(record.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, BaseTimestamp: baseTimestamp}, values...)
}

func testBatchSpec(spec record.BatchSpec, values ...string) []byte {
	recs := make([]record.Record, len(values))
	for i, v := range values {
		recs[i] = record.Record{TimestampDelta: int64(10 * i), Value: []byte(v)}
	}
	return record.AppendBatch(nil, spec, recs)
}

// produceReq builds a Produce request (acks=all) carrying batch for each listed partition.
func produceReq(v int16, topic string, batches map[int32][]byte) *kmsg.ProduceRequest {
	req := versioned(kmsg.NewPtrProduceRequest(), v)
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	parts := make([]int32, 0, len(batches))
	for p := range batches {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batches[p]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// producePartitions sends a Produce and returns its partition answers keyed by partition, failing
// unless the response names exactly the topic and partitions asked for.
func producePartitions(t testing.TB, c *rawClient, req *kmsg.ProduceRequest) map[int32]kmsg.ProduceResponseTopicPartition {
	t.Helper()
	resp := c.do(req).(*kmsg.ProduceResponse)
	if len(resp.Topics) != len(req.Topics) {
		t.Fatalf("produce v%d: %d topics answered, %d asked", req.Version, len(resp.Topics), len(req.Topics))
	}
	out := map[int32]kmsg.ProduceResponseTopicPartition{}
	for i, rt := range resp.Topics {
		if rt.Topic != req.Topics[i].Topic || len(rt.Partitions) != len(req.Topics[i].Partitions) {
			t.Fatalf("produce v%d: answer %s with %d partitions for %s with %d", req.Version, rt.Topic, len(rt.Partitions), req.Topics[i].Topic, len(req.Topics[i].Partitions))
		}
		for _, p := range rt.Partitions {
			out[p.Partition] = p
		}
	}
	return out
}

// produceOne produces batch to topic/partition at version v and returns the partition's answer.
func produceOne(t testing.TB, c *rawClient, v int16, topic string, partition int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return producePartitions(t, c, produceReq(v, topic, map[int32][]byte{partition: batch}))[partition]
}

// fetchReq builds a Fetch of one partition from offset that answers at once.
func fetchReq(v int16, topic string, partition int32, offset int64) *kmsg.FetchRequest {
	req := versioned(kmsg.NewPtrFetchRequest(), v)
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchPartition sends a one-partition Fetch and returns the partition's answer.
func fetchPartition(t testing.TB, c *rawClient, req *kmsg.FetchRequest) kmsg.FetchResponseTopicPartition {
	t.Helper()
	resp := c.do(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch v%d: error %d, %d topics: %+v", req.Version, resp.ErrorCode, len(resp.Topics), resp.Topics)
	}
	if resp.Topics[0].Topic != req.Topics[0].Topic {
		t.Fatalf("fetch v%d answered topic %q, asked %q", req.Version, resp.Topics[0].Topic, req.Topics[0].Topic)
	}
	return resp.Topics[0].Partitions[0]
}

// fetchedRecord is one record read back from a Fetch.
type fetchedRecord struct {
	offset    int64
	timestamp int64
	value     string
}

// decodeRecordBatches decodes the RecordBatches bytes of a fetch answer: every batch must be whole
// and pass its CRC (this broker never sends a partial batch when the limits allow the whole).
func decodeRecordBatches(t testing.TB, p []byte) []fetchedRecord {
	t.Helper()
	var out []fetchedRecord
	for len(p) > 0 {
		b, rest, err := record.Next(p)
		if err != nil {
			t.Fatalf("fetched record batches: %v", err)
		}
		if _, err := record.ValidateStored(b); err != nil {
			t.Fatalf("fetched batch at offset %d: %v", b.BaseOffset(), err)
		}
		body := b.Records()
		for i := int32(0); i < b.RecordCount(); i++ {
			length, k := binary.Varint(body)
			if k <= 0 || length < 0 || int(length) > len(body)-k {
				t.Fatalf("batch at offset %d: record %d has a bad length", b.BaseOffset(), i)
			}
			var r kmsg.Record
			if err := r.ReadFrom(body[:k+int(length)]); err != nil {
				t.Fatalf("batch at offset %d: record %d: %v", b.BaseOffset(), i, err)
			}
			body = body[k+int(length):]
			out = append(out, fetchedRecord{b.BaseOffset() + int64(r.OffsetDelta), b.BaseTimestamp() + r.TimestampDelta64, string(r.Value)})
		}
		if len(body) != 0 {
			t.Fatalf("batch at offset %d: %d bytes after its records", b.BaseOffset(), len(body))
		}
		p = rest
	}
	return out
}

// listOffset asks for one partition's offset at timestamp (-2 earliest, -1 latest) at version v.
func listOffset(t testing.TB, c *rawClient, v int16, topic string, partition int32, timestamp int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := versioned(kmsg.NewPtrListOffsetsRequest(), v)
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, timestamp
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := c.do(req).(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].Topic != topic || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].Partition != partition {
		t.Fatalf("list offsets v%d of %s/%d: %+v", v, topic, partition, resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

// metadataTopics asks for the named topics (all when names is nil) at version v.
func metadataTopics(t testing.TB, c *rawClient, v int16, names []string, autoCreate bool) *kmsg.MetadataResponse {
	t.Helper()
	req := versioned(kmsg.NewPtrMetadataRequest(), v)
	req.AllowAutoTopicCreation = autoCreate
	if names != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
	}
	for _, n := range names {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, mt)
	}
	return c.do(req).(*kmsg.MetadataResponse)
}

// versionCase exercises one API at version v against tb through c, on its own topics.
type versionCase func(t *testing.T, tb *testBroker, c *rawClient, v int16)

// versionCases has one case per API key. Every key in apis needs one.
var versionCases = map[int16]versionCase{
	0:  produceVersionCase,
	1:  fetchVersionCase,
	2:  listOffsetsVersionCase,
	3:  metadataVersionCase,
	18: apiVersionsVersionCase,
	19: createTopicsVersionCase,
	20: deleteTopicsVersionCase,
	22: initProducerIDVersionCase,
}

func TestEveryAdvertisedVersion(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		a := apis[key]
		vc := versionCases[key]
		if vc == nil {
			t.Errorf("API key %d (%s) is advertised as v%d-%d but has no case in versionCases", key, kmsg.NameForKey(key), a.min, a.max)
			continue
		}
		if a.min < 0 || a.min > a.max {
			t.Errorf("API key %d advertises the empty or negative range v%d-%d", key, a.min, a.max)
			continue
		}
		if req := kmsg.RequestForKey(key); req == nil || req.MaxVersion() < a.max {
			t.Errorf("API key %d advertises up to v%d, beyond what kmsg can decode", key, a.max)
			continue
		}
		for v := a.min; v <= a.max; v++ {
			t.Run(fmt.Sprintf("%s/v%d", kmsg.NameForKey(key), v), func(t *testing.T) {
				vc(t, tb, dialRaw(t, tb.addr), v)
			})
		}
	}
}

func produceVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("produce-v%d", v)
	rawCreateTopic(t, c, topic, 2)
	now := time.Now().UnixMilli()
	if v < 3 {
		// Produce v0-2 are advertised for librdkafka's feature checks only and answered as Kafka 4
		// answers them: UNSUPPORTED_VERSION for every partition, whatever the records, and
		// nothing appended.
		for name, batch := range map[string][]byte{"v2 batch": testBatch(now, "a", "b"), "v1 message": magic1Message(now, "x", strings.Repeat("v", 64))} {
			if p := produceOne(t, c, v, topic, 0, batch); p.ErrorCode != errUnsupportedVersion {
				t.Errorf("produce v%d of a %s: error %d (base offset %d), want %d (UNSUPPORTED_VERSION): v0-2 are not served", v, name, p.ErrorCode, p.BaseOffset, errUnsupportedVersion)
			}
		}
		if got := listOffset(t, c, apis[2].max, topic, 0, -1); got.Offset != 0 {
			t.Errorf("produce v%d stored records: latest offset %d, want 0", v, got.Offset)
		}
		return
	}
	// Two partitions in one request, then a second batch to partition 0: consecutive offsets.
	got := producePartitions(t, c, produceReq(v, topic, map[int32][]byte{0: testBatch(now, "a", "b", "c"), 1: testBatch(now, "z")}))
	for p, want := range map[int32]int64{0: 0, 1: 0} {
		if r := got[p]; r.ErrorCode != 0 || r.BaseOffset != want {
			t.Fatalf("produce v%d partition %d: error %d base offset %d, want 0 and %d", v, p, r.ErrorCode, r.BaseOffset, want)
		}
	}
	r := produceOne(t, c, v, topic, 0, testBatch(now, "d", "e"))
	if r.ErrorCode != 0 || r.BaseOffset != 3 {
		t.Fatalf("produce v%d second batch: error %d base offset %d, want 0 and 3", v, r.ErrorCode, r.BaseOffset)
	}
	if v >= 2 && r.LogAppendTime != -1 {
		t.Errorf("produce v%d: LogAppendTime %d for a CreateTime topic, want -1", v, r.LogAppendTime)
	}
	if v >= 5 && r.LogStartOffset != 0 {
		t.Errorf("produce v%d: LogStartOffset %d, want 0", v, r.LogStartOffset)
	}
	if got := listOffset(t, c, apis[2].max, topic, 0, -1); got.Offset != 5 {
		t.Errorf("after produce v%d: latest offset %d, want 5", v, got.Offset)
	}
	// acks=0 gets no response at all: the next request's answer is the next thing on the wire.
	req := produceReq(v, topic, map[int32][]byte{1: testBatch(now, "acks0")})
	req.Acks = 0
	c.send(req)
	if got := listOffset(t, c, apis[2].max, topic, 1, -1); got.Offset != 2 {
		t.Errorf("after produce v%d with acks=0: latest offset of partition 1 is %d, want 2", v, got.Offset)
	}
}

// magic1Message is a legacy (magic 1) message set of one message, as Produce v2 clients send.
func magic1Message(ts int64, key, value string) []byte {
	msg := []byte{1, 0} // magic, attributes
	msg = binary.BigEndian.AppendUint64(msg, uint64(ts))
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(key)))
	msg = append(msg, key...)
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(value)))
	msg = append(msg, value...)
	out := binary.BigEndian.AppendUint64(nil, 0) // offset
	out = binary.BigEndian.AppendUint32(out, uint32(4+len(msg)))
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(msg))
	return append(out, msg...)
}

func fetchVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("fetch-v%d", v)
	rawCreateTopic(t, c, topic, 1)
	base := time.Now().UnixMilli()
	want := []string{"f0", "f1", "f2", "f3", "f4"}
	for _, vals := range [][]string{want[:3], want[3:]} {
		if r := produceOne(t, c, apis[0].max, topic, 0, testBatch(base, vals...)); r.ErrorCode != 0 {
			t.Fatalf("produce: error %d", r.ErrorCode)
		}
	}
	// Write-behind: a fetch returns what is written, which may be the first batch only.
	if err := tb.b.lookupPartition(topic, 0).log.WaitWritten(); err != nil {
		t.Fatal(err)
	}
	for _, from := range []int64{0, 3} {
		p := fetchPartition(t, c, fetchReq(v, topic, 0, from))
		if p.ErrorCode != 0 || p.HighWatermark != 5 || p.LastStableOffset != 5 {
			t.Fatalf("fetch v%d from %d: error %d high watermark %d last stable offset %d, want 0, 5, 5", v, from, p.ErrorCode, p.HighWatermark, p.LastStableOffset)
		}
		if v >= 5 && p.LogStartOffset != 0 {
			t.Errorf("fetch v%d: LogStartOffset %d, want 0", v, p.LogStartOffset)
		}
		if v >= 11 && p.PreferredReadReplica != -1 {
			t.Errorf("fetch v%d: PreferredReadReplica %d, want -1", v, p.PreferredReadReplica)
		}
		recs := decodeRecordBatches(t, p.RecordBatches)
		var got []string
		for _, r := range recs {
			if r.offset >= from { // a batch may start before the fetch offset
				got = append(got, r.value)
				if r.value != want[r.offset] {
					t.Errorf("fetch v%d: offset %d holds %q, want %q", v, r.offset, r.value, want[r.offset])
				}
			}
		}
		if !slices.Equal(got, want[from:]) {
			t.Errorf("fetch v%d from %d: values %q, want %q", v, from, got, want[from:])
		}
	}
	// At the high watermark: nothing, no error. Unknown partition: UNKNOWN_TOPIC_OR_PARTITION.
	if p := fetchPartition(t, c, fetchReq(v, topic, 0, 5)); p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.HighWatermark != 5 {
		t.Errorf("fetch v%d at the high watermark: error %d, %d bytes, high watermark %d", v, p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
	}
	if p := fetchPartition(t, c, fetchReq(v, topic, 7, 0)); p.ErrorCode != errUnknownTopicOrPartition {
		t.Errorf("fetch v%d of a missing partition: error %d, want %d", v, p.ErrorCode, errUnknownTopicOrPartition)
	}
	// Long poll at the end: answered empty once MaxWaitMillis has passed.
	req := fetchReq(v, topic, 0, 5)
	req.MaxWaitMillis = 50
	start := time.Now()
	if p := fetchPartition(t, c, req); p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Errorf("long-poll fetch v%d: error %d, %d bytes", v, p.ErrorCode, len(p.RecordBatches))
	}
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Errorf("long-poll fetch v%d answered after %v, before MaxWaitMillis=50", v, el)
	}
}

func listOffsetsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("list-offsets-v%d", v)
	rawCreateTopic(t, c, topic, 1)
	base := time.Now().UnixMilli() - 60_000
	// Offsets 0-2 at base, base+10, base+20; offsets 3-4 at base+1000, base+1010.
	produceOne(t, c, apis[0].max, topic, 0, testBatch(base, "a", "b", "c"))
	produceOne(t, c, apis[0].max, topic, 0, testBatch(base+1000, "d", "e"))
	for _, tc := range []struct {
		name      string
		timestamp int64
		offset    int64
	}{
		{"earliest", -2, 0},
		{"latest", -1, 5},
		{"by timestamp, within a batch", base + 15, 2},
		{"by timestamp, next batch", base + 500, 3},
		{"after the last record", base + 5000, -1},
	} {
		p := listOffset(t, c, v, topic, 0, tc.timestamp)
		if p.ErrorCode != 0 || p.Offset != tc.offset {
			t.Errorf("list offsets v%d %s (%d): error %d offset %d, want 0 and %d", v, tc.name, tc.timestamp, p.ErrorCode, p.Offset, tc.offset)
		}
	}
	if p := listOffset(t, c, v, "no-such-topic", 0, -1); p.ErrorCode != errUnknownTopicOrPartition {
		t.Errorf("list offsets v%d of a missing topic: error %d, want %d", v, p.ErrorCode, errUnknownTopicOrPartition)
	}
}

func metadataVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("metadata-v%d", v)
	rawCreateTopic(t, c, topic, 3)
	checkTopic := func(resp *kmsg.MetadataResponse) {
		t.Helper()
		if len(resp.Brokers) != 1 || resp.Brokers[0].Host+":"+fmt.Sprint(resp.Brokers[0].Port) != tb.addr || resp.Brokers[0].NodeID != tb.b.cfg.NodeID {
			t.Errorf("metadata v%d brokers: %+v, want node %d at %s", v, resp.Brokers, tb.b.cfg.NodeID, tb.addr)
		}
		if v >= 2 && (resp.ClusterID == nil || *resp.ClusterID == "") {
			t.Errorf("metadata v%d: no cluster id", v)
		}
		if v >= 1 && resp.ControllerID != tb.b.cfg.NodeID {
			t.Errorf("metadata v%d: controller %d", v, resp.ControllerID)
		}
		for _, mt := range resp.Topics {
			if mt.Topic == nil || *mt.Topic != topic {
				continue
			}
			if mt.ErrorCode != 0 || len(mt.Partitions) != 3 {
				t.Fatalf("metadata v%d: %s has error %d and %d partitions, want 0 and 3", v, topic, mt.ErrorCode, len(mt.Partitions))
			}
			if v >= 10 && mt.TopicID == [16]byte{} {
				t.Errorf("metadata v%d: %s has no topic id", v, topic)
			}
			for i, p := range mt.Partitions {
				if p.Partition != int32(i) || p.ErrorCode != 0 || p.Leader != tb.b.cfg.NodeID || !slices.Equal(p.Replicas, []int32{p.Leader}) || !slices.Equal(p.ISR, []int32{p.Leader}) {
					t.Errorf("metadata v%d: %s partition %d: %+v", v, topic, i, p)
				}
			}
			return
		}
		t.Fatalf("metadata v%d: %s missing from %d topics", v, topic, len(resp.Topics))
	}
	checkTopic(metadataTopics(t, c, v, []string{topic}, false))
	if v == 0 {
		checkTopic(metadataTopics(t, c, v, []string{}, false)) // v0: an empty list means all topics
	} else {
		checkTopic(metadataTopics(t, c, v, nil, false)) // v1+: null means all topics
	}
	if v >= 4 { // v4+: no auto-creation unless asked
		missing := fmt.Sprintf("metadata-missing-v%d", v)
		resp := metadataTopics(t, c, v, []string{missing}, false)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != errUnknownTopicOrPartition {
			t.Errorf("metadata v%d of a missing topic without auto-creation: %+v", v, resp.Topics)
		}
		if tb.b.lookupTopic(missing) != nil {
			t.Errorf("metadata v%d created %s though AllowAutoTopicCreation was false", v, missing)
		}
	}
}

func apiVersionsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	req := versioned(kmsg.NewPtrApiVersionsRequest(), v)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "sluice-raw", "0.0.1"
	resp := c.do(req).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("api versions v%d: error %d", v, resp.ErrorCode)
	}
	checkApiVersionsTable(t, resp.ApiKeys)
}

// checkApiVersionsTable fails unless keys lists exactly apis, each key once.
func checkApiVersionsTable(t testing.TB, keys []kmsg.ApiVersionsResponseApiKey) {
	t.Helper()
	seen := map[int16]bool{}
	for _, k := range keys {
		a, ok := apis[k.ApiKey]
		switch {
		case !ok:
			t.Errorf("ApiVersions lists key %d, which is not served", k.ApiKey)
		case seen[k.ApiKey]:
			t.Errorf("ApiVersions lists key %d twice", k.ApiKey)
		case k.MinVersion != a.min || k.MaxVersion != a.max:
			t.Errorf("ApiVersions lists key %d as v%d-%d, served v%d-%d", k.ApiKey, k.MinVersion, k.MaxVersion, a.min, a.max)
		}
		seen[k.ApiKey] = true
	}
	if len(seen) != len(apis) {
		t.Errorf("ApiVersions lists %d keys, %d are served", len(seen), len(apis))
	}
}

func createTopicsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("create-v%d", v)
	mk := func(name string, partitions int32, rf int16) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
		return rt
	}
	req := versioned(kmsg.NewPtrCreateTopicsRequest(), v)
	req.TimeoutMillis = 5000
	withConfig := mk(topic+"-cfg", 1, 1)
	cv := kmsg.NewCreateTopicsRequestTopicConfig()
	cv.Name, cv.Value = "retention.ms", kmsg.StringPtr("3600000")
	withConfig.Configs = append(withConfig.Configs, cv)
	req.Topics = append(req.Topics, mk(topic, 2, 1), withConfig, mk(topic+"-rf3", 1, 3), mk("bad/name", 1, 1))
	want := map[string]int16{topic: 0, topic + "-cfg": 0, topic + "-rf3": errInvalidReplicationFactor, "bad/name": errInvalidTopic}
	resp := c.do(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != len(want) {
		t.Fatalf("create topics v%d: %d answers for %d topics", v, len(resp.Topics), len(want))
	}
	for _, rt := range resp.Topics {
		if code, ok := want[rt.Topic]; !ok || rt.ErrorCode != code {
			t.Errorf("create topics v%d: %s got error %d, want %d", v, rt.Topic, rt.ErrorCode, code)
		}
		if v >= 5 && rt.Topic == topic && (rt.NumPartitions != 2 || rt.ReplicationFactor != 1) {
			t.Errorf("create topics v%d: %s answered %d partitions rf %d", v, topic, rt.NumPartitions, rt.ReplicationFactor)
		}
		if v >= 7 && rt.ErrorCode == 0 && rt.TopicID == [16]byte{} {
			t.Errorf("create topics v%d: %s has no topic id", v, rt.Topic)
		}
	}
	if tp := tb.b.lookupTopic(topic); tp == nil || len(tp.partitions) != 2 {
		t.Fatalf("create topics v%d: %s not created with 2 partitions", v, topic)
	}
	// Again: TOPIC_ALREADY_EXISTS. From v1, validate-only creates nothing.
	again := versioned(kmsg.NewPtrCreateTopicsRequest(), v)
	again.Topics = append(again.Topics, mk(topic, 2, 1))
	if r := c.do(again).(*kmsg.CreateTopicsResponse); len(r.Topics) != 1 || r.Topics[0].ErrorCode != errTopicAlreadyExists {
		t.Errorf("create topics v%d of an existing topic: %+v", v, r.Topics)
	}
	if v >= 1 {
		vo := versioned(kmsg.NewPtrCreateTopicsRequest(), v)
		vo.ValidateOnly = true
		vo.Topics = append(vo.Topics, mk(topic+"-validate", 1, 1))
		if r := c.do(vo).(*kmsg.CreateTopicsResponse); len(r.Topics) != 1 || r.Topics[0].ErrorCode != 0 {
			t.Errorf("create topics v%d validate-only: %+v", v, r.Topics)
		}
		if tb.b.lookupTopic(topic+"-validate") != nil {
			t.Errorf("create topics v%d validate-only created the topic", v)
		}
	}
}

func deleteTopicsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("delete-v%d", v)
	rawCreateTopic(t, c, topic, 2)
	produceOne(t, c, apis[0].max, topic, 1, testBatch(time.Now().UnixMilli(), "gone"))
	id := tb.b.lookupTopic(topic).id
	del := func(byID bool) kmsg.DeleteTopicsResponseTopic {
		t.Helper()
		req := versioned(kmsg.NewPtrDeleteTopicsRequest(), v)
		req.TimeoutMillis = 5000
		if v >= 6 {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			if byID {
				rt.TopicID = id
			} else {
				rt.Topic = strPtr(topic)
			}
			req.Topics = append(req.Topics, rt)
		} else {
			req.TopicNames = []string{topic}
		}
		resp := c.do(req).(*kmsg.DeleteTopicsResponse)
		if len(resp.Topics) != 1 || (!byID && (resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != topic)) {
			t.Fatalf("delete topics v%d: %+v", v, resp.Topics)
		}
		return resp.Topics[0]
	}
	if r := del(v >= 6); r.ErrorCode != 0 {
		t.Fatalf("delete topics v%d: error %d", v, r.ErrorCode)
	}
	if tb.b.lookupTopic(topic) != nil {
		t.Fatalf("delete topics v%d: %s still exists", v, topic)
	}
	if r := del(false); r.ErrorCode != errUnknownTopicOrPartition {
		t.Errorf("delete topics v%d of a deleted topic: error %d, want %d", v, r.ErrorCode, errUnknownTopicOrPartition)
	}
	if v >= 6 {
		if r := del(true); r.ErrorCode != errUnknownTopicID || r.TopicID != id {
			t.Errorf("delete topics v%d of a deleted topic id: error %d, want %d (UNKNOWN_TOPIC_ID)", v, r.ErrorCode, errUnknownTopicID)
		}
	}
	// Recreated, the topic starts empty.
	rawCreateTopic(t, c, topic, 2)
	if p := listOffset(t, c, apis[2].max, topic, 1, -1); p.ErrorCode != 0 || p.Offset != 0 {
		t.Errorf("recreated %s: latest offset %d error %d, want an empty log", topic, p.Offset, p.ErrorCode)
	}
}

func initProducerIDVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	init := func(txn *string) *kmsg.InitProducerIDResponse {
		req := versioned(kmsg.NewPtrInitProducerIDRequest(), v)
		req.TransactionalID, req.TransactionTimeoutMillis = txn, 60000
		req.ProducerID, req.ProducerEpoch = -1, -1
		return c.do(req).(*kmsg.InitProducerIDResponse)
	}
	a, b := init(nil), init(nil)
	for _, r := range []*kmsg.InitProducerIDResponse{a, b} {
		if r.ErrorCode != 0 || r.ProducerID < 0 || r.ProducerEpoch != 0 {
			t.Fatalf("init producer id v%d: error %d id %d epoch %d", v, r.ErrorCode, r.ProducerID, r.ProducerEpoch)
		}
	}
	if a.ProducerID == b.ProducerID {
		t.Errorf("init producer id v%d handed out %d twice", v, a.ProducerID)
	}
	if r := init(kmsg.StringPtr("txn")); r.ErrorCode == 0 {
		t.Errorf("init producer id v%d with a transactional id: error 0 (id %d), but transactions are not served", v, r.ProducerID)
	}
}

// TestApiVersionsNewerThanServed: KIP-511. A version above the served range is answered with a v0
// body (response header v0: correlation id, no tag section) holding UNSUPPORTED_VERSION and the
// table, and the connection stays usable.
func TestApiVersionsNewerThanServed(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	c := dialRaw(t, tb.addr)
	for _, v := range []int16{apis[18].max + 1, 99, 32767} {
		corr := c.sendBody(18, v, true, []byte{0x0b, 's', 'l', 'u', 'i', 'c', 'e', '-', 'r', 'a', 'w', 0x02, '1', 0})
		resp := versioned(kmsg.NewPtrApiVersionsResponse(), 0)
		decodeFully(t, resp, c.readBody(corr, 18, true))
		if resp.ErrorCode != errUnsupportedVersion {
			t.Errorf("ApiVersions v%d: error %d, want %d (UNSUPPORTED_VERSION)", v, resp.ErrorCode, errUnsupportedVersion)
		}
		checkApiVersionsTable(t, resp.ApiKeys)
	}
	// The client retries at the highest version listed: served normally on the same connection.
	req := versioned(kmsg.NewPtrApiVersionsRequest(), apis[18].max)
	if resp := c.do(req).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions v%d after the downgrade: error %d", apis[18].max, resp.ErrorCode)
	}
}

// TestUnservedVersionsCloseConnection: for every served key but ApiVersions, the version just
// below and just above its range (and Fetch v13, which names topics by id) close the connection
// without an answer, as Kafka does.
func TestUnservedVersionsCloseConnection(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	type kv struct{ key, version int16 }
	var cases []kv
	for key, a := range apis {
		if key == 18 {
			continue
		}
		if a.min > 0 {
			cases = append(cases, kv{key, a.min - 1})
		}
		cases = append(cases, kv{key, a.max + 1})
	}
	cases = append(cases, kv{1, 3}, kv{1, 13}, kv{0, 13})
	for _, tc := range cases {
		if a := apis[tc.key]; tc.version >= a.min && tc.version <= a.max {
			continue // served after all (the range grew): TestEveryAdvertisedVersion covers it
		}
		t.Run(fmt.Sprintf("%s/v%d", kmsg.NameForKey(tc.key), tc.version), func(t *testing.T) {
			c := dialRaw(t, tb.addr)
			req := kmsg.RequestForKey(tc.key)
			req.SetVersion(tc.version)
			c.send(req)
			c.expectClosed(fmt.Sprintf("key %d v%d", tc.key, tc.version))
		})
	}
	// Requests pipelined before the unserved one are answered first.
	c := dialRaw(t, tb.addr)
	okReq := versioned(kmsg.NewPtrApiVersionsRequest(), 0)
	corr := c.send(okReq)
	bad := versioned(kmsg.NewPtrFetchRequest(), 13)
	c.send(bad)
	resp := versioned(kmsg.NewPtrApiVersionsResponse(), 0)
	decodeFully(t, resp, c.readBody(corr, 18, false))
	c.expectClosed("Fetch v13 after a pipelined ApiVersions")
}

// TestFetchLongPollWokenByProduce: a fetch parked at the end of a partition is answered with the
// record as soon as another connection produces it, not when MaxWaitMillis runs out.
func TestFetchLongPollWokenByProduce(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	c := dialRaw(t, tb.addr)
	rawCreateTopic(t, c, "long-poll", 1)
	req := fetchReq(apis[1].max, "long-poll", 0, 0)
	req.MaxWaitMillis = 8000
	start := time.Now()
	corr := c.send(req)
	time.Sleep(50 * time.Millisecond)
	p := dialRaw(t, tb.addr)
	if r := produceOne(t, p, apis[0].max, "long-poll", 0, testBatch(time.Now().UnixMilli(), "woken")); r.ErrorCode != 0 {
		t.Fatalf("produce: error %d", r.ErrorCode)
	}
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	decodeFully(t, resp, c.readBody(corr, 1, req.IsFlexible()))
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("parked fetch answered after %v: not woken by the append", el)
	}
	recs := decodeRecordBatches(t, resp.Topics[0].Partitions[0].RecordBatches)
	if len(recs) != 1 || recs[0].value != "woken" {
		t.Fatalf("parked fetch returned %+v", recs)
	}
}
