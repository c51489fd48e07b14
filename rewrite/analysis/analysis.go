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
// RESHAPE/SQUEEZE outputs with their inputs: they are separate buffers here too. Like TFLM,
// the analysis also plans tensors no operator touches (lifetime "never", overlapping only
// each other), enters the subgraphs of IF, WHILE and CALL_ONCE, and honours an
// OfflineMemoryAllocation plan (Vela writes one).
//
// MACs follow this convention: CONV_2D output elements x kernel height x kernel width x
// filter input channels (in_ch/groups); DEPTHWISE_CONV_2D output elements x kernel height x
// kernel width; FULLY_CONNECTED output elements x input features; ADD, SUB, MUL output
// elements; AVERAGE_POOL_2D, MAX_POOL_2D output elements x filter area; MEAN input
// elements; every other operator 0. Padding is ignored (border outputs count full windows).
package analysis

import (
	"cmp"
	"fmt"
	"slices"

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
	// not rounded) at one operator, PeakLiveOp that operator: a lower bound for any planner
	// that keeps buffers in use at the same time apart (bytes that an offline plan lets two
	// such buffers share count once).
	PeakLiveBytes int64
	PeakLiveOp    int
	// ArenaBytes is the non-persistent arena head TFLM's greedy planner produces (what
	// MicroAllocator reserves for activations and scratch). ArenaOp is the operator that sets
	// it: of the operators during which a live buffer ends at ArenaBytes, the one with the
	// most live bytes (the first on ties); -1 if no operator does (e.g. the top buffer belongs
	// to a subgraph nothing calls).
	ArenaBytes int64
	ArenaOp    int
	// OfflineBuffers counts the buffers the model's OfflineMemoryAllocation plan places
	// (0 without one); OnlineArenaBytes is the head TFLM would plan without that plan
	// (= ArenaBytes when OfflineBuffers is 0).
	OfflineBuffers   int
	OnlineArenaBytes int64
	// Tail is the persistent tail TFLM allocates besides the head, and TotalBytes = ArenaBytes
	// + Tail.Bytes what MicroInterpreter::arena_used_bytes() reports for Target and Kernels.
	// An arena declared with TotalBytes rounded up to 16 (DeclareBytes) suffices.
	Tail       Tail
	TotalBytes int64
	Target     Target
	Kernels    Kernels

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

	MACs        int64 // see the convention in the package documentation
	WeightBytes int64 // bytes of this operator's constant inputs
	// ScratchBytes is what the reference kernel requests in Prepare (unrounded).
	ScratchBytes int64
	// LiveBytes is the sum of the activation tensors (and this operator's scratch) live
	// while the operator runs, bytes shared by an offline plan counted once; Live lists
	// those tensors.
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

// maxPlannedBuffers bounds the buffers Analyze plans: greedy planning is quadratic in the
// buffer count (in TFLM too), and microcontroller models have hundreds, not tens of thousands.
const maxPlannedBuffers = 1 << 14

// Options extend the analysis to custom operators.
type Options struct {
	// Custom describes custom operators the analysis does not know (it is called for every
	// CUSTOM operator of every subgraph). ok = false leaves the operator flagged as not
	// analysed, with 0 MACs and no scratch.
	Custom func(code string, sg *schema.SubGraphT, op *schema.OperatorT) (info CustomOp, ok bool)
	// Target and Kernels name the TFLM build the arena is predicted for (zero values:
	// cortex-m, reference kernels).
	Target  Target
	Kernels Kernels
}

func (o Options) target() Target {
	if o.Target == "" {
		return TargetCortexM
	}
	return o.Target
}

func (o Options) kernels() Kernels {
	if o.Kernels == "" {
		return KernelsReference
	}
	return o.Kernels
}

// CustomOp is what Options.Custom reports about a custom operator.
type CustomOp struct {
	MACs int64
	// Scratch lists the arena scratch sizes the kernel requests in Prepare, in order.
	Scratch []int64
	// Persistent lists the persistent buffers the kernel allocates (Init and Prepare), in
	// order.
	Persistent []int64
}

// Analyze describes m; see Report. It fails only on models whose indices are inconsistent
// (tflite.Load rejects those) or whose control flow TFLM cannot plan.
func Analyze(m *schema.ModelT) (*Report, error) { return AnalyzeWith(m, Options{}) }

// AnalyzeWith is Analyze with custom operators described by opts.
func AnalyzeWith(m *schema.ModelT, opts Options) (*Report, error) {
	if err := checkIndices(m); err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	scratch := scratchRequests(m, opts)
	lm := newLifetimeMarker(m, scratch)
	if err := lm.mark(0); err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	r := &Report{PeakLiveOp: -1, ArenaOp: -1, Target: opts.target(), Kernels: opts.kernels()}
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
	if len(r.Planned) > maxPlannedBuffers {
		return nil, fmt.Errorf("analysis: model needs %d arena buffers, more than the %d this tool plans", len(r.Planned), maxPlannedBuffers)
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
	r.ArenaBytes, r.OnlineArenaBytes = p.Size, p.Size
	if r.OfflineBuffers = countFixed(bufs); r.OfflineBuffers > 0 {
		if r.OnlineArenaBytes, err = onlineSize(bufs); err != nil {
			return nil, fmt.Errorf("analysis: planning the arena: %w", err)
		}
	}
	r.Tail = opts.TailOf(ModelTailGraphs(m), len(scratch))
	r.TotalBytes = r.ArenaBytes + r.Tail.Bytes
	r.Warnings = append(r.Warnings, r.Tail.Warnings...)

	sg := m.Subgraphs[0]
	r.describeTensors(m, sg)
	r.describeOps(m, sg, lm, opts.custom)
	for _, ti := range sg.Inputs {
		r.Inputs = append(r.Inputs, r.Tensors[ti])
	}
	for _, ti := range sg.Outputs {
		r.Outputs = append(r.Outputs, r.Tensors[ti])
	}
	return r, nil
}

// customFunc is Options.Custom made safe to call: nil means no custom operator is known.
type customFunc func(code string, sg *schema.SubGraphT, op *schema.OperatorT) (CustomOp, bool)

func (o Options) custom(code string, sg *schema.SubGraphT, op *schema.OperatorT) (CustomOp, bool) {
	if o.Custom == nil {
		return CustomOp{}, false
	}
	return o.Custom(code, sg, op)
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

func (r *Report) describeOps(m *schema.ModelT, sg *schema.SubGraphT, lm *lifetimeMarker, custom customFunc) {
	seenBuf := map[uint32]bool{}
	r.Ops = make([]OpInfo, len(sg.Operators))
	for oi, op := range sg.Operators {
		oc := m.OperatorCodes[op.OpcodeIndex]
		code := tflite.BuiltinCode(oc)
		info := OpInfo{Index: oi, Name: tflite.OpName(oc), Code: code, Inputs: op.Inputs, Outputs: op.Outputs}
		switch _, known := schema.EnumNamesBuiltinOperator[code]; {
		case code == schema.BuiltinOperatorCUSTOM:
			info.Custom = oc.CustomCode
			if c, ok := custom(oc.CustomCode, sg, op); ok {
				info.MACs = c.MACs
			} else {
				info.Flag = fmt.Sprintf("custom op '%s': not analysed", oc.CustomCode)
			}
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

	r.liveness(lm)
}

// maxLiveEntries bounds the total length of the OpInfo.Live lists: beyond it (only hostile
// models get there) the lists are left out and a warning says so.
const maxLiveEntries = 1 << 22

// liveness fills the per-operator memory figures. A buffer is live at operator i when its
// scope range meets the operator's scopes (its own, and those of subgraphs it calls); since
// operator scopes increase, each buffer is live at an interval of operators, found by binary
// search, so the work is linear in buffers plus operators (plus the Live lists' length).
func (r *Report) liveness(lm *lifetimeMarker) {
	n := len(r.Ops)
	from, to := lm.opScope[0], lm.opEnd[0]
	type span struct {
		a, b int // operator interval, inclusive; empty when a > b
		end  int64
	}
	spans := make([]span, len(r.Planned))
	diff := make([]int64, n+1)
	liveEntries := 0
	for i, b := range r.Planned {
		a, _ := slices.BinarySearch(to, b.First) // first operator ending at or after First
		z, found := slices.BinarySearch(from, b.Last)
		if !found {
			z-- // last operator starting at or before Last
		}
		spans[i] = span{a, z, b.Offset + b.Size}
		if a > z {
			continue
		}
		diff[a] += b.Bytes
		diff[z+1] -= b.Bytes
		if b.Kind == TensorBuffer && b.Subgraph == 0 {
			t := &r.Tensors[b.Tensor]
			t.FirstOp, t.LastOp = a, z
			liveEntries += z - a + 1
		}
		if b.Kind == ScratchBuffer && b.Subgraph == 0 && b.Op >= 0 && b.Op < n {
			r.Ops[b.Op].ScratchBytes += b.Bytes
		}
	}
	opsOf := make([][2]int, len(spans))
	for i, sp := range spans {
		opsOf[i] = [2]int{sp.a, sp.b}
	}
	r.sharedBytes(opsOf, diff)
	if liveEntries <= maxLiveEntries {
		for _, b := range r.Planned {
			if b.Kind == TensorBuffer && b.Subgraph == 0 {
				t := r.Tensors[b.Tensor]
				for oi := t.FirstOp; oi >= 0 && oi <= t.LastOp; oi++ {
					r.Ops[oi].Live = append(r.Ops[oi].Live, b.Tensor)
				}
			}
		}
	} else {
		r.Warnings = append(r.Warnings, fmt.Sprintf("per-operator live tensor lists omitted: they would hold %d entries", liveEntries))
	}

	// ArenaTop: give each operator the highest end of the buffers live there by painting
	// operators with buffers in decreasing end order; painted operators are skipped through
	// next-unpainted links, so each operator is painted once.
	order := make([]int, len(spans))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(spans[y].end, spans[x].end) })
	next := make([]int, n+1)
	for i := range next {
		next[i] = i
	}
	find := func(i int) int {
		for next[i] != i {
			next[i] = next[next[i]]
			i = next[i]
		}
		return i
	}
	for _, k := range order {
		sp := spans[k]
		for i := find(sp.a); i <= sp.b; i = find(i) {
			r.Ops[i].ArenaTop = sp.end
			next[i] = i + 1
		}
	}

	var live int64
	for oi := range r.Ops {
		op := &r.Ops[oi]
		live += diff[oi]
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
