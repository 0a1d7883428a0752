package log

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicemq/sluice/engine/record"
)

// stored is what the test expects at one batch: its offsets and exact bytes.
type stored struct {
	base, last int64
	maxTS      int64
	bytes      []byte
	recTS      []int64
}

type fixture struct {
	t     *testing.T
	dir   string
	cfg   Config
	l     *Log
	want  []stored
	rng   *rand.Rand
	clock *fakeClock
}

type fakeClock struct{ ms atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

func smallConfig(clock *fakeClock) Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 32 << 10
	cfg.IndexIntervalBytes = 512
	cfg.SegmentIndexBytes = 4096
	cfg.Now = clock.now
	return cfg
}

func newFixture(t *testing.T, mutate ...func(*Config)) *fixture {
	t.Helper()
	clock := &fakeClock{}
	clock.ms.Store(1_700_000_000_000)
	f := &fixture{t: t, dir: t.TempDir(), rng: rand.New(rand.NewPCG(1, uint64(len(t.Name())))), clock: clock}
	f.cfg = smallConfig(clock)
	for _, m := range mutate {
		m(&f.cfg)
	}
	f.reopen()
	return f
}

func (f *fixture) reopen() {
	f.t.Helper()
	l, err := Open(f.dir, f.cfg)
	if err != nil {
		f.t.Fatalf("open: %v", err)
	}
	f.l = l
	f.t.Cleanup(func() { l.Close() })
}

// makeBatch builds a batch of n records with values of valueBytes and timestamps around tsBase
// (deltas may be negative: CreateTime timestamps need not be monotonic).
func makeBatch(rng *rand.Rand, n, valueBytes int, tsBase int64) ([]byte, []int64) {
	recs := make([]record.Record, n)
	ts := make([]int64, n)
	for i := range recs {
		d := int64(rng.IntN(40)) - 10
		recs[i] = record.Record{TimestampDelta: d, Value: bytes.Repeat([]byte{byte('a' + i%26)}, valueBytes)}
		ts[i] = tsBase + d
	}
	return record.AppendBatch(nil, record.BatchSpec{BaseTimestamp: tsBase, ProducerID: -1}, recs), ts
}

// appendRandom appends k random batches and remembers them.
func (f *fixture) appendRandom(k int) {
	f.t.Helper()
	for range k {
		p, ts := makeBatch(f.rng, 1+f.rng.IntN(8), 10+f.rng.IntN(400), f.clock.ms.Load())
		f.clock.advance(time.Duration(f.rng.IntN(20)) * time.Millisecond)
		info, err := f.l.Append(record.Batch(p), 3)
		if err != nil {
			f.t.Fatalf("append: %v", err)
		}
		b := record.Batch(p)
		f.want = append(f.want, stored{base: info.BaseOffset, last: info.LastOffset, maxTS: b.MaxTimestamp(), bytes: p, recTS: ts})
	}
	f.l.SetHighWatermark(f.l.LogEndOffset())
}

// readAll reads every batch from offset to the end with the given maxBytes per Read.
func (f *fixture) readAll(from int64, maxBytes int64) []record.Batch {
	f.t.Helper()
	var out []record.Batch
	off := from
	for off < f.l.LogEndOffset() {
		r, err := f.l.Read(off, maxBytes, f.l.LogEndOffset(), true)
		if err != nil {
			f.t.Fatalf("read %d: %v", off, err)
		}
		if r.Len == 0 {
			f.t.Fatalf("read %d: empty region below the log end %d", off, f.l.LogEndOffset())
		}
		p, err := r.ReadAll()
		r.Release()
		if err != nil {
			f.t.Fatalf("read region: %v", err)
		}
		for len(p) > 0 {
			b, rest, err := record.Next(p)
			if err != nil {
				f.t.Fatalf("region at %d does not hold whole batches: %v", off, err)
			}
			if _, err := record.ValidateStored(b); err != nil {
				f.t.Fatalf("batch at %d: %v", b.BaseOffset(), err)
			}
			out = append(out, b)
			off = b.NextOffset()
			p = rest
		}
	}
	return out
}

