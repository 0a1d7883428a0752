package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sluicemq/sluice/engine/record"
)

// Kafka error codes for log errors; the broker answers with them verbatim.
const (
	CodeOffsetOutOfRange int16 = 1  // OFFSET_OUT_OF_RANGE
	CodeKafkaStorage     int16 = 56 // KAFKA_STORAGE_ERROR
)

// ErrOffsetOutOfRange: the offset is below the log start offset or above the log end offset.
var ErrOffsetOutOfRange = errors.New("offset out of range")

// ErrLogOffline: an fsync of this log failed. After a failed fsync the kernel may have dropped
// the dirty pages and cleared the error, so a retry can "succeed" over lost data (PostgreSQL's
// fsyncgate): the log refuses appends and durability waits until a restart recovers it from the
// recovery point. Kafka takes the whole log directory offline on any I/O error; Sluice takes only
// the partition whose fsync failed.
var ErrLogOffline = errors.New("log offline after an fsync failure; restart the broker to recover it")

// ErrClosed: the log was closed.
var ErrClosed = errors.New("log closed")

// Log is one partition's log. See the package doc for its concurrency contract.
type Log struct {
	dir string
	cfg atomic.Pointer[Config]

	// Published state, read without a lock.
	segments       atomic.Pointer[[]*segment] // ascending base offsets; the last is active
	logEndOffset   atomic.Int64
	highWatermark  atomic.Int64
	logStartOffset atomic.Int64
	// readableEnd: the offset after the last batch readers may see. In buffered mode the log end
	// offset; with write-behind (wb != nil) the end of what is written (writebehind.go).
	readableEnd atomic.Int64

	// Write-behind only (nil in buffered mode): the ring and its writer; onWritten is called
	// after the writer publishes batches.
	wb        *writeBehind
	onWritten atomic.Pointer[func()]

	mu     sync.Mutex // the writer lock: append, roll, truncate, delete, close
	closed bool

	syncFailure atomic.Pointer[error] // the first failed fsync; set once, never cleared (ErrLogOffline)

	// committedLost: offsets below the checkpointed high watermark that recovery found missing
	// or corrupt at Open (0 normally). Set once by load.
	committedLost int64
	ringReplayed  int64 // bytes of a killed run's write-behind ring written back by Open

	flush  flusher
	epochs epochCache

	// cacheTrailing: writer only; the segment sealed by the last roll while its tail is still
	// inside log.page.cache.tail.bytes of the log end (pagecache.go). nil otherwise.
	cacheTrailing *segment
	// readLow: the lowest offset a Read asked for in the current period (math.MaxInt64: none).
	// Readers lower it; the writer (pagecache.go) rotates it into readLowPrev every readPeriodMs
	// from readPeriodStart, and keeps cached what readers of either period have ahead of them.
	readLow         atomic.Int64
	readLowPrev     int64
	readPeriodStart int64
	// readSeen (write-behind only): a Read asked for this log's records since write-behind last
	// looked (readers set it; the append that ends a rate window clears it: writebehind.go
	// noteRateLocked).
	readSeen atomic.Bool

	ckptMu   sync.Mutex // serializes checkpoint writes
	rollSync sync.WaitGroup
}

// AppendInfo describes a stored batch.
type AppendInfo struct {
	BaseOffset   int64
	LastOffset   int64
	LogEndOffset int64
	// FlushTriggered: this append reached flush.messages; with Kafka's semantics the producer's
	// acknowledgement waits for that fsync (WaitDurable(LastOffset+1)). Other appends don't wait.
	FlushTriggered bool
}

// Region is a byte range of a segment file holding whole batches, ready for sendfile. It pins the
// segment (its descriptor stays open even if retention deletes the file) until Release.
type Region struct {
	seg         *segment
	Fd          int   // the segment file's descriptor; valid until Release
	Pos         int64 // file position of the first batch
	Len         int64 // bytes, whole batches only; 0 when there is nothing to read
	FirstOffset int64 // base offset of the first batch in the region
	// Unwritten: the region ends where write-behind had written up to, and batches below upTo
	// follow that were not written yet (the reader may wait for them: WaitReadable).
	Unwritten bool
}

