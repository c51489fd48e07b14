package patch

import (
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// TestFoldPadsMobileNetV2 folds the PyTorch export's PADs: each stride-1 depthwise
// convolution's (1,1,1,1) PAD goes (the convolution pads SAME and reads the PAD's input); the
// PADs before stride-2 convolutions stay, since SAME pads (0,1) there. The original is not
// modified. Bit-exactness of the folded model is checked end to end by
// tests/TestPatchStageMatchesTFLMGolden.
func TestFoldPadsMobileNetV2(t *testing.T) {
	m := loadModel(t, "mobilenet_v2_quantized_1x3x224x224.tflite")
	nOps, nTensors := len(m.Subgraphs[0].Operators), len(m.Subgraphs[0].Tensors)
	out, folds, index := FoldPads(m)
	if len(folds) == 0 || len(out.Subgraphs[0].Operators) != nOps-len(folds) || len(index) != nOps-len(folds) {
		t.Fatalf("%d folds, %d operators of %d", len(folds), len(out.Subgraphs[0].Operators), nOps)
	}
	if len(m.Subgraphs[0].Operators) != nOps || len(m.Subgraphs[0].Tensors) != nTensors {
		t.Fatal("FoldPads modified its input")
	}
	// Each fold drops one PAD output and its paddings tensor (shared paddings stay).
	if got := len(out.Subgraphs[0].Tensors); got >= nTensors-len(folds) || got < nTensors-2*len(folds) {
		t.Errorf("%d tensors left of %d after %d folds", got, nTensors, len(folds))
	}
	code := func(mm *schema.ModelT, op *schema.OperatorT) schema.BuiltinOperator {
		return tflite.BuiltinCode(mm.OperatorCodes[op.OpcodeIndex])
	}
	folded := map[int]bool{}
	for _, f := range folds {
		folded[f.Pad] = true
		if code(m, m.Subgraphs[0].Operators[f.Pad]) != schema.BuiltinOperatorPAD {
			t.Errorf("operator %d is not a PAD", f.Pad)
		}
	}
	pads := 0
	for oi, op := range m.Subgraphs[0].Operators {
		if code(m, op) == schema.BuiltinOperatorPAD && !folded[oi] {
			pads++
		}
	}
	if pads == 0 {
		t.Error("every PAD folded: the stride-2 ones must stay")
	}
	for ni, op := range out.Subgraphs[0].Operators {
		orig := m.Subgraphs[0].Operators[index[ni]]
		if code(out, op) != code(m, orig) {
			t.Fatalf("operator %d: %v, was %v", ni, code(out, op), code(m, orig))
		}
		if o, ok := op.BuiltinOptions.Value.(*schema.DepthwiseConv2DOptionsT); ok && o.Padding == schema.PaddingSAME {
			x := out.Subgraphs[0].Tensors[op.Inputs[0]]
			y := out.Subgraphs[0].Tensors[op.Outputs[0]]
			if o.StrideH != 1 || x.Shape[1] != y.Shape[1] || x.Shape[2] != y.Shape[2] {
				t.Errorf("operator %d: SAME depthwise %v -> %v at stride %d", ni, x.Shape, y.Shape, o.StrideH)
			}
		}
	}
	if err := tflite.Validate(out); err != nil {
		t.Fatal(err)
	}
	// A model without PADs comes back as it is.
	pd := loadModel(t, "person_detect.tflite")
	if same, f, _ := FoldPads(pd); same != pd || len(f) != 0 {
		t.Errorf("person_detect: %d folds", len(f))
	}
}
