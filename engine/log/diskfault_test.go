package log

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/internal/diskfault"
)

// Disk faults at the log's level: a write that fails (ENOSPC, EIO, short), a roll that cannot
// create the next segment, corruption in a flushed segment, and a real full file system.

// failWrites makes segment writes fail with err after writing the first keep bytes for real (a
// short write, as a file system running out of space mid-batch does), until the returned func
// runs.
func failWrites(t *testing.T, keep int, err error) (restore func()) {
	t.Helper()
	hook := func(s *segment, p []byte, pos int64) (int, error) {
		n, werr := s.file.WriteAt(p[:min(keep, len(p))], pos)
		if werr != nil {
			return n, werr
		}
		return n, err
	}
	writeAtHook.Store(&hook)
	restore = func() { writeAtHook.Store(nil) }
	t.Cleanup(restore)
	return restore
}

func TestAppendWriteFailureLeavesLogUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep int
		err  error
	}{
		{"enospc-short", 37, syscall.ENOSPC},
		{"eio-nothing", 0, syscall.EIO},
		{"enospc-all-but-one", 1 << 30, syscall.ENOSPC}, // every byte landed, the call still failed
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.appendRandom(30)
			leo, size, segs := f.l.LogEndOffset(), f.l.Size(), f.l.NumSegments()
			restore := failWrites(t, tc.keep, tc.err)
			for range 3 {
				p, _ := makeBatch(f.rng, 4, 100, f.clock.ms.Load())
				_, err := f.l.Append(record.Batch(p), 3)
				if !errors.Is(err, tc.err) {
					t.Fatalf("append on a failing disk: %v, want %v", err, tc.err)
				}
			}
			if got := f.l.LogEndOffset(); got != leo {
				t.Fatalf("log end offset moved from %d to %d on failed appends", leo, got)
			}
			if got := f.l.Size(); got != size {
				t.Fatalf("log size %d after failed appends, want %d", got, size)
			}
			if f.l.NumSegments() != segs {
				t.Fatalf("%d segments after failed appends, want %d", f.l.NumSegments(), segs)
			}
			// The torn bytes were cut from the file: on disk it is exactly the published log.
			files := f.segmentFiles()
			st, err := os.Stat(files[len(files)-1])
			if err != nil {
				t.Fatal(err)
			}
			if pub := (*f.l.segments.Load())[segs-1].size.Load(); st.Size() != pub {
				t.Fatalf("active segment file is %d bytes, published %d: a partial write lingers", st.Size(), pub)
			}
			f.checkAll()
			restore()
			f.appendRandom(30) // space is back: appends go on from the same offset, no restart
			if f.want[30].base != leo {
				t.Fatalf("first append after the failure at %d, want %d", f.want[30].base, leo)
			}
			f.checkAll()
			f.l.crash()
			f.reopen()
			f.checkAll()
		})
	}
}

func TestRollFailureLeavesLogUnchanged(t *testing.T) {
	// Each of the next segment's files in turn cannot be created: a directory squats its name
	// (with a file inside, so the fresh-index cleanup cannot remove it; root ignores modes).
	for _, ext := range []string{".log", ".index", ".timeindex"} {
		t.Run(ext, func(t *testing.T) { testRollFailure(t, ext) })
	}
}

