package group

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// errJournalClosed answers appends that arrive after Close.
var errJournalClosed = errors.New("group: coordinator closed")

// journal is where the coordinator appends its durable changes. It applies them on one writer
// goroutine, in append order, in batches: every append queued while a batch is being written
// goes into the next, so under load one pebble commit (and, with Fsync, one fsync) covers many
// requests. Today it applies to the local store; in a cluster, appending becomes producing to the
// group's internal partition, and done runs once the records are replicated.
//
// append never blocks and never calls done before returning, so callers may append while holding
// a group's lock (which keeps one group's records in order) and done may take that lock.
type journal struct {
	apply Applier

	mu      sync.Mutex
	cond    sync.Cond
	queue   []journalEntry
	spare   []journalEntry
	closed  bool
	writing bool
	exited  chan struct{}

	batches, records atomic.Int64
	applyNsSum       atomic.Int64
}

type journalEntry struct {
	recs []Record
	done func(error) // may be nil
}

func newJournal(apply Applier) *journal {
	j := &journal{apply: apply, exited: make(chan struct{})}
	j.cond.L = &j.mu
	go j.run()
	return j
}

// append queues recs; done is called with the outcome on the writer goroutine, after recs are
// applied (or failed), and after every earlier append's done.
func (j *journal) append(recs []Record, done func(error)) {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		if done != nil {
			go done(errJournalClosed)
		}
		return
	}
	j.queue = append(j.queue, journalEntry{recs, done})
	j.mu.Unlock()
	j.cond.Broadcast()
}

func (j *journal) run() {
	defer close(j.exited)
	var recs []Record
	for {
		j.mu.Lock()
		for len(j.queue) == 0 && !j.closed {
			j.writing = false
			j.cond.Broadcast() // waitIdle
			j.cond.Wait()
		}
		if len(j.queue) == 0 { // closed and drained
			j.writing = false
			j.mu.Unlock()
			j.cond.Broadcast()
			return
		}
		batch := j.queue
		j.queue, j.spare = j.spare[:0], nil
		j.writing = true
		j.mu.Unlock()

		recs = recs[:0]
		for _, e := range batch {
			recs = append(recs, e.recs...)
		}
		start := time.Now()
		err := j.apply.Apply(recs)
		j.applyNsSum.Add(int64(time.Since(start)))
		j.batches.Add(1)
		j.records.Add(int64(len(recs)))
		for i, e := range batch {
			if e.done != nil {
				e.done(err)
			}
			batch[i] = journalEntry{}
		}
		clear(recs)
		j.mu.Lock()
		j.spare = batch[:0]
		j.mu.Unlock()
	}
}

// waitIdle returns once everything appended so far is applied and its done has returned.
func (j *journal) waitIdle() {
	j.mu.Lock()
	for len(j.queue) > 0 || j.writing {
		j.cond.Wait()
	}
	j.mu.Unlock()
}

// close applies what is queued, then stops the writer; later appends fail with errJournalClosed.
func (j *journal) close() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.cond.Broadcast()
	<-j.exited
}
