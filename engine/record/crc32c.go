package record

import "hash/crc32"

// Checksum32C returns the CRC32C (Castagnoli) of p, as crc32.Checksum(p, castagnoli) does.
//
// Why not hash/crc32 alone: a produced batch is checked once on arrival, and at 12 partitions
// that check took 10–12 % of the broker's CPU (results/broker.md, "twelfth pass"). hash/crc32's
// Castagnoli code runs three CRC32 instructions side by side (~19 GB/s here). Where the CPU
// multiplies carry-less on 512-bit registers (VPCLMULQDQ with AVX-512), foldCastagnoli folds 256
// bytes per step instead; hash/crc32 finishes the last partial step and everything shorter than
// foldMinBytes. The result is the same function: crc32c_test.go compares the two on every
// length up to a few KiB at eight alignments, FuzzChecksum32C on anything, and a Go model of the
// fold (software carry-less multiply, the same keys) on CPUs that cannot run the assembly.
//
// No allocations.
func Checksum32C(p []byte) uint32 {
	if useFold && len(p) >= foldMinBytes {
		n := len(p) &^ (foldStepBytes - 1)
		raw := foldCastagnoli(^uint32(0), p[:n])
		return crc32.Update(^raw, castagnoli, p[n:])
	}
	return crc32.Checksum(p, castagnoli)
}

const (
	foldStepBytes = 256 // foldCastagnoli's step: four 512-bit registers of 16-byte lanes
	// foldMinBytes: below this hash/crc32 is as fast (the fold's set-up and final reduction
	// cost about one step).
	foldMinBytes = 1024
)

// castagnoliPoly is CRC32C's generator polynomial in normal bit order, x^32 included.
const castagnoliPoly = 0x11EDC6F41

// xPowModP returns x^n mod P, bit m holding the coefficient of x^m.
func xPowModP(n int) uint64 {
	r := uint64(1)
	for range n {
		r <<= 1
		if r&(1<<32) != 0 {
			r ^= castagnoliPoly
		}
	}
	return r
}

// foldKey returns the pair of multipliers that move a 128-bit lane d bits further along the
// message, in the bit-reflected form the data has in a register (the first message bit is bit
// 0). A lane holds H·x^64 + L (H in its low quadword); H·x^(64+d) + L·x^d ≡ H·K1·x + L·K2·x mod
// P, where the x is what a carry-less multiply of two reflected quadwords adds. So K1 = x^(63+d)
// mod P and K2 = x^(d-1) mod P, each reflected into a quadword (x^m at bit 63-m).
func foldKey(d int) [2]uint64 {
	return [2]uint64{reflect64(xPowModP(63 + d)), reflect64(xPowModP(d - 1))}
}

func reflect64(v uint64) uint64 {
	var r uint64
	for i := range 64 {
		r |= (v >> i & 1) << (63 - i)
	}
	return r
}

// castagnoliFoldKeys is read by foldCastagnoli (crc32c_amd64.s), in this order: the main loop's
// fold by 2048 bits (256 bytes), the fold of one register into the next by 512 bits, then one
// key per lane of the last register, moving lanes 0, 1 and 2 by 384, 256 and 128 bits onto lane
// 3 (whose key is zero: it is added as it is).
var castagnoliFoldKeys = [6][2]uint64{
	foldKey(2048), foldKey(512), foldKey(384), foldKey(256), foldKey(128), {},
}
