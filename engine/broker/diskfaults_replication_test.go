package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/engine/replica"
	"github.com/sluicemq/sluice/internal/diskfault"
)

// Corruption on one replica of a cluster (RELIABILITY.md, Jepsen on NATS: "never let a replica
// with a corrupt suffix lead").

// batchPositions lists the file position and base offset of every batch in a segment file.
func batchPositions(t *testing.T, path string) (pos []int64, base []int64, size int64) {
	t.Helper()
	p, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < int64(len(p)); {
		if rest := p[off:]; len(rest) < 4096 && !slices.ContainsFunc(rest, func(c byte) bool { return c != 0 }) {
			// Write-behind's zero padding up to the next 4 KiB block at the end of the active
			// segment's file (engine/log/writebehind.go): the data ends here.
			return pos, base, off
		}
		b, _, err := record.Next(p[off:])
		if err != nil {
			t.Fatalf("%s at %d: %v", path, off, err)
		}
		pos, base = append(pos, off), append(base, b.BaseOffset())
		off += int64(len(b))
	}
	return pos, base, int64(len(p))
}

// activeSegment is the newest .log file of topic-0 under dir.
func activeSegment(t *testing.T, dir, topic string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, topic+"-0", "*.log"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no segment of %s-0 in %s: %v", topic, dir, err)
	}
	slices.Sort(m)
	return m[len(m)-1]
}

// asIfCrashed removes topic-0's clean-shutdown marker: the next open recovers the log as after a
// kill -9 (the stop itself was clean, so nothing else differs).
func asIfCrashed(t *testing.T, dir, topic string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, topic+"-0", ".clean-shutdown")); err != nil {
		t.Fatal(err)
	}
}

// flipInBatch flips one byte in the middle of the k-th batch of a segment file (inside the
// records, which the CRC covers) and returns that batch's base offset.
func flipInBatch(t *testing.T, path string, k int) int64 {
	t.Helper()
	pos, base, size := batchPositions(t, path)
	end := size
	if k+1 < len(pos) {
		end = pos[k+1]
	}
	diskfault.FlipBits(t, path, pos[k]+record.HeaderSize+(end-pos[k]-record.HeaderSize)/2, 0x04)
	return base[k]
}

// truncateInBatch cuts a segment file in the middle of its k-th batch and returns that batch's
// base offset.
func truncateInBatch(t *testing.T, path string, k int) int64 {
	t.Helper()
	pos, base, _ := batchPositions(t, path)
	if err := os.Truncate(path, pos[k]+record.HeaderSize+7); err != nil {
		t.Fatal(err)
	}
	return base[k]
}

// produceBatches writes n batches of 10 values with acks=all to addr and returns the values.
func produceBatches(t *testing.T, addr, topic, prefix string, n int) []string {
	t.Helper()
	var all []string
	for i := range n {
		var vals []string
		for j := range 10 {
			vals = append(vals, fmt.Sprintf("%s-%d-%d", prefix, i, j))
		}
		if p := rawProduce(t, addr, topic, 0, -1, 20000, vals...); p.ErrorCode != 0 {
			t.Fatalf("acks=all %s batch %d: error %d", prefix, i, p.ErrorCode)
		}
		all = append(all, vals...)
	}
	return all
}

// A follower stops, a byte of the last batch of its active segment flips, and it restarts as after
// a crash: recovery cuts its log at that batch, it fetches the rest from the leader again, rejoins
// the ISR and ends byte-identical to the leader.
func TestDiskFaultFollowerCorruptTailRefetched(t *testing.T) {
	for _, fault := range []string{"flip", "truncate"} {
		t.Run(fault, func(t *testing.T) {
			c := startCluster(t, 3)
			const topic = "tail"
			c.createRF3(topic, map[string]string{"min.insync.replicas": "2"})
			want := produceBatches(t, c.node(0).addr, topic, "a", 5)
			c.waitConverged(topic, 0, 50, 0, 1, 2)

			c.stop(2)
			seg := activeSegment(t, c.dirs[2], topic)
			var cut int64
			if fault == "flip" {
				cut = flipInBatch(t, seg, 4)
			} else {
				cut = truncateInBatch(t, seg, 4)
			}
			asIfCrashed(t, c.dirs[2], topic)
			want = append(want, produceBatches(t, c.node(0).addr, topic, "b", 2)...) // ISR {0,1} meanwhile

			// What recovery makes of that directory, seen on a copy (the broker's own open
			// refetches at once): the log ends where the damaged batch began.
			if got := recoveredEnd(t, filepath.Join(c.dirs[2], topic+"-0")); got != cut {
				t.Fatalf("recovery of the damaged log ends it at %d, want %d", got, cut)
			}
			c.start(2)
			if n := c.node(2).b.lookupPartition(topic, 0).log.CommittedLostOnOpen(); n != 50-cut {
				t.Fatalf("CommittedLostOnOpen %d, want %d", n, 50-cut)
			}
			c.waitConverged(topic, 0, 70, 0, 1, 2)
			c.waitISR(topic, 0, 0, 0, 1, 2)
			if got := consumedValues(t, c.node(0), topic, 70); !slices.Equal(got, want) {
				t.Fatalf("consumed %q, want %q", got, want)
			}
		})
	}
}

