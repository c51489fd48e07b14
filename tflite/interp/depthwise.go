package interp

import (
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// depthwiseKernel is DEPTHWISE_CONV_2D (int8), following TFLM
// reference_integer_ops::DepthwiseConvPerChannel: output channel ic*mult+m accumulates
// w*(x - zp_in) over the window taps inside the image (outside taps are skipped), adds the
// bias and requantizes per channel.
type depthwiseKernel struct {
	in, out              int
	batch, h, w, c, mult int
	oh, ow, oc           int
	kh, kw, sh, sw       int
	dh, dw, padT, padL   int
	weights              []int32 // kh*kw*oc, tap-major like the filter [1,kh,kw,oc]
	bias                 []int32
	inOff                int32 // -zp_in
	rq                   requant
}

func (c *prep) depthwiseConv2D() (kernel, error) {
	if err := c.counts(2, 3, 1); err != nil {
		return nil, err
	}
	opts, _ := c.options().(*schema.DepthwiseConv2DOptionsT)
	if opts == nil {
		return nil, c.errorf("missing DepthwiseConv2DOptions")
	}
	switch c.firstInputType() {
	case schema.TensorTypeINT16:
		return c.depthwise16(opts)
	case schema.TensorTypeFLOAT32:
		return c.depthwiseFloat(opts)
	}
	input, filter, output, bias, err := c.weightedOperands()
	if err != nil {
		return nil, err
	}
	for _, t := range []int{input, filter, output} {
		if err := c.wantType(t, schema.TensorTypeINT8); err != nil {
			return nil, err
		}
		if err := c.wantRank(t, 4); err != nil {
			return nil, err
		}
	}
	if err := c.wantConst(filter); err != nil {
		return nil, err
	}
	is, fs, os := shapeInts(c.info(input).Shape), shapeInts(c.info(filter).Shape), shapeInts(c.info(output).Shape)
	k := &depthwiseKernel{in: input, out: output,
		batch: is[0], h: is[1], w: is[2], c: is[3],
		oh: os[1], ow: os[2], oc: os[3], kh: fs[1], kw: fs[2],
		sh: int(opts.StrideH), sw: int(opts.StrideW),
		dh: max(int(opts.DilationHFactor), 1), dw: max(int(opts.DilationWFactor), 1)}
	if k.sh <= 0 || k.sw <= 0 {
		return nil, c.errorf("invalid strides %dx%d", k.sh, k.sw)
	}
	if fs[0] != 1 || fs[3] != k.oc || os[0] != k.batch || k.c == 0 || k.oc%k.c != 0 {
		return nil, c.errorf("shapes do not match: input %v, filter %v, output %v", is, fs, os)
	}
	// TFLM derives the multiplier from the shapes (output depth = input depth * multiplier);
	// the option must agree when set.
	k.mult = k.oc / k.c
	if m := int(opts.DepthMultiplier); m != 0 && m != k.mult {
		return nil, c.errorf("depth_multiplier %d does not match input depth %d and output depth %d", m, k.c, k.oc)
	}
	oh, padT, ok1 := padding(opts.Padding, k.h, k.kh, k.sh, k.dh)
	ow, padL, ok2 := padding(opts.Padding, k.w, k.kw, k.sw, k.dw)
	if !ok1 || !ok2 || oh != k.oh || ow != k.ow {
		return nil, c.errorf("output shape %v does not match the %dx%d output this padding, stride and dilation give", os, oh, ow)
	}
	k.padT, k.padL = padT, padL
	if k.rq, err = c.convRequant(input, filter, output, k.oc, opts.FusedActivationFunction); err != nil {
		return nil, err
	}
	iq, _ := c.quant8(input)
	k.inOff = -iq.zp
	k.bias = make([]int32, k.oc)
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
		k.bias, _ = c.constInt32s(bias)
	}
	wd := i8(c.p.constant[filter])
	k.weights = make([]int32, len(wd))
	for i, v := range wd {
		k.weights[i] = int32(v)
	}
	c.p.scratch = max(c.p.scratch, 4*k.ow*k.oc)
	return k, nil
}

