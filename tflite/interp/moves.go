package interp

import (
	"fmt"
	"math"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// This file holds the operators that only move elements: PACK, UNPACK, SPLIT, SPLIT_V,
// GATHER with constant indices, BROADCAST_TO, DEPTH_TO_SPACE, SPACE_TO_DEPTH,
// SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND and RESIZE_NEAREST_NEIGHBOR. Their shapes and
// parameters are constant, so preparation resolves every output element to its source once
// and Invoke replays the resulting contiguous byte runs.

// segment copies n bytes of tensor src at srcOff to tensor dst at dstOff.
type segment struct {
	dst, src       int
	dstOff, srcOff int
	n              int
}

// moveKernel fills its outputs (where the op pads) and copies its segments.
type moveKernel struct {
	fill []int // outputs to fill with fillByte before copying
	byte byte
	segs []segment
}

func (k *moveKernel) run(x *execCtx) {
	for _, t := range k.fill {
		d := x.data[t]
		for i := range d {
			d[i] = k.byte
		}
	}
	for _, s := range k.segs {
		copy(x.data[s.dst][s.dstOff:s.dstOff+s.n], x.data[s.src][s.srcOff:s.srcOff+s.n])
	}
}

// mover collects element moves of elem-byte elements into merged segments.
type mover struct {
	k    *moveKernel
	elem int
}

func newMover(elem int) *mover { return &mover{k: &moveKernel{}, elem: elem} }

// maxMoveElements bounds the outputs of the operators resolved element by element at
// preparation, so that a hostile model cannot make preparation build billions of moves.
const maxMoveElements = 1 << 24

// moveLimit refuses outputs with more elements than maxMoveElements.
func (c *prep) moveLimit(outs ...int) error {
	n := 0
	for _, t := range outs {
		n += c.elements(t)
	}
	if n > maxMoveElements {
		return c.errorf("output of %d elements is too large for this interpreter (at most %d)", n, maxMoveElements)
	}
	return nil
}

// move copies n elements from (src, srcElem) to (dst, dstElem), merging with the previous
// segment when both sides continue it.
func (m *mover) move(dst, dstElem, src, srcElem, n int) {
	do, so, nb := dstElem*m.elem, srcElem*m.elem, n*m.elem
	if l := len(m.k.segs) - 1; l >= 0 {
		s := &m.k.segs[l]
		if s.dst == dst && s.src == src && s.dstOff+s.n == do && s.srcOff+s.n == so {
			s.n += nb
			return
		}
	}
	m.k.segs = append(m.k.segs, segment{dst: dst, src: src, dstOff: do, srcOff: so, n: nb})
}

// moveOperands checks a data-movement operator with a data input (0, int8 or float32), a
// second input (positions, indices, paddings) and one output of the data's type, and returns
// the three tensor indices and the element size.
func (c *prep) moveOperands() (data, second, out, elem int, err error) {
	if err = c.counts(2, 2, 1); err != nil {
		return
	}
	data, _ = c.in(0)
	second, _ = c.in(1)
	out, _ = c.out(0)
	if err = c.wantType(data, schema.TensorTypeINT8, schema.TensorTypeFLOAT32); err != nil {
		return
	}
	elem, err = c.moveTypes(data, out)
	return
}

// moveTypes checks that every tensor in ts has one of the element types TFLM's data
// movement kernels share and the same type as the first; it returns the element size.
func (c *prep) moveTypes(ts ...int) (int, error) {
	ty := c.info(ts[0]).Type
	if err := c.wantType(ts[0], schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeFLOAT32); err != nil {
		return 0, err
	}
	for _, t := range ts[1:] {
		if c.info(t).Type != ty {
			return 0, c.errorf("%s: type differs from %s", c.desc(t), c.desc(ts[0]))
		}
	}
	return tflite.ElementBits(ty) / 8, nil
}

// constScalarInt reads a constant int32 tensor holding one value.
func (c *prep) constScalarInt(t int) (int, error) {
	if err := c.wantConst(t); err != nil {
		return 0, err
	}
	v, err := c.constInt32s(t)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, c.errorf("%s must hold one value", c.desc(t))
	}
	return int(v[0]), nil
}

