package tfmicroops_test

import (
	"context"
	"encoding/binary"
	"math"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

// floatInputStage rewrites a small CNN with a float32 input and a leading QUANTIZE (scale
// 1/64, zero point zp) into a plan that folds the QUANTIZE, and returns the plan with its
// constants.
func floatInputStage(t testing.TB, zp int64) ([]byte, *tfmicroops.Plan, [][]byte) {
	t.Helper()
	b := builder.New(7)
	shape := []int32{1, 20, 18, 3}
	xf := b.AddTensor(builder.TensorSpec{Name: "image", Type: schema.TensorTypeFLOAT32, Shape: shape})
	b.MarkInput(xf)
	xq := b.AddTensor(builder.TensorSpec{Name: "image_int8", Type: schema.TensorTypeINT8, Shape: shape, Scale: []float32{1.0 / 64}, ZeroPoint: []int64{zp}})
	b.AddOperator(schema.BuiltinOperatorQUANTIZE, []builder.Tensor{xf}, []builder.Tensor{xq}, nil)
	y := b.Conv2D(xq, builder.Conv{OutChannels: 8, Kernel: 3, Stride: 2, Padding: schema.PaddingSAME, Activation: schema.ActivationFunctionTypeRELU6})
	y = b.DepthwiseConv2D(y, builder.Conv{Kernel: 3, Padding: schema.PaddingSAME})
	b.Output(y)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	res, err := rewrite.Optimize(context.Background(), m, rewrite.Options{Patches: "3x3", Split: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, consts := stageOf(t, res.Model)
	p, err := tfmicroops.Parse(plan)
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := p.Input(0); in.Type != tfmicroops.Float32 || p.Layers()[0].Kind != tfmicroops.Quantize {
		t.Fatalf("the plan does not quantize a float32 input (input %+v, layer 0 %v)", in, p.Layers()[0].Kind)
	}
	return plan, p, consts
}

// armEquivalent returns the finite value that the host quantizes (x86-64's rule) to what a
// Cortex-M quantizes v to (PLAN.md, "QUANTIZE": quotients beyond int32 saturate, NaN is 0, and
// the zero point wraps), so that the host computes the Arm output.
func armEquivalent(v, scale float32, zp int32) float32 {
	q := float64(v / scale)
	switch {
	case math.IsNaN(q):
		return 0
	case q >= math.MaxInt32+1:
		if zp > 0 {
			return -200 * scale // INT32_MAX + zp wraps negative
		}
		return 200 * scale
	case q < math.MinInt32:
		if zp < 0 {
			return 200 * scale // INT32_MIN + zp wraps positive
		}
		return -200 * scale
	}
	return v
}

// TestQEMUCortexM4FloatInput runs plans that quantize a float32 input on an emulated
// Cortex-M4 (hardware float division and conversion): on ordinary values and halfway
// quotients the output must equal the host's byte for byte; on values beyond int32 and NaN it
// must equal the host's output for the Arm rule's equivalent values.
func TestQEMUCortexM4FloatInput(t *testing.T) {
	gcc, qemu := tfmicroops.ArmTools(t)
	const scale = float32(1.0 / 64)
	for _, zp := range []int32{-5, 7} {
		plan, p, consts := floatInputStage(t, int64(zp))
		n := p.FeatureMaps()[0].Bytes()
		special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e30, -1e30, 4e9 * scale, -4e9 * scale}
		for _, hard := range []bool{false, true} {
			in, host := make([]byte, 4*n), make([]byte, 4*n)
			for i := range n {
				k := float32(i%301 - 150)
				v := (k + 0.5) * scale // halfway quotients
				switch i % 5 {
				case 1:
					v = math.Nextafter32(v, 0)
				case 2:
					v = float32(math.Sin(float64(i))) * 3
				case 3:
					if hard {
						v = special[i/5%len(special)]
					}
				}
				binary.LittleEndian.PutUint32(in[4*i:], math.Float32bits(v))
				binary.LittleEndian.PutUint32(host[4*i:], math.Float32bits(armEquivalent(v, scale, zp)))
			}
			want := make([]byte, p.FeatureMaps()[len(p.FeatureMaps())-1].Bytes())
			if _, err := p.Eval(host, consts, want, make([]byte, p.ScratchBytes())); err != nil {
				t.Fatal(err)
			}
			tfmicroops.RunPlanOnQEMU(t, gcc, qemu, plan, p, in, consts, want)
		}
	}
}
