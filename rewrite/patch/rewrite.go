package patch

import (
	"fmt"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// MetadataVersionKey names the metadata entry holding the tool version.
const MetadataVersionKey = "quantmcu_version"

// offlinePlanKey is TFLM's offline memory plan metadata: it indexes tensors, so it cannot
// survive a rewrite that removes tensors (attachOfflinePlan writes a new one).
const offlinePlanKey = analysis.OfflinePlanName

// Rewrite returns a copy of m in which the stage of plan, and each of its later stages, is
// replaced by one CUSTOM QMCU_PATCH_STAGE operator. m is not modified; the copy shares
// weight bytes with it. Tensors, buffers and operator codes nothing uses any more are
// removed (indices renumbered in order), tensor names are kept, and metadata
// "quantmcu_version" is stamped.
func Rewrite(m *schema.ModelT, plan *StagePlan) (*schema.ModelT, error) {
	if plan == nil || plan.Stage == nil || len(plan.Layers) == 0 {
		return nil, fmt.Errorf("patch: rewrite: empty plan")
	}
	if m == nil || len(m.Subgraphs) == 0 || m.Subgraphs[0] == nil {
		return nil, fmt.Errorf("patch: rewrite: model has no subgraph")
	}
	sg := m.Subgraphs[0]
	plans := plan.all()
	end := -1
	for _, p := range plans {
		if p == nil || p.Stage == nil || len(p.Layers) == 0 || p.firstOp() <= end {
			return nil, fmt.Errorf("patch: rewrite: stages are empty, overlap or are out of order")
		}
		end = p.lastOp()
		for _, l := range p.Layers {
			if l.Op >= len(sg.Operators) || p.FMs[l.Out].Tensor != int(sg.Operators[l.Op].Outputs[0]) && !p.Stage.transposedQuantize(l) {
				return nil, fmt.Errorf("patch: rewrite: plan does not match the model (operator %d)", l.Op)
			}
		}
	}
	type emitted struct {
		opts  []byte
		extra [][]byte
	}
	enc := map[*StagePlan]emitted{}
	for _, orig := range plans {
		p := orig
		if p != plan && p.Version != plan.Version {
			c := *p // later stages carry the first stage's version
			c.Version = plan.Version
			p = &c
		}
		words, extra, err := p.encode()
		if err != nil {
			return nil, fmt.Errorf("patch: rewrite: operator %d: %w", p.lastOp(), err)
		}
		opts, err := p.customOptions(wordsToBytes(words))
		if err != nil {
			return nil, fmt.Errorf("patch: rewrite: %w", err)
		}
		enc[orig] = emitted{opts, extra}
	}

	out := &schema.ModelT{
		Version: m.Version, Description: m.Description,
		ExternalBufferGroups: m.ExternalBufferGroups, ExternalBuffers: m.ExternalBuffers,
	}
	// Operator codes: the originals, plus ours.
	for _, oc := range m.OperatorCodes {
		c := *oc
		out.OperatorCodes = append(out.OperatorCodes, &c)
	}
	customCode := uint32(len(out.OperatorCodes))
	out.OperatorCodes = append(out.OperatorCodes, &schema.OperatorCodeT{
		BuiltinCode: schema.BuiltinOperatorCUSTOM, DeprecatedBuiltinCode: int8(schema.BuiltinOperatorCUSTOM),
		CustomCode: CustomCode, Version: 1,
	})

	// Subgraph 0's operators: each stage collapses into its custom op at its last layer.
	inStage, lastOf := stageOps(plans)
	var firstCustom *schema.OperatorT
	ns := *sg
	ns.Operators = nil
	for oi, op := range sg.Operators {
		switch p := lastOf[oi]; {
		case p != nil:
			ins, outs := p.customIO()
			c := &schema.OperatorT{OpcodeIndex: customCode, Inputs: ins, Outputs: outs,
				CustomOptions: enc[p].opts, CustomOptionsFormat: schema.CustomOptionsFormatFLEXBUFFERS}
			if p == plan {
				firstCustom = c
			}
			ns.Operators = append(ns.Operators, c)
		case inStage[oi]:
		default:
			c := *op
			ns.Operators = append(ns.Operators, &c)
		}
	}
	out.Subgraphs = append(out.Subgraphs, &ns)
	for _, g := range m.Subgraphs[1:] {
		c := *g
		out.Subgraphs = append(out.Subgraphs, &c)
	}
	for _, sd := range m.SignatureDefs {
		c := *sd
		out.SignatureDefs = append(out.SignatureDefs, &c)
	}

	removeDeadTensors(out)
	metaBuf := stampMetadata(m, out, plan.version())
	out.Buffers = m.Buffers
	removeDeadBuffers(out, metaBuf)
	addWeightCopies(out, firstCustom, plan, enc[plan].extra)
	removeDeadOpcodes(out)
	if err := attachOfflinePlan(out, plan); err != nil {
		return nil, fmt.Errorf("patch: rewrite: %w", err)
	}
	if err := tflite.Validate(out); err != nil {
		return nil, fmt.Errorf("patch: rewritten model is invalid: %w", err)
	}
	return out, nil
}

// addWeightCopies appends the low-branch weight copies of plan (the first stage, the only one
// with a low branch) as constant tensors of subgraph 0 (named after the weights they copy,
// "/qmcu_low") and as the last inputs of its custom op, in plan order.
func addWeightCopies(m *schema.ModelT, op *schema.OperatorT, plan *StagePlan, extra [][]byte) {
	if len(extra) == 0 {
		return
	}
	sg := m.Subgraphs[0]
	// Which layer each copy belongs to: the low records with a copy, in layer order.
	var owners []Layer
	for li := plan.Low.Checked; li < len(plan.Layers); li++ {
		l := plan.Layers[li]
		if l.Kind == KindConv && plan.Low.FMs[l.In].ChannelScales != nil {
			owners = append(owners, l)
		}
	}
	ts := append([]*schema.TensorT{}, sg.Tensors...)
	for i, data := range extra {
		name := "qmcu_low_weights"
		var shape []int32
		if i < len(owners) {
			name, shape = owners[i].WeightName+"/qmcu_low", append([]int32(nil), owners[i].WeightShape...)
		}
		m.Buffers = append(m.Buffers, &schema.BufferT{Data: data})
		ts = append(ts, &schema.TensorT{Name: name, Shape: shape, Type: schema.TensorTypeINT8, Buffer: uint32(len(m.Buffers) - 1)})
		op.Inputs = append(op.Inputs, int32(len(ts)-1))
	}
	sg.Tensors = ts
}

// usedTensors marks the tensors of sg (subgraph 0 of m) that an operator, sg's inputs or
// outputs, or a signature references.
func usedTensors(m *schema.ModelT, sg *schema.SubGraphT) []bool {
	used := make([]bool, len(sg.Tensors))
	mark := func(ts []int32) {
		for _, t := range ts {
			if t >= 0 {
				used[t] = true
			}
		}
	}
	mark(sg.Inputs)
	mark(sg.Outputs)
	for _, op := range sg.Operators {
		mark(op.Inputs)
		mark(op.Outputs)
		mark(op.Intermediates)
	}
	for _, sd := range m.SignatureDefs {
		if sd.SubgraphIndex == 0 {
			for _, tm := range append(append([]*schema.TensorMapT{}, sd.Inputs...), sd.Outputs...) {
				if tm != nil && int(tm.TensorIndex) < len(used) {
					used[tm.TensorIndex] = true
				}
			}
		}
	}
	return used
}

// removeDeadTensors drops the tensors of subgraph 0 that no operator, subgraph input/output
// or signature references, renumbering the rest in order.
func removeDeadTensors(m *schema.ModelT) {
	sg := m.Subgraphs[0]
	used := usedTensors(m, sg)
	newIndex := make([]int32, len(sg.Tensors))
	var tensors []*schema.TensorT
	for i, t := range sg.Tensors {
		newIndex[i] = -1
		if used[i] {
			newIndex[i] = int32(len(tensors))
			tensors = append(tensors, t)
		}
	}
	remap := func(ts []int32) []int32 {
		if ts == nil {
			return nil
		}
		r := make([]int32, len(ts))
		for i, t := range ts {
			r[i] = t
			if t >= 0 {
				r[i] = newIndex[t]
			}
		}
		return r
	}
	sg.Tensors = tensors
	sg.Inputs, sg.Outputs = remap(sg.Inputs), remap(sg.Outputs)
	for _, op := range sg.Operators {
		op.Inputs, op.Outputs, op.Intermediates = remap(op.Inputs), remap(op.Outputs), remap(op.Intermediates)
	}
	for _, sd := range m.SignatureDefs {
		if sd.SubgraphIndex != 0 {
			continue
		}
		remapMaps := func(ms []*schema.TensorMapT) []*schema.TensorMapT {
			var r []*schema.TensorMapT
			for _, tm := range ms {
				if tm == nil {
					continue
				}
				c := *tm
				c.TensorIndex = uint32(newIndex[tm.TensorIndex])
				r = append(r, &c)
			}
			return r
		}
		sd.Inputs, sd.Outputs = remapMaps(sd.Inputs), remapMaps(sd.Outputs)
	}
}

// stampMetadata copies m's metadata to out, minus offline memory plans, with the version
// entry set. It returns the data of the version buffer, to be appended as the last buffer
// (the version entry's buffer index is fixed up by removeDeadBuffers).
func stampMetadata(m, out *schema.ModelT, version string) []byte {
	for _, md := range m.Metadata {
		if md == nil || md.Name == offlinePlanKey || md.Name == MetadataVersionKey {
			continue
		}
		c := *md
		out.Metadata = append(out.Metadata, &c)
	}
	out.Metadata = append(out.Metadata, &schema.MetadataT{Name: MetadataVersionKey, Buffer: uint32(len(m.Buffers))})
	out.MetadataBuffer = append([]int32(nil), m.MetadataBuffer...)
	return []byte(version)
}

// removeDeadBuffers appends the version buffer, then drops buffers no tensor or metadata
// references (buffer 0, the empty sentinel, always stays) and renumbers the rest in order.
func removeDeadBuffers(m *schema.ModelT, version []byte) {
	bufs := append(append([]*schema.BufferT{}, m.Buffers...), &schema.BufferT{Data: version})
	used := make([]bool, len(bufs))
	used[0] = true
	for _, sg := range m.Subgraphs {
		for _, t := range sg.Tensors {
			if int(t.Buffer) < len(used) {
				used[t.Buffer] = true
			}
		}
	}
	for _, md := range m.Metadata {
		if int(md.Buffer) < len(used) {
			used[md.Buffer] = true
		}
	}
	for _, b := range m.MetadataBuffer {
		if b >= 0 && int(b) < len(used) {
			used[b] = true
		}
	}
	newIndex := make([]uint32, len(bufs))
	var kept []*schema.BufferT
	for i, b := range bufs {
		if used[i] {
			newIndex[i] = uint32(len(kept))
			kept = append(kept, b)
		}
	}
	m.Buffers = kept
	for si, sg := range m.Subgraphs {
		ts := make([]*schema.TensorT, len(sg.Tensors))
		for i, t := range sg.Tensors {
			c := *t
			c.Buffer = newIndex[t.Buffer]
			ts[i] = &c
		}
		m.Subgraphs[si].Tensors = ts
	}
	for _, md := range m.Metadata {
		md.Buffer = newIndex[md.Buffer]
	}
	var mb []int32
	for _, b := range m.MetadataBuffer {
		if b >= 0 && int(b) < len(used) && used[b] {
			mb = append(mb, int32(newIndex[b]))
		}
	}
	m.MetadataBuffer = mb
}

// removeDeadOpcodes drops operator codes no operator uses and renumbers the rest in order.
func removeDeadOpcodes(m *schema.ModelT) {
	used := make([]bool, len(m.OperatorCodes))
	for _, sg := range m.Subgraphs {
		for _, op := range sg.Operators {
			used[op.OpcodeIndex] = true
		}
	}
	newIndex := make([]uint32, len(m.OperatorCodes))
	var kept []*schema.OperatorCodeT
	for i, oc := range m.OperatorCodes {
		if used[i] {
			newIndex[i] = uint32(len(kept))
			kept = append(kept, oc)
		}
	}
	m.OperatorCodes = kept
	for si, sg := range m.Subgraphs {
		ops := make([]*schema.OperatorT, len(sg.Operators))
		for i, op := range sg.Operators {
			c := *op
			c.OpcodeIndex = newIndex[op.OpcodeIndex]
			ops[i] = &c
		}
		m.Subgraphs[si].Operators = ops
	}
}
