package patch

import (
	"encoding/binary"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Fold is one explicit PAD folded into the convolution that reads it (original operator
// indices of subgraph 0).
type Fold struct{ Pad, Conv int }

// FoldPads returns a copy of m in which every explicit PAD or PADV2 of subgraph 0 that a
// CONV_2D or DEPTHWISE_CONV_2D with SAME padding would reproduce exactly is dropped and the
// convolution reads the PAD's input with SAME padding; and, per kept operator of the copy, its
// index in m. m is not modified (the copy shares weight bytes with it). Without folds it
// returns m itself.
//
// A fold is exact, so int8 outputs stay bit-identical, when all of these hold (checked here):
//   - the PAD's output feeds only that convolution (input 0), which pads VALID with stride 1;
//   - PAD and convolution are int8 and the PAD's input and output have the same scale and
//     zero point z, and the PAD fills with z (PAD: its output zero point, as TFLM's kernel
//     does; PADV2: a constant value equal to z);
//   - only height and width are padded, by exactly what SAME adds at stride 1: a total of
//     (k-1)*dilation per dimension, total/2 before and the rest after (TFLM's
//     ComputePaddingWithOffset).
//
// Then every in-image tap reads the same value, and every padded tap contributes
// (z + input_offset) * w = 0 after the PAD, as it contributes nothing when TFLM's SAME
// convolution skips taps outside the image: the int32 accumulators, hence the outputs, are
// equal. Strided convolutions are not folded: SAME pads (0, 1) at stride 2 on even sizes,
// where PyTorch exports pad (1, 1).
func FoldPads(m *schema.ModelT) (*schema.ModelT, []Fold, []int) {
	if m == nil || len(m.Subgraphs) == 0 || m.Subgraphs[0] == nil {
		return m, nil, nil
	}
	sg := m.Subgraphs[0]
	readers := map[int32][]int{}
	for oi, op := range sg.Operators {
		for _, t := range op.Inputs {
			readers[t] = append(readers[t], oi)
		}
	}
	outputs := map[int32]bool{}
	for _, t := range sg.Outputs {
		outputs[t] = true
	}
	var folds []Fold
	for oi, op := range sg.Operators {
		if len(op.Outputs) != 1 || outputs[op.Outputs[0]] {
			continue
		}
		r := readers[op.Outputs[0]]
		if len(r) != 1 {
			continue
		}
		if foldable(m, sg, op, sg.Operators[r[0]]) {
			folds = append(folds, Fold{Pad: oi, Conv: r[0]})
		}
	}
	if len(folds) == 0 {
		return m, nil, nil
	}
	out := *m
	ns := *sg
	ns.Operators = nil
	dropped := map[int]bool{}
	into := map[int]int{} // conv -> pad
	for _, f := range folds {
		dropped[f.Pad] = true
		into[f.Conv] = f.Pad
	}
	var index []int
	for oi, op := range sg.Operators {
		if dropped[oi] {
			continue
		}
		c := *op
		if p, ok := into[oi]; ok {
			c.Inputs = append([]int32{sg.Operators[p].Inputs[0]}, op.Inputs[1:]...)
			c.BuiltinOptions = samePadding(op.BuiltinOptions)
		}
		ns.Operators = append(ns.Operators, &c)
		index = append(index, oi)
	}
	out.Subgraphs = append([]*schema.SubGraphT{&ns}, m.Subgraphs[1:]...)
	out.SignatureDefs = nil
	for _, sd := range m.SignatureDefs {
		c := *sd
		out.SignatureDefs = append(out.SignatureDefs, &c)
	}
	removeDeadTensors(&out)
	return &out, folds, index
}

// samePadding copies convolution options with the padding set to SAME.
func samePadding(u *schema.BuiltinOptionsT) *schema.BuiltinOptionsT {
	c := *u
	switch o := u.Value.(type) {
	case *schema.Conv2DOptionsT:
		v := *o
		v.Padding = schema.PaddingSAME
		c.Value = &v
	case *schema.DepthwiseConv2DOptionsT:
		v := *o
		v.Padding = schema.PaddingSAME
		c.Value = &v
	}
	return &c
}

// foldable checks the conditions of FoldPads for PAD operator pad read by conv.
func foldable(m *schema.ModelT, sg *schema.SubGraphT, pad, conv *schema.OperatorT) bool {
	code := func(op *schema.OperatorT) schema.BuiltinOperator {
		return tflite.BuiltinCode(m.OperatorCodes[op.OpcodeIndex])
	}
	pc := code(pad)
	if (pc != schema.BuiltinOperatorPAD && pc != schema.BuiltinOperatorPADV2) || len(pad.Inputs) < 2 {
		return false
	}
	if len(conv.Inputs) < 2 || conv.Inputs[0] != pad.Outputs[0] || conv.BuiltinOptions == nil {
		return false
	}
	var kh, kw int32
	var sh, sw, dh, dw int32
	f := tensorAt(sg, conv.Inputs, 1)
	if f == nil || len(f.Shape) != 4 {
		return false
	}
	switch o := conv.BuiltinOptions.Value.(type) {
	case *schema.Conv2DOptionsT:
		if code(conv) != schema.BuiltinOperatorCONV_2D || o == nil || o.Padding != schema.PaddingVALID {
			return false
		}
		sh, sw, dh, dw = o.StrideH, o.StrideW, o.DilationHFactor, o.DilationWFactor
	case *schema.DepthwiseConv2DOptionsT:
		if code(conv) != schema.BuiltinOperatorDEPTHWISE_CONV_2D || o == nil || o.Padding != schema.PaddingVALID {
			return false
		}
		sh, sw, dh, dw = o.StrideH, o.StrideW, o.DilationHFactor, o.DilationWFactor
	default:
		return false
	}
	kh, kw = f.Shape[1], f.Shape[2]
	if sh != 1 || sw != 1 || dh < 1 || dw < 1 {
		return false
	}
	x, y := tensorAt(sg, pad.Inputs, 0), tensorAt(sg, pad.Outputs, 0)
	if x == nil || y == nil || x.Type != schema.TensorTypeINT8 || y.Type != schema.TensorTypeINT8 || len(x.Shape) != 4 {
		return false
	}
	zp, ok := sameQuant(x, y)
	if !ok {
		return false
	}
	if pc == schema.BuiltinOperatorPADV2 {
		v, ok := constBytes(m, tensorAt(sg, pad.Inputs, 2))
		if !ok || len(v) != 1 || int64(int8(v[0])) != zp {
			return false
		}
	}
	p, ok := paddings(m, tensorAt(sg, pad.Inputs, 1))
	if !ok || len(p) != 8 {
		return false
	}
	th, tw := int64(kh-1)*int64(dh), int64(kw-1)*int64(dw)
	want := []int64{0, 0, th / 2, th - th/2, tw / 2, tw - tw/2, 0, 0}
	for i := range want {
		if p[i] != want[i] {
			return false
		}
	}
	return true
}

// sameQuant reports whether a and b have one identical scale and zero point, and returns it.
func sameQuant(a, b *schema.TensorT) (int64, bool) {
	qa, qb := a.Quantization, b.Quantization
	if qa == nil || qb == nil || len(qa.Scale) != 1 || len(qb.Scale) != 1 || len(qa.ZeroPoint) != 1 || len(qb.ZeroPoint) != 1 {
		return 0, false
	}
	return qa.ZeroPoint[0], qa.Scale[0] == qb.Scale[0] && qa.ZeroPoint[0] == qb.ZeroPoint[0]
}

// constBytes returns the data of a constant tensor.
func constBytes(m *schema.ModelT, t *schema.TensorT) ([]byte, bool) {
	if t == nil || int(t.Buffer) >= len(m.Buffers) || m.Buffers[t.Buffer] == nil || len(m.Buffers[t.Buffer].Data) == 0 {
		return nil, false
	}
	return m.Buffers[t.Buffer].Data, true
}

// paddings reads a constant int32 or int64 paddings tensor.
func paddings(m *schema.ModelT, t *schema.TensorT) ([]int64, bool) {
	d, ok := constBytes(m, t)
	if !ok {
		return nil, false
	}
	return decodeInts(t.Type, d)
}

// decodeInts reads little-endian int32 or int64 tensor data.
func decodeInts(typ schema.TensorType, d []byte) ([]int64, bool) {
	var r []int64
	switch typ {
	case schema.TensorTypeINT32:
		for i := 0; i+4 <= len(d); i += 4 {
			r = append(r, int64(int32(binary.LittleEndian.Uint32(d[i:]))))
		}
	case schema.TensorTypeINT64:
		for i := 0; i+8 <= len(d); i += 8 {
			r = append(r, int64(binary.LittleEndian.Uint64(d[i:])))
		}
	default:
		return nil, false
	}
	return r, true
}

// tensorAt returns the tensor at position i of an operator's index list, or nil when the
// position is absent, optional or out of range.
func tensorAt(sg *schema.SubGraphT, idx []int32, i int) *schema.TensorT {
	if i >= len(idx) || idx[i] < 0 || int(idx[i]) >= len(sg.Tensors) {
		return nil
	}
	return sg.Tensors[idx[i]]
}
