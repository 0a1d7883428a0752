package meta

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// fsm is the Raft state machine: the image. Apply, Snapshot and Restore run on raft's FSM
// goroutine, one at a time; Image readers on any goroutine load the published pointer.
type fsm struct {
	image  atomic.Pointer[Image]
	logger *slog.Logger

	mu   sync.Mutex // guards subs and closed; publishers and (un)subscribers
	subs map[*watcher]struct{}
	done bool
}

type watcher struct{ ch chan *Image }

var _ raft.FSM = (*fsm)(nil)

func newFSM(logger *slog.Logger) *fsm {
	f := &fsm{logger: logger, subs: map[*watcher]struct{}{}}
	f.image.Store(Empty)
	return f
}

// Apply applies one committed entry, a record batch. A rejected batch leaves the image as it was
// and returns the error to the proposer; every node rejects it the same way, since ApplyBatch is
// deterministic. An entry that does not decode is fatal: a node that skipped it would diverge
// from one that understood it (a newer version), so it stops rather than guess.
func (f *fsm) Apply(l *raft.Log) any {
	recs, err := DecodeBatch(l.Data)
	if err != nil {
		panic(fmt.Sprintf("meta: fatal: committed entry %d does not decode: %v", l.Index, err))
	}
	next, err := applyBatch(f.image.Load(), recs, l.Index)
	if err != nil {
		f.logger.Debug("meta: rejected", "index", l.Index, "err", err)
		return err
	}
	f.publish(next)
	return nil
}

// Snapshot captures the current image. Images are immutable, so this is a pointer copy, and
// Persist may encode it while Apply goes on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return imageSnapshot{f.image.Load()}, nil
}

// Restore replaces the image with a snapshot's (at start-up, or installed by the leader). A
// snapshot that fails its CRC or an invariant is refused.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("meta: reading snapshot: %w", err)
	}
	img, err := DecodeImage(raw)
	if err != nil {
		return fmt.Errorf("meta: restoring snapshot: %w", err)
	}
	f.publish(img)
	return nil
}

// publish makes img the current image and hands it to every watcher, replacing one it has not
// read yet: a watcher always ends up with the newest image and the FSM never waits for it.
// Runs on the FSM goroutine, the only sender, so the send after a drain cannot block.
func (f *fsm) publish(img *Image) {
	f.image.Store(img)
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.subs {
		select {
		case w.ch <- img:
		default:
			select {
			case <-w.ch:
			default:
			}
			w.ch <- img
		}
	}
}

func (f *fsm) watch() (<-chan *Image, func()) {
	w := &watcher{ch: make(chan *Image, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		close(w.ch)
		return w.ch, func() {}
	}
	w.ch <- f.image.Load()
	f.subs[w] = struct{}{}
	return w.ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[w]; ok {
			delete(f.subs, w)
			close(w.ch)
		}
	}
}

// closeWatchers closes every watcher's channel; called once raft has stopped.
func (f *fsm) closeWatchers() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = true
	for w := range f.subs {
		delete(f.subs, w)
		close(w.ch)
	}
}

type imageSnapshot struct{ img *Image }

func (s imageSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(EncodeImage(s.img)); err != nil {
		sink.Cancel()
		return fmt.Errorf("meta: writing snapshot: %w", err)
	}
	return sink.Close()
}

func (imageSnapshot) Release() {}
