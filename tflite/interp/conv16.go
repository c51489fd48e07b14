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
	for _, t := range []int{input, filter, output} {
		if err := c.wantRank(t, 4); err != nil {
			return nil, err
		}
	}
	if err := c.wantConst(filter); err != nil {
		return nil, err
	}
	is, fs, os := shapeInts(c.info(input).Shape), shapeInts(c.info(filter).Shape), shapeInts(c.info(output).Shape)
	sh, sw := int(opts.StrideH), int(opts.StrideW)
	dh, dw := max(int(opts.DilationHFactor), 1), max(int(opts.DilationWFactor), 1)
	if sh <= 0 || sw <= 0 || os[0] != is[0] || fs[0] != os[3] || fs[3] <= 0 || is[3] < fs[3] || is[3]%fs[3] != 0 || os[3]%(is[3]/fs[3]) != 0 {
		return nil, c.errorf("shapes do not match: input %v, filter %v, output %v", is, fs, os)
	}
	oh, padT, ok1 := padding(opts.Padding, is[1], fs[1], sh, dh)
	ow, padL, ok2 := padding(opts.Padding, is[2], fs[2], sw, dw)
	if !ok1 || !ok2 || oh != os[1] || ow != os[2] {
		return nil, c.errorf("output shape %v does not match the %dx%d output this padding, stride and dilation give", os, oh, ow)
	}
	mult, shift, oq, err := c.perChannel16(input, filter, output, os[3])
	if err != nil {
		return nil, err
	}
	lo, hi, err := c.activationRangeTyped(opts.FusedActivationFunction, output, oq)
	if err != nil {
		return nil, err
	}
	bv, wide, err := c.bias16(bias, os[3], opts.QuantizedBiasType, true)
	if err != nil {
		return nil, err
	}
	if err := c.checkShift64(shift); wide && err != nil {
		return nil, err
	}
	w := i8(c.p.constant[filter])
	cg := fs[3]
	perGroup := os[3] / (is[3] / cg)
	return kernelFunc(func(x *execCtx) {
		src, dst := i16(x.data[input]), i16(x.data[output])
		o := 0
		for b := range is[0] {
			for oy := range os[1] {
				for ox := range os[2] {
					for oc := range os[3] {
						g := oc / perGroup
						var acc int64
						var acc32 int32
						for ky := range fs[1] {
							iy := oy*sh - padT + ky*dh
							if iy < 0 || iy >= is[1] {
								continue
							}
							for kx := range fs[2] {
								ix := ox*sw - padL + kx*dw
								if ix < 0 || ix >= is[2] {
									continue
								}
								xs := src[((b*is[1]+iy)*is[2]+ix)*is[3]+g*cg:][:cg]
								ws := w[((oc*fs[1]+ky)*fs[2]+kx)*cg:][:cg]
								for i, v := range xs {
									p := int32(ws[i]) * int32(v)
									acc += int64(p)
									acc32 += p
								}
							}
						}
						if !wide {
							acc = int64(acc32 + int32(bv[oc]))
						} else {
							acc += bv[oc]
						}
						dst[o] = requant16(acc, wide, mult[oc], shift[oc], 0, lo, hi)
						o++
					}
				}
			}
		}
	}), nil
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
	for _, t := range []int{input, filter, output} {
		if err := c.wantRank(t, 4); err != nil {
			return nil, err
		}
	}
	if err := c.wantConst(filter); err != nil {
		return nil, err
	}
	is, fs, os := shapeInts(c.info(input).Shape), shapeInts(c.info(filter).Shape), shapeInts(c.info(output).Shape)
	sh, sw := int(opts.StrideH), int(opts.StrideW)
	dh, dw := max(int(opts.DilationHFactor), 1), max(int(opts.DilationWFactor), 1)
	if sh <= 0 || sw <= 0 || fs[0] != 1 || fs[3] != os[3] || os[0] != is[0] || is[3] == 0 || os[3]%is[3] != 0 {
		return nil, c.errorf("shapes do not match: input %v, filter %v, output %v", is, fs, os)
	}
	m := os[3] / is[3]
	if dm := int(opts.DepthMultiplier); dm != 0 && dm != m {
		return nil, c.errorf("depth_multiplier %d does not match input depth %d and output depth %d", dm, is[3], os[3])
	}
	oh, padT, ok1 := padding(opts.Padding, is[1], fs[1], sh, dh)
	ow, padL, ok2 := padding(opts.Padding, is[2], fs[2], sw, dw)
	if !ok1 || !ok2 || oh != os[1] || ow != os[2] {
		return nil, c.errorf("output shape %v does not match the %dx%d output this padding, stride and dilation give", os, oh, ow)
	}
	mult, shift, oq, err := c.perChannel16(input, filter, output, os[3])
	if err != nil {
		return nil, err
	}
	lo, hi, err := c.activationRangeTyped(opts.FusedActivationFunction, output, oq)
	if err != nil {
		return nil, err
	}
	bv, _, err := c.bias16(bias, os[3], schema.TensorTypeINT64, false)
	if err != nil {
		return nil, err
	}
	if err := c.checkShift64(shift); err != nil {
		return nil, err
	}
	w := i8(c.p.constant[filter])
	return kernelFunc(func(x *execCtx) {
		src, dst := i16(x.data[input]), i16(x.data[output])
		o := 0
		for b := range is[0] {
			for oy := range os[1] {
				for ox := range os[2] {
					for oc := range os[3] {
						ic := oc / m
						var acc int64
						for ky := range fs[1] {
							iy := oy*sh - padT + ky*dh
							if iy < 0 || iy >= is[1] {
								continue
							}
							for kx := range fs[2] {
								ix := ox*sw - padL + kx*dw
								if ix < 0 || ix >= is[2] {
									continue
								}
								acc += int64(w[(ky*fs[2]+kx)*os[3]+oc]) * int64(src[((b*is[1]+iy)*is[2]+ix)*is[3]+ic])
							}
						}
						acc += bv[oc]
						dst[o] = requant16(acc, true, mult[oc], shift[oc], 0, lo, hi)
						o++
					}
				}
			}
		}
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
