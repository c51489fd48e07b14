// Package builder constructs fully-int8 TFLite models in memory, with the tensor layouts,
// quantization conventions and operator options the TFLite converter writes: NHWC
// activations, per-channel int8 weights ([O,H,W,I] for CONV_2D, [1,H,W,C] for
// DEPTHWISE_CONV_2D), int32 biases with scale input_scale*weight_scale, and int8 softmax
// outputs with scale 1/256 and zero point -128.
//
// Weights are drawn from a seeded generator, so a given sequence of calls always produces
// the same model bytes. Quantization ranges are chosen from a running estimate of each
// activation's spread, so activations neither saturate nor collapse.
package builder

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Tensor refers to a tensor of the model being built.
type Tensor struct {
	Index int32
	Shape []int32
}

// Quant is an int8 activation quantization: real = Scale * (q - ZeroPoint).
type Quant struct {
	Scale     float32
	ZeroPoint int64
}

// Builder accumulates one subgraph. Methods record the first error and become no-ops after
// it; Model reports it.
type Builder struct {
	model   *schema.ModelT
	sg      *schema.SubGraphT
	opcodes map[schema.BuiltinOperator]uint32
	rng     *rand.Rand
	spread  map[int32]float64 // estimated standard deviation of each activation (real units)
	err     error
}

// New starts a model whose generated weights come from seed.
func New(seed uint64) *Builder {
	return &Builder{
		model: &schema.ModelT{
			Version:     tflite.SchemaVersion,
			Description: "built by quantmcu/tflite/builder",
			Buffers:     []*schema.BufferT{{}}, // buffer 0: the empty sentinel every converter writes
		},
		sg:      &schema.SubGraphT{Name: "main"},
		opcodes: map[schema.BuiltinOperator]uint32{},
		rng:     rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		spread:  map[int32]float64{},
	}
}

func (b *Builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
}

func (b *Builder) tensor(name string, shape []int32, typ schema.TensorType, data []byte, q *schema.QuantizationParametersT) Tensor {
	buf := uint32(0)
	if data != nil {
		b.model.Buffers = append(b.model.Buffers, &schema.BufferT{Data: data})
		buf = uint32(len(b.model.Buffers) - 1)
	}
	b.sg.Tensors = append(b.sg.Tensors, &schema.TensorT{
		Name: name, Shape: append([]int32(nil), shape...), Type: typ, Buffer: buf, Quantization: q,
	})
	return Tensor{Index: int32(len(b.sg.Tensors) - 1), Shape: append([]int32(nil), shape...)}
}

func (b *Builder) activation(name string, shape []int32, q Quant) Tensor {
	return b.tensor(name, shape, schema.TensorTypeINT8, nil, &schema.QuantizationParametersT{
		Scale: []float32{q.Scale}, ZeroPoint: []int64{q.ZeroPoint},
	})
}

func (b *Builder) quantOf(t Tensor) Quant {
	q := b.sg.Tensors[t.Index].Quantization
	return Quant{Scale: q.Scale[0], ZeroPoint: q.ZeroPoint[0]}
}

func (b *Builder) op(code schema.BuiltinOperator, inputs, outputs []int32, opts *schema.BuiltinOptionsT) {
	idx, ok := b.opcodes[code]
	if !ok {
		idx = uint32(len(b.model.OperatorCodes))
		b.opcodes[code] = idx
		dep := int8(127) // codes above 127 live in builtin_code only (schema 3a)
		if code < 127 {
			dep = int8(code)
		}
		b.model.OperatorCodes = append(b.model.OperatorCodes, &schema.OperatorCodeT{
			BuiltinCode: code, DeprecatedBuiltinCode: dep, Version: 1,
		})
	}
	b.sg.Operators = append(b.sg.Operators, &schema.OperatorT{
		OpcodeIndex: idx, Inputs: inputs, Outputs: outputs, BuiltinOptions: opts,
	})
}

