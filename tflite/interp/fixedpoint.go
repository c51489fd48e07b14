package interp

import (
	"math"
	"math/bits"

	"github.com/quantmcu/quantmcu/tflite/fixedpoint"
)

// This file holds the fixed-point primitives of TFLM's integer kernels, written from the rules
// in tensorflow/lite/kernels/internal/{common.h,common.cc,quantization_util.cc} and gemmlowp's
// fixedpoint.h (which TFLM's reference kernels include). TFLM builds with double rounding by
// default (TFLITE_SINGLE_ROUNDING unset); everything here follows that mode.

// quantizeMultiplier is TFLM's QuantizeMultiplier (package fixedpoint).
func quantizeMultiplier(m float64) (mult int32, shift int) {
	mult, shift, _ = fixedpoint.QuantizeMultiplier(m)
	return mult, shift
}

// srdhm is gemmlowp's SaturatingRoundingDoublingHighMul for int32: (a*b*2 + 2^31 rounding
// nudge toward +/- infinity) / 2^32 with truncating division; the only overflow,
// INT32_MIN*INT32_MIN, saturates to INT32_MAX.
func srdhm(a, b int32) int32 {
	if a == b && a == math.MinInt32 {
		return math.MaxInt32
	}
	ab := int64(a) * int64(b)
	nudge := int64(1 << 30)
	if ab < 0 {
		nudge = 1 - (1 << 30)
	}
	return int32((ab + nudge) / (1 << 31))
}

// roundingDivideByPOT is gemmlowp's RoundingDivideByPOT: arithmetic shift right by exponent
// (0..31), rounding to nearest with ties away from zero.
func roundingDivideByPOT(x int32, exponent int) int32 {
	mask := int32(int64(1)<<exponent - 1)
	remainder := x & mask
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	r := x >> exponent
	if remainder > threshold {
		r++
	}
	return r
}

// mulQuant is TFLM's MultiplyByQuantizedMultiplier (double-rounding variant, common.cc):
// shift > 0 multiplies x by 2^shift first (wrapping, as int32 arithmetic on the target),
// then srdhm by the Q31 multiplier, then a rounding right shift by -shift if shift < 0.
func mulQuant(x, mult int32, shift int) int32 {
	if shift > 0 {
		return srdhm(x*(int32(1)<<shift), mult)
	}
	return roundingDivideByPOT(srdhm(x, mult), -shift)
}

// saturatingRoundingMulByPOT is gemmlowp's SaturatingRoundingMultiplyByPOT<exponent> on int32:
// a saturating left shift for exponent > 0, a rounding right shift for exponent < 0.
func saturatingRoundingMulByPOT(x int32, exponent int) int32 {
	switch {
	case exponent > 0:
		threshold := int32(1)<<(31-exponent) - 1
		if x > threshold {
			return math.MaxInt32
		}
		if x < -threshold {
			return math.MinInt32
		}
		return x << exponent
	case exponent < 0:
		return roundingDivideByPOT(x, -exponent)
	}
	return x
}

// expOnIntervalNegQuarterTo0 is gemmlowp's exp_on_interval_between_negative_one_quarter_and_0_excl
// on Q0.31 values: a Taylor expansion around -1/8.
func expOnIntervalNegQuarterTo0(a int32) int32 {
	const constantTerm = 1895147668 // exp(-1/8) in Q0.31
	const oneThird = 715827883      // 1/3 in Q0.31
	x := a + 1<<28                  // a + 1/8
	x2 := srdhm(x, x)
	x3 := srdhm(x2, x)
	x4 := srdhm(x2, x2)
	x4over4 := saturatingRoundingMulByPOT(x4, -2)
	poly := saturatingRoundingMulByPOT(srdhm(x4over4+x3, oneThird)+x2, -1)
	return constantTerm + srdhm(constantTerm, x+poly)
}

// expOnNegativeValues is gemmlowp's exp_on_negative_values for an input with integerBits
// integer bits (Q(integerBits).(31-integerBits)); the result is Q0.31.
func expOnNegativeValues(a int32, integerBits int) int32 {
	fractionalBits := 31 - integerBits
	oneQuarter := int32(1) << (fractionalBits - 2)
	mask := oneQuarter - 1
	aModQuarterMinusQuarter := (a & mask) - oneQuarter
	result := expOnIntervalNegQuarterTo0(saturatingRoundingMulByPOT(aModQuarterMinusQuarter, integerBits))
	remainder := aModQuarterMinusQuarter - a
	// Barrel shifter: multiply by exp(-2^k) for every bit k of the remainder.
	multipliers := [...]struct {
		exponent int
		mult     int32
	}{{-2, 1672461947}, {-1, 1302514674}, {0, 790015084}, {1, 290630308}, {2, 39332535}, {3, 720401}, {4, 242}}
	for _, bm := range multipliers {
		if integerBits > bm.exponent {
			shiftAmount := fractionalBits + bm.exponent
			if remainder&(int32(1)<<shiftAmount) != 0 {
				result = srdhm(result, bm.mult)
			}
		}
	}
	if integerBits > 5 {
		clamp := -(int32(1) << (36 - integerBits)) // -32.0
		if a < clamp {
			result = 0
		}
	}
	if a == 0 {
		result = math.MaxInt32
	}
	return result
}

// oneOverOnePlusXForXIn01 is gemmlowp's one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out):
// Newton-Raphson division with three iterations in Q2.29.
func oneOverOnePlusXForXIn01(a int32) int32 {
	halfDenominator := roundingHalfSum(a, math.MaxInt32)
	const c48over17 = 1515870810
	const cNeg32over17 = -1010580540
	const oneQ2 = int32(1) << 29
	x := c48over17 + srdhm(halfDenominator, cNeg32over17)
	for range 3 {
		hdx := srdhm(halfDenominator, x)
		oneMinus := oneQ2 - hdx
		x = x + saturatingRoundingMulByPOT(srdhm(x, oneMinus), 2)
	}
	// ExactMulByPot<-1> turns Q2.29 into Q1.30 with the same raw value; Rescale<0> then
	// shifts left by one with saturation.
	return saturatingRoundingMulByPOT(x, 1)
}

func roundingHalfSum(a, b int32) int32 {
	sum := int64(a) + int64(b)
	sign := int64(1)
	if sum < 0 {
		sign = -1
	}
	return int32((sum + sign) / 2)
}

// logisticFixed is gemmlowp's logistic() for a Q(integerBits) input, returning Q0.31.
func logisticFixed(a int32, integerBits int) int32 {
	if a == 0 {
		return 1 << 30 // one half
	}
	abs := a
	if a < 0 {
		abs = -a
	}
	pos := oneOverOnePlusXForXIn01(expOnNegativeValues(-abs, integerBits))
	if a > 0 {
		return pos
	}
	return math.MaxInt32 - pos
}

// getReciprocal is TFLM common.h GetReciprocal: 1/x for a positive fixed-point x with
// xIntegerDigits integer bits, as a Q0.31 scale and the number of bits above one.
func getReciprocal(x int32, xIntegerDigits int) (scale int32, numBitsOverUnit int) {
	headroomPlusOne := bits.LeadingZeros32(uint32(x))
	numBitsOverUnit = xIntegerDigits - headroomPlusOne
	shiftedSumMinusOne := int32((uint32(x) << headroomPlusOne) - (uint32(1) << 31))
	return oneOverOnePlusXForXIn01(shiftedSumMinusOne), numBitsOverUnit
}
