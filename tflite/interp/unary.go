package interp

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// This file holds the one-input element-wise operators TANH, ELU, EXP, RSQRT, ABS, NEG and
// CAST. int8 forms depend on the input value only and are tabulated at preparation.

// sameTypeUnary checks one input and one output of the same type among types and size.
func (c *prep) sameTypeUnary(types ...schema.TensorType) (in, out int, err error) {
	if err = c.counts(1, 1, 1); err != nil {
		return
	}
	in, _ = c.in(0)
	out, _ = c.out(0)
	if err = c.wantType(in, types...); err != nil {
		return
	}
	if c.info(out).Type != c.info(in).Type {
		err = c.errorf("%s: type differs from the input", c.desc(out))
		return
	}
	if c.elements(in) != c.elements(out) {
		err = c.errorf("input %s and output %s sizes differ", c.desc(in), c.desc(out))
	}
	return
}

// tanh: TFLM tanh.cc. int8: input multiplier frexp(s_in * 2^27) rounded to Q31, inputs
// beyond CalculateInputRadius(4, shift) saturate, others go through gemmlowp's tanh in
// Q4.27 and are rounded to 7 fractional bits (the output is assumed scale 1/128, zero
// point 0). float32: std::tanh.
func (c *prep) tanh() (kernel, error) {
	in, out, err := c.sameTypeUnary(schema.TensorTypeINT8, schema.TensorTypeFLOAT32, schema.TensorTypeINT16)
	if err != nil {
		return nil, err
	}
	switch c.info(in).Type {
	case schema.TensorTypeFLOAT32:
		return unaryLoop(in, out, func(v float32) float32 { return tanhf(v) }), nil
	case schema.TensorTypeINT16:
		return c.sigmoid16(in, out, true)
	}
	qi, err := c.quant8(in)
	if err != nil {
		return nil, err
	}
	mult, shift, radius := q4Multiplier(qi.scale)
	return c.table(in, out, func(v int32) int32 {
		d := v - qi.zp
		if d <= -radius {
			return math.MinInt8
		}
		if d >= radius {
			return math.MaxInt8
		}
		q := tanhFixed(mulQuant(d, mult, shift), 4)
		return clampI32(roundingDivideByPOT(q, 31-7), math.MinInt8, math.MaxInt8)
	}), nil
}

// q4Multiplier is the input scaling of the int8 logistic and tanh kernels: frexp of
// s_in * 2^27 rounded to Q31 (not renormalised), and CalculateInputRadius(4, shift, 31).
func q4Multiplier(scale float32) (mult int32, shift int, radius int32) {
	const inputIntegerBits = 4
	real := float64(scale) * float64(int64(1)<<(31-inputIntegerBits))
	frac, shift := math.Frexp(real)
	mult = int32(int64(math.Round(frac * (1 << 31))))
	radius = int32(math.Floor(float64((int64(1)<<inputIntegerBits)-1) * float64(int64(1)<<(31-inputIntegerBits)) / math.Ldexp(1, shift)))
	return mult, shift, radius
}

// tanhFixed is gemmlowp's tanh for a Q(integerBits) input, returning Q0.31:
// -(1 - e)/(1 + e) with e = exp(2a) for a < 0, by symmetry otherwise.
func tanhFixed(a int32, integerBits int) int32 {
	if a == 0 {
		return 0
	}
	n := a
	if a > 0 {
		n = -a
	}
	// ExactMulByPot<1>: the same raw value read with one more integer bit.
	t := oneMinusXOverOnePlusXForXIn01(expOnNegativeValues(n, integerBits+1))
	if a < 0 {
		return -t
	}
	return t
}

// oneMinusXOverOnePlusXForXIn01 is gemmlowp's one_minus_x_over_one_plus_x_for_x_in_0_1:
// Newton-Raphson for 1/(1+a) in Q2.29, then (x - 1) rescaled to Q0.31.
func oneMinusXOverOnePlusXForXIn01(a int32) int32 {
	halfDenominator := roundingHalfSum(a, math.MaxInt32)
	const c48over17 = 1515870810
	const cNeg32over17 = -1010580540
	const oneQ2 = int32(1) << 29
	x := c48over17 + srdhm(halfDenominator, cNeg32over17)
	for range 3 {
		hdx := srdhm(halfDenominator, x)
		x = x + saturatingRoundingMulByPOT(srdhm(x, oneQ2-hdx), 2)
	}
	return saturatingRoundingMulByPOT(x-oneQ2, 2)
}

