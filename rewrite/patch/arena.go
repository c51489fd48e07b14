package patch

import (
	"fmt"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// arena predicts the TFLM arena head of m rewritten with sp and its later stages, without
// building the model: the buffers analysis.Analyze planned for m, minus the stages' inner
// tensors, with lifetimes re-marked over the rewritten operator list, plus every custom op's
// scratch request (planned with its op's lifetime, in TFLM's request order: Prepare runs in
// operator order), placed by analysis.PlanGreedy.
func (sp *StagePlan) arena(m *schema.ModelT, base *analysis.Report) (int64, error) {
	sg := m.Subgraphs[0]
	plans := sp.all()
	inStage, lastOf := stageOps(plans)
	removed := map[int]bool{}
	for _, p := range plans {
		for f := 1; f < len(p.FMs)-1; f++ {
			removed[p.FMs[f].Tensor] = true
		}
		if p.Stage.Transpose >= 0 {
			removed[p.FMs[0].Tensor] = true
		}
	}

	// Lifetimes over the rewritten operator list (TFLM allocation scopes: 0 = subgraph inputs,
	// operator k of the new list = k+1).
	first, last := map[int]int{}, map[int]int{}
	created := func(t int32, scope int) {
		if _, ok := first[int(t)]; !ok {
			first[int(t)] = scope
		}
	}
	used := func(t int32, scope int) { last[int(t)] = scope }
	for _, t := range sg.Inputs {
		created(t, 0)
		used(t, 0)
	}
	scopeOf := map[int]int{} // original operator -> scope (a custom op under its stage's last op)
	scope := 0
	for oi, op := range sg.Operators {
		p := lastOf[oi]
		if inStage[oi] && p == nil {
			continue
		}
		scope++
		scopeOf[oi] = scope
		ins, outs := op.Inputs, op.Outputs
		if p != nil {
			ins, outs = p.customIO()
		}
		for _, t := range outs {
			created(t, scope)
		}
		for _, t := range ins {
			if t >= 0 {
				used(t, scope)
			}
		}
		for _, t := range outs {
			used(t, scope)
		}
	}
	for _, t := range sg.Outputs {
		created(t, scope)
		used(t, scope)
	}
	lifetime := func(t int) (int, int) {
		f, ok := first[t]
		if !ok {
			f = -1
		}
		l, ok := last[t]
		if !ok {
			l = -1
		}
		return f, l
	}

	var bufs []analysis.Buffer
	var tensorOf []int // subgraph-0 tensor of each buffer, -1 for others
	next := 0          // plans[:next] have requested their scratch
	scratchBefore := func(op int) {
		for ; next < len(plans) && plans[next].lastOp() < op; next++ {
			if p := plans[next]; p.ScratchBytes > 0 {
				sc := scopeOf[p.lastOp()]
				bufs = append(bufs, analysis.Buffer{Size: analysis.AlignUp(p.ScratchBytes, analysis.BufferAlignment), First: sc, Last: sc})
				tensorOf = append(tensorOf, -1)
			}
		}
	}
	const afterAll = int(^uint(0) >> 1)
	for _, b := range base.Planned {
		switch {
		case b.Kind == analysis.TensorBuffer && b.Subgraph == 0:
			if removed[b.Tensor] {
				continue
			}
			nb := b.Buffer
			nb.First, nb.Last = lifetime(b.Tensor)
			bufs = append(bufs, nb)
			tensorOf = append(tensorOf, b.Tensor)
		case b.Kind == analysis.ScratchBuffer && b.Subgraph == 0:
			if inStage[b.Op] {
				continue
			}
			scratchBefore(b.Op)
			nb := b.Buffer
			nb.First, nb.Last = scopeOf[b.Op], scopeOf[b.Op]
			bufs = append(bufs, nb)
			tensorOf = append(tensorOf, -1)
		case b.Kind == analysis.ScratchBuffer:
			scratchBefore(afterAll)
			bufs = append(bufs, b.Buffer)
			tensorOf = append(tensorOf, -1)
		default:
			bufs = append(bufs, b.Buffer)
			tensorOf = append(tensorOf, -1)
		}
	}
	scratchBefore(afterAll)
	var stages []stageAlias
	for _, p := range plans {
		stages = append(stages, stageAlias{in: p.Stage.Input, out: p.FMs[len(p.FMs)-1].Tensor, geom: p.geometry()})
	}
	size, _, err := planArena(bufs, tensorOf, stages, subgraphOutput(sg), !sp.NoOfflinePlan)
	if err != nil {
		return 0, fmt.Errorf("planning the rewritten arena: %w", err)
	}
	return size, nil
}

// all returns sp and its later stages, in operator order.
func (sp *StagePlan) all() []*StagePlan { return append([]*StagePlan{sp}, sp.Later...) }

// lastOp is the original operator the custom op takes the place of: the stage's last layer.
func (sp *StagePlan) lastOp() int { return sp.Layers[len(sp.Layers)-1].Op }

// firstOp is the stage's first original operator (the folded TRANSPOSE when there is one).
func (sp *StagePlan) firstOp() int {
	if sp.Stage.Transpose >= 0 {
		return min(sp.Stage.Transpose, sp.Layers[0].Op) // a folded QUANTIZE may come first
	}
	return sp.Layers[0].Op
}

// customIO returns the custom op's inputs (the stage input, then the constants) and outputs.
func (sp *StagePlan) customIO() (ins, outs []int32) {
	return append([]int32{int32(sp.Stage.Input)}, toInt32(sp.Consts)...), []int32{int32(sp.FMs[len(sp.FMs)-1].Tensor)}
}

// stageOps returns the original operators the custom ops of plans replace (the layers and a
// folded TRANSPOSE) and, by the last of each stage (where its custom op takes their place),
// the stage.
func stageOps(plans []*StagePlan) (map[int]bool, map[int]*StagePlan) {
	inStage, lastOf := map[int]bool{}, map[int]*StagePlan{}
	for _, sp := range plans {
		for _, l := range sp.Layers {
			inStage[l.Op] = true
		}
		if sp.Stage.Transpose >= 0 {
			inStage[sp.Stage.Transpose] = true
		}
		lastOf[sp.lastOp()] = sp
	}
	return inStage, lastOf
}

func toInt32(v []int) []int32 {
	r := make([]int32, len(v))
	for i, x := range v {
		r[i] = int32(x)
	}
	return r
}

// tail predicts the persistent arena tail of m rewritten with sp and its later stages for
// the build ao describes: subgraph 0's operators outside the stages, a custom op in each
// stage's place (its OpData; Rewrite aligns the plan so that the kernel reads it in place),
// the tensors the rewritten model keeps, and the scratch requests of the kept operators plus
// the ops' own.
func (sp *StagePlan) tail(m *schema.ModelT, base *analysis.Report, ao analysis.Options) analysis.Tail {
	sg := m.Subgraphs[0]
	plans := sp.all()
	inStage, lastOf := stageOps(plans)
	graphs := analysis.ModelTailGraphs(m)
	ns := *sg
	ns.Operators = nil
	var ops []analysis.TailOp
	requests := 0
	for oi, op := range graphs[0].Ops {
		if p := lastOf[oi]; p != nil {
			ins, outs := p.customIO()
			custom := &schema.OperatorT{Inputs: ins, Outputs: outs}
			ops = append(ops, analysis.TailOp{Code: schema.BuiltinOperatorCUSTOM, Custom: CustomCode, Op: custom,
				Info: &analysis.CustomOp{Persistent: []int64{KernelOpDataBytes(ao.Target)}}})
			ns.Operators = append(ns.Operators, custom)
			if p.ScratchBytes > 0 {
				requests++
			}
		} else if !inStage[oi] {
			ops = append(ops, op)
			ns.Operators = append(ns.Operators, op.Op)
		}
	}
	kept := 0
	for _, u := range usedTensors(m, &ns) {
		if u {
			kept++
		}
	}
	graphs[0] = analysis.TailGraph{Tensors: kept, SG: sg, Ops: ops}
	for _, b := range base.Planned {
		if b.Kind == analysis.ScratchBuffer && (b.Subgraph != 0 || !inStage[b.Op]) {
			requests++
		}
	}
	return ao.TailOf(graphs, requests)
}
