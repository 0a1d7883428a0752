package log

import (
	"math"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Page-cache tail (broker property log.page.cache.tail.bytes; Sluice's own, Kafka has none).
//
// Written data stays in the page cache until the kernel needs the memory, so a broker that
// writes steadily takes a fresh page for every 4 KiB it writes while free memory lasts. On a VM
// whose free memory goes back to the host (virtio-balloon free page reporting, as on the
// project's machines) a fresh page is one the host must fault in again: a pwrite into new page
// cache measured 1.0–2.3 CPU-s/GiB here against 0.33 when the pages are recycled
// (results/broker.md). With a tail of N bytes, data more than N bytes behind a log's end is
// dropped from the cache (posix_fadvise DONTNEED) as the log grows, so the pages it held are
// free — and still backed — when the next write needs pages. What a consumer or follower that
// read in the last second or two has still ahead of it stays cached however far behind it is, so
// a lagging reader catches up from memory, as in Kafka; a reader that comes back after a pause
// further behind than the tail reads from disk (netio moves those reads off the event loop).
//
// DONTNEED never loses data: the kernel starts writeback of dirty pages in the range and drops
// only clean ones, so each range is advised again over the next cacheRetryBytes of growth and the
// pages that were under writeback at the first try go at a later one. A write error met by that
// writeback is reported by the next fsync, as any writeback error is.
//
// The advice runs on one goroutine for the whole process, not on the append path: dropping 4 MiB
// (and starting its writeback) took 0.6–0.7 ms, which a producer waiting for its acknowledgement
// would otherwise wait through every few requests.

const (
	// cacheChunkBytes: the log advises the kernel each time its active segment grows by this much.
	cacheChunkBytes = 4 << 20
	// cacheRetryBytes: how far below the tail each advice reaches again.
	cacheRetryBytes = 8 * cacheChunkBytes
	// readPeriodMs: a reader keeps the data ahead of the offset it last asked for cached for one
	// to two of these (a consumer polls at least every fetch.max.wait.ms, 500 by default).
	readPeriodMs = 1000
)

// trimPageCache drops cached data more than tail bytes behind the log end, after the active
// segment grew from prev to pos bytes, and never data a recent reader has still ahead of it.
// Writer only (caller holds l.mu). tail <= 0: never.
func (l *Log) trimPageCache(active *segment, prev, pos, tail, nowMs int64) {
	if tail <= 0 || prev/cacheChunkBytes == pos/cacheChunkBytes {
		return
	}
	if nowMs-l.readPeriodStart >= readPeriodMs {
		l.readLowPrev = l.readLow.Swap(math.MaxInt64)
		l.readPeriodStart = nowMs
	}
	// Positions are counted across the sealed segment before the active one (if its tail is still
	// being trimmed) and the active one: old covers [0, a), active [a, a+pos).
	old := l.cacheTrailing
	if old != nil && old.base >= active.base {
		// A truncation took the newer segments away and made this one active again.
		old, l.cacheTrailing = nil, nil
	}
	var a int64
	if old != nil {
		a = old.size.Load()
	}
	hi := a + pos - tail
	// A consumer or follower that read from low lately reads on from there: keep that cached.
	if low := min(l.readLow.Load(), l.readLowPrev); low < l.logEndOffset.Load() {
		switch {
		case low >= active.base:
			hi = min(hi, a+indexedPosition(active, low))
		case old != nil && low >= old.base:
			hi = min(hi, indexedPosition(old, low))
		default:
			return // reading further back than this: everything here is still ahead of it
		}
	}
	lo := hi - cacheRetryBytes
	if hi > a {
		adviseDontNeed(active, max(0, lo-a), hi-a)
	}
	if old != nil {
		if lo >= a {
			l.cacheTrailing = nil // every byte of it has been advised cacheRetryBytes deep
		} else {
			adviseDontNeed(old, max(0, lo), min(hi, a))
		}
	}
}

// indexedPosition is where, at the latest, the batch holding offset starts in s: the position of
// the offset index entry at or below it (no file read).
func indexedPosition(s *segment, offset int64) int64 {
	rel := min(max(offset-s.base, 0), maxRelativeOffset)
	_, pos := s.index.lookup(uint32(rel))
	return int64(pos)
}

// noteRead records that a reader asked for offset (any goroutine). Allocation budget: 0.
func (l *Log) noteRead(offset int64) {
	for {
		low := l.readLow.Load()
		if offset >= low || l.readLow.CompareAndSwap(low, offset) {
			return
		}
	}
}

// adviseDontNeed queues advice for the kernel to drop s's cached bytes in [lo, hi). Advisory: a
// segment already closed (deleted, truncated away) is skipped, and so is the advice when the
// queue is full (the next advice reaches the same range again). Allocation budget: 0.
func adviseDontNeed(s *segment, lo, hi int64) {
	if hi <= lo || !s.acquire() {
		return
	}
	trimmer.start.Do(func() {
		trimmer.queue = make(chan cacheAdvice, trimQueueLen)
		go runTrimmer(trimmer.queue)
	})
	select {
	case trimmer.queue <- cacheAdvice{s, lo, hi}:
		trimmer.queued.Add(1)
	default:
		s.release()
	}
}

// trimQueueLen bounds the advice waiting for the trimmer goroutine (each holds a segment open).
const trimQueueLen = 1024

type cacheAdvice struct {
	s      *segment // acquired by the sender, released by the trimmer
	lo, hi int64
}

// trimmer is the process's one page-cache trimming goroutine, started by the first advice; it
// lives as long as the process (it holds nothing between advices).
var trimmer struct {
	start          sync.Once
	queue          chan cacheAdvice
	queued, served atomic.Int64 // advice sent and done (tests wait for served == queued)
}

// adviceHook, when set (tests only), sees each advice before the trimmer gives it.
var adviceHook atomic.Pointer[func(s *segment, lo, hi int64)]

func runTrimmer(queue <-chan cacheAdvice) {
	for a := range queue {
		if h := adviceHook.Load(); h != nil {
			(*h)(a.s, a.lo, a.hi)
		}
		_ = unix.Fadvise(a.s.fd, a.lo, a.hi-a.lo, unix.FADV_DONTNEED) // advisory: errors change nothing
		a.s.release()
		trimmer.served.Add(1)
	}
}
