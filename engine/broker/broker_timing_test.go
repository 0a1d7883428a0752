package broker

// Broker hot-path benchmarks, no network: ServeKafka with a pre-encoded request and a
// ResponseWriter that discards. What they show is the broker's own CPU and allocations per request.
//   BenchmarkProduce/partitions=N  one Produce (acks=1) of a 16 KiB batch (16 × 1 KiB) per
//                                  partition. Budget: see results/broker.md.
//   BenchmarkFetch                 one Fetch v12 (no session) of 1 MiB from one partition.
// Run: go test -run '^$' -bench . -benchmem ./engine/broker
// Profile: add -cpuprofile cpu.prof -memprofile mem.prof.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/internal/cputime"
	"github.com/sluicemq/sluice/netio"
)

type discardWriter struct{ wg *sync.WaitGroup }

// Respond releases what netio would once the parts are written: file regions, recycled bytes.
func (d discardWriter) Respond(parts ...netio.Part) {
	for _, p := range parts {
		if p.File != nil && p.File.Release != nil {
			p.File.Release()
		}
		if p.Recycle {
			netio.RecycleBuffer(p.Bytes)
		}
	}
	if d.wg != nil {
		d.wg.Done()
	}
}
func (d discardWriter) NoResponse() {
	if d.wg != nil {
		d.wg.Done()
	}
}
func (d discardWriter) Close() { panic("BUG: benchmark request rejected") }

func benchBroker(b testing.TB, topic string, partitions int32, mutate ...func(*Config)) *Broker {
	cfg := DefaultConfig()
	cfg.LogDir = b.TempDir()
	for _, m := range mutate {
		m(&cfg)
	}
	br, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	br.mu.Lock()
	if _, err := br.createTopicLocked(topic, partitions, map[string]string{}); err != nil {
		b.Fatal(err)
	}
	br.mu.Unlock()
	return br
}

// produceBody is a Produce v9 request body (acks=1) carrying one 16 KiB batch (16 × 1 KiB
// records, no producer id) for each of parts partitions of topic "bench". The broker rewrites the
// batches' offsets in place, so one body can be served again and again.
func produceBody(parts int32) (body []byte, batchBytes int) { return produceBodyOf(parts, 16) }

// produceBodyOf is produceBody with batches of the given number of 1 KiB records.
func produceBodyOf(parts int32, records int) (body []byte, batchBytes int) {
	recs := make([]record.Record, records)
	for i := range recs {
		recs[i] = record.Record{Value: bytes.Repeat([]byte{'x'}, 1024-8)}
	}
	batch := record.AppendBatch(nil, record.BatchSpec{ProducerID: -1, BaseTimestamp: 1}, recs)
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = 1
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "bench"
	for p := range parts {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = p
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req.AppendTo(nil), len(batch)
}

func BenchmarkProduce(b *testing.B) {
	for _, parts := range []int32{1, 12} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			br := benchBroker(b, "bench", parts)
			body, batchBytes := produceBody(parts)
			nr := &netio.Request{APIKey: 0, APIVersion: 9, Flexible: true}
			b.SetBytes(int64(batchBytes) * int64(parts))
			b.ReportAllocs()
			for b.Loop() {
				nr.Body = body
				br.ServeKafka(nr, discardWriter{})
			}
			b.ReportMetric(float64(testing.AllocsPerRun(100, func() { br.ServeKafka(nr, discardWriter{}) }))/float64(parts), "allocs/batch")
		})
	}
}

// BenchmarkProduceServed: the same Produce requests (acks=1) over loopback through a real netio
// server, 4 in flight from a raw client that allocates nothing per request, so allocs/op is the
// broker process's whole budget per request (netio, broker, log; runtime background work too).
// cpu-s/GiB is the process's CPU time per GiB of batches, the client's sends included.
// batch=256KiB: 3 MiB requests, larger than netio's stream window (the size franz-go sends when
// the broker keeps up at 12 partitions); the others are 16 KiB batches.
func BenchmarkProduceServed(b *testing.B) {
	for _, tc := range []struct {
		parts   int32
		records int
	}{{1, 16}, {12, 16}, {12, 256}} {
		parts := tc.parts
		name := fmt.Sprintf("partitions=%d", parts)
		if tc.records != 16 {
			name += fmt.Sprintf("/batch=%dKiB", tc.records)
		}
		b.Run(name, func(b *testing.B) {
			br := benchBroker(b, "bench", parts)
			srv, err := netio.NewServer(netio.Config{Addr: "127.0.0.1:0", NumEventLoop: 1}, br)
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(srv.Stop)
			conn, err := net.Dial("tcp", srv.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = conn.Close() })
			body, batchBytes := produceBodyOf(parts, tc.records)
			// Request header v2: key 0, version 9, correlation id, client id "bench", no tags.
			hdr := []byte{0, 0, 0, 9, 0, 0, 0, 1, 0, 5, 'b', 'e', 'n', 'c', 'h', 0}
			frame := binary.BigEndian.AppendUint32(nil, uint32(len(hdr)+len(body)))
			frame = append(append(frame, hdr...), body...)
			var size [4]byte
			rsp := make([]byte, 1<<10)
			readOne := func() {
				if _, err := io.ReadFull(conn, size[:]); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, rsp[:binary.BigEndian.Uint32(size[:])]); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(batchBytes) * int64(parts))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Process()
			errc := make(chan error, 1)
			go func() {
				for range b.N {
					if _, err := conn.Write(frame); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			// The writer runs ahead by up to what the socket buffers hold; the broker answers in
			// order, so reading b.N answers is the end.
			for range b.N {
				readOne()
			}
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			gib := float64(b.N) * float64(batchBytes) * float64(parts) / (1 << 30)
			b.ReportMetric((cputime.Process()-cpu0).Seconds()/gib, "cpu-s/GiB")
		})
	}
}

func BenchmarkFetch(b *testing.B) {
	br := benchBroker(b, "bench", 1)
	batch := record.AppendBatch(nil, record.BatchSpec{ProducerID: -1, BaseTimestamp: 1}, []record.Record{{Value: bytes.Repeat([]byte{'x'}, 16<<10)}})
	p := br.lookupPartition("bench", 0)
	for range 256 {
		if r, _ := p.produce(append([]byte(nil), batch...), 9, 1); r.code != 0 {
			b.Fatal(r.msg)
		}
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = -1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "bench"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	nr := &netio.Request{APIKey: 1, APIVersion: 12, Flexible: true, Body: req.AppendTo(nil)}
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		br.ServeKafka(nr, discardWriter{})
	}
}
