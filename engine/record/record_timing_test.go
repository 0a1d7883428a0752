package record

// Benchmarks for the produce-path check. Expected allocs/op: 0. Profile with
//   go test -run '^$' -bench Validate -cpuprofile cpu.prof ./engine/record

import (
	"bytes"
	"testing"
)

var sinkBatch Batch

func BenchmarkValidate(b *testing.B) {
	// 16 records of 1 KiB: a 16 KiB batch, the size the engine benchmarks use.
	recs := make([]Record, 16)
	for i := range recs {
		recs[i] = Record{Value: bytes.Repeat([]byte{'x'}, 1024)}
	}
	p := AppendBatch(nil, BatchSpec{ProducerID: -1}, recs)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := Validate(p, 0)
		if err != nil {
			b.Fatal(err)
		}
		sinkBatch = v
	}
}
