//go:build compat

package compat

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/diskfault"
)

// TestDirectModeKillKeepsAcknowledged: with log.write.mode=direct, acks=1 is answered once a
// batch is in the partition's write-behind ring, before it is written to the segment. A broker
// killed with answered records only in its ring must not lose them: the ring is a file's page
// cache, and the restarted broker writes it into the log.
//
// Killing a busy broker rarely catches that state: the bytes its writer lags by are usually in a
// write the kernel completes after the kill (a version of this test that killed right after the
// last answer passed 3 runs of 8 kills with the replay switched off). A full disk makes it
// certain: a write refused with ENOSPC keeps its answered bytes in the ring while the writer
// retries. So the broker runs on a small tmpfs, takes acks=1 until the disk refuses, is killed,
// gets its space back, restarts, and must serve every answered record, in order.
func TestDirectModeKillKeepsAcknowledged(t *testing.T) {
	const topic = "kill"
	mnt := diskfault.MountTmpfs(t, "24m")
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "data")
	// Every partition written to takes a ring, however slowly this test writes.
	flags := []string{"--log.write.mode=direct", "--log.write.direct.min.bytes.per.second=0", "--num.partitions=1"}
	b := startBroker(t, dir, flags...)
	cl := b.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.AllowAutoTopicCreation(), kgo.RecordRetries(1), kgo.RecordDeliveryTimeout(10*time.Second),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // the values compress to nothing
	answered := 0
	for refused := false; !refused; {
		if answered > 20000 {
			t.Fatal("the 24 MiB tmpfs never filled")
		}
		recs := make([]*kgo.Record, 8)
		for i := range recs {
			recs[i] = &kgo.Record{Value: []byte(fmt.Sprintf("%0*d", 2000, answered+i))} // readInts parses it
		}
		for i, r := range cl.ProduceSync(context.Background(), recs...) {
			if r.Err != nil {
				refused = true
				t.Logf("record %d refused: %v", answered+i, r.Err)
				break
			}
			if r.Record.Offset != int64(answered) {
				t.Fatalf("record %d stored at offset %d", answered, r.Record.Offset)
			}
			answered++
		}
	}
	cl.Close()
	b.kill()
	lag := unwrittenAtKill(t, filepath.Join(dir, topic+"-0"))
	if lag <= 0 {
		t.Fatalf("the ring's written position did not lag at the kill (%d bytes): the test needs answered records only the ring holds", lag)
	}
	t.Logf("%d records answered; %d bytes of them only in the ring at the kill", answered, lag)

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	b = startBroker(t, dir, flags...)
	got := readInts(context.Background(), t, []string{b.addr}, topic, answered)
	if len(got) != answered {
		t.Fatalf("read %d records after the restart, %d answered", len(got), answered)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("record %d holds %d", i, v)
		}
	}
}

// unwrittenAtKill reads a partition's write-behind ring header (engine/log/ringfile.go: after
// 4 MiB of ring, written at +24, appended at +32) and returns appended − written.
func unwrittenAtKill(t *testing.T, partDir string) int64 {
	t.Helper()
	f, err := os.Open(filepath.Join(partDir, "write-behind.ring"))
	if err != nil {
		t.Fatalf("the killed broker's write-behind ring: %v", err)
	}
	defer f.Close()
	var h [40]byte
	if _, err := f.ReadAt(h[:], 4<<20); err != nil {
		t.Fatal(err)
	}
	return int64(binary.LittleEndian.Uint64(h[32:])) - int64(binary.LittleEndian.Uint64(h[24:]))
}
