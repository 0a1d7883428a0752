package record

import (
	"encoding/binary"
	"testing"
)

func TestTimestampAt(t *testing.T) {
	recs := []Record{{TimestampDelta: 0}, {TimestampDelta: 7}, {TimestampDelta: 3}} // deltas need not grow
	plain := Batch(AppendBatch(nil, BatchSpec{BaseOffset: 100, BaseTimestamp: 5000, ProducerID: -1}, recs))
	// The same header marked compressed (gzip) or LogAppendTime: the body is never looked at.
	withAttributes := func(attrs int16) Batch {
		b := Batch(append([]byte(nil), plain...))
		binary.BigEndian.PutUint16(b[offAttributes:], uint16(attrs))
		return b[:HeaderSize]
	}
	malformed := Batch(append([]byte(nil), plain...))
	malformed[HeaderSize] = 0 // the first record's length varint: 0
	for _, c := range []struct {
		name   string
		b      Batch
		offset int64
		want   int64
		ok     bool
	}{
		{"first record", plain, 100, 5000, true},
		{"second record", plain, 101, 5007, true},
		{"third record, smaller delta", plain, 102, 5003, true},
		{"below the batch", plain, 99, 0, false},
		{"past the batch", plain, 103, 0, false},
		{"compressed: the first record's", withAttributes(1), 102, 5000, true},
		{"LogAppendTime: the max timestamp", withAttributes(TimestampTypeBit), 100, 5007, true},
		{"malformed record length", malformed, 102, 0, false},
	} {
		if got, ok := c.b.TimestampAt(c.offset); got != c.want || ok != c.ok {
			t.Errorf("%s: TimestampAt(%d) = %d, %v; want %d, %v", c.name, c.offset, got, ok, c.want, c.ok)
		}
	}
}
