//go:build !amd64

package ntcopy

import "unsafe"

const useNonTemporal = false

func copyNonTemporal(dst, src unsafe.Pointer, n int) {
	panic("ntcopy: no non-temporal copy on this architecture")
}
