package record

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func sampleBatch(t testing.TB, n int) []byte {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{TimestampDelta: int64(i * 3), Key: []byte("k" + strconv.Itoa(i)), Value: bytes.Repeat([]byte{'v'}, 10+i)}
	}
	return AppendBatch(nil, BatchSpec{BaseTimestamp: 1_700_000_000_000, ProducerID: 7, ProducerEpoch: 1, BaseSequence: 40}, recs)
}

func TestAppendBatchRoundTripThroughKmsg(t *testing.T) {
	p := sampleBatch(t, 5)
	b, err := Validate(p, 0)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(p); err != nil {
		t.Fatalf("kmsg cannot read our batch: %v", err)
	}
	if int32(kb.NumRecords) != b.RecordCount() || kb.NumRecords != 5 {
		t.Fatalf("record count: kmsg %d, ours %d", kb.NumRecords, b.RecordCount())
	}
	if uint32(kb.CRC) != b.CRC() || kb.ProducerID != 7 || kb.ProducerEpoch != 1 || kb.FirstSequence != 40 {
		t.Fatalf("header fields disagree with kmsg: %+v", kb)
	}
	if b.MaxTimestamp() != 1_700_000_000_000+12 || kb.MaxTimestamp != b.MaxTimestamp() {
		t.Fatalf("max timestamp %d (kmsg %d)", b.MaxTimestamp(), kb.MaxTimestamp)
	}
	if b.LastOffset() != 4 || b.NextOffset() != 5 {
		t.Fatalf("offsets: last %d next %d", b.LastOffset(), b.NextOffset())
	}
}

func TestRewriteOffsetAndEpochKeepsCRC(t *testing.T) {
	p := sampleBatch(t, 3)
	b := Batch(p)
	b.SetBaseOffset(1 << 40)
	b.SetPartitionLeaderEpoch(9)
	if _, err := Validate(p, 0); err != nil {
		t.Fatalf("after rewrite: %v", err)
	}
	if b.BaseOffset() != 1<<40 || b.PartitionLeaderEpoch() != 9 || b.LastOffset() != 1<<40+2 {
		t.Fatalf("rewrite not visible: base %d epoch %d", b.BaseOffset(), b.PartitionLeaderEpoch())
	}
}

func TestSetLogAppendTime(t *testing.T) {
	p := sampleBatch(t, 3)
	b := Batch(p)
	b.SetLogAppendTime(42)
	if _, err := Validate(p, 0); err != nil {
		t.Fatalf("after SetLogAppendTime: %v", err)
	}
	if !b.LogAppendTime() || b.MaxTimestamp() != 42 {
		t.Fatalf("log append time not set: attrs %x max %d", b.Attributes(), b.MaxTimestamp())
	}
}

// mutate returns a copy of a valid batch changed by f, with the CRC recomputed when fixCRC.
func mutate(t *testing.T, fixCRC bool, f func(p []byte) []byte) []byte {
	p := append([]byte(nil), sampleBatch(t, 4)...)
	p = f(p)
	if fixCRC {
		Batch(p).UpdateCRC()
	}
	return p
}

func TestValidateRejects(t *testing.T) {
	be := binary.BigEndian
	cases := []struct {
		name string
		p    []byte
		max  int
		code int16
	}{
		{"empty", nil, 0, CodeCorruptMessage},
		{"short header", sampleBatch(t, 1)[:40], 0, CodeCorruptMessage},
		{"magic 1", mutate(t, false, func(p []byte) []byte { p[16] = 1; return p }), 0, CodeUnsupportedForMessageFormat},
		{"magic 0", mutate(t, false, func(p []byte) []byte { p[16] = 0; return p }), 0, CodeUnsupportedForMessageFormat},
		{"too large", sampleBatch(t, 4), 50, CodeMessageTooLarge},
		{"length beyond data", mutate(t, false, func(p []byte) []byte { be.PutUint32(p[8:], uint32(len(p))); return p }), 0, CodeCorruptMessage},
		{"negative length", mutate(t, false, func(p []byte) []byte { be.PutUint32(p[8:], 0xffffff00); return p }), 0, CodeCorruptMessage},
		{"trailing bytes", append(sampleBatch(t, 2), 0, 0, 0), 0, CodeCorruptMessage},
		{"two batches", append(sampleBatch(t, 2), sampleBatch(t, 2)...), 0, CodeCorruptMessage},
		{"flipped value byte", mutate(t, false, func(p []byte) []byte { p[len(p)-3] ^= 0x10; return p }), 0, CodeCorruptMessage},
		{"flipped crc", mutate(t, false, func(p []byte) []byte { p[18] ^= 1; return p }), 0, CodeCorruptMessage},
		{"unknown codec", mutate(t, true, func(p []byte) []byte { p[22] |= 7; return p }), 0, CodeUnsupportedCompressionType},
		{"zero records", mutate(t, true, func(p []byte) []byte { be.PutUint32(p[57:], 0); return p }), 0, CodeCorruptMessage},
		{"count vs last delta", mutate(t, true, func(p []byte) []byte { be.PutUint32(p[57:], 9); return p }), 0, CodeCorruptMessage},
		{"last delta vs count", mutate(t, true, func(p []byte) []byte { be.PutUint32(p[23:], 2); return p }), 0, CodeCorruptMessage},
		{"records shorter than count", mutate(t, true, func(p []byte) []byte {
			be.PutUint32(p[57:], 5)
			be.PutUint32(p[23:], 4)
			return p
		}), 0, CodeCorruptMessage},
		{"record length overruns body", mutate(t, true, func(p []byte) []byte { p[HeaderSize] = 0x7e; return p }), 0, CodeCorruptMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Validate(c.p, c.max)
			if err == nil {
				t.Fatalf("accepted a bad batch")
			}
			if got := KafkaCode(err); got != c.code {
				t.Fatalf("code %d, want %d (%v)", got, c.code, err)
			}
		})
	}
}

