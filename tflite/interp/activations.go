package interp

import (
	"math"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// lutKernel applies a precomputed int8 -> int8 table. Every int8 activation below depends
// on the input value only, so preparation evaluates TFLM's exact per-element arithmetic for
// all 256 inputs and Invoke just looks the results up.
type lutKernel struct {
	in, out int
	table   [256]int8
}

func (k *lutKernel) run(x *execCtx) {
	in, out := x.data[k.in], x.data[k.out]
	in = in[:len(out)]
	for i, v := range in {
		out[i] = byte(k.table[v^0x80])
	}
}

// unaryInt8 checks the common shape of the element-wise int8 activations.
func (c *prep) unaryInt8() (in, out int, qi, qo qparams, err error) {
	if err = c.counts(1, 1, 1); err != nil {
		return
	}
	in, _ = c.in(0)
	out, _ = c.out(0)
	for _, t := range []int{in, out} {
		if err = c.wantType(t, schema.TensorTypeINT8); err != nil {
			return
		}
	}
	if c.elements(in) != c.elements(out) {
		err = c.errorf("input %s and output %s sizes differ", c.desc(in), c.desc(out))
		return
	}
	if qi, err = c.quant8(in); err != nil {
		return
	}
	qo, err = c.quant8(out)
	return
}

func (c *prep) table(in, out int, f func(v int32) int32) *lutKernel {
	k := &lutKernel{in: in, out: out}
	for v := -128; v < 128; v++ {
		k.table[v+128] = int8(clampI32(f(int32(v)), -128, 127))
	}
	return k
}

// logistic: TFLM logistic_common.cc and reference_integer_ops::Logistic (int8). The input
// multiplier is frexp(scale * 2^27) rounded to Q31 (no renormalisation when it rounds to
// 2^31); inputs beyond the radius saturate; others go through gemmlowp's logistic in Q4.27
// and are rounded to 8 fractional bits, minus 128. The output scale is assumed 1/256.
func (c *prep) logistic() (kernel, error) {
	in, out, qi, qo, err := c.unaryInt8()
	if err != nil {
		return nil, err
	}
	if qo.zp != -128 {
		return nil, c.errorf("int8 output zero point must be -128 (has %d)", qo.zp)
	}
	const inputIntegerBits = 4
	real := float64(qi.scale) * float64(int64(1)<<(31-inputIntegerBits))
	frac, shift := math.Frexp(real)
	mult := int32(int64(math.Round(frac * (1 << 31))))
	radius := int32(math.Floor(float64((int64(1)<<inputIntegerBits)-1) * float64(int64(1)<<(31-inputIntegerBits)) / math.Ldexp(1, shift)))
	return c.table(in, out, func(v int32) int32 {
		d := v - qi.zp
		if d <= -radius {
			return -128
		}
		if d >= radius {
			return 127
		}
		q4 := mulQuant(d, mult, shift)
		r := roundingDivideByPOT(logisticFixed(q4, inputIntegerBits), 31-8)
		return r - 128
	}), nil
}

// relu: TFLM activations_common.cc CalculateReluOpData / ReluQuantized: requantize with
// QuantizeMultiplier(float(s_in / s_out)) and clamp to [max(-128, zp_out + round(0/s_out)), 127].
func (c *prep) relu() (kernel, error) {
	if t := c.firstInputType(); t == schema.TensorTypeFLOAT32 || t == schema.TensorTypeINT16 {
		return c.reluOther(false)
	}
	in, out, qi, qo, err := c.unaryInt8()
	if err != nil {
		return nil, err
	}
	mult, shift := quantizeMultiplier(float64(qi.scale / qo.scale))
	lo := max(-128, qo.zp)
	return c.table(in, out, func(v int32) int32 {
		r := qo.zp + mulQuant(v-qi.zp, mult, shift)
		return clampI32(r, lo, 127)
	}), nil
}

// relu6: TFLM Relu6Prepare / Relu6Quantized: clamp to [zp_in, quantized 6.0] in the input's
// quantization (the output's parameters are not used).
func (c *prep) relu6() (kernel, error) {
	if t := c.firstInputType(); t == schema.TensorTypeFLOAT32 || t == schema.TensorTypeINT16 {
		return c.reluOther(true)
	}
	in, out, qi, _, err := c.unaryInt8()
	if err != nil {
		return nil, err
	}
	six := int32(math.Round(float64(6/qi.scale))) + qi.zp
	six = clampI32(six, -128, 127)
	lo := qi.zp
	return c.table(in, out, func(v int32) int32 {
		if v > six {
			return six
		}
		if v < lo {
			return lo
		}
		return v
	}), nil
}

// leakyRelu: TFLM leaky_relu_common.cc / reference_ops::QuantizeLeakyRelu: identity and alpha
// multipliers from QuantizeMultiplier(float products); negative alpha handled by negating.
func (c *prep) leakyRelu() (kernel, error) {
	alpha := float32(0)
	if o, ok := c.options().(*schema.LeakyReluOptionsT); ok && o != nil {
		alpha = o.Alpha
	}
	if t := c.firstInputType(); t == schema.TensorTypeFLOAT32 || t == schema.TensorTypeINT16 {
		return c.leakyReluOther(alpha)
	}
	in, out, qi, qo, err := c.unaryInt8()
	if err != nil {
		return nil, err
	}
	alphaMult, alphaShift := quantizeMultiplier(float64(qi.scale * alpha / qo.scale))
	idMult, idShift := quantizeMultiplier(float64(qi.scale / qo.scale))
	neg := alphaMult < 0
	if neg {
		alphaMult = -alphaMult
	}
	return c.table(in, out, leakyFn(qi, qo, alphaMult, alphaShift, idMult, idShift, neg)), nil
}

// leakyFn is QuantizeLeakyRelu's per-element arithmetic before the clamp to the type.
func leakyFn(qi, qo qparams, alphaMult int32, alphaShift int, idMult int32, idShift int, neg bool) func(int32) int32 {
	return func(v int32) int32 {
		d := v - qi.zp
		r := qo.zp
		if d >= 0 {
			r += mulQuant(d, idMult, idShift)
		} else {
			s := mulQuant(d, alphaMult, alphaShift)
			if neg {
				s = -s
			}
			r += s
		}
		return r
	}
}

// leakyReluOther is LEAKY_RELU for float32 (x > 0 ? x : x * alpha) and int16 (as int8,
// clamped to int16).
func (c *prep) leakyReluOther(alpha float32) (kernel, error) {
	in, out, err := c.sameTypeUnary(schema.TensorTypeFLOAT32, schema.TensorTypeINT16)
	if err != nil {
		return nil, err
	}
	if c.info(in).Type == schema.TensorTypeFLOAT32 {
		return unaryLoop(in, out, func(v float32) float32 {
			if v > 0 {
				return v
			}
			return v * alpha
		}), nil
	}
	qi, qo, err := c.quant2(in, out)
	if err != nil {
		return nil, err
	}
	alphaMult, alphaShift := quantizeMultiplier(float64(qi.scale * alpha / qo.scale))
	idMult, idShift := quantizeMultiplier(float64(qi.scale / qo.scale))
	neg := alphaMult < 0
	if neg {
		alphaMult = -alphaMult
	}
	f := leakyFn(qi, qo, alphaMult, alphaShift, idMult, idShift, neg)
	return unaryLoop(in, out, func(v int16) int16 { return int16(clampI32(f(int32(v)), math.MinInt16, math.MaxInt16)) }), nil
}

// hardSwish: TFLM hard_swish_common.cc / reference_ops::HardSwish, in int16 fixed point: the
// input on a 2^7 finer scale, an output multiplier and a "relu-ish" multiplier (both
// QuantizeMultiplier'd then rounded to Q15), saturating shifts, and a final truncating
// doubling high multiply.
func (c *prep) hardSwish() (kernel, error) {
	if c.firstInputType() == schema.TensorTypeFLOAT32 {
		in, out, err := c.sameTypeUnary(schema.TensorTypeFLOAT32)
		if err != nil {
			return nil, err
		}
		// reference_ops::HardSwish (float): x * min(6, max(0, x + 3)) / 6.
		return unaryLoop(in, out, func(v float32) float32 {
			t := float32(v + 3)
			if !(0 < t) {
				t = 0
			}
			if !(t < 6) {
				t = 6
			}
			return float32(v*t) / 6
		}), nil
	}
	in, out, qi, qo, err := c.unaryInt8()
	if err != nil {
		return nil, err
	}
	hires := (1.0 / 128.0) * qi.scale
	const reluishScale = float32(3.0 / 32768.0)
	om32, oExp := quantizeMultiplier(float64(hires / qo.scale))
	if oExp > 0 {
		return nil, c.errorf("output multiplier exponent %d must not be positive", oExp)
	}
	rm32, rExp := quantizeMultiplier(float64(hires / reluishScale))
	om, rm := downScaleToQ15(om32), downScaleToQ15(rm32)
	return c.table(in, out, func(v int32) int32 {
		x := int16(v - qi.zp)
		hi := x * (1 << 7)
		preshiftOut := srdhm16(hi, om)
		reluish := hi
		if rExp > 0 {
			reluish = satShiftLeft16(reluish, rExp-1)
		}
		reluish = srdhm16(reluish, rm)
		if rExp > 0 {
			reluish = satShiftLeft16(reluish, 1)
		}
		if rExp < 0 {
			reluish = int16(roundingDivideByPOT(int32(reluish), -rExp))
		}
		reluish = int16((int32(reluish) + (1 << 15)) >> 1)
		pre := doublingHighMul16(reluish, preshiftOut)
		o := int16(roundingDivideByPOT(int32(pre), -oExp))
		o += int16(qo.zp)
		return int32(o)
	}), nil
}

// downScaleToQ15 is TFLM DownScaleInt32ToInt16Multiplier: round a Q31 multiplier to Q15.
func downScaleToQ15(m int32) int16 {
	if m >= math.MaxInt32-(1<<15) {
		return math.MaxInt16
	}
	return int16((m + 1<<15) >> 16)
}

// srdhm16 is gemmlowp's SaturatingRoundingDoublingHighMul for int16.
func srdhm16(a, b int16) int16 {
	if a == b && a == math.MinInt16 {
		return math.MaxInt16
	}
	ab := int32(a) * int32(b)
	nudge := int32(1 << 14)
	if ab < 0 {
		nudge = 1 - (1 << 14)
	}
	return int16((ab + nudge) / (1 << 15))
}

// doublingHighMul16 is TFLM's SaturatingDoublingHighMul (truncating, like SQDMULH).
func doublingHighMul16(a, b int16) int16 {
	if a == b && a == math.MinInt16 {
		return math.MaxInt16
	}
	return int16((int32(a) * int32(b)) / (1 << 15))
}

func satShiftLeft16(v int16, amount int) int16 {
	r := int64(v) * (int64(1) << amount)
	return int16(min(max(r, math.MinInt16), math.MaxInt16))
}
