package interp

import (
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// transposeConv is TRANSPOSE_CONV (TFLM transpose_conv.cc; inputs: output shape, filter
// [oc, kh, kw, ic], input, optional bias). The padding is ComputePaddingHeightWidth of the
// output size (as if convolving the output back to the input). Every input pixel scatters
// (x - zp_in) * w into an int32 scratch (the filter zero point is not applied), then bias,
// per-channel requantization (PopulateConvolutionQuantizationParams), + zp_out and the
// activation clamp. float32 accumulates in the same loop order, then adds the bias and
// clamps to the activation range.
func (c *prep) transposeConv() (kernel, error) {
	if err := c.counts(3, 4, 1); err != nil {
		return nil, err
	}
	opts, _ := c.options().(*schema.TransposeConvOptionsT)
	if opts == nil {
		return nil, c.errorf("missing TransposeConvOptions")
	}
	shapeT, _ := c.in(0)
	filter, _ := c.in(1)
	input, _ := c.in(2)
	bias := c.optIn(3)
	output, _ := c.out(0)
	if err := c.wantType(input, schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeFLOAT32); err != nil {
		return nil, err
	}
	ty := c.info(input).Type
	wantFilter := ty
	if ty == schema.TensorTypeINT16 {
		wantFilter = schema.TensorTypeINT8 // 16x8
	}
	if c.info(filter).Type != wantFilter {
		return nil, c.errorf("%s: type must be %s for %s input", c.desc(filter), tflite.TypeName(wantFilter), tflite.TypeName(ty))
	}
	if c.info(output).Type != ty {
		return nil, c.errorf("%s: type differs from the input", c.desc(output))
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
	if c.p.constant[shapeT] != nil {
		sv, err := c.constInt32s(shapeT)
		if err != nil {
			return nil, err
		}
		if !equalInts(shapeInts(sv), os) {
			return nil, c.errorf("output shape %v differs from the output tensor %v", sv, os)
		}
	}
	sh, sw := int(opts.StrideH), int(opts.StrideW)
	if sh <= 0 || sw <= 0 || is[0] != os[0] || is[3] != fs[3] || fs[0] != os[3] {
		return nil, c.errorf("shapes do not match: input %v, filter %v, output %v", is, fs, os)
	}
	_, padT, ok1 := padding(opts.Padding, os[1], fs[1], sh, 1)
	_, padL, ok2 := padding(opts.Padding, os[2], fs[2], sw, 1)
	if !ok1 || !ok2 {
		return nil, c.errorf("invalid padding")
	}
	oc := os[3]
	g := tconvGeom{is: is, fs: fs, os: os, sh: sh, sw: sw, padT: padT, padL: padL}
	if ty == schema.TensorTypeFLOAT32 {
		lo, hi, err := c.floatActivation(opts.FusedActivationFunction)
		if err != nil {
			return nil, err
		}
		var bv []float32
		if bias >= 0 {
			if err := c.wantType(bias, schema.TensorTypeFLOAT32); err != nil {
				return nil, err
			}
			if err := c.wantConst(bias); err != nil {
				return nil, err
			}
			if c.elements(bias) != oc {
				return nil, c.errorf("%s has %d elements, want %d", c.desc(bias), c.elements(bias), oc)
			}
			bv = view[float32](c.p.constant[bias])[:oc]
		}
		w := view[float32](c.p.constant[filter])
		return kernelFunc(func(x *execCtx) {
			src, dst := view[float32](x.data[input]), view[float32](x.data[output])
			clear(dst)
			g.scatter(func(o, i, wi int) { dst[o] += src[i] * w[wi] })
			for o := range dst {
				acc := dst[o]
				if bv != nil {
					acc += bv[o%oc]
				}
				dst[o] = clampF(acc, lo, hi)
			}
		}), nil
	}
	if ty == schema.TensorTypeINT16 {
		return c.transposeConv16(g, input, filter, bias, output, opts)
	}
	rq, err := c.convRequant(input, filter, output, oc, opts.FusedActivationFunction)
	if err != nil {
		return nil, err
	}
	var bv []int32
	if bias >= 0 {
		if err := c.wantType(bias, schema.TensorTypeINT32); err != nil {
			return nil, err
		}
		if err := c.wantConst(bias); err != nil {
			return nil, err
		}
		if c.elements(bias) != oc {
			return nil, c.errorf("%s has %d elements, want %d", c.desc(bias), c.elements(bias), oc)
		}
		bv, _ = c.constInt32s(bias)
	}
	iq, _ := c.quant8(input)
	w := i8(c.p.constant[filter])
	n := c.elements(output)
	c.p.scratch = max(c.p.scratch, 4*n)
	return kernelFunc(func(x *execCtx) {
		src, dst := i8(x.data[input]), i8(x.data[output])
		acc := i32(x.scratch[0])[:n]
		clear(acc)
		g.scatter(func(o, i, wi int) { acc[o] += (int32(src[i]) - iq.zp) * int32(w[wi]) })
		for o, a := range acc {
			ch := o % oc
			if bv != nil {
				a += bv[ch]
			}
			dst[o] = rq.output(a, ch)
		}
	}), nil
}

// transposeConv16 is the 16x8 TRANSPOSE_CONV: int16 input and output, int8 filter, an
// int64 (or int16, widened) bias, int64 accumulation, no zero points, TFLM's int64
// MultiplyByQuantizedMultiplier.
func (c *prep) transposeConv16(g tconvGeom, input, filter, bias, output int, opts *schema.TransposeConvOptionsT) (kernel, error) {
	oc := g.os[3]
	mult, shift, oq, err := c.perChannel16(input, filter, output, oc)
	if err != nil {
		return nil, err
	}
	if err := c.checkShift64(shift); err != nil {
		return nil, err
	}
	lo, hi, err := c.activationRangeTyped(opts.FusedActivationFunction, output, oq)
	if err != nil {
		return nil, err
	}
	bv := make([]int64, oc)
	if bias >= 0 {
		if err := c.wantType(bias, schema.TensorTypeINT64, schema.TensorTypeINT16); err != nil {
			return nil, err
		}
		if err := c.wantConst(bias); err != nil {
			return nil, err
		}
		if c.elements(bias) != oc {
			return nil, c.errorf("%s has %d elements, want %d", c.desc(bias), c.elements(bias), oc)
		}
		if c.info(bias).Type == schema.TensorTypeINT16 {
			for i, v := range i16(c.p.constant[bias])[:oc] {
				bv[i] = int64(v)
			}
		} else {
			copy(bv, view[int64](c.p.constant[bias])[:oc])
		}
	}
	w := i8(c.p.constant[filter])
	n := c.elements(output)
	c.p.scratch = max(c.p.scratch, 8*n)
	return kernelFunc(func(x *execCtx) {
		src, dst := i16(x.data[input]), i16(x.data[output])
		acc := view[int64](x.scratch[0])[:n]
		clear(acc)
		g.scatter(func(o, i, wi int) { acc[o] += int64(int32(src[i]) * int32(w[wi])) })
		for o, a := range acc {
			ch := o % oc
			dst[o] = requant16(a+bv[ch], true, mult[ch], shift[ch], 0, lo, hi)
		}
	}), nil
}

// tconvGeom is the TRANSPOSE_CONV scatter geometry.
type tconvGeom struct {
	is, fs, os []int
	sh, sw     int
	padT, padL int
}

// scatter calls f(outIndex, inIndex, filterIndex) in TFLM's loop order: batch, input row,
// input column, input channel, filter row, filter column, output channel, skipping
// outputs outside the tensor.
func (g *tconvGeom) scatter(f func(o, i, wi int)) {
	is, fs, os := g.is, g.fs, g.os
	for b := range is[0] {
		for iy := range is[1] {
			for ix := range is[2] {
				for ic := range is[3] {
					i := ((b*is[1]+iy)*is[2]+ix)*is[3] + ic
					oy0, ox0 := iy*g.sh-g.padT, ix*g.sw-g.padL
					for ky := range fs[1] {
						oy := oy0 + ky
						if oy < 0 || oy >= os[1] {
							continue
						}
						for kx := range fs[2] {
							ox := ox0 + kx
							if ox < 0 || ox >= os[2] {
								continue
							}
							base := ((b*os[1]+oy)*os[2] + ox) * os[3]
							for oc := range os[3] {
								f(base+oc, i, ((oc*fs[1]+ky)*fs[2]+kx)*fs[3]+ic)
							}
						}
					}
				}
			}
		}
	}
}