// product of dims.
func product(d []int) int {
	n := 1
	for _, v := range d {
		n *= v
	}
	return n
}

// constAxis reads a constant scalar axis tensor and resolves it for rank.
func (c *prep) constAxis(t, rank int) (int, error) {
	a, err := c.constScalarInt(t)
	if err != nil {
		return 0, err
	}
	return c.resolveAxis(a, rank)
}

// resolveAxis maps a possibly negative axis into [0, rank).
func (c *prep) resolveAxis(axis, rank int) (int, error) {
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return 0, c.errorf("axis %d out of range for rank %d", axis, rank)
	}
	return axis, nil
}

// pack: TFLM pack.cc. values_count inputs of one shape are stacked along a new axis.
func (c *prep) pack() (kernel, error) {
	if len(c.op.Inputs) < 1 || len(c.op.Outputs) != 1 {
		return nil, c.errorf("needs at least 1 input and 1 output")
	}
	opts, _ := c.options().(*schema.PackOptionsT)
	if opts == nil {
		opts = &schema.PackOptionsT{}
	}
	out, _ := c.out(0)
	ins := make([]int, len(c.op.Inputs))
	for i := range ins {
		t, err := c.in(i)
		if err != nil {
			return nil, err
		}
		ins[i] = t
	}
	if int(opts.ValuesCount) != len(ins) {
		return nil, c.errorf("values_count %d but %d inputs", opts.ValuesCount, len(ins))
	}
	elem, err := c.moveTypes(append([]int{out}, ins...)...)
	if err != nil {
		return nil, err
	}
	is, os := shapeInts(c.info(ins[0]).Shape), shapeInts(c.info(out).Shape)
	axis, err := c.resolveAxis(int(opts.Axis), len(is)+1)
	if err != nil {
		return nil, err
	}
	want := append(append(append([]int(nil), is[:axis]...), len(ins)), is[axis:]...)
	if !equalInts(want, os) {
		return nil, c.errorf("output %s, want shape %v", c.desc(out), want)
	}
	for _, t := range ins[1:] {
		if !sameShape(c.info(t).Shape, c.info(ins[0]).Shape) {
			return nil, c.errorf("%s: shape differs from the first input", c.desc(t))
		}
	}
	outer, inner := product(is[:axis]), product(is[axis:])
	if err := c.moveLimit(toInts(c.op.Outputs)...); err != nil {
		return nil, err
	}
	m := newMover(elem)
	for o := range outer {
		for i, t := range ins {
			m.move(out, (o*len(ins)+i)*inner, t, o*inner, inner)
		}
	}
	return m.k, nil
}

// unpack: TFLM unpack.cc, the inverse of PACK: num outputs along axis.
func (c *prep) unpack() (kernel, error) {
	if len(c.op.Inputs) != 1 || len(c.op.Outputs) < 1 {
		return nil, c.errorf("needs 1 input and at least 1 output")
	}
	opts, _ := c.options().(*schema.UnpackOptionsT)
	if opts == nil {
		opts = &schema.UnpackOptionsT{}
	}
	in, _ := c.in(0)
	outs := toInts(c.op.Outputs)
	elem, err := c.moveTypes(append([]int{in}, outs...)...)
	if err != nil {
		return nil, err
	}
	is := shapeInts(c.info(in).Shape)
	axis, err := c.resolveAxis(int(opts.Axis), len(is))
	if err != nil {
		return nil, err
	}
	if is[axis] != len(outs) || int(opts.Num) != len(outs) {
		return nil, c.errorf("num %d and %d outputs do not match axis %d of input %v", opts.Num, len(outs), axis, is)
	}
	want := append(append([]int(nil), is[:axis]...), is[axis+1:]...)
	for _, t := range outs {
		if !equalInts(shapeInts(c.info(t).Shape), want) {
			return nil, c.errorf("output %s, want shape %v", c.desc(t), want)
		}
	}
	outer, inner := product(is[:axis]), product(is[axis+1:])
	if err := c.moveLimit(toInts(c.op.Outputs)...); err != nil {
		return nil, err
	}
	m := newMover(elem)
	for i, t := range outs {
		for o := range outer {
			m.move(t, o*inner, in, (o*len(outs)+i)*inner, inner)
		}
	}
	return m.k, nil
}

