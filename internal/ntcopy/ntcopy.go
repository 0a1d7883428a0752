package ntcopy

import "unsafe"

// MinBytes: shorter copies use the builtin copy. Non-temporal stores pay off once a copy spans
// many cache lines; below that the head and tail handled by ordinary stores dominate.
const MinBytes = 4096

// lineBytes is the cache line: the non-temporal body starts on a line boundary, so each line is
// written whole and its write-combining buffer leaves as one memory write.
const lineBytes = 64

// blockBytes is what one iteration of the assembly loop moves.
const blockBytes = 128

// Copy copies min(len(dst), len(src)) bytes from src to dst and returns that count, storing to
// dst with non-temporal stores where the CPU has them (see the package doc). dst and src must not
// overlap.
func Copy(dst, src []byte) int {
	n := min(len(dst), len(src))
	if !useNonTemporal || n < MinBytes {
		return copy(dst, src)
	}
	head := int(-uintptr(unsafe.Pointer(unsafe.SliceData(dst))) & (lineBytes - 1))
	copy(dst[:head], src[:head])
	body := (n - head) &^ (blockBytes - 1)
	copyNonTemporal(unsafe.Pointer(&dst[head]), unsafe.Pointer(&src[head]), body)
	copy(dst[head+body:n], src[head+body:n])
	return n
}