func (f *fixture) checkAll() {
	f.t.Helper()
	var want []stored
	for _, w := range f.want {
		if w.last >= f.l.LogStartOffset() {
			want = append(want, w)
		}
	}
	if len(want) == 0 {
		return
	}
	for _, maxBytes := range []int64{1, 700, 5000, 1 << 20} {
		got := f.readAll(want[0].base, maxBytes)
		if len(got) != len(want) {
			f.t.Fatalf("maxBytes %d: read %d batches, want %d", maxBytes, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i].bytes) {
				f.t.Fatalf("maxBytes %d: batch %d (offset %d) differs", maxBytes, i, want[i].base)
			}
		}
	}
}

func TestRoundTripAcrossManySegments(t *testing.T) {
	f := newFixture(t)
	f.appendRandom(600)
	if n := f.l.NumSegments(); n < 5 {
		t.Fatalf("only %d segments: the test must cross rolls", n)
	}
	for i, w := range f.want {
		if w.bytes[16] != record.Magic || record.Batch(w.bytes).PartitionLeaderEpoch() != 3 {
			t.Fatalf("batch %d: leader epoch not stamped", i)
		}
		if i > 0 && w.base != f.want[i-1].last+1 {
			t.Fatalf("batch %d: offsets not contiguous", i)
		}
	}
	f.checkAll()
	if err := f.l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	f.reopen()
	f.checkAll()
	f.appendRandom(50)
	f.checkAll()
}

// linearBatch finds the batch holding offset by scanning every batch.
func (f *fixture) linearBatch(offset int64) int {
	for i, w := range f.want {
		if w.last >= offset {
			return i
		}
	}
	return -1
}

func TestIndexLookupsAgreeWithLinearScan(t *testing.T) {
	f := newFixture(t)
	f.appendRandom(500)
	check := func(phase string) {
		leo := f.l.LogEndOffset()
		for range 400 {
			off := f.rng.Int64N(leo)
			maxBytes := int64(1 + f.rng.IntN(20000))
			upTo := off + 1 + f.rng.Int64N(leo-off)
			r, err := f.l.Read(off, maxBytes, upTo, false)
			if err != nil {
				t.Fatalf("%s: read %d: %v", phase, off, err)
			}
			// Linear expectation: from the batch holding off, whole batches with base < upTo whose
			// cumulative size fits maxBytes and which stay in the same segment.
			i := f.linearBatch(off)
			var wantLen int64
			segs := *f.l.segments.Load()
			segOf := func(o int64) int64 {
				var b int64
				for _, s := range segs {
					if s.base <= o {
						b = s.base
					}
				}
				return b
			}
			for j := i; j < len(f.want) && f.want[j].base < upTo && segOf(f.want[j].base) == segOf(f.want[i].base); j++ {
				if wantLen+int64(len(f.want[j].bytes)) > maxBytes {
					break
				}
				wantLen += int64(len(f.want[j].bytes))
			}
			if r.Len != wantLen || (wantLen > 0 && r.FirstOffset != f.want[i].base) {
				t.Fatalf("%s: Read(%d, %d, %d) = first %d len %d; linear scan: first %d len %d", phase, off, maxBytes, upTo, r.FirstOffset, r.Len, f.want[i].base, wantLen)
			}
			r.Release()
		}
		// Timestamps: the first record (offset order) with timestamp ≥ ts.
		lo, hi := f.want[0].maxTS-100, f.want[len(f.want)-1].maxTS+100
		for range 300 {
			ts := lo + f.rng.Int64N(hi-lo)
			wantOff, wantOK := int64(0), false
		scan:
			for _, w := range f.want {
				for k, rts := range w.recTS {
					if rts >= ts {
						wantOff, wantOK = w.base+int64(k), true
						break scan
					}
				}
			}
			got, ok, err := f.l.OffsetForTimestamp(ts)
			if err != nil || ok != wantOK || got != wantOff {
				t.Fatalf("%s: OffsetForTimestamp(%d) = %d,%v,%v; linear scan %d,%v", phase, ts, got, ok, err, wantOff, wantOK)
			}
		}
	}
	check("live")
	f.l.Close()
	f.reopen()
	check("reopened clean")
	f.l.crash()
	os.Remove(filepath.Join(f.dir, checkpointFile)) // forces a full rescan and index rebuild
	f.reopen()
	check("recovered")
}