// Release unpins the segment. Call exactly once for every Region with Len > 0.
func (r *Region) Release() {
	if r.seg != nil {
		r.seg.release()
		r.seg = nil
	}
}

// ReadAll copies the region's bytes (tests and tools; the broker sends with sendfile).
func (r *Region) ReadAll() ([]byte, error) {
	if r.Len == 0 {
		return nil, nil
	}
	p := make([]byte, r.Len)
	n, err := r.seg.file.ReadAt(p, r.Pos)
	if n == len(p) {
		err = nil
	}
	return p[:n], err
}

// Open opens (creating if needed) the log in dir, recovering it when the previous run did not shut
// down cleanly.
func Open(dir string, cfg Config) (*Log, error) {
	cfg = cfg.normalized()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, readLowPrev: math.MaxInt64}
	l.readLow.Store(math.MaxInt64)
	l.cfg.Store(&cfg)
	if err := l.load(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	if cfg.WriteMode != WriteDirect {
		// A ring left by a direct-mode run was replayed by load; nothing needs it now.
		_ = os.Remove(filepath.Join(dir, ringFileName))
	} else {
		if err := l.startWriteBehind(); err != nil {
			for _, s := range *l.segments.Load() {
				s.release()
			}
			return nil, fmt.Errorf("open log %s: %w", dir, err)
		}
	}
	l.flush.start(l)
	return l, nil
}

// startWriteBehind starts log.write.mode=direct (writebehind.go) on the loaded log.
func (l *Log) startWriteBehind() error {
	wb, err := newWriteBehind(l)
	if err != nil {
		return err
	}
	l.wb = wb
	if err := l.attachWriterLocked(); err != nil {
		wb.unmap()
		return err
	}
	return nil
}

// attachWriterLocked points the write-behind at the active segment's end when it is not there
// already (after load, roll and truncation). Caller holds l.mu (or is Open); the ring is drained.
func (l *Log) attachWriterLocked() error {
	segs := *l.segments.Load()
	s := segs[len(segs)-1]
	if l.wb.attached(s) {
		return nil
	}
	f, direct, err := openForWrite(l.dir, s)
	if err != nil {
		return fmt.Errorf("segment %d: open for write-behind: %w", s.base, err)
	}
	return l.wb.attach(s, f, direct)
}

// WriteMode is the mode the log was opened with (log.write.mode).
func (l *Log) WriteMode() WriteMode {
	if l.wb != nil {
		return WriteDirect
	}
	return WriteBuffered
}

// DirectIO reports whether write-behind writes bypass the page cache (O_DIRECT); false in
// buffered mode and where the file system refuses O_DIRECT (writes then go through the cache).
func (l *Log) DirectIO() bool {
	if l.wb == nil {
		return false
	}
	l.wb.mu.Lock()
	defer l.wb.mu.Unlock()
	return l.wb.direct
}

// SetWrittenHook sets fn to be called (on the writer goroutine) each time write-behind publishes
// batches, so waiters for data or for the high watermark can look again. No-op in buffered mode,
// where an append publishes at once.
func (l *Log) SetWrittenHook(fn func()) { l.onWritten.Store(&fn) }

// afterWrite runs on the writer goroutine after it published batches.
func (l *Log) afterWrite() {
	if fn := l.onWritten.Load(); fn != nil {
		(*fn)()
	}
}

// WaitWritten waits until write-behind has written and published everything appended so far
// (at once in buffered mode). A follower calls it before fetching on, so the offset it reports
// to its leader, which moves the high watermark, is one it has written. Roll, Truncate, Flush and
// Close call it holding the writer lock, so no append races their drain.
func (l *Log) WaitWritten() error {
	if l.wb == nil {
		return nil
	}
	return l.wb.drain()
}

// WaitReadable waits until readers can see every batch below offset: at once in buffered mode;
// with write-behind, until the writer has written them, or until it has written everything
// appended (offset lies past the log end) or fails (its error) or the log closes (ErrClosed).
// It blocks for a disk write: call it off the event loop.
func (l *Log) WaitReadable(offset int64) error {
	if l.wb == nil {
		return nil
	}
	return l.wb.waitPublished(offset)
}

