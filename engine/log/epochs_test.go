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
