package interp

import (
	"math"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// argMinMax: TFLM arg_min_max.cc with int8 or float32 input, a constant int32 axis and an
// int32 output: the first index of the extreme value along the axis (ties keep the
// earliest: strict comparison).
func (c *prep) argMinMax(isMax bool) (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	axisT, _ := c.in(1)
	out, _ := c.out(0)
	if err := c.wantType(in, schema.TensorTypeINT8, schema.TensorTypeFLOAT32); err != nil {
		return nil, err
	}
	if err := c.wantType(axisT, schema.TensorTypeINT32); err != nil {
		return nil, err
	}
	if err := c.wantType(out, schema.TensorTypeINT32); err != nil {
		return nil, err
	}
	is := shapeInts(c.info(in).Shape)
	axis, err := c.constAxis(axisT, len(is))
	if err != nil {
		return nil, err
	}
	want := append(append([]int(nil), is[:axis]...), is[axis+1:]...)
	if product(want) != c.elements(out) {
		return nil, c.errorf("output %s, want shape %v", c.desc(out), want)
	}
	outer, size, inner := product(is[:axis]), is[axis], product(is[axis+1:])
	if size == 0 {
		return nil, c.errorf("axis %d of %s is empty", axis, c.desc(in))
	}
	if c.info(in).Type == schema.TensorTypeINT8 {
		return argRun[int8](in, out, outer, size, inner, isMax), nil
	}
	return argRun[float32](in, out, outer, size, inner, isMax), nil
}

func argRun[T int8 | float32](in, out, outer, size, inner int, isMax bool) kernel {
	return kernelFunc(func(x *execCtx) {
		src, dst := view[T](x.data[in]), i32(x.data[out])
		for o := range outer {
			for j := range inner {
				best := src[o*size*inner+j]
				bi := 0
				for i := 1; i < size; i++ {
					v := src[(o*size+i)*inner+j]
					if (isMax && v > best) || (!isMax && v < best) {
						best, bi = v, i
					}
				}
				dst[o*inner+j] = int32(bi)
			}
		}
	})
}

// l2Normalization: TFLM l2norm.cc over the last axis (rank <= 4, no fused activation).
// int8 (reference_integer_ops::L2Normalization): sum of squared (x - zp_in), its inverse
// square root from GetInvSqrtQuantizedMultiplierExp, each (x - zp) scaled by it with 7
// more bits (the output is assumed scale 1/128, zero point 0), clamped. float32:
// x / max(sqrt(sum x^2), 1e-6).
func (c *prep) l2Normalization() (kernel, error) {
	in, out, err := c.sameTypeUnary(schema.TensorTypeINT8, schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	if o, ok := c.options().(*schema.L2NormOptionsT); ok && o != nil && o.FusedActivationFunction != schema.ActivationFunctionTypeNONE {
		return nil, c.errorf("fused activation is not supported")
	}
	is := shapeInts(c.info(in).Shape)
	if len(is) == 0 || len(is) > 4 {
		return nil, c.errorf("%s: rank must be 1 to 4", c.desc(in))
	}
	depth := is[len(is)-1]
	outer := product(is[:len(is)-1])
	if c.info(in).Type == schema.TensorTypeFLOAT32 {
		return kernelFunc(func(x *execCtx) {
			src, dst := view[float32](x.data[in]), view[float32](x.data[out])
			for o := range outer {
				row := src[o*depth : (o+1)*depth]
				var sq float32
				for _, v := range row {
					sq += v * v
				}
				norm := max(float32(math.Sqrt(float64(sq))), 1e-6)
				for i, v := range row {
					dst[o*depth+i] = v / norm
				}
			}
		}), nil
	}
	qi, err := c.quant8(in)
	if err != nil {
		return nil, err
	}
	return kernelFunc(func(x *execCtx) {
		src, dst := i8(x.data[in]), i8(x.data[out])
		for o := range outer {
			row := src[o*depth : (o+1)*depth]
			var acc int32
			for _, v := range row {
				d := int32(v) - qi.zp
				acc += d * d
			}
			m, s := invSqrtMultiplierExp(acc)
			for i, v := range row {
				r := mulQuant(int32(v)-qi.zp, m, s+7)
				dst[o*depth+i] = int8(clampI32(r, math.MinInt8, math.MaxInt8))
			}
		}
	}), nil
}

// resizeBilinear: TFLM resize_bilinear.cc (int8 and float32; constant size;
// half_pixel_centers excludes align_corners). Integers use ResizeBilinearInteger: scales
// and positions in 10 fractional bits, the four taps weighted in 20 bits and rounded half
// away from zero (TFLITE_SINGLE_ROUNDING unset). float32 uses ResizeBilinear's float
// arithmetic as written there.
func (c *prep) resizeBilinear() (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	sizeT, _ := c.in(1)
	out, _ := c.out(0)
	// TFLM's Eval accepts float32 and int8 only.
	if err := c.wantType(in, schema.TensorTypeINT8, schema.TensorTypeFLOAT32); err != nil {
		return nil, err
	}
	if _, err := c.moveTypes(in, out); err != nil {
		return nil, err
	}
	opts, _ := c.options().(*schema.ResizeBilinearOptionsT)
	if opts == nil {
		opts = &schema.ResizeBilinearOptionsT{}
	}
	if opts.AlignCorners && opts.HalfPixelCenters {
		return nil, c.errorf("align_corners and half_pixel_centers cannot both be set")
	}
	is, os, err := c.resizeShapes(in, sizeT, out)
	if err != nil {
		return nil, err
	}
	if c.info(in).Type == schema.TensorTypeINT8 {
		return bilinearInt[int8](in, out, is, os, opts.AlignCorners, opts.HalfPixelCenters), nil
	}
	return bilinearFloat(in, out, is, os, opts.AlignCorners, opts.HalfPixelCenters), nil
}

// taps are one output coordinate's two source positions and its fixed-point position.
type taps struct{ pos, lo, hi int32 }

func integerTaps(inSize, outSize int, align, half bool) []taps {
	scale := int32(((1<<10)*inSize + outSize/2) / outSize)
	if align && outSize > 1 {
		scale = int32(((1<<10)*(inSize-1) + (outSize-1)/2) / (outSize - 1))
	}
	t := make([]taps, outSize)
	for v := range outSize {
		p := int32(v) * scale
		if half {
			p = int32(v)*scale + scale/2 - (1 << 9)
		}
		t[v] = taps{pos: p, lo: max(p/(1<<10), 0), hi: min((p+(1<<10)-1)/(1<<10), int32(inSize-1))}
	}
	return t
}

func bilinearInt[T int8 | int16](in, out int, is, os []int, align, half bool) kernel {
	ty, tx := integerTaps(is[1], os[1], align, half), integerTaps(is[2], os[2], align, half)
	depth := is[3]
	return kernelFunc(func(x *execCtx) {
		src, dst := view[T](x.data[in]), view[T](x.data[out])
		at := func(b int, y, xx int32, c int) int64 {
			return int64(src[((b*is[1]+int(y))*is[2]+int(xx))*depth+c])
		}
		o := 0
		for b := range is[0] {
			for _, yv := range ty {
				fy := int64(yv.pos - (1<<10)*yv.lo)
				for _, xv := range tx {
					fx := int64(xv.pos - (1<<10)*xv.lo)
					for c := range depth {
						s := at(b, yv.lo, xv.lo, c)*((1<<10)-fy)*((1<<10)-fx) +
							at(b, yv.hi, xv.lo, c)*fy*((1<<10)-fx) +
							at(b, yv.lo, xv.hi, c)*((1<<10)-fy)*fx +
							at(b, yv.hi, xv.hi, c)*fy*fx
						round := int64(1 << 19)
						if s <= 0 {
							round = -(1 << 19)
						}
						dst[o] = T((s + round) / (1 << 20))
						o++
					}
				}
			}
		}
	})
}

// floatTaps is ComputeInterpolationValues in float32.
func floatTaps(inSize, outSize int, align, half bool) ([]float32, []int32, []int32) {
	scale := float32(inSize) / float32(outSize)
	if align && outSize > 1 {
		scale = float32(inSize-1) / float32(outSize-1)
	}
	pos, lo, hi := make([]float32, outSize), make([]int32, outSize), make([]int32, outSize)
	for v := range outSize {
		var p float32
		if half {
			p = float32(float32(v)+0.5)*scale - 0.5
		} else {
			p = float32(v) * scale
		}
		pos[v] = p
		lo[v] = max(int32(math.Floor(float64(p))), 0)
		hi[v] = min(int32(math.Ceil(float64(p))), int32(inSize-1))
	}
	return pos, lo, hi
}

func bilinearFloat(in, out int, is, os []int, align, half bool) kernel {
	py, y0s, y1s := floatTaps(is[1], os[1], align, half)
	px, x0s, x1s := floatTaps(is[2], os[2], align, half)
	depth := is[3]
	return kernelFunc(func(x *execCtx) {
		src, dst := view[float32](x.data[in]), view[float32](x.data[out])
		at := func(b int, y, xx int32, c int) float32 {
			return src[((b*is[1]+int(y))*is[2]+int(xx))*depth+c]
		}
		o := 0
		for b := range is[0] {
			for yi := range os[1] {
				iy, y0, y1 := py[yi], y0s[yi], y1s[yi]
				dy := iy - float32(y0)
				for xi := range os[2] {
					ix, x0, x1 := px[xi], x0s[xi], x1s[xi]
					dx := ix - float32(x0)
					for c := range depth {
						// Evaluated left to right as the reference writes it, each
						// product rounded to float32.
						a := float32(float32(at(b, y0, x0, c)*(1-dy)) * (1 - dx))
						bb := float32(float32(at(b, y1, x0, c)*dy) * (1 - dx))
						cc := float32(float32(at(b, y0, x1, c)*(1-dy)) * dx)
						d := float32(float32(at(b, y1, x1, c)*dy) * dx)
						dst[o] = float32(float32(float32(a+bb)+cc)+d) + 0
						o++
					}
				}
			}
		}
	})
}
