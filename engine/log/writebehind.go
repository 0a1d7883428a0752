package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sluicemq/sluice/internal/ntcopy"
)

// Write-behind (broker property log.write.mode=direct, Sluice's own: the broker's default;
// engine/log's Config defaults to buffered).
//
// Why: a buffered pwrite spends most of its time in the kernel's page-cache bookkeeping (ext4's
// delayed allocation and buffer heads, then the writeback and freeing of those pages): 58 % of
// the broker's CPU at one partition (results/broker.md, "fourth pass"). A write with O_DIRECT
// skips the page cache, but blocking the append on it costs the producer its round trip.
//
// How: Append copies each batch into the log's ring (writeBehindBytes of a file mapped shared,
// ringfile.go) and queues the ring for the process's one writer goroutine (writers), which
// writes each queued ring in turn with O_DIRECT, as much as it has accumulated in one pwritev,
// and publishes the batches it covered. A write must cover whole 4 KiB blocks, so the last,
// partly filled block is written from a zero-padded copy and written again, with more data, by
// the next write; the ring keeps that block's bytes until then. One writer for every ring, not
// one per log: a dozen logs' writers blocked in the kernel at once kept the Go scheduler's
// monitor taking their processors away every 20 µs, and one writer took 9 % less CPU per byte at
// 12 partitions and the same at one, end to end (results/broker.md, tenth pass). All logs share one disk
// (log.dirs takes one directory), so a write stuck on it would hold the others' anyway.
//
// The copy into the ring uses non-temporal stores (internal/ntcopy): only the disk reads the
// ring, so the copy need not read each destination line into the cache first, nor evict the
// socket window and the CRC's input for it. With the builtin copy the ring copy was 30 % of the
// broker's samples at 12 partitions; non-temporal stores took broker CPU from 0.528 to 0.443
// CPU-s/GiB at 12 partitions and 0.452 to 0.370 at one (medians of 12 and 8 interleaved runs;
// results/broker.md, thirteenth pass). In isolation, with the destination in a large L3, the
// builtin copy is the faster (BenchmarkRingCopy): the broker's figure is the one that counts.
//
// Invariants:
//   - The ring holds the file's bytes [alignDown(written), appended), and appended −
//     alignDown(written) ≤ writeBehindBytes: Append waits for room (backpressure at disk speed).
//   - A batch is published (segment size and next offset, Log.readableEnd) only once every byte
//     of it is on disk, so readers (Read, sendfile) never see bytes that are not in the file.
//   - The high watermark does not wait for the writer: it may pass readableEnd, as the ring is
//     as durable as the page cache (below). Offsets are visible at once (ListOffsets, the high
//     watermark in Fetch); the records' bytes once written, and a reader that wants them waits
//     for the writer (Log.WaitReadable, or a parked fetch woken by the written hook). A follower
//     is sent written bytes only, and waits for its own writes before it fetches on
//     (Log.WaitWritten), so on a replicated partition acks=all still means written on every
//     in-sync replica.
//   - The file may end with zero padding up to the next 4 KiB boundary past the published data.
//     Roll, Truncate and Close drain the ring first and cut the file to its data; after a crash,
//     recovery cuts at the padding as at any torn tail.
//   - Everything that changes the active segment other than Append (roll, Truncate, Flush,
//     Close) drains the ring first under the writer lock, so it sees the published state equal to
//     the appended one, as in buffered mode.
//   - A ring with unwritten bytes is queued for the writer or being written (queued, busy), or
//     waits for a write's retry, or is stopping: nothing appended waits for a kick that never
//     comes.
//
// Memory: the ring is writeBehindBytes of page cache (huge pages where the file system allows)
// per log in this mode, filled when appends first use it, so a partition being written to holds
// 4 MiB of memory and of disk. A ring with nothing appended for ringIdleRelease is punched out of
// its file, freeing both, so they follow the partitions written lately, not every partition ever
// written; the next append refills the ring and reads the partly filled last block back from the
// segment first. The broker bounds how many logs hold a ring at once (RingBudget,
// log.write.direct.memory.bytes), and a log takes one only while it is appended to fast
// (log.write.direct.min.bytes.per.second; noteRateLocked) and nobody reads it
// (log.write.direct.unread.only: O_DIRECT leaves nothing in the page cache for a reader): an
// append that finds its log without a ring, and the log slow, read, or no ring free, is written
// as in buffered mode (a pwrite, published at once), and the ring's positions follow it
// (wroteBuffered), so the log can take a ring at its next append. A log that slows down or is
// read gives its ring back at its next append, once the writer has written what it holds.
//
// Writes are not held back to coalesce: the writer writes whatever has accumulated as soon as it
// is free. Lingering for 2 MiB or 5 ms saved no CPU in a six-round goal run and cost throughput
// at one partition, where the event loop then waited for ring room (results/broker.md).
//
// Durability: an acks=0/1 answer is given once the batch is in the ring, before it is written.
// The ring is page cache of its file, so a killed process loses none of it: the next Open writes
// what was not yet written into the segment (ringfile.go), as Kafka's page cache keeps a killed
// broker's pwrites. An OS crash loses unflushed data in both. So the high watermark, and with
// one replica an acks=all answer, need not wait for the write either. Flush, flush.messages and
// flush.ms drain the ring before their fsync. A write error is retried every
// writeRetryInterval; while it persists, new appends fail (KAFKA_STORAGE_ERROR) and so do Flush
// and roll.
const (
	writeBehindBytes   = 4 << 20 // the ring, per log: the prototype's measured chunk size
	directAlign        = 4096    // O_DIRECT alignment of positions, lengths and memory
	writeRetryInterval = 100 * time.Millisecond
	// ringMinFreeBytes: a ring is reserved only on a file system with this much free, so that
	// at least as much as the ring takes is left for data; with less, appends are written
	// buffered.
	ringMinFreeBytes = 2 * writeBehindBytes
)

