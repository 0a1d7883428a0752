package ntcopy

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useNonTemporal: the CPU has AVX2 (x/sys/cpu sets it only when the OS saves the registers).
var useNonTemporal = cpu.X86.HasAVX2

// copyNonTemporal copies n bytes, a positive multiple of blockBytes, from src to dst (which is
// lineBytes-aligned) with 32-byte non-temporal stores, then SFENCE.
//
//go:noescape
func copyNonTemporal(dst, src unsafe.Pointer, n int)
