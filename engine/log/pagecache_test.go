package log

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sluicemq/sluice/engine/record"
)

const mib = 1 << 20

// TestPageCacheTail: data further than log.page.cache.tail.bytes behind the log end leaves the
// page cache once it is written back, the tail stays cached, and every byte still reads back —
// with one active segment and across rolls (the sealed segment's tail is trimmed after the roll);
// what a reader reading far behind has still ahead of it stays cached. With a tail of 0 nothing
// is dropped.
func TestPageCacheTail(t *testing.T) {
	type span struct{ lo, hi int64 } // MiB
	for _, tc := range []struct {
		name         string
		tail         int64
		segmentBytes int64
		readerAt     int  // a reader keeps reading the batch starting at this MiB (-1: none)
		dropped      span // must have left the cache
		kept         span // must all be cached (besides the tail)
	}{
		{"one-segment", 8 * mib, DefaultSegmentBytes, -1, span{16, 40}, span{}},
		{"rolling", 8 * mib, 20 * mib, -1, span{16, 40}, span{}},
		{"lagging-reader", 8 * mib, DefaultSegmentBytes, 16, span{0, 12}, span{16, 40}},
		{"lagging-reader-rolling", 8 * mib, 20 * mib, 26, span{4, 22}, span{26, 40}},
		{"off", 0, DefaultSegmentBytes, -1, span{}, span{16, 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			requireDiskBacked(t, dir)
			cfg := DefaultConfig()
			cfg.PageCacheTailBytes = tc.tail
			cfg.SegmentBytes = tc.segmentBytes
			l, err := Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			advised := recordAdvice(t)

			var written [][]byte
			appendMiB := func(n int) {
				for range n {
					if tc.readerAt >= 0 && tc.readerAt < len(written) {
						r, err := l.Read(int64(16*tc.readerAt), 1, l.LogEndOffset(), true)
						if err != nil {
							t.Fatal(err)
						}
						r.Release()
					}
					// 16 records of 64 KiB minus their framing: one batch of about 1 MiB.
					recs := make([]record.Record, 16)
					for i := range recs {
						recs[i] = record.Record{Value: bytes.Repeat([]byte{byte(len(written) + i)}, 64<<10-64)}
					}
					b := record.AppendBatch(nil, record.BatchSpec{ProducerID: -1}, recs)
					if _, err := l.Append(record.Batch(b), 1); err != nil {
						t.Fatal(err)
					}
					written = append(written, b)
				}
			}
			// 48 MiB made clean by an fsync, then 40 MiB more: every advice while those 40 MiB
			// arrive reaches back over the clean part, which the kernel must then drop.
			appendMiB(48)
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			appendMiB(40)
			end := l.Size()

			waitTrimmer(t)
			if sp := tc.dropped; sp.hi > 0 {
				if cached, total := cachedPages(t, l, sp.lo*mib, sp.hi*mib); cached != 0 {
					t.Errorf("bytes [%d, %d) MiB of %d MiB, flushed and further than the %d MiB tail behind the end: %d of %d pages still cached", sp.lo, sp.hi, end/mib, tc.tail/mib, cached, total)
				}
			}
			// What must stay cached is checked against the advice given, not the cache: the
			// kernel may reclaim clean pages nobody advised it to drop (proactive reclaim,
			// memory pressure from other tests), and did in CI. Its cache figures are logged.
			kept := func(what string, lo, hi int64) {
				t.Helper()
				for _, a := range advised(l) {
					if a.lo < hi && lo < a.hi {
						t.Errorf("%s, bytes [%d, %d) of the log: advised out of the cache over [%d, %d)", what, lo, hi, a.lo, a.hi)
					}
				}
				cached, total := cachedPages(t, l, lo, hi)
				t.Logf("%s: %d of %d pages cached", what, cached, total)
			}
			if sp := tc.kept; sp.hi > 0 {
				kept(fmt.Sprintf("reader at %d MiB, tail %d MiB", tc.readerAt, tc.tail/mib), sp.lo*mib, sp.hi*mib)
			}
			kept(fmt.Sprintf("the last 7 MiB, inside the %d MiB tail", tc.tail/mib), end-7*mib, end)

			// Nothing is lost: every batch reads back byte for byte.
			var off int64
			for i, want := range written {
				r, err := l.Read(off, int64(len(want)), l.LogEndOffset(), true)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, r.Len)
				if _, err := unix.Pread(r.Fd, got, r.Pos); err != nil {
					t.Fatal(err)
				}
				r.Release()
				// Append rewrote the base offset and leader epoch in place: compare from the CRC on.
				if len(got) != len(want) || !bytes.Equal(got[17:], want[17:]) {
					t.Fatalf("batch %d at offset %d reads back different", i, off)
				}
				off += int64(record.Batch(got).RecordCount())
			}
		})
	}
}

// logSpan is a range of a log's bytes, counted from the start of its first segment.
type logSpan struct{ lo, hi int64 }

