//go:build !amd64

package interp

func dot4(a, w []int16, kp int, acc *[4]int32) { dot4Generic(a, w, kp, acc) }

func dwRow(acc []int32, x []int8, w []int32, off int32, c, npix, xstride int) {
	dwRowGeneric(acc, x, w, off, c, npix, xstride)
}

func requantVector(acc, bias []int32, r *requant, ch0 int, out []int8) int { return 0 }
