package broker

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/record"
)

// produceRaw sends one idempotent batch (producer id, epoch, first sequence, n records) to
// topic/0 and returns the partition's error code and base offset.
func produceRaw(t *testing.T, tb *testBroker, topic string, pid int64, epoch int16, seq int32, n int) (int16, int64) {
	t.Helper()
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Value: []byte("idem")}
	}
	batch := record.AppendBatch(nil, record.BatchSpec{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, BaseTimestamp: 1}, recs)
	req := kmsg.NewPtrProduceRequest()
	req.Version = 7
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 0
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), tb.client())
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

func TestIdempotentProducerStateSurvivesRestart(t *testing.T) {
	for _, mode := range []string{"clean", "unclean"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			tb := startBroker(t, dir)
			if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), 1, 1, nil, "idem"); err != nil {
				t.Fatal(err)
			}
			const pid = 42
			if code, off := produceRaw(t, tb, "idem", pid, 0, 0, 3); code != 0 || off != 0 {
				t.Fatalf("first batch: code %d offset %d", code, off)
			}
			if code, off := produceRaw(t, tb, "idem", pid, 0, 3, 2); code != 0 || off != 3 {
				t.Fatalf("second batch: code %d offset %d", code, off)
			}
			if mode == "unclean" {
				// Drop the snapshot a clean close writes: state must come from replaying the log.
				tb.stop()
				removeSnapshots(t, dir)
			} else {
				tb.stop()
			}
			tb = startBroker(t, dir)
			// A retry of the second batch is answered with its original offset, not stored again.
			if code, off := produceRaw(t, tb, "idem", pid, 0, 3, 2); code != 0 || off != 3 {
				t.Fatalf("retry after restart: code %d offset %d, want 0 and 3", code, off)
			}
			// A gap is refused; the next in order is accepted.
			if code, _ := produceRaw(t, tb, "idem", pid, 0, 9, 1); code != errOutOfOrderSequence {
				t.Fatalf("sequence gap after restart: code %d, want %d", code, errOutOfOrderSequence)
			}
			if code, off := produceRaw(t, tb, "idem", pid, 0, 5, 1); code != 0 || off != 5 {
				t.Fatalf("next batch: code %d offset %d", code, off)
			}
			if code, _ := produceRaw(t, tb, "idem", pid, 1, 0, 1); code != 0 {
				t.Fatalf("new epoch from sequence 0: code %d", code)
			}
			if code, _ := produceRaw(t, tb, "idem", pid, 0, 6, 1); code != errInvalidProducerEpoch {
				t.Fatalf("stale epoch: code %d, want %d", code, errInvalidProducerEpoch)
			}
			if leo := tb.b.lookupPartition("idem", 0).log.LogEndOffset(); leo != 7 {
				t.Fatalf("log end offset %d, want 7: a duplicate was stored", leo)
			}
		})
	}
}

func removeSnapshots(t *testing.T, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*", producerSnapshotFile))
	if len(m) == 0 {
		t.Fatalf("no producer snapshot written at close")
	}
	for _, f := range m {
		os.Remove(f)
	}
}
