package log

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/sluicemq/sluice/engine/record"
)

// segment is one <base>.log file with its .index and .timeindex.
//
// Published fields (size, next, maxTimestamp) are written by the log's single writer after the
// bytes they describe, and read by readers without a lock. refs counts the log's own reference
// (dropped when the segment leaves the log) plus one per reader or file Region in flight; the
// descriptor and mappings close when it reaches zero, so a deleted segment stays readable by
// whoever still holds it and a descriptor number is never reused under a reader.
type segment struct {
	base      int64
	file      *os.File
	fd        int
	index     offsetIndex
	timeIndex timeIndex

	size         atomic.Int64 // bytes of whole batches published
	next         atomic.Int64 // offset after the last batch (base when empty)
	maxTimestamp atomic.Int64 // largest batch maxTimestamp; -1 when empty
	refs         atomic.Int32

	// Writer-only state.
	bytesSinceIndex int64
	rolledAt        int64 // ms (clock) of the first append, for segment.ms
	active          bool
	dirty           bool         // written since its last fsync
	allocatedTo     int64        // file blocks are reserved (fallocate) up to here; see preallocate
	epochsSeen      []epochEntry // recovery only: where each leader epoch's batches start
}

// newSegment wraps an open segment file, holding the log's reference.
func newSegment(base int64, f *os.File) *segment {
	s := &segment{base: base, file: f, fd: int(f.Fd()), rolledAt: -1}
	s.refs.Store(1)
	return s
}

func segmentPath(dir string, base int64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext))
}

// createSegment makes a new empty active segment at base.
func createSegment(dir string, base int64, cfg Config) (*segment, error) {
	path := segmentPath(dir, base, ".log")
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	s := newSegment(base, f)
	s.active = true
	s.next.Store(base)
	s.maxTimestamp.Store(-1)
	s.rolledAt = -1
	if err := s.openIndexesWritable(dir, cfg, 0, 0, true); err != nil {
		f.Close()
		if os.IsNotExist(statErr) {
			os.Remove(path) // a failed roll leaves no stray empty segment (but never another's file)
		}
		return nil, err
	}
	return s, nil
}

func (s *segment) openIndexesWritable(dir string, cfg Config, offsetEntries, timeEntries int64, fresh bool) error {
	if fresh {
		os.Remove(segmentPath(dir, s.base, ".index"))
		os.Remove(segmentPath(dir, s.base, ".timeindex"))
	}
	idx, err := newWritableIndex(segmentPath(dir, s.base, ".index"), offsetEntrySize, cfg.SegmentIndexBytes, offsetEntries)
	if err != nil {
		return err
	}
	tidx, err := newWritableIndex(segmentPath(dir, s.base, ".timeindex"), timeEntrySize, cfg.SegmentIndexBytes, timeEntries)
	if err != nil {
		idx.close()
		return err
	}
	s.index, s.timeIndex = offsetIndex{idx}, timeIndex{tidx}
	return nil
}