func (f *fixture) segmentFiles() []string {
	m, _ := filepath.Glob(filepath.Join(f.dir, "*.log"))
	return m
}

func TestTornTailIsTruncatedOnReopen(t *testing.T) {
	f := newFixture(t)
	f.appendRandom(300)
	f.l.crash()
	files := f.segmentFiles()
	last := files[len(files)-1]
	st, _ := os.Stat(last)
	lastBatch := f.want[len(f.want)-1]
	// Cut the final batch in half.
	cut := st.Size() - int64(len(lastBatch.bytes))/2
	if err := os.Truncate(last, cut); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	if got := f.l.LogEndOffset(); got != lastBatch.base {
		t.Fatalf("log end offset %d after torn tail, want %d", got, lastBatch.base)
	}
	f.want = f.want[:len(f.want)-1]
	f.checkAll()
	f.appendRandom(20) // the log goes on where it was cut
	f.checkAll()
}

func TestFlippedByteTruncatesFromThatBatch(t *testing.T) {
	f := newFixture(t)
	f.appendRandom(300)
	f.l.crash()
	// No checkpoint: every segment is rescanned, as after a crash before any flush.
	os.Remove(filepath.Join(f.dir, checkpointFile))
	files := f.segmentFiles()
	victimFile := files[len(files)/2]
	var victimBase int64
	fmt.Sscanf(filepath.Base(victimFile), "%d.log", &victimBase)
	// Flip a byte inside the third batch of that segment.
	k := 0
	for k < len(f.want) && f.want[k].base < victimBase {
		k++
	}
	k += 2
	var pos int64
	for _, w := range f.want {
		if w.base >= victimBase && w.base < f.want[k].base {
			pos += int64(len(w.bytes))
		}
	}
	fh, err := os.OpenFile(victimFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	fh.ReadAt(one[:], pos+record.HeaderSize+3)
	one[0] ^= 0x40
	fh.WriteAt(one[:], pos+record.HeaderSize+3)
	fh.Close()

	f.reopen()
	if got := f.l.LogEndOffset(); got != f.want[k].base {
		t.Fatalf("log end offset %d, want %d (start of the corrupt batch)", got, f.want[k].base)
	}
	if n := len(f.segmentFiles()); n != len(files)/2+1 {
		t.Fatalf("%d segment files remain, want %d: segments after the corrupt one must go", n, len(files)/2+1)
	}
	f.want = f.want[:k]
	f.checkAll()
}

func TestReopenGivesSameLogEndOffset(t *testing.T) {
	for _, mode := range []string{"clean", "unclean", "unclean-no-checkpoint"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			f.appendRandom(250)
			leo, hw := f.l.LogEndOffset(), f.l.HighWatermark()
			switch mode {
			case "clean":
				if err := f.l.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(f.dir, cleanShutdownFile)); err != nil {
					t.Fatalf("no clean-shutdown marker: %v", err)
				}
			case "unclean":
				f.l.crash()
			case "unclean-no-checkpoint":
				f.l.crash()
				os.Remove(filepath.Join(f.dir, checkpointFile))
			}
			f.reopen()
			if got := f.l.LogEndOffset(); got != leo {
				t.Fatalf("log end offset %d after %s reopen, want %d", got, mode, leo)
			}
			if mode == "clean" && f.l.HighWatermark() != hw {
				t.Fatalf("high watermark %d after clean reopen, want %d", f.l.HighWatermark(), hw)
			}
			if _, err := os.Stat(filepath.Join(f.dir, cleanShutdownFile)); !os.IsNotExist(err) {
				t.Fatalf("clean-shutdown marker must go at open")
			}
			f.checkAll()
		})
	}
}

