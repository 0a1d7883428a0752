package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/diskfault"
)

// Disk faults seen through the Kafka protocol (RELIABILITY.md: "fill the disk (ENOSPC)").

// produceAcksAll sends one batch of values with acks=all, bypassing client retries, and returns
// the partition's error code and base offset.
func produceAcksAll(t *testing.T, tb *testBroker, topic string, values ...string) (int16, int64) {
	t.Helper()
	p := rawProduce(t, tb.addr, topic, 0, -1, 30000, values...)
	return p.ErrorCode, p.BaseOffset
}

// A producer fills the broker's disk (an 8 MiB tmpfs): the Produce that does not fit gets
// KAFKA_STORAGE_ERROR, the log end offset stays at the end of the last acknowledged batch, a
// consumer reads every acknowledged record intact and nothing else, the broker keeps serving, and
// once space is freed the same partition takes writes again without a restart.
func TestDiskFullProduceGetsStorageErrorAndRecovers(t *testing.T) {
	logged := countLogs(t, "KAFKA_STORAGE_ERROR", "topic=full", "no space left on device")
	mnt := diskfault.MountTmpfs(t, "8m")
	// Ballast the operator can delete later to free space.
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, filepath.Join(mnt, "data"), func(c *Config) {
		c.LogDefaults.SegmentBytes = 1 << 20 // several rolls before the disk fills
	})
	cl := tb.client()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	for _, topic := range []string{"full", "other"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	if code, _ := produceAcksAll(t, tb, "other", "before"); code != errNone {
		t.Fatalf("produce to other: code %d", code)
	}

	acked, vals := fillDisk(t, tb, "full", -1)
	p := tb.b.lookupPartition("full", 0)
	t.Logf("disk full after %d acknowledged records (%d segments)", len(acked), p.log.NumSegments())
	// Still full: the same batch gets the same answer every time (its partial write was cut
	// away, so no space leaked), never a hang or a crash; the log does not move.
	for range 3 {
		if code, _ := produceAcksAll(t, tb, "full", vals...); code != errKafkaStorage {
			t.Fatalf("retry on a full disk: code %d, want %d", code, errKafkaStorage)
		}
	}
	if leo := p.log.LogEndOffset(); leo != int64(len(acked)) {
		t.Fatalf("log end offset %d after refused retries, want %d", leo, len(acked))
	}
	if n := logged.n.Load(); n != 4 {
		t.Fatalf("%d storage errors in the broker's log, want 4 (one per refused Produce)", n)
	}
	// The broker keeps serving: reads of both topics, metadata.
	checkRecords(t, consumeAll(t, tb, "full", len(acked)), acked)
	checkRecords(t, consumeAll(t, tb, "other", 1), []string{"before"})
	if _, err := adm.ListTopics(ctx); err != nil {
		t.Fatalf("metadata on a full disk: %v", err)
	}

	// The operator frees space: the same partition takes writes again, from the same offset.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		vals := []string{diskValue(len(acked)), diskValue(len(acked) + 1)}
		code, base := produceAcksAll(t, tb, "full", vals...)
		if code != errNone || base != int64(len(acked)) {
			t.Fatalf("produce after freeing space: code %d at %d, want 0 at %d", code, base, len(acked))
		}
		acked = append(acked, vals...)
	}
	if code, _ := produceAcksAll(t, tb, "other", "after"); code != errNone {
		t.Fatalf("produce to other after freeing space: code %d", code)
	}
	checkRecords(t, consumeAll(t, tb, "full", len(acked)), acked)
	checkRecords(t, consumeAll(t, tb, "other", 2), []string{"before", "after"})
}

// log.write.mode=direct meets a full disk: acks=1 is answered from the write-behind ring, so
// records can be answered and then refused by the disk. Produce then gets KAFKA_STORAGE_ERROR
// while the writer retries; once space is freed the partition takes writes again at the next
// offset, and every answered record is there, in order (engine/log TestWriteBehindFullDisk has
// the log's side).
func TestDiskFullDirectModeKeepsAnsweredRecords(t *testing.T) {
	mnt := diskfault.MountTmpfs(t, "24m")
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, filepath.Join(mnt, "data"), directMode)
	if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), 1, 1, nil, "full"); err != nil {
		t.Fatal(err)
	}
	acked, _ := fillDisk(t, tb, "full", 1)
	written := tb.b.lookupPartition("full", 0).log.WrittenEnd()
	t.Logf("disk full after %d answered records; %d written", len(acked), written)
	if written >= int64(len(acked)) {
		t.Fatalf("all %d answered records written when the disk refused: the test needs a refused write", len(acked))
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	eventually(t, "acks=1 answered again once space is freed", func() error {
		vals := []string{diskValue(len(acked))}
		p := rawProduce(t, tb.addr, "full", 0, 1, 30000, vals...)
		if p.ErrorCode != errNone {
			return fmt.Errorf("error code %d", p.ErrorCode)
		}
		if p.BaseOffset != int64(len(acked)) {
			t.Fatalf("stored at %d after freeing space, want %d", p.BaseOffset, len(acked))
		}
		acked = append(acked, vals...)
		return nil
	})
	checkRecords(t, consumeAll(t, tb, "full", len(acked)), acked)
}

// diskValue is the i-th record value the full-disk tests produce: its offset, then 2000 bytes.
func diskValue(i int) string { return fmt.Sprintf("%08d-%0*d", i, 2000, i) }

