package harness

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Histories in these tests are written as traces. A token names a record
// as producer:seq and, after '@', where it went as partition/offset:
//
//	0:5@1/17   producer 0's record 5 at partition 1, offset 17
//	0:5@1      ... at partition 1, offset unknown (acks=0)
//	0:5!       producer 0's record 5 failed (only in acks)

func parseAcks(t *testing.T, trace string) []Ack {
	t.Helper()
	var acks []Ack
	for _, tok := range strings.Fields(trace) {
		if rec, ok := strings.CutSuffix(tok, "!"); ok {
			p, seq := parseRecord(t, rec)
			acks = append(acks, Ack{Producer: p, Seq: seq, Partition: -1, Offset: -1, Err: true})
			continue
		}
		rec, pos, _ := strings.Cut(tok, "@")
		p, seq := parseRecord(t, rec)
		part, off := parsePosition(t, pos)
		acks = append(acks, Ack{Producer: p, Seq: seq, Partition: part, Offset: off})
	}
	return acks
}

func parsePolls(t *testing.T, trace string) []Poll {
	t.Helper()
	var polls []Poll
	for _, tok := range strings.Fields(trace) {
		rec, pos, ok := strings.Cut(tok, "@")
		if !ok {
			t.Fatalf("poll %q has no position", tok)
		}
		p, seq := parseRecord(t, rec)
		part, off := parsePosition(t, pos)
		if off < 0 {
			t.Fatalf("poll %q has no offset", tok)
		}
		polls = append(polls, Poll{Producer: p, Seq: seq, Partition: part, Offset: off})
	}
	return polls
}

func parseRecord(t *testing.T, s string) (uint32, uint64) {
	t.Helper()
	ps, ss, ok := strings.Cut(s, ":")
	p, err1 := strconv.ParseUint(ps, 10, 32)
	seq, err2 := strconv.ParseUint(ss, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("bad record %q", s)
	}
	return uint32(p), seq
}

func parsePosition(t *testing.T, s string) (int32, int64) {
	t.Helper()
	ps, os, hasOffset := strings.Cut(s, "/")
	part, err := strconv.ParseInt(ps, 10, 32)
	if err != nil {
		t.Fatalf("bad position %q", s)
	}
	if !hasOffset {
		return int32(part), -1
	}
	off, err := strconv.ParseInt(os, 10, 64)
	if err != nil {
		t.Fatalf("bad position %q", s)
	}
	return int32(part), off
}

// counts is the part of a Verdict a test states; examples and wording aside.
type counts struct {
	Sent, Acknowledged, SendFailed, Unresolved, Consumed               int64
	Lost, Duplicates, Reordered, NonmonotonicAcks, InconsistentOffsets int64
	Phantoms, Redelivered, UnackedConsumed                             int64
}

