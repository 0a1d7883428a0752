package harness

import (
	"cmp"
	"fmt"
	"slices"
)

// The checker: a pure function from what a run observed (History) to a
// Verdict, in Jepsen's vocabulary (RELIABILITY.md, "The checker"). It knows
// nothing of clients or brokers, so tests feed it synthetic histories.
//
// A record is named by (producer, sequence); the broker names a position by
// (partition, offset). The checks, per partition:
//
//	lost                   acknowledged, never read by a subscription's final drain
//	duplicates             one record at two offsets (fails the run with idempotence)
//	reordered              read after a later record of the same producer
//	nonmonotonicAcks       acknowledged at an offset below an earlier record of the same producer
//	inconsistentOffsets    one offset, two records (two reads disagree, or the read
//	                       disagrees with the offset the broker acknowledged)
//	phantoms               read, but no producer of this run sent it
//	commitsBackwards       a consumer group's committed offset for a partition below one
//	                       it committed before (History.Commits, in acknowledgement order)
//
// and two counts that are not failures: redelivered (the same offset read
// again with the same record — a consumer rewinding after a rebalance) and
// unackedConsumed (read although its producer saw an error — the write landed).

// Ack is the outcome of one Produce call as its promise saw it. Fields run
// largest first so the struct packs into 32 bytes: a run logs one per record.
type Ack struct {
	Offset    int64 // -1 when the broker gave none (acks=0 or an error)
	Seq       uint64
	Producer  uint32
	Partition int32 // run-wide partition index; -1 if the record never got one
	Err       bool  // the client reported failure: not acknowledged
}

// Poll is one record a consumer received, or one acknowledged position
// (24 bytes; one per record read).
type Poll struct {
	Offset    int64
	Seq       uint64
	Partition int32
	Producer  uint32
}

// Subscription is one consumer group: it must read every acknowledged record
// of its partitions.
type Subscription struct {
	Name       string
	Partitions []int32
	Polls      []Poll
}

// History is everything a run observed.
type History struct {
	// Sent[p] is how many records producer p handed to its client; their
	// sequence numbers are 0..Sent[p]-1.
	Sent          []uint64
	Acks          []Ack
	Subscriptions []Subscription
	// Idempotent producers promise no duplicates; without it duplicates are
	// counted but allowed.
	Idempotent bool
	// Commits are the consumer-group offset commits the coordinator
	// acknowledged, in the order the acknowledgements arrived.
	Commits []Commit
}

// Commit is one acknowledged OffsetCommit of one partition: the group's
// position is Offset (the next record it will read).
type Commit struct {
	Group     string
	Partition int32
	Offset    int64
}

// Verdict is the checker's answer; every anomaly is a number.
type Verdict struct {
	Sent         int64 `json:"sent"`
	Acknowledged int64 `json:"acknowledged"`
	SendFailed   int64 `json:"sendFailed"`
	// Unresolved records got neither an acknowledgement nor an error before
	// the run gave up waiting (the producer's bounded flush).
	Unresolved int64 `json:"unresolved"`
	// Consumed counts distinct (subscription, partition, offset) reads.
	Consumed int64 `json:"consumed"`
	// ConsumeChecked is false when nothing consumed (producer-only workload
	// or a blackhole target): then only acknowledgements were checked.
	ConsumeChecked bool `json:"consumeChecked"`

	Lost                int64 `json:"lost"`
	Duplicates          int64 `json:"duplicates"`
	Reordered           int64 `json:"reordered"`
	NonmonotonicAcks    int64 `json:"nonmonotonicAcks"`
	InconsistentOffsets int64 `json:"inconsistentOffsets"`
	Phantoms            int64 `json:"phantoms"`
	// Commits counts acknowledged offset commits; CommitsBackwards those
	// below an earlier commit of the same group and partition.
	Commits          int64 `json:"commits"`
	CommitsBackwards int64 `json:"commitsBackwards"`

	Redelivered     int64 `json:"redelivered"`
	UnackedConsumed int64 `json:"unackedConsumed"`

	// Failures says in words why the run failed; empty means it passed.
	Failures []string `json:"failures,omitempty"`
	// Examples name the first few anomalous records, for whoever debugs.
	Examples []string `json:"examples,omitempty"`
}

// OK reports whether the history kept the promise.
func (v *Verdict) OK() bool { return len(v.Failures) == 0 }

// examplesMax bounds Verdict.Examples: enough to start debugging, not a dump.
const examplesMax = 12