// ringIdleRelease: a ring nothing was appended to for this long goes back to the kernel. A
// variable so tests can make it short.
var ringIdleRelease = 5 * time.Second

// WriteMode is how appends reach the disk (broker property log.write.mode).
type WriteMode uint8

const (
	// WriteBuffered: pwrite into the page cache, as Kafka (Config's zero value; the broker
	// defaults to WriteDirect).
	WriteBuffered WriteMode = iota
	// WriteDirect: write-behind through an O_DIRECT descriptor (writebehind.go).
	WriteDirect
)

func (m WriteMode) String() string {
	if m == WriteDirect {
		return "direct"
	}
	return "buffered"
}

// ParseWriteMode parses a log.write.mode value.
func ParseWriteMode(s string) (WriteMode, error) {
	switch s {
	case "buffered":
		return WriteBuffered, nil
	case "direct":
		return WriteDirect, nil
	}
	return WriteBuffered, fmt.Errorf("log.write.mode %q: want buffered or direct", s)
}

// pendingBatch is an appended batch not yet published: where it ends and the offset after it.
type pendingBatch struct{ end, next int64 }

type writeBehind struct {
	l        *Log
	ringFile *os.File   // ringFileName (ringfile.go)
	mem      []byte     // ringFile mapped shared: ring, then the header block
	hdr      ringHeader // mem's header block
	ring     []byte     // writeBehindBytes; file position p lives at ring[p % writeBehindBytes]
	tail     []byte     // one aligned block: the zero-padded copy of a partly filled last block

	mu       sync.Mutex
	cond     sync.Cond // appended or written moved, err changed, or stopping
	seg      *segment  // the active segment; changed only by attach, drained
	file     *os.File  // seg's file opened for writing with O_DIRECT (or without: see direct)
	direct   bool      // file has O_DIRECT (false where the file system refuses it)
	appended int64     // file position after the last byte copied into the ring
	written  int64     // file position after the last byte written
	pending  []pendingBatch
	head     int // pending[head:] are unpublished
	err      error
	stopping bool
	// Idle release: appends counts appends; idleTimer fires ringIdleRelease after the writer last
	// found nothing to do (idleArmed), and the ring is released if appends has not moved since
	// (idleMark). released: the ring's pages are gone, the last block must be read back.
	appends   uint64
	idleMark  uint64
	idleTimer *time.Timer
	idleArmed bool
	idleFired bool
	released  bool
	reserved  bool // the ring file's ring part is filled (reserveRing) and not punched out since
	// budget: the broker's bound on rings (nil: none); slot: this log holds one of them, from
	// the append that found it without one until the idle release.
	budget       *RingBudget
	slot         bool
	reserveAfter time.Time // a failed reserveRing is not tried again before this
	// The append rate (noteRateLocked): bytes appended since rateStart (ms); hot: the log is
	// appended to fast enough to hold a ring (RingBudget.MinBytesPerSecond); read: a reader read
	// the log lately (RingBudget.UnreadOnly): in a window that ended, at lastReadMs, less than
	// readQuietMs ago.
	rateStart  int64
	rateBytes  int64
	hot        bool
	read       bool
	lastReadMs int64

	// The process's writer (writers below) serves this ring: queued, it is in the writer's
	// queue; busy, the writer is writing it (nothing else touches the ring's written part).
	queued bool
	busy   bool
	iov    [3]unix.Iovec // the writer's pwritev vector (a field, so the syscall allocates nothing)
	writes atomic.Int64  // pwritev calls that succeeded (tests)
}