func TestRetentionByTime(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RetentionMs = time.Hour.Milliseconds() })
	f.appendRandom(200) // timestamps around the clock's start
	f.clock.advance(2 * time.Hour)
	f.appendRandom(100) // new data, 2 h later
	before := f.l.NumSegments()
	n := f.l.EnforceRetention()
	if n == 0 || f.l.NumSegments() != before-n {
		t.Fatalf("deleted %d of %d segments", n, before)
	}
	cutoff := f.clock.ms.Load() - time.Hour.Milliseconds()
	for _, s := range *f.l.segments.Load() {
		if s != (*f.l.segments.Load())[f.l.NumSegments()-1] && s.maxTimestamp.Load() < cutoff {
			t.Fatalf("segment %d with max timestamp %d older than the cutoff survived", s.base, s.maxTimestamp.Load())
		}
	}
	// Everything from the second round is kept.
	firstNew := f.want[200].base
	if f.l.LogStartOffset() > firstNew {
		t.Fatalf("log start %d beyond the first recent offset %d", f.l.LogStartOffset(), firstNew)
	}
	if _, err := f.l.Read(0, 100, f.l.LogEndOffset(), true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start: %v, want ErrOffsetOutOfRange", err)
	}
	f.checkAll()
	// The active segment is never deleted, however old.
	f.clock.advance(24 * time.Hour)
	f.l.EnforceRetention()
	if f.l.NumSegments() != 1 || f.l.LogEndOffset() != f.want[len(f.want)-1].last+1 {
		t.Fatalf("after everything expired: %d segments, leo %d", f.l.NumSegments(), f.l.LogEndOffset())
	}
	f.l.Close()
	f.reopen()
	f.checkAll()
}

func TestRetentionBySize(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RetentionBytes = 100 << 10; c.RetentionMs = -1 })
	f.appendRandom(800)
	f.l.EnforceRetention()
	segs := *f.l.segments.Load()
	size := f.l.Size()
	if size < 100<<10 {
		t.Fatalf("log shrank to %d, below retention.bytes", size)
	}
	if size-segs[0].size.Load() >= 100<<10 {
		t.Fatalf("log of %d bytes could lose its oldest segment and stay ≥ retention.bytes", size)
	}
	f.checkAll()
}

func TestCleanerRunsInBackground(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RetentionBytes = 64 << 10; c.RetentionMs = -1 })
	f.appendRandom(500)
	before := f.l.NumSegments()
	c := StartCleaner(5*time.Millisecond, func() []*Log { return []*Log{f.l} })
	defer c.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for f.l.NumSegments() == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.l.NumSegments() >= before {
		t.Fatalf("the cleaner deleted nothing in 10 s (%d segments)", before)
	}
}

func TestSegmentMsRoll(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SegmentMs = 1000; c.SegmentBytes = 1 << 30 })
	f.appendRandom(5)
	if f.l.NumSegments() != 1 {
		t.Fatalf("rolled early")
	}
	f.clock.advance(2 * time.Second)
	f.appendRandom(1)
	if f.l.NumSegments() != 2 {
		t.Fatalf("no roll after segment.ms: %d segments", f.l.NumSegments())
	}
	f.checkAll()
}

