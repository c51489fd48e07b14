package interp

import (
	"math"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// float32 forms of the convolution, pooling, softmax and activation operators, and the
// int16 forms of pooling, RELU and RELU6. Float kernels follow TFLM's reference loops in
// their order (reference_ops::Conv, DepthwiseConv, FullyConnected, AveragePool, MaxPool,
// Softmax), since float sums depend on it; explicit float32 conversions keep Go from fusing
// multiply-adds, which the reference build (no FMA) does not do either.

// floatConvOperands checks float32 input, filter, output and an optional float32 bias.
func (c *prep) floatConvOperands() (input, filter, output int, bias []float32, err error) {
	var b int
	if input, filter, output, b, err = c.weightedOperands(); err != nil {
		return
	}
	for _, t := range []int{filter, output} {
		if err = c.wantType(t, schema.TensorTypeFLOAT32); err != nil {
			return
		}
	}
	if err = c.wantConst(filter); err != nil {
		return
	}
	if b >= 0 {
		if err = c.wantType(b, schema.TensorTypeFLOAT32); err != nil {
			return
		}
		if err = c.wantConst(b); err != nil {
			return
		}
		bias = view[float32](c.p.constant[b])
	}
	return
}

func (c *prep) convFloat(opts *schema.Conv2DOptionsT) (kernel, error) {
	input, filter, output, bias, err := c.floatConvOperands()
	if err != nil {
		return nil, err
	}
	g, err := c.convWindow(input, filter, output, opts.Padding, int(opts.StrideH), int(opts.StrideW),
		int(opts.DilationHFactor), int(opts.DilationWFactor), false, 0)
	if err != nil {
		return nil, err
	}
	return c.windowFloat(g, bias, opts.FusedActivationFunction, true)
}

func (c *prep) depthwiseFloat(opts *schema.DepthwiseConv2DOptionsT) (kernel, error) {
	input, filter, output, bias, err := c.floatConvOperands()
	if err != nil {
		return nil, err
	}
	g, err := c.convWindow(input, filter, output, opts.Padding, int(opts.StrideH), int(opts.StrideW),
		int(opts.DilationHFactor), int(opts.DilationWFactor), true, int(opts.DepthMultiplier))
	if err != nil {
		return nil, err
	}
	return c.windowFloat(g, bias, opts.FusedActivationFunction, false)
}

// windowFloat is reference_ops::Conv / DepthwiseConv for float32: per output, the products
// summed from 0 in tap order, plus the bias (0 without one), clamped to the activation.
// The depthwise reference loops over input channel then multiplier, which visits outputs
// in the same row-major order.
func (c *prep) windowFloat(g *window, bias []float32, act schema.ActivationFunctionType, conv bool) (kernel, error) {
	if bias != nil && len(bias) < g.os[3] {
		return nil, c.errorf("bias has %d elements, want %d", len(bias), g.os[3])
	}
	lo, hi, err := c.floatActivation(act)
	if err != nil {
		return nil, err
	}
	w := view[float32](c.p.constant[g.filter])
	return kernelFunc(func(x *execCtx) {
		src, dst := view[float32](x.data[g.input]), view[float32](x.data[g.output])
		g.eachOutput(func(o, b, oy, ox, ch int) {
			var total float32
			if conv {
				g.convTaps(b, oy, ox, ch, func(in, wi, n int) {
					ws := w[wi : wi+n]
					for i, v := range src[in : in+n] {
						total += float32(v * ws[i])
					}
				})
			} else {
				g.depthwiseTaps(b, oy, ox, ch, func(in, wi int) { total += float32(src[in] * w[wi]) })
			}
			var bv float32
			if bias != nil {
				bv = bias[ch]
			}
			dst[o] = clampF(total+bv, lo, hi)
		})
	}), nil
}

func (c *prep) fcFloat(opts *schema.FullyConnectedOptionsT) (kernel, error) {
	input, filter, output, bias, err := c.floatConvOperands()
	if err != nil {
		return nil, err
	}
	fs, os := shapeInts(c.info(filter).Shape), shapeInts(c.info(output).Shape)
	if len(fs) < 2 || len(os) < 1 {
		return nil, c.errorf("filter %v and output %v need ranks >= 2 and >= 1", fs, os)
	}
	depth, units := fs[len(fs)-1], os[len(os)-1]
	if units > fs[len(fs)-2] || depth == 0 || (bias != nil && len(bias) < units) {
		return nil, c.errorf("output depth %d does not fit the filter %v", units, fs)
	}
	batches := c.elements(output) / max(units, 1)
	if c.elements(input) != batches*depth {
		return nil, c.errorf("input %s has %d elements, want %d batches x %d", c.desc(input), c.elements(input), batches, depth)
	}
	lo, hi, err := c.floatActivation(opts.FusedActivationFunction)
	if err != nil {
		return nil, err
	}
	w := view[float32](c.p.constant[filter])
	return kernelFunc(func(x *execCtx) {
		src, dst := view[float32](x.data[input]), view[float32](x.data[output])
		for b := range batches {
			xs := src[b*depth : (b+1)*depth]
			for u := range units {
				ws := w[u*depth : (u+1)*depth]
				var total float32
				for i, v := range xs {
					total += float32(v * ws[i])
				}
				var bv float32
				if bias != nil {
					bv = bias[u]
				}
				dst[b*units+u] = clampF(total+bv, lo, hi)
			}
		}
	}), nil
}

// poolOther is AVERAGE_POOL_2D / MAX_POOL_2D for float32 (reference_ops: float sums
// divided by the tap count) and int16 (reference_integer_ops, as for int8).
func (c *prep) poolOther(avg bool) (kernel, error) {
	if err := c.counts(1, 1, 1); err != nil {
		return nil, err
	}
	opts, _ := c.options().(*schema.Pool2DOptionsT)
	if opts == nil {
		return nil, c.errorf("missing Pool2DOptions")
	}
	input, _ := c.in(0)
	output, _ := c.out(0)
	for _, t := range []int{input, output} {
		if err := c.wantType(t, schema.TensorTypeFLOAT32, schema.TensorTypeINT16); err != nil {
			return nil, err
		}
		if err := c.wantRank(t, 4); err != nil {
			return nil, err
		}
	}
	if c.info(input).Type != c.info(output).Type {
		return nil, c.errorf("%s: type differs from the input", c.desc(output))
	}
	is, os := shapeInts(c.info(input).Shape), shapeInts(c.info(output).Shape)
	fh, fw, sh, sw := int(opts.FilterHeight), int(opts.FilterWidth), int(opts.StrideH), int(opts.StrideW)
	if os[0] != is[0] || os[3] != is[3] {
		return nil, c.errorf("input %v and output %v shapes do not match", is, os)
	}
	oh, padT, ok1 := padding(opts.Padding, is[1], fh, sh, 1)
	ow, padL, ok2 := padding(opts.Padding, is[2], fw, sw, 1)
	if !ok1 || !ok2 || oh != os[1] || ow != os[2] {
		return nil, c.errorf("output shape %v does not match the %dx%d output this filter, padding and stride give", os, oh, ow)
	}
	if avg && (padT >= fh || padL >= fw) {
		return nil, c.errorf("padding %dx%d leaves windows with no input", padT, padL)
	}
	// each visits the window of every output element: f(outIndex, inIndices...).
	each := func(f func(o int, taps func(yield func(i int)))) {
		o := 0
		for b := range is[0] {
			for oy := range os[1] {
				iy0 := oy*sh - padT
				fy0, fy1 := max(0, -iy0), min(fh, is[1]-iy0)
				for ox := range os[2] {
					ix0 := ox*sw - padL
					fx0, fx1 := max(0, -ix0), min(fw, is[2]-ix0)
					for ch := range is[3] {
						f(o, func(yield func(i int)) {
							for fy := fy0; fy < fy1; fy++ {
								for fx := fx0; fx < fx1; fx++ {
									yield(((b*is[1]+iy0+fy)*is[2]+ix0+fx)*is[3] + ch)
								}
							}
						})
						o++
					}
				}
			}
		}
	}
	if c.info(input).Type == schema.TensorTypeFLOAT32 {
		lo, hi, err := c.floatActivation(opts.FusedActivationFunction)
		if err != nil {
			return nil, err
		}
		return kernelFunc(func(x *execCtx) {
			src, dst := view[float32](x.data[input]), view[float32](x.data[output])
			each(func(o int, taps func(func(int))) {
				if avg {
					var total, count float32
					taps(func(i int) { total += src[i]; count++ })
					dst[o] = clampF(total/count, lo, hi)
					return
				}
				m := float32(-math.MaxFloat32)
				taps(func(i int) { m = max(m, src[i]) })
				dst[o] = clampF(m, lo, hi)
			})
		}), nil
	}
	qi, qo, err := c.quant2(input, output)
	if err != nil {
		return nil, err
	}
	lo, hi, err := c.activationRangeTyped(opts.FusedActivationFunction, output, qo)
	if err != nil {
		return nil, err
	}
	if qi != qo {
		return nil, c.errorf("input and output quantization differ")
	}
	return kernelFunc(func(x *execCtx) {
		src, dst := i16(x.data[input]), i16(x.data[output])
		each(func(o int, taps func(func(int))) {
			if avg {
				var acc, count int32
				taps(func(i int) { acc += int32(src[i]); count++ })
				if acc > 0 {
					acc = (acc + count/2) / count
				} else {
					acc = (acc - count/2) / count
				}
				dst[o] = int16(clampI32(acc, lo, hi))
				return
			}
			m := int32(math.MinInt16)
			taps(func(i int) { m = max(m, int32(src[i])) })
			dst[o] = int16(clampI32(m, lo, hi))
		})
	}), nil
}

// softmaxFloat is reference_ops::Softmax for float32: exp((x - max) * beta) per element,
// summed in order, each divided by the sum.
func (c *prep) softmaxFloat(beta float32) (kernel, error) {
	in, out, err := c.sameTypeUnary(schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	shape := shapeInts(c.info(in).Shape)
	if len(shape) == 0 {
		return nil, c.errorf("%s must have at least one dimension", c.desc(in))
	}
	depth := shape[len(shape)-1]
	outer := c.elements(in) / max(depth, 1)
	return kernelFunc(func(x *execCtx) {
		src, dst := view[float32](x.data[in]), view[float32](x.data[out])
		for i := range outer {
			row, o := src[i*depth:(i+1)*depth], dst[i*depth:(i+1)*depth]
			m := float32(-math.MaxFloat32)
			for _, v := range row {
				m = max(m, v)
			}
			var sum float32
			for j, v := range row {
				e := expf(float32((v - m) * beta))
				o[j] = e
				sum += e
			}
			for j := range o {
				o[j] /= sum
			}
		}
	}), nil
}

// reluOther is RELU / RELU6 for float32 (clamp at 0, and 6) and int16 (as the int8 forms).
func (c *prep) reluOther(six bool) (kernel, error) {
	in, out, err := c.sameTypeUnary(schema.TensorTypeFLOAT32, schema.TensorTypeINT16)
	if err != nil {
		return nil, err
	}
	if c.info(in).Type == schema.TensorTypeFLOAT32 {
		if six {
			return unaryLoop(in, out, func(v float32) float32 {
				if v > 6 {
					return 6
				}
				if v < 0 {
					return 0
				}
				return v
			}), nil
		}
		return unaryLoop(in, out, func(v float32) float32 {
			if v < 0 {
				return 0
			}
			return v
		}), nil
	}
	qi, qo, err := c.quant2(in, out)
	if err != nil {
		return nil, err
	}
	if six {
		// Relu6Prepare: [zp_in, zp_in + round(6 / s_in)] in the input's quantization.
		top := int32(math.Round(float64(6/qi.scale))) + qi.zp
		if top < math.MinInt16 || top > math.MaxInt16 {
			return nil, c.errorf("6.0 is not representable at input scale %g", qi.scale)
		}
		lo16, hi16 := int16(qi.zp), int16(top)
		return unaryLoop(in, out, func(v int16) int16 { return min(max(v, lo16), hi16) }), nil
	}
	mult, shift := quantizeMultiplier(float64(qi.scale / qo.scale))
	lo := max(math.MinInt16, qo.zp)
	return unaryLoop(in, out, func(v int16) int16 {
		return int16(clampI32(qo.zp+mulQuant(int32(v)-qi.zp, mult, shift), lo, math.MaxInt16))
	}), nil
}
