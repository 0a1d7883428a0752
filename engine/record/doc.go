// Package record is a zero-copy view over Kafka RecordBatch v2 bytes (magic 2, Kafka ≥ 0.11).
//
// A Batch is a []byte that starts at a batch header; its accessors decode fields in place and never
// copy or decompress. Validate checks what a broker must check before storing producer bytes
// (length, magic, CRC32C, offset/count consistency), returning an *Error that carries the Kafka
// error code to answer with.
//
// Wire layout (big-endian, offsets in bytes from the start of the batch):
//
//	 0 baseOffset           int64   rewritten by the leader at append
//	 8 batchLength          int32   bytes after this field (total size = 12 + batchLength)
//	12 partitionLeaderEpoch int32   rewritten by the leader at append
//	16 magic                int8    2
//	17 crc                  uint32  CRC32C (Castagnoli) of bytes 21..end
//	21 attributes           int16   bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control
//	23 lastOffsetDelta      int32
//	27 baseTimestamp        int64   (firstTimestamp)
//	35 maxTimestamp         int64
//	43 producerId           int64
//	51 producerEpoch        int16
//	53 baseSequence         int32
//	57 recordCount          int32
//	61 records...
//
// Because the CRC starts at byte 21, rewriting baseOffset and partitionLeaderEpoch never requires
// recomputing it; that is what makes offset assignment a 12-byte in-place write.
//
// The CRC32C is Checksum32C (crc32c.go): hash/crc32's, or on CPUs with AVX-512 and VPCLMULQDQ a
// fold in assembly (crc32c_amd64.s) that its tests hold to hash/crc32's answer for every length
// and alignment.
//
// Invariants: no function here allocates on the success path; a Batch never outlives the buffer
// it views (callers own the lifetime).
package record
