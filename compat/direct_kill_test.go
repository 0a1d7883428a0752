//go:build compat

package compat

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDirectModeKillKeepsAcknowledged: with log.write.mode=direct, acks=1 is answered once a
// batch is in the partition's write-behind ring, before it is written to the segment. A kill -9
// right after the last answer must lose none of them: the ring is a file's page cache, and the
// restarted broker writes it into the log. Each round produces, kills at once, restarts and reads
// everything back in order; the ring's header says how much was unwritten at the kill.
func TestDirectModeKillKeepsAcknowledged(t *testing.T) {
	const topic, perRound, rounds = "kill", 30000, 3
	dir := t.TempDir()
	flags := []string{"--log.write.mode=direct", "--num.partitions=1"}
	b := startBroker(t, dir, flags...)
	total, unwrittenRounds := 0, 0
	for round := range rounds {
		cl := b.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
			kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(time.Millisecond))
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed error
		value := make([]byte, 1000)
		for i := range perRound {
			v := append(strconv.AppendInt(nil, int64(total+i), 10), value[:1000-len(strconv.Itoa(total+i))]...)
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
				wg.Done()
			})
		}
		wg.Wait()
		b.kill() // right after the last answer, with the writer likely behind
		cl.Close()
		if failed != nil {
			t.Fatalf("round %d: produce: %v", round, failed)
		}
		total += perRound
		if n := unwrittenAtKill(t, filepath.Join(dir, topic+"-0")); n > 0 {
			unwrittenRounds++
			t.Logf("round %d: %d bytes answered but unwritten at the kill", round, n)
		}

		b = startBroker(t, dir, flags...)
		got := readValues(t, b, topic, total)
		if len(got) != total {
			t.Fatalf("round %d: read %d records after the restart, %d acknowledged", round, len(got), total)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("round %d: record %d holds %d", round, i, v)
			}
		}
	}
	t.Logf("%d of %d kills found answered records not yet written; none was lost", unwrittenRounds, rounds)
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

// readValues consumes topic from the start until it has n records or 30 s pass; each value starts
// with its sequence number.
func readValues(t *testing.T, b *broker, topic string, n int) []int {
	t.Helper()
	cl := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []int
	for len(got) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			end := 0
			for end < len(r.Value) && r.Value[end] >= '0' && r.Value[end] <= '9' {
				end++
			}
			v, err := strconv.Atoi(string(r.Value[:end]))
			if err != nil {
				t.Fatalf("record at offset %d: no sequence number", r.Offset)
			}
			got = append(got, v)
		})
	}
	return got
}
