package record

import (
	"encoding/binary"
	"hash/crc32"
)

// Header field positions. The CRC covers bytes crcStart..end.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// HeaderSize is the fixed size of a v2 batch header, records follow it.
	HeaderSize = 61
	// LogOverhead is the part of the header before and including batchLength: a batch occupies
	// LogOverhead + batchLength bytes.
	LogOverhead = 12
	crcStart    = offAttributes

	// Magic is the only record format Sluice stores.
	Magic = 2
)

// Attribute bits.
const (
	CompressionMask     = 0x07
	TimestampTypeBit    = 0x08 // 1 = LogAppendTime
	TransactionalBit    = 0x10
	ControlBit          = 0x20
	DeleteHorizonBit    = 0x40
	compressionNone     = 0
	compressionZstdLast = 4
)

// Compression codecs as stored in attribute bits 0-2.
const (
	CompressionNone   = 0
	CompressionGzip   = 1
	CompressionSnappy = 2
	CompressionLZ4    = 3
	CompressionZstd   = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Batch views one RecordBatch v2. Accessors assume len(b) ≥ HeaderSize (Validate or SizeOf
// established it); they panic on shorter slices, which is a caller bug.
type Batch []byte

func (b Batch) BaseOffset() int64  { return int64(binary.BigEndian.Uint64(b[offBaseOffset:])) }
func (b Batch) BatchLength() int32 { return int32(binary.BigEndian.Uint32(b[offBatchLength:])) }
func (b Batch) PartitionLeaderEpoch() int32 {
	return int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
}
func (b Batch) Magic() int8            { return int8(b[offMagic]) }
func (b Batch) CRC() uint32            { return binary.BigEndian.Uint32(b[offCRC:]) }
func (b Batch) Attributes() int16      { return int16(binary.BigEndian.Uint16(b[offAttributes:])) }
func (b Batch) LastOffsetDelta() int32 { return int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])) }
func (b Batch) BaseTimestamp() int64   { return int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])) }
func (b Batch) MaxTimestamp() int64    { return int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])) }
func (b Batch) ProducerID() int64      { return int64(binary.BigEndian.Uint64(b[offProducerID:])) }
func (b Batch) ProducerEpoch() int16   { return int16(binary.BigEndian.Uint16(b[offProducerEpoch:])) }
func (b Batch) BaseSequence() int32    { return int32(binary.BigEndian.Uint32(b[offBaseSequence:])) }
func (b Batch) RecordCount() int32     { return int32(binary.BigEndian.Uint32(b[offRecordCount:])) }

// Size is the number of bytes the batch occupies: LogOverhead + batchLength.
func (b Batch) Size() int { return LogOverhead + int(b.BatchLength()) }

// LastOffset is the offset of the batch's last record.
func (b Batch) LastOffset() int64 { return b.BaseOffset() + int64(b.LastOffsetDelta()) }

// NextOffset is the offset that follows the batch.
func (b Batch) NextOffset() int64 { return b.LastOffset() + 1 }

func (b Batch) Compression() int    { return int(b.Attributes() & CompressionMask) }
func (b Batch) LogAppendTime() bool { return b.Attributes()&TimestampTypeBit != 0 }
func (b Batch) Transactional() bool { return b.Attributes()&TransactionalBit != 0 }
func (b Batch) Control() bool       { return b.Attributes()&ControlBit != 0 }
func (b Batch) HasProducerID() bool { return b.ProducerID() >= 0 }
func (b Batch) Records() []byte     { return b[HeaderSize:b.Size()] }

// SetBaseOffset rewrites the base offset in place. The CRC does not cover it.
func (b Batch) SetBaseOffset(o int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(o)) }

// SetPartitionLeaderEpoch rewrites the leader epoch in place. The CRC does not cover it.
func (b Batch) SetPartitionLeaderEpoch(e int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(e))
}

// SetLogAppendTime marks the batch's timestamps as broker-assigned (message.timestamp.type =
// LogAppendTime): the timestamp-type bit is set, maxTimestamp becomes ts, and the CRC is
// recomputed because both fields lie inside it. Records keep their deltas (Kafka's behaviour:
// consumers read every record's timestamp as the batch's maxTimestamp).
func (b Batch) SetLogAppendTime(ts int64) {
	attrs := b.Attributes() | TimestampTypeBit
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(attrs))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	b.UpdateCRC()
}

// UpdateCRC recomputes the CRC32C over bytes 21..end.
func (b Batch) UpdateCRC() {
	binary.BigEndian.PutUint32(b[offCRC:], Checksum32C(b[crcStart:b.Size()]))
}

// ComputeCRC returns the CRC32C the batch should carry.
func (b Batch) ComputeCRC() uint32 { return Checksum32C(b[crcStart:b.Size()]) }

// PeekSize returns the total size of the batch starting at p, given at least LogOverhead bytes of
// it, or -1 if the length field is impossible (smaller than a header). It reads no further.
func PeekSize(p []byte) int {
	if len(p) < LogOverhead {
		return -1
	}
	n := int(int32(binary.BigEndian.Uint32(p[offBatchLength:])))
	if n < HeaderSize-LogOverhead {
		return -1
	}
	return LogOverhead + n
}
