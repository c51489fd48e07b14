package rewrite

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// floatIOModel is a float-in, float-out CNN as the TFLite converter writes one with
// inference_input_type float: QUANTIZE, int8 convolutions, DEQUANTIZE.
func floatIOModel(t *testing.T) *schema.ModelT {
	t.Helper()
	b := builder.New(11)
	shape := []int32{1, 48, 48, 3}
	xf := b.AddTensor(builder.TensorSpec{Name: "image", Type: schema.TensorTypeFLOAT32, Shape: shape})
	b.MarkInput(xf)
	xq := b.AddTensor(builder.TensorSpec{Name: "image_int8", Type: schema.TensorTypeINT8, Shape: shape, Scale: []float32{1.0 / 128}, ZeroPoint: []int64{-3}})
	b.AddOperator(schema.BuiltinOperatorQUANTIZE, []builder.Tensor{xf}, []builder.Tensor{xq}, nil)
	y := b.Conv2D(xq, builder.Conv{OutChannels: 16, Kernel: 3, Padding: schema.PaddingSAME, Activation: schema.ActivationFunctionTypeRELU})
	y = b.DepthwiseConv2D(y, builder.Conv{Kernel: 3, Stride: 2, Padding: schema.PaddingSAME})
	y = b.Conv2D(y, builder.Conv{OutChannels: 8, Kernel: 1, Padding: schema.PaddingVALID})
	yf := b.AddTensor(builder.TensorSpec{Name: "scores", Type: schema.TensorTypeFLOAT32, Shape: []int32{1, 24, 24, 8}})
	b.AddOperator(schema.BuiltinOperatorDEQUANTIZE, []builder.Tensor{y}, []builder.Tensor{yf}, nil)
	b.Output(yf)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInt8IO checks --int8-io on a float-edged model: the rewritten model takes and gives
// int8 with the QUANTIZE output's and the DEQUANTIZE input's quantization (the diagnostics
// say which), has neither operator left, and maps inputs quantized as TFLite does to outputs
// that dequantize to the original model's float outputs exactly.
func TestInt8IO(t *testing.T) {
	m := floatIOModel(t)
	res, err := Optimize(context.Background(), m, Options{Int8IO: true, Patches: "2x2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := res.Model
	sg := out.Subgraphs[0]
	in, o := sg.Tensors[sg.Inputs[0]], sg.Tensors[sg.Outputs[0]]
	if in.Type != schema.TensorTypeINT8 || o.Type != schema.TensorTypeINT8 || in.Quantization.ZeroPoint[0] != -3 {
		t.Fatalf("input %v %+v, output %v", in.Type, in.Quantization, o.Type)
	}
	for _, op := range sg.Operators {
		switch out.OperatorCodes[op.OpcodeIndex].BuiltinCode {
		case schema.BuiltinOperatorQUANTIZE, schema.BuiltinOperatorDEQUANTIZE:
			t.Fatal("a QUANTIZE or DEQUANTIZE is left")
		}
	}
	var said int
	for _, d := range res.Diagnostics {
		if strings.HasPrefix(d.Message, "--int8-io: ") {
			said++
		}
	}
	if said != 2 {
		t.Errorf("%d diagnostics about the new edges, want 2", said)
	}
	orig, err := interp.New(m)
	if err != nil {
		t.Fatal(err)
	}
	rewritten, err := interp.New(out)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	n := 48 * 48 * 3
	xf, xq := make([]byte, 4*n), make([]byte, n)
	for i := range n {
		v := float32(rng.Float64()*2 - 1)
		binary.LittleEndian.PutUint32(xf[4*i:], math.Float32bits(v))
		q := math.Round(float64(v)/float64(float32(1.0/128))) - 3 // TFLite: round half away, + zero point
		xq[i] = byte(int8(max(-128, min(127, q))))
	}
	want, err := orig.Invoke(xf)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rewritten.Invoke(xq)
	if err != nil {
		t.Fatal(err)
	}
	s, zp := o.Quantization.Scale[0], o.Quantization.ZeroPoint[0]
	for i := range len(got[0]) {
		f := math.Float32frombits(binary.LittleEndian.Uint32(want[0][4*i:]))
		if d := s * float32(int64(int8(got[0][i]))-zp); d != f {
			t.Fatalf("output %d: %g from int8, %g from the float model", i, d, f)
		}
	}
}
