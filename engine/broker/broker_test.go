package broker

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/netio"
)

// testBroker is a broker served by a real netio server on 127.0.0.1 with data in a temp dir.
type testBroker struct {
	t    *testing.T
	dir  string
	b    *Broker
	srv  *netio.Server
	addr string
}

func startBroker(t *testing.T, dir string, mutate ...func(*Config)) *testBroker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.LogDir = dir
	for _, m := range mutate {
		m(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	srv, err := netio.NewServer(netio.Config{Addr: "127.0.0.1:0"}, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(srv.Addr().String())
	p, _ := strconv.Atoi(port)
	b.SetAdvertisedAddr(host, int32(p))
	tb := &testBroker{t: t, dir: dir, b: b, srv: srv, addr: srv.Addr().String()}
	t.Cleanup(tb.stop)
	return tb
}

func (tb *testBroker) stop() {
	if tb.srv != nil {
		tb.srv.Stop()
		tb.srv = nil
	}
	if tb.b != nil {
		if err := tb.b.Close(); err != nil {
			tb.t.Errorf("broker close: %v", err)
		}
		tb.b = nil
	}
}

func (tb *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	tb.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.addr)}, opts...)...)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(cl.Close)
	return cl
}

// consumeAll reads n records from topic with a direct (group-less) consumer.
func consumeAll(t *testing.T, tb *testBroker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(out), n)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func TestFranzGoProduceConsumeAcrossRestart(t *testing.T) {
	for _, mode := range []log.WriteMode{log.WriteBuffered, log.WriteDirect} {
		t.Run(mode.String(), func(t *testing.T) { testProduceConsumeAcrossRestart(t, mode) })
	}
}

func testProduceConsumeAcrossRestart(t *testing.T, mode log.WriteMode) {
	dir := t.TempDir()
	withMode := func(c *Config) { setWriteMode(c, mode) }
	tb := startBroker(t, dir, withMode)
	adm := kadm.NewClient(tb.client())
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	const n = 3000
	prod := tb.client(kgo.DefaultProduceTopic("orders"), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range n {
		r := &kgo.Record{Key: []byte(strconv.Itoa(i % 17)), Value: []byte(fmt.Sprintf("v%06d", i))}
		prod.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			// acks=all: answered only once the record is committed (and, with write-behind,
			// written), so the high watermark has passed it.
			if hw := tb.b.lookupPartition("orders", r.Partition).log.HighWatermark(); hw <= r.Offset {
				t.Errorf("partition %d: acks=all answered for offset %d with the high watermark at %d", r.Partition, r.Offset, hw)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(recs []*kgo.Record) {
		t.Helper()
		seen := map[string]bool{}
		next := map[int32]int64{}
		for _, r := range recs {
			if seen[string(r.Value)] {
				t.Fatalf("duplicate %s", r.Value)
			}
			seen[string(r.Value)] = true
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d, want %d (gap or reorder)", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
		}
		if len(seen) != n {
			t.Fatalf("consumed %d distinct records, want %d", len(seen), n)
		}
	}
	check(consumeAll(t, tb, "orders", n))

	tb.stop()
	tb = startBroker(t, dir, withMode)
	check(consumeAll(t, tb, "orders", n))
	// Offsets survive: the end offsets add up to n.
	ends, err := kadm.NewClient(tb.client()).ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != n {
		t.Fatalf("end offsets sum to %d after restart, want %d", total, n)
	}
}

func TestAutoCreateAndUnknownTopic(t *testing.T) {
	tb := startBroker(t, t.TempDir(), func(c *Config) { c.NumPartitions = 4 })
	ctx := context.Background()
	cl := tb.client(kgo.DefaultProduceTopic("auto"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce to an auto-created topic: %v", err)
	}
	td, err := kadm.NewClient(tb.client()).ListTopics(ctx, "auto")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(td["auto"].Partitions); got != 4 {
		t.Fatalf("auto-created topic has %d partitions, want num.partitions=4", got)
	}

	tb2 := startBroker(t, t.TempDir(), func(c *Config) { c.AutoCreateTopics = false })
	cl2 := tb2.client(kgo.DefaultProduceTopic("nope"), kgo.RecordDeliveryTimeout(2*time.Second))
	if err := cl2.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err == nil {
		t.Fatalf("produce to a missing topic succeeded with auto.create.topics.enable=false")
	}
}
