package interp

import (
	"errors"
	"math"
	"math/bits"
	"slices"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// floatUnary is one of TFLM's float32-only element-wise operators (elementwise.cc, floor.cc,
// ceil.cc, round.cc): SQRT, SQUARE, LOG, FLOOR, CEIL, ROUND (half to even, as
// reference_ops::RoundToNearest).
func (c *prep) floatUnary(code schema.BuiltinOperator) (kernel, error) {
	in, out, err := c.sameTypeUnary(schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	var f func(float32) float32
	switch code {
	case schema.BuiltinOperatorSQRT:
		f = func(v float32) float32 { return float32(math.Sqrt(float64(v))) }
	case schema.BuiltinOperatorSQUARE:
		f = func(v float32) float32 { return v * v }
	case schema.BuiltinOperatorLOG:
		f = logf
	case schema.BuiltinOperatorFLOOR:
		f = func(v float32) float32 { return float32(math.Floor(float64(v))) }
	case schema.BuiltinOperatorCEIL:
		f = func(v float32) float32 { return float32(math.Ceil(float64(v))) }
	case schema.BuiltinOperatorROUND:
		f = func(v float32) float32 {
			fl := float32(math.Floor(float64(v)))
			d := v - fl
			if d < 0.5 || (d == 0.5 && int32(fl)%2 == 0) {
				return fl
			}
			return fl + 1
		}
	}
	return unaryLoop(in, out, f), nil
}

// errDivByZero is an int32 DIV by zero, which TFLM does not guard.
var errDivByZero = errors.New("int32 division by zero")

// div is DIV for float32, unquantized int32 and int8 (divInt8) (TFLM div.cc, reference_ops::Div:
// ActivationFunctionWithMinMax(a / b)). A zero int32 divisor is an Invoke error.
func (c *prep) div() (kernel, error) {
	a, b, out, bc, err := c.binaryOperands(schema.TensorTypeFLOAT32, schema.TensorTypeINT32, schema.TensorTypeINT8)
	if err != nil {
		return nil, err
	}
	var act schema.ActivationFunctionType
	if o, ok := c.options().(*schema.DivOptionsT); ok && o != nil {
		act = o.FusedActivationFunction
	}
	if c.info(a).Type == schema.TensorTypeINT8 {
		return c.divInt8(a, b, out, bc, act)
	}
	n := c.elements(out)
	if c.info(a).Type == schema.TensorTypeFLOAT32 {
		lo, hi, err := c.floatActivation(act)
		if err != nil {
			return nil, err
		}
		return binaryLoop(&bc, a, b, out, n, func(x, y float32) float32 { return clampF(x/y, lo, hi) }), nil
	}
	if len(c.info(a).Scale) > 0 || len(c.info(b).Scale) > 0 {
		return nil, c.errorf("only unquantized int32 is supported")
	}
	lo, hi, err := c.int32Activation(act)
	if err != nil {
		return nil, err
	}
	return kernelFunc(func(x *execCtx) {
		av, bv, ov := i32(x.data[a]), i32(x.data[b]), i32(x.data[out])
		bc.each2(n, func(o, i1, i2 int) {
			if bv[i2] == 0 {
				x.err = errDivByZero
				return
			}
			if av[i1] == math.MinInt32 && bv[i2] == -1 {
				ov[o] = clampI32(math.MinInt32, lo, hi) // wraps on x86 as well: INT32_MIN
				return
			}
			ov[o] = clampI32(av[i1]/bv[i2], lo, hi)
		})
	}), nil
}

// zerosLike is ZEROS_LIKE (TFLM zeros_like.cc: int8, int32, int64, float32): all bytes 0.
func (c *prep) zerosLike() (kernel, error) {
	_, out, err := c.sameTypeUnary(schema.TensorTypeINT8, schema.TensorTypeINT32, schema.TensorTypeINT64, schema.TensorTypeFLOAT32)
	if err != nil {
		return nil, err
	}
	return kernelFunc(func(x *execCtx) { clear(x.data[out]) }), nil
}

// reverseV2 is REVERSE_V2 (TFLM reverse.cc) with constant, contiguous int32 axes: the
// elements along those axes in reverse order.
func (c *prep) reverseV2() (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	axisT, _ := c.in(1)
	out, _ := c.out(0)
	if err := c.wantType(in, schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeFLOAT32); err != nil {
		return nil, err
	}
	elem, err := c.moveTypes(in, out)
	if err != nil {
		return nil, err
	}
	if err := c.wantType(axisT, schema.TensorTypeINT32); err != nil {
		return nil, err
	}
	if err := c.wantConst(axisT); err != nil {
		return nil, err
	}
	axes, err := c.constInt32s(axisT)
	if err != nil {
		return nil, err
	}
	is := shapeInts(c.info(in).Shape)
	if !sameShape(c.info(in).Shape, c.info(out).Shape) || len(is) > 5 || len(axes) > len(is) {
		return nil, c.errorf("axes %v do not fit input %v and output %v", axes, is, shapeInts(c.info(out).Shape))
	}
	rev := make([]bool, len(is))
	slices.Sort(axes)
	for i, a := range axes {
		if a < 0 || int(a) >= len(is) {
			return nil, c.errorf("axis %d out of range for rank %d", a, len(is))
		}
		if i > 0 && axes[i-1]+1 != a {
			return nil, c.errorf("Non-contiguous `axes` not supported")
		}
		rev[a] = true
	}
	if err := c.moveLimit(out); err != nil {
		return nil, err
	}
	strides := rowStrides(is)
	m := newMover(elem)
	forEachIndex(is, func(o int, idx []int) {
		s := 0
		for d, v := range idx {
			if rev[d] {
				v = is[d] - 1 - v
			}
			s += v * strides[d]
		}
		m.move(out, o, in, s, 1)
	})
	return m.k, nil
}

// comparison is EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL (TFLM
// comparisons.cc) with a bool output. int8 compares rescaled values
// (ComparisonWithScaling): (x - zp) << 8 scaled by QuantizeMultiplierSmallerThanOneExp(s),
// each input by its own scale; float32 and int32 (and bool for the equalities) compare raw.
func (c *prep) comparison(code schema.BuiltinOperator) (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	a, _ := c.in(0)
	b, _ := c.in(1)
	out, _ := c.out(0)
	types := []schema.TensorType{schema.TensorTypeINT8, schema.TensorTypeINT32, schema.TensorTypeFLOAT32}
	if code == schema.BuiltinOperatorEQUAL || code == schema.BuiltinOperatorNOT_EQUAL {
		types = append(types, schema.TensorTypeBOOL)
	}
	if err := c.wantType(a, types...); err != nil {
		return nil, err
	}
	if c.info(b).Type != c.info(a).Type {
		return nil, c.errorf("%s: type differs from %s", c.desc(b), c.desc(a))
	}
	if err := c.wantType(out, schema.TensorTypeBOOL); err != nil {
		return nil, err
	}
	bc, err := c.nbroadcastShapes(out, a, b)
	if err != nil {
		return nil, err
	}
	n := c.elements(out)
	b2u := func(v bool) uint8 {
		if v {
			return 1
		}
		return 0
	}
	switch c.info(a).Type {
	case schema.TensorTypeFLOAT32:
		return binaryLoop(&bc, a, b, out, n, func(x, y float32) uint8 { return b2u(compare(code, x, y)) }), nil
	case schema.TensorTypeINT32:
		return binaryLoop(&bc, a, b, out, n, func(x, y int32) uint8 { return b2u(compare(code, int64(x), int64(y))) }), nil
	case schema.TensorTypeBOOL:
		return binaryLoop(&bc, a, b, out, n, func(x, y uint8) uint8 { return b2u(compare(code, int64(x), int64(y))) }), nil
	}
	qa, qb, err := c.quant2(a, b)
	if err != nil {
		return nil, err
	}
	if qa.scale >= 1 || qb.scale >= 1 {
		return nil, c.errorf("int8 input scales must be below 1 (have %g, %g)", qa.scale, qb.scale)
	}
	m1, s1 := quantizeMultiplier(float64(qa.scale))
	m2, s2 := quantizeMultiplier(float64(qb.scale))
	return binaryLoop(&bc, a, b, out, n, func(x, y int8) uint8 {
		sx := mulQuant((int32(x)-qa.zp)*(1<<8), m1, s1)
		sy := mulQuant((int32(y)-qb.zp)*(1<<8), m2, s2)
		return b2u(compare(code, int64(sx), int64(sy)))
	}), nil
}

// compare applies the comparison operator code to x and y.
func compare[T int64 | float32](code schema.BuiltinOperator, x, y T) bool {
	switch code {
	case schema.BuiltinOperatorEQUAL:
		return x == y
	case schema.BuiltinOperatorNOT_EQUAL:
		return x != y
	case schema.BuiltinOperatorLESS:
		return x < y
	case schema.BuiltinOperatorLESS_EQUAL:
		return x <= y
	case schema.BuiltinOperatorGREATER:
		return x > y
	}
	return x >= y
}

// logical is LOGICAL_AND, LOGICAL_OR (broadcasting) and LOGICAL_NOT on bool tensors (TFLM
// logical.cc, elementwise.cc).
func (c *prep) logical(code schema.BuiltinOperator) (kernel, error) {
	if code == schema.BuiltinOperatorLOGICAL_NOT {
		in, out, err := c.sameTypeUnary(schema.TensorTypeBOOL)
		if err != nil {
			return nil, err
		}
		return unaryLoop(in, out, func(v uint8) uint8 {
			if v != 0 {
				return 0
			}
			return 1
		}), nil
	}
	a, b, out, bc, err := c.binaryOperands(schema.TensorTypeBOOL)
	if err != nil {
		return nil, err
	}
	and := code == schema.BuiltinOperatorLOGICAL_AND
	return binaryLoop(&bc, a, b, out, c.elements(out), func(x, y uint8) uint8 {
		r := x != 0 || y != 0
		if and {
			r = x != 0 && y != 0
		}
		if r {
			return 1
		}
		return 0
	}), nil
}

// errGatherNd is TFLM gather_nd.cc's refusal of a slice outside the params tensor.
var errGatherNd = errors.New("gather_nd index out of bounds")

// gatherNd is GATHER_ND (TFLM gather_nd.cc: float32 or int8 params, int32 indices whose last
// dimension, at most 5, indexes the leading params dimensions). As in TFLM only the flat
// position is bounds-checked; a slice outside the params tensor fails at Invoke.
func (c *prep) gatherNd() (kernel, error) {
	params, idx, out, elem, err := c.moveOperands()
	if err != nil {
		return nil, err
	}
	if err := c.wantType(idx, schema.TensorTypeINT32); err != nil {
		return nil, err
	}
	ps, xs := shapeInts(c.info(params).Shape), shapeInts(c.info(idx).Shape)
	if len(xs) == 0 || len(ps) == 0 {
		return nil, c.errorf("params %v and indices %v need at least one dimension", ps, xs)
	}
	nd := xs[len(xs)-1]
	if nd > 5 || nd > len(ps) || nd < 0 {
		return nil, c.errorf("index depth %d is not supported for params of rank %d (at most 5)", nd, len(ps))
	}
	nSlices, sliceSize := product(xs[:len(xs)-1]), product(ps[nd:])
	if nSlices*sliceSize != c.elements(out) {
		return nil, c.errorf("output %s does not hold %d slices of %d elements", c.desc(out), nSlices, sliceSize)
	}
	flat := product(ps)
	count := make([]int, nd)
	rem := flat
	for i := range nd {
		if ps[i] == 0 {
			return nil, c.errorf("params %v has an empty dimension", ps)
		}
		count[i] = rem / ps[i]
		rem = count[i]
	}
	return kernelFunc(func(x *execCtx) {
		src, dst, iv := x.data[params], x.data[out], i32(x.data[idx])
		n := sliceSize * elem
		for s := range nSlices {
			from := 0
			for j := range nd {
				from += int(iv[s*nd+j]) * count[j]
			}
			if from < 0 || from+sliceSize > flat {
				x.err = errGatherNd
				return
			}
			copy(dst[s*n:(s+1)*n], src[from*elem:from*elem+n])
		}
	}), nil
}

// addN is ADD_N (TFLM add_n.cc; inputs of one shape, type and, for int8, quantization).
// float32 sums from 0 in input order. int8 follows reference_ops::AddN literally: every
// input (x - zp) is shifted left by 20 and halved onto twice its scale, the sum starts from
// the same scaling of -zp (not of 0), and is rescaled to the output.
func (c *prep) addN() (kernel, error) {
	if len(c.op.Inputs) < 2 || len(c.op.Outputs) != 1 {
		return nil, c.errorf("needs at least 2 inputs and 1 output")
	}
	ins := make([]int, len(c.op.Inputs))
	for i := range ins {
		t, err := c.in(i)
		if err != nil {
			return nil, err
		}
		ins[i] = t
	}
	out, _ := c.out(0)
	if err := c.wantType(ins[0], schema.TensorTypeINT8, schema.TensorTypeFLOAT32); err != nil {
		return nil, err
	}
	for _, t := range append(ins[1:], out) {
		if c.info(t).Type != c.info(ins[0]).Type || !sameShape(c.info(t).Shape, c.info(ins[0]).Shape) {
			return nil, c.errorf("%s: type or shape differs from %s", c.desc(t), c.desc(ins[0]))
		}
	}
	n := c.elements(out)
	if c.info(out).Type == schema.TensorTypeFLOAT32 {
		return kernelFunc(func(x *execCtx) {
			dst := view[float32](x.data[out])
			for i := range n {
				var s float32
				for _, t := range ins {
					s += view[float32](x.data[t])[i]
				}
				dst[i] = s
			}
		}), nil
	}
	q0, err := c.quant8(ins[0])
	if err != nil {
		return nil, err
	}
	for _, t := range ins[1:] {
		q, err := c.quant8(t)
		if err != nil {
			return nil, err
		}
		if q != q0 {
			return nil, c.errorf("%s: int8 inputs must share scale and zero point", c.desc(t))
		}
	}
	qo, err := c.quant8(out)
	if err != nil {
		return nil, err
	}
	const leftShift = 20
	twiceMax := 2 * float64(q0.scale)
	mi, si := quantizeMultiplier(float64(q0.scale) / twiceMax)
	ro := twiceMax / (float64(int32(1)<<leftShift) * float64(qo.scale))
	if !(ro > 0 && ro < 1) {
		return nil, c.errorf("output rescale factor %g is outside (0, 1)", ro)
	}
	mo, so := quantizeMultiplier(ro)
	var table [256]int32
	for v := -128; v < 128; v++ {
		table[uint8(int8(v))] = mulQuant((int32(v)-q0.zp)*(1<<leftShift), mi, si)
	}
	start := mulQuant(-q0.zp*(1<<leftShift), mi, si)
	return kernelFunc(func(x *execCtx) {
		dst := x.data[out]
		for i := range n {
			s := start
			for _, t := range ins {
				s += table[x.data[t][i]]
			}
			dst[i] = byte(int8(clampI32(mulQuant(s, mo, so)+qo.zp, math.MinInt8, math.MaxInt8)))
		}
	}), nil
}

// errDivZeroQuantized is an int8 DIV whose divisor is its zero point (TFLM only DCHECKs it).
var errDivZeroQuantized = errors.New("int8 division by a zero divisor")

// countLeadingSignBits is TFLM common.h CountLeadingSignBits as GCC builds it
// (__builtin_clrsb; 31 for 0).
func countLeadingSignBits(x int32) int {
	if x == 0 {
		return 31
	}
	return bits.LeadingZeros32(uint32(x^(x>>31))) - 1
}

// roundingDivideByPOTx86 is gemmlowp's RoundingDivideByPOT for any exponent as x86-64
// executes it. DIV's exponent leaves [0, 31] for small dividends and large divisors, where
// the C code shifts by out-of-range amounts (undefined behaviour); on x86-64 the 64-bit
// mask shift uses the count modulo 64 and the 32-bit arithmetic shift modulo 32, which is
// what TFLM's x86 reference build computes.
func roundingDivideByPOTx86(x int32, exponent int) int32 {
	mask := int32(uint64(1)<<(uint(exponent)&63) - 1)
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	r := x >> (uint(exponent) & 31)
	if x&mask > threshold {
		r++
	}
	return r
}

// divInt8 is quantized DIV (TFLM div.cc, reference_ops::DivElementwise): the divisor's
// reciprocal from GetReciprocal, the dividend normalized by its sign-bit headroom, the
// quotient rescaled by QuantizeMultiplier(float(s1 / (s2 * s_out))), + zp_out, clamped.
func (c *prep) divInt8(a, b, out int, bc nbroadcast, act schema.ActivationFunctionType) (kernel, error) {
	qa, qb, qo, err := c.quant3(a, b, out)
	if err != nil {
		return nil, err
	}
	lo, hi, err := c.activationRange(act, qo)
	if err != nil {
		return nil, err
	}
	mult, shift := quantizeMultiplier(float64(qa.scale / (qb.scale * qo.scale)))
	n := c.elements(out)
	return kernelFunc(func(x *execCtx) {
		av, bv, ov := i8(x.data[a]), i8(x.data[b]), i8(x.data[out])
		bc.each2(n, func(o, i1, i2 int) {
			v1, v2 := int32(av[i1])-qa.zp, int32(bv[i2])-qb.zp
			if v2 == 0 {
				x.err = errDivZeroQuantized
				return
			}
			if v2 < 0 {
				v1, v2 = -v1, -v2
			}
			inv, recipShift := getReciprocal(v2, 31)
			headroom := countLeadingSignBits(v1)
			q := mulQuant(v1, inv, headroom)
			r := roundingDivideByPOTx86(srdhm(q, mult), -(shift-recipShift-headroom)) + qo.zp
			ov[o] = int8(clampI32(r, lo, hi))
		})
	}), nil
}

// fill is FILL (TFLM fill.cc): constant dims equal to the output shape, a scalar value of
// the output's type (float32, int8, int16, int32, int64) copied into every element.
func (c *prep) fill() (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	dimsT, _ := c.in(0)
	val, _ := c.in(1)
	out, _ := c.out(0)
	if err := c.wantType(out, schema.TensorTypeFLOAT32, schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeINT64); err != nil {
		return nil, err
	}
	if c.info(val).Type != c.info(out).Type || len(c.info(val).Shape) != 0 {
		return nil, c.errorf("%s must be a scalar of the output's type", c.desc(val))
	}
	if c.p.constant[dimsT] == nil {
		return nil, c.errorf("Non-constant >dims< tensor is not supported")
	}
	dims, err := c.constInt32s(dimsT)
	if err != nil {
		return nil, err
	}
	if !equalInts(shapeInts(dims), shapeInts(c.info(out).Shape)) {
		return nil, c.errorf("dims %v differ from the output shape %v", dims, c.info(out).Shape)
	}
	return kernelFunc(func(x *execCtx) {
		v, d := x.data[val], x.data[out]
		for i := 0; i+len(v) <= len(d); i += len(v) {
			copy(d[i:], v)
		}
	}), nil
}
