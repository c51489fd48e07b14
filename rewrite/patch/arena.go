package patch

import (
	"fmt"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// arena predicts the TFLM arena head of m rewritten with sp, without building the model:
// the buffers analysis.Analyze planned for m, minus the stage's inner tensors, with
// lifetimes re-marked over the rewritten operator list, plus the custom op's scratch request
// (planned with the op's lifetime, in TFLM's request order), placed by analysis.PlanGreedy.
func (sp *StagePlan) arena(m *schema.ModelT, base *analysis.Report) (int64, error) {
	sg := m.Subgraphs[0]
	s := sp.Stage
	inStage, lastOp := sp.stageOps()
	removed := map[int]bool{}
	for f := 1; f < len(sp.FMs)-1; f++ {
		removed[sp.FMs[f].Tensor] = true
	}
	if s.Transpose >= 0 {
		removed[sp.FMs[0].Tensor] = true
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
	scopeOf := map[int]int{} // original operator -> scope (the custom op under lastOp)
	scope := 0
	for oi, op := range sg.Operators {
		if inStage[oi] && oi != lastOp {
			continue
		}
		scope++
		scopeOf[oi] = scope
		ins, outs := op.Inputs, op.Outputs
		if oi == lastOp {
			ins = append([]int32{int32(s.Input)}, toInt32(sp.Consts)...)
			outs = []int32{int32(sp.FMs[len(sp.FMs)-1].Tensor)}
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
	scratchAdded := sp.ScratchBytes == 0
	addScratch := func() {
		if !scratchAdded {
			sc := scopeOf[lastOp]
			bufs = append(bufs, analysis.Buffer{Size: analysis.AlignUp(sp.ScratchBytes, analysis.BufferAlignment), First: sc, Last: sc})
			scratchAdded = true
		}
	}
	for _, b := range base.Planned {
		switch {
		case b.Kind == analysis.TensorBuffer && b.Subgraph == 0:
			if removed[b.Tensor] {
				continue
			}
			nb := b.Buffer
			nb.First, nb.Last = lifetime(b.Tensor)
			bufs = append(bufs, nb)
		case b.Kind == analysis.ScratchBuffer && b.Subgraph == 0:
			if inStage[b.Op] {
				continue
			}
			if b.Op > lastOp {
				addScratch()
			}
			nb := b.Buffer
			nb.First, nb.Last = scopeOf[b.Op], scopeOf[b.Op]
			bufs = append(bufs, nb)
		case b.Kind == analysis.ScratchBuffer:
			addScratch()
			bufs = append(bufs, b.Buffer)
		default:
			bufs = append(bufs, b.Buffer)
		}
	}
	addScratch()
	p, err := analysis.PlanGreedy(bufs)
	if err != nil {
		return 0, fmt.Errorf("planning the rewritten arena: %w", err)
	}
	return p.Size, nil
}

// stageOps returns the original operators the custom op replaces (the layers and a folded
// TRANSPOSE) and the last of them, where the custom op takes their place.
func (sp *StagePlan) stageOps() (map[int]bool, int) {
	inStage := map[int]bool{}
	for _, l := range sp.Layers {
		inStage[l.Op] = true
	}
	if sp.Stage.Transpose >= 0 {
		inStage[sp.Stage.Transpose] = true
	}
	return inStage, sp.Layers[len(sp.Layers)-1].Op
}

func toInt32(v []int) []int32 {
	r := make([]int32, len(v))
	for i, x := range v {
		r[i] = int32(x)
	}
	return r
}

// tail predicts the persistent arena tail of m rewritten with sp for the build ao describes:
// subgraph 0's operators outside the stage, the custom op in the stage's place (its OpData;
// Rewrite aligns the plan so that the kernel reads it in place), the tensors the rewritten
// model keeps, and the scratch requests of the kept operators plus the op's own.
func (sp *StagePlan) tail(m *schema.ModelT, base *analysis.Report, ao analysis.Options) analysis.Tail {
	sg := m.Subgraphs[0]
	s := sp.Stage
	inStage, lastOp := sp.stageOps()
	graphs := analysis.ModelTailGraphs(m)
	custom := &schema.OperatorT{
		Inputs:  append([]int32{int32(s.Input)}, toInt32(sp.Consts)...),
		Outputs: []int32{int32(sp.FMs[len(sp.FMs)-1].Tensor)},
	}
	ns := *sg
	ns.Operators = nil
	var ops []analysis.TailOp
	for oi, op := range graphs[0].Ops {
		switch {
		case oi == lastOp:
			ops = append(ops, analysis.TailOp{Code: schema.BuiltinOperatorCUSTOM, Custom: CustomCode, Op: custom,
				Info: &analysis.CustomOp{Persistent: []int64{KernelOpDataBytes(ao.Target)}}})
			ns.Operators = append(ns.Operators, custom)
		case !inStage[oi]:
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
	requests := 0
	if sp.ScratchBytes > 0 {
		requests++
	}
	for _, b := range base.Planned {
		if b.Kind == analysis.ScratchBuffer && (b.Subgraph != 0 || !inStage[b.Op]) {
			requests++
		}
	}
	return ao.TailOf(graphs, requests)
}
