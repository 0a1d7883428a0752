package broker

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/engine/log"
)

func directMode(c *Config) { c.LogDefaults.WriteMode = log.WriteDirect }

// A consumer tailing a write-behind log gets each record once the writer has written it: the
// writer wakes the parked fetch (a long poll of 10 s would otherwise hold every record that long).
func TestWriteBehindTailingConsumer(t *testing.T) {
	tb := startBroker(t, t.TempDir(), directMode)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(tb.client()).CreateTopic(ctx, 1, 1, nil, "tail"); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic("tail"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	cons := tb.client(kgo.ConsumeTopics("tail"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Second))
	const rounds = 20
	start := time.Now()
	for i := range rounds {
		want := fmt.Sprintf("tail-%02d", i)
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(want)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("round %d: no record within the deadline (%s since the start)", i, time.Since(start))
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		recs := fs.Records()
		if len(recs) != 1 || string(recs[0].Value) != want || recs[0].Offset != int64(i) {
			t.Fatalf("round %d: fetched %d records, want %q at offset %d", i, len(recs), want, i)
		}
	}
	t.Logf("%d produce-then-consume rounds in %s", rounds, time.Since(start))
}

// The broker reports its write mode through DescribeConfigs (cmd/sluice validates the key).
func TestWriteBehindDescribeConfigs(t *testing.T) {
	for _, mode := range []log.WriteMode{log.WriteBuffered, log.WriteDirect} {
		tb := startBroker(t, t.TempDir(), func(c *Config) { c.LogDefaults.WriteMode = mode })
		got := brokerConfigs(t, kadm.NewClient(tb.client()), 0)["log.write.mode"]
		if got.Value == nil || *got.Value != mode.String() {
			t.Fatalf("log.write.mode = %q, want %q", got.MaybeValue(), mode)
		}
	}
}

// Write-behind on every replica: acks=all answers only once the leader and the in-sync
// followers have written the record, and every replica ends with the same bytes.
func TestWriteBehindReplicated(t *testing.T) {
	c := startCluster(t, 3, directMode)
	const topic = "rf3-direct"
	c.createRF3(topic, map[string]string{"min.insync.replicas": "3"})
	leader := c.node(0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 3000
	prod := leader.client(kgo.SeedBrokers(c.node(0).addr, c.node(1).addr, c.node(2).addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("r%05d", i))}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", r.Value, err)
				return
			}
			for id := range int32(3) {
				if end := c.node(id).b.lookupPartition(topic, 0).log.WrittenEnd(); end <= r.Offset {
					t.Errorf("acks=all answered for offset %d while replica %d has written up to %d", r.Offset, id, end)
				}
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitConverged(topic, 0, n, 0, 1, 2)
	want := logBytes(t, leader, topic, 0)
	for id := int32(1); id < 3; id++ {
		if got := logBytes(t, c.node(id), topic, 0); !bytes.Equal(got, want) {
			t.Fatalf("replica %d holds %d bytes differing from the leader's %d", id, len(got), len(want))
		}
	}
	if got := consumedValues(t, leader, topic, n); len(got) != n || got[0] != "r00000" || got[n-1] != fmt.Sprintf("r%05d", n-1) {
		t.Fatalf("consumed %d records, want %d in order", len(got), n)
	}
}
