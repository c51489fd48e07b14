// Package fixedpoint holds the quantization arithmetic shared by the interpreter and the
// rewriter, written from TFLM's quantization_util.cc.
package fixedpoint

import "math"

// QuantizeMultiplier splits a real multiplier into a Q31 significand and a power-of-two
// exponent, real ~= mult * 2^(shift-31), as TFLM's QuantizeMultiplier does: frexp gives
// q in [0.5, 1); significand = round-half-away(q * 2^31); a significand of exactly 2^31 is
// halved and the exponent incremented; exponents below -31 flush the multiplier to zero.
// Negative multipliers give a negative significand, as in TFLM. ok is false for a non-finite
// multiplier and for exponents above 31, which no int32 kernel can apply (TFLM would
// misbehave); the values are TFLM's anyway.
func QuantizeMultiplier(real float64) (mult int32, shift int, ok bool) {
	if real == 0 {
		return 0, 0, true
	}
	if math.IsNaN(real) || math.IsInf(real, 0) {
		return 0, 0, false
	}
	q, e := math.Frexp(real)
	fixed := int64(math.Round(q * (1 << 31)))
	if fixed == 1<<31 {
		fixed /= 2
		e++
	}
	if e < -31 {
		return 0, 0, true
	}
	return int32(fixed), e, e <= 31
}
