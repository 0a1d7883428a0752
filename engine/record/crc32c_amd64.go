package record

import "golang.org/x/sys/cpu"

// useFold: the CPU and the OS support 512-bit registers and carry-less multiplies on them
// (x/sys/cpu sets the AVX-512 flags only when the OS saves their state). CRC32 (SSE4.2) ends the
// fold.
var useFold = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasSSE42

// foldCastagnoli returns the raw (not inverted) CRC32C state after p, starting from state crc.
// len(p) must be a multiple of foldStepBytes and at least foldStepBytes.
//
//go:noescape
func foldCastagnoli(crc uint32, p []byte) uint32