// directWriteHook, when set (tests only), runs before each write-behind write of n bytes at pos;
// an error stands in for the write's.
var directWriteHook atomic.Pointer[func(s *segment, pos int64, n int) error]

// HoldWritesForTesting holds every write-behind writer in the process before its next write
// until release is called, so other packages' tests can see records answered but not yet
// written. Never call it outside tests.
func HoldWritesForTesting() (release func()) {
	held := make(chan struct{})
	hook := func(*segment, int64, int) error { <-held; return nil }
	directWriteHook.Store(&hook)
	var once sync.Once
	return func() {
		once.Do(func() {
			directWriteHook.CompareAndSwap(&hook, nil)
			close(held)
		})
	}
}

// FailWritesForTesting makes every write-behind write to a segment under dir fail with err until
// release is called; the writer retries them, and writes other logs' rings meanwhile. Other
// packages' tests fail one broker's disk with it. Never call it outside tests.
func FailWritesForTesting(dir string, err error) (release func()) {
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	hook := func(s *segment, _ int64, _ int) error {
		if strings.HasPrefix(s.file.Name(), prefix) {
			return err
		}
		return nil
	}
	directWriteHook.Store(&hook)
	return func() { directWriteHook.CompareAndSwap(&hook, nil) }
}

func newWriteBehind(l *Log) (*writeBehind, error) {
	f, mem, err := openRingFile(l.dir)
	if err != nil {
		return nil, err
	}
	tail, err := unix.Mmap(-1, 0, directAlign, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		unmapRing(mem)
		f.Close()
		return nil, fmt.Errorf("write-behind ring: %w", err)
	}
	hdr := ringHeader(mem[writeBehindBytes:])
	initRingHeader(hdr)
	wb := &writeBehind{l: l, ringFile: f, mem: mem, hdr: hdr, ring: mem[:writeBehindBytes], tail: tail,
		budget: l.cfg.Load().RingBudget}
	wb.cond.L = &wb.mu
	wb.idleTimer = time.AfterFunc(time.Hour, func() {
		wb.mu.Lock()
		wb.idleFired, wb.idleArmed = true, false
		wb.kickLocked()
		wb.mu.Unlock()
	})
	wb.idleTimer.Stop()
	return wb, nil
}

// openForWrite opens s's file for the writer: O_DIRECT where the file system allows it.
func openForWrite(dir string, s *segment) (f *os.File, direct bool, err error) {
	path := segmentPath(dir, s.base, ".log")
	f, err = os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT, 0)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return nil, false, err
	}
	f, err = os.OpenFile(path, os.O_WRONLY, 0)
	return f, false, err
}

// attach makes s the segment appends go to, from its published size on. The ring must be
// drained; the writer lock is held. The ring does not hold s's partly filled last block yet, as
// after an idle release: the first append reads it back (readBackLocked).
func (wb *writeBehind) attach(s *segment, f *os.File, direct bool) error {
	size := s.size.Load()
	wb.mu.Lock()
	defer wb.mu.Unlock()
	if wb.appended != wb.written {
		f.Close()
		return fmt.Errorf("segment %d: write-behind still holds %d unwritten bytes of segment %d", s.base, wb.appended-wb.written, wb.seg.base)
	}
	if wb.file != nil {
		wb.file.Close()
	}
	wb.seg, wb.file, wb.direct = s, f, direct
	wb.appended, wb.written, wb.released = size, size, true
	wb.pending, wb.head = wb.pending[:0], 0
	setRingHeader(wb.hdr, s.base, size)
	return nil
}

