package interp

import (
	"math"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// softmaxKernel is int8 -> int8 SOFTMAX following TFLM softmax_common.cc
// (CalculateSoftmaxParams) and reference_ops::Softmax: differences to the row maximum are
// scaled into Q5.26 by a multiplier from PreprocessSoftmaxScaling(beta, input scale, 5),
// exponentiated with gemmlowp's exp_on_negative_values, summed in Q12.19, inverted with
// GetReciprocal, and the quotient shifted to 8 bits and offset by -128. Differences below
// diff_min (CalculateInputRadius) give -128.
type softmaxKernel struct {
	in, out   int
	outer     int
	depth     int
	mult      int32
	leftShift int
	diffMin   int32
	out16     bool // int16 output: scale 1/65536, zero point -32768
}

func (c *prep) softmax() (kernel, error) {
	if err := c.counts(1, 1, 1); err != nil {
		return nil, err
	}
	beta := float32(1)
	if o, ok := c.options().(*schema.SoftmaxOptionsT); ok && o != nil {
		beta = o.Beta
	}
	input, _ := c.in(0)
	output, _ := c.out(0)
	switch c.info(input).Type {
	case schema.TensorTypeINT16:
		return c.softmax16()
	case schema.TensorTypeFLOAT32:
		return c.softmaxFloat(beta)
	}
	if err := c.wantType(input, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	if err := c.wantType(output, schema.TensorTypeINT8, schema.TensorTypeINT16); err != nil {
		return nil, err
	}
	out16 := c.info(output).Type == schema.TensorTypeINT16
	if !sameShape(c.info(input).Shape, c.info(output).Shape) || len(c.info(input).Shape) == 0 {
		return nil, c.errorf("input %s and output %s shapes differ", c.desc(input), c.desc(output))
	}
	iq, err := c.quant8(input)
	if err != nil {
		return nil, err
	}
	oq, err := c.quant(output)
	if err != nil {
		return nil, err
	}
	if out16 {
		// softmax_common.cc: zero point -32768, scale within 0.1% of 1/65536.
		if oq.zp != -32768 || math.Abs(float64(oq.scale)-1.0/65536) > 0.001/65536 {
			return nil, c.errorf("int16 output must have scale 1/65536 and zero point -32768 (has %g, %d)", oq.scale, oq.zp)
		}
	} else if oq.zp != -128 || oq.scale != 1.0/256 {
		return nil, c.errorf("int8 output must have scale 1/256 and zero point -128 (has %g, %d)", oq.scale, oq.zp)
	}
	const scaledDiffIntegerBits = 5
	// PreprocessSoftmaxScaling: min(beta*scale*2^(31-5), 2^31-1), QuantizeMultiplierGreaterThanOne.
	real := math.Min(float64(beta)*float64(iq.scale)*float64(int64(1)<<(31-scaledDiffIntegerBits)), float64(int64(1)<<31-1))
	if !(real > 1) {
		return nil, c.errorf("beta*input scale %g is too small for the int8 softmax", float64(beta)*float64(iq.scale))
	}
	mult, shift := quantizeMultiplier(real)
	// CalculateInputRadius(5, shift, 31) = floor((2^5-1) * 2^26 / 2^shift).
	radius := math.Floor(float64((int64(1)<<scaledDiffIntegerBits)-1) * float64(int64(1)<<(31-scaledDiffIntegerBits)) / float64(int64(1)<<shift))
	shape := shapeInts(c.info(input).Shape)
	k := &softmaxKernel{in: input, out: output, depth: shape[len(shape)-1], mult: mult, leftShift: shift, diffMin: -int32(radius), out16: out16}
	k.outer = c.elements(input) / max(k.depth, 1)
	return k, nil
}

func (k *softmaxKernel) run(x *execCtx) {
	in := i8(x.data[k.in])
	if k.out16 {
		out := i16(x.data[k.out])
		k.rows(in, 16, func(j int, v int32) { out[j] = int16(v) })
		return
	}
	out := i8(x.data[k.out])
	k.rows(in, 8, func(j int, v int32) { out[j] = int8(v) })
}

// rows runs reference_ops::Softmax<int8, OutputT> with outBits = 8*sizeof(OutputT): the
// quotient is shifted to outBits, offset by the type's minimum and clamped to it.
func (k *softmaxKernel) rows(in []int8, outBits int, store func(j int, v int32)) {
	lo, hi := int32(math.MinInt8), int32(math.MaxInt8)
	if outBits == 16 {
		lo, hi = math.MinInt16, math.MaxInt16
	}
	const accumIntegerBits = 12
	for i := range k.outer {
		row := in[i*k.depth : (i+1)*k.depth]
		base := i * k.depth
		maxV := int32(math.MinInt8)
		for _, v := range row {
			maxV = max(maxV, int32(v))
		}
		var sum int32 // Q12.19
		for _, v := range row {
			diff := int32(v) - maxV
			if diff >= k.diffMin {
				scaled := mulQuant(diff, k.mult, k.leftShift)
				sum += roundingDivideByPOT(expOnNegativeValues(scaled, 5), accumIntegerBits)
			}
		}
		scale, bitsOverUnit := getReciprocal(sum, accumIntegerBits)
		exponent := bitsOverUnit + 31 - outBits
		for j, v := range row {
			diff := int32(v) - maxV
			if diff < k.diffMin {
				store(base+j, lo)
				continue
			}
			scaled := mulQuant(diff, k.mult, k.leftShift)
			e := expOnNegativeValues(scaled, 5)
			r := roundingDivideByPOT(srdhm(scale, e), exponent) + lo
			store(base+j, clampI32(r, lo, hi))
		}
	}
}
