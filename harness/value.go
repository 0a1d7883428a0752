package harness

import (
	"encoding/binary"
	"math/rand/v2"
)

// header is what every record value carries in its first headerBytes bytes;
// the layout is in doc.go.
type header struct {
	runID    uint32
	producer uint32
	seq      uint64
	sendNs   int64 // ns since the run's start, monotonic clock
}

// putHeader writes h into the first headerBytes of value.
func putHeader(value []byte, h header) {
	_ = value[headerBytes-1] // one bounds check, and a BUG panic if the caller sized value wrong
	binary.BigEndian.PutUint32(value[0:4], h.runID)
	binary.BigEndian.PutUint32(value[4:8], h.producer)
	binary.BigEndian.PutUint64(value[8:16], h.seq)
	binary.BigEndian.PutUint64(value[16:24], uint64(h.sendNs))
}

// readHeader decodes a value's header; ok is false when the value is too
// short to hold one (a record this harness did not write).
func readHeader(value []byte) (h header, ok bool) {
	if len(value) < headerBytes {
		return header{}, false
	}
	return header{
		runID:    binary.BigEndian.Uint32(value[0:4]),
		producer: binary.BigEndian.Uint32(value[4:8]),
		seq:      binary.BigEndian.Uint64(value[8:16]),
		sendNs:   int64(binary.BigEndian.Uint64(value[16:24])),
	}, true
}

// paddingSeed fixes the random padding so two runs of one workload send the
// same bytes: compression ratios must not vary between runs by chance.
const paddingSeed = 0x511CE

// makePadding builds the n bytes that follow the header in every value. With
// a payload they are the payload, repeated as needed; otherwise the first
// randomRatio of them are random and the rest zeros.
func makePadding(n int, payload []byte, randomRatio float64) []byte {
	p := make([]byte, n)
	if len(payload) > 0 {
		for i := 0; i < n; i += copy(p[i:], payload) {
		}
		return p
	}
	rng := rand.New(rand.NewPCG(paddingSeed, paddingSeed))
	random := int(float64(n) * randomRatio)
	for i := 0; i < random; i++ {
		p[i] = byte(rng.Uint32())
	}
	return p
}
