package record

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestChecksum32CMatchesHashCRC32 compares Checksum32C with hash/crc32 on every length up to
// 4 KiB + 300 bytes (every path: shorter than the fold, whole steps, a step plus a tail) at
// every start alignment within a cache line, on random bytes, all zeros and all ones.
func TestChecksum32CMatchesHashCRC32(t *testing.T) {
	if !useFold {
		t.Log("this CPU has no 512-bit carry-less multiply: Checksum32C is hash/crc32 here (TestFoldKeysWithModel checks the fold)")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096+300+64)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	ones := make([]byte, len(random))
	for i := range ones {
		ones[i] = 0xff
	}
	for name, buf := range map[string][]byte{"random": random, "zeros": make([]byte, len(random)), "ones": ones} {
		for n := 0; n <= 4096+300; n++ {
			for _, align := range []int{0, 1, 7, 8, 15, 16, 33, 63} {
				p := buf[align : align+n]
				if got, want := Checksum32C(p), crc32.Checksum(p, castagnoli); got != want {
					t.Fatalf("%s, %d bytes at alignment %d: Checksum32C = %#08x, hash/crc32 = %#08x", name, n, align, got, want)
				}
			}
		}
	}
}

// TestFoldCastagnoliSteps checks the assembly alone (no hash/crc32 tail) from several states,
// for one step and many: its raw state must be hash/crc32's.
func TestFoldCastagnoliSteps(t *testing.T) {
	if !useFold {
		t.Skip("this CPU has no 512-bit carry-less multiply, so the assembly cannot run here (TestFoldKeysWithModel checks its algorithm and keys)")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	p := make([]byte, 64<<10)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	for _, steps := range []int{1, 2, 3, 4, 5, 17, 256} {
		for _, init := range []uint32{0, 1, 0xffffffff, 0x9e3779b9} {
			q := p[:steps*foldStepBytes]
			got := ^foldCastagnoli(^init, q)
			if want := crc32.Update(init, castagnoli, q); got != want {
				t.Errorf("%d steps from %#08x: %#08x, want %#08x", steps, init, got, want)
			}
		}
	}
}

// TestFoldKeysWithModel runs foldCastagnoli's algorithm in Go, with a software carry-less
// multiply and castagnoliFoldKeys, and compares it with hash/crc32. It runs on every CPU, so the
// keys and the reduction order the assembly relies on are checked where the assembly cannot run.
func TestFoldKeysWithModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p := make([]byte, 16*foldStepBytes)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	for _, steps := range []int{1, 2, 3, 16} {
		for _, init := range []uint32{0, 0xffffffff, 0x9e3779b9} {
			q := p[:steps*foldStepBytes]
			if got, want := ^foldModel(^init, q), crc32.Update(init, castagnoli, q); got != want {
				t.Errorf("model, %d steps from %#08x: %#08x, want %#08x", steps, init, got, want)
			}
		}
	}
}

// foldModel is crc32c_amd64.s step for step: sixteen 128-bit lanes (lo, hi quadwords), each
// step lane = clmul(lo, K1) ^ clmul(hi, K2) ^ next data, then registers 0→1→2→3 by the 512-bit
// key, lanes 0–2 of the last onto lane 3 by their keys, and CRC32 of the 16 bytes left.
func foldModel(crc uint32, p []byte) uint32 {
	type lane struct{ lo, hi uint64 }
	load := func(b []byte) lane { return lane{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])} }
	fold := func(x lane, k [2]uint64) lane {
		a, b := clmul(x.lo, k[0])
		c, d := clmul(x.hi, k[1])
		return lane{a ^ c, b ^ d}
	}
	xor := func(a, b lane) lane { return lane{a.lo ^ b.lo, a.hi ^ b.hi} }
	var l [16]lane // register r, lane j is l[4r+j]
	for i := range l {
		l[i] = load(p[16*i:])
	}
	l[0].lo ^= uint64(crc)
	for p = p[foldStepBytes:]; len(p) > 0; p = p[foldStepBytes:] {
		for i := range l {
			l[i] = xor(fold(l[i], castagnoliFoldKeys[0]), load(p[16*i:]))
		}
	}
	for r := range 3 {
		for j := range 4 {
			l[4*(r+1)+j] = xor(l[4*(r+1)+j], fold(l[4*r+j], castagnoliFoldKeys[1]))
		}
	}
	acc := l[15]
	for j := range 3 {
		acc = xor(acc, fold(l[12+j], castagnoliFoldKeys[2+j]))
	}
	var last [16]byte
	binary.LittleEndian.PutUint64(last[:], acc.lo)
	binary.LittleEndian.PutUint64(last[8:], acc.hi)
	return ^crc32.Update(^uint32(0), castagnoli, last[:]) // raw CRC32 from state zero
}

// clmul is the 64×64→128-bit carry-less product (PCLMULQDQ's).
func clmul(a, b uint64) (lo, hi uint64) {
	for i := range 64 {
		if b>>i&1 != 0 {
			lo ^= a << i
			if i > 0 {
				hi ^= a >> (64 - i)
			}
		}
	}
	return lo, hi
}

func FuzzChecksum32C(f *testing.F) {
	f.Add(make([]byte, 1024))
	f.Add(make([]byte, 5000))
	f.Fuzz(func(t *testing.T, p []byte) {
		if got, want := Checksum32C(p), crc32.Checksum(p, castagnoli); got != want {
			t.Fatalf("%d bytes: Checksum32C = %#08x, hash/crc32 = %#08x", len(p), got, want)
		}
	})
}

// BenchmarkChecksum32C: Checksum32C against hash/crc32 on a batch-sized buffer (hot in the
// cache). Expected allocs/op: 0.
func BenchmarkChecksum32C(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10, 256 << 10} {
		p := make([]byte, size)
		for i := range p {
			p[i] = byte(i)
		}
		b.Run("impl=fold/size="+sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				sinkCRC = Checksum32C(p)
			}
		})
		b.Run("impl=hash-crc32/size="+sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				sinkCRC = crc32.Checksum(p, castagnoli)
			}
		})
	}
}

var sinkCRC uint32

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
