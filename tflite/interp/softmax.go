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
	for _, t := range []int{input, output} {
		if err := c.wantType(t, schema.TensorTypeINT8); err != nil {
			return nil, err
		}
	}
	if !sameShape(c.info(input).Shape, c.info(output).Shape) || len(c.info(input).Shape) == 0 {
		return nil, c.errorf("input %s and output %s shapes differ", c.desc(input), c.desc(output))
	}
	iq, err := c.quant8(input)
	if err != nil {
		return nil, err
	}
	oq, err := c.quant8(output)
	if err != nil {
		return nil, err
	}
	if oq.zp != -128 || oq.scale != 1.0/256 {
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
	k := &softmaxKernel{in: input, out: output, depth: shape[len(shape)-1], mult: mult, leftShift: shift, diffMin: -int32(radius)}
	k.outer = c.elements(input) / max(k.depth, 1)
	return k, nil
}

func (k *softmaxKernel) run(x *execCtx) {
	in, out := i8(x.data[k.in]), i8(x.data[k.out])
	const accumIntegerBits = 12
	for i := range k.outer {
		row := in[i*k.depth : (i+1)*k.depth]
		o := out[i*k.depth : (i+1)*k.depth]
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
		exponent := bitsOverUnit + 31 - 8
		for j, v := range row {
			diff := int32(v) - maxV
			if diff < k.diffMin {
				o[j] = math.MinInt8
				continue
			}
			scaled := mulQuant(diff, k.mult, k.leftShift)
			e := expOnNegativeValues(scaled, 5)
			r := roundingDivideByPOT(srdhm(scale, e), exponent) - 128
			o[j] = int8(clampI32(r, -128, 127))
		}
	}
}
