package group

// BenchmarkOffsetCommit measures OffsetCommit through the coordinator (validation, journal, pebble
// on the real disk of the temp directory) without the network: throughput in commits/s and the
// latency of one commit, from the call to its reply (p50, p99 via ReportMetric). Concurrent
// committers share the journal, so one pebble commit (and, with fsync=true, one fsync) covers
// every request queued behind it; "records/batch" reports how many.
//
// Expected allocations: a few hundred bytes per commit (the response, the record and its key and
// value, the reply closure); profile with
//
//	go test ./engine/group -run - -bench OffsetCommit -cpuprofile cpu.out -memprofile mem.out
//
// Names are key=value for benchstat.

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type benchTopics struct{}

func (benchTopics) Partitions(string) int32           { return 64 }
func (benchTopics) HighWatermark(string, int32) int64 { return 1 << 40 }

func BenchmarkOffsetCommit(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		for _, committers := range []int{1, 16, 128} {
			for _, partitions := range []int{1, 16} {
				b.Run(fmt.Sprintf("fsync=%v/committers=%d/partitions=%d", fsync, committers, partitions), func(b *testing.B) {
					benchOffsetCommit(b, fsync, committers, partitions)
				})
			}
		}
	}
}

func benchOffsetCommit(b *testing.B, fsync bool, committers, partitions int) {
	cfg := DefaultConfig()
	cfg.Fsync = fsync
	c, err := Open(b.TempDir(), Options{Config: cfg, Topics: benchTopics{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// One request per committer, reused: each commits `partitions` partitions of its own group.
	reqs := make([]*kmsg.OffsetCommitRequest, committers)
	for i := range reqs {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group = 8, fmt.Sprintf("bench-%d", i)
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		for p := range partitions {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition = int32(p)
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		reqs[i] = req
	}
	var next atomic.Int64
	lat := make([][]time.Duration, committers)
	batches0, records0 := c.journal.batches.Load(), c.journal.records.Load()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := reqs[w]
			done := make(chan int16, 1)
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				for i := range req.Topics[0].Partitions {
					req.Topics[0].Partitions[i].Offset = n
				}
				t0 := time.Now()
				c.OffsetCommit(req, func(resp *kmsg.OffsetCommitResponse) { done <- resp.Topics[0].Partitions[0].ErrorCode })
				if code := <-done; code != 0 {
					b.Errorf("commit: error %d", code)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(b.N*partitions)/elapsed.Seconds(), "offsets/s")
	if batches := c.journal.batches.Load() - batches0; batches > 0 {
		b.ReportMetric(float64(c.journal.records.Load()-records0)/float64(batches), "records/batch")
	}
}