// WrittenEnd is the offset after the last batch readers may see: the log end offset in buffered
// mode, the end of what is written with write-behind.
func (l *Log) WrittenEnd() int64 {
	if l.wb == nil {
		return l.logEndOffset.Load()
	}
	return l.readableEnd.Load()
}

// CommittedLostOnOpen is how many offsets below the high watermark checkpointed by the previous
// run were missing or corrupt when Open recovered the log (0 after a healthy start). Such a
// replica no longer holds every committed record: it must not lead while a replica that does is
// available (Jepsen's NATS finding); it refetches them as a follower.
func (l *Log) CommittedLostOnOpen() int64 { return l.committedLost }

// RingReplayedOnOpen is how many bytes Open copied from a killed direct-mode run's write-behind
// ring into the log before recovering it (ringfile.go): appended, answered, not yet written.
func (l *Log) RingReplayedOnOpen() int64 { return l.ringReplayed }

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Config returns the log's current configuration.
func (l *Log) Config() Config { return *l.cfg.Load() }

// SetConfig changes the configuration (AlterConfigs). Takes effect from the next append, roll,
// flush and retention pass.
func (l *Log) SetConfig(cfg Config) {
	cfg = cfg.normalized()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg.Store(&cfg)
	l.flush.reconfigure(l)
}

func (l *Log) LogEndOffset() int64   { return l.logEndOffset.Load() }
func (l *Log) HighWatermark() int64  { return l.highWatermark.Load() }
func (l *Log) LogStartOffset() int64 { return l.logStartOffset.Load() }

// SetHighWatermark publishes a new high watermark (the partition layer owns its rules), clamped
// to [LogStartOffset, LogEndOffset]. With write-behind it may pass WrittenEnd: the records
// between are in the ring, which outlives the process as the page cache does (ringfile.go), so
// they are as committed as a buffered pwrite's; readers see them once written.
func (l *Log) SetHighWatermark(hw int64) {
	if leo := l.logEndOffset.Load(); hw > leo {
		hw = leo
	}
	if ls := l.logStartOffset.Load(); hw < ls {
		hw = ls
	}
	l.highWatermark.Store(hw)
}

// lowerHighWatermark caps the high watermark at leo (truncation).
func (l *Log) lowerHighWatermark(leo int64) {
	for {
		hw := l.highWatermark.Load()
		if hw <= leo || l.highWatermark.CompareAndSwap(hw, leo) {
			return
		}
	}
}

// Size is the number of bytes in all segments.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range *l.segments.Load() {
		n += s.size.Load()
	}
	return n
}

// NumSegments is the number of segments (tests, metrics).
func (l *Log) NumSegments() int { return len(*l.segments.Load()) }

// Append stores one validated batch (record.Validate) as the leader: it rewrites the batch's base
// offset to the log end offset and its partition leader epoch to leaderEpoch, in place, then
// writes the bytes to the active segment. Allocation budget: 0 (BenchmarkAppend), except on roll.
func (l *Log) Append(b record.Batch, leaderEpoch int32) (AppendInfo, error) {
	if len(b) < record.HeaderSize || b.Size() != len(b) {
		panic("BUG: Append needs exactly one validated batch")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return AppendInfo{}, ErrClosed
	}
	base := l.logEndOffset.Load()
	b.SetBaseOffset(base)
	b.SetPartitionLeaderEpoch(leaderEpoch)
	return l.appendLocked(b)
}

// AppendAsFollower stores a batch copied from the leader, keeping its offsets and epoch. The batch
// must start at the log end offset.
func (l *Log) AppendAsFollower(b record.Batch) (AppendInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return AppendInfo{}, ErrClosed
	}
	if leo := l.logEndOffset.Load(); b.BaseOffset() != leo {
		return AppendInfo{}, fmt.Errorf("follower append at %d, log end offset is %d: %w", b.BaseOffset(), leo, ErrOffsetOutOfRange)
	}
	return l.appendLocked(b)
}

// failSync takes the log offline after a failed fsync (ErrLogOffline).
func (l *Log) failSync(err error) {
	err = fmt.Errorf("%w: %s: %w", ErrLogOffline, l.dir, err)
	l.syncFailure.CompareAndSwap(nil, &err)
}

