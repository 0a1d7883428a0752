package log

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sluicemq/sluice/engine/record"
)

func direct(c *Config) { c.WriteMode = WriteDirect }

// setDirectWriteHook installs fn as the write-behind write seam for the test.
func setDirectWriteHook(t *testing.T, fn func(s *segment, pos int64, n int) error) {
	directWriteHook.Store(&fn)
	t.Cleanup(func() { directWriteHook.Store(nil) })
}

// checkFilesHoldOnlyData fails when a segment file is longer than its published data (zero
// padding left behind by write-behind after a roll or Close).
func (f *fixture) checkFilesHoldOnlyData() {
	f.t.Helper()
	for _, s := range *f.l.segments.Load() {
		st, err := os.Stat(segmentPath(f.dir, s.base, ".log"))
		if err != nil {
			f.t.Fatal(err)
		}
		if st.Size() != s.size.Load() {
			f.t.Fatalf("segment %d: file is %d bytes, its data %d", s.base, st.Size(), s.size.Load())
		}
	}
}

// waitUntil polls cond until it holds, failing the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

// reopenAndGrow reopens the log (after a Close or a crash), checks it holds exactly its data and
// every batch, then appends n more and checks again.
func (f *fixture) reopenAndGrow(n int) {
	f.t.Helper()
	f.reopen()
	f.checkFilesHoldOnlyData()
	f.checkAll()
	f.appendRandom(n)
	f.l.waitWritten(f.t)
	f.checkAll()
}

// checkFileIsAppendedBatches fails unless the log's one segment file holds exactly the appended
// batches, one after another (no padding, nothing torn or stale).
func (f *fixture) checkFileIsAppendedBatches() {
	f.t.Helper()
	got, err := os.ReadFile(filepath.Join(f.dir, "00000000000000000000.log"))
	if err != nil {
		f.t.Fatal(err)
	}
	var want []byte
	for _, w := range f.want {
		want = append(want, w.bytes...)
	}
	if !bytes.Equal(got, want) {
		f.t.Fatalf("segment file (%d bytes) differs from the appended batches (%d bytes)", len(got), len(want))
	}
}

func TestWriteBehindRoundTrip(t *testing.T) {
	f := newFixture(t, direct)
	if f.l.WriteMode() != WriteDirect {
		t.Fatalf("write mode %v, want direct", f.l.WriteMode())
	}
	t.Logf("O_DIRECT: %v", f.l.DirectIO())
	f.appendRandom(600)
	// A batch larger than the ring goes through it in pieces.
	big, _ := makeBatch(f.rng, 5, writeBehindBytes/4+1000, f.clock.ms.Load())
	info, err := f.l.Append(record.Batch(big), 3)
	if err != nil {
		t.Fatal(err)
	}
	f.want = append(f.want, stored{base: info.BaseOffset, last: info.LastOffset, bytes: big})
	f.appendRandom(20)
	f.l.waitWritten(t)
	if n := f.l.NumSegments(); n < 5 {
		t.Fatalf("only %d segments: the test must cross rolls", n)
	}
	f.checkAll()
	// Rolled segments were cut to their data; the active one may end in padding until Close.
	segs := *f.l.segments.Load()
	for _, s := range segs[:len(segs)-1] {
		st, err := os.Stat(segmentPath(f.dir, s.base, ".log"))
		if err != nil || st.Size() != s.size.Load() {
			t.Fatalf("rolled segment %d: file size %v (%v), data %d", s.base, st.Size(), err, s.size.Load())
		}
	}
	if err := f.l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	f.reopenAndGrow(50)
}

