package patch

import (
	"testing"

	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// floatInputCNN is a CNN with a float32 input of h x w x c and a leading QUANTIZE, its first
// convolution writing first channels at the given stride.
func floatInputCNN(t *testing.T, h, w, c, first, stride int) *schema.ModelT {
	t.Helper()
	b := builder.New(3)
	shape := []int32{1, int32(h), int32(w), int32(c)}
	xf := b.AddTensor(builder.TensorSpec{Name: "image", Type: schema.TensorTypeFLOAT32, Shape: shape})
	b.MarkInput(xf)
	xq := b.AddTensor(builder.TensorSpec{Name: "image_int8", Type: schema.TensorTypeINT8, Shape: shape, Scale: []float32{1.0 / 128}, ZeroPoint: []int64{-1}})
	b.AddOperator(schema.BuiltinOperatorQUANTIZE, []builder.Tensor{xf}, []builder.Tensor{xq}, nil)
	y := b.Conv2D(xq, builder.Conv{OutChannels: first, Kernel: 3, Stride: stride, Padding: schema.PaddingSAME, Activation: schema.ActivationFunctionTypeRELU})
	y = b.DepthwiseConv2D(y, builder.Conv{Kernel: 3, Padding: schema.PaddingSAME, Activation: schema.ActivationFunctionTypeRELU})
	y = b.Conv2D(y, builder.Conv{OutChannels: 16, Kernel: 1, Padding: schema.PaddingSAME})
	y = b.Pool("", y, true, 2, 2, schema.PaddingVALID)
	y = b.Conv2D(y, builder.Conv{OutChannels: 32, Kernel: 3, Stride: 2, Padding: schema.PaddingSAME, Activation: schema.ActivationFunctionTypeRELU})
	b.Output(y)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPlanFoldsQuantizeOrNot checks Plan's choice between folding the input QUANTIZE and
// keeping it outside: the detected stage folds it, and the plan Plan returns is never one the
// selection rule ranks below the other option's (on inputs where either option wins).
func TestPlanFoldsQuantizeOrNot(t *testing.T) {
	folded, kept := 0, 0
	for _, c := range []struct{ h, w, c, first, stride int }{{64, 64, 3, 8, 2}, {64, 64, 1, 4, 2}, {48, 40, 3, 32, 2}, {32, 32, 3, 16, 1}, {32, 32, 3, 32, 1}, {32, 32, 1, 16, 1}, {96, 96, 3, 16, 2}} {
		m := floatInputCNN(t, c.h, c.w, c.c, c.first, c.stride)
		s, err := DetectStage(m)
		if err != nil {
			t.Fatal(err)
		}
		if !s.FoldsQuantize() || s.Layers[0].Op != 0 || !s.FMs[0].Float || s.FMs[0].Bytes() != 4*int64(c.h*c.w*c.c) {
			t.Fatalf("%+v: the stage does not fold the QUANTIZE as a float layer 0", c)
		}
		got, err := Plan(m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		fold, err := planStages(m, Options{}, "")
		if err != nil {
			t.Fatal(err)
		}
		keep, err := planStages(m, Options{}, "kept")
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range []*StagePlan{fold, keep} {
			if lowers(other.choice, got.Report) && (!lowers(got.choice, got.Report) || preferred(got.choice, other.choice, Options{}, got.Report.MACsBefore)) {
				t.Errorf("%+v: Plan chose head %d B / whole %d B, the other option gives %d B / %d B", c,
					got.choice.ArenaBytes, got.choice.TotalBytes, other.choice.ArenaBytes, other.choice.TotalBytes)
			}
		}
		if got.Stage.FoldsQuantize() {
			folded++
		} else {
			kept++
		}
		t.Logf("%+v: fold head %d B, keep head %d B, chosen %d B (folds %v)", c, fold.choice.ArenaBytes, keep.choice.ArenaBytes, got.choice.ArenaBytes, got.Stage.FoldsQuantize())
	}
	t.Logf("%d folded, %d kept outside", folded, kept)
}