// offline returns the fsync failure that took the log offline, or nil.
func (l *Log) offline() error {
	if e := l.syncFailure.Load(); e != nil {
		return *e
	}
	return nil
}

// Caller holds l.mu.
func (l *Log) appendLocked(b record.Batch) (AppendInfo, error) {
	if err := l.offline(); err != nil {
		return AppendInfo{}, err
	}
	cfg := l.cfg.Load()
	segs := *l.segments.Load()
	active := segs[len(segs)-1]
	nowMs := cfg.now().UnixMilli()
	prev := active.size.Load()
	if l.wb != nil {
		prev = l.wb.position()
	}
	// Every step that can fail on a full or failing disk (roll, leader epoch checkpoint, the write
	// itself) leaves the log as it was: nothing published, the log end offset unmoved, so the
	// caller answers KAFKA_STORAGE_ERROR and the next append retries from the same state.
	if active.needsRoll(prev, int64(len(b)), b.BaseOffset(), b.LastOffset(), nowMs, cfg) {
		var err error
		if active, err = l.rollLocked(b.BaseOffset()); err != nil {
			return AppendInfo{}, err
		}
		prev = active.size.Load()
	}
	// The epoch goes first: an epoch starting at the log end with no batch yet is a state the log
	// already knows (a new leader before its first write); a batch without its epoch is not.
	if err := l.assignEpoch(b.PartitionLeaderEpoch(), b.BaseOffset()); err != nil {
		l.unassignEpoch(b.PartitionLeaderEpoch(), b.BaseOffset())
		return AppendInfo{}, fmt.Errorf("leader epoch checkpoint: %w", err)
	}
	if err := active.append(b, prev, nowMs, cfg, l.wb); err != nil {
		return AppendInfo{}, err
	}
	l.trimPageCache(active, prev, prev+int64(len(b)), cfg.PageCacheTailBytes, nowMs)
	next := b.NextOffset()
	l.logEndOffset.Store(next)
	info := AppendInfo{BaseOffset: b.BaseOffset(), LastOffset: b.LastOffset(), LogEndOffset: next}
	info.FlushTriggered = l.flush.noteAppend(int64(b.RecordCount()), cfg)
	return info, nil
}

// rollLocked seals the active segment and starts a new one at base. The sealed segment is fsynced
// in the background and the recovery point moves past it, so a crash rescans only the active
// segment (Kafka does the same on roll). Caller holds l.mu.
func (l *Log) rollLocked(base int64) (*segment, error) {
	segs := *l.segments.Load()
	old := segs[len(segs)-1]
	cfg := l.cfg.Load()
	if l.wb != nil {
		// Write-behind: the old segment is written whole and cut to its data (no zero padding
		// left for recovery to stop at) before the next segment exists.
		if err := l.wb.drain(); err != nil {
			return nil, err
		}
		if err := old.truncateFile(old.size.Load()); err != nil {
			return nil, fmt.Errorf("segment %d: cut to its data: %w", old.base, err)
		}
	}
	if old.size.Load() == 0 {
		// Nothing in it: reuse is impossible if base moved (truncate-fully); replace it.
		if old.base == base {
			return old, nil
		}
	}
	// Create before sealing: when the disk is full the new files fail to appear and the old
	// segment is still the writable active one, so the log stays exactly as it was.
	s, err := createSegment(l.dir, base, *cfg)
	if err != nil {
		return nil, fmt.Errorf("roll to segment %d: %w", base, err)
	}
	var wf *os.File
	var direct bool
	if l.wb != nil {
		if wf, direct, err = openForWrite(l.dir, s); err != nil {
			removeSegmentFiles(l.dir, s)
			s.release()
			return nil, fmt.Errorf("roll to segment %d: open for write-behind: %w", base, err)
		}
	}
	if err := old.seal(); err != nil {
		if wf != nil {
			wf.Close()
		}
		removeSegmentFiles(l.dir, s)
		s.release()
		return nil, errors.Join(fmt.Errorf("seal segment %d: %w", old.base, err), l.reactivateLastLocked())
	}
	if l.wb != nil {
		if err := l.wb.attach(s, wf, direct); err != nil {
			return nil, err // unreachable: the ring was drained above
		}
	}
	var next []*segment
	if old.size.Load() == 0 {
		next = append(append([]*segment(nil), segs[:len(segs)-1]...), s)
		l.publish(next)
		removeSegmentFiles(l.dir, old)
		old.release()
	} else {
		next = append(append(make([]*segment, 0, len(segs)+1), segs...), s)
		l.publish(next)
		l.cacheTrailing = old
		_ = old.releasePreallocated() // on failure the blocks stay reserved until the segment goes
		if old.acquire() {
			l.rollSync.Add(1)
			go l.syncRolled(old, base)
		}
	}
	return s, nil
}

