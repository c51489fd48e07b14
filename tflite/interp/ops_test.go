package interp

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// modelBuilder assembles small single-subgraph models for the operator tests.
type modelBuilder struct {
	m *schema.ModelT
}

func newModelBuilder() *modelBuilder {
	return &modelBuilder{m: &schema.ModelT{
		Version:   3,
		Buffers:   []*schema.BufferT{{}},
		Subgraphs: []*schema.SubGraphT{{}},
	}}
}

// tensor adds a tensor; data != nil makes it a constant. scale == 0 means not quantized.
func (b *modelBuilder) tensor(ty schema.TensorType, shape []int32, scale float32, zp int64, data []byte) int32 {
	t := &schema.TensorT{Type: ty, Shape: shape, Name: "t"}
	if scale != 0 {
		t.Quantization = &schema.QuantizationParametersT{Scale: []float32{scale}, ZeroPoint: []int64{zp}}
	}
	if data != nil {
		t.Buffer = uint32(len(b.m.Buffers))
		b.m.Buffers = append(b.m.Buffers, &schema.BufferT{Data: data})
	}
	sg := b.m.Subgraphs[0]
	sg.Tensors = append(sg.Tensors, t)
	return int32(len(sg.Tensors) - 1)
}

func (b *modelBuilder) perChannel(t int32, scales []float32) {
	q := b.m.Subgraphs[0].Tensors[t].Quantization
	q.Scale = scales
	q.ZeroPoint = make([]int64, len(scales))
}

func (b *modelBuilder) op(code schema.BuiltinOperator, opts any, optType schema.BuiltinOptions, ins, outs []int32) {
	idx := -1
	for i, oc := range b.m.OperatorCodes {
		if oc.BuiltinCode == code {
			idx = i
		}
	}
	if idx < 0 {
		dep := int8(127)
		if code < 127 {
			dep = int8(code)
		}
		b.m.OperatorCodes = append(b.m.OperatorCodes, &schema.OperatorCodeT{BuiltinCode: code, DeprecatedBuiltinCode: dep, Version: 1})
		idx = len(b.m.OperatorCodes) - 1
	}
	op := &schema.OperatorT{OpcodeIndex: uint32(idx), Inputs: ins, Outputs: outs}
	if opts != nil {
		op.BuiltinOptions = &schema.BuiltinOptionsT{Type: optType, Value: opts}
	}
	sg := b.m.Subgraphs[0]
	sg.Operators = append(sg.Operators, op)
}

func (b *modelBuilder) build(ins, outs []int32) *schema.ModelT {
	b.m.Subgraphs[0].Inputs, b.m.Subgraphs[0].Outputs = ins, outs
	return b.m
}

func i8bytes(v ...int8) []byte {
	out := make([]byte, len(v))
	for i, x := range v {
		out[i] = byte(x)
	}
	return out
}

func i32bytes(v ...int32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(x))
	}
	return out
}