// Input adds a model input of the given NHWC (or any) shape and quantization.
func (b *Builder) Input(name string, shape []int32, q Quant) Tensor {
	t := b.activation(name, shape, q)
	b.sg.Inputs = append(b.sg.Inputs, t.Index)
	// An input covering its whole int8 range has a spread of about a quarter of it.
	b.spread[t.Index] = float64(q.Scale) * 64
	return t
}

// Output marks tensors as model outputs.
func (b *Builder) Output(ts ...Tensor) {
	for _, t := range ts {
		b.sg.Outputs = append(b.sg.Outputs, t.Index)
	}
}

// Model returns the finished model, validated.
func (b *Builder) Model() (*schema.ModelT, error) {
	if b.err != nil {
		return nil, b.err
	}
	b.model.Subgraphs = []*schema.SubGraphT{b.sg}
	if err := tflite.Validate(b.model); err != nil {
		return nil, fmt.Errorf("builder produced an invalid model: %w", err)
	}
	return b.model, nil
}

// outputQuant picks an int8 range for an activation of estimated spread sigma after act.
func outputQuant(sigma float64, act schema.ActivationFunctionType) Quant {
	switch act {
	case schema.ActivationFunctionTypeRELU6:
		hi := math.Min(6, 4*sigma)
		return Quant{Scale: float32(hi / 255), ZeroPoint: -128}
	case schema.ActivationFunctionTypeRELU:
		return Quant{Scale: float32(4 * sigma / 255), ZeroPoint: -128}
	}
	return Quant{Scale: float32(8 * sigma / 255), ZeroPoint: 0}
}

// spreadAfter is the spread of a zero-mean activation of spread sigma after act.
func spreadAfter(sigma float64, act schema.ActivationFunctionType) float64 {
	switch act {
	case schema.ActivationFunctionTypeRELU, schema.ActivationFunctionTypeRELU6:
		return sigma * 0.58 // sqrt(1/2 - 1/(2*pi)) for a rectified normal
	}
	return sigma
}

func int32Bytes(v []int32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		u := uint32(x)
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return out
}

func int8Bytes(v []int8) []byte {
	out := make([]byte, len(v))
	for i, x := range v {
		out[i] = byte(x)
	}
	return out
}

// constInt32 adds a constant int32 tensor (paddings, axes, shapes).
func (b *Builder) constInt32(name string, shape []int32, v []int32) Tensor {
	return b.tensor(name, shape, schema.TensorTypeINT32, int32Bytes(v), nil)
}

// quantizeWeights draws He-initialised weights (standard deviation sqrt(2/fanIn)) for
// channels groups of perChannel values and quantizes them symmetrically per group. It
// returns the int8 values in group-major order and the per-group scales.
func (b *Builder) quantizeWeights(channels, perChannel, fanIn int) ([]int8, []float32) {
	std := math.Sqrt(2 / float64(fanIn))
	q := make([]int8, channels*perChannel)
	scales := make([]float32, channels)
	w := make([]float64, perChannel)
	for c := range channels {
		peak := 0.0
		for i := range w {
			w[i] = b.rng.NormFloat64() * std
			peak = math.Max(peak, math.Abs(w[i]))
		}
		if peak == 0 {
			peak = 1
		}
		scales[c] = float32(peak / 127)
		for i, x := range w {
			q[c*perChannel+i] = int8(math.Round(x / float64(scales[c])))
		}
	}
	return q, scales
}

// bias draws small biases and quantizes them with scale inScale*wScale[c], zero point 0.
func (b *Builder) bias(name string, inScale float32, wScales []float32, sigma float64) Tensor {
	v := make([]int32, len(wScales))
	scales := make([]float32, len(wScales))
	for c, ws := range wScales {
		scales[c] = inScale * ws
		v[c] = int32(math.Round(b.rng.NormFloat64() * 0.1 * sigma / float64(scales[c])))
	}
	return b.tensor(name, []int32{int32(len(v))}, schema.TensorTypeINT32, int32Bytes(v),
		&schema.QuantizationParametersT{Scale: scales, ZeroPoint: make([]int64, len(v))})
}
