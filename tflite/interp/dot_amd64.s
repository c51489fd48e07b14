#include "textflag.h"

// func dot4AVX2(a, w *int16, kp int, acc *[4]int32)
// acc[j] = sum_{i<kp} a[i] * w[j*kp + i] for j = 0..3; kp is a positive multiple of 16.
TEXT ·dot4AVX2(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ kp+16(FP), CX
	MOVQ acc+24(FP), DX
	MOVQ CX, R8
	SHLQ $1, R8             // row stride in bytes
	LEAQ (DI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	XORQ AX, AX
	SHRQ $4, CX             // 16 values per iteration

loop:
	VMOVDQU (SI)(AX*1), Y4
	VPMADDWD (DI)(AX*1), Y4, Y5
	VPADDD Y5, Y0, Y0
	VPMADDWD (R9)(AX*1), Y4, Y6
	VPADDD Y6, Y1, Y1
	VPMADDWD (R10)(AX*1), Y4, Y7
	VPADDD Y7, Y2, Y2
	VPMADDWD (R11)(AX*1), Y4, Y8
	VPADDD Y8, Y3, Y3
	ADDQ $32, AX
	DECQ CX
	JNZ loop

	// Horizontal sums: after two rounds of pairwise adds each 128-bit lane holds
	// [s0, s1, s2, s3] partial sums; adding the two lanes gives the totals.
	VPHADDD Y1, Y0, Y0
	VPHADDD Y3, Y2, Y2
	VPHADDD Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VMOVDQU X0, (DX)
	VZEROUPPER
	RET

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv0() uint32
TEXT ·xgetbv0(SB), NOSPLIT, $0-4
	MOVL $0, CX
	XGETBV
	MOVL AX, ret+0(FP)
	RET

// func dwRowAVX2(acc *int32, x *int8, w *int32, off int32, c, npix, xstride int)
// For p < npix, ch < c: acc[p*c+ch] += w[ch] * (int32(x[p*xstride+ch]) + off).
// c is a positive multiple of 8, npix > 0.
TEXT ·dwRowAVX2(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DX
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVL off+24(FP), AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVQ c+32(FP), R8
	MOVQ npix+40(FP), R9
	MOVQ xstride+48(FP), R10
	SHRQ $3, R8

dwpix:
	MOVQ SI, R11
	MOVQ DI, R12
	MOVQ R8, CX

dwch:
	VPMOVSXBD (R11), Y0
	VPADDD Y15, Y0, Y0
	VPMULLD (R12), Y0, Y0
	VPADDD (DX), Y0, Y0
	VMOVDQU Y0, (DX)
	ADDQ $8, R11
	ADDQ $32, R12
	ADDQ $32, DX
	DECQ CX
	JNZ dwch
	ADDQ R10, SI
	DECQ R9
	JNZ dwpix
	VZEROUPPER
	RET

// func requantAVX2(acc, bias, mult, lsh, rsh *int32, out *int8, n int, params *[3]int32)
// out[i] = clamp(RDBPOT(srdhm((acc[i]+bias[i]) << lsh[i], mult[i]), rsh[i]) + zp, lo, hi)
// for i < n (a positive multiple of 8); params = {zp, lo, hi}; mult[i] >= 0.
TEXT ·requantAVX2(SB), NOSPLIT, $0-64
	MOVQ acc+0(FP), AX
	MOVQ bias+8(FP), BX
	MOVQ mult+16(FP), CX
	MOVQ lsh+24(FP), DX
	MOVQ rsh+32(FP), SI
	MOVQ out+40(FP), DI
	MOVQ n+48(FP), R8
	MOVQ params+56(FP), R9
	VPBROADCASTD (R9), Y13
	VPBROADCASTD 4(R9), Y14
	VPBROADCASTD 8(R9), Y15
	MOVQ $0x40000000, R10
	VMOVQ R10, X12
	VPBROADCASTQ X12, Y12          // 2^30
	MOVQ $0xFFFFFFFF80000001, R10
	VMOVQ R10, X11
	VPBROADCASTQ X11, Y11          // 1 - 2^31
	MOVQ $0x7FFFFFFF, R10
	VMOVQ R10, X10
	VPBROADCASTQ X10, Y10          // 2^31 - 1
	VPCMPEQD Y9, Y9, Y9
	VPSRLD $31, Y9, Y8             // 1 in every dword
	VPXOR Y9, Y9, Y9               // zero
	SHRQ $3, R8

rqloop:
	VMOVDQU (AX), Y0
	VPADDD (BX), Y0, Y0
	VMOVDQU (DX), Y1
	VPSLLVD Y1, Y0, Y0             // x = (acc + bias) << lsh
	VMOVDQU (CX), Y1
	VPMULDQ Y1, Y0, Y2             // even lanes: x*mult as int64
	VPSRLQ $32, Y0, Y3
	VPSRLQ $32, Y1, Y4
	VPMULDQ Y4, Y3, Y3             // odd lanes

	// srdhm: (p + nudge) / 2^31 truncated, nudge = 2^30 or 1-2^30 for p < 0.
	VPCMPGTQ Y2, Y9, Y4
	VPAND Y11, Y4, Y4
	VPADDQ Y12, Y4, Y4
	VPADDQ Y4, Y2, Y2
	VPCMPGTQ Y2, Y9, Y4
	VPAND Y10, Y4, Y4
	VPADDQ Y4, Y2, Y2
	VPSRLQ $31, Y2, Y2

	VPCMPGTQ Y3, Y9, Y5
	VPAND Y11, Y5, Y5
	VPADDQ Y12, Y5, Y5
	VPADDQ Y5, Y3, Y3
	VPCMPGTQ Y3, Y9, Y5
	VPAND Y10, Y5, Y5
	VPADDQ Y5, Y3, Y3
	VPSRLQ $31, Y3, Y3

	VPSLLQ $32, Y3, Y3
	VPBLENDD $0xAA, Y3, Y2, Y0     // v: even dwords from Y2, odd from Y3

	// Rounding divide by 2^e.
	VMOVDQU (SI), Y1
	VPSLLVD Y1, Y8, Y4
	VPSUBD Y8, Y4, Y4              // mask = 2^e - 1
	VPAND Y4, Y0, Y5               // remainder
	VPSRLD $1, Y4, Y6
	VPSRLD $31, Y0, Y7
	VPADDD Y7, Y6, Y6              // threshold = mask/2 + (v < 0)
	VPSRAVD Y1, Y0, Y0
	VPCMPGTD Y6, Y5, Y7            // remainder > threshold
	VPSUBD Y7, Y0, Y0

	VPADDD Y13, Y0, Y0
	VPMAXSD Y14, Y0, Y0
	VPMINSD Y15, Y0, Y0

	VPACKSSDW Y0, Y0, Y0
	VPACKSSWB Y0, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPUNPCKLDQ X1, X0, X0
	VMOVQ X0, (DI)

	ADDQ $32, AX
	ADDQ $32, BX
	ADDQ $32, CX
	ADDQ $32, DX
	ADDQ $32, SI
	ADDQ $8, DI
	DECQ R8
	JNZ rqloop
	VZEROUPPER
	RET
