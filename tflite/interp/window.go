package interp

import (
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// window is the checked geometry of a convolution-like operator on NHWC tensors (input
// [n,h,w,c], filter [oc,kh,kw,cg] or depthwise [1,kh,kw,oc], output [n,oh,ow,oc]) for the
// 16x8 and float32 kernels, which visit taps in TFLM's reference order.
type window struct {
	is, fs, os            []int
	sh, sw, dh, dw        int
	padT, padL            int
	cg, perGroup, mult    int // CONV_2D: filter depth, outputs per group; DEPTHWISE: multiplier
	input, filter, output int
}

// convWindow checks CONV_2D's (depthwise false) or DEPTHWISE_CONV_2D's operand shapes,
// strides, dilations and padding.
func (c *prep) convWindow(input, filter, output int, pad schema.Padding, sh, sw, dh, dw int, depthwise bool, depthMultiplier int) (*window, error) {
	for _, t := range []int{input, filter, output} {
		if err := c.wantRank(t, 4); err != nil {
			return nil, err
		}
	}
	if err := c.wantConst(filter); err != nil {
		return nil, err
	}
	g := &window{is: shapeInts(c.info(input).Shape), fs: shapeInts(c.info(filter).Shape), os: shapeInts(c.info(output).Shape),
		sh: sh, sw: sw, dh: max(dh, 1), dw: max(dw, 1), input: input, filter: filter, output: output}
	is, fs, os := g.is, g.fs, g.os
	bad := sh <= 0 || sw <= 0 || os[0] != is[0]
	if depthwise {
		bad = bad || fs[0] != 1 || fs[3] != os[3] || is[3] <= 0 || os[3]%is[3] != 0
		if !bad {
			g.mult = os[3] / is[3]
			if depthMultiplier != 0 && depthMultiplier != g.mult {
				return nil, c.errorf("depth_multiplier %d does not match input depth %d and output depth %d", depthMultiplier, is[3], os[3])
			}
		}
	} else {
		bad = bad || fs[0] != os[3] || fs[3] <= 0 || is[3] < fs[3] || is[3]%fs[3] != 0 || os[3]%(is[3]/fs[3]) != 0
		if !bad {
			g.cg = fs[3]
			g.perGroup = os[3] / (is[3] / fs[3])
		}
	}
	if bad {
		return nil, c.errorf("shapes do not match: input %v, filter %v, output %v", is, fs, os)
	}
	oh, padT, ok1 := padding(pad, is[1], fs[1], sh, g.dh)
	ow, padL, ok2 := padding(pad, is[2], fs[2], sw, g.dw)
	if !ok1 || !ok2 || oh != os[1] || ow != os[2] {
		return nil, c.errorf("output shape %v does not match the %dx%d output this padding, stride and dilation give", os, oh, ow)
	}
	g.padT, g.padL = padT, padL
	return g, nil
}

// convTaps calls f(inputIndex, filterIndex, n) for the runs of n = filter depth channels
// that output (b, oy, ox, oc) of a CONV_2D accumulates, in TFLM's order (filter row,
// column, then channel), skipping taps outside the image.
func (g *window) convTaps(b, oy, ox, oc int, f func(in, w, n int)) {
	is, fs := g.is, g.fs
	grp := oc / g.perGroup
	for ky := range fs[1] {
		iy := oy*g.sh - g.padT + ky*g.dh
		if iy < 0 || iy >= is[1] {
			continue
		}
		for kx := range fs[2] {
			ix := ox*g.sw - g.padL + kx*g.dw
			if ix < 0 || ix >= is[2] {
				continue
			}
			f(((b*is[1]+iy)*is[2]+ix)*is[3]+grp*g.cg, ((oc*fs[1]+ky)*fs[2]+kx)*g.cg, g.cg)
		}
	}
}

// depthwiseTaps calls f(inputIndex, filterIndex) for the taps output (b, oy, ox, oc) of a
// DEPTHWISE_CONV_2D accumulates, in TFLM's order, skipping taps outside the image.
func (g *window) depthwiseTaps(b, oy, ox, oc int, f func(in, w int)) {
	is, fs, os := g.is, g.fs, g.os
	ic := oc / g.mult
	for ky := range fs[1] {
		iy := oy*g.sh - g.padT + ky*g.dh
		if iy < 0 || iy >= is[1] {
			continue
		}
		for kx := range fs[2] {
			ix := ox*g.sw - g.padL + kx*g.dw
			if ix < 0 || ix >= is[2] {
				continue
			}
			f(((b*is[1]+iy)*is[2]+ix)*is[3]+ic, (ky*fs[2]+kx)*os[3]+oc)
		}
	}
}

// eachOutput calls f for every output coordinate in row-major order with its flat index.
func (g *window) eachOutput(f func(o, b, oy, ox, oc int)) {
	o := 0
	for b := range g.os[0] {
		for oy := range g.os[1] {
			for ox := range g.os[2] {
				for oc := range g.os[3] {
					f(o, b, oy, ox, oc)
					o++
				}
			}
		}
	}
}
