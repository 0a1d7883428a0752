package log

import (
	"fmt"

	"github.com/sluicemq/sluice/engine/record"
)

// RecordTimestamp returns the timestamp (ms) of the record at offset, or of the log's first record
// when offset lies below the log start offset (retention deleted the one asked for), for consumer
// time lag. ok is false when no record at or after offset lies below upTo (pass the high
// watermark). Compressed batches answer with their first record's timestamp (see
// record.Batch.TimestampAt).
//
// Cost, bounded and without a scan: one offset-index lookup and the header walk from the index
// entry to the batch (at most index.interval.bytes of headers), then one read of the batch's
// 61-byte header, and for an uncompressed CreateTime batch one read of the batch itself (at most
// message.max.bytes). It takes no lock, like Read.
func (l *Log) RecordTimestamp(offset, upTo int64) (timestampMs int64, ok bool, err error) {
	if start := l.logStartOffset.Load(); offset < start {
		offset = start
	}
	if offset >= upTo || offset >= l.logEndOffset.Load() {
		return 0, false, nil
	}
	r, err := l.Read(offset, record.HeaderSize, upTo, true)
	if err != nil {
		return 0, false, err
	}
	defer r.Release()
	if r.Len < record.HeaderSize {
		return 0, false, nil
	}
	var head [record.HeaderSize]byte
	if _, err := r.seg.file.ReadAt(head[:], r.Pos); err != nil {
		return 0, false, fmt.Errorf("read batch header at offset %d: %w", r.FirstOffset, err)
	}
	b := record.Batch(head[:])
	if b.Compression() == record.CompressionNone && !b.LogAppendTime() {
		buf := make([]byte, min(int64(b.Size()), r.Len))
		if _, err := r.seg.file.ReadAt(buf, r.Pos); err != nil {
			return 0, false, fmt.Errorf("read batch at offset %d: %w", r.FirstOffset, err)
		}
		if len(buf) < b.Size() {
			return 0, false, nil
		}
		b = record.Batch(buf)
	}
	ts, ok := b.TimestampAt(max(offset, b.BaseOffset()))
	return ts, ok, nil
}
