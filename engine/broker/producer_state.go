package broker

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"

	"github.com/sluicemq/sluice/engine/record"
)

// producerState is the idempotence state of one producer id on one partition: its epoch and the
// sequence ranges of its last 5 batches (Kafka's max.in.flight bound for idempotence), so a
// retried batch is answered with its original offset instead of being stored twice.
type producerState struct {
	epoch   int16
	batches [producerBatchesKept]seqRange
	n       int // valid entries
	newest  int // index of the newest entry
}

const producerBatchesKept = 5

type seqRange struct {
	first, last int32
	baseOffset  int64
}

// lastSeq computes the batch's last sequence; sequences wrap from MaxInt32 to 0.
func lastSeq(first int32, count int32) int32 {
	return int32((int64(first) + int64(count) - 1) % (math.MaxInt32 + 1))
}

func nextSeq(s int32) int32 {
	if s == math.MaxInt32 {
		return 0
	}
	return s + 1
}

// check decides what to do with a batch from this producer: dupOffset ≥ 0 means it is a retry of
// a stored batch (answer with that offset, store nothing); code ≠ 0 rejects it.
func (st *producerState) check(b record.Batch) (dupOffset int64, code int16) {
	epoch, first := b.ProducerEpoch(), b.BaseSequence()
	last := lastSeq(first, b.RecordCount())
	switch {
	case epoch < st.epoch:
		return -1, errInvalidProducerEpoch
	case epoch > st.epoch:
		if first != 0 {
			return -1, errOutOfOrderSequence
		}
		return -1, errNone
	}
	for i := 0; i < st.n; i++ {
		if e := st.batches[i]; e.first == first && e.last == last {
			return e.baseOffset, errNone
		}
	}
	if st.n > 0 && first != nextSeq(st.batches[st.newest].last) {
		return -1, errOutOfOrderSequence
	}
	return -1, errNone
}

// record notes a stored batch.
func (st *producerState) record(b record.Batch, baseOffset int64) {
	if b.ProducerEpoch() != st.epoch {
		st.epoch, st.n = b.ProducerEpoch(), 0
	}
	st.push(seqRange{first: b.BaseSequence(), last: lastSeq(b.BaseSequence(), b.RecordCount()), baseOffset: baseOffset})
}

// push adds the newest batch, forgetting the oldest beyond producerBatchesKept.
func (st *producerState) push(r seqRange) {
	st.newest = (st.newest + 1) % producerBatchesKept
	if st.n == 0 {
		st.newest = 0
	}
	st.batches[st.newest] = r
	if st.n < producerBatchesKept {
		st.n++
	}
}

// producerSnapshotFile holds a partition's idempotent producer state as of an offset, written at
// clean close. Open loads it and replays the batches stored after that offset, so the state
// survives restarts, clean or not (an unclean one replays more). Without a usable snapshot the
// whole log is replayed.
const producerSnapshotFile = "producer-state.json"

type producerSnapshot struct {
	Offset    int64                   `json:"offset"`
	Producers []producerSnapshotEntry `json:"producers"`
}

type producerSnapshotEntry struct {
	ID      int64      `json:"id"`
	Epoch   int16      `json:"epoch"`
	Batches [][3]int64 `json:"batches"` // first sequence, last sequence, base offset; oldest first
}

// saveProducerState writes the snapshot. Caller holds p.mu or owns the partition exclusively.
func (p *partition) saveProducerState() error {
	snap := producerSnapshot{Offset: p.log.LogEndOffset()}
	for id, st := range p.producers {
		e := producerSnapshotEntry{ID: id, Epoch: st.epoch}
		for k := st.n - 1; k >= 0; k-- {
			b := st.batches[(st.newest-k+producerBatchesKept)%producerBatchesKept]
			e.Batches = append(e.Batches, [3]int64{int64(b.first), int64(b.last), b.baseOffset})
		}
		snap.Producers = append(snap.Producers, e)
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(p.log.Dir(), producerSnapshotFile), raw)
}

// loadProducerState rebuilds p.producers from the snapshot and the log after it.
func (p *partition) loadProducerState() error {
	from := p.log.LogStartOffset()
	raw, err := os.ReadFile(filepath.Join(p.log.Dir(), producerSnapshotFile))
	var snap producerSnapshot
	if err == nil && json.Unmarshal(raw, &snap) == nil && snap.Offset <= p.log.LogEndOffset() && snap.Offset >= from {
		for _, e := range snap.Producers {
			st := &producerState{epoch: e.Epoch}
			for _, b := range e.Batches {
				st.push(seqRange{first: int32(b[0]), last: int32(b[1]), baseOffset: b[2]})
			}
			p.producers[e.ID] = st
		}
		from = snap.Offset
	}
	return p.log.ForEachBatch(from, func(b record.Batch) error {
		if pid := b.ProducerID(); pid >= 0 {
			st := p.producers[pid]
			if st == nil {
				st = &producerState{epoch: b.ProducerEpoch()}
				p.producers[pid] = st
			}
			st.record(b, b.BaseOffset())
		}
		return nil
	})
}