// recordAdvice records the trimmer's advice for the rest of the test; the function it returns
// gives the advice that fell on l's segments, as ranges of l's bytes.
func recordAdvice(t *testing.T) func(l *Log) []logSpan {
	var mu sync.Mutex
	type advice struct {
		s      *segment
		lo, hi int64
	}
	var all []advice
	hook := func(s *segment, lo, hi int64) {
		mu.Lock()
		all = append(all, advice{s, lo, hi})
		mu.Unlock()
	}
	adviceHook.Store(&hook)
	t.Cleanup(func() { adviceHook.CompareAndSwap(&hook, nil) })
	return func(l *Log) []logSpan {
		waitTrimmer(t)
		mu.Lock()
		defer mu.Unlock()
		var out []logSpan
		var start int64
		for _, s := range *l.segments.Load() {
			for _, a := range all {
				if a.s == s {
					out = append(out, logSpan{start + a.lo, start + a.hi})
				}
			}
			start += s.size.Load()
		}
		return out
	}
}

// cachedPages counts the page-cache pages of the log's bytes [lo, hi), counted from the start of
// its first segment across all segments, and the pages the range spans.
func cachedPages(t *testing.T, l *Log, lo, hi int64) (cached, total uint64) {
	t.Helper()
	var start int64
	for _, s := range *l.segments.Load() {
		size := s.size.Load()
		a, b := max(lo, start)-start, min(hi, start+size)-start
		if a < b {
			var st unix.Cachestat_t
			if err := unix.Cachestat(uint(s.fd), &unix.CachestatRange{Off: uint64(a), Len: uint64(b - a)}, &st, 0); err != nil {
				t.Fatalf("cachestat (Linux 6.5+): %v", err)
			}
			cached += st.Cache
			total += uint64((b+4095)/4096 - a/4096)
		}
		start += size
	}
	return cached, total
}

// requireDiskBacked fails on tmpfs, where the page cache is the storage and nothing is dropped.
func requireDiskBacked(t *testing.T, dir string) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		t.Fatalf("%s is on tmpfs: this test needs a disk-backed TMPDIR", dir)
	}
}

// TestPreallocate: the active segment's blocks are reserved ahead of its data without changing
// its size, and what is left past the data is given back when it rolls and when the log closes.
func TestPreallocate(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.PreallocateBytes = 4 * mib
	cfg.SegmentBytes = 6 * mib
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendOne := func() {
		b := record.AppendBatch(nil, record.BatchSpec{ProducerID: -1}, []record.Record{{Value: bytes.Repeat([]byte{'x'}, 256<<10)}})
		if _, err := l.Append(record.Batch(b), 1); err != nil {
			t.Fatal(err)
		}
	}
	// blocks is the allocated size of a segment file and its size.
	blocks := func(s *segment) (allocated, size int64) {
		var st unix.Stat_t
		if err := unix.Fstat(s.fd, &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512, st.Size
	}
	appendOne()
	first := (*l.segments.Load())[0]
	if allocated, size := blocks(first); size != first.size.Load() || allocated < size+3*mib {
		t.Fatalf("active segment after one append: %d bytes allocated for %d of data (file size %d), want the data plus about 4 MiB reserved and the file size unchanged", allocated, first.size.Load(), size)
	}
	for l.NumSegments() < 2 {
		appendOne()
	}
	if allocated, size := blocks(first); allocated > size+64<<10 {
		t.Errorf("rolled segment: %d bytes allocated for %d of data: the reservation was not given back", allocated, size)
	}
	active := (*l.segments.Load())[1]
	if allocated, size := blocks(active); allocated < size+3*mib {
		t.Errorf("new active segment: %d bytes allocated for %d of data, want about 4 MiB reserved ahead", allocated, size)
	}
	activePath := active.file.Name()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(activePath, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > st.Size+64<<10 {
		t.Errorf("after Close: %d bytes allocated for %d of data: the reservation was not given back", st.Blocks*512, st.Size)
	}
}

// TestPageCacheTailAfterTruncate: a truncation that removes the active segment makes the sealed
// one active again; the trimmer must not then count that segment twice (it would advise data
// inside the tail out of the cache).
func TestPageCacheTailAfterTruncate(t *testing.T) {
	dir := t.TempDir()
	requireDiskBacked(t, dir)
	cfg := DefaultConfig()
	cfg.PageCacheTailBytes = 16 * mib
	cfg.SegmentBytes = 14 * mib
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendMiB := func(n int) {
		for range n {
			b := record.AppendBatch(nil, record.BatchSpec{ProducerID: -1}, []record.Record{{Value: bytes.Repeat([]byte{'x'}, mib-64)}})
			if _, err := l.Append(record.Batch(b), 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A roll at about 13 MiB makes the first segment the trimmer's trailing one; at 16 MiB
	// nothing is further than the tail behind the end, so nothing has been advised yet.
	appendMiB(16)
	if l.NumSegments() != 2 {
		t.Fatalf("%d segments, want 2", l.NumSegments())
	}
	// Back to 10 records (about 10 MiB) into the first segment: the second goes, the first is
	// active again.
	if err := l.Truncate(10); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil { // clean pages: what is advised is dropped
		t.Fatal(err)
	}
	appendMiB(3) // crosses the 12 MiB step: the trimmer runs; all 13 MiB are inside the 16 MiB tail
	waitTrimmer(t)
	if cached, total := cachedPages(t, l, 0, l.Size()); cached != total {
		t.Errorf("%d MiB, all inside the 16 MiB tail: %d of %d pages cached, want all", l.Size()/mib, cached, total)
	}
}
