// Package ntcopy copies bytes that no CPU will read soon — a write-behind ring's batches, which
// only the disk's DMA reads — with non-temporal stores, which go to memory without first reading
// each destination cache line (no read-for-ownership) and without evicting what the caches hold
// for the next batch: the socket window, the CRC's input.
//
// Invariants:
//   - Copy(dst, src) leaves dst[:n] equal to src[:n], n = min(len(dst), len(src)), on every CPU
//     and for every alignment and length; dst and src must not overlap.
//   - The non-temporal stores are fenced (SFENCE) before Copy returns, so a later store (a mutex
//     release, an atomic) orders after them as it would after an ordinary copy.
//   - Where the CPU lacks AVX2, or n is below MinBytes, Copy is the builtin copy.
//
// Allocation budget: none.
package ntcopy
