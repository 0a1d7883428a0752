package ntcopy

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestCopyMatchesBuiltin: every length around the thresholds and block edges, at every
// destination alignment within a line and a few source alignments, against the builtin copy,
// with guard bytes on both sides of the destination checked untouched.
func TestCopyMatchesBuiltin(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]byte, 3*MinBytes+2*lineBytes)
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	lengths := []int{0, 1, 63, 64, MinBytes - 1}
	for n := MinBytes; n <= MinBytes+2*blockBytes+1; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 2*MinBytes+77, 3*MinBytes)
	const guard = 0xA5
	dst := make([]byte, len(src)+2*lineBytes)
	for _, n := range lengths {
		for dstOff := 0; dstOff < lineBytes; dstOff++ {
			for _, srcOff := range []int{0, 1, 31, 64} {
				if srcOff+n > len(src) {
					continue
				}
				for i := range dst {
					dst[i] = guard
				}
				// The copy starts lineBytes in, so a whole guard line lies before it.
				start := lineBytes + dstOff
				got := Copy(dst[start:start+n], src[srcOff:])
				if got != n {
					t.Fatalf("n=%d dstOff=%d srcOff=%d: Copy returned %d", n, dstOff, srcOff, got)
				}
				if !bytes.Equal(dst[start:start+n], src[srcOff:srcOff+n]) {
					t.Fatalf("n=%d dstOff=%d srcOff=%d: bytes differ", n, dstOff, srcOff)
				}
				for i, b := range dst[:start] {
					if b != guard {
						t.Fatalf("n=%d dstOff=%d srcOff=%d: byte %d before dst written", n, dstOff, srcOff, i)
					}
				}
				for i, b := range dst[start+n:] {
					if b != guard {
						t.Fatalf("n=%d dstOff=%d srcOff=%d: byte %d after dst written", n, dstOff, srcOff, i)
					}
				}
			}
		}
	}
}

// TestCopyShorterSide: the count is the shorter slice's length, as with the builtin.
func TestCopyShorterSide(t *testing.T) {
	src := bytes.Repeat([]byte{7}, 2*MinBytes)
	dst := make([]byte, MinBytes+5)
	if n := Copy(dst, src); n != len(dst) || !bytes.Equal(dst, src[:len(dst)]) {
		t.Fatalf("long src: Copy returned %d, want %d with equal bytes", n, len(dst))
	}
	dst = make([]byte, 2*MinBytes)
	if n := Copy(dst, src[:MinBytes+3]); n != MinBytes+3 || !bytes.Equal(dst[:n], src[:n]) || dst[n] != 0 {
		t.Fatalf("short src: Copy returned %d, want %d, rest untouched", n, MinBytes+3)
	}
}

// FuzzCopy: any length and alignment copies exactly.
func FuzzCopy(f *testing.F) {
	f.Add(uint16(MinBytes), uint8(0), uint8(0), uint64(1))
	f.Add(uint16(MinBytes+129), uint8(63), uint8(1), uint64(2))
	f.Fuzz(func(t *testing.T, n uint16, dstOff, srcOff uint8, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 0))
		src := make([]byte, int(n)+int(srcOff))
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		dst := make([]byte, int(n)+int(dstOff)+1)
		dst[len(dst)-1] = 0x5A
		if got := Copy(dst[dstOff:len(dst)-1], src[srcOff:]); got != int(n) {
			t.Fatalf("Copy returned %d, want %d", got, n)
		}
		if !bytes.Equal(dst[dstOff:len(dst)-1], src[srcOff:]) || dst[len(dst)-1] != 0x5A {
			t.Fatalf("n=%d: bytes differ or guard overwritten", n)
		}
	})
}

// BenchmarkRingCopy copies chunk-sized pieces from a small, cache-hot window into successive
// positions of a destination larger than a core's L2 (a write-behind ring per partition: 1 or
// 12 × 4 MiB), the way Append fills the rings: the builtin copy against Copy. Alone, a ring that
// fits the last-level cache favours the builtin copy; in the broker, which shares the caches with
// the socket's data and the client, Copy wins (engine/log/writebehind.go gives the figures).
func BenchmarkRingCopy(b *testing.B) {
	window := make([]byte, 256<<10)
	for i := range window {
		window[i] = byte(i)
	}
	for _, ringBytes := range []int{4 << 20, 48 << 20} {
		ring := make([]byte, ringBytes)
		for i := range ring {
			ring[i] = 1 // fault the pages in
		}
		for _, chunk := range []int{16 << 10, 60 << 10} {
			for _, impl := range []struct {
				name string
				copy func(dst, src []byte) int
			}{{"builtin", func(d, s []byte) int { return copy(d, s) }}, {"nontemporal", Copy}} {
				b.Run(fmt.Sprintf("ring=%dMiB/chunk=%dKiB/%s", ringBytes>>20, chunk>>10, impl.name), func(b *testing.B) {
					b.SetBytes(int64(chunk))
					b.ReportAllocs()
					pos, from := 0, 0
					for b.Loop() {
						if pos+chunk > len(ring) {
							pos = 0
						}
						if from+chunk > len(window) {
							from = 0
						}
						impl.copy(ring[pos:pos+chunk], window[from:from+chunk])
						pos += chunk + 512 // not aligned to the line: batches are not
						from += chunk
					}
				})
			}
		}
	}
}
