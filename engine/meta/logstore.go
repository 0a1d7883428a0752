package meta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/hashicorp/raft"
)

// LogStore is the Raft log and stable store (term, vote) in one pebble database. Keys:
//
//	'l' + index:u64be  → log entry: version:u8 (=1) term:uvarint type:u8 data extensions appendedAtNs:varint
//	's' + key          → stable value (raft's CurrentTerm, LastVoteTerm, LastVoteCand)
//
// Every write is one synced pebble batch: Raft acknowledges an entry or a vote only once it is on
// disk, and a metadata log sees a few writes a second, so there is no throughput to win by
// relaxing that. Safe for concurrent use (pebble is).
type LogStore struct {
	db *pebble.DB
}

var (
	_ raft.LogStore    = (*LogStore)(nil)
	_ raft.StableStore = (*LogStore)(nil)
)

const logEntryVersion = 1

var (
	logKeyLower = []byte{'l'}
	logKeyUpper = []byte{'m'} // 'l'+1: every log key sorts below it
)

// OpenLogStore opens (or creates) the store in dir on fs (nil: the real disk).
func OpenLogStore(dir string, fs vfs.FS, logger *slog.Logger) (*LogStore, error) {
	if fs == nil {
		fs = vfs.Default
	}
	if logger == nil {
		logger = slog.Default()
	}
	if err := mkdirSynced(fs, dir); err != nil {
		return nil, fmt.Errorf("meta log store %s: %w", dir, err)
	}
	db, err := pebble.Open(dir, &pebble.Options{
		FS:     fs,
		Logger: pebbleLogger{logger},
		// A metadata log is small: entries of a few hundred bytes, compacted behind snapshots.
		// Pebble's defaults (4 MiB memtable, 8 MiB cache) are far more than it needs.
	})
	if err != nil {
		return nil, fmt.Errorf("meta log store %s: %w", dir, err)
	}
	return &LogStore{db: db}, nil
}

// mkdirSynced creates dir and any missing parents, syncing the parent of each directory it
// creates, so the directories themselves survive a crash (pebble syncs what it creates inside dir,
// not dir's own entry in its parent).
func mkdirSynced(fs vfs.FS, dir string) error {
	if _, err := fs.Stat(dir); err == nil {
		return nil
	}
	parent := fs.PathDir(dir)
	if parent != dir {
		if err := mkdirSynced(fs, parent); err != nil {
			return err
		}
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d, err := fs.OpenDir(parent)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// Close closes the database; nothing may use the store afterwards.
func (s *LogStore) Close() error { return s.db.Close() }

func logKey(index uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{'l'}, index)
}

func (s *LogStore) edgeIndex(last bool) (uint64, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: logKeyLower, UpperBound: logKeyUpper})
	if err != nil {
		return 0, err
	}
	var ok bool
	if last {
		ok = it.Last()
	} else {
		ok = it.First()
	}
	var idx uint64
	if ok {
		idx = binary.BigEndian.Uint64(it.Key()[1:])
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	return idx, nil
}

// FirstIndex implements raft.LogStore: the first index stored, 0 if none.
func (s *LogStore) FirstIndex() (uint64, error) { return s.edgeIndex(false) }

// LastIndex implements raft.LogStore: the last index stored, 0 if none.
func (s *LogStore) LastIndex() (uint64, error) { return s.edgeIndex(true) }

// GetLog implements raft.LogStore.
func (s *LogStore) GetLog(index uint64, out *raft.Log) error {
	v, closer, err := s.db.Get(logKey(index))
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	d := &decoder{b: v}
	if ver := d.u8(); d.err == nil && ver != logEntryVersion {
		return fmt.Errorf("%w: raft log entry %d has version %d", ErrCorrupt, index, ver)
	}
	*out = raft.Log{Index: index, Term: d.uvarint(), Type: raft.LogType(d.u8())}
	out.Data = d.bytes()
	out.Extensions = d.bytes()
	if ns := d.i64(); ns != 0 {
		out.AppendedAt = time.Unix(0, ns)
	}
	if err := d.finish(); err != nil {
		return fmt.Errorf("raft log entry %d: %w", index, err)
	}
	return nil
}

// StoreLog implements raft.LogStore.
func (s *LogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs implements raft.LogStore: all entries in one synced batch.
func (s *LogStore) StoreLogs(logs []*raft.Log) error {
	b := s.db.NewBatch()
	defer b.Close()
	var buf []byte
	for _, l := range logs {
		e := encoder(buf[:0])
		e.u8(logEntryVersion)
		e.uvarint(l.Term)
		e.u8(uint8(l.Type))
		e.bytes(l.Data)
		e.bytes(l.Extensions)
		var ns int64
		if !l.AppendedAt.IsZero() {
			ns = l.AppendedAt.UnixNano()
		}
		e.i64(ns)
		buf = e
		if err := b.Set(logKey(l.Index), buf, nil); err != nil { // Set copies buf
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// DeleteRange implements raft.LogStore: deletes entries min..max inclusive.
func (s *LogStore) DeleteRange(min, max uint64) error {
	if min > max {
		return nil
	}
	end := logKeyUpper
	if max < math.MaxUint64 {
		end = logKey(max + 1)
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(logKey(min), end, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

func stableKey(k []byte) []byte { return append([]byte{'s'}, k...) }

// Set implements raft.StableStore.
func (s *LogStore) Set(key, val []byte) error {
	return s.db.Set(stableKey(key), val, pebble.Sync)
}

// Get implements raft.StableStore: nil and no error for a missing key.
func (s *LogStore) Get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(stableKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// SetUint64 implements raft.StableStore.
func (s *LogStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 implements raft.StableStore: 0 for a missing key.
func (s *LogStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: stable key %q holds %d bytes", ErrCorrupt, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// pebbleLogger sends pebble's log lines to slog: informational ones at debug level.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("meta: pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("meta: pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("meta: pebble: fatal: " + msg)
	panic("meta: pebble: " + msg)
}
