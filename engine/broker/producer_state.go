package broker

import (
	"math"

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
	st.newest = (st.newest + 1) % producerBatchesKept
	if st.n == 0 {
		st.newest = 0
	}
	st.batches[st.newest] = seqRange{first: b.BaseSequence(), last: lastSeq(b.BaseSequence(), b.RecordCount()), baseOffset: baseOffset}
	if st.n < producerBatchesKept {
		st.n++
	}
}
