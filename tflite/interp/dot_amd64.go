package interp

// Hand-written AVX2 kernels (dot_amd64.s) for the int16 dot products of CONV_2D and
// FULLY_CONNECTED. VPMADDWD multiplies int16 pairs and adds adjacent products into int32
// lanes; with int8-range operands no step can overflow, and int32 lane sums wrap exactly as
// the scalar loop does, so results equal dot4Generic bit for bit.

//go:noescape
func dot4AVX2(a, w *int16, kp int, acc *[4]int32)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func xgetbv0() uint32

// hasAVX2 reports whether the CPU and OS support AVX2 (CPUID leaf 7 EBX bit 5, with AVX and
// OSXSAVE set in leaf 1 and the OS saving YMM state per XCR0).
var hasAVX2 = detectAVX2()

func detectAVX2() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const osxsave, avx = 1 << 27, 1 << 28
	if ecx1&osxsave == 0 || ecx1&avx == 0 || xgetbv0()&6 != 6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0
}

// dot4 computes the dot products of a (length kp, a multiple of 16) with four consecutive
// rows of w of length kp each.
func dot4(a, w []int16, kp int, acc *[4]int32) {
	if hasAVX2 && kp >= 16 && kp%16 == 0 && len(a) >= kp && len(w) >= 4*kp {
		dot4AVX2(&a[0], &w[0], kp, acc)
		return
	}
	dot4Generic(a, w, kp, acc)
}

//go:noescape
func dwRowAVX2(acc *int32, x *int8, w *int32, off int32, c, npix, xstride int)

// dwRow is dwRowGeneric, on AVX2 when the channel count is a multiple of 8. VPMULLD keeps
// the low 32 bits of each product, exactly the int32 product of the scalar code.
func dwRow(acc []int32, x []int8, w []int32, off int32, c, npix, xstride int) {
	if hasAVX2 && c >= 8 && c%8 == 0 && npix > 0 && len(acc) >= npix*c && len(w) >= c && len(x) >= (npix-1)*xstride+c {
		dwRowAVX2(&acc[0], &x[0], &w[0], off, c, npix, xstride)
		return
	}
	dwRowGeneric(acc, x, w, off, c, npix, xstride)
}

//go:noescape
func requantAVX2(acc, bias, mult, lsh, rsh *int32, out *int8, n int, params *[3]int32)

// requantVector requantizes the longest multiple-of-8 prefix with AVX2 and returns its
// length (0 without AVX2). Lane by lane it performs requant.row's integer steps: 64-bit
// products (VPMULDQ), the srdhm nudge and truncating division by 2^31, the rounding shift.
func requantVector(acc, bias []int32, r *requant, ch0 int, out []int8) int {
	n := len(out) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	params := [3]int32{r.outZp, r.actMin, r.actMax}
	requantAVX2(&acc[0], &bias[0], &r.mult[ch0], &r.lshift[ch0], &r.rshift[ch0], &out[0], n, &params)
	return n
}
