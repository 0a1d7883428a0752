package group

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// With Fsync, an answered commit survives a crash of the machine (the in-memory filesystem drops
// everything not synced); without it, a commit is answered from pebble's WAL in the page cache,
// which such a crash loses — the documented price of the default.
func TestCommitDurabilityAcrossCrash(t *testing.T) {
	for _, fsync := range []bool{true, false} {
		mem := vfs.NewStrictMem()
		topics := &fakeTopics{n: map[string]int32{"t": 1}, hwm: map[string]int64{}}
		open := func() *Coordinator {
			cfg := DefaultConfig()
			cfg.Fsync = fsync
			c, err := Open("groups", Options{Config: cfg, Topics: topics, FS: mem, Clock: newFakeClock(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		c := open()
		commitOne(t, c, "g", 42)
		mem.SetIgnoreSyncs(true) // the machine dies: nothing from here on reaches the disk
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		mem.ResetToSyncedState()
		mem.SetIgnoreSyncs(false)
		c = open()
		v, ok, err := c.store.Offset("g", "t", 0)
		if err != nil {
			t.Fatal(err)
		}
		if fsync && (!ok || v.Offset != 42) {
			t.Errorf("fsync: committed offset after a crash: %+v (found %v), want 42", v, ok)
		}
		if !fsync && ok {
			t.Logf("no fsync: the commit survived the crash anyway (%+v)", v)
		}
		c.Close()
	}
}

func commitOne(t *testing.T, c *Coordinator, group string, offset int64) {
	t.Helper()
	if code := commitCode(c, group, offset); code != 0 {
		t.Fatalf("commit: error %d", code)
	}
}

// commitCode commits offset for partition 0 of topic t as an admin tool would (generation -1)
// and returns the partition's error code.
func commitCode(c *Coordinator, group string, offset int64) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group = 8, group
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	done := make(chan int16, 1)
	c.OffsetCommit(req, func(resp *kmsg.OffsetCommitResponse) { done <- resp.Topics[0].Partitions[0].ErrorCode })
	return <-done
}

// TestOpenStoreOnFullDisk: a store whose MANIFEST cannot be written when it opens (a full disk:
// pebble rotates its MANIFEST on open and treats a failed write as fatal) is an error that
// carries ENOSPC, not a panic that kills the broker as it starts.
func TestOpenStoreOnFullDisk(t *testing.T) {
	mem := vfs.NewMem()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := OpenStore("groups", mem, false, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	full := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op, path string) error {
		if (op == errorfs.OpFileWrite || op == errorfs.OpFileWriteAt) && strings.Contains(path, "MANIFEST") {
			return syscall.ENOSPC
		}
		return nil
	}))
	s, err = OpenStore("groups", full, false, logger)
	if err == nil {
		s.Close()
		t.Fatal("opened with every MANIFEST write failing")
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %q does not carry ENOSPC", err)
	}
	// The same store opens once space is back.
	s, err = OpenStore("groups", mem, false, logger)
	if err != nil {
		t.Fatalf("reopening after the disk has room: %v", err)
	}
	s.Close()
}
