#include "textflag.h"

// func copyNonTemporal(dst, src unsafe.Pointer, n int)
//
// 128 bytes per iteration: four unaligned 32-byte loads, four VMOVNTDQ stores to the aligned
// destination. SFENCE makes the stores globally visible before anything the caller stores next.
TEXT ·copyNonTemporal(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

loop:
	VMOVDQU  0(SI), Y0
	VMOVDQU  32(SI), Y1
	VMOVDQU  64(SI), Y2
	VMOVDQU  96(SI), Y3
	VMOVNTDQ Y0, 0(DI)
	VMOVNTDQ Y1, 32(DI)
	VMOVNTDQ Y2, 64(DI)
	VMOVNTDQ Y3, 96(DI)
	ADDQ     $128, SI
	ADDQ     $128, DI
	SUBQ     $128, CX
	JNZ      loop

	SFENCE
	VZEROUPPER
	RET
