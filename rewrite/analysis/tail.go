package analysis

import (
	"fmt"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// DeclareBytes is the arena size to declare for a model whose arena_used_bytes() is total:
// rounded up to 16. TFLM aligns the tail down from the arena's end, so an arena of exactly
// total bytes whose end is not 16-byte aligned loses the difference and fails to allocate.
func DeclareBytes(total int64) int64 { return AlignUp(total, BufferAlignment) }

// TailOp is one operator as the persistent-tail model sees it.
type TailOp struct {
	Code   schema.BuiltinOperator
	Custom string // custom_code of CUSTOM operators
	Op     *schema.OperatorT
	// Info, when not nil, describes a custom operator instead of Options.Custom.
	Info *CustomOp
}

// TailGraph is one subgraph as the persistent-tail model sees it.
type TailGraph struct {
	Tensors int               // number of tensors (one TfLiteEvalTensor each)
	SG      *schema.SubGraphT // the tensors the operators' indices refer to, inputs, outputs
	Ops     []TailOp
}

// Tail is the predicted persistent tail of TFLM's arena.
type Tail struct {
	Bytes int64
	// Runtime is what MicroInterpreter's own objects take (allocator, planner, subgraph
	// tables, TfLiteEvalTensors, nodes, input/output TfLiteTensors, scratch handles);
	// OpData what the kernels keep (builtin parameters, Init and Prepare allocations);
	// Variables the variable tensors. Each includes its alignment padding.
	Runtime, OpData, Variables int64
	// Warnings name operators whose kernel data is not modelled (counted as none).
	Warnings []string
}

// tailSim replays TFLM's persistent allocations: the tail grows down from the arena's
// 16-byte aligned end, each allocation aligned down to its alignment
// (SingleArenaBufferAllocator::AllocatePersistentBuffer).
type tailSim struct {
	pos  int64 // negative offset from the end
	part *int64
}

func (s *tailSim) alloc(size, align int64) {
	before := s.pos
	s.pos = -AlignUp(-s.pos+size, align)
	*s.part += before - s.pos
}

// kernelAlign is MicroArenaBufferAlignment: the alignment of every buffer kernels allocate
// through TfLiteContext::AllocatePersistentBuffer, and of variable tensors.
const kernelAlign = 16

// TailOf predicts the persistent tail for the model described by graphs (graph 0 is the one
// invoked; its SG's inputs and outputs get persistent TfLiteTensors) whose kernels make
// scratchRequests RequestScratchBufferInArena calls in all. It follows MicroInterpreter's
// construction and AllocateTensors in TFLM 90b983c2: allocator, planner and MicroAllocator,
// the builtin-data allocator, the subgraph table, per subgraph the TfLiteEvalTensors and the
// NodeAndRegistrations, per operator its builtin parameters, then every kernel's Init
// allocations, then every Prepare allocation, the scratch buffer handles, the variable
// tensors, and the input and output TfLiteTensors with their quantization.
func (o Options) TailOf(graphs []TailGraph, scratchRequests int) Tail {
	a := abiOf(o.target())
	var t Tail
	s := &tailSim{part: &t.Runtime}
	s.alloc(a.arenaAllocator.size, a.arenaAllocator.align)
	s.alloc(a.planner.size, a.planner.align)
	s.alloc(a.microAllocator.size, a.microAllocator.align)
	s.alloc(a.builtinAllocator.size, a.builtinAllocator.align)
	s.alloc(a.subgraphAllocations.size*int64(len(graphs)), a.subgraphAllocations.align)
	for _, g := range graphs {
		s.alloc(a.evalTensor.size*int64(g.Tensors), a.evalTensor.align)
	}
	for _, g := range graphs {
		s.alloc(a.nodeAndRegistration.size*int64(len(g.Ops)), a.nodeAndRegistration.align)
	}
	s.part = &t.OpData
	for _, g := range graphs {
		for _, op := range g.Ops {
			if p, ok := a.params[op.Code]; ok {
				s.alloc(p.size, p.align)
			}
		}
	}
	kernels := o.kernels()
	for _, phase := range []int{initPhase, preparePhase} {
		for _, g := range graphs {
			for oi, op := range g.Ops {
				sizes, ok := o.kernelPersistent(a, kernels, phase, g.SG, op)
				if !ok && phase == initPhase {
					t.Warnings = append(t.Warnings, fmt.Sprintf("operator %d (%s): kernel data not modelled, counted as none", oi, tailOpName(op)))
				}
				for _, n := range sizes {
					s.alloc(n, kernelAlign)
				}
			}
		}
	}
	s.part = &t.Runtime
	if scratchRequests > 0 {
		s.alloc(a.scratchHandle.size*int64(scratchRequests), a.scratchHandle.align)
	}
	s.part = &t.Variables
	for _, g := range graphs {
		for _, tn := range g.SG.Tensors {
			if tn != nil && tn.IsVariable {
				s.alloc(tflite.TensorBytes(tn), kernelAlign)
			}
		}
	}
	s.part = &t.Runtime
	if len(graphs) > 0 {
		sg := graphs[0].SG
		for _, io := range [][]int32{sg.Inputs, sg.Outputs} {
			s.alloc(a.pointer*int64(len(io)), kernelAlign)
			for _, ti := range io {
				s.alloc(a.tfliteTensor.size, a.tfliteTensor.align)
				if ti < 0 || int(ti) >= len(sg.Tensors) {
					continue
				}
				if q := sg.Tensors[ti].Quantization; q != nil && len(q.Scale) > 0 && len(q.ZeroPoint) > 0 {
					s.alloc(a.affineQuantization.size, a.affineQuantization.align)
					s.alloc(4+4*int64(len(q.Scale)), 4) // TfLiteIntArray of zero points
				}
			}
		}
	}
	t.Bytes = -s.pos
	return t
}

func tailOpName(op TailOp) string {
	if op.Code == schema.BuiltinOperatorCUSTOM {
		return fmt.Sprintf("CUSTOM(%q)", op.Custom)
	}
	if n, ok := schema.EnumNamesBuiltinOperator[op.Code]; ok {
		return n
	}
	return fmt.Sprintf("BUILTIN_%d", int32(op.Code))
}

// ModelTailGraphs describes every subgraph of m for TailOf.
func ModelTailGraphs(m *schema.ModelT) []TailGraph {
	var gs []TailGraph
	for _, sg := range m.Subgraphs {
		g := TailGraph{Tensors: len(sg.Tensors), SG: sg}
		for _, op := range sg.Operators {
			to := TailOp{Op: op, Code: schema.BuiltinOperatorCUSTOM}
			if int(op.OpcodeIndex) < len(m.OperatorCodes) && m.OperatorCodes[op.OpcodeIndex] != nil {
				oc := m.OperatorCodes[op.OpcodeIndex]
				to.Code, to.Custom = tflite.BuiltinCode(oc), oc.CustomCode
			}
			g.Ops = append(g.Ops, to)
		}
		gs = append(gs, g)
	}
	return gs
}

const (
	initPhase = iota
	preparePhase
)

// kernelPersistent lists the AllocatePersistentBuffer sizes one operator's kernel makes in
// Init or Prepare; ok = false when the kernel is not modelled.
func (o Options) kernelPersistent(a *abi, k Kernels, phase int, sg *schema.SubGraphT, op TailOp) ([]int64, bool) {
	if op.Code == schema.BuiltinOperatorCUSTOM {
		info := op.Info
		if info == nil {
			c, ok := o.custom(op.Custom, sg, op.Op)
			if !ok {
				return nil, false
			}
			info = &c
		}
		if phase == initPhase {
			return info.Persistent, true
		}
		return nil, true
	}
	in := func(i int) *schema.TensorT { return tensorAt(sg, op.Op.Inputs, i) }
	if phase == preparePhase {
		return prepareAllocations(k, op.Code, in), true
	}
	name, ok := initData[op.Code]
	if !ok {
		return nil, false
	}
	if name == "" {
		return nil, true
	}
	if k == KernelsCMSISNN {
		if n, ok := cmsisInitData(a, op.Code); ok {
			return []int64{n}, true
		}
	}
	return []int64{a.opData[name]}, true
}

// initData names the op data each reference kernel's Init allocates ("" for none).
var initData = map[schema.BuiltinOperator]string{
	schema.BuiltinOperatorCONV_2D: "conv", schema.BuiltinOperatorDEPTHWISE_CONV_2D: "conv",
	schema.BuiltinOperatorFULLY_CONNECTED: "fully_connected", schema.BuiltinOperatorADD: "add",
	schema.BuiltinOperatorSUB: "sub", schema.BuiltinOperatorMUL: "mul",
	schema.BuiltinOperatorAVERAGE_POOL_2D: "pooling", schema.BuiltinOperatorMAX_POOL_2D: "pooling",
	schema.BuiltinOperatorSOFTMAX: "softmax", schema.BuiltinOperatorMEAN: "reduce", schema.BuiltinOperatorSUM: "reduce",
	schema.BuiltinOperatorREDUCE_MAX: "reduce", schema.BuiltinOperatorREDUCE_MIN: "reduce",
	schema.BuiltinOperatorREDUCE_ALL: "reduce", schema.BuiltinOperatorQUANTIZE: "quantize",
	schema.BuiltinOperatorDEQUANTIZE: "dequantize", schema.BuiltinOperatorLOGISTIC: "logistic",
	schema.BuiltinOperatorTANH: "tanh", schema.BuiltinOperatorPAD: "pad", schema.BuiltinOperatorPADV2: "pad",
	schema.BuiltinOperatorCONCATENATION: "concatenation", schema.BuiltinOperatorLEAKY_RELU: "leaky_relu",
	schema.BuiltinOperatorRELU: "relu", schema.BuiltinOperatorRELU6: "relu6",
	schema.BuiltinOperatorHARD_SWISH: "hard_swish", schema.BuiltinOperatorSTRIDED_SLICE: "strided_slice",
	schema.BuiltinOperatorPRELU: "prelu", schema.BuiltinOperatorTRANSPOSE: "", schema.BuiltinOperatorRESHAPE: "",
	schema.BuiltinOperatorSQUEEZE: "", schema.BuiltinOperatorEXPAND_DIMS: "",
	schema.BuiltinOperatorRESIZE_NEAREST_NEIGHBOR: "",
}

// int16LUTBytes is one int16 softmax lookup table (LUTSize<int16_t>() = 513 entries).
const int16LUTBytes = 2 * 513

// prepareAllocations lists what a kernel's Prepare allocates persistently.
func prepareAllocations(k Kernels, code schema.BuiltinOperator, in func(int) *schema.TensorT) []int64 {
	dim := func(t *schema.TensorT, i int) int64 {
		if t == nil || i >= len(t.Shape) || t.Shape[i] < 0 {
			return 0
		}
		return int64(t.Shape[i])
	}
	switch code {
	case schema.BuiltinOperatorCONV_2D, schema.BuiltinOperatorDEPTHWISE_CONV_2D:
		// conv_common.cc, depthwise_conv_common.cc: per-channel multipliers and shifts (filter
		// dimension 0, resp. 3), whatever the type; CMSIS-NN's kernels only for int8/int16.
		if x := in(0); k == KernelsCMSISNN && (x == nil || (x.Type != schema.TensorTypeINT8 && x.Type != schema.TensorTypeINT16)) {
			return nil
		}
		axis := 0
		if code == schema.BuiltinOperatorDEPTHWISE_CONV_2D {
			axis = 3
		}
		c := 4 * dim(in(1), axis)
		return []int64{c, c}
	case schema.BuiltinOperatorFULLY_CONNECTED:
		// fully_connected_common.cc: only per-channel quantized int8/int16 filters.
		x, f := in(0), in(1)
		if x != nil && f != nil && (x.Type == schema.TensorTypeINT8 || x.Type == schema.TensorTypeINT16) &&
			f.Quantization != nil && len(f.Quantization.Scale) > 1 {
			c := 4 * int64(len(f.Quantization.Scale))
			return []int64{c, c}
		}
	case schema.BuiltinOperatorSOFTMAX:
		if x := in(0); x != nil && x.Type == schema.TensorTypeINT16 && k == KernelsReference {
			return []int64{int16LUTBytes, int16LUTBytes}
		}
	}
	return nil
}

// cmsisInitData is the op data CMSIS-NN's kernels (TFLM kernels/cmsis_nn) allocate in Init
// where it differs from the reference kernels': their OpData wraps the reference one and adds
// a scratch index (convolutions, pools), scratch indices, a kernel-sums pointer and three
// dimensions (fully connected), or two row counts (softmax).
func cmsisInitData(a *abi, code schema.BuiltinOperator) (int64, bool) {
	switch code {
	case schema.BuiltinOperatorCONV_2D, schema.BuiltinOperatorDEPTHWISE_CONV_2D:
		return a.opData["conv"] + 4, true
	case schema.BuiltinOperatorFULLY_CONNECTED:
		return a.opData["fully_connected"] + 2*4 + a.pointer + 3*4, true
	case schema.BuiltinOperatorAVERAGE_POOL_2D, schema.BuiltinOperatorMAX_POOL_2D:
		return a.opData["pooling"] + 4, true
	case schema.BuiltinOperatorSOFTMAX:
		return a.opData["softmax"] + 2*4, true
	}
	return 0, false
}