// attached reports whether appends go to s at its published size (nothing to re-attach).
func (wb *writeBehind) attached(s *segment) bool {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	return wb.seg == s && wb.appended == s.size.Load()
}

// position is where the next appended byte goes. Writer lock held.
func (wb *writeBehind) position() int64 {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	return wb.appended
}

// errNoRing: the append found the log without a ring and not to take one (written to slowly,
// read lately, the budget spent, or no disk space to reserve one); the caller writes the batch
// itself (buffered) and reports it with wroteBuffered.
var errNoRing = errors.New("no write-behind ring for this append")

// append copies p (one batch whose next offset is next, appended at nowMs) into the ring,
// waiting for room, and wakes the writer. A pending write error refuses the batch before any of
// it is copied; once copying has begun it waits for the writer, which retries. errNoRing: nothing
// done, and nothing is unwritten. Writer lock held. Allocation budget: 0 (pending grows to its
// steady size once).
func (wb *writeBehind) append(p []byte, next, nowMs int64) error {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	if wb.err != nil {
		return fmt.Errorf("segment %d: write-behind: %w", wb.seg.base, wb.err)
	}
	if wb.stopping {
		return ErrClosed
	}
	wb.noteRateLocked(int64(len(p)), nowMs)
	if !wb.hot || wb.read || (wb.budget.UnreadOnly() && wb.l.readSeen.Load()) {
		if !wb.released {
			// Cooled down or read: the ring goes back now, not after ringIdleRelease. This batch
			// goes into the file after the ring's unwritten bytes, so wait for the writer to
			// write them first: once per change, a write's time (a busy partition's ring is
			// seldom found empty, so waiting for that could keep the ring from a reader).
			for wb.written < wb.appended && wb.err == nil && !wb.stopping {
				wb.cond.Wait()
			}
			switch {
			case wb.err != nil:
				return fmt.Errorf("segment %d: write-behind: %w", wb.seg.base, wb.err)
			case wb.stopping:
				return ErrClosed
			}
			wb.releaseRingLocked()
		}
		return errNoRing
	}
	if wb.released {
		if !wb.slot {
			if !wb.budget.tryAcquire() {
				return errNoRing
			}
			wb.slot = true
		}
		if err := wb.readBackLocked(); err != nil {
			return err
		}
	}
	wb.appends++
	for len(p) > 0 {
		room := wb.written&^(directAlign-1) + writeBehindBytes - wb.appended
		for room == 0 {
			wb.cond.Wait()
			room = wb.written&^(directAlign-1) + writeBehindBytes - wb.appended
		}
		i := wb.appended % writeBehindBytes
		n := int64(ntcopy.Copy(wb.ring[i:min(i+room, writeBehindBytes)], p))
		p = p[n:]
		wb.appended += n
		wb.hdr.store(hdrAppended, wb.appended) // after the copy: a killed process's bytes are replayed
		wb.kickLocked()
	}
	wb.pending = append(wb.pending, pendingBatch{end: wb.appended, next: next})
	return nil
}

// rateWindowMs is the window over which a log's append rate is judged.
const rateWindowMs = 1000

// readQuietMs: a log read in a window counts as read until a window ends this long after that
// one, so three windows in a row without a read give it a ring again. One window was too short:
// a consumer polling every second or two made its partition take and give back its ring by turns
// (a hole punched, the last block read back, a reservation, each time).
const readQuietMs = 3 * rateWindowMs