func (v *Verdict) example(format string, args ...any) {
	if len(v.Examples) < examplesMax {
		v.Examples = append(v.Examples, fmt.Sprintf(format, args...))
	}
}

// Check judges a history. It sorts and filters each subscription's Polls in
// place rather than copying them: a long run's log is the largest thing the
// harness holds. Counts from reads are summed over subscriptions.
func Check(h *History) Verdict {
	var v Verdict
	ids := newIDSpace(h.Sent)
	v.Sent = int64(ids.total)

	// Acknowledged records, and the positions the broker gave them.
	acked := newBitset(ids.total)
	var positions []Poll
	for _, a := range h.Acks {
		idx, ok := ids.index(a.Producer, a.Seq)
		if !ok {
			panic(fmt.Sprintf("BUG: ack for producer %d seq %d, which was never sent", a.Producer, a.Seq))
		}
		if a.Err {
			v.SendFailed++
			continue
		}
		v.Acknowledged++
		acked.set(idx)
		if a.Offset >= 0 {
			positions = append(positions, Poll{Partition: a.Partition, Offset: a.Offset, Producer: a.Producer, Seq: a.Seq})
		}
	}
	v.Unresolved = v.Sent - v.Acknowledged - v.SendFailed

	// The broker's acknowledgements alone must already be a consistent log:
	// one record per offset, each producer's records in sequence order.
	positions = sortedLog(positions)
	positions = v.dedupe(positions, "acknowledged")
	v.NonmonotonicAcks = v.countReorders(positions, "acknowledged")

	for i := range h.Subscriptions {
		s := &h.Subscriptions[i]
		v.checkSubscription(s, h.Acks, ids, acked, positions)
	}
	v.ConsumeChecked = len(h.Subscriptions) > 0
	v.checkCommits(h.Commits)

	fail := func(n int64, what string) {
		if n > 0 {
			v.Failures = append(v.Failures, fmt.Sprintf("%d %s", n, what))
		}
	}
	fail(v.Lost, "acknowledged records lost (never read by the final drain)")
	fail(v.Reordered, "records read out of their producer's order")
	fail(v.NonmonotonicAcks, "records acknowledged at offsets out of their producer's order")
	fail(v.InconsistentOffsets, "offsets holding two different records")
	fail(v.Phantoms, "records read that no producer sent")
	fail(v.CommitsBackwards, "committed consumer offsets that went backwards")
	if h.Idempotent {
		fail(v.Duplicates, "duplicate records although the producer is idempotent")
	}
	return v
}

// checkSubscription adds one consumer group's reads to v. positions is the
// deduplicated, sorted log of acknowledged offsets; acks is every outcome.
func (v *Verdict) checkSubscription(s *Subscription, acks []Ack, ids idSpace, acked bitset, positions []Poll) {
	// Reads of something this run never sent are phantoms; drop them first
	// so the rest can index the bitsets.
	reads := s.Polls[:0]
	for _, p := range s.Polls {
		if _, ok := ids.index(p.Producer, p.Seq); !ok {
			v.Phantoms++
			v.example("%s: phantom producer %d seq %d at partition %d offset %d", s.Name, p.Producer, p.Seq, p.Partition, p.Offset)
			continue
		}
		reads = append(reads, p)
	}
	reads = sortedLog(reads)
	reads = v.dedupe(reads, s.Name)
	v.Consumed += int64(len(reads))

	// What was read at an offset must be what the broker acknowledged there.
	for i, j := 0, 0; i < len(reads) && j < len(positions); {
		r, a := reads[i], positions[j]
		switch c := comparePosition(r, a); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			if r.Producer != a.Producer || r.Seq != a.Seq {
				v.InconsistentOffsets++
				v.example("%s: partition %d offset %d acknowledged producer %d seq %d but read producer %d seq %d",
					s.Name, r.Partition, r.Offset, a.Producer, a.Seq, r.Producer, r.Seq)
			}
			i++
			j++
		}
	}

	// Each record must appear at one offset only. Duplicates are dropped
	// (in place) before the order check so one duplicate is not also a
	// reorder.
	consumed := newBitset(ids.total)
	distinct := reads[:0]
	for _, p := range reads {
		idx, _ := ids.index(p.Producer, p.Seq)
		if consumed.has(idx) {
			v.Duplicates++
			v.example("%s: duplicate producer %d seq %d again at partition %d offset %d", s.Name, p.Producer, p.Seq, p.Partition, p.Offset)
			continue
		}
		consumed.set(idx)
		if !acked.has(idx) {
			v.UnackedConsumed++
		}
		distinct = append(distinct, p)
	}
	v.Reordered += v.countReorders(distinct, s.Name)

	// Every acknowledged record of the subscription's partitions was read.
	mine := make(map[int32]bool, len(s.Partitions))
	for _, p := range s.Partitions {
		mine[p] = true
	}
	for _, a := range acks {
		if a.Err || !mine[a.Partition] {
			continue
		}
		if idx, _ := ids.index(a.Producer, a.Seq); !consumed.has(idx) {
			v.Lost++
			v.example("%s: lost producer %d seq %d acknowledged at partition %d offset %d (-1: none given)", s.Name, a.Producer, a.Seq, a.Partition, a.Offset)
		}
	}
}

