package broker

import (
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
