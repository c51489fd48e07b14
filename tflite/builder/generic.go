package builder

import (
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// TensorSpec describes a tensor of any type for AddTensor: an activation, or a constant when
// Data is set. Scale/ZeroPoint empty means not quantized.
type TensorSpec struct {
	Name               string
	Type               schema.TensorType
	Shape              []int32
	Scale              []float32
	ZeroPoint          []int64
	QuantizedDimension int32
	Data               []byte
	// Variable marks a state tensor (SVDF's activation state): TFLM zeroes it (int8: to its
	// zero point) once and keeps it across invocations.
	Variable bool
}

// NoTensor stands for an omitted optional operator input.
var NoTensor = Tensor{Index: -1}

// AddTensor adds a tensor exactly as described, for operators the layer helpers do not
// cover (operator test models, int16 activations, index and shape tensors).
func (b *Builder) AddTensor(s TensorSpec) Tensor {
	if b.err != nil {
		return Tensor{}
	}
	var q *schema.QuantizationParametersT
	if len(s.Scale) > 0 {
		zp := s.ZeroPoint
		if len(zp) == 0 {
			zp = make([]int64, len(s.Scale))
		}
		q = &schema.QuantizationParametersT{Scale: append([]float32(nil), s.Scale...), ZeroPoint: append([]int64(nil), zp...),
			QuantizedDimension: s.QuantizedDimension}
	}
	t := b.tensor(s.Name, s.Shape, s.Type, s.Data, q)
	b.sg.Tensors[t.Index].IsVariable = s.Variable
	if len(s.Scale) > 0 {
		b.spread[t.Index] = float64(s.Scale[0]) * 64
	}
	return t
}

// AddOperator adds a builtin operator on existing tensors; opts may be nil. Use NoTensor
// for an omitted optional input.
func (b *Builder) AddOperator(code schema.BuiltinOperator, inputs, outputs []Tensor, opts *schema.BuiltinOptionsT) {
	if b.err != nil {
		return
	}
	b.op(code, indices(inputs), indices(outputs), opts)
}

// MarkInput makes existing tensors model inputs, in order.
func (b *Builder) MarkInput(ts ...Tensor) {
	b.sg.Inputs = append(b.sg.Inputs, indices(ts)...)
}

// Options wraps an options table (for example &schema.AddOptionsT{...}) for AddOperator.
func Options(typ schema.BuiltinOptions, value any) *schema.BuiltinOptionsT {
	return &schema.BuiltinOptionsT{Type: typ, Value: value}
}

func indices(ts []Tensor) []int32 {
	out := make([]int32, len(ts))
	for i, t := range ts {
		out[i] = t.Index
	}
	return out
}