// split: TFLM split.cc (inputs: constant axis, data) and split_v.cc (inputs: data,
// size_splits, constant axis): the outputs' extents along axis, which TFLM takes from the
// output shapes, partition the input.
func (c *prep) split(v bool) (kernel, error) {
	var in, axisT int
	if v {
		if err := c.countsAtLeastOut(3, 3); err != nil {
			return nil, err
		}
		in, _ = c.in(0)
		axisT, _ = c.in(2)
	} else {
		if err := c.countsAtLeastOut(2, 2); err != nil {
			return nil, err
		}
		axisT, _ = c.in(0)
		in, _ = c.in(1)
	}
	outs := toInts(c.op.Outputs)
	elem, err := c.moveTypes(append([]int{in}, outs...)...)
	if err != nil {
		return nil, err
	}
	is := shapeInts(c.info(in).Shape)
	axis, err := c.constAxis(axisT, len(is))
	if err != nil {
		return nil, err
	}
	outer, inner := product(is[:axis]), product(is[axis+1:])
	sum := 0
	for _, t := range outs {
		s := shapeInts(c.info(t).Shape)
		if len(s) != len(is) {
			return nil, c.errorf("%s: rank differs from the input", c.desc(t))
		}
		for d := range s {
			if d != axis && s[d] != is[d] {
				return nil, c.errorf("%s does not fit input %v split along axis %d", c.desc(t), is, axis)
			}
		}
		sum += s[axis]
	}
	if sum != is[axis] {
		return nil, c.errorf("outputs sum to %d along axis %d, input has %d", sum, axis, is[axis])
	}
	if err := c.moveLimit(toInts(c.op.Outputs)...); err != nil {
		return nil, err
	}
	m := newMover(elem)
	off := 0
	for _, t := range outs {
		n := int(c.info(t).Shape[axis]) * inner
		for o := range outer {
			m.move(t, o*n, in, o*is[axis]*inner+off, n)
		}
		off += n
	}
	return m.k, nil
}