func (l *Log) syncRolled(s *segment, upTo int64) {
	defer l.rollSync.Done()
	defer s.release()
	if err := s.syncData(); err != nil {
		l.failSync(err) // the recovery point stays put: the next open rescans this segment
		return
	}
	l.flush.advanceRecoveryPoint(upTo)
	l.writeCheckpoint()
}

func (l *Log) publish(segs []*segment) { l.segments.Store(&segs) }

// Read returns the file region holding whole batches from the batch that contains offset, at most
// maxBytes long (or, with minOneBatch, the first batch whatever its size), and holding only batches
// whose base offset is below upTo (pass the high watermark for consumers, the log end offset for
// followers), and with write-behind only written ones (Region.Unwritten says more below upTo
// follow). The region lies within one segment; callers loop for more. It takes no lock.
// Release the region when done. An offset below the log start offset or above the log end offset
// gives ErrOffsetOutOfRange; offset == upTo gives an empty region.
func (l *Log) Read(offset int64, maxBytes int64, upTo int64, minOneBatch bool) (Region, error) {
	for attempt := 0; ; attempt++ {
		start, leo := l.logStartOffset.Load(), l.logEndOffset.Load()
		if offset < start || offset > leo {
			return Region{}, fmt.Errorf("%w: offset %d, log start %d, log end %d", ErrOffsetOutOfRange, offset, start, leo)
		}
		r, asked := l.WrittenEnd(), upTo
		capped := upTo > r
		if capped {
			upTo = r // write-behind: appended but not yet written reads as not yet there
		}
		if l.wb != nil && !l.readSeen.Load() {
			l.readSeen.Store(true) // a reader waiting at the end counts too: it reads what comes next
		}
		if offset >= upTo {
			return Region{FirstOffset: offset, Unwritten: offset < asked}, nil
		}
		l.noteRead(offset)
		segs := *l.segments.Load()
		i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
		if i < 0 {
			// Every segment starts after offset: retention deleted the one holding it between the
			// log start check above and this snapshot (it moves the start first, then publishes).
			// Check again, or the region would start after offset.
			if offset < l.logStartOffset.Load() {
				continue
			}
			i = 0
		}
		for ; i < len(segs); i++ {
			s := segs[i]
			if !s.acquire() {
				break // deleted under us: start again from a fresh snapshot
			}
			end := s.size.Load()
			h, ok := s.findBatch(offset, end)
			if !ok {
				s.release()
				continue // offset lies past this segment's batches: the next segment starts there
			}
			if h.baseOffset >= upTo {
				s.release()
				return Region{FirstOffset: offset}, nil
			}
			regionEnd, full := s.regionEnd(h, maxBytes, upTo, minOneBatch, end)
			// Stopped at what is written, not at maxBytes, in the segment being written.
			unwritten := capped && !full && i == len(segs)-1
			if regionEnd == h.pos {
				s.release()
				return Region{FirstOffset: h.baseOffset, Unwritten: unwritten}, nil
			}
			return Region{seg: s, Fd: s.fd, Pos: h.pos, Len: regionEnd - h.pos, FirstOffset: h.baseOffset,
				Unwritten: unwritten}, nil
		}
		if attempt > 100 {
			return Region{}, fmt.Errorf("read offset %d: segments kept changing: %w", offset, ErrOffsetOutOfRange)
		}
	}
}