func TestTruncate(t *testing.T) {
	f := newFixture(t)
	f.appendRandom(300)
	// Mid-batch offset: the whole batch goes.
	k := 200
	mid := f.want[k].base + (f.want[k].last-f.want[k].base)/2 + 1
	if mid > f.want[k].last {
		mid = f.want[k].last
	}
	if err := f.l.Truncate(mid); err != nil {
		t.Fatal(err)
	}
	if got := f.l.LogEndOffset(); got != f.want[k].base {
		t.Fatalf("log end offset %d after truncate to %d, want %d", got, mid, f.want[k].base)
	}
	if f.l.HighWatermark() > f.l.LogEndOffset() {
		t.Fatalf("high watermark above the log end after truncate")
	}
	f.want = f.want[:k]
	f.checkAll()
	f.appendRandom(60)
	f.checkAll()
	// Exactly at a segment base.
	segs := *f.l.segments.Load()
	sb := segs[len(segs)-2].base
	if err := f.l.Truncate(sb); err != nil {
		t.Fatal(err)
	}
	for len(f.want) > 0 && f.want[len(f.want)-1].base >= sb {
		f.want = f.want[:len(f.want)-1]
	}
	if f.l.LogEndOffset() != sb {
		t.Fatalf("leo %d, want %d", f.l.LogEndOffset(), sb)
	}
	f.appendRandom(40)
	f.checkAll()
	f.l.Close()
	f.reopen()
	f.checkAll()
	// Below everything: the log restarts empty at that offset.
	if err := f.l.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if f.l.LogEndOffset() != 0 || f.l.NumSegments() != 1 {
		t.Fatalf("truncate to 0: leo %d, %d segments", f.l.LogEndOffset(), f.l.NumSegments())
	}
	f.want = nil
	f.appendRandom(10)
	f.checkAll()
}

func TestDeleteBefore(t *testing.T) {
	f := newFixture(t)
	f.appendRandom(300)
	hw := f.l.LogEndOffset() - 50
	f.l.SetHighWatermark(hw)
	if err := f.l.DeleteBefore(hw + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("delete above the high watermark: %v", err)
	}
	target := f.want[150].base + 1
	before := f.l.NumSegments()
	if err := f.l.DeleteBefore(target); err != nil {
		t.Fatal(err)
	}
	if f.l.LogStartOffset() != target {
		t.Fatalf("log start %d, want %d", f.l.LogStartOffset(), target)
	}
	if f.l.NumSegments() >= before {
		t.Fatalf("no segment deleted")
	}
	if _, err := f.l.Read(target-1, 1000, hw, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start: %v", err)
	}
	f.l.Close()
	f.reopen()
	if f.l.LogStartOffset() != target {
		t.Fatalf("log start %d after reopen, want %d", f.l.LogStartOffset(), target)
	}
}

