package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func sessionFetch(t *testing.T, cl *kgo.Client, id, epoch int32, parts map[int32]int64, forget []int32) *kmsg.FetchResponse {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MaxBytes = 1 << 20
	req.SessionID, req.SessionEpoch = id, epoch
	if len(parts) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "sess"
		for p, off := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.Partitions = "sess", forget
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func respPartitions(resp *kmsg.FetchResponse) map[int32]kmsg.FetchResponseTopicPartition {
	out := map[int32]kmsg.FetchResponseTopicPartition{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = p
		}
	}
	return out
}

func TestFetchSessionIncremental(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	ctx := context.Background()
	if _, err := kadm.NewClient(tb.client()).CreateTopic(ctx, 2, 1, nil, "sess"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client()
	full := sessionFetch(t, cl, 0, 0, map[int32]int64{0: 0, 1: 0}, nil)
	if full.ErrorCode != 0 || full.SessionID == 0 || len(respPartitions(full)) != 2 {
		t.Fatalf("opening a session: error %d, id %d, %d partitions", full.ErrorCode, full.SessionID, len(respPartitions(full)))
	}
	id := full.SessionID
	if got := respPartitions(sessionFetch(t, cl, id, 1, nil, nil)); len(got) != 0 {
		t.Fatalf("nothing changed, yet the incremental response has %d partitions", len(got))
	}
	prod := tb.client(kgo.DefaultProduceTopic("sess"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := prod.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := respPartitions(sessionFetch(t, cl, id, 2, nil, nil))
	if len(got) != 1 || got[1].HighWatermark != 1 || len(got[1].RecordBatches) == 0 {
		t.Fatalf("after a produce to partition 1: %+v", got)
	}
	// The client moves its offset on partition 1 and forgets partition 0.
	got = respPartitions(sessionFetch(t, cl, id, 3, map[int32]int64{1: 1}, []int32{0}))
	if len(got) != 0 {
		t.Fatalf("caught up and nothing new: %d partitions", len(got))
	}
	if r := sessionFetch(t, cl, id, 9, nil, nil); r.ErrorCode != errInvalidFetchSessionEpoch {
		t.Fatalf("wrong epoch: error %d, want %d", r.ErrorCode, errInvalidFetchSessionEpoch)
	}
	if r := sessionFetch(t, cl, id+1000, 1, nil, nil); r.ErrorCode != errFetchSessionIDNotFound {
		t.Fatalf("unknown session: error %d, want %d", r.ErrorCode, errFetchSessionIDNotFound)
	}
	// Sessionless full fetch still works (librdkafka, sarama).
	if got := respPartitions(sessionFetch(t, cl, 0, -1, map[int32]int64{0: 0, 1: 0}, nil)); len(got) != 2 {
		t.Fatalf("sessionless fetch: %d partitions", len(got))
	}
}

func TestFranzGoUsesFetchSessions(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	ctx := context.Background()
	if _, err := kadm.NewClient(tb.client()).CreateTopic(ctx, 8, 1, nil, "fs"); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic("fs"))
	for i := range 400 {
		prod.Produce(ctx, &kgo.Record{Value: []byte{byte(i)}}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if recs := consumeAll(t, tb, "fs", 400); len(recs) != 400 {
		t.Fatalf("consumed %d", len(recs))
	}
	tb.b.sessions.mu.Lock()
	n := len(tb.b.sessions.byID)
	tb.b.sessions.mu.Unlock()
	if n == 0 {
		t.Fatalf("franz-go consumed without opening a fetch session")
	}
}
