package log

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/internal/diskfault"
)

// direct puts a test's log in write-behind mode, with a ring for every log written to however
// slowly (the tests are about the ring; TestWriteBehindRingFollowsRate about the rate).
func direct(c *Config) {
	c.WriteMode, c.RingBudget = WriteDirect, NewRingBudget(DefaultDirectMemoryBytes, 0, false)
}

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

// Readers see a batch's bytes only once it is written, and WaitReadable waits for that; its
// offsets count at once (the high watermark does not wait for the writer: the ring outlives the
// process). The written hook fires.
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
	leo := f.l.LogEndOffset()
	if leo <= before {
		t.Fatal("append did not move the log end offset")
	}
	waitUntil(t, "the writer tries to write", func() bool { return blocked.Load() > 0 })
	if hw := f.l.HighWatermark(); hw != leo {
		t.Fatalf("high watermark %d while unwritten, want the log end %d", hw, leo)
	}
	if end := f.l.WrittenEnd(); end != before {
		t.Fatalf("written end %d while the writer is held, want %d", end, before)
	}
	if err := f.l.WaitReadable(before); err != nil {
		t.Fatalf("WaitReadable(%d), already written: %v", before, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- f.l.WaitWritten() }()
	readable := make(chan error, 1)
	go func() { readable <- f.l.WaitReadable(before + 1) }()
	select {
	case err := <-waited:
		t.Fatalf("WaitWritten returned (%v) while the writer is held", err)
	case err := <-readable:
		t.Fatalf("WaitReadable returned (%v) while the writer is held", err)
	case <-time.After(50 * time.Millisecond):
	}
	r, err := f.l.Read(before, 1<<20, f.l.HighWatermark(), true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len != 0 {
		r.Release()
		t.Fatalf("read %d unwritten bytes", r.Len)
	}
	if !r.Unwritten {
		t.Fatal("read at the written end: Unwritten false, want true")
	}
	// Unwritten records the reader did not ask for (upTo at or below its offset) are none of its
	// business.
	if leo-1 < before+1 {
		t.Fatalf("test bookkeeping: log end %d, written end %d", leo, before)
	}
	if r, err = f.l.Read(leo-1, 1<<20, before+1, true); err != nil || r.Len != 0 || r.Unwritten {
		t.Fatalf("read at %d up to %d: %d bytes, Unwritten %v (%v); want nothing, false", leo-1, before+1, r.Len, r.Unwritten, err)
	}
	// From the start: the written batches, then the region says more follow unwritten; unless it
	// stopped at maxBytes, which a reader would meet again whatever the writer does.
	if r, err = f.l.Read(0, 1<<20, f.l.HighWatermark(), true); err != nil || r.Len == 0 || !r.Unwritten {
		t.Fatalf("read from 0: %d bytes, Unwritten %v (%v); want the written batches, and true", r.Len, r.Unwritten, err)
	}
	r.Release()
	if r, err = f.l.Read(0, 1, f.l.HighWatermark(), true); err != nil || r.Len == 0 || r.Unwritten {
		t.Fatalf("read from 0 with maxBytes 1: %d bytes, Unwritten %v (%v); want one batch, and false", r.Len, r.Unwritten, err)
	}
	r.Release()
	unblock()
	if err := <-waited; err != nil {
		t.Fatalf("WaitWritten: %v", err)
	}
	if err := <-readable; err != nil {
		t.Fatalf("WaitReadable: %v", err)
	}
	if end := f.l.WrittenEnd(); end != leo {
		t.Fatalf("written end %d after WaitWritten, want the log end %d", end, leo)
	}
	if err := f.l.WaitReadable(leo + 100); err != nil {
		t.Fatalf("WaitReadable past the log end with nothing unwritten: %v", err)
	}
	// The hook runs after the writer publishes, outside its lock: WaitWritten may return first.
	waitUntil(t, "the written hook is called", func() bool { return hooked.Load() > 0 })
	f.checkAll()
}

// holdWrites makes every write-behind write fail after a short wait (the writer retries), so
// what is appended from now on stays in the ring only.
func holdWrites(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	setDirectWriteHook(t, func(*segment, int64, int) error {
		select {
		case <-release:
		case <-time.After(50 * time.Millisecond):
		}
		return errors.New("held back by the test")
	})
}

// A crash keeps what was written and what was only in the ring: the ring is a shared mapping of
// a file, so its bytes outlive the process, and Open writes them back before recovery.
func TestWriteBehindCrashKeepsRing(t *testing.T) {
	f := newFixture(t, direct)
	f.appendRandom(40)
	f.l.waitWritten(t)
	written := f.l.LogEndOffset()
	holdWrites(t)
	f.appendRandom(3) // answered, never written
	appended := f.l.LogEndOffset()
	if err := f.l.WaitReadable(appended); err == nil || !strings.Contains(err.Error(), "held back by the test") {
		t.Fatalf("WaitReadable with the writer failing: %v, want its write error", err)
	}
	var inRing int64
	for _, w := range f.want[len(f.want)-3:] {
		inRing += int64(len(w.bytes))
	}
	f.l.crash()
	directWriteHook.Store(nil)
	f.reopenAndGrow(0)
	if written >= appended {
		t.Fatalf("test bookkeeping: nothing appended after offset %d", written)
	}
	if got := f.l.LogEndOffset(); got != appended {
		t.Fatalf("log end offset %d after the crash, want %d (%d written, the rest in the ring)", got, appended, written)
	}
	if got := f.l.RingReplayedOnOpen(); got != inRing {
		t.Fatalf("replayed %d bytes from the ring, want %d", got, inRing)
	}
	f.appendRandom(10)
	f.l.waitWritten(t)
	f.checkAll()
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, ringFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ring file after a clean Close: %v, want it removed", err)
	}
}