// OffsetForTimestamp returns the first offset whose record timestamp is ≥ ts (ListOffsets by
// timestamp), and ok=false when no record is that new. For compressed batches the answer is the
// batch's base offset (Sluice never decompresses on the broker).
func (l *Log) OffsetForTimestamp(ts int64) (int64, bool, error) {
	segs := *l.segments.Load()
	hw := l.WrittenEnd()
	start := l.logStartOffset.Load()
	for _, s := range segs {
		if s.maxTimestamp.Load() < ts || !s.acquire() {
			continue
		}
		off, ok, err := s.offsetForTimestamp(ts, start, hw)
		s.release()
		if err != nil || ok {
			return off, ok, err
		}
	}
	return 0, false, nil
}

func (s *segment) offsetForTimestamp(ts int64, logStart int64, upTo int64) (int64, bool, error) {
	end := s.size.Load()
	startOffset := s.base + int64(s.timeIndex.lookup(ts))
	if startOffset < logStart {
		startOffset = logStart
	}
	h, ok := s.findBatch(startOffset, end)
	if !ok {
		return 0, false, nil
	}
	sc := s.newScanner(end)
	defer sc.close()
	for p := h.pos; ; p += h.size {
		if h, ok = sc.at(p); !ok || h.baseOffset >= upTo {
			return 0, false, nil
		}
		if h.maxTimestamp < ts || h.lastOffset < logStart {
			continue
		}
		buf := make([]byte, h.size)
		if _, err := s.file.ReadAt(buf, h.pos); err != nil {
			return 0, false, fmt.Errorf("segment %d: read batch at %d: %w", s.base, h.pos, err)
		}
		off, found := record.Batch(buf).FirstOffsetAtOrAfter(ts)
		if !found {
			continue
		}
		if off < logStart {
			off = logStart
		}
		return off, true, nil
	}
}

// Truncate removes every batch at or after offset (a follower aligning with its leader). When
// offset falls inside a batch, that whole batch goes and the log end offset becomes its base.
// Never truncate below the high watermark on a log consumers read: in-flight regions above the new
// end may observe the rewrite (Kafka has the same contract; only followers truncate).
func (l *Log) Truncate(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.truncatingLocked(func() error { return l.truncateLocked(offset) })
}

// truncatingLocked runs a truncation with write-behind drained before it and pointed at the new
// end after it (a no-op wrapper in buffered mode). Caller holds l.mu.
func (l *Log) truncatingLocked(truncate func() error) error {
	if err := l.WaitWritten(); err != nil {
		return err
	}
	err := truncate()
	if l.wb != nil {
		err = errors.Join(err, l.attachWriterLocked())
	}
	return err
}

func (l *Log) truncateLocked(offset int64) error {
	if offset >= l.logEndOffset.Load() {
		// Nothing to cut, but an epoch that started at the log end without writing a batch (this
		// log led briefly and wrote nothing) must go: the next leader's epochs follow from here.
		l.truncateEpochsFromEnd(l.logEndOffset.Load())
		return nil
	}
	segs := *l.segments.Load()
	if offset <= segs[0].base || offset <= l.logStartOffset.Load() {
		return l.truncateFullyLocked(offset)
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base >= offset }) - 1
	if i+1 < len(segs) && segs[i+1].base == offset {
		i++ // offset is exactly where a segment starts: that segment goes whole
		if err := l.dropFromLocked(segs, i); err != nil {
			return err
		}
		return l.reactivateLastLocked()
	}
	s := segs[i]
	h, ok := s.findBatch(offset, s.size.Load())
	if !ok {
		return fmt.Errorf("truncate to %d: batch not found in segment %d", offset, s.base)
	}
	if err := l.dropFromLocked(segs, i+1); err != nil {
		return err
	}
	if err := s.truncateTo(h.pos, h.baseOffset); err != nil {
		return err
	}
	if err := l.reactivateLastLocked(); err != nil {
		return err
	}
	l.afterTruncateLocked(h.baseOffset)
	return nil
}

