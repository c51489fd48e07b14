package analysis

import (
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// scratchRequest is one RequestScratchBufferInArena call a kernel makes in Prepare.
type scratchRequest struct {
	subgraph, op int
	bytes        int64
}

// scratchRequests lists the arena scratch buffers TFLM's reference kernels request while
// preparing every operator, in request order (subgraph by subgraph, operator by operator).
// Kernels modelled: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with INT4 filters (the
// unpacked filter), MEAN and SUM (int32 accumulator for int8/int16, index tables), REDUCE_MAX,
// REDUCE_MIN and REDUCE_ALL (index tables), SVDF, TRANSPOSE_CONV, ADD_N and MIRROR_PAD.
// Optimized kernel libraries (CMSIS-NN, ESP-NN, Xtensa) request more.
func scratchRequests(m *schema.ModelT, opts Options) []scratchRequest {
	var reqs []scratchRequest
	for si, sg := range m.Subgraphs {
		for oi, op := range sg.Operators {
			sizes := opScratch(m, sg, op, opts)
			if oc := m.OperatorCodes[op.OpcodeIndex]; tflite.BuiltinCode(oc) == schema.BuiltinOperatorCUSTOM {
				if c, ok := opts.custom(oc.CustomCode, sg, op); ok {
					sizes = c.Scratch
				}
			}
			for _, b := range sizes {
				reqs = append(reqs, scratchRequest{si, oi, b})
			}
		}
	}
	return reqs
}

// opScratch returns the scratch sizes one operator's reference kernel requests.
func opScratch(m *schema.ModelT, sg *schema.SubGraphT, op *schema.OperatorT, opts Options) []int64 {
	if int(op.OpcodeIndex) >= len(m.OperatorCodes) {
		return nil
	}
	if opts.kernels() == KernelsCMSISNN {
		if r, ok := cmsisScratch(m, sg, op); ok {
			return r
		}
	}
	in := func(i int) *schema.TensorT { return tensorAt(sg, op.Inputs, i) }
	out := func(i int) *schema.TensorT { return tensorAt(sg, op.Outputs, i) }
	count := func(t *schema.TensorT) int64 {
		if t == nil {
			return 0
		}
		n, err := tflite.ElementCount(t.Shape)
		if err != nil {
			return 0
		}
		return n
	}
	rank := func(t *schema.TensorT) int64 {
		if t == nil {
			return 0
		}
		return int64(len(t.Shape))
	}
	switch tflite.BuiltinCode(m.OperatorCodes[op.OpcodeIndex]) {
	case schema.BuiltinOperatorCONV_2D, schema.BuiltinOperatorDEPTHWISE_CONV_2D, schema.BuiltinOperatorFULLY_CONNECTED:
		if f := in(1); f != nil && f.Type == schema.TensorTypeINT4 {
			return []int64{count(f)}
		}
	case schema.BuiltinOperatorMEAN, schema.BuiltinOperatorSUM:
		x := in(0)
		var r []int64
		if x != nil && (x.Type == schema.TensorTypeINT8 || x.Type == schema.TensorTypeINT16) {
			r = append(r, 4*count(out(0)))
		}
		return append(r, 4*rank(x), 4*count(in(1)))
	case schema.BuiltinOperatorREDUCE_MAX, schema.BuiltinOperatorREDUCE_MIN, schema.BuiltinOperatorREDUCE_ALL:
		return []int64{4 * rank(in(0)), 4 * count(in(1))}
	case schema.BuiltinOperatorSVDF:
		x, wf := in(0), in(1)
		if x == nil || wf == nil || len(x.Shape) != 2 || len(wf.Shape) != 2 {
			return nil
		}
		batch, filters := int64(x.Shape[0]), int64(wf.Shape[0])
		if x.Type != schema.TensorTypeINT8 {
			return []int64{batch * filters * 4}
		}
		rank := int64(1)
		if op.BuiltinOptions != nil {
			if o, ok := op.BuiltinOptions.Value.(*schema.SVDFOptionsT); ok && o != nil && o.Rank > 0 {
				rank = int64(o.Rank)
			}
		}
		return []int64{batch * filters * 4, batch * (filters / rank) * 4}
	case schema.BuiltinOperatorTRANSPOSE_CONV:
		x, y := in(2), out(0)
		if x == nil {
			return nil
		}
		var r []int64
		switch x.Type {
		case schema.TensorTypeINT8:
			r = append(r, 4*count(y))
		case schema.TensorTypeINT16:
			r = append(r, 8*count(y))
			if b := in(3); b != nil && b.Type == schema.TensorTypeINT16 {
				r = append(r, 8*count(b))
			}
		}
		return r
	case schema.BuiltinOperatorADD_N:
		if y := out(0); y != nil && (y.Type == schema.TensorTypeFLOAT32 || y.Type == schema.TensorTypeINT8) {
			return []int64{PointerBytes(opts.target()) * int64(len(op.Inputs))}
		}
	case schema.BuiltinOperatorMIRROR_PAD:
		x := in(0)
		return []int64{4 * rank(x), 4 * rank(x)}
	}
	return nil
}

// tensorAt returns the tensor at position i of an operator's index list, or nil when the
// position is absent, optional (-1) or out of range.
func tensorAt(sg *schema.SubGraphT, idx []int32, i int) *schema.TensorT {
	if i >= len(idx) || idx[i] < 0 || int(idx[i]) >= len(sg.Tensors) {
		return nil
	}
	return sg.Tensors[idx[i]]
}

// cmsisScratch returns the scratch sizes TFLM's CMSIS-NN kernel of op requests where they
// differ from the reference kernel's (ok = false: same as reference). The sizes are those of
// CMSIS-NN 4ab83cc3's *_get_buffer_size for a core with the DSP extension and no MVE
// (Cortex-M4/M7/M33) built with GCC: im2col buffers for convolutions that are not 1x1,
// a channel buffer for depthwise convolutions the 3x3 kernel does not cover, an int32 per
// channel for average pools, and per-channel parameters for per-tensor fully connected
// layers that run as 1x1 convolutions.
func cmsisScratch(m *schema.ModelT, sg *schema.SubGraphT, op *schema.OperatorT) ([]int64, bool) {
	in := func(i int) *schema.TensorT { return tensorAt(sg, op.Inputs, i) }
	x, f, y := in(0), in(1), tensorAt(sg, op.Outputs, 0)
	if x == nil || y == nil || x.Type != schema.TensorTypeINT8 {
		return nil, false
	}
	nhwc := func(t *schema.TensorT) (n, h, w, c int64, ok bool) {
		if t == nil || len(t.Shape) != 4 {
			return 0, 0, 0, 0, false
		}
		return int64(t.Shape[0]), int64(t.Shape[1]), int64(t.Shape[2]), int64(t.Shape[3]), true
	}
	switch tflite.BuiltinCode(m.OperatorCodes[op.OpcodeIndex]) {
	case schema.BuiltinOperatorCONV_2D:
		o, _ := op.BuiltinOptions.Value.(*schema.Conv2DOptionsT)
		_, ih, iw, ic, ok1 := nhwc(x)
		_, kh, kw, kc, ok2 := nhwc(f)
		_, oh, ow, _, ok3 := nhwc(y)
		if o == nil || !ok1 || !ok2 || !ok3 || f.Type != schema.TensorTypeINT8 {
			return nil, false
		}
		sh, sw, dh, dw := int64(o.StrideH), int64(o.StrideW), int64(o.DilationHFactor), int64(o.DilationWFactor)
		ph := tflmPadding(o.Padding, ih, kh, sh, dh, oh)
		pw := tflmPadding(o.Padding, iw, kw, sw, dw, ow)
		// arm_convolve_wrapper_s8_get_buffer_size_dsp: 1x1 kernels need no buffer (the
		// "fast" one only with Arm's compiler); 1xN and general ones 2 x 2 bytes per column.
		if ph == 0 && pw == 0 && kh == 1 && kw == 1 && dh == 1 && dw == 1 && ic == kc {
			return nil, true
		}
		cols := AlignUp(kh*kw*ic, 4)
		return []int64{4 * cols}, true
	case schema.BuiltinOperatorDEPTHWISE_CONV_2D:
		o, _ := op.BuiltinOptions.Value.(*schema.DepthwiseConv2DOptionsT)
		n, ih, iw, ic, ok1 := nhwc(x)
		_, kh, kw, _, ok2 := nhwc(f)
		_, oh, ow, oc, ok3 := nhwc(y)
		if o == nil || !ok1 || !ok2 || !ok3 || f.Type != schema.TensorTypeINT8 {
			return nil, false
		}
		dh, dw := int64(o.DilationHFactor), int64(o.DilationWFactor)
		if ic != oc || n != 1 || dh != 1 || dw != 1 {
			return nil, true
		}
		ph := tflmPadding(o.Padding, ih, kh, int64(o.StrideH), dh, oh)
		pw := tflmPadding(o.Padding, iw, kw, int64(o.StrideW), dw, ow)
		if kh == 3 && kw == 3 && ph <= 1 && pw <= 1 {
			return nil, true // arm_depthwise_conv_3x3_s8
		}
		return []int64{2 * ic * kh * kw}, true
	case schema.BuiltinOperatorAVERAGE_POOL_2D:
		_, _, _, c, ok := nhwc(y)
		if !ok {
			return nil, false
		}
		return []int64{4 * c}, true
	case schema.BuiltinOperatorFULLY_CONNECTED:
		if f == nil || f.Type != schema.TensorTypeINT8 || len(f.Shape) != 2 {
			return nil, false
		}
		depth, units := int64(f.Shape[1]), int64(f.Shape[0])
		perChannel := f.Quantization != nil && len(f.Quantization.Scale) > 1
		if len(y.Shape) > 2 && depth%4 == 0 && !perChannel {
			return []int64{8 * units}, true
		}
		return nil, true
	}
	return nil, false
}

// tflmPadding is the leading padding TFLM computes for one spatial dimension
// (ComputePaddingWithOffset): half the total padding SAME needs to produce out positions,
// 0 for VALID.
func tflmPadding(p schema.Padding, in, k, stride, dilation, out int64) int64 {
	if p != schema.PaddingSAME {
		return 0
	}
	eff := (k-1)*dilation + 1
	return max(0, (out-1)*stride+eff-in) / 2
}