func f32bytes(v ...float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

func asInt8(b []byte) []int8 {
	out := make([]int8, len(b))
	for i, x := range b {
		out[i] = int8(x)
	}
	return out
}

// run1 builds an interpreter for m, runs one input and returns output 0 as int8 values.
func run1(t *testing.T, m *schema.ModelT, in []byte) []int8 {
	t.Helper()
	it, err := New(m, WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	out, err := it.Invoke(in)
	if err != nil {
		t.Fatal(err)
	}
	return asInt8(out[0])
}

func expect(t *testing.T, got, want []int8) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

const (
	int8T  = schema.TensorTypeINT8
	int32T = schema.TensorTypeINT32
	f32T   = schema.TensorTypeFLOAT32
)

// convModel: input 1x3x3x1 (scale 0.5, zp -1) with values 0..8, filter 2x3x3x1 per-channel
// (ch0 all ones at scale 0.25 -> multiplier 0.125, a right shift; ch1 centre tap at scale 4
// -> multiplier 2, a left shift), bias {0, -5}, SAME padding, output scale 1.
func convModel(act schema.ActivationFunctionType, outZp int64) *schema.ModelT {
	b := newModelBuilder()
	in := b.tensor(int8T, []int32{1, 3, 3, 1}, 0.5, -1, nil)
	w := b.tensor(int8T, []int32{2, 3, 3, 1}, 1, 0, i8bytes(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0))
	b.perChannel(w, []float32{0.25, 4})
	bias := b.tensor(int32T, []int32{2}, 0.125, 0, i32bytes(0, -5))
	out := b.tensor(int8T, []int32{1, 3, 3, 2}, 1, outZp, nil)
	b.op(schema.BuiltinOperatorCONV_2D, &schema.Conv2DOptionsT{Padding: schema.PaddingSAME, StrideH: 1, StrideW: 1,
		DilationHFactor: 1, DilationWFactor: 1, FusedActivationFunction: act}, schema.BuiltinOptionsConv2DOptions,
		[]int32{in, w, bias}, []int32{out})
	return b.build([]int32{in}, []int32{out})
}

func TestConvPerChannelShiftsAndBorders(t *testing.T) {
	in := i8bytes(0, 1, 2, 3, 4, 5, 6, 7, 8) // x - zp = 1..9
	// ch0: window sums of (x - zp) clipped at the borders (12 21 16 / 27 45 33 / 24 39 28),
	// times 0.125 with double rounding: 27 -> 13.5 -> 14 -> 3.5 -> 4 (single rounding: 3).
	// ch1: 2 * ((x - zp) at the centre - 5).
	got := run1(t, convModel(schema.ActivationFunctionTypeNONE, 0), in)
	expect(t, got, []int8{2, -8, 3, -6, 2, -4, 4, -2, 6, 0, 4, 2, 3, 4, 5, 6, 4, 8})
}

func TestConvRelu6Clamp(t *testing.T) {
	// Output zp -3, scale 1: RELU6 clamps to [zp + 0, zp + 6] = [-3, 3].
	got := run1(t, convModel(schema.ActivationFunctionTypeRELU6, -3), i8bytes(0, 1, 2, 3, 4, 5, 6, 7, 8))
	expect(t, got, []int8{-1, -3, 0, -3, -1, -3, 1, -3, 3, -3, 1, -1, 0, 1, 2, 3, 1, 3})
}

func TestConvPaddingUsesZeroPointAndDilation(t *testing.T) {
	// 1x4x4x1 input with zp 5, a 2x2 all-ones filter with dilation 2, VALID: out 2x2.
	b := newModelBuilder()
	in := b.tensor(int8T, []int32{1, 4, 4, 1}, 1, 5, nil)
	w := b.tensor(int8T, []int32{1, 2, 2, 1}, 1, 0, i8bytes(1, 1, 1, 1))
	out := b.tensor(int8T, []int32{1, 2, 2, 1}, 2, 0, nil)
	b.op(schema.BuiltinOperatorCONV_2D, &schema.Conv2DOptionsT{Padding: schema.PaddingVALID, StrideH: 1, StrideW: 1,
		DilationHFactor: 2, DilationWFactor: 2}, schema.BuiltinOptionsConv2DOptions, []int32{in, w}, []int32{out})
	m := b.build([]int32{in}, []int32{out})
	// Taps (y,x),(y,x+2),(y+2,x),(y+2,x+2) of values 0..15 minus zp 5, halved (scale 1/2).
	// (0,0): 0+2+8+10-20=0; (0,1): 4 -> 2; (1,0): 16 -> 8; (1,1): 20 -> 10.
	got := run1(t, m, i8bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
	expect(t, got, []int8{0, 2, 8, 10})
}

func TestDepthwiseMultiplierStride(t *testing.T) {
	b := newModelBuilder()
	in := b.tensor(int8T, []int32{1, 4, 4, 1}, 1, 0, nil)
	// Filter [1,2,2,2]: channel 0 sums the window, channel 1 is top-left minus bottom-right.
	w := b.tensor(int8T, []int32{1, 2, 2, 2}, 1, 0, i8bytes(1, 1, 1, 0, 1, 0, 1, -1))
	bias := b.tensor(int32T, []int32{2}, 1, 0, i32bytes(0, 0))
	out := b.tensor(int8T, []int32{1, 2, 2, 2}, 1, 0, nil)
	b.op(schema.BuiltinOperatorDEPTHWISE_CONV_2D, &schema.DepthwiseConv2DOptionsT{Padding: schema.PaddingVALID,
		StrideH: 2, StrideW: 2, DepthMultiplier: 2, DilationHFactor: 1, DilationWFactor: 1},
		schema.BuiltinOptionsDepthwiseConv2DOptions, []int32{in, w, bias}, []int32{out})
	got := run1(t, b.build([]int32{in}, []int32{out}), i8bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16))
	expect(t, got, []int8{14, -5, 22, -5, 46, -5, 54, -5})
}

func TestDepthwiseSamePaddingSkipsOutsideTaps(t *testing.T) {
	// 16 channels (exercises the vector path) of a 2x2 image, zp 3, 3x3 all-ones filter,
	// SAME: every window covers the whole 2x2 image, so each output is sum(x - zp).
	b := newModelBuilder()
	const ch = 16
	in := b.tensor(int8T, []int32{1, 2, 2, ch}, 1, 3, nil)
	ones := make([]int8, 9*ch)
	for i := range ones {
		ones[i] = 1
	}
	w := b.tensor(int8T, []int32{1, 3, 3, ch}, 1, 0, i8bytes(ones...))
	out := b.tensor(int8T, []int32{1, 2, 2, ch}, 1, 0, nil)
	b.op(schema.BuiltinOperatorDEPTHWISE_CONV_2D, &schema.DepthwiseConv2DOptionsT{Padding: schema.PaddingSAME,
		StrideH: 1, StrideW: 1, DepthMultiplier: 1}, schema.BuiltinOptionsDepthwiseConv2DOptions, []int32{in, w}, []int32{out})
	input := make([]int8, 4*ch)
	want := make([]int8, 4*ch)
	for c := range ch {
		s := 0
		for p := range 4 {
			input[p*ch+c] = int8(c + p)
			s += c + p - 3
		}
		for p := range 4 {
			want[p*ch+c] = int8(s)
		}
	}
	expect(t, run1(t, b.build([]int32{in}, []int32{out}), i8bytes(input...)), want)
}

func TestFullyConnectedSaturationAndBias(t *testing.T) {
	b := newModelBuilder()
	in := b.tensor(int8T, []int32{1, 2}, 1, 0, nil)
	w := b.tensor(int8T, []int32{3, 2}, 1, 0, i8bytes(127, 127, -1, 2, 1, 1))
	bias := b.tensor(int32T, []int32{3}, 1, 0, i32bytes(0, 150, -60))
	out := b.tensor(int8T, []int32{1, 3}, 1, 0, nil)
	b.op(schema.BuiltinOperatorFULLY_CONNECTED, &schema.FullyConnectedOptionsT{}, schema.BuiltinOptionsFullyConnectedOptions,
		[]int32{in, w, bias}, []int32{out})
	// 127*100 - 127*50 saturates at 127; -100 - 100 + 150 = -50; 50 - 60 = -10.
	expect(t, run1(t, b.build([]int32{in}, []int32{out}), i8bytes(100, -50)), []int8{127, -50, -10})
}

func TestAddRoundingBroadcastRelu(t *testing.T) {
	b := newModelBuilder()
	x := b.tensor(int8T, []int32{1, 5}, 0.5, 0, nil)
	y := b.tensor(int8T, []int32{1}, 0.5, 0, i8bytes(0))
	out := b.tensor(int8T, []int32{1, 5}, 1, 0, nil)
	b.op(schema.BuiltinOperatorADD, &schema.AddOptionsT{}, schema.BuiltinOptionsAddOptions, []int32{x, y}, []int32{out})
	// (x + 0) / 2, rounded half away from zero; 127/2 = 63.5 -> 64.
	expect(t, run1(t, b.build([]int32{x}, []int32{out}), i8bytes(3, -3, 4, 127, -128)), []int8{2, -2, 2, 64, -64})

	b = newModelBuilder()
	x = b.tensor(int8T, []int32{2, 2}, 0.5, 0, nil)
	y = b.tensor(int8T, []int32{2, 1}, 0.5, 0, i8bytes(10, -100))
	out = b.tensor(int8T, []int32{2, 2}, 0.25, 0, nil)
	b.op(schema.BuiltinOperatorADD, &schema.AddOptionsT{FusedActivationFunction: schema.ActivationFunctionTypeRELU},
		schema.BuiltinOptionsAddOptions, []int32{x, y}, []int32{out})
	// Rows broadcast y; output scale 0.25 doubles the sum; RELU clamps at zp 0; 2*(100+10) saturates.
	expect(t, run1(t, b.build([]int32{x}, []int32{out}), i8bytes(1, 100, 20, 120)), []int8{22, 127, 0, 40})
}

func TestMulZeroPointSaturation(t *testing.T) {
	b := newModelBuilder()
	x := b.tensor(int8T, []int32{4}, 0.5, 1, nil)
	y := b.tensor(int8T, []int32{4}, 0.5, 0, i8bytes(6, -20, 3, 100))
	out := b.tensor(int8T, []int32{4}, 0.25, 2, nil)
	b.op(schema.BuiltinOperatorMUL, &schema.MulOptionsT{}, schema.BuiltinOptionsMulOptions, []int32{x, y}, []int32{out})
	// (x - 1) * y + 2, clamped.
	expect(t, run1(t, b.build([]int32{x}, []int32{out}), i8bytes(6, 11, -3, 100)), []int8{32, -128, -10, 127})
}

func poolModel(code schema.BuiltinOperator, pad schema.Padding, inShape, outShape []int32) *schema.ModelT {
	b := newModelBuilder()
	in := b.tensor(int8T, inShape, 1, 0, nil)
	out := b.tensor(int8T, outShape, 1, 0, nil)
	b.op(code, &schema.Pool2DOptionsT{Padding: pad, StrideH: 2, StrideW: 2, FilterHeight: 2, FilterWidth: 2},
		schema.BuiltinOptionsPool2DOptions, []int32{in}, []int32{out})
	return b.build([]int32{in}, []int32{out})
}

func TestAveragePoolRounding(t *testing.T) {
	// Four 2x2 windows of a 4x4 image: sums 11 (2.75 -> 3), -11 (-2.75 -> -3), 5 (1.25 -> 1), -6 (-1.5 -> -2).
	in := i8bytes(
		1, 2, -1, -2,
		4, 4, -4, -4,
		1, 1, -1, -2,
		1, 2, -1, -2)
	m := poolModel(schema.BuiltinOperatorAVERAGE_POOL_2D, schema.PaddingVALID, []int32{1, 4, 4, 1}, []int32{1, 2, 2, 1})
	expect(t, run1(t, m, in), []int8{3, -3, 1, -2})
	// SAME on 3x3: border windows average fewer taps ((7+8)/2 = 7.5 -> 8; the corner is 9).
	m = poolModel(schema.BuiltinOperatorAVERAGE_POOL_2D, schema.PaddingSAME, []int32{1, 3, 3, 1}, []int32{1, 2, 2, 1})
	expect(t, run1(t, m, i8bytes(1, 2, 3, 4, 5, 6, 7, 8, 9)), []int8{3, 5, 8, 9})
	m = poolModel(schema.BuiltinOperatorMAX_POOL_2D, schema.PaddingSAME, []int32{1, 3, 3, 1}, []int32{1, 2, 2, 1})
	expect(t, run1(t, m, i8bytes(-1, -2, -3, -4, -5, -6, -7, -8, -9)), []int8{-1, -3, -7, -9})
}

func TestMeanDoubleRounding(t *testing.T) {
	b := newModelBuilder()
	in := b.tensor(int8T, []int32{1, 2, 2, 2}, 1, 0, nil)
	axis := b.tensor(int32T, []int32{2}, 0, 0, i32bytes(1, 2))
	out := b.tensor(int8T, []int32{1, 1, 1, 2}, 1, 0, nil)
	b.op(schema.BuiltinOperatorMEAN, &schema.ReducerOptionsT{KeepDims: true}, schema.BuiltinOptionsReducerOptions, []int32{in, axis}, []int32{out})
	// Channel 0: 1+2+3+4 = 10 -> 2.5 -> 3; channel 1: -(1+2+3+5) = -11 -> -2.75 -> -3.
	expect(t, run1(t, b.build([]int32{in}, []int32{out}), i8bytes(1, -1, 2, -2, 3, -3, 4, -5)), []int8{3, -3})
}

func TestSoftmaxExtremes(t *testing.T) {
	b := newModelBuilder()
	in := b.tensor(int8T, []int32{2, 2}, 1, 0, nil)
	out := b.tensor(int8T, []int32{2, 2}, 1.0/256, -128, nil)
	b.op(schema.BuiltinOperatorSOFTMAX, &schema.SoftmaxOptionsT{Beta: 1}, schema.BuiltinOptionsSoftmaxOptions, []int32{in}, []int32{out})
	// Equal logits: 0.5 each = 128/256 -> 0; a gap of 255 gives 1 (saturating at 127) and 0 (-128).
	expect(t, run1(t, b.build([]int32{in}, []int32{out}), i8bytes(5, 5, 127, -128)), []int8{0, 0, 127, -128})
}

func TestActivationsLUT(t *testing.T) {
	unary := func(code schema.BuiltinOperator, opts any, ot schema.BuiltinOptions, inS float32, inZp int64, outS float32, outZp int64, x []int8) []int8 {
		b := newModelBuilder()
		in := b.tensor(int8T, []int32{int32(len(x))}, inS, inZp, nil)
		out := b.tensor(int8T, []int32{int32(len(x))}, outS, outZp, nil)
		b.op(code, opts, ot, []int32{in}, []int32{out})
		return run1(t, b.build([]int32{in}, []int32{out}), i8bytes(x...))
	}
	// LOGISTIC at scale 1: the radius is 7 (beyond it the output saturates); 0 -> 1/2 -> 0.
	expect(t, unary(schema.BuiltinOperatorLOGISTIC, nil, 0, 1, 0, 1.0/256, -128, []int8{0, 7, -7, 1}), []int8{0, 127, -128, 59})
	// RELU requantizes (scale 1 -> 0.5 doubles) and clamps below at the output zp.
	expect(t, unary(schema.BuiltinOperatorRELU, nil, 0, 1, 2, 0.5, -1, []int8{2, 5, -10, 100}), []int8{-1, 5, -1, 127})
	// RELU6 clamps to [zp, zp + 6/scale] of the input.
	expect(t, unary(schema.BuiltinOperatorRELU6, nil, 0, 0.5, -4, 0.5, -4, []int8{-10, -4, 3, 8, 9}), []int8{-4, -4, 3, 8, 8})
	// LEAKY_RELU alpha 0.25 (multiplier 2^30, shift -1): negatives scaled by 1/4 with double
	// rounding: -6 -> srdhm -3 -> -1.5 away from zero -> -2; -5 -> -2.5 up to -2 -> -1.
	expect(t, unary(schema.BuiltinOperatorLEAKY_RELU, &schema.LeakyReluOptionsT{Alpha: 0.25}, schema.BuiltinOptionsLeakyReluOptions,
		1, 0, 1, 0, []int8{-8, -6, -5, 0, 9}), []int8{-2, -2, -1, 0, 9})
	// HARD_SWISH: x*relu6(x+3)/6; at scale 1/8: 0 -> 0, 6.0 (48) -> 6.0 (48), -3 and below -> 0, 1.0 -> 0.667 (5).
	expect(t, unary(schema.BuiltinOperatorHARD_SWISH, nil, 0, 1.0/8, 0, 1.0/8, 0, []int8{0, 48, -24, -64, 8}), []int8{0, 48, 0, 0, 5})
}

func TestQuantizeDequantize(t *testing.T) {
	b := newModelBuilder()
	in := b.tensor(f32T, []int32{6}, 0, 0, nil)
	q := b.tensor(int8T, []int32{6}, 0.25, 3, nil)
	rq := b.tensor(int8T, []int32{6}, 0.5, -1, nil)
	out := b.tensor(f32T, []int32{6}, 0, 0, nil)
	b.op(schema.BuiltinOperatorQUANTIZE, nil, 0, []int32{in}, []int32{q})
	b.op(schema.BuiltinOperatorQUANTIZE, nil, 0, []int32{q}, []int32{rq})
	b.op(schema.BuiltinOperatorDEQUANTIZE, nil, 0, []int32{rq}, []int32{out})
	m := b.build([]int32{in}, []int32{q, rq, out})
	it, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := it.Invoke(f32bytes(0.5, -0.375, 1000, float32(math.NaN()), -0.125, 0.625))
	if err != nil {
		t.Fatal(err)
	}
	// 0.5/0.25 = 2 (+3); -1.5 rounds away to -2 (+3); 1000 saturates; NaN becomes INT32_MIN
	// (x86 conversion) and clamps to -128; -0.5 -> -1 (+3); 2.5 -> 3 (+3).
	expect(t, asInt8(outs[0]), []int8{5, 1, 127, -128, 2, 6})
	// Requantize to scale 0.5 zp -1: srdhm((q - 3), 2^30) halves rounding ties up
	// (-131 -> -65.5 -> -65), then -1.
	expect(t, asInt8(outs[1]), []int8{0, -2, 61, -66, -1, 1})
	var deq []float32
	for i := 0; i < len(outs[2]); i += 4 {
		deq = append(deq, math.Float32frombits(binary.LittleEndian.Uint32(outs[2][i:])))
	}
	if want := []float32{0.5, -0.5, 31, -32.5, 0, 1}; !slices.Equal(deq, want) {
		t.Errorf("dequantized %v, want %v", deq, want)
	}
}

func TestShapeOps(t *testing.T) {
	// PAD with the output zero point, then TRANSPOSE NHWC -> NCHW-like order.
	b := newModelBuilder()
	in := b.tensor(int8T, []int32{1, 1, 2, 2}, 1, -7, nil)
	pads := b.tensor(int32T, []int32{4, 2}, 0, 0, i32bytes(0, 0, 1, 0, 0, 1, 0, 0))
	padded := b.tensor(int8T, []int32{1, 2, 3, 2}, 1, -7, nil)
	perm := b.tensor(int32T, []int32{4}, 0, 0, i32bytes(0, 3, 1, 2))
	tr := b.tensor(int8T, []int32{1, 2, 2, 3}, 1, -7, nil)
	b.op(schema.BuiltinOperatorPAD, nil, 0, []int32{in, pads}, []int32{padded})
	b.op(schema.BuiltinOperatorTRANSPOSE, nil, 0, []int32{padded, perm}, []int32{tr})
	m := b.build([]int32{in}, []int32{padded, tr})
	it, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := it.Invoke(i8bytes(1, 2, 3, 4))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, asInt8(outs[0]), []int8{-7, -7, -7, -7, -7, -7, 1, 2, 3, 4, -7, -7})
	expect(t, asInt8(outs[1]), []int8{-7, -7, -7, 1, 3, -7, -7, -7, -7, 2, 4, -7})

	// STRIDED_SLICE: forward with a negative end, backward with a negative start, shrink.
	slice := func(shape []int32, begin, end, strides []int32, opts *schema.StridedSliceOptionsT, outShape []int32, x []int8) []int8 {
		b := newModelBuilder()
		in := b.tensor(int8T, shape, 1, 0, nil)
		bt := b.tensor(int32T, []int32{int32(len(begin))}, 0, 0, i32bytes(begin...))
		et := b.tensor(int32T, []int32{int32(len(end))}, 0, 0, i32bytes(end...))
		st := b.tensor(int32T, []int32{int32(len(strides))}, 0, 0, i32bytes(strides...))
		out := b.tensor(int8T, outShape, 1, 0, nil)
		b.op(schema.BuiltinOperatorSTRIDED_SLICE, opts, schema.BuiltinOptionsStridedSliceOptions, []int32{in, bt, et, st}, []int32{out})
		return run1(t, b.build([]int32{in}, []int32{out}), i8bytes(x...))
	}
	ten := []int8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	expect(t, slice([]int32{10}, []int32{1}, []int32{-1}, []int32{3}, &schema.StridedSliceOptionsT{}, []int32{3}, ten), []int8{1, 4, 7})
	expect(t, slice([]int32{10}, []int32{-1}, []int32{0}, []int32{-2}, &schema.StridedSliceOptionsT{}, []int32{5}, ten), []int8{9, 7, 5, 3, 1})
	expect(t, slice([]int32{2, 5}, []int32{1, 0}, []int32{0, 0}, []int32{1, 2},
		&schema.StridedSliceOptionsT{ShrinkAxisMask: 1, EndMask: 2}, []int32{3}, ten), []int8{5, 7, 9})

	// CONCATENATION on the last axis and SQUEEZE.
	b = newModelBuilder()
	x := b.tensor(int8T, []int32{2, 1}, 1, 0, nil)
	y := b.tensor(int8T, []int32{2, 2}, 1, 0, i8bytes(5, 6, 7, 8))
	cat := b.tensor(int8T, []int32{2, 3}, 1, 0, nil)
	sq := b.tensor(int8T, []int32{6}, 1, 0, nil)
	b.op(schema.BuiltinOperatorCONCATENATION, &schema.ConcatenationOptionsT{Axis: -1}, schema.BuiltinOptionsConcatenationOptions, []int32{x, y}, []int32{cat})
	b.op(schema.BuiltinOperatorSQUEEZE, nil, 0, []int32{cat}, []int32{sq})
	expect(t, run1(t, b.build([]int32{x}, []int32{sq}), i8bytes(1, 2)), []int8{1, 5, 6, 2, 7, 8})
}

func TestErrors(t *testing.T) {
	b := newModelBuilder()
	in := b.tensor(int8T, []int32{1, 4}, 1, 0, nil)
	out := b.tensor(int8T, []int32{1, 4}, 1, 0, nil)
	b.op(schema.BuiltinOperatorUNIDIRECTIONAL_SEQUENCE_LSTM, nil, 0, []int32{in}, []int32{out})
	_, err := New(b.build([]int32{in}, []int32{out}))
	if err == nil || !strings.Contains(err.Error(), "operator 0 (UNIDIRECTIONAL_SEQUENCE_LSTM): not supported by the interpreter") {
		t.Errorf("unsupported op: got %v", err)
	}

	// A hybrid CONV_2D (float input, int8 filter) names the operator and the offending tensor.
	b = newModelBuilder()
	fin := b.tensor(f32T, []int32{1, 2, 2, 1}, 0, 0, nil)
	w := b.tensor(int8T, []int32{1, 1, 1, 1}, 1, 0, i8bytes(1))
	fout := b.tensor(f32T, []int32{1, 2, 2, 1}, 0, 0, nil)
	b.op(schema.BuiltinOperatorCONV_2D, &schema.Conv2DOptionsT{StrideH: 1, StrideW: 1}, schema.BuiltinOptionsConv2DOptions, []int32{fin, w}, []int32{fout})
	_, err = New(b.build([]int32{fin}, []int32{fout}))
	if err == nil || !strings.Contains(err.Error(), "operator 0 (CONV_2D)") || !strings.Contains(err.Error(), "FLOAT32") {
		t.Errorf("float conv: got %v", err)
	}

	// Wrong input size at Invoke.
	it, err := New(convModel(schema.ActivationFunctionTypeNONE, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := it.Invoke(make([]byte, 8)); err == nil || !strings.Contains(err.Error(), "needs 9 bytes, got 8") {
		t.Errorf("short input: got %v", err)
	}
	if _, err := it.Invoke(); err == nil {
		t.Error("missing input accepted")
	}
}

// TestKeywordScrambled runs keyword_scrambled_8bit (int16 input, QUANTIZE, SVDF with int16
// state, FULLY_CONNECTED, SOFTMAX to int16, QUANTIZE to int32) and requires TFLM's outputs:
// [0, 32767] on a zero input, and those recorded from TFLM 90b983c2b for a random input
// after one and after three invocations (the SVDF state carries over).
func TestKeywordScrambled(t *testing.T) {
	m := loadModel(t, "models/negative/keyword_scrambled_8bit.tflite")
	it, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := it.Invoke(make([]byte, 192))
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 0, 0, 0, 0xff, 0x7f, 0, 0}; !bytes.Equal(out[0], want) {
		t.Errorf("zero input: got % x, want % x", out[0], want)
	}
	dir := "testdata/keyword_scrambled"
	in, err := os.ReadFile(filepath.Join(dir, "random_int16.in0.raw"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		invokes int
		golden  string
	}{{1, "random_int16.out0.raw"}, {3, "random_int16_x3_invokes.out0.raw"}} {
		it.ResetState()
		for range c.invokes {
			if out, err = it.Invoke(in); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(filepath.Join(dir, c.golden))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out[0], want) {
			t.Errorf("%d invocation(s) of the random input: got % x, TFLM % x", c.invokes, out[0], want)
		}
	}
}

func TestNegativeModels(t *testing.T) {
	for _, name := range []string{"person_detect_vela.tflite"} {
		m := loadModel(t, "models/negative/"+name)
		_, err := New(m)
		if err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%s: got %v, want a not-supported error", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// Unsupported checks every operator and reports each refusal with its index.
func TestUnsupportedListsEveryOperator(t *testing.T) {
	b := newModelBuilder()
	in := b.tensor(int8T, []int32{1, 4}, 1, 0, nil)
	mid := b.tensor(int8T, []int32{1, 4}, 1, 0, nil)
	mid2 := b.tensor(int8T, []int32{1, 4}, 1, 0, nil)
	out := b.tensor(int8T, []int32{1, 4}, 1, 0, nil)
	b.op(schema.BuiltinOperatorUNIDIRECTIONAL_SEQUENCE_LSTM, nil, 0, []int32{in}, []int32{mid})
	b.op(schema.BuiltinOperatorRELU, nil, 0, []int32{mid}, []int32{mid2})
	b.op(schema.BuiltinOperatorCUMSUM, nil, 0, []int32{mid2}, []int32{out})
	m := b.build([]int32{in}, []int32{out})
	ps, err := Unsupported(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Index != 0 || ps[0].Op != "UNIDIRECTIONAL_SEQUENCE_LSTM" || ps[1].Index != 2 || ps[1].Op != "CUMSUM" {
		t.Errorf("got %+v", ps)
	}
	ok, err := Unsupported(convModel(schema.ActivationFunctionTypeNONE, 0))
	if err != nil || len(ok) != 0 {
		t.Errorf("supported model: %+v, %v", ok, err)
	}
}
