package interp

import (
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// broadcast maps output elements to input elements for the element-wise binary ops, with
// TFLite's rule: shapes are right-aligned and dimensions of size 1 are repeated.
type broadcast struct {
	same     bool
	outShape []int
	s1, s2   []int // per output dimension, element strides of each input (0 = repeated)
}

func (c *prep) broadcastShapes(a, b, out int) (broadcast, error) {
	sa, sb := shapeInts(c.info(a).Shape), shapeInts(c.info(b).Shape)
	if sameShape(c.info(a).Shape, c.info(b).Shape) && sameShape(c.info(a).Shape, c.info(out).Shape) {
		return broadcast{same: true}, nil
	}
	n := max(len(sa), len(sb))
	if n > 6 {
		return broadcast{}, c.errorf("broadcasting beyond 6 dimensions is not supported")
	}
	bc := broadcast{outShape: make([]int, n), s1: make([]int, n), s2: make([]int, n)}
	dimAt := func(s []int, i int) int { // i counts from the left of an n-dim shape
		j := i - (n - len(s))
		if j < 0 {
			return 1
		}
		return s[j]
	}
	st1, st2 := 1, 1
	for i := n - 1; i >= 0; i-- {
		d1, d2 := dimAt(sa, i), dimAt(sb, i)
		d := max(d1, d2)
		if (d1 != d && d1 != 1) || (d2 != d && d2 != 1) {
			return broadcast{}, c.errorf("shapes %v and %v cannot be broadcast", sa, sb)
		}
		if d1 == 0 || d2 == 0 {
			d = 0
		}
		bc.outShape[i] = d
		if d1 != 1 {
			bc.s1[i] = st1
		}
		if d2 != 1 {
			bc.s2[i] = st2
		}
		st1 *= d1
		st2 *= d2
	}
	total := 1
	for _, d := range bc.outShape {
		total *= d
	}
	if total != c.elements(out) {
		return broadcast{}, c.errorf("output %s does not match the broadcast shape %v", c.desc(out), bc.outShape)
	}
	return bc, nil
}

// each calls f(outIndex, index1, index2) for every output element in row-major order.
func (bc *broadcast) each(n int, f func(o, i1, i2 int)) {
	if bc.same {
		for i := range n {
			f(i, i, i)
		}
		return
	}
	rank := len(bc.outShape)
	var idx [6]int
	i1, i2 := 0, 0
	for o := range n {
		f(o, i1, i2)
		for d := rank - 1; d >= 0; d-- {
			idx[d]++
			i1 += bc.s1[d]
			i2 += bc.s2[d]
			if idx[d] < bc.outShape[d] {
				break
			}
			i1 -= bc.s1[d] * idx[d]
			i2 -= bc.s2[d] * idx[d]
			idx[d] = 0
		}
	}
}

// addKernel is int8 ADD following TFLM add_common.cc / reference_integer_ops AddFunc: both
// inputs are offset, shifted left by 20 bits, scaled by their multipliers (< 1) onto twice
// the larger input scale, summed, and the sum scaled to the output. The per-input part only
// depends on the int8 value, so it is tabulated once (256 entries per input).
type addKernel struct {
	a, b, out      int
	n              int
	bc             broadcast
	lut1, lut2     [256]int32
	outMult        int32
	outShift       int
	outZp          int32
	actMin, actMax int32
}

func (c *prep) add() (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	var act schema.ActivationFunctionType
	if o, ok := c.options().(*schema.AddOptionsT); ok && o != nil {
		act = o.FusedActivationFunction
	}
	a, b, out, qa, qb, qo, err := c.binaryInt8()
	if err != nil {
		return nil, err
	}
	k := &addKernel{a: a, b: b, out: out, n: c.elements(out), outZp: qo.zp}
	if k.bc, err = c.broadcastShapes(a, b, out); err != nil {
		return nil, err
	}
	const leftShift = 20
	twiceMax := 2 * float64(max(qa.scale, qb.scale))
	m1, s1 := quantizeMultiplier(float64(qa.scale) / twiceMax)
	m2, s2 := quantizeMultiplier(float64(qb.scale) / twiceMax)
	realOut := twiceMax / (float64(int64(1)<<leftShift) * float64(qo.scale))
	// TFLM QuantizeMultiplierSmallerThanOneExp insists on multipliers in (0, 1).
	if !(realOut > 0 && realOut < 1) {
		return nil, c.errorf("output rescale factor %g is outside (0, 1)", realOut)
	}
	k.outMult, k.outShift = quantizeMultiplier(realOut)
	for v := -128; v < 128; v++ {
		k.lut1[v+128] = mulQuant((int32(v)-qa.zp)*(1<<leftShift), m1, s1)
		k.lut2[v+128] = mulQuant((int32(v)-qb.zp)*(1<<leftShift), m2, s2)
	}
	if k.actMin, k.actMax, err = c.activationRange(act, qo); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *addKernel) run(x *execCtx) {
	a, b, o := i8(x.data[k.a]), i8(x.data[k.b]), i8(x.data[k.out])
	if k.bc.same {
		a, b = a[:len(o)], b[:len(o)]
		for i := range o {
			o[i] = k.combine(a[i], b[i])
		}
		return
	}
	k.bc.each(k.n, func(oi, i1, i2 int) { o[oi] = k.combine(a[i1], b[i2]) })
}

func (k *addKernel) combine(a, b int8) int8 {
	sum := k.lut1[uint8(a)^0x80] + k.lut2[uint8(b)^0x80]
	v := mulQuant(sum, k.outMult, k.outShift) + k.outZp
	return int8(clampI32(v, k.actMin, k.actMax))
}

// mulKernel is int8 MUL following TFLM mul_common.cc / reference_integer_ops MulElementwise:
// (x1 - zp1)*(x2 - zp2) scaled by QuantizeMultiplier(s1*s2/so) (double), plus zp_out, clamped.
type mulKernel struct {
	a, b, out      int
	n              int
	bc             broadcast
	off1, off2     int32
	mult           int32
	shift          int
	outZp          int32
	actMin, actMax int32
}

func (c *prep) mul() (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	var act schema.ActivationFunctionType
	if o, ok := c.options().(*schema.MulOptionsT); ok && o != nil {
		act = o.FusedActivationFunction
	}
	a, b, out, qa, qb, qo, err := c.binaryInt8()
	if err != nil {
		return nil, err
	}
	k := &mulKernel{a: a, b: b, out: out, n: c.elements(out), off1: -qa.zp, off2: -qb.zp, outZp: qo.zp}
	if k.bc, err = c.broadcastShapes(a, b, out); err != nil {
		return nil, err
	}
	k.mult, k.shift = quantizeMultiplier(float64(qa.scale) * float64(qb.scale) / float64(qo.scale))
	if k.actMin, k.actMax, err = c.activationRange(act, qo); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *mulKernel) run(x *execCtx) {
	a, b, o := i8(x.data[k.a]), i8(x.data[k.b]), i8(x.data[k.out])
	k.bc.each(k.n, func(oi, i1, i2 int) {
		p := (int32(a[i1]) + k.off1) * (int32(b[i2]) + k.off2)
		v := k.outZp + mulQuant(p, k.mult, k.shift)
		o[oi] = int8(clampI32(v, k.actMin, k.actMax))
	})
}

// binaryInt8 checks the operands of an int8 elementwise operator with two inputs and
// returns their tensor indices and quantization.
func (c *prep) binaryInt8() (a, b, out int, qa, qb, qo qparams, err error) {
	a, _ = c.in(0)
	b, _ = c.in(1)
	out, _ = c.out(0)
	for _, t := range []int{a, b, out} {
		if err = c.wantType(t, schema.TensorTypeINT8); err != nil {
			return
		}
	}
	if qa, err = c.quant8(a); err != nil {
		return
	}
	if qb, err = c.quant8(b); err != nil {
		return
	}
	qo, err = c.quant8(out)
	return
}
