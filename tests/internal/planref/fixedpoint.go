package planref

import "math"

// The fixed-point rules below are gemmlowp's (fixedpoint.h) as TFLite uses them in
// MultiplyByQuantizedMultiplier (kernels/internal/common.h), with TFLM's default double
// rounding. Products are taken in int64 and truncated toward zero exactly as the C integer
// division does; x * 2^left wraps in int32 like the compiled C.

// saturatingRoundingDoublingHighMul returns the high 32 bits of 2*a*b, rounded to nearest
// (ties away from zero), saturating the single overflowing case a = b = INT32_MIN.
func saturatingRoundingDoublingHighMul(a, b int32) int32 {
	if a == math.MinInt32 && b == math.MinInt32 {
		return math.MaxInt32
	}
	ab := int64(a) * int64(b)
	nudge := int64(1 << 30)
	if ab < 0 {
		nudge = 1 - (1 << 30)
	}
	return int32((ab + nudge) / (1 << 31)) // Go's / truncates toward zero, like C's
}

// roundingDivideByPOT returns x / 2^exponent rounded to nearest, ties away from zero.
func roundingDivideByPOT(x int32, exponent int) int32 {
	mask := int32((int64(1) << exponent) - 1)
	remainder := x & mask
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	q := x >> exponent // arithmetic shift, as for signed int32 in the C
	if remainder > threshold {
		q++
	}
	return q
}

// MultiplyByQuantizedMultiplier is TFLite's x * m * 2^(shift-31) with double rounding:
// shift > 0 is a left shift of x before the high multiplication, shift < 0 a rounding
// right shift after it.
func MultiplyByQuantizedMultiplier(x, m, shift int32) int32 {
	left, right := 0, 0
	if shift > 0 {
		left = int(shift)
	} else {
		right = int(-shift)
	}
	return roundingDivideByPOT(saturatingRoundingDoublingHighMul(x*(int32(1)<<left), m), right)
}

// multiplyByQuantizedMultiplierSmallerThanOneExp is TFLite's variant for shift <= 0 (ADD).
func multiplyByQuantizedMultiplierSmallerThanOneExp(x, m, shift int32) int32 {
	return roundingDivideByPOT(saturatingRoundingDoublingHighMul(x, m), int(-shift))
}
