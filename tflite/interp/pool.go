package interp

import (
	"math"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// poolKernel is int8 AVERAGE_POOL_2D / MAX_POOL_2D following TFLM
// reference_integer_ops::AveragePool / MaxPool: the window is clipped to the image (no
// padding values enter), the average rounds half away from zero with integer division by
// the number of taps inside, and the result is clamped to the fused activation range.
type poolKernel struct {
	in, out        int
	avg            bool
	batch, h, w, c int
	oh, ow         int
	fh, fw, sh, sw int
	padT, padL     int
	actMin, actMax int32
}

func (c *prep) pool(avg bool) (kernel, error) {
	if err := c.counts(1, 1, 1); err != nil {
		return nil, err
	}
	if t := c.firstInputType(); t == schema.TensorTypeFLOAT32 || t == schema.TensorTypeINT16 {
		return c.poolOther(avg)
	}
	opts, _ := c.options().(*schema.Pool2DOptionsT)
	if opts == nil {
		return nil, c.errorf("missing Pool2DOptions")
	}
	input, _ := c.in(0)
	output, _ := c.out(0)
	for _, t := range []int{input, output} {
		if err := c.wantType(t, schema.TensorTypeINT8); err != nil {
			return nil, err
		}
		if err := c.wantRank(t, 4); err != nil {
			return nil, err
		}
	}
	iq, err := c.quant8(input)
	if err != nil {
		return nil, err
	}
	oq, err := c.quant8(output)
	if err != nil {
		return nil, err
	}
	// TFLM pooling_common.cc: input and output must share scale and zero point.
	if math.Abs(float64(iq.scale-oq.scale)) > 1e-6 || iq.zp != oq.zp {
		return nil, c.errorf("input and output quantization differ (scale %g/%g, zero point %d/%d)", iq.scale, oq.scale, iq.zp, oq.zp)
	}
	is, os := shapeInts(c.info(input).Shape), shapeInts(c.info(output).Shape)
	k := &poolKernel{in: input, out: output, avg: avg,
		batch: is[0], h: is[1], w: is[2], c: is[3], oh: os[1], ow: os[2],
		fh: int(opts.FilterHeight), fw: int(opts.FilterWidth), sh: int(opts.StrideH), sw: int(opts.StrideW)}
	if os[0] != is[0] || os[3] != is[3] {
		return nil, c.errorf("input %v and output %v shapes do not match", is, os)
	}
	oh, padT, ok1 := padding(opts.Padding, k.h, k.fh, k.sh, 1)
	ow, padL, ok2 := padding(opts.Padding, k.w, k.fw, k.sw, 1)
	if !ok1 || !ok2 || oh != k.oh || ow != k.ow {
		return nil, c.errorf("output shape %v does not match the %dx%d output this filter, padding and stride give", os, oh, ow)
	}
	k.padT, k.padL = padT, padL
	if avg {
		// A window entirely outside the image makes TFLM's AveragePool fail.
		if padT >= k.fh || padL >= k.fw {
			return nil, c.errorf("padding %dx%d leaves windows with no input", padT, padL)
		}
	}
	if k.actMin, k.actMax, err = c.activationRange(opts.FusedActivationFunction, oq); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *poolKernel) run(x *execCtx) {
	in, out := i8(x.data[k.in]), i8(x.data[k.out])
	for b := range k.batch {
		for oy := range k.oh {
			iy0 := oy*k.sh - k.padT
			fy0, fy1 := max(0, -iy0), min(k.fh, k.h-iy0)
			for ox := range k.ow {
				ix0 := ox*k.sw - k.padL
				fx0, fx1 := max(0, -ix0), min(k.fw, k.w-ix0)
				o := out[((b*k.oh+oy)*k.ow+ox)*k.c:][:k.c]
				for ch := range o {
					var acc int32
					count := int32(0)
					mx := int32(math.MinInt8)
					for fy := fy0; fy < fy1; fy++ {
						row := ((b*k.h+iy0+fy)*k.w + ix0) * k.c
						for fx := fx0; fx < fx1; fx++ {
							v := int32(in[row+fx*k.c+ch])
							acc += v
							mx = max(mx, v)
							count++
						}
					}
					if k.avg {
						if count > 0 {
							if acc > 0 {
								acc = (acc + count/2) / count
							} else {
								acc = (acc - count/2) / count
							}
						}
						o[ch] = int8(clampI32(acc, k.actMin, k.actMax))
					} else {
						o[ch] = int8(clampI32(mx, k.actMin, k.actMax))
					}
				}
			}
		}
	}
}