func (s *segment) acquire() bool {
	for {
		r := s.refs.Load()
		if r <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

func (s *segment) release() {
	switch r := s.refs.Add(-1); {
	case r == 0:
		s.closeFiles()
	case r < 0:
		panic("BUG: segment released more often than acquired")
	}
}

func (s *segment) closeFiles() {
	s.file.Close()
	if s.index.mmapIndex != nil {
		s.index.close()
	}
	if s.timeIndex.mmapIndex != nil {
		s.timeIndex.close()
	}
}

// needsRoll reports whether appending n more bytes must go to a new segment.
// size is the segment's appended size (with write-behind, ahead of the published one).
func (s *segment) needsRoll(size, n int64, nextOffset int64, lastOffset int64, nowMs int64, cfg *Config) bool {
	if size == 0 {
		return false // an empty segment takes any batch (an oversize one gets a segment of its own)
	}
	return size+n > cfg.SegmentBytes ||
		(s.rolledAt >= 0 && nowMs-s.rolledAt >= cfg.SegmentMs) ||
		s.index.full() || s.timeIndex.full() ||
		lastOffset-s.base > maxRelativeOffset
}

// append writes one batch (offsets already assigned) at pos, the end of the segment, and
// publishes it. Writer only. The batch's bytes reach the page cache with one pwrite; a failed or
// short write (ENOSPC, EIO) publishes nothing and the file is cut back to the published size, so
// no part of the batch lingers for recovery to misread or to hold disk space. If even that
// truncate fails, the next append overwrites the torn bytes and Close truncates to the published
// size. With write-behind (wb != nil) the batch goes into the ring instead, and the writer
// publishes it once written (writebehind.go).
func (s *segment) append(b record.Batch, pos int64, nowMs int64, cfg *Config, wb *writeBehind) error {
	s.preallocate(pos+int64(len(b)), cfg)
	buffered := wb == nil
	if wb != nil {
		switch err := wb.append(b, b.NextOffset(), nowMs); {
		case errors.Is(err, errNoRing):
			buffered = true // the log is written to slowly, or every ring is taken (RingBudget)
		case err != nil:
			return err
		}
	}
	if buffered {
		if _, err := s.writeAt(b, pos); err != nil {
			return errors.Join(fmt.Errorf("segment %d: write at %d: %w", s.base, pos, err), s.truncateFile(pos))
		}
	}
	if s.rolledAt < 0 {
		s.rolledAt = nowMs
	}
	s.indexBatch(b, pos, cfg)
	s.dirty = true
	if buffered {
		s.next.Store(b.NextOffset())
		s.size.Store(pos + int64(len(b)))
		if wb != nil {
			wb.wroteBuffered(pos+int64(len(b)), b.NextOffset())
		}
	}
	return nil
}

// preallocate reserves the segment file's blocks ahead of the writes (fallocate with
// FALLOC_FL_KEEP_SIZE: the file's size, which readers and recovery go by, does not change), up to
// log.preallocate.bytes past end and never past segment.bytes. A write into reserved blocks skips
// ext4's delayed-allocation bookkeeping for every page: ~0.08 CPU-s/GiB of ~0.35 for the write
// path (results/broker.md). Advisory: when the reservation fails (a full disk) the write goes on
// without it and meets the disk's own answer. What is still reserved past the data when the
// segment rolls or the log closes is given back (truncate to size).
func (s *segment) preallocate(end int64, cfg *Config) {
	if cfg.PreallocateBytes <= 0 || end <= s.allocatedTo {
		return
	}
	target := min(end+cfg.PreallocateBytes, max(end, cfg.SegmentBytes))
	from := max(s.allocatedTo, s.size.Load())
	_ = unix.Fallocate(s.fd, unix.FALLOC_FL_KEEP_SIZE, from, target-from)
	s.allocatedTo = target
}

// releasePreallocated gives back blocks reserved past the segment's data. Writer only.
func (s *segment) releasePreallocated() error {
	if s.allocatedTo <= s.size.Load() {
		return nil
	}
	return s.truncateFile(s.size.Load())
}

// truncateFile cuts the segment file at pos. ext4 frees blocks reserved past the new end too (even
// when pos is the current size), so the reservation starts over. Every truncate of a segment
// file goes through here. Writer only.
func (s *segment) truncateFile(pos int64) error {
	s.allocatedTo = 0
	return s.file.Truncate(pos)
}

// writeAtHook, when set (tests only), stands in for the segment file's
// WriteAt: the seam through which tests inject ENOSPC, EIO and short writes.
var writeAtHook atomic.Pointer[func(s *segment, p []byte, pos int64) (int, error)]

func (s *segment) writeAt(p []byte, pos int64) (int, error) {
	if h := writeAtHook.Load(); h != nil {
		return (*h)(s, p, pos)
	}
	return s.file.WriteAt(p, pos)
}

// syncHook, when set (tests only), stands in for fsync of segment files: the seam for EIO.
var syncHook atomic.Pointer[func(s *segment) error]

// syncData fsyncs the segment's .log file.
func (s *segment) syncData() error {
	if h := syncHook.Load(); h != nil {
		return (*h)(s)
	}
	return s.file.Sync()
}

// indexBatch adds the sparse index entries due before the batch at pos (one every
// index.interval.bytes, Kafka's rule) and folds its timestamp into the segment's maximum.
// Writer only. A full index skips entries (recovery of a segment written with a larger
// segment.index.bytes); lookups then scan further but stay correct.
func (s *segment) indexBatch(b record.Batch, pos int64, cfg *Config) {
	prevMax := s.maxTimestamp.Load()
	if s.bytesSinceIndex > cfg.IndexIntervalBytes && !s.index.full() && !s.timeIndex.full() {
		rel := uint32(b.BaseOffset() - s.base)
		// On a full disk an entry may be skipped (see appendEntry); the next batch tries again.
		if s.index.append(rel, uint32(pos)) {
			// Time entry: every batch before this one has maxTimestamp ≤ prevMax.
			if lastTS, _, ok := s.timeIndex.last(); prevMax >= 0 && (!ok || prevMax > lastTS) {
				s.timeIndex.append(prevMax, rel)
			}
			s.bytesSinceIndex = 0
		}
	}
	s.bytesSinceIndex += int64(len(b))
	if ts := b.MaxTimestamp(); ts > prevMax {
		s.maxTimestamp.Store(ts)
	}
}

// seal ends the segment's active life: a final time-index entry covering every batch, index files
// trimmed to their entries. Writer only.
func (s *segment) seal() error {
	if !s.active {
		return nil
	}
	s.active = false
	if max := s.maxTimestamp.Load(); max >= 0 && !s.timeIndex.full() {
		if lastTS, _, ok := s.timeIndex.last(); !ok || max > lastTS {
			s.timeIndex.append(max, uint32(s.next.Load()-s.base))
		}
	}
	return errors.Join(s.index.seal(), s.timeIndex.seal())
}

// sync makes the segment's data and indexes durable.
func (s *segment) sync() error {
	err := s.syncData()
	if s.active {
		err = errors.Join(err, s.index.sync(), s.timeIndex.sync())
	}
	return err
}

// header is the part of a batch header the log needs to navigate.
type header struct {
	pos          int64
	size         int64
	baseOffset   int64
	lastOffset   int64
	maxTimestamp int64
}

var scanBufPool = sync.Pool{New: func() any { b := make([]byte, scanBufBytes); return &b }}

// scanner walks batch headers of one segment from a position, reading through a pooled buffer so
// a walk over many small batches costs one pread per buffer, not one per batch.
type scanner struct {
	s        *segment
	buf      *[]byte
	bufStart int64 // file position of (*buf)[0]
	bufLen   int
	end      int64 // stop here (published size at the start of the walk)
}

func (s *segment) newScanner(end int64) scanner {
	return scanner{s: s, buf: scanBufPool.Get().(*[]byte), bufStart: -1, end: end}
}

func (sc *scanner) close() { scanBufPool.Put(sc.buf); sc.buf = nil }

// at returns the header of the batch at pos, or ok=false at the end (or on a short/garbled read,
// which below the published size means the file changed under us: truncation).
func (sc *scanner) at(pos int64) (h header, ok bool) {
	if pos+record.HeaderSize > sc.end {
		return h, false
	}
	if sc.bufStart < 0 || pos < sc.bufStart || pos+record.HeaderSize > sc.bufStart+int64(sc.bufLen) {
		want := int64(len(*sc.buf))
		if rem := sc.end - pos; rem < want {
			want = rem
		}
		n, err := sc.s.file.ReadAt((*sc.buf)[:want], pos)
		if n < record.HeaderSize && err != nil && err != io.EOF {
			return h, false
		}
		sc.bufStart, sc.bufLen = pos, n
		if n < record.HeaderSize {
			return h, false
		}
	}
	p := (*sc.buf)[pos-sc.bufStart:]
	size := record.PeekSize(p)
	if size < 0 || pos+int64(size) > sc.end {
		return h, false
	}
	b := record.Batch(p[:record.HeaderSize])
	return header{pos: pos, size: int64(size), baseOffset: b.BaseOffset(), lastOffset: b.LastOffset(), maxTimestamp: b.MaxTimestamp()}, true
}

// findBatch returns the header of the batch holding offset (or the first batch after it), using
// the sparse index to start close by. ok is false when the segment has no such batch.
func (s *segment) findBatch(offset int64, end int64) (header, bool) {
	rel := offset - s.base
	if rel < 0 {
		rel = 0
	}
	if rel > maxRelativeOffset {
		rel = maxRelativeOffset
	}
	_, pos := s.index.lookup(uint32(rel))
	sc := s.newScanner(end)
	defer sc.close()
	p := int64(pos)
	for {
		h, ok := sc.at(p)
		if !ok {
			return h, false
		}
		if h.lastOffset >= offset {
			return h, true
		}
		p += h.size
	}
}

// regionEnd returns the position after the last whole batch that starts at or after start and
// fits both bounds: ends within start+maxBytes, base offset < upTo. With minOne the first batch is
// included even if larger than maxBytes (Kafka's KIP-74 progress guarantee). full: it stopped at
// maxBytes, not at upTo or the segment's end.
func (s *segment) regionEnd(first header, maxBytes int64, upTo int64, minOne bool, end int64) (p int64, full bool) {
	limit := first.pos + maxBytes
	if first.baseOffset >= upTo {
		return first.pos, false
	}
	if first.pos+first.size > limit {
		if minOne {
			return first.pos + first.size, true
		}
		return first.pos, true
	}
	p = first.pos + first.size
	// Jump ahead with the index: everything before an entry that satisfies both bounds fits.
	if _, pos, ok := s.index.lastWithin(limit, upTo-s.base); ok && int64(pos) > p {
		p = int64(pos)
	}
	sc := s.newScanner(end)
	defer sc.close()
	for {
		h, ok := sc.at(p)
		if !ok || h.baseOffset >= upTo {
			return p, false
		}
		if h.pos+h.size > limit {
			return p, true
		}
		p += h.size
	}
}

// recover scans the whole segment, validating every batch (CRC included), rebuilds both indexes and
// truncates the file at the first bad or torn batch. It returns whether it truncated anything.
// expectBase is where the segment's first batch must start; batches must follow each other in
// offset order. Called before the log is published, so there are no readers.
func (s *segment) recover(dir string, cfg *Config) (truncated bool, err error) {
	if err := s.openIndexesWritable(dir, *cfg, 0, 0, true); err != nil {
		return false, err
	}
	st, err := s.file.Stat()
	if err != nil {
		return false, err
	}
	fileSize := st.Size()
	buf := make([]byte, recoveryBufBytes)
	var pos int64
	expect := s.base
	s.maxTimestamp.Store(-1)
	s.bytesSinceIndex = 0
	for pos < fileSize {
		n, rerr := s.file.ReadAt(buf, pos)
		if n == 0 {
			if rerr != nil && rerr != io.EOF {
				return false, rerr
			}
			break
		}
		chunk := buf[:n]
		advanced := false
		for len(chunk) >= record.LogOverhead {
			size := record.PeekSize(chunk)
			if size < 0 {
				goto bad
			}
			if size > len(chunk) {
				if size > len(buf) { // a batch larger than the buffer: read it whole
					big := make([]byte, size)
					m, _ := s.file.ReadAt(big, pos)
					if m < size {
						goto bad
					}
					if !s.recoverBatch(big, pos, &expect, cfg) {
						goto bad
					}
					pos += int64(size)
					advanced = true
				}
				break
			}
			if !s.recoverBatch(chunk[:size], pos, &expect, cfg) {
				goto bad
			}
			pos += int64(size)
			chunk = chunk[size:]
			advanced = true
		}
		if !advanced {
			break // a partial header or batch at the very end: torn tail
		}
	}
bad:
	if pos < fileSize {
		if err := s.truncateFile(pos); err != nil {
			return false, err
		}
		truncated = true
	}
	s.size.Store(pos)
	s.next.Store(expect)
	return truncated, nil
}

func (s *segment) recoverBatch(p []byte, pos int64, expect *int64, cfg *Config) bool {
	b, err := record.ValidateStored(p)
	if err != nil || b.BaseOffset() < *expect || b.LastOffsetDelta() < 0 || b.LastOffset()-s.base > maxRelativeOffset {
		return false
	}
	s.indexBatch(b, pos, cfg)
	if n := len(s.epochsSeen); n == 0 || b.PartitionLeaderEpoch() > s.epochsSeen[n-1].epoch {
		s.epochsSeen = append(s.epochsSeen, epochEntry{b.PartitionLeaderEpoch(), b.BaseOffset()})
	}
	*expect = b.NextOffset()
	return true
}

// openTrusted opens a segment written by a cleanly stopped run (or one below the recovery point)
// without scanning it: size from the file, indexes from their files (mapped lazily), next offset
// by walking from the last index entry. Index files that look wrong make it fall back to recover.
func openTrusted(dir string, base int64, cfg *Config) (*segment, bool, error) {
	f, err := os.OpenFile(segmentPath(dir, base, ".log"), os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, err
	}
	s := newSegment(base, f)
	s.maxTimestamp.Store(-1)
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	size := st.Size()
	idx, err1 := openSealedIndex(segmentPath(dir, base, ".index"), offsetEntrySize)
	tidx, err2 := openSealedIndex(segmentPath(dir, base, ".timeindex"), timeEntrySize)
	if err1 != nil || err2 != nil {
		return s, false, nil // caller recovers
	}
	s.index, s.timeIndex = offsetIndex{idx}, timeIndex{tidx}
	// Walk from the last index entry to the end: finds next offset, checks the tail is whole, and
	// sees the newest batches' timestamps (the time index's last entry covers the rest).
	_, lastPos, _ := s.index.last()
	if int64(lastPos) > size {
		return s, false, nil
	}
	if ts, _, ok := s.timeIndex.last(); ok {
		s.maxTimestamp.Store(ts)
	}
	sc := s.newScanner(size)
	defer sc.close()
	p := int64(lastPos)
	next := base
	if p > 0 {
		h, ok := sc.at(p)
		if !ok {
			return s, false, nil
		}
		next = h.baseOffset
	}
	for p < size {
		h, ok := sc.at(p)
		if !ok || h.baseOffset < next {
			return s, false, nil
		}
		if h.maxTimestamp > s.maxTimestamp.Load() {
			s.maxTimestamp.Store(h.maxTimestamp)
		}
		next = h.lastOffset + 1
		p += h.size
	}
	s.bytesSinceIndex = size - int64(lastPos)
	s.size.Store(size)
	s.next.Store(next)
	return s, true, nil
}