// noteRateLocked counts n bytes appended at nowMs towards the log's rate. A log turns hot as
// soon as a window's appends reach the budget's rate, and cold when a whole window's fall below
// half of it (hysteresis, so a log near the rate does not take and give back its ring by turns);
// a window that ends after a pause spans the pause. At each window's end, read says whether a
// reader read the log in it or in the windows before it that ended within readQuietMs (with
// RingBudget.UnreadOnly). wb.mu held.
func (wb *writeBehind) noteRateLocked(n, nowMs int64) {
	minRate := wb.budget.MinBytesPerSecond() // at most MaxDirectMinBytesPerSecond: no overflow
	wb.rateBytes += n
	if !wb.hot && wb.rateBytes >= minRate*rateWindowMs/1000 {
		wb.hot = true
	}
	if elapsed := nowMs - wb.rateStart; elapsed >= rateWindowMs || elapsed < 0 {
		if wb.hot && elapsed > 0 && wb.rateBytes*1000/elapsed < minRate/2 {
			wb.hot = false
		}
		unreadOnly := wb.budget.UnreadOnly()
		if unreadOnly && wb.l.readSeen.Swap(false) {
			wb.lastReadMs = nowMs
		}
		wb.read = unreadOnly && wb.lastReadMs != 0 && nowMs-wb.lastReadMs < readQuietMs
		wb.rateStart, wb.rateBytes = nowMs, 0
	}
}

// wroteBuffered records a batch the log wrote itself for want of a ring (errNoRing), ending at
// file position end with next offset next, once its segment has published it: the ring's
// positions and its header follow the file, so the next ring append starts there and a replay
// after a crash finds nothing to write. Writer lock held.
func (wb *writeBehind) wroteBuffered(end, next int64) {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	wb.appended, wb.written = end, end
	setRingHeader(wb.hdr, wb.seg.base, end)
	wb.l.readableEnd.Store(next)
}

// readBackLocked reserves the ring file's blocks and refills the ring's copy of the partly
// filled last block after an idle release or an attach (the next write rewrites that block
// whole). wb.mu held; nothing is unwritten.
func (wb *writeBehind) readBackLocked() error {
	if !wb.reserved {
		// A nearly full disk: the ring would take the space the log's own data needs (a follower
		// catching up once space is freed would find it gone). Write buffered instead, so the
		// disk's answer to this batch's own bytes is the append's; a reservation is tried again
		// after writeRetryInterval, not at every append.
		if time.Now().Before(wb.reserveAfter) {
			wb.releaseSlotLocked()
			return errNoRing
		}
		var fs unix.Statfs_t
		err := unix.Fstatfs(int(wb.ringFile.Fd()), &fs)
		if err == nil && int64(fs.Bavail)*fs.Bsize < ringMinFreeBytes {
			err = unix.ENOSPC
		}
		if err == nil {
			if err = reserveRing(wb.ringFile); err != nil {
				_ = punchRing(wb.ringFile) // give back what the reservation took
			}
		}
		if err != nil {
			wb.reserveAfter = time.Now().Add(writeRetryInterval)
			wb.releaseSlotLocked()
			return errNoRing
		}
		wb.reserved = true
	}
	from := wb.written &^ (directAlign - 1)
	if n := wb.written - from; n > 0 {
		i := from % writeBehindBytes
		if got, err := wb.seg.file.ReadAt(wb.ring[i:i+n], from); int64(got) < n {
			wb.releaseSlotLocked() // still released: the next append takes one again
			return fmt.Errorf("segment %d: read back its last block: %w", wb.seg.base, err)
		}
	}
	wb.released = false
	return nil
}

// releaseIdleLocked gives the ring's pages back when nothing was appended since the writer went
// idle ringIdleRelease ago, or re-arms the timer. wb.mu held; the writer found nothing to write.
func (wb *writeBehind) releaseIdleLocked() {
	switch {
	case wb.idleFired && wb.appends == wb.idleMark && !wb.released:
		wb.releaseRingLocked()
	case !wb.idleArmed && !wb.released && !wb.stopping:
		wb.idleMark, wb.idleArmed = wb.appends, true
		wb.idleTimer.Reset(ringIdleRelease)
	}
	wb.idleFired = false
}

// releaseRingLocked gives the ring's pages and blocks back, and its slot to the budget. wb.mu
// held; nothing is unwritten. Advisory: where the file system cannot punch holes the pages stay,
// clean once written back, for the kernel to reclaim.
func (wb *writeBehind) releaseRingLocked() {
	if punchRing(wb.ringFile) == nil {
		wb.reserved = false
	}
	wb.released = true
	wb.releaseSlotLocked()
}