func testRollFailure(t *testing.T, ext string) {
	f := newFixture(t)
	segs := f.l.NumSegments()
	for f.l.NumSegments() == segs {
		f.appendRandom(1)
	}
	// The active segment is new: fill it with small batches to just under segment.bytes.
	segs = f.l.NumSegments()
	for {
		active := (*f.l.segments.Load())[segs-1]
		if active.size.Load()+2048 > f.cfg.SegmentBytes {
			break
		}
		p, _ := makeBatch(f.rng, 1, 100, f.clock.ms.Load())
		info, err := f.l.Append(record.Batch(p), 3)
		if err != nil || f.l.NumSegments() != segs {
			t.Fatalf("filling the segment: %v, %d segments (want %d)", err, f.l.NumSegments(), segs)
		}
		f.want = append(f.want, stored{base: info.BaseOffset, last: info.LastOffset, maxTS: record.Batch(p).MaxTimestamp(), bytes: p})
	}
	leo := f.l.LogEndOffset()
	squat := segmentPath(f.dir, leo, ext)
	if err := os.MkdirAll(filepath.Join(squat, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, _ := makeBatch(f.rng, 8, 1000, f.clock.ms.Load()) // > 2 KiB: must roll
	if _, err := f.l.Append(record.Batch(p), 3); err == nil {
		t.Fatal("append needing a roll succeeded although the next segment cannot be created")
	}
	if f.l.LogEndOffset() != leo || f.l.NumSegments() != segs {
		t.Fatalf("failed roll changed the log: end %d (want %d), %d segments (want %d)", f.l.LogEndOffset(), leo, f.l.NumSegments(), segs)
	}
	if _, err := os.Stat(segmentPath(f.dir, leo, ".log")); ext != ".log" && !os.IsNotExist(err) {
		t.Fatalf("a failed roll left %s behind (%v)", segmentPath(f.dir, leo, ".log"), err)
	}
	// The old segment must still be the writable active one: a batch that fits goes there.
	small, _ := makeBatch(f.rng, 1, 10, f.clock.ms.Load())
	info, err := f.l.Append(record.Batch(small), 3)
	if err != nil {
		t.Fatalf("small append after a failed roll: %v", err)
	}
	f.want = append(f.want, stored{base: info.BaseOffset, last: info.LastOffset, maxTS: record.Batch(small).MaxTimestamp(), bytes: small})
	f.checkAll()
	if err := os.RemoveAll(squat); err != nil {
		t.Fatal(err)
	}
	f.appendRandom(40)
	f.checkAll()
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	f.checkAll()
}

func TestEpochCheckpointFailureLeavesLogUnchanged(t *testing.T) {
	f := newFixture(t)
	f.appendRandom(10)
	leo := f.l.LogEndOffset()
	// A new leader epoch rewrites leader-epoch-checkpoint through a .tmp file: make that fail.
	tmp := filepath.Join(f.dir, epochCheckpointFile+".tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	p, _ := makeBatch(f.rng, 2, 10, f.clock.ms.Load())
	if _, err := f.l.Append(record.Batch(p), 4); err == nil {
		t.Fatal("append starting a new leader epoch succeeded although its checkpoint cannot be written")
	}
	if f.l.LogEndOffset() != leo || f.l.LatestEpoch() != 3 {
		t.Fatalf("after a failed epoch checkpoint: end %d (want %d), latest epoch %d (want 3)", f.l.LogEndOffset(), leo, f.l.LatestEpoch())
	}
	os.Remove(tmp)
	info, err := f.l.Append(record.Batch(p), 4)
	if err != nil || info.BaseOffset != leo || f.l.LatestEpoch() != 4 {
		t.Fatalf("append after the checkpoint works again: %+v %v, latest epoch %d", info, err, f.l.LatestEpoch())
	}
}

func TestRecoveryVerifyAllFindsCorruptionBelowRecoveryPoint(t *testing.T) {
	f := newFixture(t)
	f.appendRandom(300)
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	// A bit flips inside the 6th batch of the first segment, flushed long ago.
	k := 5
	var pos int64
	for _, w := range f.want[:k] {
		pos += int64(len(w.bytes))
	}
	diskfault.FlipBits(t, f.segmentFiles()[0], pos+record.HeaderSize+5, 0x10)

	// Default: a cleanly closed log is trusted, as Kafka trusts it; nothing is rescanned.
	f.reopen()
	if f.l.LogEndOffset() != f.want[len(f.want)-1].last+1 {
		t.Fatalf("default open changed the log end offset to %d", f.l.LogEndOffset())
	}
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	// log.recovery.verify.all: the corrupt batch and everything after it go.
	f.cfg.RecoveryVerifyAll = true
	f.reopen()
	if got := f.l.LogEndOffset(); got != f.want[k].base {
		t.Fatalf("verify-all open: log end offset %d, want %d (the corrupt batch's base)", got, f.want[k].base)
	}
	if n := len(f.segmentFiles()); n != 1 {
		t.Fatalf("%d segment files after verify-all truncated the first segment, want 1", n)
	}
	if lost, want := f.l.CommittedLostOnOpen(), f.want[len(f.want)-1].last+1-f.want[k].base; lost != want {
		t.Fatalf("CommittedLostOnOpen %d, want %d (high watermark %d was checkpointed)", lost, want, f.want[len(f.want)-1].last+1)
	}
	f.want = f.want[:k]
	f.checkAll()
}

// A real full disk, with Kafka's 10 MiB index preallocation on a 2 MiB file system: appends fail
// with ENOSPC (never SIGBUS from a mapped index page with no block), nothing torn is visible, and
// appends resume once space is freed.
func TestFullTmpfs(t *testing.T) {
	mnt := diskfault.MountTmpfs(t, "2m")
	f := &fixture{t: t, dir: filepath.Join(mnt, "p-0"), rng: newFixture(t).rng, clock: &fakeClock{}}
	f.clock.ms.Store(1_700_000_000_000)
	f.cfg = DefaultConfig()
	f.cfg.SegmentBytes = 512 << 10
	f.cfg.IndexIntervalBytes = 256
	f.cfg.Now = f.clock.now
	f.reopen()
	var full error
	for i := 0; i < 100000 && full == nil; i++ {
		p, ts := makeBatch(f.rng, 1+f.rng.IntN(4), 200+f.rng.IntN(800), f.clock.ms.Load())
		info, err := f.l.Append(record.Batch(p), 3)
		if err != nil {
			full = err
			break
		}
		f.want = append(f.want, stored{base: info.BaseOffset, last: info.LastOffset, maxTS: record.Batch(p).MaxTimestamp(), bytes: p, recTS: ts})
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("filling a 2 MiB tmpfs: %v, want ENOSPC", full)
	}
	t.Logf("full after %d batches, log end %d, %d segments: %v", len(f.want), f.l.LogEndOffset(), f.l.NumSegments(), full)
	if got, want := f.l.LogEndOffset(), f.want[len(f.want)-1].last+1; got != want {
		t.Fatalf("log end offset %d, want %d (end of the last acknowledged batch)", got, want)
	}
	f.l.SetHighWatermark(f.l.LogEndOffset())
	f.checkAll()
	// Free space (DeleteRecords drops the older segments) and go on without reopening.
	if err := f.l.DeleteBefore(f.l.HighWatermark()); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		p, ts := makeBatch(f.rng, 2, 300, f.clock.ms.Load())
		info, err := f.l.Append(record.Batch(p), 3)
		if err != nil {
			t.Fatalf("append after freeing space (%d segments): %v", f.l.NumSegments(), err)
		}
		f.want = append(f.want, stored{base: info.BaseOffset, last: info.LastOffset, maxTS: record.Batch(p).MaxTimestamp(), bytes: p, recTS: ts})
	}
	f.l.SetHighWatermark(f.l.LogEndOffset())
	f.checkAll()
	if err := f.l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	f.reopen()
	f.checkAll()
}

// batchOfSize builds a one-record batch of exactly size bytes (size ≥ ~80).
func batchOfSize(t *testing.T, size int, ts int64) []byte {
	t.Helper()
	for v := size; v >= 0; v-- {
		p := record.AppendBatch(nil, record.BatchSpec{BaseTimestamp: ts, ProducerID: -1}, []record.Record{{Value: make([]byte, v)}})
		if len(p) == size {
			return p
		}
	}
	t.Fatalf("no one-record batch is %d bytes", size)
	return nil
}

// fillFS writes a ballast file in dir until the file system is full.
func fillFS(t *testing.T, dir string) {
	t.Helper()
	fh, err := os.Create(filepath.Join(dir, "ballast"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := fh.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("ballast: %v", err)
			}
			return
		}
	}
}

// The index files are mapped and grown sparse: on a full file system, the first store into a
// page with no block behind it raises SIGBUS and kills the broker. Here the log's next batch fits
// in the segment's last, already allocated page while its index entry is the first of an
// unreserved page: the append must succeed (the entry is skipped) and reads stay right.
func TestFullTmpfsIndexPageWithoutBlocks(t *testing.T) {
	mnt := diskfault.MountTmpfs(t, "2m")
	f := &fixture{t: t, dir: filepath.Join(mnt, "p-0"), rng: newFixture(t).rng, clock: &fakeClock{}}
	f.clock.ms.Store(1_700_000_000_000)
	f.cfg = DefaultConfig()
	f.cfg.IndexIntervalBytes = 1 // an index entry for every batch after the first
	f.cfg.Now = f.clock.now
	f.reopen()
	add := func(p []byte) {
		t.Helper()
		info, err := f.l.Append(record.Batch(p), 3)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		f.want = append(f.want, stored{base: info.BaseOffset, last: info.LastOffset, maxTS: record.Batch(p).MaxTimestamp(), bytes: p})
		f.clock.advance(1)
	}
	active := (*f.l.segments.Load())[0]
	boundary := int64(indexReserveBytes / offsetEntrySize) // entries filling the first reserved chunk
	for active.index.n.Load() < boundary-1 {
		add(batchOfSize(t, 80, f.clock.ms.Load()))
	}
	// The last entry of the chunk: size this batch so the log's last page keeps 3996 free bytes.
	size := active.size.Load()
	add(batchOfSize(t, int(4096+100-size%4096), f.clock.ms.Load()))
	if active.index.n.Load() != boundary || active.size.Load()%4096 != 100 {
		t.Fatalf("setup: %d index entries (want %d), segment size %d", active.index.n.Load(), boundary, active.size.Load())
	}
	fillFS(t, mnt)
	add(batchOfSize(t, 200, f.clock.ms.Load())) // SIGBUS here without index reservation
	if n := active.index.n.Load(); n != boundary {
		t.Fatalf("%d index entries: the entry with no block behind it should have been skipped", n)
	}
	f.l.SetHighWatermark(f.l.LogEndOffset())
	f.checkAll()
	// Space back: the next entry gets its chunk.
	if err := os.Remove(filepath.Join(mnt, "ballast")); err != nil {
		t.Fatal(err)
	}
	add(batchOfSize(t, 200, f.clock.ms.Load()))
	if n := active.index.n.Load(); n != boundary+1 {
		t.Fatalf("%d index entries after space came back, want %d", n, boundary+1)
	}
	f.l.SetHighWatermark(f.l.LogEndOffset())
	f.checkAll()
}

// A failed fsync takes the log offline: appends, flushes and durability waits fail with
// ErrLogOffline even once fsync works again (the kernel may have dropped the dirty pages and
// cleared the error, so a later fsync proves nothing), and Close leaves no clean-shutdown marker,
// so the next Open rescans from the recovery point and the log works again.
func TestFsyncFailureTakesLogOffline(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FlushMessages = 1 << 20 }) // a flusher runs; appends do not wait
	f.appendRandom(20)
	if err := f.l.Flush(); err != nil {
		t.Fatal(err)
	}
	f.appendRandom(20)
	f.l.rollSync.Wait() // rolled segments' background fsyncs are done: the recovery point stays
	rp := f.l.RecoveryPoint()
	eio := func(*segment) error { return syscall.EIO }
	syncHook.Store(&eio)
	t.Cleanup(func() { syncHook.Store(nil) })
	if err := f.l.Flush(); !errors.Is(err, syscall.EIO) || !errors.Is(err, ErrLogOffline) {
		t.Fatalf("flush with a failing fsync: %v, want EIO and ErrLogOffline", err)
	}
	syncHook.Store(nil) // fsync "works" again
	p, _ := makeBatch(f.rng, 1, 10, f.clock.ms.Load())
	if _, err := f.l.Append(record.Batch(p), 3); !errors.Is(err, ErrLogOffline) {
		t.Fatalf("append after a failed fsync: %v, want ErrLogOffline", err)
	}
	if err := f.l.WaitDurable(t.Context(), f.l.LogEndOffset()); !errors.Is(err, ErrLogOffline) {
		t.Fatalf("WaitDurable after a failed fsync: %v, want ErrLogOffline", err)
	}
	if got := f.l.RecoveryPoint(); got != rp {
		t.Fatalf("recovery point moved from %d to %d over a failed fsync", rp, got)
	}
	f.checkAll() // what was written stays readable
	if err := f.l.Close(); !errors.Is(err, ErrLogOffline) {
		t.Fatalf("close of an offline log: %v, want ErrLogOffline", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatalf("clean-shutdown marker after closing an offline log: %v", err)
	}
	f.reopen()
	f.checkAll()
	f.appendRandom(5)
	f.checkAll()
}