// fillDisk produces batches of 8 diskValues to topic's partition 0 with acks until one is
// refused, checking that every answered batch landed at the next offset. The refusal must be
// KAFKA_STORAGE_ERROR, and the log must end at the last answered record. It returns the values
// answered and those of the refused batch.
func fillDisk(t *testing.T, tb *testBroker, topic string, acks int16) (answered, refused []string) {
	t.Helper()
	for batch := 0; ; batch++ {
		if batch > 10000 {
			t.Fatal("the disk never filled")
		}
		vals := make([]string, 8)
		for i := range vals {
			vals[i] = diskValue(len(answered) + i)
		}
		p := rawProduce(t, tb.addr, topic, 0, acks, 30000, vals...)
		if p.ErrorCode != errNone {
			if p.ErrorCode != errKafkaStorage {
				t.Fatalf("acks=%d on a full disk: error code %d, want KAFKA_STORAGE_ERROR (%d)", acks, p.ErrorCode, errKafkaStorage)
			}
			if leo := tb.b.lookupPartition(topic, 0).log.LogEndOffset(); leo != int64(len(answered)) {
				t.Fatalf("log end offset %d on a full disk, want %d (answered records)", leo, len(answered))
			}
			return answered, vals
		}
		if p.BaseOffset != int64(len(answered)) {
			t.Fatalf("batch %d stored at %d, want %d", batch, p.BaseOffset, len(answered))
		}
		answered = append(answered, vals...)
	}
}

// checkRecords asserts got holds exactly want's values at offsets 0, 1, ….
func checkRecords(t *testing.T, got []*kgo.Record, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("consumed %d records, want %d", len(got), len(want))
	}
	for i, r := range got {
		if r.Offset != int64(i) || string(r.Value) != want[i] {
			t.Fatalf("record %d: offset %d value %.20q…, want offset %d value %.20q…", i, r.Offset, r.Value, i, want[i])
		}
	}
}

// A bit flips in a flushed segment while the broker runs. The leader serves it with sendfile
// unchecked (as Kafka does); the consumer (franz-go checks every batch's CRC, as Kafka's clients
// do) reports a CRC error for the partition and never hands out the batch's records as good.
func TestDiskFaultConsumerSeesCRCError(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir)
	const topic = "rot"
	if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceBatches(t, tb.addr, topic, "a", 5)
	if err := tb.b.lookupPartition(topic, 0).log.Flush(); err != nil {
		t.Fatal(err)
	}
	bad := flipInBatch(t, activeSegment(t, dir, topic), 2)

	cl := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	var crcErr error
	for crcErr == nil {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no CRC error reported for the corrupt batch")
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if strings.Contains(err.Error(), "crc") {
				crcErr = err
			}
		})
		for _, r := range fs.Records() {
			if r.Offset >= bad && r.Offset < bad+10 {
				t.Fatalf("record %d of the corrupt batch delivered: %q", r.Offset, r.Value)
			}
		}
	}
	t.Logf("consumer: %v", crcErr)
}

// countingLogger is a kgo.Logger counting messages whose key-values mention every word.
type countingLogger struct {
	words []string
	n     atomic.Int64
}

func (l *countingLogger) Level() kgo.LogLevel { return kgo.LogLevelInfo }
func (l *countingLogger) Log(_ kgo.LogLevel, msg string, keyvals ...any) {
	s := fmt.Sprint(append([]any{msg}, keyvals...)...)
	for _, w := range l.words {
		if !strings.Contains(s, w) {
			return
		}
	}
	l.n.Add(1)
}

// An idempotent franz-go producer meets a full disk: it retries KAFKA_STORAGE_ERROR (retriable),
// and once space is freed every record lands exactly once and in order — the refused attempts
// left no producer state behind that would make a retry a duplicate or out of order.
func TestDiskFullIdempotentProducerRetriesThrough(t *testing.T) {
	mnt := diskfault.MountTmpfs(t, "4m")
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, filepath.Join(mnt, "data"), func(c *Config) { c.LogDefaults.SegmentBytes = 1 << 20 })
	const topic = "idem"
	if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	// The client gets its producer id while there is room (an InitProducerId that must reserve
	// the broker's next id block fails with KAFKA_STORAGE_ERROR on a full disk).
	// franz-go answers KAFKA_STORAGE_ERROR by refreshing metadata and retrying the batches (and,
	// unsure whether the refused batch was written, by bumping its producer epoch first).
	logger := &countingLogger{words: []string{"produce request had retry batches"}}
	cl := tb.client(kgo.WithLogger(logger), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	want := []string{"first"}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte(want[0])}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		v := fmt.Sprintf("raw-%05d-%s", i, strings.Repeat("r", 20_000))
		code, _ := produceAcksAll(t, tb, topic, v)
		if code == errKafkaStorage {
			break
		}
		if code != errNone || i > 10000 {
			t.Fatalf("filling the disk: code %d after %d records", code, i)
		}
		want = append(want, v)
	}

	done := make(chan error, 20)
	for i := range 20 {
		v := fmt.Sprintf("idem-%02d-%s", i, strings.Repeat("i", 20_000))
		want = append(want, v)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: []byte(v)}, func(_ *kgo.Record, err error) { done <- err })
	}
	eventually(t, "the producer retrying KAFKA_STORAGE_ERROR", func() error {
		if n := logger.n.Load(); n < 1 {
			return fmt.Errorf("%d refused produce requests logged by the client", n)
		}
		return nil
	})
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := <-done; err != nil {
			t.Fatalf("idempotent produce after freeing space: %v", err)
		}
	}
	checkRecords(t, consumeAll(t, tb, topic, len(want)), want)
}
