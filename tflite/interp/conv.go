package interp

import (
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// padding is TFLM padding.h ComputePaddingHeightWidth for one dimension: the output size
// for SAME ((in + stride - 1) / stride) or VALID ((in + stride - effective_filter) / stride),
// and the leading pad, total_padding / 2 with total_padding = max(0, (out-1)*stride +
// effective_filter - in). The trailing pad is whatever the window needs beyond the input.
func padding(p schema.Padding, in, filter, stride, dilation int) (out, before int, ok bool) {
	if in < 0 || filter <= 0 || stride <= 0 || dilation <= 0 {
		return 0, 0, false
	}
	eff := (filter-1)*dilation + 1
	switch p {
	case schema.PaddingSAME:
		out = (in + stride - 1) / stride
	case schema.PaddingVALID:
		out = (in + stride - eff) / stride
	default:
		return 0, 0, false
	}
	if out < 0 {
		return 0, 0, false
	}
	total := max((out-1)*stride+eff-in, 0)
	return out, total / 2, true
}

// requant holds one output channel group's fixed-point requantization, as TFLM's
// PopulateConvolutionQuantizationParams computes it.
type requant struct {
	mult   []int32
	shift  []int
	lshift []int32 // max(shift, 0), for row
	rshift []int32 // max(-shift, 0), for row
	fast   bool    // row may be used
	outZp  int32
	actMin int32
	actMax int32
}

// convRequant computes per-channel multipliers: effective scale = double(input scale) *
// double(filter scale[c]) / double(output scale), QuantizeMultiplier'd (TFLM kernel_util.cc
// PopulateConvolutionQuantizationParams; a single filter scale is broadcast to all channels).
func (c *prep) convRequant(input, filter, output int, channels int, act schema.ActivationFunctionType) (requant, error) {
	var r requant
	iq, err := c.quant8(input)
	if err != nil {
		return r, err
	}
	oq, err := c.quant8(output)
	if err != nil {
		return r, err
	}
	fs := c.info(filter).Scale
	if len(fs) == 0 {
		return r, c.errorf("%s has no quantization parameters", c.desc(filter))
	}
	if len(fs) != 1 && len(fs) != channels {
		return r, c.errorf("%s has %d scales for %d output channels", c.desc(filter), len(fs), channels)
	}
	r.mult = make([]int32, channels)
	r.shift = make([]int, channels)
	for ch := range channels {
		s := fs[0]
		if len(fs) > 1 {
			s = fs[ch]
		}
		eff := float64(iq.scale) * float64(s) / float64(oq.scale)
		r.mult[ch], r.shift[ch] = quantizeMultiplier(eff)
	}
	r.outZp = oq.zp
	r.fast = r.splitShifts()
	r.actMin, r.actMax, err = c.activationRange(act, oq)
	return r, err
}

// output requantizes one accumulator of channel ch: TFLM reference conv/depthwise/FC:
// MultiplyByQuantizedMultiplier, add the output zero point, clamp to the activation range.
func (r *requant) output(acc int32, ch int) int8 {
	v := mulQuant(acc, r.mult[ch], r.shift[ch]) + r.outZp
	return int8(clampI32(v, r.actMin, r.actMax))
}

// convKernel is CONV_2D with int8 input/output, int8 weights and int32 bias, following TFLM
// reference_integer_ops::ConvPerChannel. Bit-exact restructuring: instead of skipping
// out-of-image taps (TFLM: "zero padding by omitting the areas outside the image"), the
// patch gathers the input zero point there, whose contribution w*(zp - zp) is zero; and
// acc = sum w*(x - zp) + bias is computed as sum w*x + (bias - zp*sum w), which is the same
// int32 value in two's-complement arithmetic. Weights are widened to int16 and each row is
// padded with zeros to a multiple of 16 for the dot-product kernels.
type convKernel struct {
	in, out                int
	batch, h, w, c         int
	oh, ow, oc             int
	kh, kw, sh, sw, dh, dw int
	padT, padL             int
	groups, cg, ocPerGroup int
	k, kp                  int
	weights                []int16 // oc rows of kp values
	bias                   []int32 // folded: bias - zp_in*sum(w)
	inZp                   int16
	rq                     requant
	macsPerRow             int64
}

func (c *prep) conv2D() (kernel, error) {
	if err := c.counts(2, 3, 1); err != nil {
		return nil, err
	}
	opts, _ := c.options().(*schema.Conv2DOptionsT)
	if opts == nil {
		return nil, c.errorf("missing Conv2DOptions")
	}
	switch c.firstInputType() {
	case schema.TensorTypeINT16:
		return c.conv16(opts)
	case schema.TensorTypeFLOAT32:
		return c.convFloat(opts)
	}
	return c.convLike(opts.Padding, int(opts.StrideH), int(opts.StrideW), int(opts.DilationHFactor), int(opts.DilationWFactor), opts.FusedActivationFunction)
}

func (c *prep) convLike(pad schema.Padding, sh, sw, dh, dw int, act schema.ActivationFunctionType) (kernel, error) {
	input, filter, output, bias, err := c.weightedOperands()
	if err != nil {
		return nil, err
	}
	if err := c.wantType(input, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	if err := c.wantType(filter, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	if err := c.wantType(output, schema.TensorTypeINT8); err != nil {
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
	k := &convKernel{in: input, out: output,
		batch: is[0], h: is[1], w: is[2], c: is[3],
		oh: os[1], ow: os[2], oc: os[3],
		kh: fs[1], kw: fs[2], cg: fs[3],
		sh: sh, sw: sw, dh: max(dh, 1), dw: max(dw, 1)}
	if sh <= 0 || sw <= 0 || dh < 0 || dw < 0 {
		return nil, c.errorf("invalid strides %dx%d or dilation %dx%d", sh, sw, dh, dw)
	}
	if os[0] != is[0] || fs[0] != os[3] {
		return nil, c.errorf("shapes do not match: input %v, filter %v, output %v", is, fs, os)
	}
	if k.cg <= 0 || k.c < k.cg || k.c%k.cg != 0 || k.oc%(k.c/k.cg) != 0 {
		return nil, c.errorf("filter depth %d does not divide input depth %d into groups", k.cg, k.c)
	}
	k.groups = k.c / k.cg
	k.ocPerGroup = k.oc / k.groups
	oh, padT, ok1 := padding(pad, k.h, k.kh, k.sh, k.dh)
	ow, padL, ok2 := padding(pad, k.w, k.kw, k.sw, k.dw)
	if !ok1 || !ok2 || oh != k.oh || ow != k.ow {
		return nil, c.errorf("output shape %v does not match the %dx%d output this padding, stride and dilation give", os, oh, ow)
	}
	k.padT, k.padL = padT, padL
	if k.rq, err = c.convRequant(input, filter, output, k.oc, act); err != nil {
		return nil, err
	}
	iq, _ := c.quant8(input)
	k.inZp = int16(iq.zp)
	var biasV []int32
	if bias >= 0 {
		if err := c.wantType(bias, schema.TensorTypeINT32); err != nil {
			return nil, err
		}
		if err := c.wantConst(bias); err != nil {
			return nil, err
		}
		if c.elements(bias) != k.oc {
			return nil, c.errorf("%s has %d elements, want %d", c.desc(bias), c.elements(bias), k.oc)
		}
		biasV, _ = c.constInt32s(bias)
	}
	k.k = k.kh * k.kw * k.cg
	k.kp = (k.k + 15) &^ 15
	k.weights = make([]int16, k.oc*k.kp)
	k.bias = make([]int32, k.oc)
	wd := i8(c.p.constant[filter])
	for o := range k.oc {
		var sum int32
		row := k.weights[o*k.kp : o*k.kp+k.k]
		for j, v := range wd[o*k.k : (o+1)*k.k] {
			row[j] = int16(v)
			sum += int32(v)
		}
		var b int32
		if biasV != nil {
			b = biasV[o]
		}
		k.bias[o] = b - int32(iq.zp)*sum
	}
	k.macsPerRow = int64(k.ow) * int64(k.oc) * int64(k.k)
	c.p.scratch = max(c.p.scratch, 2*k.ow*k.kp+4*k.oc)
	return k, nil
}

func (k *convKernel) run(x *execCtx) {
	in := i8(x.data[k.in])
	out := i8(x.data[k.out])
	for b := range k.batch {
		inB := in[b*k.h*k.w*k.c : (b+1)*k.h*k.w*k.c]
		outB := out[b*k.oh*k.ow*k.oc : (b+1)*k.oh*k.ow*k.oc]
		x.parallel(k.oh, k.macsPerRow*int64(k.oh), func(worker, lo, hi int) {
			s := x.scratch[worker]
			patches := i16(s)[:k.ow*k.kp]
			acc := i32(s[2*k.ow*k.kp:])[:k.oc]
			for oy := lo; oy < hi; oy++ {
				for g := range k.groups {
					k.im2row(inB, oy, g, patches)
					k.gemmRow(patches, outB[oy*k.ow*k.oc:(oy+1)*k.ow*k.oc], g, acc)
				}
			}
		})
	}
}

// im2row gathers, for every output pixel of row oy, the kh*kw*cg input values its window
// covers (group g's channels) as int16, the input zero point where the window leaves the
// image, and zeros up to kp.
func (k *convKernel) im2row(in []int8, oy, g int, patches []int16) {
	zp := k.inZp
	c0 := g * k.cg
	for ox := range k.ow {
		dst := patches[ox*k.kp : (ox+1)*k.kp]
		j := 0
		iy0 := oy*k.sh - k.padT
		ix0 := ox*k.sw - k.padL
		for ky := range k.kh {
			iy := iy0 + ky*k.dh
			for kx := range k.kw {
				ix := ix0 + kx*k.dw
				seg := dst[j : j+k.cg]
				if iy < 0 || iy >= k.h || ix < 0 || ix >= k.w {
					for i := range seg {
						seg[i] = zp
					}
				} else {
					src := in[(iy*k.w+ix)*k.c+c0 : (iy*k.w+ix)*k.c+c0+k.cg]
					for i, v := range src {
						seg[i] = int16(v)
					}
				}
				j += k.cg
			}
		}
		clear(dst[j:])
	}
}

// gemmRow computes one output row for group g from its patches.
func (k *convKernel) gemmRow(patches []int16, out []int8, g int, acc []int32) {
	oc0 := g * k.ocPerGroup
	n := k.ocPerGroup
	acc = acc[:n]
	for ox := range k.ow {
		a := patches[ox*k.kp : (ox+1)*k.kp]
		ch := 0
		for ; ch+4 <= n; ch += 4 {
			oc := oc0 + ch
			dot4(a, k.weights[oc*k.kp:(oc+4)*k.kp], k.kp, (*[4]int32)(acc[ch:ch+4]))
		}
		for ; ch < n; ch++ {
			oc := oc0 + ch
			acc[ch] = dot1(a, k.weights[oc*k.kp:(oc+1)*k.kp])
		}
		o := out[ox*k.oc+oc0 : ox*k.oc+oc0+n]
		if k.rq.fast {
			k.rq.row(acc, k.bias[oc0:oc0+n], oc0, o)
			continue
		}
		for j := range o {
			o[j] = k.rq.output(acc[j]+k.bias[oc0+j], oc0+j)
		}
	}
}

// dot1 is the int32 dot product of two equally long int16 vectors.
func dot1(a, w []int16) int32 {
	w = w[:len(a)]
	var s int32
	for i, v := range a {
		s += int32(v) * int32(w[i])
	}
	return s
}

// dot4Generic computes the dot products of a with four consecutive rows of w (row length kp).
func dot4Generic(a, w []int16, kp int, acc *[4]int32) {
	a = a[:kp]
	w0, w1, w2, w3 := w[:kp], w[kp:2*kp], w[2*kp:3*kp], w[3*kp:4*kp]
	var s0, s1, s2, s3 int32
	for i, v := range a {
		x := int32(v)
		s0 += x * int32(w0[i])
		s1 += x * int32(w1[i])
		s2 += x * int32(w2[i])
		s3 += x * int32(w3[i])
	}
	acc[0], acc[1], acc[2], acc[3] = s0, s1, s2, s3
}
