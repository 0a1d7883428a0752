package record

import "encoding/binary"

// Record is one record to encode with AppendBatch. Headers are not supported by the builder (the
// broker never builds batches on the produce path; this is for tests, tools and control records).
type Record struct {
	TimestampDelta int64
	Key, Value     []byte // nil encodes as null (length -1)
}

// BatchSpec holds the header fields AppendBatch writes.
type BatchSpec struct {
	BaseOffset    int64
	LeaderEpoch   int32
	Attributes    int16
	BaseTimestamp int64
	ProducerID    int64 // -1 for none
	ProducerEpoch int16
	BaseSequence  int32
}

// AppendBatch appends an uncompressed RecordBatch v2 holding recs to dst and returns the extended
// slice. maxTimestamp is the largest BaseTimestamp+TimestampDelta; the CRC is filled in.
func AppendBatch(dst []byte, spec BatchSpec, recs []Record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	maxTS := int64(-1)
	for i, r := range recs {
		if ts := spec.BaseTimestamp + r.TimestampDelta; i == 0 || ts > maxTS {
			maxTS = ts
		}
		var body [64]byte
		n := 0
		body[n] = 0 // attributes
		n++
		n += binary.PutVarint(body[n:], r.TimestampDelta)
		n += binary.PutVarint(body[n:], int64(i))
		n += binary.PutVarint(body[n:], bytesLen(r.Key))
		length := n + len(r.Key) + varintLen(bytesLen(r.Value)) + len(r.Value) + 1 // +1: header count 0
		dst = binary.AppendVarint(dst, int64(length))
		dst = append(dst, body[:n]...)
		dst = append(dst, r.Key...)
		dst = binary.AppendVarint(dst, bytesLen(r.Value))
		dst = append(dst, r.Value...)
		dst = binary.AppendVarint(dst, 0) // no headers
	}
	b := Batch(dst[start:])
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(spec.BaseOffset))
	be.PutUint32(b[offBatchLength:], uint32(len(b)-LogOverhead))
	be.PutUint32(b[offLeaderEpoch:], uint32(spec.LeaderEpoch))
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], uint16(spec.Attributes))
	be.PutUint32(b[offLastOffsetDelta:], uint32(len(recs)-1))
	be.PutUint64(b[offBaseTimestamp:], uint64(spec.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(maxTS))
	be.PutUint64(b[offProducerID:], uint64(spec.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(spec.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(spec.BaseSequence))
	be.PutUint32(b[offRecordCount:], uint32(len(recs)))
	b.UpdateCRC()
	return dst
}

func bytesLen(p []byte) int64 {
	if p == nil {
		return -1
	}
	return int64(len(p))
}

func varintLen(v int64) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutVarint(tmp[:], v)
}