func countsOf(v Verdict) counts {
	return counts{v.Sent, v.Acknowledged, v.SendFailed, v.Unresolved, v.Consumed,
		v.Lost, v.Duplicates, v.Reordered, v.NonmonotonicAcks, v.InconsistentOffsets,
		v.Phantoms, v.Redelivered, v.UnackedConsumed}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sent       []uint64
		idempotent bool
		acks       string
		partitions []int32 // of the one subscription; nil: no subscription
		polls      string  // the subscription's reads, in arrival order
		want       counts  // Sent and Acknowledged are filled in from acks when zero
		pass       bool
	}{{
		name:       "clean: two producers over two partitions",
		sent:       []uint64{2, 2},
		acks:       "0:0@0/0 1:0@1/0 0:1@0/1 1:1@1/1",
		partitions: []int32{0, 1},
		polls:      "1:0@1/0 0:0@0/0 1:1@1/1 0:1@0/1",
		want:       counts{Sent: 4, Acknowledged: 4, Consumed: 4},
		pass:       true,
	}, {
		name:       "loss: an acknowledged record is never read",
		sent:       []uint64{3},
		acks:       "0:0@0/0 0:1@0/1 0:2@0/2",
		partitions: []int32{0},
		polls:      "0:0@0/0 0:2@0/2",
		want:       counts{Sent: 3, Acknowledged: 3, Consumed: 2, Lost: 1},
	}, {
		name:       "duplicate without idempotence: counted, allowed",
		sent:       []uint64{3},
		acks:       "0:0@0/0 0:1@0/1 0:2@0/3",
		partitions: []int32{0},
		// A retried batch: record 1 written at offsets 1 and 2.
		polls: "0:0@0/0 0:1@0/1 0:1@0/2 0:2@0/3",
		want:  counts{Sent: 3, Acknowledged: 3, Consumed: 4, Duplicates: 1},
		pass:  true,
	}, {
		name:       "duplicate with idempotence: fails",
		sent:       []uint64{3},
		idempotent: true,
		acks:       "0:0@0/0 0:1@0/1 0:2@0/3",
		partitions: []int32{0},
		polls:      "0:0@0/0 0:1@0/1 0:1@0/2 0:2@0/3",
		want:       counts{Sent: 3, Acknowledged: 3, Consumed: 4, Duplicates: 1},
	}, {
		name:       "reorder: a producer's records out of sequence in the log",
		sent:       []uint64{3},
		acks:       "0:0@0 0:1@0 0:2@0", // acks=0: no offsets to compare with
		partitions: []int32{0},
		polls:      "0:0@0/0 0:2@0/1 0:1@0/2",
		want:       counts{Sent: 3, Acknowledged: 3, Consumed: 3, Reordered: 1},
	}, {
		name:       "other producers interleaving is not a reorder",
		sent:       []uint64{2, 2},
		acks:       "0:0@0 0:1@0 1:0@0 1:1@0",
		partitions: []int32{0},
		polls:      "1:0@0/0 0:0@0/1 1:1@0/2 0:1@0/3",
		want:       counts{Sent: 4, Acknowledged: 4, Consumed: 4},
		pass:       true,
	}, {
		name:       "loss, duplicate and reorder in one log: each counted",
		sent:       []uint64{5},
		acks:       "0:0@0 0:1@0 0:2@0 0:3@0 0:4@0",
		partitions: []int32{0},
		// 1 is lost; 2 is duplicated; 4 comes before 3.
		polls: "0:0@0/0 0:2@0/1 0:2@0/2 0:4@0/3 0:3@0/4",
		want:  counts{Sent: 5, Acknowledged: 5, Consumed: 5, Lost: 1, Duplicates: 1, Reordered: 1},
	}, {
		name:       "redelivery after a rebalance: same offset, same record",
		sent:       []uint64{2},
		acks:       "0:0@0/0 0:1@0/1",
		partitions: []int32{0},
		polls:      "0:0@0/0 0:1@0/1 0:1@0/1",
		want:       counts{Sent: 2, Acknowledged: 2, Consumed: 2, Redelivered: 1},
		pass:       true,
	}, {
		name:       "inconsistent offset: two reads of one offset disagree",
		sent:       []uint64{2},
		acks:       "0:0@0 0:1@0",
		partitions: []int32{0},
		polls:      "0:0@0/0 0:1@0/0",
		// Record 1 is dropped with the second read of offset 0, so it is lost too.
		want: counts{Sent: 2, Acknowledged: 2, Consumed: 1, InconsistentOffsets: 1, Lost: 1},
	}, {
		name:       "inconsistent offset: read disagrees with the acknowledgement",
		sent:       []uint64{1, 1},
		acks:       "0:0@0/0 1:0@0/1",
		partitions: []int32{0},
		polls:      "1:0@0/0 0:0@0/1",
		want:       counts{Sent: 2, Acknowledged: 2, Consumed: 2, InconsistentOffsets: 2},
	}, {
		name:       "phantom: a record nobody sent",
		sent:       []uint64{1},
		acks:       "0:0@0/0",
		partitions: []int32{0},
		polls:      "0:0@0/0 0:7@0/1 3:0@0/2",
		want:       counts{Sent: 1, Acknowledged: 1, Consumed: 1, Phantoms: 2},
	}, {
		name:       "a failed send that landed anyway is not a failure",
		sent:       []uint64{2},
		acks:       "0:0@0/0 0:1!",
		partitions: []int32{0},
		polls:      "0:0@0/0 0:1@0/1",
		want:       counts{Sent: 2, Acknowledged: 1, SendFailed: 1, Consumed: 2, UnackedConsumed: 1},
		pass:       true,
	}, {
		name:       "a failed send never read is not lost",
		sent:       []uint64{2},
		acks:       "0:0@0/0 0:1!",
		partitions: []int32{0},
		polls:      "0:0@0/0",
		want:       counts{Sent: 2, Acknowledged: 1, SendFailed: 1, Consumed: 1},
		pass:       true,
	}, {
		name:       "unresolved: sent, no outcome",
		sent:       []uint64{2},
		acks:       "0:0@0/0",
		partitions: []int32{0},
		polls:      "0:0@0/0",
		want:       counts{Sent: 2, Acknowledged: 1, Unresolved: 1, Consumed: 1},
		pass:       true,
	}, {
		name: "acknowledgements alone: producer order at the broker (blackhole)",
		sent: []uint64{3},
		acks: "0:0@0/0 0:1@0/2 0:2@0/1",
		want: counts{Sent: 3, Acknowledged: 3, NonmonotonicAcks: 1},
	}, {
		name: "acknowledgements alone: two records at one offset",
		sent: []uint64{1, 1},
		acks: "0:0@0/0 1:0@0/0",
		want: counts{Sent: 2, Acknowledged: 2, InconsistentOffsets: 1},
	}, {
		name: "acknowledgements alone: clean",
		sent: []uint64{2, 1},
		acks: "0:0@0/0 1:0@1/0 0:1@0/1",
		want: counts{Sent: 3, Acknowledged: 3},
		pass: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := &History{Sent: tc.sent, Acks: parseAcks(t, tc.acks), Idempotent: tc.idempotent}
			if tc.partitions != nil {
				h.Subscriptions = []Subscription{{Name: "s", Partitions: tc.partitions, Polls: parsePolls(t, tc.polls)}}
			}
			v := Check(h)
			if got := countsOf(v); got != tc.want {
				t.Errorf("counts\n got %+v\nwant %+v", got, tc.want)
			}
			if v.OK() != tc.pass {
				t.Errorf("OK() = %v, want %v; failures %q", v.OK(), tc.pass, v.Failures)
			}
			if v.ConsumeChecked != (tc.partitions != nil) {
				t.Errorf("ConsumeChecked = %v with %d subscriptions", v.ConsumeChecked, len(h.Subscriptions))
			}
			anomalies := tc.want.Lost + tc.want.Duplicates + tc.want.Reordered + tc.want.NonmonotonicAcks +
				tc.want.InconsistentOffsets + tc.want.Phantoms
			if anomalies > 0 && len(v.Examples) == 0 {
				t.Errorf("%d anomalies but no examples", anomalies)
			}
			t.Logf("failures %q examples %q", v.Failures, v.Examples)
		})
	}
}

