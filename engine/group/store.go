package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// Applier applies records to a replica's state: the one door through which the coordinator's
// durable state changes. Today the coordinator's journal calls it directly; in a cluster every
// replica of the group's internal partition calls it with each record as it replicates, so a new
// coordinator's store already holds the offsets when it takes over. Apply is atomic: all of recs
// or none.
type Applier interface {
	Apply(recs []Record) error
}

// Store is the coordinator's state in pebble: committed offsets and group metadata, keyed as
// record.go describes. Apply is its only write path; reads are point gets and prefix iterations
// that any goroutine may run concurrently with Apply.
type Store struct {
	db    *pebble.DB
	fsync atomic.Bool
}

var _ Applier = (*Store)(nil)

// OpenStore opens (or creates) the store in dir. fsync makes every Apply wait for an fsync.
func OpenStore(dir string, fs vfs.FS, fsync bool, logger *slog.Logger) (*Store, error) {
	if fs == nil {
		fs = vfs.Default
	}
	if logger == nil {
		logger = slog.Default()
	}
	// Create the directory and make its entry durable before pebble syncs files inside it, so
	// that a crash cannot lose the store as a whole (pebble syncs only the directory it is given).
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("group store %s: %w", dir, err)
	}
	if err := syncDir(fs, fs.PathDir(dir)); err != nil {
		return nil, fmt.Errorf("group store %s: %w", dir, err)
	}
	db, err := openPebble(dir, &pebble.Options{
		FS:     fs,
		Logger: pebbleLogger{logger},
		// Small values and few of them: the defaults' 4 MiB memtables and 8 MiB block cache are
		// plenty for tens of thousands of groups' offsets.
	})
	if err != nil {
		return nil, fmt.Errorf("group store %s: %w", dir, err)
	}
	s := &Store{db: db}
	s.fsync.Store(fsync)
	return s, nil
}

// SetFsync changes whether Apply waits for an fsync; it applies from the next Apply.
func (s *Store) SetFsync(on bool) { s.fsync.Store(on) }

// Close closes pebble. Nothing may use the store afterwards.
func (s *Store) Close() error { return s.db.Close() }

// Apply implements Applier: one pebble batch, synced if the store was opened with fsync.
func (s *Store) Apply(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	return s.apply(recs, nil)
}

// ApplyReplicated applies records of internal partition partition and records that everything
// below next is applied, in one pebble batch: a crash leaves the store and its applied offset
// consistent, so applying resumes exactly where it stopped.
func (s *Store) ApplyReplicated(partition int32, recs []Record, next int64) error {
	return s.apply(recs, func(b *pebble.Batch) error {
		return b.Set(appliedKey(partition), binary.BigEndian.AppendUint64(nil, uint64(next)), nil)
	})
}

// AppliedOffset is the offset of internal partition partition below which every record is in the
// store (0 when none is).
func (s *Store) AppliedOffset(partition int32) (int64, error) {
	raw, closer, err := s.db.Get(appliedKey(partition))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("group store: applied offset of partition %d: %w", partition, err)
	}
	defer closer.Close()
	if len(raw) != 8 {
		return 0, fmt.Errorf("%w: applied offset of partition %d: % x", ErrCorrupt, partition, raw)
	}
	return int64(binary.BigEndian.Uint64(raw)), nil
}

func (s *Store) apply(recs []Record, extra func(*pebble.Batch) error) error {
	b := s.db.NewBatch()
	defer b.Close()
	if extra != nil {
		if err := extra(b); err != nil {
			return fmt.Errorf("group store: batch: %w", err)
		}
	}
	for _, r := range recs {
		if err := r.validate(); err != nil {
			panic(fmt.Sprintf("BUG: group: applying an invalid record: %v", err))
		}
		var err error
		switch r.Type {
		case RecordSet:
			err = b.Set(r.Key, r.Value, nil)
		case RecordDelete:
			err = b.Delete(r.Key, nil)
		case RecordDeleteRange:
			err = b.DeleteRange(r.Key, r.Value, nil)
		}
		if err != nil {
			return fmt.Errorf("group store: batch: %w", err)
		}
	}
	opts := pebble.NoSync
	if s.fsync.Load() {
		opts = pebble.Sync
	}
	if err := b.Commit(opts); err != nil {
		return fmt.Errorf("group store: commit %d records: %w", len(recs), err)
	}
	return nil
}

