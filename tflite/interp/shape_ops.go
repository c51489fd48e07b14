package interp

import (
	"encoding/binary"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// copyKernel copies the input bytes unchanged: RESHAPE and SQUEEZE only change the shape,
// which TFLM takes from the model.
type copyKernel struct{ in, out int }

func (k *copyKernel) run(x *execCtx) { copy(x.data[k.out], x.data[k.in]) }

func (c *prep) reshape() (kernel, error) {
	if len(c.op.Inputs) < 1 || len(c.op.Outputs) != 1 {
		return nil, c.errorf("needs 1 or 2 inputs and 1 output")
	}
	in, err := c.in(0)
	if err != nil {
		return nil, err
	}
	out, _ := c.out(0)
	if c.info(in).Type != c.info(out).Type {
		return nil, c.errorf("input type %s differs from output type %s", tflite.TypeName(c.info(in).Type), tflite.TypeName(c.info(out).Type))
	}
	if c.info(in).Bytes != c.info(out).Bytes {
		return nil, c.errorf("input %s and output %s sizes differ", c.desc(in), c.desc(out))
	}
	return &copyKernel{in: in, out: out}, nil
}

// padKernel is PAD / PADV2 (TFLM pad.cc): constant paddings, the pad value is the optional
// constant_values scalar or else the output zero point; elements are copied unchanged.
type padKernel struct {
	in, out  int
	elem     int
	inShape  []int
	outShape []int
	before   []int
	fill     []byte
}

func (c *prep) pad() (kernel, error) {
	if err := c.counts(2, 3, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	pads, _ := c.in(1)
	out, _ := c.out(0)
	if err := c.wantType(in, schema.TensorTypeINT8, schema.TensorTypeFLOAT32, schema.TensorTypeINT32, schema.TensorTypeINT16); err != nil {
		return nil, err
	}
	if c.info(in).Type != c.info(out).Type {
		return nil, c.errorf("input and output types differ")
	}
	if err := c.wantConst(pads); err != nil {
		return nil, err
	}
	pv, err := c.constInt32s(pads)
	if err != nil {
		return nil, err
	}
	is, os := shapeInts(c.info(in).Shape), shapeInts(c.info(out).Shape)
	if len(is) > 5 || len(os) != len(is) || len(pv) != 2*len(os) {
		return nil, c.errorf("paddings %v do not fit input %v and output %v", pv, is, os)
	}
	k := &padKernel{in: in, out: out, inShape: is, outShape: os, before: make([]int, len(is))}
	k.elem = tflite.ElementBits(c.info(in).Type) / 8
	for i := range is {
		if pv[2*i] < 0 || pv[2*i+1] < 0 || is[i]+int(pv[2*i])+int(pv[2*i+1]) != os[i] {
			return nil, c.errorf("paddings %v do not fit input %v and output %v", pv, is, os)
		}
		k.before[i] = int(pv[2*i])
	}
	k.fill = make([]byte, k.elem)
	if cv := c.optIn(2); cv >= 0 {
		if c.info(cv).Type != c.info(in).Type || c.elements(cv) != 1 {
			return nil, c.errorf("constant_values must be a scalar of the input type")
		}
		if err := c.wantConst(cv); err != nil {
			return nil, err
		}
		copy(k.fill, c.p.constant[cv])
	} else if c.info(in).Type == schema.TensorTypeINT8 {
		qo, err := c.quant8(out)
		if err != nil {
			return nil, err
		}
		k.fill[0] = byte(int8(qo.zp))
	}
	return k, nil
}

func (k *padKernel) run(x *execCtx) {
	in, out := x.data[k.in], x.data[k.out]
	if k.elem == 1 {
		for i := range out {
			out[i] = k.fill[0]
		}
	} else {
		for i := 0; i < len(out); i += k.elem {
			copy(out[i:], k.fill)
		}
	}
	rank := len(k.inShape)
	if rank == 0 {
		copy(out, in)
		return
	}
	// Copy the input row by row (innermost dimension contiguous).
	inner := k.inShape[rank-1] * k.elem
	rows := 1
	for _, d := range k.inShape[:rank-1] {
		rows *= d
	}
	outStrides := make([]int, rank)
	st := k.elem
	for i := rank - 1; i >= 0; i-- {
		outStrides[i] = st
		st *= k.outShape[i]
	}
	var idx [5]int
	for r := range rows {
		off := k.before[rank-1] * outStrides[rank-1]
		for d := range rank - 1 {
			off += (idx[d] + k.before[d]) * outStrides[d]
		}
		copy(out[off:off+inner], in[r*inner:(r+1)*inner])
		for d := rank - 2; d >= 0; d-- {
			idx[d]++
			if idx[d] < k.inShape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// gatherKernel copies elements according to a precomputed index map: TRANSPOSE and
// STRIDED_SLICE with constant parameters reduce to "output element i = input element
// src[i]", computed once at preparation.
type gatherKernel struct {
	in, out int
	elem    int
	src     []int32
}

func (k *gatherKernel) run(x *execCtx) {
	in, out := x.data[k.in], x.data[k.out]
	if k.elem == 1 {
		out = out[:len(k.src)]
		for i, s := range k.src {
			out[i] = in[s]
		}
		return
	}
	for i, s := range k.src {
		copy(out[i*k.elem:(i+1)*k.elem], in[int(s)*k.elem:(int(s)+1)*k.elem])
	}
}

func (c *prep) gatherTypes(in, out int) (int, error) {
	if err := c.wantType(in, schema.TensorTypeINT8, schema.TensorTypeFLOAT32, schema.TensorTypeINT32, schema.TensorTypeINT16, schema.TensorTypeUINT8); err != nil {
		return 0, err
	}
	if c.info(in).Type != c.info(out).Type {
		return 0, c.errorf("input and output types differ")
	}
	if c.elements(in) >= 1<<31 {
		return 0, c.errorf("%s is too large", c.desc(in))
	}
	return tflite.ElementBits(c.info(in).Type) / 8, nil
}

// transpose: TFLM transpose.cc with a constant permutation of up to 6 dimensions.
func (c *prep) transpose() (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	permT, _ := c.in(1)
	out, _ := c.out(0)
	elem, err := c.gatherTypes(in, out)
	if err != nil {
		return nil, err
	}
	if err := c.wantConst(permT); err != nil {
		return nil, err
	}
	perm, err := c.constInt32s(permT)
	if err != nil {
		return nil, err
	}
	is, os := shapeInts(c.info(in).Shape), shapeInts(c.info(out).Shape)
	rank := len(is)
	if len(perm) != rank || len(os) != rank || rank > 6 {
		return nil, c.errorf("permutation %v does not fit input %v and output %v", perm, is, os)
	}
	seen := make([]bool, rank)
	for i, p := range perm {
		if p < 0 {
			p += int32(rank)
		}
		if p < 0 || int(p) >= rank || seen[p] || os[i] != is[p] {
			return nil, c.errorf("permutation %v does not fit input %v and output %v", perm, is, os)
		}
		seen[p] = true
		perm[i] = p
	}
	inStrides := make([]int, rank)
	st := 1
	for i := rank - 1; i >= 0; i-- {
		inStrides[i] = st
		st *= is[i]
	}
	k := &gatherKernel{in: in, out: out, elem: elem, src: make([]int32, c.elements(out))}
	var idx [6]int
	for i := range k.src {
		s := 0
		for d := range rank {
			s += idx[d] * inStrides[perm[d]]
		}
		k.src[i] = int32(s)
		for d := rank - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < os[d] {
				break
			}
			idx[d] = 0
		}
	}
	return k, nil
}

// stridedSlice: TFLM strided_slice_common.cc with constant begin/end/strides (up to 5
// dimensions), begin/end/shrink masks; StartForAxis/StopForAxis resolve negative indices
// and clamp ([0, dim] forward, [-1, dim-1] backward); shrunk axes take one element.
func (c *prep) stridedSlice() (kernel, error) {
	if err := c.counts(4, 4, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	out, _ := c.out(0)
	elem, err := c.gatherTypes(in, out)
	if err != nil {
		return nil, err
	}
	opts, _ := c.options().(*schema.StridedSliceOptionsT)
	if opts == nil {
		opts = &schema.StridedSliceOptionsT{}
	}
	if opts.EllipsisMask != 0 || opts.NewAxisMask != 0 {
		return nil, c.errorf("ellipsis_mask and new_axis_mask are not supported")
	}
	if opts.Offset {
		return nil, c.errorf("offset=true is not supported")
	}
	var vals [3][]int32
	for i := range 3 {
		t, _ := c.in(i + 1)
		if err := c.wantConst(t); err != nil {
			return nil, err
		}
		if vals[i], err = c.constInt32s(t); err != nil {
			return nil, err
		}
	}
	is := shapeInts(c.info(in).Shape)
	rank := len(is)
	if rank > 5 || len(vals[0]) != rank || len(vals[1]) != rank || len(vals[2]) != rank {
		return nil, c.errorf("begin/end/strides must have %d elements", rank)
	}
	starts, stops, strides := make([]int, rank), make([]int, rank), make([]int, rank)
	var outShape []int
	for a := range rank {
		stride := int(vals[2][a])
		if stride == 0 {
			return nil, c.errorf("stride value has to be non-zero")
		}
		dim := is[a]
		start, stop := 0, 0
		if dim > 0 {
			start = int(vals[0][a])
			if opts.BeginMask&(1<<a) != 0 {
				start = -1 << 40
				if stride < 0 {
					start = 1 << 40
				}
			}
			if start < 0 {
				start += dim
			}
			if stride > 0 {
				start = min(max(start, 0), dim)
			} else {
				start = min(max(start, -1), dim-1)
			}
			shrink := opts.ShrinkAxisMask&(1<<a) != 0
			if shrink {
				stop = start + 1
			} else {
				stop = int(vals[1][a])
				if opts.EndMask&(1<<a) != 0 {
					stop = 1 << 40
					if stride < 0 {
						stop = -1 << 40
					}
				}
				if stop < 0 {
					stop += dim
				}
				if stride > 0 {
					stop = min(max(stop, 0), dim)
				} else {
					stop = min(max(stop, -1), dim-1)
				}
			}
		}
		starts[a], stops[a], strides[a] = start, stop, stride
		n := 0
		if stride > 0 && stop > start {
			n = (stop - start + stride - 1) / stride
		} else if stride < 0 && stop < start {
			n = (start - stop - stride - 1) / -stride
		}
		if opts.ShrinkAxisMask&(1<<a) == 0 {
			outShape = append(outShape, n)
		} else if n != 1 {
			return nil, c.errorf("shrunk axis %d selects %d elements", a, n)
		}
	}
	if len(outShape) != len(c.info(out).Shape) {
		return nil, c.errorf("output %s does not match the slice shape %v", c.desc(out), outShape)
	}
	for i, d := range outShape {
		if int(c.info(out).Shape[i]) != d {
			return nil, c.errorf("output %s does not match the slice shape %v", c.desc(out), outShape)
		}
	}
	inStrides := make([]int, rank)
	st := 1
	for i := rank - 1; i >= 0; i-- {
		inStrides[i] = st
		st *= is[i]
	}
	k := &gatherKernel{in: in, out: out, elem: elem, src: make([]int32, 0, c.elements(out))}
	var walk func(a, off int)
	walk = func(a, off int) {
		if a == rank {
			k.src = append(k.src, int32(off))
			return
		}
		for i := starts[a]; (strides[a] > 0 && i < stops[a]) || (strides[a] < 0 && i > stops[a]); i += strides[a] {
			walk(a+1, off+i*inStrides[a])
		}
	}
	walk(0, 0)
	return k, nil
}

// concatKernel is CONCATENATION (TFLM concatenation.cc): int8 inputs must share the
// output's scale and zero point, so the bytes are copied unchanged.
type concatKernel struct {
	ins   []int
	out   int
	outer int
	inner []int // bytes per outer step for each input
}

func (c *prep) concatenation() (kernel, error) {
	if len(c.op.Inputs) < 1 || len(c.op.Outputs) != 1 {
		return nil, c.errorf("needs at least 1 input and 1 output")
	}
	opts, _ := c.options().(*schema.ConcatenationOptionsT)
	if opts == nil {
		opts = &schema.ConcatenationOptionsT{}
	}
	if opts.FusedActivationFunction != schema.ActivationFunctionTypeNONE {
		return nil, c.errorf("fused activation is not supported")
	}
	out, _ := c.out(0)
	os := shapeInts(c.info(out).Shape)
	rank := len(os)
	axis := int(opts.Axis)
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return nil, c.errorf("axis %d out of range for rank %d", opts.Axis, rank)
	}
	ty := c.info(out).Type
	elem := tflite.ElementBits(ty) / 8
	if ty != schema.TensorTypeINT8 && ty != schema.TensorTypeFLOAT32 && ty != schema.TensorTypeINT32 && ty != schema.TensorTypeINT16 {
		return nil, c.errorf("type %s is not supported", tflite.TypeName(ty))
	}
	var qo qparams
	if ty == schema.TensorTypeINT8 {
		var err error
		if qo, err = c.quant8(out); err != nil {
			return nil, err
		}
	}
	k := &concatKernel{out: out, outer: 1}
	for _, d := range os[:axis] {
		k.outer *= d
	}
	innerElems := 1
	for _, d := range os[axis+1:] {
		innerElems *= d
	}
	sum := 0
	for i := range c.op.Inputs {
		t, err := c.in(i)
		if err != nil {
			return nil, err
		}
		if c.info(t).Type != ty {
			return nil, c.errorf("%s: type differs from the output", c.desc(t))
		}
		if ty == schema.TensorTypeINT8 {
			qi, err := c.quant8(t)
			if err != nil {
				return nil, err
			}
			if qi != qo {
				return nil, c.errorf("%s: int8 inputs must share the output's scale and zero point", c.desc(t))
			}
		}
		s := shapeInts(c.info(t).Shape)
		if len(s) != rank {
			return nil, c.errorf("%s: rank differs from the output", c.desc(t))
		}
		for d := range rank {
			if d != axis && s[d] != os[d] {
				return nil, c.errorf("%s: shape does not match output %v", c.desc(t), os)
			}
		}
		sum += s[axis]
		k.ins = append(k.ins, t)
		k.inner = append(k.inner, s[axis]*innerElems*elem)
	}
	if sum != os[axis] {
		return nil, c.errorf("inputs sum to %d along axis %d, output has %d", sum, axis, os[axis])
	}
	return k, nil
}

func (k *concatKernel) run(x *execCtx) {
	out := x.data[k.out]
	off := 0
	for o := range k.outer {
		for i, t := range k.ins {
			n := k.inner[i]
			copy(out[off:off+n], x.data[t][o*n:(o+1)*n])
			off += n
		}
	}
}

// shapeKernel is SHAPE (TFLM shape.cc): the input's dimensions as int32 (the only output
// type TFLM writes). Shapes are static, so the values are known at preparation.
type shapeKernel struct {
	out  int
	dims []byte
}

func (k *shapeKernel) run(x *execCtx) { copy(x.data[k.out], k.dims) }

func (c *prep) shape() (kernel, error) {
	if err := c.counts(1, 1, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	out, _ := c.out(0)
	if err := c.wantType(out, schema.TensorTypeINT32); err != nil {
		return nil, err
	}
	dims := c.info(in).Shape
	if c.elements(out) != len(dims) {
		return nil, c.errorf("output %s must hold the %d dimensions of %s", c.desc(out), len(dims), c.desc(in))
	}
	k := &shapeKernel{out: out, dims: make([]byte, 4*len(dims))}
	for i, d := range dims {
		binary.LittleEndian.PutUint32(k.dims[4*i:], uint32(d))
	}
	return k, nil
}
