package interp

import (
	"math"
	"math/bits"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// reduceKernel is MEAN, SUM, REDUCE_MAX and REDUCE_MIN over constant axes (TFLM
// reduce_common.cc). Quantized MEAN/SUM follow reference_ops QuantizedMeanOrSum: int32
// sums, then (sum - zp_in*n) scaled by QuantizeMultiplier(s_in/s_out), with 1/n folded into
// the multiplier for MEAN (shift' = min(floor(log2 n), 32, 31 + shift); mult' = (mult <<
// shift') / n), plus zp_out, clamped. float32 SUM adds in input order from 0;
// REDUCE_MAX/MIN start from the type's lowest/highest value and need int8 input and output
// to share their quantization.
type reduceKernel struct {
	in, out    int
	inShape    []int
	outStrides []int // per input dim: stride in the output (0 for reduced dims)
	outCount   int
	run1       func(r *reduceKernel, x *execCtx)
	// quantized MEAN/SUM
	inZp, outZp int32
	n           int32
	mult        int32
	shift       int
	lo, hi      int32
}

func (k *reduceKernel) run(x *execCtx) { k.run1(k, x) }

// each calls f(inIndex, outIndex) for every input element in row-major order.
func (k *reduceKernel) each(f func(i, o int)) {
	rank := len(k.inShape)
	var idx [8]int
	oi := 0
	n := product(k.inShape)
	for i := range n {
		f(i, oi)
		for d := rank - 1; d >= 0; d-- {
			idx[d]++
			oi += k.outStrides[d]
			if idx[d] < k.inShape[d] {
				break
			}
			oi -= k.outStrides[d] * idx[d]
			idx[d] = 0
		}
	}
}

type reduceOp int

const (
	reduceMean reduceOp = iota
	reduceSum
	reduceMax
	reduceMin
)

func (c *prep) reduce(op reduceOp) (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	input, _ := c.in(0)
	axis, _ := c.in(1)
	output, _ := c.out(0)
	types := []schema.TensorType{schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeFLOAT32}
	switch op {
	case reduceMean:
	case reduceMax, reduceMin:
		types = []schema.TensorType{schema.TensorTypeINT8, schema.TensorTypeFLOAT32}
	}
	if err := c.wantType(input, types...); err != nil {
		return nil, err
	}
	ty := c.info(input).Type
	if c.info(output).Type != ty {
		return nil, c.errorf("%s: type differs from the input", c.desc(output))
	}
	if err := c.wantConst(axis); err != nil {
		return nil, err
	}
	axes, err := c.constInt32s(axis)
	if err != nil {
		return nil, err
	}
	k := &reduceKernel{in: input, out: output, inShape: shapeInts(c.info(input).Shape)}
	rank := len(k.inShape)
	if rank > 8 {
		return nil, c.errorf("rank %d is not supported (at most 8)", rank)
	}
	reduced := make([]bool, rank)
	for _, a := range axes {
		ax, err := c.resolveAxis(int(a), rank)
		if err != nil {
			return nil, err
		}
		reduced[ax] = true
	}
	n := int64(1)
	var kept []int
	for i, d := range k.inShape {
		if reduced[i] {
			n *= int64(d)
		} else {
			kept = append(kept, d)
		}
	}
	k.outCount = product(kept)
	if k.outCount != c.elements(output) {
		return nil, c.errorf("output %s does not match the reduced shape %v", c.desc(output), kept)
	}
	if n == 0 || n > math.MaxInt32 {
		return nil, c.errorf("reducing %d elements is not supported", n)
	}
	k.n = int32(n)
	k.outStrides = make([]int, rank)
	st := 1
	for i := rank - 1; i >= 0; i-- {
		if !reduced[i] {
			k.outStrides[i] = st
			st *= k.inShape[i]
		}
	}
	if op == reduceMax || op == reduceMin {
		if ty == schema.TensorTypeFLOAT32 {
			// numeric_limits<float>::lowest() and max().
			if op == reduceMax {
				k.run1 = minMaxRun[float32](true, -math.MaxFloat32, 0)
			} else {
				k.run1 = minMaxRun[float32](false, 0, math.MaxFloat32)
			}
			return k, nil
		}
		qi, qo, err := c.quant2(input, output)
		if err != nil {
			return nil, err
		}
		if qi != qo {
			return nil, c.errorf("int8 input and output quantization must be equal")
		}
		k.run1 = minMaxRun[int8](op == reduceMax, math.MinInt8, math.MaxInt8)
		return k, nil
	}
	if ty == schema.TensorTypeFLOAT32 {
		// SUM: ReduceGeneric adds in input order from 0. MEAN (reference_ops::Mean, and its
		// 4-D height-and-width special case, which adds in the same order): that sum
		// divided by float(n).
		mean := op == reduceMean
		n := float32(k.n)
		k.run1 = func(k *reduceKernel, x *execCtx) {
			in, out := view[float32](x.data[k.in]), view[float32](x.data[k.out])
			clear(out)
			k.each(func(i, o int) { out[o] = in[i] + out[o] })
			if mean {
				for i := range out {
					out[i] /= n
				}
			}
		}
		return k, nil
	}
	qi, qo, err := c.quant2(input, output)
	if err != nil {
		return nil, err
	}
	k.inZp, k.outZp = qi.zp, qo.zp
	k.lo, k.hi = intRange(ty)
	k.mult, k.shift = quantizeMultiplier(float64(qi.scale) / float64(qo.scale))
	if op == reduceMean {
		s := 63 - bits.LeadingZeros64(uint64(n))
		s = min(s, 32, 31+k.shift)
		k.mult = int32((int64(k.mult) << s) / n)
		k.shift -= s
	}
	c.p.scratch = max(c.p.scratch, 4*k.outCount)
	if ty == schema.TensorTypeINT16 {
		k.run1 = quantSumRun[int16]
	} else {
		k.run1 = quantSumRun[int8]
	}
	return k, nil
}

func quantSumRun[T int8 | int16](k *reduceKernel, x *execCtx) {
	in, out := view[T](x.data[k.in]), view[T](x.data[k.out])
	sums := i32(x.scratch[0])[:k.outCount]
	clear(sums)
	k.each(func(i, o int) { sums[o] += int32(in[i]) })
	for i, s := range sums {
		v := mulQuant(s-k.inZp*k.n, k.mult, k.shift) + k.outZp
		out[i] = T(clampI32(v, k.lo, k.hi))
	}
}

// minMaxRun starts every output at lowest (max) or highest (min) and keeps the extreme.
func minMaxRun[T int8 | float32](isMax bool, lowest, highest T) func(*reduceKernel, *execCtx) {
	return func(k *reduceKernel, x *execCtx) {
		in, out := view[T](x.data[k.in]), view[T](x.data[k.out])
		init := highest
		if isMax {
			init = lowest
		}
		for i := range out {
			out[i] = init
		}
		if isMax {
			k.each(func(i, o int) {
				if in[i] > out[o] {
					out[o] = in[i]
				}
			})
			return
		}
		k.each(func(i, o int) {
			if in[i] < out[o] {
				out[o] = in[i]
			}
		})
	}
}