// Offset returns a group's committed offset for a partition; ok is false if there is none.
func (s *Store) Offset(group, topic string, partition int32) (v OffsetValue, ok bool, err error) {
	raw, closer, err := s.db.Get(OffsetKey(group, topic, partition))
	if errors.Is(err, pebble.ErrNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("group store: offset %s %s/%d: %w", group, topic, partition, err)
	}
	defer closer.Close()
	v, err = DecodeOffsetValue(raw)
	if err != nil {
		return v, false, fmt.Errorf("offset %s %s/%d: %w", group, topic, partition, err)
	}
	return v, true, nil
}

// Offsets calls fn with every committed offset of group, by topic, then partition, until fn
// returns false: one range read.
func (s *Store) Offsets(group string, fn func(topic string, partition int32, v OffsetValue) bool) error {
	p := offsetGroupPrefix(group)
	return s.scan(p, prefixEnd(p), func(k, val []byte) (bool, error) {
		_, topic, partition, err := decodeOffsetKey(k)
		if err != nil {
			return false, err
		}
		v, err := DecodeOffsetValue(val)
		if err != nil {
			return false, fmt.Errorf("offset %s %s/%d: %w", group, topic, partition, err)
		}
		return fn(topic, partition, v), nil
	})
}

// HasOffsets reports whether group has any committed offset.
func (s *Store) HasOffsets(group string) (bool, error) {
	found := false
	err := s.Offsets(group, func(string, int32, OffsetValue) bool { found = true; return false })
	return found, err
}

// OffsetGroups calls fn with the name of every group that has committed offsets, in key order,
// seeking past each group's offsets rather than reading them.
func (s *Store) OffsetGroups(fn func(group string) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyPrefixOffset}, UpperBound: []byte{keyPrefixOffset + 1}})
	if err != nil {
		return fmt.Errorf("group store: iterator: %w", err)
	}
	defer it.Close()
	for valid := it.First(); valid; {
		group, _, _, err := decodeOffsetKey(it.Key())
		if err != nil {
			return err
		}
		if err := fn(group); err != nil {
			return err
		}
		valid = it.SeekGE(prefixEnd(offsetGroupPrefix(group)))
	}
	return it.Error()
}

// Groups calls fn with every stored group's metadata.
func (s *Store) Groups(fn func(group string, v GroupValue) error) error {
	return s.scan([]byte{keyPrefixGroup}, []byte{keyPrefixGroup + 1}, func(k, val []byte) (bool, error) {
		name, err := decodeGroupKey(k)
		if err != nil {
			return false, err
		}
		v, err := DecodeGroupValue(val)
		if err != nil {
			return false, fmt.Errorf("group %q: %w", name, err)
		}
		return true, fn(name, v)
	})
}

// scan iterates [lo, hi). fn's slices are valid only during the call.
func (s *Store) scan(lo, hi []byte, fn func(k, v []byte) (bool, error)) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("group store: iterator: %w", err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		more, err := fn(it.Key(), it.Value())
		if err != nil {
			it.Close()
			return err
		}
		if !more {
			break
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return fmt.Errorf("group store: iterate: %w", err)
	}
	return it.Close()
}

// pebbleLogger sends pebble's log lines to slog: informational ones at debug level.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf panics with a pebbleFatal: pebble cannot go on (it calls Fatalf where it would otherwise
// have to unwind half-applied state). openPebble turns one raised while opening into an error.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	f := pebbleFatal{msg: "pebble: " + fmt.Sprintf(format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			f.cause = err
		}
	}
	p.l.Error("pebble: fatal: " + f.msg[len("pebble: "):])
	panic(f)
}

// pebbleFatal is what pebbleLogger.Fatalf panics with: pebble's message and, when pebble passed
// one, the error behind it (so that errors.Is finds ENOSPC on a full disk).
type pebbleFatal struct {
	msg   string
	cause error
}

func (f pebbleFatal) Error() string { return f.msg }
func (f pebbleFatal) Unwrap() error { return f.cause }

// openPebble is pebble.Open, returning as an error a fatal one pebble raises while opening — its
// MANIFEST cannot be written on a full disk, for one — instead of crashing the process with a
// panic: the broker then says why it cannot start and exits, as Kafka shuts down when its log
// directory fails. Pebble has closed what it opened before its panic reaches here.
func openPebble(dir string, opts *pebble.Options) (db *pebble.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(pebbleFatal)
			if !ok {
				panic(r)
			}
			db, err = nil, f
		}
	}()
	return pebble.Open(dir, opts)
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