// dropFromLocked removes segments[i:] from the log (files deleted; readers holding them finish).
func (l *Log) dropFromLocked(segs []*segment, i int) error {
	if i >= len(segs) {
		return nil
	}
	keep := append([]*segment(nil), segs[:i]...)
	l.publish(keep)
	for _, s := range segs[i:] {
		removeSegmentFiles(l.dir, s)
		s.release()
	}
	l.logEndOffset.Store(keep[len(keep)-1].next.Load())
	l.afterTruncateLocked(l.logEndOffset.Load())
	return nil
}

func (l *Log) afterTruncateLocked(leo int64) {
	l.logEndOffset.Store(leo)
	l.readableEnd.Store(leo)
	l.truncateEpochsFromEnd(leo)
	l.lowerHighWatermark(leo)
	l.flush.clampRecoveryPoint(leo)
	l.writeCheckpoint()
}

// reactivateLastLocked makes the last segment writable again after a truncation.
func (l *Log) reactivateLastLocked() error {
	segs := *l.segments.Load()
	s := segs[len(segs)-1]
	if s.active {
		return nil
	}
	cfg := l.cfg.Load()
	if err := s.index.makeWritable(cfg.SegmentIndexBytes); err != nil {
		return err
	}
	if err := s.timeIndex.makeWritable(cfg.SegmentIndexBytes); err != nil {
		return err
	}
	s.active = true
	return s.rebuildTailState()
}

// truncateTo cuts the segment at pos, where the batch at newNext starts. Writer only.
func (s *segment) truncateTo(pos int64, newNext int64) error {
	s.size.Store(pos)
	s.next.Store(newNext)
	if err := s.truncateFile(pos); err != nil {
		return fmt.Errorf("truncate segment %d at %d: %w", s.base, pos, err)
	}
	s.index.truncateEntries(s.index.countBelowRel(newNext - s.base))
	s.timeIndex.truncateEntries(s.timeIndex.countBelowRel(newNext - s.base + 1))
	return s.rebuildTailState()
}

// rebuildTailState recomputes writer-side counters from the file after a truncation.
func (s *segment) rebuildTailState() error {
	size := s.size.Load()
	sc := s.newScanner(size)
	defer sc.close()
	max := int64(-1)
	for p := int64(0); p < size; {
		h, ok := sc.at(p)
		if !ok {
			return fmt.Errorf("segment %d: unreadable batch at %d during truncation", s.base, p)
		}
		if h.maxTimestamp > max {
			max = h.maxTimestamp
		}
		p += h.size
	}
	s.maxTimestamp.Store(max)
	_, lastPos, _ := s.index.last()
	s.bytesSinceIndex = size - int64(lastPos)
	return nil
}

// TruncateFully empties the log and restarts it at offset, which may lie beyond the log end: a
// follower whose leader's log start offset has moved past everything the follower holds (Kafka's
// truncateFullyAndStartAt). The log start offset, log end offset and high watermark all become
// offset.
func (l *Log) TruncateFully(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.truncatingLocked(func() error { return l.truncateFullyLocked(offset) })
}

// truncateFullyLocked empties the log and restarts it at offset (a follower far behind).
func (l *Log) truncateFullyLocked(offset int64) error {
	segs := *l.segments.Load()
	s, err := createSegment(l.dir, offset, *l.cfg.Load())
	if err != nil {
		return err
	}
	for _, old := range segs {
		if old.base != offset {
			removeSegmentFiles(l.dir, old)
		}
		old.release()
	}
	l.publish([]*segment{s})
	l.logStartOffset.Store(offset)
	l.logEndOffset.Store(offset)
	l.readableEnd.Store(offset)
	l.highWatermark.Store(offset)
	l.truncateEpochsFromEnd(0) // every epoch goes: none of their batches is left
	l.flush.clampRecoveryPoint(offset)
	l.writeCheckpoint()
	return nil
}

// DeleteBefore moves the log start offset to offset (DeleteRecords) and deletes the segments that
// lie wholly below it. Offsets above the high watermark are refused, as Kafka does.
func (l *Log) DeleteBefore(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if offset > l.highWatermark.Load() {
		return fmt.Errorf("%w: delete before %d, high watermark %d", ErrOffsetOutOfRange, offset, l.highWatermark.Load())
	}
	if offset <= l.logStartOffset.Load() {
		return nil
	}
	l.logStartOffset.Store(offset)
	l.deleteSegmentsLocked(func(s *segment, next *segment, _ int64) bool { return next.base <= offset })
	l.truncateEpochsFromStart(offset)
	l.writeCheckpoint()
	return nil
}

