package interp

import (
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// The 16x8 forms of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: int16 activations,
// int8 weights, int64 (or int32) biases, following TFLM reference_integer_ops
// ConvPerChannel / DepthwiseConvPerChannel / FullyConnected(PerChannel) for int16. These
// are plain loops: int16 models are rare on the host's hot paths.

// mulQuant64 is TFLM common.cc MultiplyByQuantizedMultiplier(int64_t x, ...), the
// double-rounding build: the Q31 multiplier is rounded to Q15 and applied with one
// rounding shift.
func mulQuant64(x int64, mult int32, shift int) int32 {
	reduced := int64(0x7FFF)
	if mult < 0x7FFF0000 {
		reduced = int64((mult + (1 << 15)) >> 16)
	}
	total := 15 - shift
	return int32((x*reduced + int64(1)<<(total-1)) >> total)
}

// bias16 reads an optional int32 or int64 bias of n elements. wide reports whether the
// kernel accumulates in int64: with an int64 bias, or without bias unless the options ask
// for int32 (TFLM's requires_int32_accum).
func (c *prep) bias16(bias, n int, biasType schema.TensorType, allowInt32 bool) (vals []int64, wide bool, err error) {
	if bias < 0 {
		return make([]int64, n), !(allowInt32 && biasType == schema.TensorTypeINT32), nil
	}
	types := []schema.TensorType{schema.TensorTypeINT64}
	if allowInt32 {
		types = append(types, schema.TensorTypeINT32)
	}
	if err = c.wantType(bias, types...); err != nil {
		return
	}
	if err = c.wantConst(bias); err != nil {
		return
	}
	if c.elements(bias) < n {
		return nil, false, c.errorf("%s has %d elements, want %d", c.desc(bias), c.elements(bias), n)
	}
	d := c.p.constant[bias]
	vals = make([]int64, n)
	if c.info(bias).Type == schema.TensorTypeINT32 {
		for i, v := range i32(d)[:n] {
			vals[i] = int64(v)
		}
		return vals, false, nil
	}
	for i, v := range view[int64](d)[:n] {
		vals[i] = v
	}
	return vals, true, nil
}

// checkShift64 enforces the range TFLM's int64 MultiplyByQuantizedMultiplier assumes
// (shift in [-31, 7]): larger effective scales cannot be applied to a 64-bit accumulator.
func (c *prep) checkShift64(shift []int) error {
	for ch, s := range shift {
		if s < -31 || s > 7 {
			return c.errorf("channel %d: effective scale exponent %d outside [-31, 7]", ch, s)
		}
	}
	return nil
}

// requant16 requantizes one accumulator: int64 accumulators use mulQuant64, int32 ones
// (wrapping like the reference's int32 sums) use mulQuant.
func requant16(acc int64, wide bool, mult int32, shift int, zp, lo, hi int32) int16 {
	var v int32
	if wide {
		v = mulQuant64(acc, mult, shift)
	} else {
		v = mulQuant(int32(acc), mult, shift)
	}
	return int16(clampI32(v+zp, lo, hi))
}

// perChannel16 computes per-channel multipliers exactly like convRequant, for int16 outputs.
func (c *prep) perChannel16(input, filter, output, channels int) ([]int32, []int, qparams, error) {
	iq, err := c.quant(input)
	if err != nil {
		return nil, nil, qparams{}, err
	}
	oq, err := c.quant(output)
	if err != nil {
		return nil, nil, qparams{}, err
	}
	fs := c.info(filter).Scale
	if len(fs) != 1 && len(fs) != channels {
		return nil, nil, qparams{}, c.errorf("%s has %d scales for %d output channels", c.desc(filter), len(fs), channels)
	}
	mult, shift := make([]int32, channels), make([]int, channels)
	for ch := range channels {
		s := fs[0]
		if len(fs) > 1 {
			s = fs[ch]
		}
		mult[ch], shift[ch] = quantizeMultiplier(float64(iq.scale) * float64(s) / float64(oq.scale))
	}
	return mult, shift, oq, nil
}

// conv16 is CONV_2D with int16 input and output. Input and output zero points are not
// applied (TFLM's int16 kernel has none); taps outside the image are skipped.
func (c *prep) conv16(opts *schema.Conv2DOptionsT) (kernel, error) {
	input, filter, output, bias, err := c.weightedOperands()
	if err != nil {
		return nil, err
	}
	if err := c.wantType(filter, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	if err := c.wantType(output, schema.TensorTypeINT16); err != nil {
		return nil, err
	}
	g, err := c.convWindow(input, filter, output, opts.Padding, int(opts.StrideH), int(opts.StrideW),
		int(opts.DilationHFactor), int(opts.DilationWFactor), false, 0)
	if err != nil {
		return nil, err
	}
	return c.window16(g, bias, opts.FusedActivationFunction, opts.QuantizedBiasType, true)
}

// depthwise16 is DEPTHWISE_CONV_2D with int16 input and output and an int64 bias (the only
// kind TFLM's int16 kernel reads); int64 accumulation; zero points not applied.
func (c *prep) depthwise16(opts *schema.DepthwiseConv2DOptionsT) (kernel, error) {
	input, filter, output, bias, err := c.weightedOperands()
	if err != nil {
		return nil, err
	}
	if err := c.wantType(filter, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	if err := c.wantType(output, schema.TensorTypeINT16); err != nil {
		return nil, err
	}
	g, err := c.convWindow(input, filter, output, opts.Padding, int(opts.StrideH), int(opts.StrideW),
		int(opts.DilationHFactor), int(opts.DilationWFactor), true, int(opts.DepthMultiplier))
	if err != nil {
		return nil, err
	}
	return c.window16(g, bias, opts.FusedActivationFunction, schema.TensorTypeINT64, false)
}

// window16 prepares the 16x8 CONV_2D (conv true: int32 or int64 bias) or
// DEPTHWISE_CONV_2D (int64 bias, int64 accumulation).
func (c *prep) window16(g *window, bias int, act schema.ActivationFunctionType, biasType schema.TensorType, conv bool) (kernel, error) {
	oc := g.os[3]
	mult, shift, oq, err := c.perChannel16(g.input, g.filter, g.output, oc)
	if err != nil {
		return nil, err
	}
	lo, hi, err := c.activationRangeTyped(act, g.output, oq)
	if err != nil {
		return nil, err
	}
	bv, wide, err := c.bias16(bias, oc, biasType, conv)
	if err != nil {
		return nil, err
	}
	if !conv {
		wide = true
	}
	if err := c.checkShift64(shift); wide && err != nil {
		return nil, err
	}
	w := i8(c.p.constant[g.filter])
	return kernelFunc(func(x *execCtx) {
		src, dst := i16(x.data[g.input]), i16(x.data[g.output])
		g.eachOutput(func(o, b, oy, ox, ch int) {
			var acc int64
			var acc32 int32
			if conv {
				g.convTaps(b, oy, ox, ch, func(in, wi, n int) {
					ws := w[wi : wi+n]
					for i, v := range src[in : in+n] {
						p := int32(ws[i]) * int32(v)
						acc += int64(p)
						acc32 += p
					}
				})
			} else {
				g.depthwiseTaps(b, oy, ox, ch, func(in, wi int) { acc += int64(w[wi]) * int64(src[in]) })
			}
			if wide {
				acc += bv[ch]
			} else {
				acc = int64(acc32 + int32(bv[ch]))
			}
			dst[o] = requant16(acc, wide, mult[ch], shift[ch], 0, lo, hi)
		})
	}), nil
}

// fc16 is FULLY_CONNECTED with int16 input and output: acc = sum (w + w_off)*(x + in_off)
// + bias in int32 or int64 (TFLM's requires_int32_accum), requantized per tensor
// (GetQuantizedConvolutionMultipler) or per channel, + zp_out, clamped.
func (c *prep) fc16(opts *schema.FullyConnectedOptionsT) (kernel, error) {
	input, filter, output, bias, err := c.weightedOperands()
	if err != nil {
		return nil, err
	}
	if err := c.wantType(filter, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	if err := c.wantType(output, schema.TensorTypeINT16); err != nil {
		return nil, err
	}
	if err := c.wantConst(filter); err != nil {
		return nil, err
	}
	fs, os := shapeInts(c.info(filter).Shape), shapeInts(c.info(output).Shape)
	if len(fs) < 2 || len(os) < 1 {
		return nil, c.errorf("filter %v and output %v need ranks >= 2 and >= 1", fs, os)
	}
	depth, units := fs[len(fs)-1], os[len(os)-1]
	if units > fs[len(fs)-2] || depth == 0 {
		return nil, c.errorf("output depth %d exceeds the filter's %d rows", units, fs[len(fs)-2])
	}
	batches := c.elements(output) / max(units, 1)
	if c.elements(input) != batches*depth {
		return nil, c.errorf("input %s has %d elements, want %d batches x %d", c.desc(input), c.elements(input), batches, depth)
	}
	iq, err := c.quant(input)
	if err != nil {
		return nil, err
	}
	oq, err := c.quant(output)
	if err != nil {
		return nil, err
	}
	fq, err := c.quant(filter)
	if err != nil {
		return nil, err
	}
	mult, shift := make([]int32, units), make([]int, units)
	wOff := int32(0)
	if len(c.info(filter).Scale) > 1 {
		if mult, shift, _, err = c.perChannel16(input, filter, output, units); err != nil {
			return nil, err
		}
	} else {
		m, s := quantizeMultiplier(float64(iq.scale*fq.scale) / float64(oq.scale))
		for i := range units {
			mult[i], shift[i] = m, s
		}
		wOff = -fq.zp
	}
	lo, hi, err := c.activationRangeTyped(opts.FusedActivationFunction, output, oq)
	if err != nil {
		return nil, err
	}
	bv, wide, err := c.bias16(bias, units, opts.QuantizedBiasType, true)
	if err != nil {
		return nil, err
	}
	if err := c.checkShift64(shift); wide && err != nil {
		return nil, err
	}
	w := i8(c.p.constant[filter])
	inOff := -iq.zp
	return kernelFunc(func(x *execCtx) {
		src, dst := i16(x.data[input]), i16(x.data[output])
		for b := range batches {
			xs := src[b*depth : (b+1)*depth]
			for u := range units {
				ws := w[u*depth : (u+1)*depth]
				var acc64 int64
				var acc32 int32
				for i, v := range xs {
					p := (int32(ws[i]) + wOff) * (int32(v) + inOff)
					acc64 += int64(p)
					acc32 += p
				}
				acc := acc64 + bv[u]
				if !wide {
					acc = int64(acc32 + int32(bv[u]))
				}
				dst[b*units+u] = requant16(acc, wide, mult[u], shift[u], oq.zp, lo, hi)
			}
		}
	}), nil
}
