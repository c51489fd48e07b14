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
