package log

import (
	"fmt"

	"github.com/sluicemq/sluice/engine/record"
)

// recordTimestampReadBytes is RecordTimestamp's first read: a batch header and, for batches of a
// few small records, the whole batch.
const recordTimestampReadBytes = 4096

// RecordTimestamp returns the timestamp (ms) of the record at offset, or of the log's first record
// when offset lies below the log start offset (retention deleted the one asked for), for consumer
// time lag. ok is false when no record at or after offset lies below upTo (pass the high
// watermark). Compressed batches answer with their first record's timestamp (see
// record.Batch.TimestampAt).
//
// Cost, bounded and without a scan: one offset-index lookup and the header walk from the index
// entry to the batch (at most index.interval.bytes of headers), then one pread of the batch's
// first recordTimestampReadBytes, and for a larger uncompressed CreateTime batch a second of the
// whole batch (at most message.max.bytes). It takes no lock, like Read. BenchmarkScrape
// (engine/broker) measures it in a scrape.
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
	// One read covers the header and, for a small batch, the whole of it; a larger uncompressed
	// batch takes a second read (compressed ones never need more than the header).
	var first [recordTimestampReadBytes]byte
	n := min(r.Len, int64(len(first)))
	if _, err := r.seg.file.ReadAt(first[:n], r.Pos); err != nil {
		return 0, false, fmt.Errorf("read batch at offset %d: %w", r.FirstOffset, err)
	}
	b := record.Batch(first[:n])
	if b.Compression() == record.CompressionNone && !b.LogAppendTime() && int64(b.Size()) > n {
		if int64(b.Size()) > r.Len {
			return 0, false, nil // the region ends inside the batch: the file changed under us
		}
		buf := make([]byte, b.Size())
		if _, err := r.seg.file.ReadAt(buf, r.Pos); err != nil {
			return 0, false, fmt.Errorf("read batch at offset %d: %w", r.FirstOffset, err)
		}
		b = record.Batch(buf)
	}
	ts, ok := b.TimestampAt(max(offset, b.BaseOffset()))
	return ts, ok, nil
}
