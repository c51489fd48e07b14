// Package analysis describes a TFLite model the way TFLite Micro will run it: per operator
// the shapes, types, quantization, multiply-accumulates and weight bytes, and the activation
// memory TFLM's allocator plans — tensor lifetimes over the execution order, the bytes live at
// every operator, and the arena head size TFLM's greedy memory planner produces.
//
// The memory model follows TFLM's MicroAllocator: every tensor without constant data that is
// neither a variable nor empty gets an arena buffer whose lifetime runs from the operator that
// writes it (subgraph inputs: before the first operator) to the last operator that reads it
// (subgraph outputs: the last operator); the scratch buffers reference kernels request in
// Prepare are planned with their operator's lifetime; every size is rounded up to 16 bytes;
// buffers are placed by GreedyMemoryPlanner's rules (see PlanGreedy). TFLM does not alias
// RESHAPE/SQUEEZE outputs with their inputs: they are separate buffers here too.
package analysis

import (
	"fmt"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Report is the analysis of subgraph 0 of a model (the graph TFLM invokes).
type Report struct {
	Ops     []OpInfo
	Tensors []TensorInfo // every tensor of subgraph 0, by index
	Inputs  []TensorInfo // subgraph 0 inputs, in order
	Outputs []TensorInfo // subgraph 0 outputs, in order

	MACs        int64 // sum of OpInfo.MACs
	WeightBytes int64 // bytes of the distinct constant buffers the operators read
	Params      int64 // elements of those constant buffers' tensors

	// PeakLiveBytes is the largest sum of live activation bytes (tensors and scratch, sizes
	// not rounded) at one operator, PeakLiveOp that operator: a lower bound for any planner.
	PeakLiveBytes int64
	PeakLiveOp    int
	// ArenaBytes is the non-persistent arena head TFLM's greedy planner produces (what
	// MicroAllocator reserves for activations and scratch). ArenaOp is the operator that sets
	// it: of the operators during which a live buffer ends at ArenaBytes, the one with the
	// most live bytes (the first on ties); -1 if no operator does (e.g. the top buffer belongs
	// to a subgraph nothing calls).
	ArenaBytes int64
	ArenaOp    int

	// Planned lists the buffers handed to the planner in TFLM's order, with their offsets.
	Planned []PlannedBuffer
	// Warnings lists things the analysis skipped or could not model.
	Warnings []string
}

// OpInfo describes one operator of subgraph 0.
type OpInfo struct {
	Index   int
	Name    string // tflite.OpName: CONV_2D, CUSTOM("ethos-u"), BUILTIN_<n>
	Code    schema.BuiltinOperator
	Custom  string  // custom_code of CUSTOM operators
	Inputs  []int32 // tensor indices, -1 for omitted optional inputs
	Outputs []int32

	MACs        int64 // see the convention at opMACs
	WeightBytes int64 // bytes of this operator's constant inputs
	// ScratchBytes is what the reference kernel requests in Prepare (unrounded).
	ScratchBytes int64
	// LiveBytes is the sum of the activation tensors (and this operator's scratch) live
	// while the operator runs; Live lists those tensors.
	LiveBytes int64
	Live      []int
	// ArenaTop is the highest arena end offset of any buffer live while the operator runs.
	ArenaTop int64
	// Flag is non-empty when the operator was not (fully) analysed, e.g.
	// "custom op 'ethos-u': not analysed".
	Flag string
}

// TensorInfo describes one tensor of subgraph 0.
type TensorInfo struct {
	Index    int
	Name     string
	Shape    []int32
	Type     string // tflite.TypeName
	Bytes    int64  // unpacked size in memory (TFLM's byte length)
	Constant bool   // has data in the model (weights, biases, shape operands)
	Variable bool
	Quant    *Quant // nil when not quantized
	// FirstOp and LastOp bound the operators during which the tensor occupies the arena
	// (-1, -1 for tensors that are not planned or live at no operator).
	FirstOp, LastOp int
	// Offset is the tensor's arena offset, -1 if it is not planned in the arena head.
	Offset int64
}

// Quant summarises a tensor's affine quantization.
type Quant struct {
	Scale     float64 // first scale
	ZeroPoint int64   // first zero point
	Channels  int     // number of scales: 1 per-tensor, >1 per-channel
	Axis      int     // quantized dimension (meaningful when Channels > 1)
}

// BufferKind says what a planned buffer holds.
type BufferKind int

// Kinds of planned buffers.
const (
	TensorBuffer BufferKind = iota
	ScratchBuffer
)

// PlannedBuffer is one arena buffer as TFLM plans it. First and Last are TFLM allocation
// scopes: 0 is the start of subgraph 0 (its inputs), each operator visit adds one, -1 means
// never used.
type PlannedBuffer struct {
	Kind     BufferKind
	Subgraph int
	Tensor   int // tensor index within Subgraph (TensorBuffer)
	Op       int // requesting operator (ScratchBuffer)
	Bytes    int64
	Buffer         // Size (Bytes rounded up to BufferAlignment), lifetime, offline offset
	Offset   int64 // planned offset
}

// Analyze describes m; see Report. It fails only on models whose indices are inconsistent
// (tflite.Load rejects those) or whose control flow TFLM cannot plan.
func Analyze(m *schema.ModelT) (*Report, error) {
	if err := checkIndices(m); err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	scratch := scratchRequests(m)
	lm := newLifetimeMarker(m, scratch)
	if err := lm.mark(0); err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	r := &Report{PeakLiveOp: -1, ArenaOp: -1}
	plan, warn := offlinePlan(m, len(lm.first))
	if warn != "" {
		r.Warnings = append(r.Warnings, warn)
	}

	// Tensors of every subgraph, then scratch buffers: TFLM's allocation-info order.
	for si, sg := range m.Subgraphs {
		for ti, t := range sg.Tensors {
			e := lm.base[si] + ti
			bytes := tflite.TensorBytes(t)
			offline := int64(-1)
			if plan != nil {
				offline = plan[e]
			}
			needs := !isConstant(m, t) && !t.IsVariable && bytes != 0
			if t.IsVariable && offline >= 0 {
				needs = true
			}
			if !needs {
				continue
			}
			r.Planned = append(r.Planned, PlannedBuffer{
				Kind: TensorBuffer, Subgraph: si, Tensor: ti, Op: -1, Bytes: bytes,
				Buffer: Buffer{Size: AlignUp(bytes, BufferAlignment), First: lm.first[e], Last: lm.last[e], Fixed: offline >= 0, Offset: max(offline, 0)},
			})
		}
	}
	for i, req := range scratch {
		r.Planned = append(r.Planned, PlannedBuffer{
			Kind: ScratchBuffer, Subgraph: req.subgraph, Tensor: -1, Op: req.op, Bytes: req.bytes,
			Buffer: Buffer{Size: AlignUp(req.bytes, BufferAlignment), First: lm.opFirst[i], Last: lm.opLast[i]},
		})
	}
	bufs := make([]Buffer, len(r.Planned))
	for i := range r.Planned {
		bufs[i] = r.Planned[i].Buffer
	}
	p, err := PlanGreedy(bufs)
	if err != nil {
		return nil, fmt.Errorf("analysis: planning the arena: %w", err)
	}
	for i := range r.Planned {
		r.Planned[i].Offset = p.Offsets[i]
	}
	r.ArenaBytes = p.Size

	sg := m.Subgraphs[0]
	r.describeTensors(m, sg)
	r.describeOps(m, sg, lm)
	for _, ti := range sg.Inputs {
		r.Inputs = append(r.Inputs, r.Tensors[ti])
	}
	for _, ti := range sg.Outputs {
		r.Outputs = append(r.Outputs, r.Tensors[ti])
	}
	return r, nil
}

// isConstant reports whether TFLM finds data for t in the model (then it is never planned).
func isConstant(m *schema.ModelT, t *schema.TensorT) bool {
	return int(t.Buffer) < len(m.Buffers) && m.Buffers[t.Buffer] != nil && len(m.Buffers[t.Buffer].Data) > 0
}

func (r *Report) describeTensors(m *schema.ModelT, sg *schema.SubGraphT) {
	r.Tensors = make([]TensorInfo, len(sg.Tensors))
	for ti, t := range sg.Tensors {
		info := TensorInfo{
			Index: ti, Name: t.Name, Shape: t.Shape, Type: tflite.TypeName(t.Type),
			Bytes: tflite.TensorBytes(t), Constant: isConstant(m, t), Variable: t.IsVariable,
			FirstOp: -1, LastOp: -1, Offset: -1,
		}
		if q := t.Quantization; q != nil && len(q.Scale) > 0 {
			info.Quant = &Quant{Scale: float64(q.Scale[0]), Channels: len(q.Scale), Axis: int(q.QuantizedDimension)}
			if len(q.ZeroPoint) > 0 {
				info.Quant.ZeroPoint = q.ZeroPoint[0]
			}
		}
		r.Tensors[ti] = info
	}
	for _, b := range r.Planned {
		if b.Kind == TensorBuffer && b.Subgraph == 0 {
			r.Tensors[b.Tensor].Offset = b.Offset
		}
	}
}

func (r *Report) describeOps(m *schema.ModelT, sg *schema.SubGraphT, lm *lifetimeMarker) {
	seenBuf := map[uint32]bool{}
	r.Ops = make([]OpInfo, len(sg.Operators))
	for oi, op := range sg.Operators {
		oc := m.OperatorCodes[op.OpcodeIndex]
		code := tflite.BuiltinCode(oc)
		info := OpInfo{Index: oi, Name: tflite.OpName(oc), Code: code, Inputs: op.Inputs, Outputs: op.Outputs}
		switch _, known := schema.EnumNamesBuiltinOperator[code]; {
		case code == schema.BuiltinOperatorCUSTOM:
			info.Custom = oc.CustomCode
			info.Flag = fmt.Sprintf("custom op '%s': not analysed", oc.CustomCode)
		case !known:
			info.Flag = fmt.Sprintf("unknown builtin operator %d: not analysed", int32(code))
		default:
			info.MACs, info.Flag = opMACs(code, sg, op)
		}
		seenHere := map[uint32]bool{}
		for _, ti := range op.Inputs {
			if ti < 0 {
				continue
			}
			t := sg.Tensors[ti]
			if !isConstant(m, t) || seenHere[t.Buffer] {
				continue
			}
			seenHere[t.Buffer] = true
			n := int64(len(m.Buffers[t.Buffer].Data))
			info.WeightBytes += n
			if !seenBuf[t.Buffer] {
				seenBuf[t.Buffer] = true
				r.WeightBytes += n
				count, _ := tflite.ElementCount(t.Shape)
				r.Params += count
			}
		}
		r.MACs += info.MACs
		r.Ops[oi] = info
	}

	// Liveness at each operator: the buffers whose scope range meets the operator's scopes
	// (its own scope, and the scopes of any subgraphs it calls).
	for oi := range r.Ops {
		op := &r.Ops[oi]
		from, to := lm.opScope[0][oi], lm.opEnd[0][oi]
		var live int64
		for _, b := range r.Planned {
			if b.First > to || b.Last < from {
				continue
			}
			if b.Kind == ScratchBuffer && b.Subgraph == 0 && b.Op == oi {
				op.ScratchBytes += b.Bytes
			}
			if b.Subgraph == 0 && b.Kind == TensorBuffer {
				op.Live = append(op.Live, b.Tensor)
				t := &r.Tensors[b.Tensor]
				if t.FirstOp < 0 {
					t.FirstOp = oi
				}
				t.LastOp = oi
			}
			live += b.Bytes
			op.ArenaTop = max(op.ArenaTop, b.Offset+b.Size)
		}
		op.LiveBytes = live
		if r.PeakLiveOp < 0 || live > r.PeakLiveBytes {
			r.PeakLiveBytes, r.PeakLiveOp = live, oi
		}
		if op.ArenaTop == r.ArenaBytes && r.ArenaBytes > 0 && (r.ArenaOp < 0 || live > r.Ops[r.ArenaOp].LiveBytes) {
			r.ArenaOp = oi
		}
	}
}

// checkIndices verifies every index the analysis follows, so that hand-built or unchecked
// models give errors instead of panics.
func checkIndices(m *schema.ModelT) error {
	if m == nil || len(m.Subgraphs) == 0 || m.Subgraphs[0] == nil {
		return fmt.Errorf("model has no subgraphs")
	}
	for si, sg := range m.Subgraphs {
		if sg == nil {
			return fmt.Errorf("subgraph %d is missing", si)
		}
		n := int32(len(sg.Tensors))
		for ti, t := range sg.Tensors {
			if t == nil {
				return fmt.Errorf("subgraph %d, tensor %d is missing", si, ti)
			}
			if _, err := tflite.ElementCount(t.Shape); err != nil {
				return fmt.Errorf("subgraph %d, tensor %d %q: %w", si, ti, t.Name, err)
			}
		}
		inRange := func(what string, idx []int32, optional bool) error {
			for i, t := range idx {
				if (t == -1 && optional) || (t >= 0 && t < n) {
					continue
				}
				return fmt.Errorf("subgraph %d: %s %d is tensor %d, subgraph has %d tensors", si, what, i, t, n)
			}
			return nil
		}
		if err := inRange("input", sg.Inputs, false); err != nil {
			return err
		}
		if err := inRange("output", sg.Outputs, false); err != nil {
			return err
		}
		for oi, op := range sg.Operators {
			if op == nil {
				return fmt.Errorf("subgraph %d, operator %d is missing", si, oi)
			}
			if int(op.OpcodeIndex) >= len(m.OperatorCodes) || m.OperatorCodes[op.OpcodeIndex] == nil {
				return fmt.Errorf("subgraph %d, operator %d: opcode index %d, model has %d operator codes", si, oi, op.OpcodeIndex, len(m.OperatorCodes))
			}
			if err := inRange(fmt.Sprintf("operator %d input", oi), op.Inputs, true); err != nil {
				return err
			}
			if err := inRange(fmt.Sprintf("operator %d output", oi), op.Outputs, false); err != nil {
				return err
			}
		}
	}
	return nil
}
