package broker

// BenchmarkScrape measures one /metrics scrape of the broker's collector (Collect through a
// registry's Gather, no HTTP, no text encoding): 100 partitions with ten records each, and groups
// that committed on every partition, group g at offset g, so every (group, partition) pair lags and
// costs its own time-lag read from the log (an offset-index lookup and one batch read): the worst
// case, as groups at the same offset share one read per scrape.
// The request path is not involved: it only increments atomics. Expected: cost linear in groups ×
// partitions; allocations per scrape are the constant metrics themselves.
//
//	go test ./engine/broker -run - -bench Scrape -benchtime 2s

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/netio"
)

func BenchmarkScrape(b *testing.B) {
	const partitions = 100
	for _, groups := range []int{0, 1, 10} {
		b.Run(fmt.Sprintf("partitions=%d/groups=%d", partitions, groups), func(b *testing.B) {
			br := benchBroker(b, "scraped", partitions)
			srv, err := netio.NewServer(netio.Config{Addr: "127.0.0.1:0"}, br)
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(srv.Stop) // before benchBroker's Close (LIFO)
			benchScrape(b, br, srv.Addr().String(), partitions, groups)
		})
	}
}

func benchScrape(b *testing.B, br *Broker, addr string, partitions int32, groups int) {
	ctx := context.Background()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	br.SetAdvertisedAddr(host, int32(p))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("scraped"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const records = 10
	var rs []*kgo.Record
	for p := range partitions {
		for range records {
			rs = append(rs, &kgo.Record{Partition: p, Value: []byte("v")})
		}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	for g := range groups {
		offs := kadm.Offsets{}
		for p := range partitions {
			offs.Add(kadm.Offset{Topic: "scraped", Partition: p, At: int64(g % records), LeaderEpoch: -1})
		}
		if r, err := adm.CommitOffsets(ctx, fmt.Sprintf("g%d", g), offs); err != nil || r.Error() != nil {
			b.Fatalf("commit: %v %v", err, r.Error())
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(br)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		fams, err := reg.Gather()
		if err != nil || len(fams) == 0 {
			b.Fatalf("gather: %v", err)
		}
	}
}
