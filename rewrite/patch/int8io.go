package patch

import (
	"fmt"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// IOChange is one model input or output whose type Int8IO changed to int8.
type IOChange struct {
	Output    bool // false: an input
	Position  int  // position in subgraph 0's inputs or outputs
	Name      string
	Scale     float32
	ZeroPoint int64
}

// String says how to feed or read the tensor now.
func (c IOChange) String() string {
	if c.Output {
		return fmt.Sprintf("output %d %q is int8 now: real value = %g * (q - %d)", c.Position, c.Name, c.Scale, c.ZeroPoint)
	}
	return fmt.Sprintf("input %d %q is int8 now: q = clamp(round(x / %g) + %d, -128, 127)", c.Position, c.Name, c.Scale, c.ZeroPoint)
}

// Int8IO returns a copy of m whose float32 inputs that only a QUANTIZE to int8 reads become
// that QUANTIZE's int8 output, and whose float32 outputs a DEQUANTIZE of int8 writes become
// that DEQUANTIZE's input; the QUANTIZE and DEQUANTIZE operators go. The application then
// feeds and reads int8 (most TFLM applications do), and the leading int8 copy of the input no
// longer coexists with the float input in the arena. Without such edges it returns m itself.
// m is not modified.
func Int8IO(m *schema.ModelT) (*schema.ModelT, []IOChange) {
	if m == nil || len(m.Subgraphs) == 0 || m.Subgraphs[0] == nil {
		return m, nil
	}
	sg := m.Subgraphs[0]
	code := func(op *schema.OperatorT) schema.BuiltinOperator {
		return tflite.BuiltinCode(m.OperatorCodes[op.OpcodeIndex])
	}
	readers := map[int32][]int{}
	writer := map[int32]int{}
	for oi, op := range sg.Operators {
		for _, t := range op.Inputs {
			readers[t] = append(readers[t], oi)
		}
		for _, t := range op.Outputs {
			writer[t] = oi
		}
	}
	isIO := map[int32]int{}
	for _, t := range sg.Inputs {
		isIO[t]++
	}
	for _, t := range sg.Outputs {
		isIO[t]++
	}
	int8Quant := func(t int32) (*schema.TensorT, bool) {
		x := sg.Tensors[t]
		q := x.Quantization
		return x, x.Type == schema.TensorTypeINT8 && q != nil && len(q.Scale) == 1 && len(q.ZeroPoint) == 1
	}
	dropped := map[int]bool{}
	remap := map[int32]int32{}
	var changes []IOChange
	ins := append([]int32(nil), sg.Inputs...)
	for i, t := range ins {
		r := readers[t]
		if sg.Tensors[t].Type != schema.TensorTypeFLOAT32 || len(r) != 1 || isIO[t] != 1 {
			continue
		}
		op := sg.Operators[r[0]]
		if code(op) != schema.BuiltinOperatorQUANTIZE || len(op.Inputs) != 1 || len(op.Outputs) != 1 || isIO[op.Outputs[0]] != 0 {
			continue
		}
		y, ok := int8Quant(op.Outputs[0])
		if !ok {
			continue
		}
		dropped[r[0]] = true
		ins[i], remap[t] = op.Outputs[0], op.Outputs[0]
		changes = append(changes, IOChange{Position: i, Name: y.Name, Scale: y.Quantization.Scale[0], ZeroPoint: y.Quantization.ZeroPoint[0]})
	}
	outs := append([]int32(nil), sg.Outputs...)
	for i, t := range outs {
		w, ok := writer[t]
		if !ok || sg.Tensors[t].Type != schema.TensorTypeFLOAT32 || isIO[t] != 1 || len(readers[t]) != 0 {
			continue
		}
		op := sg.Operators[w]
		if code(op) != schema.BuiltinOperatorDEQUANTIZE || len(op.Inputs) != 1 || len(op.Outputs) != 1 || isIO[op.Inputs[0]] != 0 {
			continue
		}
		x, ok := int8Quant(op.Inputs[0])
		if !ok {
			continue
		}
		dropped[w] = true
		outs[i], remap[t] = op.Inputs[0], op.Inputs[0]
		changes = append(changes, IOChange{Output: true, Position: i, Name: x.Name, Scale: x.Quantization.Scale[0], ZeroPoint: x.Quantization.ZeroPoint[0]})
	}
	if len(changes) == 0 {
		return m, nil
	}
	out := *m
	ns := *sg
	ns.Inputs, ns.Outputs, ns.Operators = ins, outs, nil
	for oi, op := range sg.Operators {
		if !dropped[oi] {
			c := *op
			ns.Operators = append(ns.Operators, &c)
		}
	}
	out.Subgraphs = append([]*schema.SubGraphT{&ns}, m.Subgraphs[1:]...)
	out.SignatureDefs = nil
	for _, sd := range m.SignatureDefs {
		c := *sd
		if sd.SubgraphIndex == 0 {
			c.Inputs, c.Outputs = remapTensorMaps(sd.Inputs, remap), remapTensorMaps(sd.Outputs, remap)
		}
		out.SignatureDefs = append(out.SignatureDefs, &c)
	}
	removeDeadTensors(&out)
	return &out, changes
}

// remapTensorMaps copies signature tensor maps with the tensors of remap replaced.
func remapTensorMaps(ms []*schema.TensorMapT, remap map[int32]int32) []*schema.TensorMapT {
	var r []*schema.TensorMapT
	for _, tm := range ms {
		if tm == nil {
			continue
		}
		c := *tm
		if n, ok := remap[int32(tm.TensorIndex)]; ok {
			c.TensorIndex = uint32(n)
		}
		r = append(r, &c)
	}
	return r
}