// countsAtLeastOut checks an exact input count and at least one output.
func (c *prep) countsAtLeastOut(minIn, maxIn int) error {
	if n := len(c.op.Inputs); n < minIn || n > maxIn {
		return c.errorf("has %d inputs, want %d", n, minIn)
	}
	if len(c.op.Outputs) < 1 {
		return c.errorf("has no outputs")
	}
	return nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// broadcastTo: TFLM broadcast_to.cc with a constant shape (up to 5 dimensions): input
// dimensions of size 1 repeat.
func (c *prep) broadcastTo() (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	shapeT, _ := c.in(1)
	out, _ := c.out(0)
	elem, err := c.moveTypes(in, out)
	if err != nil {
		return nil, err
	}
	if err := c.wantConst(shapeT); err != nil {
		return nil, err
	}
	sv, err := c.constInt32s(shapeT)
	if err != nil {
		return nil, err
	}
	os, is := shapeInts(c.info(out).Shape), shapeInts(c.info(in).Shape)
	if len(sv) != len(os) || len(is) > len(os) || len(os) > 5 {
		return nil, c.errorf("shape %v does not fit input %v and output %v", sv, is, os)
	}
	strides := make([]int, len(os))
	st := 1
	for i := len(os) - 1; i >= 0; i-- {
		j := i - (len(os) - len(is))
		d := 1
		if j >= 0 {
			d = is[j]
		}
		if int(sv[i]) != os[i] || (d != 1 && d != os[i]) {
			return nil, c.errorf("shape %v does not fit input %v and output %v", sv, is, os)
		}
		if d != 1 {
			strides[i] = st
		}
		st *= d
	}
	if err := c.moveLimit(toInts(c.op.Outputs)...); err != nil {
		return nil, err
	}
	m := newMover(elem)
	forEachIndex(os, func(o int, idx []int) {
		s := 0
		for d, v := range idx {
			s += v * strides[d]
		}
		m.move(out, o, in, s, 1)
	})
	return m.k, nil
}

// forEachIndex calls f with every multi-index of shape in row-major order.
func forEachIndex(shape []int, f func(flat int, idx []int)) {
	n := product(shape)
	idx := make([]int, len(shape))
	for o := range n {
		f(o, idx)
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// depthToSpace / spaceToDepth: TFLM depth_to_space.cc / space_to_depth.cc (NHWC, TF's DCR
// order): out[b, h*bs+dy, w*bs+dx, c] = in[b, h, w, (dy*bs+dx)*C + c].
func (c *prep) depthSpace(toSpace bool) (kernel, error) {
	if err := c.counts(1, 1, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	out, _ := c.out(0)
	// TFLM's kernels take float32 and int8 only.
	if err := c.wantType(in, schema.TensorTypeINT8, schema.TensorTypeFLOAT32); err != nil {
		return nil, err
	}
	elem, err := c.moveTypes(in, out)
	if err != nil {
		return nil, err
	}
	for _, t := range []int{in, out} {
		if err := c.wantRank(t, 4); err != nil {
			return nil, err
		}
	}
	bs := 0
	if toSpace {
		if o, ok := c.options().(*schema.DepthToSpaceOptionsT); ok && o != nil {
			bs = int(o.BlockSize)
		}
	} else if o, ok := c.options().(*schema.SpaceToDepthOptionsT); ok && o != nil {
		bs = int(o.BlockSize)
	}
	if bs <= 0 {
		return nil, c.errorf("block_size %d must be positive", bs)
	}
	deep, wide := shapeInts(c.info(in).Shape), shapeInts(c.info(out).Shape) // (b,h,w,C*bs*bs), (b,h*bs,w*bs,C)
	deepT, wideT := in, out
	if !toSpace {
		deep, wide = wide, deep
		deepT, wideT = out, in
	}
	if deep[0] != wide[0] || deep[1]*bs != wide[1] || deep[2]*bs != wide[2] || deep[3] != wide[3]*bs*bs {
		return nil, c.errorf("input %v and output %v do not match block_size %d", shapeInts(c.info(in).Shape), shapeInts(c.info(out).Shape), bs)
	}
	C := wide[3]
	if err := c.moveLimit(toInts(c.op.Outputs)...); err != nil {
		return nil, err
	}
	m := newMover(elem)
	for b := range deep[0] {
		for h := range deep[1] {
			for w := range deep[2] {
				for dy := range bs {
					for dx := range bs {
						d := ((b*deep[1]+h)*deep[2]+w)*deep[3] + (dy*bs+dx)*C
						s := ((b*wide[1]+h*bs+dy)*wide[2] + w*bs + dx) * C
						if toSpace {
							m.move(wideT, s, deepT, d, C)
						} else {
							m.move(deepT, d, wideT, s, C)
						}
					}
				}
			}
		}
	}
	return m.k, nil
}

// spaceBatch: TFLM space_to_batch_nd.cc / batch_to_space_nd.cc for 3-D and 4-D inputs with
// constant block shape and paddings/crops. SPACE_TO_BATCH_ND pads with
// SpaceToBatchParams.output_offset, which TFLM's kernel never sets (its persistent buffer
// is zero in practice): the padding bytes are 0, not the zero point.
func (c *prep) spaceBatch(toBatch bool) (kernel, error) {
	if err := c.counts(3, 3, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	blockT, _ := c.in(1)
	padT, _ := c.in(2)
	out, _ := c.out(0)
	elem, err := c.moveTypes(in, out)
	if err != nil {
		return nil, err
	}
	if err := c.wantType(in, schema.TensorTypeINT8, schema.TensorTypeFLOAT32); err != nil {
		return nil, err
	}
	for _, t := range []int{blockT, padT} {
		if err := c.wantConst(t); err != nil {
			return nil, err
		}
	}
	block, err := c.constInt32s(blockT)
	if err != nil {
		return nil, err
	}
	pads, err := c.constInt32s(padT)
	if err != nil {
		return nil, err
	}
	is, os := shapeInts(c.info(in).Shape), shapeInts(c.info(out).Shape)
	rank := len(is)
	if rank < 3 || rank > 4 || len(os) != rank || len(block) != rank-2 || len(pads) != 2*(rank-2) {
		return nil, c.errorf("input %v, output %v, block %v and paddings %v do not fit", is, os, block, pads)
	}
	// View 3-D tensors as [b, h, 1, c].
	ext := func(s []int) [4]int {
		if len(s) == 3 {
			return [4]int{s[0], s[1], 1, s[2]}
		}
		return [4]int{s[0], s[1], s[2], s[3]}
	}
	bh, bw := int(block[0]), 1
	top, left := int(pads[0]), 0
	bottom, right := int(pads[1]), 0
	if rank == 4 {
		bw, left, right = int(block[1]), int(pads[2]), int(pads[3])
	}
	if bh <= 0 || bw <= 0 || top < 0 || left < 0 || bottom < 0 || right < 0 {
		return nil, c.errorf("block %v and paddings %v must be positive and non-negative", block, pads)
	}
	i4, o4 := ext(is), ext(os)
	if err := c.moveLimit(toInts(c.op.Outputs)...); err != nil {
		return nil, err
	}
	m := newMover(elem)
	depth := i4[3]
	if toBatch {
		if o4[0] != i4[0]*bh*bw || o4[1]*bh != i4[1]+top+bottom || o4[2]*bw != i4[2]+left+right || o4[3] != depth {
			return nil, c.errorf("output %v does not match input %v, block %v and paddings %v", os, is, block, pads)
		}
		m.k.fill = []int{out}
		for ob := range o4[0] {
			b := ob % i4[0]
			sw := (ob / i4[0]) % bw
			sh := (ob / i4[0]) / bw
			for y := range o4[1] {
				iy := y*bh + sh - top
				if iy < 0 || iy >= i4[1] {
					continue
				}
				for x := range o4[2] {
					ix := x*bw + sw - left
					if ix < 0 || ix >= i4[2] {
						continue
					}
					m.move(out, ((ob*o4[1]+y)*o4[2]+x)*depth, in, ((b*i4[1]+iy)*i4[2]+ix)*depth, depth)
				}
			}
		}
		return m.k, nil
	}
	if i4[0]%(bh*bw) != 0 || o4[0] != i4[0]/(bh*bw) || o4[1] != i4[1]*bh-top-bottom || o4[2] != i4[2]*bw-left-right || o4[3] != depth {
		return nil, c.errorf("output %v does not match input %v, block %v and crops %v", os, is, block, pads)
	}
	for ib := range i4[0] {
		ob := ib % o4[0]
		off := ib / o4[0]
		for y := range i4[1] {
			oy := y*bh + off/bw - top
			if oy < 0 || oy >= o4[1] {
				continue
			}
			for x := range i4[2] {
				ox := x*bw + off%bw - left
				if ox < 0 || ox >= o4[2] {
					continue
				}
				m.move(out, ((ob*o4[1]+oy)*o4[2]+ox)*depth, in, ((ib*i4[1]+y)*i4[2]+x)*depth, depth)
			}
		}
	}
	return m.k, nil
}

// gather: TFLM gather.cc (int8 and float32 data, int32 positions, axis and batch_dims).
// Constant positions are resolved at preparation; others are read at Invoke, where a
// position outside the axis is an error (TFLM only DCHECKs it).
func (c *prep) gather() (kernel, error) {
	in, pos, out, elem, err := c.moveOperands()
	if err != nil {
		return nil, err
	}
	if err := c.wantType(pos, schema.TensorTypeINT32); err != nil {
		return nil, err
	}
	opts, _ := c.options().(*schema.GatherOptionsT)
	if opts == nil {
		opts = &schema.GatherOptionsT{}
	}
	is, ps := shapeInts(c.info(in).Shape), shapeInts(c.info(pos).Shape)
	axis, err := c.resolveAxis(int(opts.Axis), len(is))
	if err != nil {
		return nil, err
	}
	bd := int(opts.BatchDims)
	if bd < 0 {
		bd += len(ps)
	}
	if bd < 0 || bd > axis || bd >= len(is) || bd > len(ps) {
		return nil, c.errorf("batch_dims %d does not fit axis %d and positions %v", opts.BatchDims, axis, ps)
	}
	for i := range bd {
		if is[i] != ps[i] {
			return nil, c.errorf("batch dimension %d differs between input %v and positions %v", i, is, ps)
		}
	}
	want := append(append(append([]int(nil), is[:axis]...), ps[bd:]...), is[axis+1:]...)
	if product(want) != c.elements(out) {
		return nil, c.errorf("output %s, want shape %v", c.desc(out), want)
	}
	k := &gatherIndexKernel{in: in, pos: pos, out: out, elem: elem,
		batch: product(is[:bd]), outer: product(is[bd:axis]), inner: product(is[axis+1:]),
		coords: product(ps[bd:]), axisSize: is[axis]}
	if c.p.constant[pos] == nil {
		return k, nil
	}
	pv, _ := c.constInt32s(pos)
	for _, p := range pv {
		if p < 0 || int(p) >= k.axisSize {
			return nil, c.errorf("position %d outside [0, %d)", p, k.axisSize)
		}
	}
	if err := c.moveLimit(toInts(c.op.Outputs)...); err != nil {
		return nil, err
	}
	m := newMover(elem)
	k.each(pv, func(dst, src int) { m.move(out, dst, in, src, k.inner) })
	return m.k, nil
}

// gatherIndexKernel is GATHER with positions known only at Invoke.
type gatherIndexKernel struct {
	in, pos, out                int
	elem                        int
	batch, outer, inner, coords int
	axisSize                    int
}

// each calls f(dstElem, srcElem) for every copied run of inner elements (TFLM's loop order).
func (k *gatherIndexKernel) each(pv []int32, f func(dst, src int)) {
	for b := range k.batch {
		for o := range k.outer {
			for c := range k.coords {
				dst := ((b*k.outer+o)*k.coords + c) * k.inner
				src := ((b*k.outer+o)*k.axisSize + int(pv[b*k.coords+c])) * k.inner
				f(dst, src)
			}
		}
	}
}

func (k *gatherIndexKernel) run(x *execCtx) {
	pv := i32(x.data[k.pos])
	for _, p := range pv {
		if p < 0 || int(p) >= k.axisSize {
			x.err = errPosition(p, k.axisSize)
			return
		}
	}
	in, out := x.data[k.in], x.data[k.out]
	n := k.inner * k.elem
	k.each(pv, func(dst, src int) { copy(out[dst*k.elem:dst*k.elem+n], in[src*k.elem:src*k.elem+n]) })
}

// resizeNearest: TFLM resize_nearest_neighbor.cc / reference_ops::ResizeNearestNeighbor
// (int8, int16, float32; constant size). GetNearestNeighbor in float32:
// scale = align_corners && out > 1 ? (in-1)/(out-1) : in/out; offset 0.5 with
// half_pixel_centers; round (align_corners) or floor, clamped to [0, in-1].
func (c *prep) resizeNearest() (kernel, error) {
	if err := c.counts(2, 2, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	sizeT, _ := c.in(1)
	out, _ := c.out(0)
	if err := c.wantType(in, schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeFLOAT32); err != nil {
		return nil, err
	}
	elem, err := c.moveTypes(in, out)
	if err != nil {
		return nil, err
	}
	opts, _ := c.options().(*schema.ResizeNearestNeighborOptionsT)
	if opts == nil {
		opts = &schema.ResizeNearestNeighborOptionsT{}
	}
	is, os, err := c.resizeShapes(in, sizeT, out)
	if err != nil {
		return nil, err
	}
	if err := c.moveLimit(toInts(c.op.Outputs)...); err != nil {
		return nil, err
	}
	m := newMover(elem)
	for b := range is[0] {
		for y := range os[1] {
			iy := nearest(y, is[1], os[1], opts.AlignCorners, opts.HalfPixelCenters)
			for x := range os[2] {
				ix := nearest(x, is[2], os[2], opts.AlignCorners, opts.HalfPixelCenters)
				m.move(out, ((b*os[1]+y)*os[2]+x)*os[3], in, ((b*is[1]+iy)*is[2]+ix)*is[3], is[3])
			}
		}
	}
	return m.k, nil
}

// resizeShapes checks RESIZE_* operands: a 4-D input, a constant int32 size of 2 values
// that matches the output's height and width.
func (c *prep) resizeShapes(in, sizeT, out int) (is, os []int, err error) {
	if err = c.wantRank(in, 4); err != nil {
		return
	}
	if err = c.wantRank(out, 4); err != nil {
		return
	}
	if err = c.wantType(sizeT, schema.TensorTypeINT32); err != nil {
		return
	}
	if c.p.constant[sizeT] == nil {
		err = c.errorf("Non-constant >size< tensor is not supported")
		return
	}
	sv, err := c.constInt32s(sizeT)
	if err != nil {
		return
	}
	is, os = shapeInts(c.info(in).Shape), shapeInts(c.info(out).Shape)
	if len(sv) != 2 || int(sv[0]) != os[1] || int(sv[1]) != os[2] || is[0] != os[0] || is[3] != os[3] || os[1] <= 0 || os[2] <= 0 || is[1] <= 0 || is[2] <= 0 {
		err = c.errorf("size %v does not fit input %v and output %v", sv, is, os)
	}
	return
}

func floor32(f float32) int32 { return int32(math.Floor(float64(f))) }

func errPosition(p int32, n int) error {
	return fmt.Errorf("gather position %d outside [0, %d)", p, n)
}

func nearest(v, inSize, outSize int, alignCorners, halfPixel bool) int {
	var scale float32
	if alignCorners && outSize > 1 {
		scale = float32(inSize-1) / float32(outSize-1)
	} else {
		scale = float32(inSize) / float32(outSize)
	}
	var offset float32
	if halfPixel {
		offset = 0.5
	}
	p := float32(float32(v)+offset) * scale
	var r int
	if alignCorners {
		r = int(roundToInt32(p))
	} else {
		r = int(floor32(p))
	}
	r = min(r, inSize-1)
	if halfPixel {
		r = max(r, 0)
	}
	return r
}

// slice: TFLM slice.cc with constant int32/int64 begin and size (up to 5 dimensions; a
// size of -1 reaches the end of the axis).
func (c *prep) slice() (kernel, error) {
	if err := c.counts(3, 3, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	beginT, _ := c.in(1)
	sizeT, _ := c.in(2)
	out, _ := c.out(0)
	if err := c.wantType(in, schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeINT32, schema.TensorTypeFLOAT32, schema.TensorTypeBOOL); err != nil {
		return nil, err
	}
	if c.info(out).Type != c.info(in).Type {
		return nil, c.errorf("%s: type differs from the input", c.desc(out))
	}
	elem := tflite.ElementBits(c.info(in).Type) / 8
	for _, t := range []int{beginT, sizeT} {
		if err := c.wantConst(t); err != nil {
			return nil, err
		}
	}
	begin, err := c.constInt32s(beginT)
	if err != nil {
		return nil, err
	}
	size, err := c.constInt32s(sizeT)
	if err != nil {
		return nil, err
	}
	is := shapeInts(c.info(in).Shape)
	if len(is) > 5 || len(begin) != len(is) || len(size) != len(is) {
		return nil, c.errorf("begin %v and size %v do not fit input %v", begin, size, is)
	}
	ext := make([]int, len(is))
	for d := range is {
		b, n := int(begin[d]), int(size[d])
		if n == -1 {
			n = is[d] - b
		}
		if b < 0 || n < 0 || b+n > is[d] {
			return nil, c.errorf("begin %v and size %v do not fit input %v", begin, size, is)
		}
		ext[d] = n
	}
	if product(ext) != c.elements(out) {
		return nil, c.errorf("output %s, want shape %v", c.desc(out), ext)
	}
	strides := rowStrides(is)
	if err := c.moveLimit(toInts(c.op.Outputs)...); err != nil {
		return nil, err
	}
	m := newMover(elem)
	forEachIndex(ext, func(o int, idx []int) {
		s := 0
		for d, v := range idx {
			s += (v + int(begin[d])) * strides[d]
		}
		m.move(out, o, in, s, 1)
	})
	return m.k, nil
}

// rowStrides are the element strides of a row-major shape.
func rowStrides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// mirrorPad: TFLM mirror_pad.cc (int8, float32; constant paddings). REFLECT excludes the
// border element (offset 1), SYMMETRIC repeats it (offset 0); GetInputDimension maps each
// padded coordinate back into the input.
func (c *prep) mirrorPad() (kernel, error) {
	in, padT, out, elem, err := c.moveOperands()
	if err != nil {
		return nil, err
	}
	if err := c.wantConst(padT); err != nil {
		return nil, err
	}
	pads, err := c.constInt32s(padT)
	if err != nil {
		return nil, err
	}
	offset := 1
	if o, ok := c.options().(*schema.MirrorPadOptionsT); ok && o != nil && o.Mode != schema.MirrorPadModeREFLECT {
		offset = 0
	}
	is, os := shapeInts(c.info(in).Shape), shapeInts(c.info(out).Shape)
	if len(pads) != 2*len(is) || len(os) != len(is) {
		return nil, c.errorf("paddings %v do not fit input %v and output %v", pads, is, os)
	}
	for d := range is {
		l, r := int(pads[2*d]), int(pads[2*d+1])
		if l < 0 || r < 0 || l > is[d]-offset || r > is[d]-offset || is[d]+l+r != os[d] {
			return nil, c.errorf("paddings %v do not fit input %v and output %v", pads, is, os)
		}
	}
	strides := rowStrides(is)
	if err := c.moveLimit(toInts(c.op.Outputs)...); err != nil {
		return nil, err
	}
	m := newMover(elem)
	forEachIndex(os, func(o int, idx []int) {
		s := 0
		for d, v := range idx {
			s += mirrorIndex(v, int(pads[2*d]), is[d], offset) * strides[d]
		}
		m.move(out, o, in, s, 1)
	})
	return m.k, nil
}

func mirrorIndex(p, left, size, offset int) int {
	if p < left {
		orig := left + offset - 1
		return orig - min(p, orig-offset)
	}
	p -= left
	if p >= size {
		p -= size
		orig := size - (1 + offset)
		return orig - min(p, orig)
	}
	return p
}
