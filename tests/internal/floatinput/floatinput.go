// Package floatinput makes float-input variants of fully-int8 models, as the TFLite converter
// writes models with a float32 input (inference_input_type float): the model input is float32
// and a QUANTIZE to the int8 input starts the graph. The shared real models are all int8-in;
// these variants let the tests check the patch stage's folded QUANTIZE on real networks.
//
// It is test-only code: nothing outside tests/ imports it.
package floatinput

import (
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Order is where the QUANTIZE goes relative to an NCHW model's leading layout TRANSPOSE.
type Order int

const (
	// QuantizeFirst puts the QUANTIZE right after the float input: float -> QUANTIZE -> the
	// int8 model (for an NCHW model: QUANTIZE, then its int8 TRANSPOSE).
	QuantizeFirst Order = iota
	// TransposeFirst (NCHW models with a leading TRANSPOSE only) transposes the float input
	// and quantizes the result: float NCHW -> TRANSPOSE -> QUANTIZE -> the model's first
	// operator after its TRANSPOSE.
	TransposeFirst
)

// Variant returns a copy of m whose input is float32 with the shape of m's input, quantized
// by a QUANTIZE to the int8 quantization of m's input, in the given order. m is not modified
// (the copy shares buffers with it).
func Variant(m *schema.ModelT, o Order) (*schema.ModelT, error) {
	if m == nil || len(m.Subgraphs) == 0 || m.Subgraphs[0] == nil || len(m.Subgraphs[0].Inputs) != 1 {
		return nil, fmt.Errorf("floatinput: want a model with one subgraph input")
	}
	out := *m
	out.OperatorCodes = slices.Clone(m.OperatorCodes)
	out.Subgraphs = slices.Clone(m.Subgraphs)
	sg := *m.Subgraphs[0]
	out.Subgraphs[0] = &sg
	sg.Tensors = slices.Clone(sg.Tensors)
	sg.Operators = slices.Clone(sg.Operators)
	sg.Inputs = slices.Clone(sg.Inputs)
	in := sg.Inputs[0]
	x := sg.Tensors[in]
	if x.Type != schema.TensorTypeINT8 || x.Quantization == nil || len(x.Quantization.Scale) != 1 {
		return nil, fmt.Errorf("floatinput: input %q is not per-tensor int8", x.Name)
	}
	quantize := uint32(opcode(&out, schema.BuiltinOperatorQUANTIZE))
	addTensor := func(t *schema.TensorT) int32 {
		sg.Tensors = append(sg.Tensors, t)
		return int32(len(sg.Tensors) - 1)
	}
	switch o {
	case QuantizeFirst:
		xf := addTensor(&schema.TensorT{Name: x.Name + "_float", Shape: slices.Clone(x.Shape), Type: schema.TensorTypeFLOAT32})
		sg.Inputs[0] = xf
		q := &schema.OperatorT{OpcodeIndex: quantize, Inputs: []int32{xf}, Outputs: []int32{in}}
		sg.Operators = append([]*schema.OperatorT{q}, sg.Operators...)
		out.SignatureDefs = retarget(m.SignatureDefs, in, xf)
	case TransposeFirst:
		if len(sg.Operators) == 0 || tflite.BuiltinCode(m.OperatorCodes[sg.Operators[0].OpcodeIndex]) != schema.BuiltinOperatorTRANSPOSE ||
			sg.Operators[0].Inputs[0] != in {
			return nil, fmt.Errorf("floatinput: transpose-first needs a model starting with a TRANSPOSE of its input")
		}
		// The input tensor becomes float32; the TRANSPOSE writes a new float32 tensor that the
		// QUANTIZE turns into the TRANSPOSE's former int8 output.
		xf := *x
		xf.Type, xf.Quantization = schema.TensorTypeFLOAT32, nil
		sg.Tensors[in] = &xf
		t := *sg.Operators[0]
		xt := sg.Tensors[t.Outputs[0]]
		tf := addTensor(&schema.TensorT{Name: xt.Name + "_float", Shape: slices.Clone(xt.Shape), Type: schema.TensorTypeFLOAT32})
		q := &schema.OperatorT{OpcodeIndex: quantize, Inputs: []int32{tf}, Outputs: []int32{t.Outputs[0]}}
		t.Outputs = []int32{tf}
		sg.Operators = append([]*schema.OperatorT{&t, q}, sg.Operators[1:]...)
	default:
		return nil, fmt.Errorf("floatinput: unknown order %d", o)
	}
	if err := tflite.Validate(&out); err != nil {
		return nil, fmt.Errorf("floatinput: %w", err)
	}
	return &out, nil
}

// opcode returns the index of m's operator code for builtin c, adding one if needed.
func opcode(m *schema.ModelT, c schema.BuiltinOperator) int {
	for i, oc := range m.OperatorCodes {
		if tflite.BuiltinCode(oc) == c {
			return i
		}
	}
	m.OperatorCodes = append(m.OperatorCodes, &schema.OperatorCodeT{BuiltinCode: c, DeprecatedBuiltinCode: int8(c), Version: 1})
	return len(m.OperatorCodes) - 1
}

// retarget copies signatures of subgraph 0, their input maps moved from tensor from to to.
func retarget(sds []*schema.SignatureDefT, from, to int32) []*schema.SignatureDefT {
	var r []*schema.SignatureDefT
	for _, sd := range sds {
		c := *sd
		if c.SubgraphIndex == 0 {
			c.Inputs = nil
			for _, tm := range sd.Inputs {
				t := *tm
				if int32(t.TensorIndex) == from {
					t.TensorIndex = uint32(to)
				}
				c.Inputs = append(c.Inputs, &t)
			}
		}
		r = append(r, &c)
	}
	return r
}

// Dequantize returns the float32 input (little-endian bytes) whose QUANTIZE gives back the
// int8 input q exactly: scale * (q - zero_point) for each element.
func Dequantize(q []byte, scale float32, zeroPoint int32) []byte {
	out := make([]byte, 4*len(q))
	for i, v := range q {
		f := scale * float32(int32(int8(v))-zeroPoint)
		u := math.Float32bits(f)
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return out
}

// Hard returns n float32 values (little-endian bytes) that probe QUANTIZE's rounding at the
// given output scale: quotients exactly halfway between integers (both signs),
// one float step either side of them, values beyond the int8 range (saturation) and beyond
// int32, zeros of both signs, infinities, NaN and random bit patterns, mixed with ordinary
// values. seed varies the mix.
//
// Quotients beyond int32 and NaN are undefined behaviour in TFLM's QUANTIZE; the machine's
// conversion decides them (PLAN.md, "QUANTIZE"). The interpreter and the Go reference follow
// x86-64, so on other hosts, where the C kernels follow the host, Hard leaves them out.
func Hard(n int, scale float32, seed uint64) []byte {
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		1e30, -1e30, 3e9 * scale, -3e9 * scale, 200 * scale, -200 * scale}
	undefined := func(f float32) bool {
		q := float64(f / scale)
		return runtime.GOARCH != "amd64" && (math.IsNaN(q) || q < math.MinInt32 || q >= math.MaxInt32+1)
	}
	out := make([]byte, 4*n)
	s := seed*0x9E3779B97F4A7C15 + 1
	next := func() uint64 { // xorshift64*
		s ^= s >> 12
		s ^= s << 25
		s ^= s >> 27
		return s * 0x2545F4914F6CDD1D
	}
	for i := range n {
		r := next()
		k := float32(int32(r>>40%300) - 150)
		var f float32
		switch r % 9 {
		case 8:
			f = math.Float32frombits(uint32(r >> 32)) // any bit pattern: subnormals, NaN payloads
		case 0:
			f = special[r>>8%uint64(len(special))]
		case 1, 2:
			f = (k + 0.5) * scale // a halfway quotient, up to the division's rounding
		case 3:
			f = math.Nextafter32((k+0.5)*scale, float32(math.Inf(1)))
		case 4:
			f = math.Nextafter32((k+0.5)*scale, float32(math.Inf(-1)))
		default:
			f = float32(int64(r>>16%1000000)-500000) / 500000 * 140 * scale
		}
		if undefined(f) {
			f = 0
		}
		u := math.Float32bits(f)
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return out
}
