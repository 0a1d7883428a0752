package log

import (
	"math"
	"time"
)

// Config is a log's topic-level configuration, under Kafka's property names. The zero value is not
// usable; start from DefaultConfig.
type Config struct {
	SegmentBytes       int64 // segment.bytes: roll when the active segment would exceed this
	SegmentMs          int64 // segment.ms: roll a non-empty segment this old
	SegmentIndexBytes  int64 // segment.index.bytes: preallocated size of each index file; roll when full
	IndexIntervalBytes int64 // index.interval.bytes: bytes between sparse index entries
	RetentionMs        int64 // retention.ms: delete segments whose newest record is older; -1 keeps forever
	RetentionBytes     int64 // retention.bytes: delete oldest segments while the log is larger; -1 unlimited
	FlushMessages      int64 // flush.messages: fsync after this many unflushed records (MaxInt64: never forced)
	FlushMs            int64 // flush.ms: fsync data older than this (MaxInt64: never forced)

	// RecoveryVerifyAll (broker property log.recovery.verify.all, Sluice's own; Kafka has no
	// equivalent): Open rescans and CRC-checks every segment, not only those from the recovery
	// point after an unclean shutdown, and truncates at the first corrupt batch. It finds bit rot
	// in flushed segments at the cost of reading the whole log at startup.
	RecoveryVerifyAll bool

	// PageCacheTailBytes (broker property log.page.cache.tail.bytes, Sluice's own): written data
	// further than this behind the log end is dropped from the OS page cache as the log grows, so
	// a steady writer recycles pages instead of taking fresh ones (pagecache.go). 0: leave the
	// cache to the kernel, as Kafka does.
	PageCacheTailBytes int64

	// PreallocateBytes (broker property log.preallocate.bytes, Sluice's own): the active segment's
	// file blocks are reserved this far ahead of its data (segment.go preallocate). 0: never.
	PreallocateBytes int64

	// WriteMode (broker property log.write.mode, Sluice's own): buffered (Kafka's pwrite into the
	// page cache) or direct (write-behind with O_DIRECT, writebehind.go). Read by Open only.
	WriteMode WriteMode

	// RingBudget (broker property log.write.direct.memory.bytes, Sluice's own): in direct mode,
	// how many logs may hold a write-behind ring at once, shared by the logs that point to it,
	// the append rate from which a log takes one (log.write.direct.min.bytes.per.second), and
	// whether a log read lately goes without (log.write.direct.unread.only); a log written to
	// without one writes buffered (writebehind.go). nil: no bound, and every log written to
	// takes a ring.
	RingBudget *RingBudget

	// Now is the clock used for segment.ms and retention.ms; nil means time.Now. Tests inject one.
	Now func() time.Time
}

// Kafka's defaults. Every limit lives here.
const (
	DefaultSegmentBytes       = 1 << 30              // 1 GiB
	DefaultSegmentMs          = 7 * 24 * 3600 * 1000 // 7 days
	DefaultSegmentIndexBytes  = 10 << 20             // 10 MiB
	DefaultIndexIntervalBytes = 4096
	DefaultRetentionMs        = 168 * 3600 * 1000 // log.retention.hours = 168
	DefaultRetentionBytes     = -1
	DefaultPageCacheTailBytes = 16 << 20 // log.page.cache.tail.bytes (pagecache.go; results/broker.md)
	DefaultPreallocateBytes   = 16 << 20 // log.preallocate.bytes (segment.go preallocate)
	// DefaultDirectMemoryBytes (log.write.direct.memory.bytes): 64 write-behind rings.
	DefaultDirectMemoryBytes = 256 << 20
	// DefaultDirectMinBytesPerSecond (log.write.direct.min.bytes.per.second): the append rate
	// from which a partition takes a write-behind ring (ringbudget.go; results/broker.md).
	DefaultDirectMinBytesPerSecond = 4 << 20
	NoForcedFlush                  = math.MaxInt64

	// minSegmentBytes keeps a misconfigured topic from rolling on every batch header.
	minSegmentBytes = 1024
	// maxRelativeOffset: index entries store offsets relative to the segment base in 32 bits;
	// Kafka keeps them within int32.
	maxRelativeOffset = math.MaxInt32
	// scanBufBytes is the pooled buffer batch-header scans read through: the index puts an entry
	// every index.interval.bytes, so a lookup rarely scans more than one such interval.
	scanBufBytes = 16 << 10
	// indexReserveBytes: index files are preallocated sparse; blocks are allocated (fallocate)
	// this much at a time ahead of the entries written into the mapping (index.go reserve).
	indexReserveBytes = 64 << 10
	// recoveryBufBytes is the read size while recovering a segment after an unclean shutdown.
	recoveryBufBytes = 1 << 20
)

// DefaultConfig returns Kafka's defaults: 1 GiB segments, 7-day roll, 168 h retention, no size
// retention and no forced fsync.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       DefaultSegmentBytes,
		SegmentMs:          DefaultSegmentMs,
		SegmentIndexBytes:  DefaultSegmentIndexBytes,
		IndexIntervalBytes: DefaultIndexIntervalBytes,
		RetentionMs:        DefaultRetentionMs,
		RetentionBytes:     DefaultRetentionBytes,
		FlushMessages:      NoForcedFlush,
		FlushMs:            NoForcedFlush,
		PageCacheTailBytes: DefaultPageCacheTailBytes,
		PreallocateBytes:   DefaultPreallocateBytes,
		RingBudget:         NewRingBudget(DefaultDirectMemoryBytes, DefaultDirectMinBytesPerSecond, true),
	}
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// normalized clamps nonsense values so the log never divides by zero or rolls per byte.
func (c Config) normalized() Config {
	if c.SegmentBytes < minSegmentBytes {
		c.SegmentBytes = minSegmentBytes
	}
	if c.SegmentBytes > math.MaxInt32 { // positions are u32 in the index
		c.SegmentBytes = math.MaxInt32
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = DefaultSegmentMs
	}
	if c.SegmentIndexBytes < 4*timeEntrySize {
		c.SegmentIndexBytes = 4 * timeEntrySize
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = 1
	}
	if c.FlushMs <= 0 {
		c.FlushMs = 1
	}
	return c
}

func (c Config) flushForced() bool {
	return c.FlushMessages != NoForcedFlush || c.FlushMs != NoForcedFlush
}
