package log

// Benchmarks of the storage engine. What each measures:
//   BenchmarkAppend/batch=16KiB/fsync=none    Append of a 16 KiB batch (16 × 1 KiB records), page cache only.
//                                              Budget: 0 allocs/op (a roll allocates, amortized to 0).
//   BenchmarkAppend/batch=*/fsync=none/write=*  buffered against direct (write-behind) appends of
//                                              16 KiB and 1 MiB batches. Budget: 0 allocs/op.
//   BenchmarkAppend/batch=16KiB/fsync=every   flush.messages=1 with 4 appenders waiting for durability
//                                              (group commit); ns/op is per append, fsyncs/op reported.
//   BenchmarkPlainWrite/batch=16KiB           the baseline: the same bytes with plain sequential write(2).
//   BenchmarkRead/max=1MiB                    index lookup + region bounds for a random offset. 0 allocs/op.
//   BenchmarkRecovery                         a full unclean-shutdown rescan (CRC of every batch), MB/s.
// Run:    go test -run '^$' -bench . -benchmem -count 10 ./engine/log | tee new.txt; benchstat new.txt
// Profile: add -cpuprofile cpu.prof -bench 'Append/batch=16KiB/fsync=none'.

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/internal/cputime"
)

func batch16KiB() []byte {
	recs := make([]record.Record, 16)
	for i := range recs {
		recs[i] = record.Record{TimestampDelta: int64(i), Value: bytes.Repeat([]byte{'x'}, 1024-8)}
	}
	return record.AppendBatch(nil, record.BatchSpec{BaseTimestamp: 1_700_000_000_000, ProducerID: -1}, recs)
}

func BenchmarkAppend(b *testing.B) {
	b.Run("batch=16KiB/fsync=none", func(b *testing.B) { benchAppend(b, DefaultConfig()) })
	// The page-cache settings' share (pagecache.go): the defaults above against the kernel's way
	// (tail 0, no preallocation) and each alone. cpu-s/GiB is the process's CPU, the trimmer
	// goroutine's included.
	for _, v := range []struct {
		name           string
		tail, prealloc int64
	}{{"kernel", 0, 0}, {"tail-only", DefaultPageCacheTailBytes, 0}, {"prealloc-only", 0, DefaultPreallocateBytes}} {
		b.Run("batch=16KiB/fsync=none/pagecache="+v.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.PageCacheTailBytes, cfg.PreallocateBytes = v.tail, v.prealloc
			benchAppend(b, cfg)
		})
	}
	// log.write.mode (writebehind.go): 16 KiB batches and 1 MiB ones, franz-go's batch at one
	// partition, buffered and direct.
	big := record.AppendBatch(nil, record.BatchSpec{BaseTimestamp: 1_700_000_000_000, ProducerID: -1},
		[]record.Record{{Value: bytes.Repeat([]byte{'y'}, 1<<20-100)}})
	for _, mode := range []WriteMode{WriteBuffered, WriteDirect} {
		cfg := DefaultConfig()
		cfg.WriteMode = mode
		b.Run("batch=16KiB/fsync=none/write="+mode.String(), func(b *testing.B) { benchAppend(b, cfg) })
		b.Run("batch=1MiB/fsync=none/write="+mode.String(), func(b *testing.B) { benchAppendBatch(b, cfg, big) })
	}
	b.Run("batch=16KiB/fsync=every", func(b *testing.B) {
		cfg := DefaultConfig()
		cfg.FlushMessages = 1
		l, err := Open(b.TempDir(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		b.SetBytes(16 << 10)
		b.ReportAllocs()
		const appenders = 4
		var wg sync.WaitGroup
		per := b.N/appenders + 1
		b.ResetTimer()
		for range appenders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := batch16KiB()
				for range per {
					info, err := l.Append(record.Batch(p), 0)
					if err != nil {
						b.Error(err)
						return
					}
					if err := l.WaitDurable(b.Context(), info.LastOffset+1); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(l.FlushRounds())/float64(appenders*per), "fsyncs/append")
	})
}

func BenchmarkPlainWrite(b *testing.B) {
	b.Run("batch=16KiB", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "plain"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		p := batch16KiB()
		b.SetBytes(int64(len(p)))
		b.ReportAllocs()
		var written int64
		for b.Loop() {
			if _, err := f.Write(p); err != nil {
				b.Fatal(err)
			}
			// Start a new file every GiB, as the log rolls segments.
			if written += int64(len(p)); written >= DefaultSegmentBytes {
				f.Close()
				if f, err = os.Create(filepath.Join(b.TempDir(), "plain")); err != nil {
					b.Fatal(err)
				}
				written = 0
			}
		}
	})
}

// fillLog writes total bytes of 16 KiB batches.
func fillLog(b *testing.B, dir string, cfg Config, total int) *Log {
	l, err := Open(dir, cfg)
	if err != nil {
		b.Fatal(err)
	}
	p := batch16KiB()
	for n := 0; n < total; n += len(p) {
		if _, err := l.Append(record.Batch(p), 0); err != nil {
			b.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	return l
}

var sinkRegion Region

func BenchmarkRead(b *testing.B) {
	b.Run("max=1MiB", func(b *testing.B) {
		cfg := DefaultConfig()
		cfg.SegmentBytes = 16 << 20
		l := fillLog(b, b.TempDir(), cfg, 128<<20)
		defer l.Close()
		leo := l.LogEndOffset()
		b.SetBytes(1 << 20)
		b.ReportAllocs()
		var i int64
		for b.Loop() {
			off := (i * 7919) % leo
			i++
			r, err := l.Read(off, 1<<20, leo, true)
			if err != nil || r.Len == 0 {
				b.Fatalf("read %d: %v", off, err)
			}
			sinkRegion = r
			r.Release()
		}
	})
}

func BenchmarkRecovery(b *testing.B) {
	const total = 64 << 20
	dir := b.TempDir()
	l := fillLog(b, dir, DefaultConfig(), total)
	l.crash()
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		os.Remove(filepath.Join(dir, checkpointFile)) // no recovery point: rescan everything
		l, err := Open(dir, DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		l.crash()
	}
}

func benchAppend(b *testing.B, cfg Config) { benchAppendBatch(b, cfg, batch16KiB()) }

// benchAppendBatch appends p over and over. cpu-s/GiB covers the write-behind writer's work up
// to the last byte (the timer stops after it has drained).
func benchAppendBatch(b *testing.B, cfg Config, p []byte) {
	l, err := Open(b.TempDir(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	cpu0 := cputime.Process()
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.Append(record.Batch(p), 0); err != nil {
			b.Fatal(err)
		}
	}
	l.waitWritten(b)
	b.StopTimer()
	b.ReportMetric((cputime.Process()-cpu0).Seconds()/(float64(b.N)*float64(len(p))/(1<<30)), "cpu-s/GiB")
}
