package analysis

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// unused marks a lifetime bound that was never set (TFLM's kUninitializedLifetime).
const unused = -1

// maxVisits bounds the operator visits of lifetime marking: control-flow operators re-enter
// subgraphs, and a hostile model could nest calls so that the walk grows exponentially.
const maxVisits = 1 << 22

// lifetimeMarker reproduces TFLM's AllocationInfoBuilder: one entry per tensor of every
// subgraph (subgraph by subgraph), lifetimes counted in "allocation scopes" that start at 0
// for the inputs of subgraph 0 and grow by one per operator visited.
type lifetimeMarker struct {
	m       *schema.ModelT
	base    []int // first entry of each subgraph's tensors
	first   []int
	last    []int
	scope   int
	visits  int
	active  []bool  // subgraphs on the current call stack
	opScope [][]int // scope of every operator, per subgraph (last visit), -1 if never visited
	opEnd   [][]int // scope after the subgraphs an operator calls (= opScope for most)
	scratch []scratchRequest
	// opRequests lists the scratch requests of each (subgraph, operator).
	opRequests map[[2]int][]int
	opFirst    []int // per scratch request
	opLast     []int
}

func newLifetimeMarker(m *schema.ModelT, scratch []scratchRequest) *lifetimeMarker {
	lm := &lifetimeMarker{m: m, scratch: scratch}
	n := 0
	for _, sg := range m.Subgraphs {
		lm.base = append(lm.base, n)
		n += len(sg.Tensors)
		ops := make([]int, len(sg.Operators))
		for i := range ops {
			ops[i] = unused
		}
		lm.opScope = append(lm.opScope, ops)
		lm.opEnd = append(lm.opEnd, slices.Clone(ops))
	}
	lm.first = filled(n, unused)
	lm.last = filled(n, unused)
	lm.opFirst = filled(len(scratch), unused)
	lm.opLast = filled(len(scratch), unused)
	lm.active = make([]bool, len(m.Subgraphs))
	lm.opRequests = map[[2]int][]int{}
	for i, req := range scratch {
		k := [2]int{req.subgraph, req.op}
		lm.opRequests[k] = append(lm.opRequests[k], i)
	}
	return lm
}

func filled(n, v int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func (lm *lifetimeMarker) created(e int) {
	if lm.first[e] == unused {
		lm.first[e] = lm.scope
	}
}

func (lm *lifetimeMarker) used(e int) { lm.last[e] = lm.scope }

// mark walks subgraph si as TFLM's MarkAllocationLifetimes does.
func (lm *lifetimeMarker) mark(si int) error {
	if si < 0 || si >= len(lm.m.Subgraphs) {
		return fmt.Errorf("control-flow operator calls subgraph %d, model has %d", si, len(lm.m.Subgraphs))
	}
	if lm.active[si] {
		return fmt.Errorf("subgraph %d calls itself through control-flow operators (TFLM cannot plan recursion)", si)
	}
	lm.active[si] = true
	defer func() { lm.active[si] = false }()
	sg := lm.m.Subgraphs[si]
	base := lm.base[si]
	for _, t := range sg.Inputs {
		lm.created(base + int(t))
		lm.used(base + int(t))
	}
	for oi, op := range sg.Operators {
		lm.visits++
		if lm.visits > maxVisits {
			return fmt.Errorf("control-flow operators visit more than %d operators", maxVisits)
		}
		lm.scope++
		lm.opScope[si][oi] = lm.scope
		for _, t := range op.Outputs {
			lm.created(base + int(t))
		}
		start := lm.scope
		for _, callee := range calledSubgraphs(lm.m, op) {
			lm.scope++
			if err := lm.mark(callee); err != nil {
				return err
			}
		}
		lm.opEnd[si][oi] = lm.scope
		for _, t := range op.Inputs {
			if t >= 0 {
				lm.used(base + int(t))
			}
		}
		for _, t := range op.Outputs {
			lm.used(base + int(t))
		}
		for _, r := range lm.opRequests[[2]int{si, oi}] {
			if lm.opFirst[r] == unused {
				lm.opFirst[r] = start
			}
			lm.opLast[r] = lm.scope
		}
	}
	for _, t := range sg.Outputs {
		lm.created(base + int(t))
		lm.used(base + int(t))
	}
	return nil
}

// calledSubgraphs lists the subgraphs a control-flow operator makes TFLM's planner enter, in
// TFLM's order. Only IF, WHILE and CALL_ONCE do.
func calledSubgraphs(m *schema.ModelT, op *schema.OperatorT) []int {
	if int(op.OpcodeIndex) >= len(m.OperatorCodes) || op.BuiltinOptions == nil {
		return nil
	}
	switch o := op.BuiltinOptions.Value.(type) {
	case *schema.IfOptionsT:
		if tflite.BuiltinCode(m.OperatorCodes[op.OpcodeIndex]) == schema.BuiltinOperatorIF && o != nil {
			return []int{int(o.ThenSubgraphIndex), int(o.ElseSubgraphIndex)}
		}
	case *schema.WhileOptionsT:
		if tflite.BuiltinCode(m.OperatorCodes[op.OpcodeIndex]) == schema.BuiltinOperatorWHILE && o != nil {
			return []int{int(o.CondSubgraphIndex), int(o.BodySubgraphIndex)}
		}
	case *schema.CallOnceOptionsT:
		if tflite.BuiltinCode(m.OperatorCodes[op.OpcodeIndex]) == schema.BuiltinOperatorCALL_ONCE && o != nil {
			return []int{int(o.InitSubgraphIndex)}
		}
	}
	return nil
}

// offlinePlan returns the per-tensor offsets of the model's OfflineMemoryAllocation metadata
// (-1 = plan online), or nil when there is none; with several such entries the last one
// counts, as in TFLM. A plan TFLM would refuse (wrong tensor count) or could not read
// (truncated) is ignored with a warning.
func offlinePlan(m *schema.ModelT, tensorCount int) ([]int64, string) {
	var plan []int64
	for _, md := range m.Metadata {
		if md == nil || md.Name != OfflinePlanName {
			continue
		}
		var data []byte
		if int(md.Buffer) < len(m.Buffers) && m.Buffers[md.Buffer] != nil {
			data = m.Buffers[md.Buffer].Data
		}
		if len(data) < 12 {
			return nil, "offline memory plan is shorter than its header; planned online instead"
		}
		n := int64(binary.LittleEndian.Uint32(data[8:12]))
		if n != int64(tensorCount) {
			return nil, fmt.Sprintf("offline memory plan lists %d tensors, model has %d (TFLM refuses this); planned online instead", n, tensorCount)
		}
		if int64(len(data)) < 12+4*n {
			return nil, "offline memory plan is truncated; planned online instead"
		}
		plan = make([]int64, n)
		for i := range plan {
			plan[i] = int64(int32(binary.LittleEndian.Uint32(data[12+4*i:])))
		}
	}
	return plan, ""
}
