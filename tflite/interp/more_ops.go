package interp

import (
	"errors"
	"math"
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

// div is DIV for float32 and unquantized int32 (TFLM div.cc, reference_ops::Div:
// ActivationFunctionWithMinMax(a / b)). A zero int32 divisor is an Invoke error.
func (c *prep) div() (kernel, error) {
	a, b, out, bc, err := c.binaryOperands(schema.TensorTypeFLOAT32, schema.TensorTypeINT32)
	if err != nil {
		return nil, err
	}
	var act schema.ActivationFunctionType
	if o, ok := c.options().(*schema.DivOptionsT); ok && o != nil {
		act = o.FusedActivationFunction
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