// A ring Open cannot trust is not replayed: one from another boot, one whose header a crash
// caught mid-attach, one whose bytes do not pass recovery's checks.
func TestWriteBehindCrashIgnoresUntrustedRing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, ring *os.File)
	}{
		{"another boot", func(t *testing.T, ring *os.File) {
			writeAt(t, ring, writeBehindBytes+hdrBootID, []byte("00000000-0000-0000-0000-000000000000"))
		}},
		{"mid-attach", func(t *testing.T, ring *os.File) { writeAt(t, ring, writeBehindBytes+hdrValid, make([]byte, 8)) }},
		{"corrupt bytes", func(t *testing.T, ring *os.File) {
			var h [hdrAppended + 8]byte
			if _, err := ring.ReadAt(h[:], writeBehindBytes); err != nil {
				t.Fatal(err)
			}
			written := int64(binary.LittleEndian.Uint64(h[hdrWritten:]))
			// A byte inside the first unwritten batch's records: its CRC no longer matches.
			writeAt(t, ring, written%writeBehindBytes+record.HeaderSize+2, []byte{0x5a})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, direct)
			f.appendRandom(20)
			f.l.waitWritten(t)
			written := f.l.LogEndOffset()
			holdWrites(t)
			f.appendRandom(2)
			f.l.crash()
			directWriteHook.Store(nil)
			ring, err := os.OpenFile(filepath.Join(f.dir, ringFileName), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(t, ring)
			ring.Close()
			f.want = f.want[:len(f.want)-2]
			f.reopenAndGrow(3)
			if f.l.WrittenEnd() != f.l.LogEndOffset() || f.want[len(f.want)-4].last+1 != written {
				t.Fatalf("test bookkeeping: written end %d, log end %d", f.l.WrittenEnd(), f.l.LogEndOffset())
			}
		})
	}
}

func writeAt(t *testing.T, f *os.File, off int64, p []byte) {
	t.Helper()
	if _, err := f.WriteAt(p, off); err != nil {
		t.Fatal(err)
	}
}

