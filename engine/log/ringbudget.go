package log

import "sync/atomic"

// RingBudget bounds the memory of write-behind: each log written behind holds a ring of
// writeBehindBytes (page cache and disk) while it is being written to, so thousands of busy
// partitions would hold gigabytes. A log takes a ring from the budget when an append finds it
// without one, and gives it back when its ring is released after ringIdleRelease without
// appends; an append that finds the budget spent is written as in buffered mode (a pwrite into
// the page cache), so a broker's hottest partitions — those written to without a pause — keep
// their rings, and per-partition state stays small however many partitions there are.
//
// A ring pays only on a partition written to fast (minRate, log.write.direct.min.bytes.per.second):
// a slow partition's writer writes each batch on its own, padded to a block and rewriting the
// partly filled last block every time, which costs more than the pwrite it replaces (1,000
// partitions, results/broker.md "ninth pass"). So a log takes a ring only once its appends reach
// minRate within a rate window, and gives it back when a whole window's appends fall below half
// of it (writeBehind.noteRateLocked); meanwhile it writes buffered.
//
// A ring also pays only on a partition nobody reads (unreadOnly, log.write.direct.unread.only):
// O_DIRECT writes leave nothing in the page cache, so a consumer or follower reading behind the
// writer reads from disk, and pays more for that than the ring saved (results/broker.md, ninth
// pass: seconds of end-to-end latency, no less CPU). A log read in the last rate window writes
// buffered, so its readers find the tail in the page cache as in Kafka; one nobody reads (a
// producer's topic before its consumers come, a follower's log) is written behind.
type RingBudget struct {
	size       int64
	minRate    int64 // bytes per second
	unreadOnly bool
	inUse      atomic.Int64
	misses     atomic.Int64
}

// MaxDirectMinBytesPerSecond bounds log.write.direct.min.bytes.per.second (1 TiB/s), so the
// rate arithmetic cannot overflow.
const MaxDirectMinBytesPerSecond = 1 << 40

// NewRingBudget is a budget of memoryBytes: memoryBytes / RingBytes rings (at least one), for
// logs appended to at minBytesPerSecond or more (0: every log written to; at most
// MaxDirectMinBytesPerSecond) and, if unreadOnly, not read lately.
func NewRingBudget(memoryBytes, minBytesPerSecond int64, unreadOnly bool) *RingBudget {
	return &RingBudget{size: max(memoryBytes/RingBytes, 1), minRate: min(max(minBytesPerSecond, 0), MaxDirectMinBytesPerSecond),
		unreadOnly: unreadOnly}
}

// UnreadOnly reports whether a log read lately writes buffered (false for a nil budget).
func (b *RingBudget) UnreadOnly() bool { return b != nil && b.unreadOnly }

// MinBytesPerSecond is the append rate a log must reach to take a ring (0 for a nil budget).
func (b *RingBudget) MinBytesPerSecond() int64 {
	if b == nil {
		return 0
	}
	return b.minRate
}

// RingBytes is the memory and disk one write-behind ring holds.
const RingBytes = writeBehindBytes

// Size is how many rings the budget allows at once (0 for a nil budget: no bound).
func (b *RingBudget) Size() int64 {
	if b == nil {
		return 0
	}
	return b.size
}

// InUse is how many rings logs hold now (metrics; 0 for a nil budget).
func (b *RingBudget) InUse() int64 {
	if b == nil {
		return 0
	}
	return b.inUse.Load()
}

// Misses counts appends that found no ring free and were written buffered (metrics).
func (b *RingBudget) Misses() int64 {
	if b == nil {
		return 0
	}
	return b.misses.Load()
}

// tryAcquire takes a ring if one is free. A nil budget always has one.
func (b *RingBudget) tryAcquire() bool {
	if b == nil {
		return true
	}
	for {
		n := b.inUse.Load()
		if n >= b.size {
			b.misses.Add(1)
			return false
		}
		if b.inUse.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (b *RingBudget) release() {
	if b != nil {
		b.inUse.Add(-1)
	}
}
