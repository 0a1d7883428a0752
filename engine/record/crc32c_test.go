package record

import (
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
		t.Log("this CPU has no 512-bit carry-less multiply: Checksum32C is hash/crc32 here")
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
		t.Skip("this CPU has no 512-bit carry-less multiply; foldCastagnoli is not used here")
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