// A real kill -9: a child process (this test binary) appends with its writes held back, so the
// batches are answered and only in the ring, and is killed; Open in this process finds every
// batch, byte for byte, and all of it came from the ring.
func TestWriteBehindKilledProcessKeepsRing(t *testing.T) {
	if dir := os.Getenv("SLUICE_RING_CHILD_DIR"); dir != "" {
		ringChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteBehindKilledProcessKeepsRing$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SLUICE_RING_CHILD_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // by PID
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "appended" {
				ready <- nil
				return
			}
		}
		ready <- fmt.Errorf("child ended without appending: %v", sc.Err())
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("child did not append within 60 s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	want, err := os.ReadFile(filepath.Join(dir, "appended"))
	if err != nil || len(want) == 0 {
		t.Fatalf("the child's record of its appends: %d bytes, %v", len(want), err)
	}
	l, err := Open(dir, smallConfig(&fakeClock{}))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.RingReplayedOnOpen(); got != int64(len(want)) {
		t.Fatalf("replayed %d bytes from the ring, want %d (every append was held back)", got, len(want))
	}
	got, err := os.ReadFile(filepath.Join(dir, "00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("segment after the kill: %d bytes, not the %d bytes appended", len(got), len(want))
	}
	if n := l.LogEndOffset(); n == 0 {
		t.Fatal("log end offset 0 after the kill")
	}
}

// ringChild is the killed process of TestWriteBehindKilledProcessKeepsRing.
func ringChild(t *testing.T, dir string) {
	clock := &fakeClock{}
	clock.ms.Store(1_700_000_000_000)
	f := &fixture{t: t, dir: dir, rng: rand.New(rand.NewPCG(7, 7)), clock: clock}
	f.cfg = smallConfig(clock)
	direct(&f.cfg)
	f.cfg.SegmentBytes = 1 << 30
	holdWrites(t)
	f.reopen()
	f.appendRandom(25)
	var all []byte
	for _, w := range f.want {
		all = append(all, w.bytes...)
	}
	if err := os.WriteFile(filepath.Join(dir, "appended"), all, 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Println("appended")
	select {} // killed here
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

// Every ring in the process is written by one writer goroutine: a log whose writes fail is
// retried later, and the other logs' rings are written meanwhile.
func TestWriteBehindWriteErrorLeavesOtherLogsWriting(t *testing.T) {
	a := newFixture(t, direct)
	b := newFixture(t, direct)
	b.rng = rand.New(rand.NewPCG(2, 2))
	a.appendRandom(3)
	b.appendRandom(3)
	a.l.waitWritten(t)
	b.l.waitWritten(t)
	segs := *a.l.segments.Load()
	aSeg := segs[len(segs)-1]
	var failing atomic.Bool
	failing.Store(true)
	var aCalls atomic.Int32
	setDirectWriteHook(t, func(s *segment, _ int64, _ int) error {
		if s != aSeg {
			return nil
		}
		aCalls.Add(1)
		if failing.Load() {
			return syscall.EIO
		}
		return nil
	})
	a.appendRandom(1) // into the ring; its write fails
	waitUntil(t, "the failed write is retried", func() bool { return aCalls.Load() >= 2 })
	for range 3 {
		b.appendRandom(4)
		waitUntil(t, "the other log written while the first one's writes fail", func() bool {
			return b.l.WrittenEnd() == b.l.LogEndOffset()
		})
	}
	b.checkAll()
	if err := a.l.Flush(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("flush of the failing log: %v, want EIO", err)
	}
	failing.Store(false)
	waitUntil(t, "the failing log's retried write succeeds", func() bool { return a.l.Flush() == nil })
	a.checkAll()
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

// A full disk in direct mode: while the ring cannot be reserved, appends are written buffered
// and the disk refuses them itself; a write that fails after its appends were answered keeps them in the ring, refuses new
// appends (ENOSPC) and is retried, and once space is freed every answered batch is in the log.
func TestWriteBehindFullDisk(t *testing.T) {
	mnt := diskfault.MountTmpfs(t, "16m")
	f := &fixture{t: t, dir: filepath.Join(mnt, "p-0"), rng: newFixture(t).rng, clock: &fakeClock{}}
	f.clock.ms.Store(1_700_000_000_000)
	f.cfg = smallConfig(f.clock)
	direct(&f.cfg)
	f.cfg.SegmentBytes = 1 << 30
	f.reopen()
	ballast := func(name string, mib int) string {
		t.Helper()
		path := filepath.Join(mnt, name)
		if err := os.WriteFile(path, make([]byte, mib<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	append1 := func() error {
		p, ts := makeBatch(f.rng, 1+f.rng.IntN(4), 200+f.rng.IntN(2000), f.clock.ms.Load())
		info, err := f.l.Append(record.Batch(p), 3)
		if err == nil {
			f.want = append(f.want, stored{base: info.BaseOffset, last: info.LastOffset, maxTS: record.Batch(p).MaxTimestamp(), bytes: p, recTS: ts})
		}
		return err
	}

	b1 := ballast("ballast-1", 13) // leaves less than the ring's 4 MiB
	// No room for the ring: appends are written buffered, so the disk refuses the append itself,
	// with nothing answered left unwritten.
	var full error
	for i := 0; i < 100000 && full == nil; i++ {
		full = append1()
	}
	if !errors.Is(full, syscall.ENOSPC) || len(f.want) == 0 {
		t.Fatalf("filling the disk with no room for the ring: %v after %d appends, want ENOSPC after some", full, len(f.want))
	}
	if end, leo := f.l.WrittenEnd(), f.l.LogEndOffset(); end != leo {
		t.Fatalf("written end %d, log end %d: appends without a ring must be written at once", end, leo)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(f.dir, ringFileName), &st); err != nil || st.Blocks*512 > ringHeaderBytes {
		t.Fatalf("ring file holds %d bytes of blocks (%v): a ring that could not be reserved must be given back", st.Blocks*512, err)
	}
	f.checkAll()
	if err := os.Remove(b1); err != nil {
		t.Fatal(err)
	}
	b2 := ballast("ballast-2", 4)  // leaves room for the ring, and less for data than it holds
	time.Sleep(writeRetryInterval) // a failed reservation is tried again after this
	full = nil
	for i := 0; i < 100000 && full == nil; i++ {
		full = append1()
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v, want ENOSPC", full)
	}
	answered := f.l.LogEndOffset()
	if f.l.WrittenEnd() >= answered {
		t.Fatalf("written end %d, log end %d: the test needs answered batches the disk refused", f.l.WrittenEnd(), answered)
	}
	t.Logf("full: %d batches answered, written up to offset %d of %d: %v", len(f.want), f.l.WrittenEnd(), answered, full)
	if err := os.Remove(b2); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the refused write is retried once space is freed", func() bool { return f.l.Flush() == nil })
	if got := f.l.WrittenEnd(); got != answered {
		t.Fatalf("written end %d after the retry, want %d", got, answered)
	}
	f.checkAll()
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	f.reopenAndGrow(5)
}

// A broker's rings are bounded (RingBudget): a log written to while none is free writes
// buffered — readable at once, nothing left unwritten — and takes a ring once one is given back
// by an idle log. Its buffered appends move the ring's header along, so a crash after it took
// the ring replays only what the ring holds.
func TestWriteBehindRingBudget(t *testing.T) {
	old := ringIdleRelease
	ringIdleRelease = 20 * time.Millisecond
	t.Cleanup(func() { ringIdleRelease = old })
	budget := NewRingBudget(RingBytes, 0, false) // one ring
	shared := func(c *Config) { c.RingBudget, c.SegmentBytes = budget, 1<<30 }
	a := newFixture(t, direct, shared)
	b := newFixture(t, direct, shared)
	b.rng = rand.New(rand.NewPCG(2, 2)) // other batches than a's

	a.appendRandom(5)
	if n := budget.InUse(); n != 1 {
		t.Fatalf("%d rings in use after the first log's appends, want 1", n)
	}
	holdWrites(t)
	a.appendRandom(2)
	b.appendRandom(6)
	if a.l.WrittenEnd() == a.l.LogEndOffset() {
		t.Fatal("the log holding the ring wrote with the writers held")
	}
	if end, leo := b.l.WrittenEnd(), b.l.LogEndOffset(); end != leo {
		t.Fatalf("the log without a ring: written end %d, log end %d, want them equal (written buffered)", end, leo)
	}
	if budget.Misses() == 0 {
		t.Fatal("no miss counted")
	}
	b.checkAll()
	directWriteHook.Store(nil)
	waitUntil(t, "the held writes are retried", func() bool { return a.l.WrittenEnd() == a.l.LogEndOffset() })
	waitUntil(t, "the idle log gives its ring back", func() bool { return budget.InUse() == 0 })

	holdWrites(t)
	b.appendRandom(3) // take the ring, and stay in it only
	if n := budget.InUse(); n != 1 || b.l.WrittenEnd() == b.l.LogEndOffset() {
		t.Fatalf("%d rings in use, written end %d, log end %d: the second log should write behind now",
			n, b.l.WrittenEnd(), b.l.LogEndOffset())
	}
	b.l.crash()
	directWriteHook.Store(nil)
	if n := budget.InUse(); n != 0 {
		t.Fatalf("%d rings in use after the crash, want 0", n)
	}
	b.reopenAndGrow(4)
	if b.l.RingReplayedOnOpen() == 0 {
		t.Fatal("nothing replayed: the test needs appends only in the ring at the crash")
	}
	a.checkAll()
}

// A log takes a ring only while it is appended to fast (RingBudget's rate,
// log.write.direct.min.bytes.per.second): a slow log writes buffered, a fast one takes a ring
// within a second, and one that slows down again gives it back at an append that finds nothing
// unwritten, not ringIdleRelease later.
func TestWriteBehindRingFollowsRate(t *testing.T) {
	budget := NewRingBudget(DefaultDirectMemoryBytes, 64<<10, false) // 64 KiB/s
	f := newFixture(t, direct, func(c *Config) { c.RingBudget, c.SegmentBytes = budget, 1<<30 })
	appendEvery := func(valueBytes int, every time.Duration) {
		t.Helper()
		p, ts := makeBatch(f.rng, 1, valueBytes, f.clock.ms.Load())
		info, err := f.l.Append(record.Batch(p), 3)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		f.want = append(f.want, stored{base: info.BaseOffset, last: info.LastOffset, maxTS: record.Batch(p).MaxTimestamp(), bytes: p, recTS: ts})
		f.l.SetHighWatermark(f.l.LogEndOffset())
		f.clock.advance(every)
	}
	writtenBuffered := func(phase string) {
		t.Helper()
		if n, end, leo := budget.InUse(), f.l.WrittenEnd(), f.l.LogEndOffset(); n != 0 || end != leo {
			t.Fatalf("%s: %d rings in use, written end %d of log end %d; want no ring, everything written (buffered)", phase, n, end, leo)
		}
	}

	// Slow: 1 KiB every 100 ms, 10 KiB/s, with the writer held: a ring append would stay unwritten.
	holdWrites(t)
	for range 30 {
		appendEvery(1<<10, 100*time.Millisecond)
		writtenBuffered("10 KiB/s")
	}

	// Fast: 8 KiB every 10 ms, 800 KiB/s: a ring within the first 64 KiB.
	for range 20 {
		appendEvery(8<<10, 10*time.Millisecond)
	}
	if n, end, leo := budget.InUse(), f.l.WrittenEnd(), f.l.LogEndOffset(); n != 1 || end == leo {
		t.Fatalf("800 KiB/s: %d rings in use, written end %d of log end %d; want the ring, holding the last appends", n, end, leo)
	}
	directWriteHook.Store(nil)
	waitUntil(t, "the held writes", func() bool { return f.l.WrittenEnd() == f.l.LogEndOffset() })

	// Slow again: the ring goes back within two windows, at an append with nothing unwritten.
	for i := 0; budget.InUse() != 0; i++ {
		if i == 25 {
			t.Fatal("the ring is still held after 2.5 s at 10 KiB/s")
		}
		appendEvery(1<<10, 100*time.Millisecond)
		waitUntil(t, "the write", func() bool { return f.l.WrittenEnd() == f.l.LogEndOffset() })
	}
	holdWrites(t)
	appendEvery(1<<10, 100*time.Millisecond)
	writtenBuffered("10 KiB/s after the ring went back")
	directWriteHook.Store(nil)
	f.checkAll()
}

// With RingBudget.UnreadOnly (log.write.direct.unread.only) a log read lately writes buffered,
// so its readers find the newest records in the page cache: a read makes the next append that
// finds nothing unwritten give the ring back, and a whole rate window without reads lets the log
// take one again.
func TestWriteBehindRingOnlyUnread(t *testing.T) {
	budget := NewRingBudget(DefaultDirectMemoryBytes, 0, true) // every rate: only reads matter
	f := newFixture(t, direct, func(c *Config) { c.RingBudget, c.SegmentBytes = budget, 1<<30 })
	read := func() {
		t.Helper()
		r, err := f.l.Read(0, 1<<20, f.l.LogEndOffset(), true)
		if err != nil {
			t.Fatal(err)
		}
		r.Release()
	}
	state := func() (rings int64, unwritten bool) {
		return budget.InUse(), f.l.WrittenEnd() != f.l.LogEndOffset()
	}

	holdWrites(t)
	f.appendRandom(3)
	if rings, unwritten := state(); rings != 1 || !unwritten {
		t.Fatalf("unread: %d rings, unwritten %v; want the ring, holding the appends", rings, unwritten)
	}
	directWriteHook.Store(nil)
	waitUntil(t, "the held writes", func() bool { _, unwritten := state(); return !unwritten })

	// A read while the ring holds unwritten bytes: the next append waits for them to be
	// written, then gives the ring back and writes buffered.
	var slowed atomic.Bool
	setDirectWriteHook(t, func(*segment, int64, int) error {
		if slowed.CompareAndSwap(false, true) {
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	})
	f.appendRandom(1)
	if rings, unwritten := state(); rings != 1 || !unwritten {
		t.Fatalf("unread, writer slowed: %d rings, unwritten %v; want the ring, holding the append", rings, unwritten)
	}
	// The writer must be inside the slowed write before holdWrites replaces the hook: a writer
	// that reached the hook only after it would fail its write, and the next append with it.
	waitUntil(t, "the writer in the slowed write", slowed.Load)
	read()
	holdWrites(t)
	for range 20 { // 2 s of appends, every one of them read
		f.appendRandom(1)
		f.clock.advance(100 * time.Millisecond)
		if rings, unwritten := state(); rings != 0 || unwritten {
			t.Fatalf("read: %d rings, unwritten %v; want no ring, everything written (buffered)", rings, unwritten)
		}
		read()
	}

	// A reader that polls every 1.5 s, less often than a window ends, keeps the ring away too.
	for i := range 60 {
		f.appendRandom(1)
		f.clock.advance(100 * time.Millisecond)
		if rings, unwritten := state(); rings != 0 || unwritten {
			t.Fatalf("read every 1.5 s, %d ms on: %d rings, unwritten %v; want no ring (buffered)", 100*(i+1), rings, unwritten)
		}
		if i%15 == 14 {
			read()
		}
	}

	// No more reads: the ring comes back once three windows have ended without one.
	for i := 0; ; i++ {
		if rings, _ := state(); rings == 1 {
			if i < 20 {
				t.Fatalf("a ring %d ms after the last read, want none before three windows", 100*i)
			}
			break
		}
		if i == 45 {
			t.Fatal("no ring after 4.5 s without reads")
		}
		f.appendRandom(1)
		f.clock.advance(100 * time.Millisecond)
	}
	if _, unwritten := state(); !unwritten {
		t.Fatal("the ring holds nothing unwritten with the writer held")
	}
	directWriteHook.Store(nil)
	waitUntil(t, "the held writes", func() bool { _, unwritten := state(); return !unwritten })
	f.checkAll()
}