// elu: TFLM elu.cc. int8 through its lookup table: dequantize in float, x < 0 ? exp(x) - 1
// : x, round(y / s_out) + zp_out (float), clamped. float32: the same function.
func (c *prep) elu() (kernel, error) {
	in, out, err := c.sameTypeUnary(schema.TensorTypeINT8, schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	f := func(v float32) float32 {
		if v < 0 {
			return expf(v) - 1
		}
		return v
	}
	if c.info(in).Type == schema.TensorTypeFLOAT32 {
		// reference_ops::Elu: expm1 for negative values (the int8 table uses exp - 1).
		return unaryLoop(in, out, func(v float32) float32 {
			if v < 0 {
				return expm1f(v)
			}
			return v
		}), nil
	}
	qi, err := c.quant8(in)
	if err != nil {
		return nil, err
	}
	qo, err := c.quant8(out)
	if err != nil {
		return nil, err
	}
	return c.floatTable(in, out, qi, qo, f), nil
}

// floatTable is TFLM's PopulateLookupTable for int8: dequantized = s_in * (v - zp_in)
// (float), y = f(dequantized), round(y * (1 / s_out)) + zp_out, clamped.
func (c *prep) floatTable(in, out int, qi, qo qparams, f func(float32) float32) *lutKernel {
	inv := 1 / qo.scale
	return c.table(in, out, func(v int32) int32 {
		d := qi.scale * float32(v-qi.zp)
		r := float32(math.Round(float64(f(d) * inv)))
		return roundToInt32(r + float32(qo.zp))
	})
}

// exp: TFLM exp.cc supports float32 only (std::exp).
func (c *prep) exp() (kernel, error) {
	in, out, err := c.sameTypeUnary(schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	return unaryLoop(in, out, func(v float32) float32 { return expf(v) }), nil
}

// neg: TFLM neg.cc supports float32 only.
func (c *prep) neg() (kernel, error) {
	in, out, err := c.sameTypeUnary(schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	return unaryLoop(in, out, func(v float32) float32 { return -v }), nil
}

// abs: TFLM elementwise.cc AbsEvalQuantized: |x - zp_in|, rescaled by
// QuantizeMultiplier(float(s_in / s_out)) when the scales differ, + zp_out, clamped. int16
// without quantization is a plain abs; float32 std::abs.
func (c *prep) abs() (kernel, error) {
	in, out, err := c.sameTypeUnary(schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	ty := c.info(in).Type
	if ty == schema.TensorTypeFLOAT32 {
		return unaryLoop(in, out, func(v float32) float32 { return float32(math.Abs(float64(v))) }), nil
	}
	if ty == schema.TensorTypeINT16 && len(c.info(in).Scale) == 0 {
		return unaryLoop(in, out, func(v int16) int16 {
			if v < 0 {
				return -v
			}
			return v
		}), nil
	}
	qi, qo, err := c.quant2(in, out)
	if err != nil {
		return nil, err
	}
	if ty == schema.TensorTypeINT16 && (qi.zp != 0 || qo.zp != 0) {
		return nil, c.errorf("int16 zero points must be 0")
	}
	rescale := qi.scale != qo.scale
	mult, shift := quantizeMultiplier(float64(qi.scale / qo.scale))
	lo, hi := intRange(ty)
	f := func(v int32) int32 {
		a := v - qi.zp
		if a < 0 {
			a = -a
		}
		if rescale {
			a = mulQuant(a, mult, shift)
		}
		return clampI32(a+qo.zp, lo, hi)
	}
	if ty == schema.TensorTypeINT8 {
		return c.table(in, out, f), nil
	}
	return unaryLoop(in, out, func(v int16) int16 { return int16(f(int32(v))) }), nil
}

func (c *prep) quant2(a, b int) (qa, qb qparams, err error) {
	if qa, err = c.quant(a); err != nil {
		return
	}
	qb, err = c.quant(b)
	return
}

// rsqrt: TFLM elementwise.cc RsqrtEvalQuantized (int8, int16): v = x - zp_in; 0 gives the
// type's maximum; otherwise GetInvSqrtQuantizedMultiplierExp(v), applied to 1 with a
// 20-bit headroom shift, then QuantizeMultiplier(1 / (sqrt(s_in) * s_out)) with the shift
// taken back, + zp_out, clamped. Inputs below the zero point fail ("Rsqrt is only defined
// for positive values"). float32: 1 / sqrt(x).
func (c *prep) rsqrt() (kernel, error) {
	in, out, err := c.sameTypeUnary(schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	ty := c.info(in).Type
	if ty == schema.TensorTypeFLOAT32 {
		return unaryLoop(in, out, func(v float32) float32 { return 1 / float32(math.Sqrt(float64(v))) }), nil
	}
	qi, qo, err := c.quant2(in, out)
	if err != nil {
		return nil, err
	}
	if ty == schema.TensorTypeINT16 && (qi.zp != 0 || qo.zp != 0) {
		return nil, c.errorf("int16 zero points must be 0")
	}
	mult, shift := quantizeMultiplier(1 / float64(float32(math.Sqrt(float64(qi.scale)))*qo.scale))
	lo, hi := intRange(ty)
	const kShift = 20
	f := func(v int32) int32 {
		d := v - qi.zp
		if d == 0 {
			return hi
		}
		im, is := invSqrtMultiplierExp(d)
		data := mulQuant(1, im, is+kShift)
		return clampI32(mulQuant(data, mult, shift-kShift)+qo.zp, lo, hi)
	}
	load, store := intLoader(ty), intStorer(ty)
	return kernelFunc(func(x *execCtx) {
		src, dst := x.data[in], x.data[out]
		n := len(src) / storeSize(ty)
		for i := range n {
			v := load(src, i)
			if v < qi.zp {
				x.err = fmt.Errorf("Rsqrt is only defined for positive values")
				return
			}
			store(dst, i, f(v))
		}
	}), nil
}

// invSqrtMultiplierExp is TFLM common.h GetInvSqrtQuantizedMultiplierExp with
// reverse_shift -1: 1/sqrt(input) as a Q31 multiplier and a shift, by five Newton steps in
// Q3.28.
func invSqrtMultiplierExp(input int32) (int32, int) {
	if input <= 1 {
		return math.MaxInt32, 0
	}
	shift := 11
	for input >= 1<<29 {
		input /= 4
		shift++
	}
	maxLeftShiftBits := bits.LeadingZeros32(uint32(input)) - 1
	pairs := maxLeftShiftBits/2 - 1
	shift -= pairs
	input <<= 2 * pairs
	fx := input >> 1                                // Q3.28
	halfInput := saturatingRoundingMulByPOT(fx, -1) // input / 2
	const halfThree = int32(1<<28 + 1<<27)          // 1.5 in Q3.28
	x := int32(1 << 28)                             // 1.0 in Q3.28
	for range 5 {
		x3 := saturatingRoundingMulByPOT(srdhm(srdhm(x, x), x), 6) // Q9 -> Q3
		x = saturatingRoundingMulByPOT(srdhm(halfThree, x)-srdhm(halfInput, x3), 3)
	}
	const halfSqrt2 = 1518500250 // sqrt(2)/2 in Q0.31
	x = srdhm(x, halfSqrt2)
	if shift < 0 {
		x <<= -shift
		shift = 0
	}
	return x, -shift
}

// cast: TFLM cast.cc: a C static_cast between int8, int16, int32, uint32 (read), bool
// (read) and float32. Float to integer truncates toward zero (x86-64's cvttss2si, whose
// out-of-range result is INT32_MIN) and then narrows.
func (c *prep) cast() (kernel, error) {
	if err := c.counts(1, 1, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	out, _ := c.out(0)
	if err := c.wantType(in, schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeUINT32, schema.TensorTypeFLOAT32, schema.TensorTypeBOOL); err != nil {
		return nil, err
	}
	if err := c.wantType(out, schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeUINT32, schema.TensorTypeFLOAT32); err != nil {
		return nil, err
	}
	if c.elements(in) != c.elements(out) {
		return nil, c.errorf("input %s and output %s sizes differ", c.desc(in), c.desc(out))
	}
	it, ot := c.info(in).Type, c.info(out).Type
	n := c.elements(out)
	osize := tflite.ElementBits(ot) / 8
	var load func(b []byte, i int) (int64, float32, bool)
	switch it {
	case schema.TensorTypeFLOAT32:
		load = func(b []byte, i int) (int64, float32, bool) { return 0, view[float32](b)[i], true }
	case schema.TensorTypeUINT32:
		load = func(b []byte, i int) (int64, float32, bool) { return int64(view[uint32](b)[i]), 0, false }
	default:
		l := intLoader(it)
		load = func(b []byte, i int) (int64, float32, bool) { return int64(l(b, i)), 0, false }
	}
	return kernelFunc(func(x *execCtx) {
		src, dst := x.data[in], x.data[out]
		for i := range n {
			iv, fv, isF := load(src, i)
			if ot == schema.TensorTypeFLOAT32 {
				if !isF {
					fv = float32(iv)
				}
				view[float32](dst)[i] = fv
				continue
			}
			if isF {
				iv = int64(truncToInt32(fv))
			}
			switch osize {
			case 1:
				dst[i] = byte(iv)
			case 2:
				dst[2*i], dst[2*i+1] = byte(iv), byte(iv>>8)
			default:
				dst[4*i], dst[4*i+1], dst[4*i+2], dst[4*i+3] = byte(iv), byte(iv>>8), byte(iv>>16), byte(iv>>24)
			}
		}
	}), nil
}

// truncToInt32 is cvttss2si: truncation toward zero, INT32_MIN when out of range or NaN.
func truncToInt32(f float32) int32 {
	t := math.Trunc(float64(f))
	if math.IsNaN(t) || t < math.MinInt32 || t > math.MaxInt32 {
		return math.MinInt32
	}
	return int32(t)
}