// deleteSegmentsLocked deletes the oldest segments while pred holds, never the active one, and
// returns how many went. Caller holds l.mu.
func (l *Log) deleteSegmentsLocked(pred func(s, next *segment, remainingBytes int64) bool) int {
	segs := *l.segments.Load()
	var total int64
	for _, s := range segs {
		total += s.size.Load()
	}
	n := 0
	for n < len(segs)-1 && pred(segs[n], segs[n+1], total) {
		total -= segs[n].size.Load()
		n++
	}
	if n == 0 {
		return 0
	}
	keep := append([]*segment(nil), segs[n:]...)
	if start := keep[0].base; l.logStartOffset.Load() < start {
		l.logStartOffset.Store(start)
	}
	l.publish(keep)
	for _, s := range segs[:n] {
		removeSegmentFiles(l.dir, s)
		s.release()
	}
	return n
}

func removeSegmentFiles(dir string, s *segment) {
	os.Remove(segmentPath(dir, s.base, ".log"))
	os.Remove(segmentPath(dir, s.base, ".index"))
	os.Remove(segmentPath(dir, s.base, ".timeindex"))
}

// Close flushes everything, seals the active segment, writes the checkpoint and the clean-shutdown
// marker, and releases the log's references (regions still held stay readable until released).
func (l *Log) Close() error {
	l.flush.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.rollSync.Wait()
	segs := *l.segments.Load()
	active := segs[len(segs)-1]
	if l.wb != nil {
		// What the writer cannot write now stays in the ring file; no clean-shutdown marker, so
		// the next Open replays it and rescans the active segment (ringfile.go).
		drainErr := l.wb.drain()
		l.wb.stop()
		if drainErr != nil {
			// The ring file keeps what was not written; the next Open (this boot) replays it.
			for _, s := range segs {
				s.release()
			}
			return drainErr
		}
		_ = os.Remove(filepath.Join(l.dir, ringFileName)) // everything is in the segment
	}
	if failed := l.offline(); failed != nil {
		// No clean-shutdown marker and no flush: the next Open must rescan from the recovery
		// point, which never moved past what the failed fsync covered.
		for _, s := range segs {
			s.release()
		}
		return failed
	}
	// Kafka flushes every log on a controlled shutdown; the recovery point then equals the log end.
	err := l.syncUnflushedLocked()
	err = errors.Join(err, active.truncateFile(active.size.Load()), active.seal())
	if err == nil {
		l.flush.advanceRecoveryPoint(l.logEndOffset.Load())
	}
	err = errors.Join(err, l.writeCheckpoint())
	if err == nil {
		err = writeCleanShutdown(l.dir)
	}
	for _, s := range segs {
		s.release()
	}
	return err
}

// ForEachBatch calls fn for every batch from the one holding offset up to the log end offset, in
// order (recovery of state derived from the log, such as idempotent producer state). The batch
// bytes are valid only during the call. It reads through Read, so it takes no lock.
func (l *Log) ForEachBatch(offset int64, fn func(b record.Batch) error) error {
	if start := l.logStartOffset.Load(); offset < start {
		offset = start
	}
	var buf []byte
	for offset < l.logEndOffset.Load() {
		r, err := l.Read(offset, 1<<20, l.logEndOffset.Load(), true)
		if err != nil {
			return err
		}
		if r.Len == 0 {
			return nil
		}
		if int64(cap(buf)) < r.Len {
			buf = make([]byte, r.Len)
		}
		buf = buf[:r.Len]
		n, err := r.seg.file.ReadAt(buf, r.Pos)
		r.Release()
		if int64(n) < r.Len {
			return fmt.Errorf("read batches at %d: %w", offset, err)
		}
		for p := buf; len(p) > 0; {
			b, rest, err := record.Next(p)
			if err != nil {
				return fmt.Errorf("batch at offset %d: %w", offset, err)
			}
			if err := fn(b); err != nil {
				return err
			}
			offset = b.NextOffset()
			p = rest
		}
	}
	return nil
}