func TestValidateStoredStopsAtFirstBatch(t *testing.T) {
	two := append(sampleBatch(t, 2), sampleBatch(t, 3)...)
	b, err := ValidateStored(two)
	if err != nil || b.RecordCount() != 2 {
		t.Fatalf("got %v, count %d", err, b.RecordCount())
	}
	_, rest, err := Next(two)
	if err != nil {
		t.Fatal(err)
	}
	b2, _, err := Next(rest)
	if err != nil || b2.RecordCount() != 3 {
		t.Fatalf("second batch: %v", err)
	}
	if _, _, err := Next(rest[:30]); err == nil {
		t.Fatalf("Next accepted a truncated header")
	}
	if _, _, err := Next(rest[:len(rest)-1]); err == nil {
		t.Fatalf("Next accepted a truncated batch")
	}
}

func TestFirstOffsetAtOrAfter(t *testing.T) {
	p := sampleBatch(t, 5) // timestamps base+0,3,6,9,12
	b := Batch(p)
	b.SetBaseOffset(100)
	base := b.BaseTimestamp()
	for _, c := range []struct {
		ts   int64
		want int64
		ok   bool
	}{{base - 5, 100, true}, {base, 100, true}, {base + 1, 101, true}, {base + 6, 102, true}, {base + 12, 104, true}, {base + 13, 0, false}} {
		got, ok := b.FirstOffsetAtOrAfter(c.ts)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("ts %d: got %d,%v want %d,%v", c.ts-base, got, ok, c.want, c.ok)
		}
	}
}

// realClientBatches reads the seed corpus: record batches exactly as franz-go, sarama, librdkafka,
// kafka-python and confluent-kafka-python sent them (extracted from ../shared/testdata/kafka-wire).
func realClientBatches(t testing.TB) map[string][]byte {
	files, err := filepath.Glob("testdata/fuzz/FuzzValidate/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed corpus: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		lit := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
		s, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = []byte(s)
	}
	return out
}

func TestRealClientBatchesValidate(t *testing.T) {
	for name, p := range realClientBatches(t) {
		b, err := Validate(p, 0)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(p); err != nil {
			t.Fatalf("%s: kmsg: %v", name, err)
		}
		if int32(kb.NumRecords) != b.RecordCount() || kb.LastOffsetDelta != b.LastOffsetDelta() ||
			kb.MaxTimestamp != b.MaxTimestamp() || kb.ProducerID != b.ProducerID() || kb.Attributes != b.Attributes() {
			t.Errorf("%s: fields disagree with kmsg", name)
		}
	}
}

// FuzzValidate: Validate never panics, and whatever it accepts kmsg decodes with the same fields.
func FuzzValidate(f *testing.F) {
	f.Add(sampleBatch(f, 3))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := Validate(p, 1<<20)
		if err != nil {
			if KafkaCode(err) < 0 {
				t.Fatalf("error without a Kafka code: %v", err)
			}
			return
		}
		if b.Size() != len(p) || b.ComputeCRC() != b.CRC() || b.RecordCount() < 1 {
			t.Fatalf("accepted batch breaks invariants")
		}
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(p); err != nil {
			t.Fatalf("accepted, but kmsg cannot decode: %v", err)
		}
		if int32(kb.NumRecords) != b.RecordCount() || kb.Length != b.BatchLength() {
			t.Fatalf("fields disagree with kmsg")
		}
		b.FirstOffsetAtOrAfter(b.BaseTimestamp())
	})
}

// TestVarintMatchesBinaryVarint: walkRecords' varint answers as binary.Varint does for every
// one- and two-byte input, every two-byte prefix followed by more bytes, truncated and overlong
// inputs.
func TestVarintMatchesBinaryVarint(t *testing.T) {
	check := func(p []byte) {
		t.Helper()
		gv, gn := varint(p)
		wv, wn := binary.Varint(p)
		if gv != wv || gn != wn {
			t.Fatalf("varint(% x) = %d, %d; binary.Varint = %d, %d", p, gv, gn, wv, wn)
		}
	}
	check(nil)
	for a := range 256 {
		check([]byte{byte(a)})
		for b := range 256 {
			check([]byte{byte(a), byte(b)})
			check([]byte{byte(a), byte(b), 0x01})
			check([]byte{byte(a), byte(b), 0x81, 0x02})
		}
	}
	for _, v := range []int64{0, -1, 1 << 14, -(1 << 14), 1<<20 + 3, 1 << 40, -1 << 62, 1<<63 - 1, -1 << 63} {
		check(binary.AppendVarint(nil, v))
	}
	check(bytes.Repeat([]byte{0xff}, 11)) // overflow
}