// Readers and the high watermark see a batch only once it is written; the written hook fires.
func TestWriteBehindReadersSeeOnlyWritten(t *testing.T) {
	f := newFixture(t, direct)
	f.appendRandom(3)
	f.l.waitWritten(t)
	before := f.l.LogEndOffset()

	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the fixture's Close, which drains
	var blocked atomic.Int32
	setDirectWriteHook(t, func(*segment, int64, int) error {
		blocked.Add(1)
		<-release
		return nil
	})
	var hooked atomic.Int32
	f.l.SetWrittenHook(func() { hooked.Add(1) })

	f.appendRandom(2) // also asks for HW = LEO
	if f.l.LogEndOffset() <= before {
		t.Fatal("append did not move the log end offset")
	}
	waitUntil(t, "the writer tries to write", func() bool { return blocked.Load() > 0 })
	if hw := f.l.HighWatermark(); hw != before {
		t.Fatalf("high watermark %d while unwritten, want %d (the written end)", hw, before)
	}
	if end := f.l.WrittenEnd(); end != before {
		t.Fatalf("written end %d while the writer is held, want %d", end, before)
	}
	waited := make(chan error, 1)
	go func() { waited <- f.l.WaitWritten() }()
	select {
	case err := <-waited:
		t.Fatalf("WaitWritten returned (%v) while the writer is held", err)
	case <-time.After(50 * time.Millisecond):
	}
	r, err := f.l.Read(before, 1<<20, f.l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len != 0 {
		r.Release()
		t.Fatalf("read %d unwritten bytes", r.Len)
	}
	unblock()
	if err := <-waited; err != nil {
		t.Fatalf("WaitWritten: %v", err)
	}
	if end, leo := f.l.WrittenEnd(), f.l.LogEndOffset(); end != leo {
		t.Fatalf("written end %d after WaitWritten, want the log end %d", end, leo)
	}
	waitUntil(t, "the high watermark reaches the log end once written", func() bool { return f.l.HighWatermark() == f.l.LogEndOffset() })
	if hooked.Load() == 0 {
		t.Fatal("the written hook was not called")
	}
	f.checkAll()
}

// A crash keeps what was written and loses what was only in the ring, without leaving a torn or
// padded tail behind.
func TestWriteBehindCrash(t *testing.T) {
	f := newFixture(t, direct)
	f.appendRandom(40)
	f.l.waitWritten(t)
	written := f.l.LogEndOffset()

	release := make(chan struct{})
	defer close(release)
	setDirectWriteHook(t, func(*segment, int64, int) error {
		select {
		case <-release:
		case <-time.After(50 * time.Millisecond):
		}
		return errors.New("held back by the test")
	})
	p, _ := makeBatch(f.rng, 3, 100, f.clock.ms.Load())
	if _, err := f.l.Append(record.Batch(p), 3); err != nil {
		t.Fatal(err)
	}
	f.l.crash()
	directWriteHook.Store(nil)
	f.reopenAndGrow(0)
	if got := f.want[len(f.want)-1].last + 1; got != written {
		t.Fatalf("test bookkeeping: last batch ends at %d, want %d", got, written)
	}
	if got := f.l.LogEndOffset(); got != written {
		t.Fatalf("log end offset %d after the crash, want %d (the unwritten batch lost)", got, written)
	}
	f.appendRandom(10)
	f.l.waitWritten(t)
	f.checkAll()
}

// A write error is retried; while it lasts, new appends and Flush fail, and none of the data in
// the ring is lost.
func TestWriteBehindWriteErrorRetried(t *testing.T) {
	f := newFixture(t, direct)
	f.appendRandom(5)
	f.l.waitWritten(t)
	var failing atomic.Bool
	failing.Store(true)
	var calls atomic.Int32
	setDirectWriteHook(t, func(*segment, int64, int) error {
		calls.Add(1)
		if failing.Load() {
			return syscall.EIO
		}
		return nil
	})
	f.appendRandom(1) // accepted into the ring before the write fails
	waitUntil(t, "the failed write is retried", func() bool { return calls.Load() >= 2 })
	p, _ := makeBatch(f.rng, 1, 10, f.clock.ms.Load())
	if _, err := f.l.Append(record.Batch(p), 3); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append during the write error: %v, want EIO", err)
	}
	if err := f.l.Flush(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("flush during the write error: %v, want EIO", err)
	}
	failing.Store(false)
	waitUntil(t, "the retried write succeeds", func() bool { return f.l.Flush() == nil })
	f.appendRandom(3)
	f.l.waitWritten(t)
	f.checkAll()
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	f.reopenAndGrow(5)
}

// Truncation (a follower) drains the ring, cuts the file and appends on from the new end.
func TestWriteBehindTruncate(t *testing.T) {
	f := newFixture(t, direct)
	f.appendRandom(300)
	mid := f.want[len(f.want)/2]
	if err := f.l.Truncate(mid.base); err != nil {
		t.Fatal(err)
	}
	f.want = f.want[:len(f.want)/2]
	if got := f.l.LogEndOffset(); got != mid.base {
		t.Fatalf("log end offset %d after truncate, want %d", got, mid.base)
	}
	f.checkFilesHoldOnlyData()
	f.appendRandom(30)
	f.l.waitWritten(t)
	f.checkAll()
	if err := f.l.TruncateFully(f.l.LogEndOffset() + 5); err != nil {
		t.Fatal(err)
	}
	f.want = nil
	f.appendRandom(30)
	f.l.waitWritten(t)
	f.checkAll()
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	f.reopenAndGrow(5)
}

// The bytes on disk are exactly the appended batches, one after another (no padding between
// writes: a partly written block is rewritten whole by the next write).
func TestWriteBehindFileBytes(t *testing.T) {
	f := newFixture(t, direct, func(c *Config) { c.SegmentBytes = 1 << 30 })
	for i := range 50 {
		f.appendRandom(1 + i%3)
		if i%7 == 0 {
			f.l.waitWritten(t) // partial blocks written, then rewritten
		}
	}
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	f.checkFileIsAppendedBatches()
	f.reopen()
}

// An idle ring goes back to the kernel, and the next append reads its partly filled last block
// back from the file: the bytes on disk stay exactly the appended batches.
func TestWriteBehindReleasesIdleRing(t *testing.T) {
	old := ringIdleRelease
	ringIdleRelease = 20 * time.Millisecond
	t.Cleanup(func() { ringIdleRelease = old })
	f := newFixture(t, direct, func(c *Config) { c.SegmentBytes = 1 << 30 })
	released := func() bool {
		f.l.wb.mu.Lock()
		defer f.l.wb.mu.Unlock()
		return f.l.wb.released
	}
	for round := range 3 {
		f.appendRandom(7)
		f.l.waitWritten(t)
		if f.l.wb.written%directAlign == 0 {
			t.Fatalf("round %d: the data ends on a block boundary; the test needs a partly filled block", round)
		}
		waitUntil(t, "the idle ring is released", released)
		vec := make([]byte, writeBehindBytes/os.Getpagesize())
		ring := f.l.wb.ring
		if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&ring[0])), uintptr(len(ring)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
			t.Fatal("mincore: ", errno)
		}
		for i, v := range vec {
			if v&1 != 0 {
				t.Fatalf("round %d: ring page %d still resident after the release", round, i)
			}
		}
	}
	f.appendRandom(3)
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	f.checkFileIsAppendedBatches()
	f.reopenAndGrow(5)
}