func (k *depthwiseKernel) run(x *execCtx) {
	in := i8(x.data[k.in])
	out := i8(x.data[k.out])
	work := int64(k.oh) * int64(k.ow) * int64(k.oc) * int64(k.kh*k.kw)
	for b := range k.batch {
		inB := in[b*k.h*k.w*k.c : (b+1)*k.h*k.w*k.c]
		outB := out[b*k.oh*k.ow*k.oc : (b+1)*k.oh*k.ow*k.oc]
		x.parallel(k.oh, work, func(worker, lo, hi int) {
			s := i32(x.scratch[worker])
			acc := s[:k.ow*k.oc]
			for oy := lo; oy < hi; oy++ {
				k.row(inB, outB[oy*k.ow*k.oc:(oy+1)*k.ow*k.oc], oy, acc)
			}
		})
	}
}

// row computes output row oy. It accumulates tap by tap over the whole row: for tap
// (ky, kx) only the output columns whose input column lies inside the image take part,
// which is exactly TFLM's rule of omitting taps outside the image.
func (k *depthwiseKernel) row(in, out []int8, oy int, acc []int32) {
	clear(acc)
	iy0 := oy*k.sh - k.padT
	for ky := range k.kh {
		iy := iy0 + ky*k.dh
		if iy < 0 || iy >= k.h {
			continue
		}
		rowIn := in[iy*k.w*k.c : (iy+1)*k.w*k.c]
		for kx := range k.kw {
			// Output columns ox with 0 <= ox*sw - padL + kx*dw < w.
			shift := kx*k.dw - k.padL
			lo := 0
			if shift < 0 {
				lo = (-shift + k.sw - 1) / k.sw
			}
			hi := 0
			if k.w-1-shift >= 0 {
				hi = min(k.ow, (k.w-1-shift)/k.sw+1)
			}
			if lo >= hi {
				continue
			}
			wt := k.weights[(ky*k.kw+kx)*k.oc : (ky*k.kw+kx+1)*k.oc]
			first := (lo*k.sw + shift) * k.c
			if k.mult == 1 {
				dwRow(acc[lo*k.oc:hi*k.oc], rowIn[first:], wt, k.inOff, k.c, hi-lo, k.sw*k.c)
				continue
			}
			// Depth multiplier > 1: input channel i feeds output channels i*mult .. i*mult+mult-1.
			for ox := lo; ox < hi; ox++ {
				src := rowIn[first+(ox-lo)*k.sw*k.c:][:k.c]
				a := acc[ox*k.oc : (ox+1)*k.oc]
				for i, v := range src {
					xi := int32(v) + k.inOff
					as := a[i*k.mult : (i+1)*k.mult]
					ws := wt[i*k.mult : (i+1)*k.mult]
					ws = ws[:len(as)]
					for m := range as {
						as[m] += ws[m] * xi
					}
				}
			}
		}
	}
	for ox := range k.ow {
		o := out[ox*k.oc : (ox+1)*k.oc]
		a := acc[ox*k.oc : (ox+1)*k.oc]
		if k.rq.fast {
			k.rq.row(a, k.bias, 0, o)
			continue
		}
		for ch := range o {
			o[ch] = k.rq.output(a[ch]+k.bias[ch], ch)
		}
	}
}

// dwRowGeneric adds, for npix pixels, w[ch]*(x[p*xstride + ch] + off) to acc[p*c + ch].
func dwRowGeneric(acc []int32, x []int8, w []int32, off int32, c, npix, xstride int) {
	w = w[:c]
	for p := range npix {
		a := acc[p*c : (p+1)*c]
		src := x[p*xstride : p*xstride+c]
		for i, v := range src {
			a[i] += w[i] * (int32(v) + off)
		}
	}
}
