package replica

import (
	"sort"
	"testing"
)

// epochCache is engine/log's leader epoch cache reduced to its EndOffsetForEpoch rules, so the
// truncation decision can be tested against both ends of a conversation.
type epochCache struct {
	entries [][2]int64 // epoch, start offset; ascending
	leo     int64
}

func (c epochCache) endOffsetForEpoch(epoch int32) (int32, int64) {
	n := len(c.entries)
	if epoch == undefinedEpoch || n == 0 {
		return undefinedEpoch, undefinedOffset
	}
	if int32(c.entries[n-1][0]) == epoch {
		return epoch, c.leo
	}
	hi := sort.Search(n, func(i int) bool { return int32(c.entries[i][0]) > epoch })
	switch {
	case hi == n:
		return undefinedEpoch, undefinedOffset
	case hi == 0:
		return epoch, c.entries[0][1]
	}
	return int32(c.entries[hi-1][0]), c.entries[hi][1]
}

func (c epochCache) latest() int32 { return int32(c.entries[len(c.entries)-1][0]) }

// truncateTo cuts the cache as engine/log's Truncate does.
func (c epochCache) truncateTo(offset int64) epochCache {
	var kept [][2]int64
	for _, e := range c.entries {
		if e[1] < offset {
			kept = append(kept, e)
		}
	}
	return epochCache{entries: kept, leo: min(c.leo, offset)}
}

// TestDecideTruncation runs the follower's side of OffsetForLeaderEpoch until it is done, against
// a leader's cache, and checks where it ends.
func TestDecideTruncation(t *testing.T) {
	for _, tc := range []struct {
		name             string
		follower, leader epochCache
		want             int64
		rounds           int
	}{{
		// KIP-101's divergence: the follower led epoch 1 past the end the new leader has for it.
		name:     "divergent tail of an old epoch",
		follower: epochCache{[][2]int64{{1, 0}}, 15},
		leader:   epochCache{[][2]int64{{1, 0}, {2, 10}}, 20},
		want:     10, rounds: 1,
	}, {
		// Nothing diverged: a follower behind the leader keeps everything — in particular it does
		// not drop to its own high watermark (say 5 here), KIP-101's first scenario.
		name:     "behind in the same epoch",
		follower: epochCache{[][2]int64{{1, 0}, {2, 10}}, 15},
		leader:   epochCache{[][2]int64{{1, 0}, {2, 10}}, 20},
		want:     15, rounds: 1,
	}, {
		name:     "ahead in the leader's latest epoch",
		follower: epochCache{[][2]int64{{2, 0}}, 25},
		leader:   epochCache{[][2]int64{{2, 0}, {3, 20}}, 30},
		want:     20, rounds: 1,
	}, {
		// KIP-279: the leader answers epoch 2, which the follower never saw; it cuts back to the
		// end of its own epoch 1 and asks again, then cuts to the leader's end for epoch 1.
		name:     "leader answers an epoch the follower lacks",
		follower: epochCache{[][2]int64{{1, 0}, {3, 10}}, 15},
		leader:   epochCache{[][2]int64{{1, 0}, {2, 8}, {4, 12}}, 16},
		want:     8, rounds: 2,
	}, {
		// The follower's first epoch starts after the leader's answer: its log start lies past
		// where they agree, so everything goes.
		name:     "follower's epochs all newer than the answer",
		follower: epochCache{[][2]int64{{3, 5}}, 9},
		leader:   epochCache{[][2]int64{{2, 0}, {4, 7}}, 12},
		want:     5, rounds: 1,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.follower
			for round := 1; ; round++ {
				le, lo := tc.leader.endOffsetForEpoch(f.latest())
				tr := DecideTruncation(le, lo, f.endOffsetForEpoch, f.leo)
				if tr.Retry {
					t.Fatalf("round %d: retry", round)
				}
				f = f.truncateTo(tr.Offset)
				if tr.Done {
					if f.leo != tc.want || round != tc.rounds {
						t.Fatalf("truncated to %d in %d rounds, want %d in %d", f.leo, round, tc.want, tc.rounds)
					}
					return
				}
				if round > 10 {
					t.Fatalf("no end after %d rounds", round)
				}
			}
		})
	}

	// The leader knows no epoch this old (its log starts after it, or it is behind): truncate
	// nothing, ask again later.
	f := epochCache{[][2]int64{{5, 0}}, 10}
	le, lo := epochCache{[][2]int64{{2, 0}}, 4}.endOffsetForEpoch(f.latest())
	if tr := DecideTruncation(le, lo, f.endOffsetForEpoch, f.leo); !tr.Retry || tr.Done {
		t.Fatalf("undefined answer: %+v, want a retry", tr)
	}
}
