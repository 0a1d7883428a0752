#include "textflag.h"

// func foldCastagnoli(crc uint32, p []byte) uint32
//
// CRC32C by folding (Intel's "Fast CRC Computation Using PCLMULQDQ", on 512-bit registers).
// Z0–Z3 hold 256 bytes as sixteen 128-bit lanes; each step moves every lane 256 bytes along the
// message (multiplying by castagnoliFoldKeys[0]) and adds the next 256 bytes. At the end the
// four registers are folded into Z3, Z3's lanes into one 128-bit value, and that value's CRC is
// the message's: two CRC32 instructions from state zero. len(p) is a multiple of 256, >= 256.
//
// Register use: AX state, SI data, CX bytes left, Z16 main key, Z17 register-to-register key,
// Z18 per-lane keys, Z4–Z7 products.
TEXT ·foldCastagnoli(SB), NOSPLIT, $0-36
	MOVL crc+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX

	VBROADCASTI32X4 ·castagnoliFoldKeys+0(SB), Z16
	VBROADCASTI32X4 ·castagnoliFoldKeys+16(SB), Z17
	VMOVDQU64 ·castagnoliFoldKeys+32(SB), Z18

	// The state enters as the first 32 message bits' complement mask (a reflected CRC's
	// initial value is xored into the message's first four bytes).
	VMOVDQU64 0(SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VMOVD     AX, X4
	VPXORQ    Z4, Z0, Z0
	ADDQ      $256, SI
	SUBQ      $256, CX

loop:
	CMPQ CX, $256
	JB   reduce
	VPCLMULQDQ $0x00, Z16, Z0, Z4
	VPCLMULQDQ $0x11, Z16, Z0, Z0
	VPTERNLOGD $0x96, 0(SI), Z4, Z0
	VPCLMULQDQ $0x00, Z16, Z1, Z5
	VPCLMULQDQ $0x11, Z16, Z1, Z1
	VPTERNLOGD $0x96, 64(SI), Z5, Z1
	VPCLMULQDQ $0x00, Z16, Z2, Z6
	VPCLMULQDQ $0x11, Z16, Z2, Z2
	VPTERNLOGD $0x96, 128(SI), Z6, Z2
	VPCLMULQDQ $0x00, Z16, Z3, Z7
	VPCLMULQDQ $0x11, Z16, Z3, Z3
	VPTERNLOGD $0x96, 192(SI), Z7, Z3
	ADDQ       $256, SI
	SUBQ       $256, CX
	JMP        loop

reduce:
	// Z0 onto Z1, Z1 onto Z2, Z2 onto Z3: 512 bits each.
	VPCLMULQDQ $0x00, Z17, Z0, Z4
	VPCLMULQDQ $0x11, Z17, Z0, Z5
	VPTERNLOGD $0x96, Z4, Z5, Z1
	VPCLMULQDQ $0x00, Z17, Z1, Z4
	VPCLMULQDQ $0x11, Z17, Z1, Z5
	VPTERNLOGD $0x96, Z4, Z5, Z2
	VPCLMULQDQ $0x00, Z17, Z2, Z4
	VPCLMULQDQ $0x11, Z17, Z2, Z5
	VPTERNLOGD $0x96, Z4, Z5, Z3

	// Z3's lanes 0–2 onto lane 3 (lane 3's key is zero; it is added below as it is).
	VPCLMULQDQ     $0x00, Z18, Z3, Z4
	VPCLMULQDQ     $0x11, Z18, Z3, Z5
	VPXORQ         Z5, Z4, Z4
	VEXTRACTI32X4  $3, Z3, X6
	VEXTRACTI64X4  $1, Z4, Y7
	VPXOR          Y7, Y4, Y4
	VEXTRACTI128   $1, Y4, X7
	VPXOR          X7, X4, X4
	VPXOR          X6, X4, X4

	// The 128 bits left have the message's CRC: run them through CRC32 from zero.
	VMOVQ   X4, R8
	VPEXTRQ $1, X4, R9
	XORL    AX, AX
	CRC32Q  R8, AX
	CRC32Q  R9, AX
	VZEROUPPER
	MOVL    AX, ret+32(FP)
	RET