// checkCommits counts commits below the highest earlier commit of the same
// group and partition: a committed position must never move back, or a
// consumer that restarts from it reads records again (and one that trusted an
// earlier commit has lost its place).
func (v *Verdict) checkCommits(commits []Commit) {
	type key struct {
		group     string
		partition int32
	}
	highest := map[key]int64{}
	for _, c := range commits {
		v.Commits++
		k := key{c.Group, c.Partition}
		if h, seen := highest[k]; seen && c.Offset < h {
			v.CommitsBackwards++
			v.example("group %s: partition %d committed offset %d after %d", c.Group, c.Partition, c.Offset, h)
			continue
		}
		highest[k] = c.Offset
	}
}

// dedupe drops repeated reads of one offset from a sorted log, counting a
// repeat of the same record as redelivered and of a different one as an
// inconsistent offset. The result shares log's backing array.
func (v *Verdict) dedupe(log []Poll, who string) []Poll {
	if len(log) == 0 {
		return log
	}
	out := log[:1]
	for _, p := range log[1:] {
		last := out[len(out)-1]
		if comparePosition(p, last) != 0 {
			out = append(out, p)
			continue
		}
		if p.Producer == last.Producer && p.Seq == last.Seq {
			v.Redelivered++
			continue
		}
		v.InconsistentOffsets++
		v.example("%s: partition %d offset %d holds producer %d seq %d and producer %d seq %d",
			who, p.Partition, p.Offset, last.Producer, last.Seq, p.Producer, p.Seq)
	}
	return out
}

// countReorders walks a sorted log with one record per offset and counts
// records whose sequence is below an earlier offset's record of the same
// producer in the same partition.
func (v *Verdict) countReorders(log []Poll, who string) int64 {
	var n int64
	highest := map[uint32]uint64{} // producer -> highest sequence seen in this partition
	for i, p := range log {
		if i > 0 && p.Partition != log[i-1].Partition {
			clear(highest)
		}
		if h, seen := highest[p.Producer]; seen && p.Seq < h {
			n++
			v.example("%s: partition %d offset %d holds producer %d seq %d after seq %d",
				who, p.Partition, p.Offset, p.Producer, p.Seq, h)
			continue
		}
		highest[p.Producer] = p.Seq
	}
	return n
}

// sortedLog sorts by position, then by record so a repeated offset's reads
// are adjacent and deterministic.
func sortedLog(log []Poll) []Poll {
	slices.SortFunc(log, func(a, b Poll) int {
		if c := comparePosition(a, b); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Producer, b.Producer); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return log
}

func comparePosition(a, b Poll) int {
	if c := cmp.Compare(a.Partition, b.Partition); c != 0 {
		return c
	}
	return cmp.Compare(a.Offset, b.Offset)
}

// idSpace numbers every record sent in a run densely, producer by producer,
// so sets of records are bitsets: one bit a record instead of a map entry.
type idSpace struct {
	base  []uint64 // base[p] is the index of producer p's seq 0
	sent  []uint64
	total uint64
}

func newIDSpace(sent []uint64) idSpace {
	s := idSpace{base: make([]uint64, len(sent)), sent: sent}
	for p, n := range sent {
		s.base[p] = s.total
		s.total += n
	}
	return s
}

// index is the record's bit; ok is false for a record nobody sent.
func (s idSpace) index(producer uint32, seq uint64) (uint64, bool) {
	if int(producer) >= len(s.sent) || seq >= s.sent[producer] {
		return 0, false
	}
	return s.base[producer] + seq, true
}

type bitset []uint64

func newBitset(n uint64) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) set(i uint64)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i uint64) bool { return b[i/64]&(1<<(i%64)) != 0 }
