package log

import "sync/atomic"

// RingBudget bounds the memory of write-behind: each log written behind holds a ring of
// writeBehindBytes (page cache and disk) while it is being written to, so thousands of busy
// partitions would hold gigabytes. A log takes a ring from the budget when an append finds it
// without one, and gives it back when its ring is released after ringIdleRelease without
// appends; an append that finds the budget spent is written as in buffered mode (a pwrite into
// the page cache), so a broker's hottest partitions — those written to without a pause — keep
// their rings, and per-partition state stays small however many partitions there are.
type RingBudget struct {
	size   int64
	inUse  atomic.Int64
	misses atomic.Int64
}

// NewRingBudget is a budget of memoryBytes: memoryBytes / RingBytes rings (at least one).
func NewRingBudget(memoryBytes int64) *RingBudget {
	return &RingBudget{size: max(memoryBytes/RingBytes, 1)}
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