// Each subscription must read its own partitions in full, and only those.
func TestCheckSubscriptionsAreIndependent(t *testing.T) {
	h := &History{
		Sent: []uint64{2, 2},
		// Producer 0 writes partition 0 (topic A), producer 1 partition 1 (topic B).
		Acks: parseAcks(t, "0:0@0/0 0:1@0/1 1:0@1/0 1:1@1/1"),
		Subscriptions: []Subscription{
			{Name: "a1", Partitions: []int32{0}, Polls: parsePolls(t, "0:0@0/0 0:1@0/1")},
			{Name: "a2", Partitions: []int32{0}, Polls: parsePolls(t, "0:0@0/0")},
			{Name: "b1", Partitions: []int32{1}, Polls: parsePolls(t, "1:0@1/0 1:1@1/1")},
		},
	}
	v := Check(h)
	if v.Lost != 1 || v.Consumed != 5 {
		t.Fatalf("lost %d consumed %d, want 1 and 5; examples %q", v.Lost, v.Consumed, v.Examples)
	}
	if !strings.Contains(strings.Join(v.Examples, "\n"), "a2: lost producer 0 seq 1") {
		t.Errorf("examples do not name a2's loss: %q", v.Examples)
	}
}

// The examples stay bounded however broken the log.
func TestCheckExamplesBounded(t *testing.T) {
	const n = 1000
	h := &History{Sent: []uint64{n}, Subscriptions: []Subscription{{Name: "s", Partitions: []int32{0}}}}
	for i := range uint64(n) {
		h.Acks = append(h.Acks, Ack{Producer: 0, Seq: i, Partition: 0, Offset: int64(i)})
	}
	v := Check(h)
	if v.Lost != n || len(v.Examples) != examplesMax {
		t.Fatalf("lost %d examples %d, want %d and %d", v.Lost, len(v.Examples), n, examplesMax)
	}
	if want := fmt.Sprintf("%d acknowledged records lost", n); !strings.HasPrefix(v.Failures[0], want) {
		t.Errorf("failure %q does not start %q", v.Failures[0], want)
	}
}

// Committed offsets may stay put or move forward per group and partition;
// each step back is counted once and fails the run.
func TestCheckCommits(t *testing.T) {
	h := &History{
		Sent: []uint64{1},
		Acks: parseAcks(t, "0:0@0/0"),
		Commits: []Commit{
			{Group: "g", Partition: 0, Offset: 5},
			{Group: "g", Partition: 1, Offset: 2}, // another partition: its own sequence
			{Group: "g", Partition: 0, Offset: 5}, // the same again: fine
			{Group: "h", Partition: 0, Offset: 1}, // another group: its own sequence
			{Group: "g", Partition: 0, Offset: 3}, // back: counted
			{Group: "g", Partition: 0, Offset: 4}, // still below 5: counted
			{Group: "g", Partition: 0, Offset: 9},
		},
	}
	v := Check(h)
	if v.Commits != 7 || v.CommitsBackwards != 2 || v.OK() {
		t.Fatalf("commits %d backwards %d OK %v, want 7, 2, false", v.Commits, v.CommitsBackwards, v.OK())
	}
	if !strings.Contains(strings.Join(v.Examples, "\n"), "group g: partition 0 committed offset 3 after 5") {
		t.Errorf("examples do not name the step back: %q", v.Examples)
	}
	h.Commits = h.Commits[:4]
	if v := Check(h); v.CommitsBackwards != 0 || !v.OK() {
		t.Errorf("monotonic commits: backwards %d failures %q", v.CommitsBackwards, v.Failures)
	}
}