// releaseSlotLocked gives the log's ring back to the budget. wb.mu held; the ring is released
// (nothing unwritten, the next append reads back or writes buffered).
func (wb *writeBehind) releaseSlotLocked() {
	if wb.slot {
		wb.slot = false
		wb.budget.release()
	}
}

// drain waits until everything appended is written and published, or a write fails.
func (wb *writeBehind) drain() error {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	for wb.written < wb.appended && wb.err == nil && !wb.stopping {
		wb.cond.Wait()
	}
	if wb.written < wb.appended {
		if wb.err != nil {
			return fmt.Errorf("segment %d: write-behind: %w", wb.seg.base, wb.err)
		}
		return ErrClosed
	}
	return nil
}

// waitPublished waits until the log's readable end reaches offset, or nothing appended is left
// unwritten, or a write fails, or the writer stops.
func (wb *writeBehind) waitPublished(offset int64) error {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	for wb.l.readableEnd.Load() < offset && wb.written < wb.appended && wb.err == nil && !wb.stopping {
		wb.cond.Wait()
	}
	switch {
	case wb.l.readableEnd.Load() >= offset || wb.written == wb.appended:
		return nil
	case wb.err != nil:
		return fmt.Errorf("segment %d: write-behind: %w", wb.seg.base, wb.err)
	}
	return ErrClosed
}

// writers is the process's write-behind writer: one goroutine writes every ring, in turn, each
// time as much as it holds. One writer, not one per log: with a goroutine per log, a dozen
// O_DIRECT writes blocked in the kernel at once left the Go scheduler no idle processor, and its
// monitor took their processors away every 20 µs (results/broker.md, tenth pass).
var writers struct {
	start sync.Once
	mu    sync.Mutex
	cond  sync.Cond
	queue []*writeBehind
}

// kickLocked queues the ring for the writer unless it is queued, being written (the writer looks
// again after its write) or stopping. wb.mu held.
func (wb *writeBehind) kickLocked() {
	if wb.queued || wb.busy || wb.stopping {
		return
	}
	wb.queued = true
	writers.start.Do(func() {
		writers.cond.L = &writers.mu
		go runWriter()
	})
	writers.mu.Lock()
	writers.queue = append(writers.queue, wb)
	writers.mu.Unlock()
	writers.cond.Signal()
}

// runWriter is the writer goroutine: it lives as long as the process.
func runWriter() {
	for {
		writers.mu.Lock()
		for len(writers.queue) == 0 {
			writers.cond.Wait()
		}
		wb := writers.queue[0]
		// Shift rather than reslice, so the queue keeps its array: no allocation per kick. It
		// holds at most one entry per ring (queued).
		n := copy(writers.queue, writers.queue[1:])
		writers.queue[n] = nil
		writers.queue = writers.queue[:n]
		writers.mu.Unlock()
		wb.writeOnce()
	}
}

// writeOnce writes what the ring holds (one pwritev) and publishes the batches it covered, or,
// with nothing to write, lets the ring go idle. On the writer goroutine.
func (wb *writeBehind) writeOnce() {
	wb.mu.Lock()
	wb.queued = false
	if wb.stopping {
		wb.mu.Unlock()
		return
	}
	if wb.written == wb.appended {
		wb.releaseIdleLocked()
		wb.mu.Unlock()
		return
	}
	from, to := wb.written&^(directAlign-1), wb.appended
	s, fd := wb.seg, int(wb.file.Fd())
	full := to &^ (directAlign - 1)
	iov := wb.iov[:0]
	iov = wb.ringSpans(iov, from, full)
	if full < to {
		// The last block is partly filled: write a zero-padded copy, so appends may go on
		// filling the ring's own copy while the write runs.
		i := full % writeBehindBytes
		clear(wb.tail[copy(wb.tail, wb.ring[i:i+(to-full)]):])
		iov = append(iov, iovec(wb.tail))
	}
	wb.busy = true
	wb.mu.Unlock()
	err := wb.write(s, fd, iov, from)
	wb.mu.Lock()
	wb.busy = false
	if err != nil {
		wb.err = err
		wb.cond.Broadcast()
		wb.mu.Unlock()
		time.AfterFunc(writeRetryInterval, func() {
			wb.mu.Lock()
			wb.kickLocked()
			wb.mu.Unlock()
		})
		return
	}
	wb.err = nil
	wb.hdr.store(hdrWritten, to) // before appends may reuse the ring space this write frees
	wb.written = to
	published := wb.publishLocked(s, to)
	wb.cond.Broadcast()
	if wb.written < wb.appended {
		wb.kickLocked() // more came while it wrote: back in the queue, behind the other rings
	} else {
		wb.releaseIdleLocked()
	}
	wb.mu.Unlock()
	if published {
		wb.l.afterWrite()
	}
}