// recoveredEnd opens a copy of a partition directory with engine/log, as the broker would after
// a crash, and returns the recovered log end offset.
func recoveredEnd(t *testing.T, dir string) int64 {
	t.Helper()
	cp := t.TempDir()
	if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	l, err := log.Open(cp, log.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.LogEndOffset()
}

// countLogs makes the default logger (the brokers' when their Config has none) count the records
// mentioning every word, for the rest of the test.
func countLogs(t *testing.T, words ...string) *countingHandler {
	h := &countingHandler{words: words}
	prev := slog.Default()
	slog.SetDefault(slog.New(h))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return h
}

// countingHandler counts log records whose message and attributes contain every word.
type countingHandler struct {
	words []string
	n     atomic.Int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	var sb strings.Builder
	sb.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { sb.WriteString(" " + a.String()); return true })
	for _, w := range h.words {
		if !strings.Contains(sb.String(), w) {
			return nil
		}
	}
	h.n.Add(1)
	return nil
}

// A bit flips in the leader's already-flushed segment while it runs. A follower that fetches the
// batch (its disk was replaced, so it copies the log from the start) finds the CRC wrong and
// refuses it, as Kafka's follower does: it never appends a batch that fails validation, so the
// corruption stops at the leader instead of spreading with replication.
func TestDiskFaultFollowerRefusesCorruptBatch(t *testing.T) {
	h := countLogs(t, "append failed", "CRC32C mismatch")

	c := startCluster(t, 3)
	const topic = "rot"
	c.createRF3(topic, map[string]string{"min.insync.replicas": "2"})
	produceBatches(t, c.node(0).addr, topic, "a", 5)
	c.waitConverged(topic, 0, 50, 0, 1, 2)
	if err := c.node(0).b.lookupPartition(topic, 0).log.Flush(); err != nil {
		t.Fatal(err)
	}

	c.stop(2)
	if err := os.RemoveAll(filepath.Join(c.dirs[2], topic+"-0")); err != nil {
		t.Fatal(err)
	}
	bad := flipInBatch(t, activeSegment(t, c.dirs[0], topic), 2) // through the page cache the leader reads
	c.start(2)
	eventually(t, "follower 2 refusing the corrupt batch three times", func() error {
		if n := h.n.Load(); n < 3 {
			return fmt.Errorf("%d refusals logged", n)
		}
		return nil
	})
	l2 := c.node(2).b.lookupPartition(topic, 0).log
	if got := l2.LogEndOffset(); got != bad {
		t.Fatalf("follower 2's log end offset %d, want %d: it must stop before the corrupt batch", got, bad)
	}
	if err := l2.ForEachBatch(0, func(b record.Batch) error {
		_, err := record.ValidateStored(b)
		return err
	}); err != nil {
		t.Fatalf("follower 2 stored a batch failing validation: %v", err)
	}
	// It stays out of sync: the leader drops it from the ISR after replica.lag.time.max.ms.
	c.waitISR(topic, 0, 0, 0, 1)
	if got := l2.LogEndOffset(); got != bad {
		t.Fatalf("follower 2's log end offset %d once out of the ISR, want %d", got, bad)
	}
}

