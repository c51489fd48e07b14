package interp

import (
	"math"
	"unsafe"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// This file holds the element-wise operators with two or three inputs beyond the int8
// ADD/MUL fast paths: SUB, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, PRELU, SELECT_V2, and the
// int16, int32 and float32 forms of ADD and MUL. They broadcast like TFLite (shapes
// right-aligned, size-1 dimensions repeat).

// kernelFunc adapts a closure to kernel.
type kernelFunc func(x *execCtx)

func (f kernelFunc) run(x *execCtx) { f(x) }

// nbroadcast maps every output element to one element of each input.
type nbroadcast struct {
	outShape []int
	strides  [][]int // per input, per output dimension (0 = repeated)
	same     bool
}

func (c *prep) nbroadcastShapes(out int, ins ...int) (nbroadcast, error) {
	same := true
	for _, t := range ins {
		same = same && sameShape(c.info(t).Shape, c.info(out).Shape)
	}
	if same {
		return nbroadcast{same: true}, nil
	}
	n := 0
	for _, t := range ins {
		n = max(n, len(c.info(t).Shape))
	}
	if n > 6 {
		return nbroadcast{}, c.errorf("broadcasting beyond 6 dimensions is not supported")
	}
	bc := nbroadcast{outShape: make([]int, n), strides: make([][]int, len(ins))}
	dimAt := func(t, i int) int {
		s := c.info(t).Shape
		j := i - (n - len(s))
		if j < 0 {
			return 1
		}
		return int(s[j])
	}
	for i := range n {
		d := 1
		for _, t := range ins {
			if v := dimAt(t, i); v != 1 {
				if d != 1 && v != d {
					return nbroadcast{}, c.errorf("input shapes cannot be broadcast together")
				}
				d = v
			}
		}
		bc.outShape[i] = d
	}
	for k, t := range ins {
		bc.strides[k] = make([]int, n)
		st := 1
		for i := n - 1; i >= 0; i-- {
			if d := dimAt(t, i); d != 1 {
				bc.strides[k][i] = st
				st *= d
			}
		}
	}
	if !equalInts(bc.outShape, shapeInts(c.info(out).Shape)) && product(bc.outShape) != c.elements(out) {
		return nbroadcast{}, c.errorf("output %s does not match the broadcast shape %v", c.desc(out), bc.outShape)
	}
	return bc, nil
}

// each2 calls f(o, i1, i2) for every output element in row-major order.
func (bc *nbroadcast) each2(n int, f func(o, i1, i2 int)) {
	if bc.same {
		for i := range n {
			f(i, i, i)
		}
		return
	}
	old := broadcast{outShape: bc.outShape, s1: bc.strides[0], s2: bc.strides[1]}
	old.each(n, f)
}

// each3 is each2 for three inputs.
func (bc *nbroadcast) each3(n int, f func(o, i1, i2, i3 int)) {
	if bc.same {
		for i := range n {
			f(i, i, i, i)
		}
		return
	}
	rank := len(bc.outShape)
	var idx [6]int
	var at [3]int
	for o := range n {
		f(o, at[0], at[1], at[2])
		for d := rank - 1; d >= 0; d-- {
			idx[d]++
			for k := range 3 {
				at[k] += bc.strides[k][d]
			}
			if idx[d] < bc.outShape[d] {
				break
			}
			for k := range 3 {
				at[k] -= bc.strides[k][d] * idx[d]
			}
			idx[d] = 0
		}
	}
}

func view[T any](b []byte) []T {
	var z T
	size := int(unsafe.Sizeof(z))
	if len(b) < size {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/size)
}

// binaryLoop applies f element-wise with broadcasting.
func binaryLoop[A, B, O any](bc *nbroadcast, a, b, out, n int, f func(A, B) O) kernel {
	return kernelFunc(func(x *execCtx) {
		av, bv, ov := view[A](x.data[a]), view[B](x.data[b]), view[O](x.data[out])
		bc.each2(n, func(o, i1, i2 int) { ov[o] = f(av[i1], bv[i2]) })
	})
}

// intRange is the value range of an integer tensor type.
func intRange(ty schema.TensorType) (int32, int32) {
	switch ty {
	case schema.TensorTypeINT8:
		return math.MinInt8, math.MaxInt8
	case schema.TensorTypeINT16:
		return math.MinInt16, math.MaxInt16
	}
	return math.MinInt32, math.MaxInt32
}

// activationRangeTyped is CalculateActivationRangeQuantized for int8 or int16 outputs.
func (c *prep) activationRangeTyped(act schema.ActivationFunctionType, out int, q qparams) (int32, int32, error) {
	lo, hi, err := c.activationRange(act, q)
	if err != nil || c.info(out).Type == schema.TensorTypeINT8 {
		return lo, hi, err
	}
	tlo, thi := intRange(c.info(out).Type)
	if act == schema.ActivationFunctionTypeNONE {
		return tlo, thi, nil
	}
	// Recompute the bounds against the wider type.
	bound := func(f float32) int32 { return q.zp + int32(math.Round(float64(f/q.scale))) }
	switch act {
	case schema.ActivationFunctionTypeRELU:
		return max(tlo, bound(0)), thi, nil
	case schema.ActivationFunctionTypeRELU6:
		return max(tlo, bound(0)), min(thi, bound(6)), nil
	case schema.ActivationFunctionTypeRELU_N1_TO_1:
		return max(tlo, bound(-1)), min(thi, bound(1)), nil
	}
	return 0, 0, c.errorf("fused activation %d is not supported", act)
}

// floatActivation is TFLM CalculateActivationRange for float outputs.
func (c *prep) floatActivation(act schema.ActivationFunctionType) (float32, float32, error) {
	switch act {
	case schema.ActivationFunctionTypeNONE:
		return float32(math.Inf(-1)), float32(math.Inf(1)), nil
	case schema.ActivationFunctionTypeRELU:
		return 0, float32(math.Inf(1)), nil
	case schema.ActivationFunctionTypeRELU6:
		return 0, 6, nil
	case schema.ActivationFunctionTypeRELU_N1_TO_1:
		return -1, 1, nil
	}
	return 0, 0, c.errorf("fused activation %d is not supported", act)
}

// int32Activation is TFLM CalculateActivationRange<int32_t>.
func (c *prep) int32Activation(act schema.ActivationFunctionType) (int32, int32, error) {
	switch act {
	case schema.ActivationFunctionTypeNONE:
		return math.MinInt32, math.MaxInt32, nil
	case schema.ActivationFunctionTypeRELU:
		return 0, math.MaxInt32, nil
	case schema.ActivationFunctionTypeRELU6:
		return 0, 6, nil
	case schema.ActivationFunctionTypeRELU_N1_TO_1:
		return -1, 1, nil
	}
	return 0, 0, c.errorf("fused activation %d is not supported", act)
}

func clampF(v, lo, hi float32) float32 {
	// ActivationFunctionWithMinMax: min(max(x, lo), hi).
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}

// binaryOperands checks two inputs and one output of one shared type among types.
func (c *prep) binaryOperands(types ...schema.TensorType) (a, b, out int, bc nbroadcast, err error) {
	if err = c.counts(2, 2, 1); err != nil {
		return
	}
	a, _ = c.in(0)
	b, _ = c.in(1)
	out, _ = c.out(0)
	if err = c.wantType(a, types...); err != nil {
		return
	}
	for _, t := range []int{b, out} {
		if c.info(t).Type != c.info(a).Type {
			err = c.errorf("%s: type differs from %s", c.desc(t), c.desc(a))
			return
		}
	}
	bc, err = c.nbroadcastShapes(out, a, b)
	return
}

// addSub is ADD (non-int8) and SUB: TFLM add.cc/sub.cc. int8/int16 use the general
// quantized path (add_common.cc / sub_common.cc CalculateOpData*): inputs offset, shifted
// left by 20 (int8) or 15 (int16), scaled onto twice the larger input scale, combined and
// scaled to the output. ADD computes its multipliers in double; SUB divides the float
// scales first (sub_common.cc), which can differ in the last bit.
func (c *prep) addSub(sub bool) (kernel, error) {
	a, b, out, bc, err := c.binaryOperands(schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	var act schema.ActivationFunctionType
	if sub {
		if o, ok := c.options().(*schema.SubOptionsT); ok && o != nil {
			act = o.FusedActivationFunction
		}
	} else if o, ok := c.options().(*schema.AddOptionsT); ok && o != nil {
		act = o.FusedActivationFunction
	}
	n := c.elements(out)
	switch c.info(a).Type {
	case schema.TensorTypeFLOAT32:
		lo, hi, err := c.floatActivation(act)
		if err != nil {
			return nil, err
		}
		if sub {
			return binaryLoop(&bc, a, b, out, n, func(x, y float32) float32 { return clampF(x-y, lo, hi) }), nil
		}
		return binaryLoop(&bc, a, b, out, n, func(x, y float32) float32 { return clampF(x+y, lo, hi) }), nil
	case schema.TensorTypeINT32:
		if len(c.info(a).Scale) > 0 || len(c.info(b).Scale) > 0 {
			return nil, c.errorf("only unquantized int32 is supported")
		}
		lo, hi, err := c.int32Activation(act)
		if err != nil {
			return nil, err
		}
		if !sub {
			// TFLM add.cc runs int32 ADD with the full int32 range: the fused
			// activation is ignored (SUB applies it).
			lo, hi = math.MinInt32, math.MaxInt32
		}
		if sub {
			return binaryLoop(&bc, a, b, out, n, func(x, y int32) int32 { return clampI32(x-y, lo, hi) }), nil
		}
		return binaryLoop(&bc, a, b, out, n, func(x, y int32) int32 { return clampI32(x+y, lo, hi) }), nil
	}
	qa, err := c.quant(a)
	if err != nil {
		return nil, err
	}
	qb, err := c.quant(b)
	if err != nil {
		return nil, err
	}
	qo, err := c.quant(out)
	if err != nil {
		return nil, err
	}
	int16T := c.info(a).Type == schema.TensorTypeINT16
	leftShift := 20
	if int16T {
		leftShift = 15
	}
	var r1, r2, ro float64
	if sub {
		twiceMax := 2 * max(qa.scale, qb.scale)
		r1 = float64(qa.scale / twiceMax)
		r2 = float64(qb.scale / twiceMax)
		ro = float64(twiceMax / (float32(int32(1)<<leftShift) * qo.scale))
	} else {
		twiceMax := 2 * float64(max(qa.scale, qb.scale))
		r1 = float64(qa.scale) / twiceMax
		r2 = float64(qb.scale) / twiceMax
		ro = twiceMax / (float64(int32(1)<<leftShift) * float64(qo.scale))
	}
	if !(ro > 0 && ro < 1) {
		return nil, c.errorf("output rescale factor %g is outside (0, 1)", ro)
	}
	m1, s1 := quantizeMultiplier(r1)
	m2, s2 := quantizeMultiplier(r2)
	mo, so := quantizeMultiplier(ro)
	lo, hi, err := c.activationRangeTyped(act, out, qo)
	if err != nil {
		return nil, err
	}
	f := func(x, y int32) int32 {
		sx := mulQuant((x-qa.zp)*(1<<leftShift), m1, s1)
		sy := mulQuant((y-qb.zp)*(1<<leftShift), m2, s2)
		raw := sx + sy
		if sub {
			raw = sx - sy
		}
		return clampI32(mulQuant(raw, mo, so)+qo.zp, lo, hi)
	}
	if int16T {
		return binaryLoop(&bc, a, b, out, n, func(x, y int16) int16 { return int16(f(int32(x), int32(y))) }), nil
	}
	return binaryLoop(&bc, a, b, out, n, func(x, y int8) int8 { return int8(f(int32(x), int32(y))) }), nil
}

// mulOther is MUL for int16 (zero points 0), int32 and float32 (TFLM mul_common.cc).
func (c *prep) mulOther() (kernel, error) {
	a, b, out, bc, err := c.binaryOperands(schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	var act schema.ActivationFunctionType
	if o, ok := c.options().(*schema.MulOptionsT); ok && o != nil {
		act = o.FusedActivationFunction
	}
	n := c.elements(out)
	switch c.info(a).Type {
	case schema.TensorTypeFLOAT32:
		lo, hi, err := c.floatActivation(act)
		if err != nil {
			return nil, err
		}
		return binaryLoop(&bc, a, b, out, n, func(x, y float32) float32 { return clampF(x*y, lo, hi) }), nil
	case schema.TensorTypeINT32:
		lo, hi, err := c.int32Activation(act)
		if err != nil {
			return nil, err
		}
		return binaryLoop(&bc, a, b, out, n, func(x, y int32) int32 { return clampI32(x*y, lo, hi) }), nil
	}
	qa, qb, qo, err := c.quant3(a, b, out)
	if err != nil {
		return nil, err
	}
	if qa.zp != 0 || qb.zp != 0 || qo.zp != 0 {
		return nil, c.errorf("int16 zero points must be 0")
	}
	mult, shift := quantizeMultiplier(float64(qa.scale) * float64(qb.scale) / float64(qo.scale))
	lo, hi, err := c.activationRangeTyped(act, out, qo)
	if err != nil {
		return nil, err
	}
	return binaryLoop(&bc, a, b, out, n, func(x, y int16) int16 {
		return int16(clampI32(mulQuant(int32(x)*int32(y), mult, shift), lo, hi))
	}), nil
}

func (c *prep) quant3(a, b, o int) (qa, qb, qo qparams, err error) {
	if qa, err = c.quant(a); err != nil {
		return
	}
	if qb, err = c.quant(b); err != nil {
		return
	}
	qo, err = c.quant(o)
	return
}

// maxMin is MAXIMUM / MINIMUM (TFLM maximum_minimum.cc): raw values compared, no
// requantization; el1 > el2 ? el1 : el2 (and <).
func (c *prep) maxMin(isMax bool) (kernel, error) {
	a, b, out, bc, err := c.binaryOperands(schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	n := c.elements(out)
	switch c.info(a).Type {
	case schema.TensorTypeINT8:
		return maxMinLoop[int8](&bc, a, b, out, n, isMax), nil
	case schema.TensorTypeINT16:
		return maxMinLoop[int16](&bc, a, b, out, n, isMax), nil
	case schema.TensorTypeINT32:
		return maxMinLoop[int32](&bc, a, b, out, n, isMax), nil
	}
	return maxMinLoop[float32](&bc, a, b, out, n, isMax), nil
}

func maxMinLoop[T int8 | int16 | int32 | float32](bc *nbroadcast, a, b, out, n int, isMax bool) kernel {
	if isMax {
		return binaryLoop(bc, a, b, out, n, func(x, y T) T {
			if x > y {
				return x
			}
			return y
		})
	}
	return binaryLoop(bc, a, b, out, n, func(x, y T) T {
		if x < y {
			return x
		}
		return y
	})
}

// squaredDifference: TFLM squared_difference.cc. int8: inputs offset, shifted left by 7,
// scaled onto twice the larger scale, the difference squared and scaled by
// (2*max)^2 / float(2^14 * s_out); int16 the same with no shift and zero points 0.
func (c *prep) squaredDifference() (kernel, error) {
	a, b, out, bc, err := c.binaryOperands(schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	n := c.elements(out)
	switch c.info(a).Type {
	case schema.TensorTypeFLOAT32:
		return binaryLoop(&bc, a, b, out, n, func(x, y float32) float32 { d := x - y; return d * d }), nil
	case schema.TensorTypeINT32:
		return binaryLoop(&bc, a, b, out, n, func(x, y int32) int32 { d := x - y; return d * d }), nil
	}
	qa, qb, qo, err := c.quant3(a, b, out)
	if err != nil {
		return nil, err
	}
	int16T := c.info(a).Type == schema.TensorTypeINT16
	leftShift := 7
	if int16T {
		leftShift = 0
		if qa.zp != 0 || qb.zp != 0 || qo.zp != 0 {
			return nil, c.errorf("int16 zero points must be 0")
		}
	}
	twiceMax := 2 * float64(max(qa.scale, qb.scale))
	m1, s1 := quantizeMultiplier(float64(qa.scale) / twiceMax)
	m2, s2 := quantizeMultiplier(float64(qb.scale) / twiceMax)
	mo, so := quantizeMultiplier(twiceMax * twiceMax / float64(float32(int32(1)<<(2*leftShift))*qo.scale))
	lo, hi := intRange(c.info(out).Type)
	f := func(x, y int32) int32 {
		sx := mulQuant((x-qa.zp)*(1<<leftShift), m1, s1)
		sy := mulQuant((y-qb.zp)*(1<<leftShift), m2, s2)
		d := sx - sy
		return clampI32(mulQuant(d*d, mo, so)+qo.zp, lo, hi)
	}
	if int16T {
		return binaryLoop(&bc, a, b, out, n, func(x, y int16) int16 { return int16(f(int32(x), int32(y))) }), nil
	}
	return binaryLoop(&bc, a, b, out, n, func(x, y int8) int8 { return int8(f(int32(x), int32(y))) }), nil
}

// prelu: TFLM prelu.cc / prelu_common.cc. Non-negative (x - zp) scale by s_in/s_out;
// negative ones multiply by (alpha - zp_alpha) and scale by s_in*s_alpha/s_out. int8 and
// int16 inputs take int8 alpha; float32 is x >= 0 ? x : x*alpha.
func (c *prep) prelu() (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	a, _ := c.in(0)
	alpha, _ := c.in(1)
	out, _ := c.out(0)
	if err := c.wantType(a, schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeFLOAT32); err != nil {
		return nil, err
	}
	if c.info(out).Type != c.info(a).Type {
		return nil, c.errorf("output type differs from the input")
	}
	bc, err := c.nbroadcastShapes(out, a, alpha)
	if err != nil {
		return nil, err
	}
	n := c.elements(out)
	if c.info(a).Type == schema.TensorTypeFLOAT32 {
		if err := c.wantType(alpha, schema.TensorTypeFLOAT32); err != nil {
			return nil, err
		}
		return binaryLoop(&bc, a, alpha, out, n, func(x, al float32) float32 {
			if x >= 0 {
				return x
			}
			return x * al
		}), nil
	}
	if err := c.wantType(alpha, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	qi, qa, qo, err := c.quant3(a, alpha, out)
	if err != nil {
		return nil, err
	}
	m1, s1 := quantizeMultiplier(float64(qi.scale) / float64(qo.scale))
	m2, s2 := quantizeMultiplier(float64(qi.scale) * float64(qa.scale) / float64(qo.scale))
	lo, hi := intRange(c.info(out).Type)
	f := func(x, al int32) int32 {
		v := x - qi.zp
		var r int32
		if v >= 0 {
			r = mulQuant(v, m1, s1)
		} else {
			r = mulQuant(v*(al-qa.zp), m2, s2)
		}
		return clampI32(r+qo.zp, lo, hi)
	}
	if c.info(a).Type == schema.TensorTypeINT16 {
		return binaryLoop(&bc, a, alpha, out, n, func(x int16, al int8) int16 { return int16(f(int32(x), int32(al))) }), nil
	}
	return binaryLoop(&bc, a, alpha, out, n, func(x int8, al int8) int8 { return int8(f(int32(x), int32(al))) }), nil
}

// selectV2: TFLM select.cc: out = condition ? x : y with a bool condition, all three
// broadcast together; bytes are copied unchanged.
func (c *prep) selectV2() (kernel, error) {
	if err := c.counts(3, 3, 1); err != nil {
		return nil, err
	}
	cond, _ := c.in(0)
	xT, _ := c.in(1)
	yT, _ := c.in(2)
	out, _ := c.out(0)
	if err := c.wantType(cond, schema.TensorTypeBOOL); err != nil {
		return nil, err
	}
	elem, err := c.moveTypes(xT, yT, out)
	if err != nil {
		return nil, err
	}
	bc, err := c.nbroadcastShapes(out, cond, xT, yT)
	if err != nil {
		return nil, err
	}
	n := c.elements(out)
	return kernelFunc(func(x *execCtx) {
		cd, xd, yd, od := x.data[cond], x.data[xT], x.data[yT], x.data[out]
		bc.each3(n, func(o, ic, ix, iy int) {
			src, i := yd, iy
			if cd[ic] != 0 {
				src, i = xd, ix
			}
			copy(od[o*elem:(o+1)*elem], src[i*elem:(i+1)*elem])
		})
	}), nil
}