// ringSpans appends the ring's pieces holding file bytes [from, to) (a span may wrap).
func (wb *writeBehind) ringSpans(iov []unix.Iovec, from, to int64) []unix.Iovec {
	if to <= from {
		return iov
	}
	i, n := from%writeBehindBytes, to-from
	if i+n <= writeBehindBytes {
		return append(iov, iovec(wb.ring[i:i+n]))
	}
	return append(iov, iovec(wb.ring[i:]), iovec(wb.ring[:i+n-writeBehindBytes]))
}

func iovec(p []byte) unix.Iovec {
	v := unix.Iovec{Base: &p[0]}
	v.SetLen(len(p))
	return v
}

// write writes iov at pos with one pwritev (more after a short write; a failed write is tried
// again whole by the caller).
func (wb *writeBehind) write(s *segment, fd int, iov []unix.Iovec, pos int64) error {
	var total int
	for _, v := range iov {
		total += int(v.Len)
	}
	if h := directWriteHook.Load(); h != nil {
		if err := (*h)(s, pos, total); err != nil {
			return err
		}
	}
	for done := 0; done < total; {
		n, _, errno := unix.Syscall6(unix.SYS_PWRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), uintptr(pos+int64(done)), 0, 0)
		if errno != 0 {
			return fmt.Errorf("write at %d: %w", pos+int64(done), errno)
		}
		if n == 0 {
			return fmt.Errorf("write at %d: wrote nothing", pos+int64(done))
		}
		// A short write (a file system filling up): write the rest, which says why it failed
		// (ENOSPC) or succeeds.
		done += int(n)
		iov = advanceIovec(iov, int(n))
	}
	wb.writes.Add(1)
	return nil
}

// advanceIovec drops the first n bytes of iov, in place.
func advanceIovec(iov []unix.Iovec, n int) []unix.Iovec {
	for len(iov) > 0 && n >= int(iov[0].Len) {
		n -= int(iov[0].Len)
		iov = iov[1:]
	}
	if n > 0 {
		iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
		iov[0].SetLen(int(iov[0].Len) - n)
	}
	return iov
}

// publishLocked publishes the pending batches that end at or before to, and reports whether any
// did. wb.mu held.
func (wb *writeBehind) publishLocked(s *segment, to int64) bool {
	var last pendingBatch
	for wb.head < len(wb.pending) && wb.pending[wb.head].end <= to {
		last = wb.pending[wb.head]
		wb.head++
	}
	if last.end == 0 {
		return false
	}
	switch {
	case wb.head == len(wb.pending):
		wb.pending, wb.head = wb.pending[:0], 0
	case wb.head >= len(wb.pending)/2:
		n := copy(wb.pending, wb.pending[wb.head:])
		wb.pending, wb.head = wb.pending[:n], 0
	}
	// Segment first, then the log's readable end: a reader that sees the new end finds the bytes.
	s.next.Store(last.next)
	s.size.Store(last.end)
	wb.l.readableEnd.Store(last.next)
	return true
}

// stop takes the ring from the writer, waiting for a write in flight, without writing what is left
// (Close drains first; a test's crash does not), and unmaps the ring; its file stays for the next
// Open to replay.
func (wb *writeBehind) stop() {
	wb.mu.Lock()
	wb.stopping = true
	wb.cond.Broadcast()
	for wb.busy { // the writer is mid-write into this ring's file
		wb.cond.Wait()
	}
	wb.mu.Unlock()
	wb.idleTimer.Stop()
	wb.mu.Lock()
	wb.releaseSlotLocked()
	wb.mu.Unlock()
	if wb.file != nil {
		wb.file.Close()
	}
	wb.unmap()
}

func (wb *writeBehind) unmap() {
	unmapRing(wb.mem)
	_ = unix.Munmap(wb.tail)
	wb.ringFile.Close()
}