// The NATS case, with the real controller: the partition leader stops, its active segment is cut
// in the middle of acknowledged data, and it restarts as after a crash at once, before its
// session expires. Its new incarnation's registration fences the old one, moving leadership to
// an ISR member holding every acknowledged record; the restarted broker follows, truncates
// nothing more, refetches what its disk lost and rejoins the ISR. No acknowledged write is lost.
func TestDiskFaultLeaderCorruptTailDoesNotLead(t *testing.T) {
	mc := startMetaCluster(t, 3)
	for id := int32(1); id <= 3; id++ {
		mc.waitImage(id, "three unfenced brokers", allUnfenced(3))
	}
	ctx := context.Background()
	adm := kadm.NewClient(mc.node(1).tb.client())
	const topic = "nats"
	mis := "2"
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &mis}, topic); err != nil {
		t.Fatal(err)
	}
	img := mc.waitImage(1, "the topic with a leader", func(img *meta.Image) error {
		if p := img.Partition(topic, 0); p == nil || p.Leader == meta.NoLeader || len(p.ISR) != 3 {
			return errors.New("not yet")
		}
		return nil
	})
	old := img.Partition(topic, 0).Leader
	oldEpoch := img.Partition(topic, 0).LeaderEpoch
	// The partition exists on a broker before its image's assignment is applied to it: the
	// leader must lead, or the first produce gets NOT_LEADER_OR_FOLLOWER (it did, once in CI).
	eventually(t, "every broker serving the partition, the leader leading it", func() error {
		for id := int32(1); id <= 3; id++ {
			p := mc.node(id).tb.b.lookupPartition(topic, 0)
			if p == nil {
				return fmt.Errorf("broker %d has no %s-0", id, topic)
			}
			if rp := p.replica.Load(); id == old && (rp == nil || rp.View().Role != replica.RoleLeader) {
				return fmt.Errorf("broker %d does not lead %s-0 yet", id, topic)
			}
		}
		return nil
	})
	want := produceBatches(t, mc.node(old).tb.addr, topic, "a", 5)
	mc.waitLogsConverged(topic, 0, 50, 1, 2, 3)

	mc.stop(old)
	lost := truncateInBatch(t, activeSegment(t, mc.dirs[old], topic), 2)
	asIfCrashed(t, mc.dirs[old], topic)
	mc.start(old)

	var others []int32
	for id := int32(1); id <= 3; id++ {
		if id != old {
			others = append(others, id)
		}
	}
	img = mc.waitImage(others[0], "a new leader other than the corrupted one", func(img *meta.Image) error {
		p := img.Partition(topic, 0)
		if p.Leader == old || p.Leader == meta.NoLeader || p.LeaderEpoch <= oldEpoch {
			return fmt.Errorf("leader %d epoch %d", p.Leader, p.LeaderEpoch)
		}
		return nil
	})
	leader := img.Partition(topic, 0).Leader
	if n := mc.node(old).tb.b.lookupPartition(topic, 0).log.CommittedLostOnOpen(); n != 50-lost {
		t.Fatalf("restarted broker %d: CommittedLostOnOpen %d, want %d", old, n, 50-lost)
	}
	t.Logf("broker %d restarted with its log cut at %d; broker %d leads in epoch %d", old, lost, leader, img.Partition(topic, 0).LeaderEpoch)
	eventually(t, "the new leader leading", func() error {
		if rp := mc.node(leader).tb.b.lookupPartition(topic, 0).replica.Load(); rp == nil || rp.View().Role != replica.RoleLeader {
			return fmt.Errorf("broker %d does not lead %s-0 yet", leader, topic)
		}
		return nil
	})
	want = append(want, produceBatches(t, mc.node(leader).tb.addr, topic, "b", 2)...)
	mc.waitLogsConverged(topic, 0, 70, leader, 1, 2, 3)
	mc.waitImage(leader, "the restarted broker back in the ISR", func(img *meta.Image) error {
		if p := img.Partition(topic, 0); len(p.ISR) != 3 {
			return fmt.Errorf("ISR %v", p.ISR)
		}
		return nil
	})
	if got := consumedValues(t, mc.node(leader).tb, topic, 70); !slices.Equal(got, want) {
		t.Fatalf("consumed %q, want %q", got, want)
	}
}

// A follower's disk fills (its log dir is a small tmpfs): its appends of fetched batches fail with
// ENOSPC and are retried, never half-applied; the leader drops it from the ISR and keeps
// acknowledging acks=all writes with the other follower (min.insync.replicas=2). Once space is
// freed the follower catches up without a restart, rejoins the ISR and holds the leader's log byte
// for byte.
func TestDiskFaultFollowerDiskFull(t *testing.T) {
	h := countLogs(t, "append failed", "no space left on device")

	c := startCluster(t, 3)
	c.stop(2)
	mnt := diskfault.MountTmpfs(t, "6m")
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	c.dirs[2] = filepath.Join(mnt, "data")
	c.start(2)

	const topic = "followerfull"
	c.createRF3(topic, map[string]string{"min.insync.replicas": "2"})
	value := strings.Repeat("v", 10_000)
	var want []string
	for i := range 40 { // 40 batches of 10 × 10 KB: 4 MB, more than the follower has left
		vals := make([]string, 10)
		for j := range vals {
			vals[j] = fmt.Sprintf("%03d-%d-%s", i, j, value)
		}
		if p := rawProduce(t, c.node(0).addr, topic, 0, -1, 20000, vals...); p.ErrorCode != 0 {
			t.Fatalf("acks=all batch %d with follower 2's disk full: error %d", i, p.ErrorCode)
		}
		want = append(want, vals...)
	}
	eventually(t, "follower 2 hitting ENOSPC", func() error {
		if h.n.Load() == 0 {
			return errors.New("no ENOSPC logged yet")
		}
		return nil
	})
	c.waitISR(topic, 0, 0, 0, 1)
	l2 := c.node(2).b.lookupPartition(topic, 0).log
	if leo := l2.LogEndOffset(); leo >= 400 || leo%10 != 0 {
		t.Fatalf("follower 2's log end offset %d on a full disk: want whole batches only, short of 400", leo)
	}
	if err := l2.ForEachBatch(0, func(b record.Batch) error { _, err := record.ValidateStored(b); return err }); err != nil {
		t.Fatalf("follower 2 on a full disk stored a bad batch: %v", err)
	}
	t.Logf("follower 2 stopped at %d of 400 with its disk full", l2.LogEndOffset())

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	c.waitConverged(topic, 0, 400, 0, 1, 2)
	c.waitISR(topic, 0, 0, 0, 1, 2)
	if got := consumedValues(t, c.node(0), topic, 400); !slices.Equal(got, want) {
		t.Fatal("consumed values differ from the acknowledged ones")
	}
}
