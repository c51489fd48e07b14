package tfmicroops_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
	"github.com/quantmcu/quantmcu/tflite/schema"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

// mixedStage builds a small residual CNN, rewrites it with a low branch of 4- and 2-bit maps
// and thresholds that make some tiles outliers, and returns the op's plan, input, constants
// and the host's output with its stats.
func mixedStage(t testing.TB) (plan []byte, p *tfmicroops.Plan, input []byte, consts [][]byte, want []byte, st tfmicroops.Stats) {
	t.Helper()
	b := builder.New(5)
	x := b.Input("input", []int32{1, 24, 20, 3}, builder.Quant{Scale: 0.02, ZeroPoint: 3})
	x = b.Conv2D(x, builder.Conv{OutChannels: 8, Kernel: 3, Stride: 2, Padding: schema.PaddingSAME, Activation: schema.ActivationFunctionTypeRELU6})
	y := b.DepthwiseConv2D(x, builder.Conv{Kernel: 3, Padding: schema.PaddingSAME, Activation: schema.ActivationFunctionTypeRELU})
	y = b.Conv2D(y, builder.Conv{OutChannels: 8, Kernel: 1, Padding: schema.PaddingSAME})
	x = b.Add("", x, y, schema.ActivationFunctionTypeNONE)
	x = b.Pad("", x, 1, 1, 1, 1)
	x = b.Pool("", x, true, 3, 1, schema.PaddingVALID)
	x = b.Conv2D(x, builder.Conv{OutChannels: 6, Kernel: 3, Stride: 2, Padding: schema.PaddingSAME})
	b.Output(x)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	base := rewrite.Options{Patches: "3x3", Split: 7, Bits: 4}
	res, err := rewrite.Optimize(context.Background(), m, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := precisionOf(res)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for name, mp := range spec.Maps {
		if i%2 == 1 {
			mp.Bits, mp.Max = 2, mp.Max/2
			spec.Maps[name] = mp
		}
		i++
	}
	// A vertical gradient with texture: the checked map's largest codes differ between tiles.
	input = make([]byte, 24*20*3)
	for j := range input {
		y := j / (20 * 3)
		input[j] = byte(int8(-110 + 8*y + (j*37)%9))
	}
	// Lower hi until some but not all tiles are outliers.
	for hi := 127; hi > -128; hi -= 8 {
		spec.Checked.Lo, spec.Checked.Hi = -128, hi
		res, err := rewrite.Optimize(context.Background(), m, rewrite.Options{Patches: "3x3", Split: 7, Precision: spec}, nil)
		if err != nil {
			t.Fatal(err)
		}
		plan, consts = stageOf(t, res.Model)
		if p, err = tfmicroops.Parse(plan); err != nil {
			t.Fatal(err)
		}
		want = make([]byte, p.FeatureMaps()[len(p.FeatureMaps())-1].Bytes())
		if st, err = p.Eval(input, consts, want, make([]byte, p.ScratchBytes())); err != nil {
			t.Fatal(err)
		}
		if st.OutlierTiles > 0 && st.OutlierTiles < st.Tiles {
			return plan, p, input, consts, want, st
		}
	}
	t.Fatal("no threshold gives tiles of both classes")
	return
}

// stageOf returns the QMCU_PATCH_STAGE plan of m and its constant inputs by op input index.
func stageOf(t testing.TB, m *schema.ModelT) ([]byte, [][]byte) {
	t.Helper()
	for _, op := range m.Subgraphs[0].Operators {
		if m.OperatorCodes[op.OpcodeIndex].CustomCode != "QMCU_PATCH_STAGE" {
			continue
		}
		root, err := flexbuffers.Root(op.CustomOptions)
		if err != nil {
			t.Fatal(err)
		}
		v, err := root.Get("plan")
		if err != nil {
			t.Fatal(err)
		}
		plan, err := v.Blob()
		if err != nil {
			t.Fatal(err)
		}
		consts := make([][]byte, len(op.Inputs))
		for i := 1; i < len(op.Inputs); i++ {
			consts[i] = m.Buffers[m.Subgraphs[0].Tensors[op.Inputs[i]].Buffer].Data
		}
		return plan, consts
	}
	t.Fatal("no QMCU_PATCH_STAGE operator")
	return nil, nil
}

// TestQEMUCortexM4PlanV2 runs a version-2 plan whose tiles take both branches on an emulated
// Cortex-M4: the output must equal the host's byte for byte.
func TestQEMUCortexM4PlanV2(t *testing.T) {
	gcc, qemu := tfmicroops.ArmTools(t)
	plan, p, input, consts, want, st := mixedStage(t)
	if p.Version() != 2 || p.Checked() == 0 {
		t.Fatalf("plan version %d, checked map %d: want a version-2 plan with a low branch", p.Version(), p.Checked())
	}
	t.Logf("%d of %d tiles are outlier tiles", st.OutlierTiles, st.Tiles)
	tfmicroops.RunPlanOnQEMU(t, gcc, qemu, plan, p, input, consts, want)
}

// precisionOf parses the precision spec a rewrite wrote.
func precisionOf(res *rewrite.Result) (*precision.Spec, error) {
	data, ok := res.Artifacts["precision.json"]
	if !ok {
		return nil, fmt.Errorf("no precision.json artifact")
	}
	return precision.Parse(data)
}

func FuzzParsePlan(f *testing.F) {
	for _, p := range tfmicroops.PlanSeeds(f) {
		f.Add(p)
	}
	// A version-2 plan with a low branch of 4- and 2-bit maps, written by the rewriter.
	v2, _, _, _, _, _ := mixedStage(f)
	f.Add(v2)
	// A plan that quantizes a float32 input (layer 0 QUANTIZE), written by the rewriter.
	fp, _, _ := floatInputStage(f, -5)
	f.Add(fp)
	f.Fuzz(func(t *testing.T, b []byte) { tfmicroops.TryPlan(t, b, 1<<20) })
}
