package log

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicemq/sluice/engine/record"
)

func appendEpoch(t *testing.T, f *fixture, epoch int32, n int) {
	t.Helper()
	for range n {
		p, _ := makeBatch(f.rng, 1, 50, 1)
		if _, err := f.l.Append(record.Batch(p), epoch); err != nil {
			t.Fatal(err)
		}
	}
	f.l.SetHighWatermark(f.l.LogEndOffset())
}

func checkEpochs(t *testing.T, l *Log, cases [][3]int64) {
	t.Helper()
	for _, c := range cases {
		e, off := l.EndOffsetForEpoch(int32(c[0]))
		if int64(e) != c[1] || off != c[2] {
			t.Errorf("EndOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", c[0], e, off, c[1], c[2])
		}
	}
}

func TestLeaderEpochCache(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SegmentBytes = 2048 })
	appendEpoch(t, f, 0, 10) // offsets 0-9
	appendEpoch(t, f, 2, 10) // 10-19
	appendEpoch(t, f, 5, 10) // 20-29
	want := [][3]int64{{0, 0, 10}, {1, 0, 10}, {2, 2, 20}, {3, 2, 20}, {4, 2, 20}, {5, 5, 30}, {6, -1, -1}, {-1, -1, -1}}
	checkEpochs(t, f.l, want)
	if f.l.LatestEpoch() != 5 {
		t.Fatalf("latest epoch %d", f.l.LatestEpoch())
	}
	// Reopened cleanly, and recovered from the batches alone, the cache is the same.
	f.l.Close()
	f.reopen()
	checkEpochs(t, f.l, want)
	f.l.crash()
	os.Remove(filepath.Join(f.dir, epochCheckpointFile))
	os.Remove(filepath.Join(f.dir, checkpointFile))
	f.reopen()
	checkEpochs(t, f.l, want)

	// A follower truncating to the leader's end for epoch 2 drops epoch 5.
	if err := f.l.Truncate(15); err != nil {
		t.Fatal(err)
	}
	checkEpochs(t, f.l, [][3]int64{{0, 0, 10}, {2, 2, 15}, {5, -1, -1}})
	appendEpoch(t, f, 7, 5) // 15-19 in epoch 7
	checkEpochs(t, f.l, [][3]int64{{2, 2, 15}, {6, 2, 15}, {7, 7, 20}})

	// Deleting records below 12 moves the start of the epoch holding it.
	if err := f.l.DeleteBefore(12); err != nil {
		t.Fatal(err)
	}
	checkEpochs(t, f.l, [][3]int64{{0, 0, 12}, {2, 2, 15}, {7, 7, 20}})
	f.l.Close()
	f.reopen()
	checkEpochs(t, f.l, [][3]int64{{0, 0, 12}, {2, 2, 15}, {7, 7, 20}})
}

// TestEpochStartWithoutBatches: a broker that becomes leader records its epoch's start at once
// (so it answers OffsetForLeaderEpoch for the epochs before it precisely), and a follower
// truncating at its log end forgets an epoch that never wrote a batch.
func TestEpochStartWithoutBatches(t *testing.T) {
	f := newFixture(t)
	appendEpoch(t, f, 1, 10) // 0-9
	if err := f.l.MaybeAssignEpochStartOffset(3); err != nil {
		t.Fatal(err)
	}
	if err := f.l.MaybeAssignEpochStartOffset(2); err != nil { // older: ignored
		t.Fatal(err)
	}
	checkEpochs(t, f.l, [][3]int64{{1, 1, 10}, {2, 1, 10}, {3, 3, 10}, {4, -1, -1}})
	appendEpoch(t, f, 3, 5) // 10-14, still epoch 3 from 10
	checkEpochs(t, f.l, [][3]int64{{1, 1, 10}, {3, 3, 15}})

	// Led epoch 5 without writing, then follows: truncating at the end drops epoch 5 only.
	if err := f.l.MaybeAssignEpochStartOffset(5); err != nil {
		t.Fatal(err)
	}
	if f.l.LatestEpoch() != 5 {
		t.Fatalf("latest epoch %d, want 5", f.l.LatestEpoch())
	}
	if err := f.l.Truncate(f.l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if f.l.LatestEpoch() != 3 || f.l.LogEndOffset() != 15 {
		t.Fatalf("after truncating at the end: latest epoch %d, log end %d, want 3, 15", f.l.LatestEpoch(), f.l.LogEndOffset())
	}

	// TruncateFully beyond the log end: a follower whose leader deleted everything it held.
	if err := f.l.TruncateFully(40); err != nil {
		t.Fatal(err)
	}
	if s, e, hw := f.l.LogStartOffset(), f.l.LogEndOffset(), f.l.HighWatermark(); s != 40 || e != 40 || hw != 40 {
		t.Fatalf("after TruncateFully(40): start %d end %d hw %d", s, e, hw)
	}
	if f.l.LatestEpoch() != UndefinedEpoch {
		t.Fatalf("after TruncateFully: latest epoch %d, want none", f.l.LatestEpoch())
	}
	appendEpoch(t, f, 6, 2)
	checkEpochs(t, f.l, [][3]int64{{6, 6, 42}})
	f.l.Close()
	f.reopen()
	checkEpochs(t, f.l, [][3]int64{{6, 6, 42}})
	if s := f.l.LogStartOffset(); s != 40 {
		t.Fatalf("log start %d after reopen, want 40", s)
	}
}
