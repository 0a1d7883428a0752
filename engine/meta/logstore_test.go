package meta

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/hashicorp/raft"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError + 1}))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func testLog(i uint64) *raft.Log {
	return &raft.Log{Index: i, Term: i/3 + 1, Type: raft.LogCommand, Data: []byte{byte(i), 1, 2},
		Extensions: []byte("x"), AppendedAt: time.Unix(1700000000, int64(i))}
}

func TestLogStore(t *testing.T) {
	s, err := OpenLogStore("db", vfs.NewMem(), quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if first, _ := s.FirstIndex(); first != 0 {
		t.Fatalf("empty store: first %d", first)
	}
	if last, _ := s.LastIndex(); last != 0 {
		t.Fatalf("empty store: last %d", last)
	}
	var l raft.Log
	if err := s.GetLog(1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog on empty store: %v", err)
	}
	var logs []*raft.Log
	for i := uint64(1); i <= 300; i++ { // past 255: index bytes must sort big-endian
		logs = append(logs, testLog(i))
	}
	if err := s.StoreLogs(logs[:299]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(logs[299]); err != nil {
		t.Fatal(err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 1 || last != 300 {
		t.Fatalf("first/last %d/%d", first, last)
	}
	for _, want := range []*raft.Log{logs[0], logs[255], logs[299]} {
		if err := s.GetLog(want.Index, &l); err != nil || !reflect.DeepEqual(&l, want) {
			t.Fatalf("GetLog(%d) = %+v, %v; want %+v", want.Index, l, err, want)
		}
	}
	// Compaction from the front, a conflicting suffix from the back.
	if err := s.DeleteRange(1, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(251, 300); err != nil {
		t.Fatal(err)
	}
	first, _ = s.FirstIndex()
	last, _ = s.LastIndex()
	if first != 101 || last != 250 {
		t.Fatalf("after deletes first/last %d/%d", first, last)
	}
	if err := s.GetLog(100, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("deleted entry: %v", err)
	}

	// Stable store.
	if v, err := s.Get([]byte("missing")); err != nil || v != nil {
		t.Fatalf("missing key: %v %v", v, err)
	}
	if v, err := s.GetUint64([]byte("missing")); err != nil || v != 0 {
		t.Fatalf("missing uint64: %v %v", v, err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("node-2")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get([]byte("LastVoteCand")); !bytes.Equal(v, []byte("node-2")) {
		t.Fatalf("Get = %q", v)
	}
	if v, _ := s.GetUint64([]byte("CurrentTerm")); v != 7 {
		t.Fatalf("GetUint64 = %d", v)
	}
	// Stable keys live apart from log keys.
	if last, _ := s.LastIndex(); last != 250 {
		t.Fatalf("stable keys moved LastIndex to %d", last)
	}
}

// TestLogStoreCrash: what StoreLogs and Set returned for survives a crash that drops every
// unsynced write (pebble's strict in-memory FS), as Raft's safety requires.
func TestLogStoreCrash(t *testing.T) {
	fs := vfs.NewStrictMem()
	s, err := OpenLogStore("meta/raft-log", fs, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 50; i++ {
		if err := s.StoreLog(testLog(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 5); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(41, 50); err != nil {
		t.Fatal(err)
	}
	fs.SetIgnoreSyncs(true) // the crash: nothing after this reaches "disk"
	s.Close()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)

	s, err = OpenLogStore("meta/raft-log", fs, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 1 || last != 40 {
		t.Fatalf("after crash first/last %d/%d, want 1/40", first, last)
	}
	var l raft.Log
	if err := s.GetLog(40, &l); err != nil || !reflect.DeepEqual(&l, testLog(40)) {
		t.Fatalf("entry 40 after crash: %+v %v", l, err)
	}
	if v, _ := s.GetUint64([]byte("CurrentTerm")); v != 5 {
		t.Fatalf("term after crash %d", v)
	}
}
