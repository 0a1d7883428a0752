//go:build !race

// The race detector makes sync.Pool drop a quarter of what is put back, so allocation counts are
// only meaningful without it: this file is not built under -race.

package broker

import (
	"testing"

	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/netio"
)

// TestProduceAllocs holds the produce path to its allocation budget (00_produce.go): a Produce
// with acks=1 that waits for nothing allocates nothing in steady state, for one partition or
// twelve, served whole or streamed. AllocsPerRun averages over the runs, so a pool emptied by a GC in the middle does not
// make it flaky.
func TestProduceAllocs(t *testing.T) {
	for _, mode := range []log.WriteMode{log.WriteBuffered, log.WriteDirect} {
		t.Run(mode.String(), func(t *testing.T) { testProduceAllocs(t, mode) })
	}
}

// testProduceAllocs counts every goroutine's allocations, so in direct mode the write-behind
// writer's are in (it writes while the requests are served).
func testProduceAllocs(t *testing.T, mode log.WriteMode) {
	for _, parts := range []int32{1, 12} {
		br := benchBroker(t, "bench", parts, func(c *Config) { setWriteMode(c, mode) })
		body, _ := produceBody(parts)
		req := &netio.Request{APIKey: 0, APIVersion: 9, Flexible: true, Body: body}
		var answered int
		w := countingWriter{n: &answered}
		br.ServeKafka(req, w) // warm the pools and the partition
		if allocs := testing.AllocsPerRun(200, func() { br.ServeKafka(req, w) }); allocs != 0 {
			t.Errorf("partitions=%d: %.1f allocations per Produce, want 0", parts, allocs)
		}
		// The same request streamed (as netio hands over a large frame arriving in pieces).
		streamed := func() {
			req.Stream = br.StreamFrame(0, 9)
			off := 0
			for n := 0; n < len(body); n += len(body) / 8 {
				off += req.Stream.Arrived(body[off:n])
			}
			req.Body = body[off:]
			br.ServeKafka(req, w)
			req.Stream, req.Body = nil, body
		}
		if allocs := testing.AllocsPerRun(200, streamed); allocs != 0 {
			t.Errorf("partitions=%d: %.1f allocations per streamed Produce, want 0", parts, allocs)
		}
		if answered != 403 {
			t.Fatalf("partitions=%d: %d requests answered with a response, want 403", parts, answered)
		}
	}
}

// countingWriter counts Respond answers and releases what netio would.
type countingWriter struct{ n *int }

func (c countingWriter) Respond(parts ...netio.Part) {
	*c.n++
	discardWriter{}.Respond(parts...)
}
func (c countingWriter) NoResponse() { panic("BUG: acks=1 produce answered with no response") }
func (c countingWriter) Close()      { panic("BUG: produce request rejected") }