func TestConcurrentReadersDuringAppendsRollsAndDeletes(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SegmentBytes = 8 << 10; c.IndexIntervalBytes = 256 })
	f.appendRandom(20)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 99))
			for !stop.Load() {
				start, leo := f.l.LogStartOffset(), f.l.LogEndOffset()
				if leo <= start {
					continue
				}
				off := start + rng.Int64N(leo-start)
				reg, err := f.l.Read(off, int64(1+rng.IntN(16<<10)), leo, true)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue // retention moved the start under us: allowed
				}
				if err != nil {
					errs <- err
					return
				}
				p, err := reg.ReadAll()
				reg.Release()
				if err != nil {
					errs <- err
					return
				}
				expect := reg.FirstOffset
				for len(p) > 0 {
					b, rest, err := record.Next(p)
					if err == nil {
						_, err = record.ValidateStored(b)
					}
					if err != nil || b.BaseOffset() != expect {
						errs <- fmt.Errorf("reader saw a bad region at %d: %v", expect, err)
						return
					}
					expect = b.NextOffset()
					p = rest
				}
				if reg.Len > 0 && reg.FirstOffset > off {
					errs <- fmt.Errorf("region for %d starts after it, at %d", off, reg.FirstOffset)
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := range 1500 {
		p, _ := makeBatch(f.rng, 1+f.rng.IntN(4), 20+f.rng.IntN(300), f.clock.ms.Load())
		if _, err := f.l.Append(record.Batch(p), 1); err != nil {
			t.Fatal(err)
		}
		f.l.SetHighWatermark(f.l.LogEndOffset())
		if i%200 == 199 {
			f.l.DeleteBefore(f.l.LogEndOffset() - 300)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Fatalf("readers made no successful read")
	}
}

func TestRegionOutlivesDeletedSegment(t *testing.T) {
	f := newFixture(t)
	f.appendRandom(300)
	r, err := f.l.Read(0, 4096, f.l.LogEndOffset(), true)
	if err != nil || r.Len == 0 {
		t.Fatalf("read: %v", err)
	}
	if err := f.l.DeleteBefore(f.want[250].base); err != nil {
		t.Fatal(err)
	}
	p, err := r.ReadAll() // the file is unlinked; the pinned descriptor still reads it
	r.Release()
	if err != nil || !bytes.Equal(p[:len(f.want[0].bytes)], f.want[0].bytes) {
		t.Fatalf("pinned region unreadable after delete: %v", err)
	}
}

func TestFlushPolicyAndGroupCommit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FlushMessages = 1 })
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 50 {
				p, _ := makeBatch(rng, 2, 100, 1)
				info, err := f.l.Append(record.Batch(p), 0)
				if err != nil {
					t.Error(err)
					return
				}
				if !info.FlushTriggered {
					t.Error("flush.messages=1 must trigger a flush on every append")
					return
				}
				if err := f.l.WaitDurable(t.Context(), info.LastOffset+1); err != nil {
					t.Error(err)
					return
				}
				if rp := f.l.RecoveryPoint(); rp <= info.LastOffset {
					t.Errorf("WaitDurable returned with recovery point %d ≤ %d", rp, info.LastOffset)
					return
				}
			}
		}()
	}
	wg.Wait()
	if f.l.RecoveryPoint() != f.l.LogEndOffset() {
		t.Fatalf("recovery point %d, log end %d", f.l.RecoveryPoint(), f.l.LogEndOffset())
	}
}

func TestFlushMsFlushesInBackground(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FlushMs = 10 })
	f.appendRandom(5)
	deadline := time.Now().Add(10 * time.Second)
	for f.l.RecoveryPoint() < f.l.LogEndOffset() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.l.RecoveryPoint() != f.l.LogEndOffset() {
		t.Fatalf("flush.ms=10 did not flush within 10 s")
	}
}

func TestIndexFullRolls(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.SegmentIndexBytes = 4 * timeEntrySize
		c.IndexIntervalBytes = 1
		c.SegmentBytes = 1 << 30
	})
	f.appendRandom(40)
	if f.l.NumSegments() < 3 {
		t.Fatalf("full indexes must roll: %d segments", f.l.NumSegments())
	}
	f.checkAll()
}

func TestForEachBatch(t *testing.T) {
	f := newFixture(t)
	f.appendRandom(300)
	from := f.want[100].base + 1 // mid-batch: starts at the batch holding it
	i := 100
	err := f.l.ForEachBatch(from, func(b record.Batch) error {
		if !bytes.Equal(b, f.want[i].bytes) {
			t.Fatalf("batch %d differs", i)
		}
		i++
		return nil
	})
	if err != nil || i != len(f.want) {
		t.Fatalf("visited up to %d of %d: %v", i, len(f.want), err)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count open files: %v", err)
	}
	return len(ents)
}

// TestOneOpenFilePerLog: index files are mapped and their descriptors closed, so a partition holds
// one descriptor (its active .log) plus one per older segment — thousands of partitions fit.
func TestOneOpenFilePerLog(t *testing.T) {
	before := openFDs(t)
	const logs = 50
	for i := range logs {
		l, err := Open(filepath.Join(t.TempDir(), fmt.Sprint(i)), smallConfig(&fakeClock{}))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	if grew := openFDs(t) - before; grew > logs {
		t.Fatalf("%d logs hold %d more open files, want at most %d", logs, grew, logs)
	}
}
