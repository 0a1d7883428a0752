package log

import (
	"context"
	"errors"
	"sync"
	"time"
)

// flusher implements Kafka's flush.messages / flush.ms with group commit: one goroutine per log
// (only while a forced-flush policy is set) fsyncs everything appended so far; appends that
// arrive while an fsync runs are covered by the next one, so N concurrent durable producers cost
// far fewer than N fsyncs. The recovery point (every offset below it is on disk) is what the next
// unclean open trusts without rescanning.
type flusher struct {
	recoveryPoint atomicInt64
	rounds        atomicInt64 // fsync rounds that advanced the recovery point (metrics)

	unflushedRecords int64 // writer-only (l.mu)

	mu      sync.Mutex
	waitCh  chan struct{} // closed and replaced after every fsync round
	kick    chan struct{}
	stopCh  chan struct{}
	done    chan struct{}
	running bool
	lastCkp time.Time
}

// checkpointEveryFlush bounds checkpoint-file writes from the flusher (each costs an fsync).
const checkpointInterval = time.Second

func (f *flusher) start(l *Log) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waitCh == nil {
		f.waitCh = make(chan struct{})
		f.kick = make(chan struct{}, 1)
	}
	if f.running || !l.cfg.Load().flushForced() {
		return
	}
	f.running = true
	f.stopCh = make(chan struct{})
	f.done = make(chan struct{})
	go f.run(l, f.stopCh, f.done)
}

func (f *flusher) reconfigure(l *Log) { f.start(l) }

func (f *flusher) stop() {
	f.mu.Lock()
	if !f.running {
		f.mu.Unlock()
		return
	}
	f.running = false
	close(f.stopCh)
	done := f.done
	f.mu.Unlock()
	<-done
}

func (f *flusher) run(l *Log, stop, done chan struct{}) {
	defer close(done)
	for {
		wait := time.Hour
		if ms := l.cfg.Load().FlushMs; ms != NoForcedFlush {
			wait = time.Duration(ms) * time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return
		case <-f.kick:
			t.Stop()
		case <-t.C:
		}
		l.Flush() // errors leave the recovery point where it was; waiters keep waiting
	}
}

// noteAppend counts records toward flush.messages and kicks the flusher when reached.
// Caller holds l.mu.
func (f *flusher) noteAppend(records int64, cfg *Config) bool {
	if cfg.FlushMessages == NoForcedFlush {
		return false
	}
	f.unflushedRecords += records
	if f.unflushedRecords < cfg.FlushMessages {
		return false
	}
	f.unflushedRecords = 0
	select {
	case f.kick <- struct{}{}:
	default: // a flush is already pending; it will cover this append
	}
	return true
}

func (f *flusher) advanceRecoveryPoint(o int64) {
	for {
		cur := f.recoveryPoint.Load()
		if o <= cur || f.recoveryPoint.CompareAndSwap(cur, o) {
			break
		}
	}
	f.mu.Lock()
	close(f.waitCh)
	f.waitCh = make(chan struct{})
	f.mu.Unlock()
}

func (f *flusher) clampRecoveryPoint(o int64) {
	for {
		cur := f.recoveryPoint.Load()
		if o >= cur || f.recoveryPoint.CompareAndSwap(cur, o) {
			return
		}
	}
}

func (f *flusher) waitChan() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waitCh
}

// RecoveryPoint is the offset below which every batch is known to be on disk.
func (l *Log) RecoveryPoint() int64 { return l.flush.recoveryPoint.Load() }

// FlushRounds counts the fsync rounds so far: with group commit, fewer than the durable appends.
func (l *Log) FlushRounds() int64 { return l.flush.rounds.Load() }

// Flush fsyncs every batch appended so far and moves the recovery point to the log end offset.
// Safe to call from any goroutine; concurrent calls share work (group commit).
func (l *Log) Flush() error {
	if err := l.offline(); err != nil {
		return err
	}
	l.mu.Lock()
	err := l.syncUnflushedLocked()
	l.mu.Unlock()
	return err
}

// syncUnflushedLocked fsyncs segments holding data above the recovery point. Caller holds l.mu;
// the fsync itself runs with the lock released so appends continue (they will be covered by the
// next round), and re-takes it before returning.
func (l *Log) syncUnflushedLocked() error {
	if err := l.WaitWritten(); err != nil {
		return err
	}
	target := l.logEndOffset.Load()
	rp := l.flush.recoveryPoint.Load()
	if target <= rp {
		return nil
	}
	segs := *l.segments.Load()
	var held []*segment
	for _, s := range segs {
		if s.next.Load() > rp && s.acquire() {
			held = append(held, s)
		}
	}
	l.mu.Unlock()
	var err error
	for _, s := range held {
		err = errors.Join(err, s.syncData())
		s.release()
	}
	if err == nil {
		l.flush.rounds.Add(1)
		l.flush.advanceRecoveryPoint(target)
		l.maybeCheckpoint()
	} else {
		l.failSync(err)
		err = l.offline()
	}
	l.mu.Lock()
	return err
}

func (l *Log) maybeCheckpoint() {
	l.flush.mu.Lock()
	due := time.Since(l.flush.lastCkp) >= checkpointInterval
	if due {
		l.flush.lastCkp = time.Now()
	}
	l.flush.mu.Unlock()
	if due {
		l.writeCheckpoint()
	}
}

// WaitDurable blocks until every offset below offset is on disk (an acks≥1 producer whose append
// returned FlushTriggered). Without a flusher running it flushes itself.
func (l *Log) WaitDurable(ctx context.Context, offset int64) error {
	for {
		if err := l.offline(); err != nil {
			return err
		}
		ch := l.flush.waitChan()
		if l.flush.recoveryPoint.Load() >= offset {
			return nil
		}
		l.flush.mu.Lock()
		running := l.flush.running
		l.flush.mu.Unlock()
		if !running {
			if err := l.Flush(); err != nil {
				return err
			}
			continue
		}
		select {
		case l.flush.kick <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
