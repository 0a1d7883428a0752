package record

import (
	"encoding/binary"
	"fmt"
)

// Validate checks that p holds exactly one well-formed RecordBatch v2 of at most maxBytes bytes, as
// a broker must before storing a producer's batch (Kafka rejects Produce data for one partition
// that holds more than one v2 batch). It reads p in place, never copies or decompresses, and
// allocates only on failure.
//
// Checks, in order: header present; magic 2; length field agrees with len(p); size ≤ maxBytes
// (maxBytes ≤ 0: no limit); CRC32C of bytes 21..end; known compression codec; recordCount ≥ 1 and
// lastOffsetDelta = recordCount-1; for uncompressed batches, that the records tile the body
// exactly, count matches and offset deltas run 0,1,2…
func Validate(p []byte, maxBytes int) (Batch, error) {
	b, err := validateFrame(p, maxBytes)
	if err != nil {
		return nil, err
	}
	if b.Size() != len(p) {
		return nil, corrupt("batch length %d does not match the %d bytes sent", b.Size(), len(p))
	}
	if err := checkContents(b); err != nil {
		return nil, err
	}
	return b, nil
}

// ValidateStored is the check for bytes read back from a segment (recovery): the first batch of p
// must be complete, magic 2, and pass its CRC. It returns that batch; bytes after it are ignored.
func ValidateStored(p []byte) (Batch, error) {
	return validateFrame(p, 0)
}

func validateFrame(p []byte, maxBytes int) (Batch, error) {
	if len(p) < HeaderSize {
		return nil, corrupt("%d bytes is shorter than a batch header (%d)", len(p), HeaderSize)
	}
	b := Batch(p)
	if m := b.Magic(); m != Magic {
		return nil, &Error{Code: CodeUnsupportedForMessageFormat, Reason: fmt.Sprintf("magic %d: only record format v2 (magic 2) is supported", m)}
	}
	size := PeekSize(p)
	if size < 0 {
		return nil, corrupt("batch length %d is shorter than a batch header", b.BatchLength())
	}
	if maxBytes > 0 && size > maxBytes {
		return nil, &Error{Code: CodeMessageTooLarge, Reason: fmt.Sprintf("batch of %d bytes exceeds max.message.bytes %d", size, maxBytes)}
	}
	if size > len(p) {
		return nil, corrupt("batch length says %d bytes, only %d present", size, len(p))
	}
	b = b[:size]
	if got, want := b.ComputeCRC(), b.CRC(); got != want {
		return nil, corrupt("CRC32C mismatch: stored %08x, computed %08x", want, got)
	}
	return b, nil
}

func checkContents(b Batch) error {
	if c := b.Compression(); c > CompressionZstd {
		return &Error{Code: CodeUnsupportedCompressionType, Reason: fmt.Sprintf("compression codec %d is unknown", c)}
	}
	n := b.RecordCount()
	if n <= 0 {
		return corrupt("record count %d: a batch holds at least one record", n)
	}
	if int64(b.LastOffsetDelta()) != int64(n)-1 {
		return corrupt("last offset delta %d disagrees with record count %d", b.LastOffsetDelta(), n)
	}
	if b.Compression() != CompressionNone {
		return nil // the body is opaque until decompressed; consumers check it
	}
	return walkRecords(b.Records(), n)
}

// walkRecords checks an uncompressed body: n length-prefixed records that exactly fill body, the
// i-th with offset delta i. Each record is: length varint, attributes int8, timestampDelta varlong,
// offsetDelta varint, … (the rest is skipped by length).
func walkRecords(body []byte, n int32) error {
	var i int32
	for len(body) > 0 {
		if i == n {
			return corrupt("%d bytes follow the last of %d records", len(body), n)
		}
		length, k := varint(body)
		if k <= 0 || length <= 0 || length > int64(len(body)-k) {
			return corrupt("record %d: bad length", i)
		}
		rec := body[k : k+int(length)]
		body = body[k+int(length):]
		if len(rec) < 1 {
			return corrupt("record %d: empty", i)
		}
		_, k1 := varint(rec[1:]) // timestampDelta
		if k1 <= 0 {
			return corrupt("record %d: bad timestamp delta", i)
		}
		od, k2 := varint(rec[1+k1:])
		if k2 <= 0 {
			return corrupt("record %d: bad offset delta", i)
		}
		if od != int64(i) {
			return corrupt("record %d: offset delta %d, want %d", i, od, i)
		}
		i++
	}
	if i != n {
		return corrupt("record count says %d, body holds %d", n, i)
	}
	return nil
}

// varint is binary.Varint with the one- and two-byte cases decoded before its loop: a record's
// timestamp and offset deltas are almost always one byte, its length one or two, and walkRecords
// reads three per record (results/broker.md, "twelfth pass", for the figure).
func varint(p []byte) (int64, int) {
	if len(p) > 0 && p[0] < 0x80 {
		return int64(p[0]>>1) ^ -int64(p[0]&1), 1
	}
	return varintLong(p)
}

func varintLong(p []byte) (int64, int) {
	if len(p) > 1 && p[1] < 0x80 {
		u := uint64(p[0]&0x7f) | uint64(p[1])<<7
		return int64(u>>1) ^ -int64(u&1), 2
	}
	return binary.Varint(p)
}

// FirstOffsetAtOrAfter returns the offset of the first record in b whose timestamp is ≥ ts, walking
// the records of an uncompressed CreateTime batch. For compressed or LogAppendTime batches (whose
// records all carry maxTimestamp) it answers with the batch's base offset when maxTimestamp ≥ ts.
// ok is false when no record qualifies. b must have passed Validate or ValidateStored.
func (b Batch) FirstOffsetAtOrAfter(ts int64) (offset int64, ok bool) {
	if b.MaxTimestamp() < ts {
		return 0, false
	}
	if b.Compression() != CompressionNone || b.LogAppendTime() {
		return b.BaseOffset(), true
	}
	base := b.BaseTimestamp()
	body := b.Records()
	for len(body) > 0 {
		length, k := binary.Varint(body)
		if k <= 0 || length <= 0 || length > int64(len(body)-k) {
			break
		}
		rec := body[k : k+int(length)]
		body = body[k+int(length):]
		td, k1 := binary.Varint(rec[1:])
		if k1 <= 0 {
			break
		}
		od, k2 := binary.Varint(rec[1+k1:])
		if k2 <= 0 {
			break
		}
		if base+td >= ts {
			return b.BaseOffset() + od, true
		}
	}
	// maxTimestamp overstated the records (a producer's header, not ours to fix): none qualifies.
	return 0, false
}

// Next splits the first batch off a sequence of batches without validating its CRC: it needs only a
// plausible length and returns io-free errors for a truncated tail.
func Next(p []byte) (b Batch, rest []byte, err error) {
	size := PeekSize(p)
	if size < 0 || len(p) < HeaderSize {
		return nil, p, corrupt("truncated or impossible batch header")
	}
	if size > len(p) {
		return nil, p, corrupt("batch length says %d bytes, only %d present", size, len(p))
	}
	return Batch(p[:size]), p[size:], nil
}
