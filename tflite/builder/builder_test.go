package builder_test

import (
	"bytes"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

func TestDemoModelIsDeterministicAndLoads(t *testing.T) {
	m1, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	m2, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	b1, err := tflite.Serialize(m1)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := tflite.Serialize(m2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatal("two builds of the demo model differ")
	}
	m, err := tflite.Parse(b1, "demo")
	if err != nil {
		t.Fatalf("demo model does not load: %v", err)
	}
	counts := map[string]int{}
	for _, op := range m.Subgraphs[0].Operators {
		counts[tflite.OpName(m.OperatorCodes[op.OpcodeIndex])]++
	}
	// MobileNetV2: stem + 17 blocks (16 with expansion, each with a projection) + head conv,
	// 17 depthwise, 10 residual adds (the n-1 repeats per stage: 1+2+3+2+2), as in the
	// torchvision model's 35 CONV_2D / 17 DEPTHWISE_CONV_2D / 10 ADD.
	want := map[string]int{"CONV_2D": 1 + 16 + 17 + 1, "DEPTHWISE_CONV_2D": 17, "ADD": 10, "MEAN": 1,
		"RESHAPE": 1, "FULLY_CONNECTED": 1, "SOFTMAX": 1}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%s: got %d operators, want %d (all: %v)", k, counts[k], v, counts)
		}
	}
	in := m.Subgraphs[0].Tensors[m.Subgraphs[0].Inputs[0]]
	if tflite.FormatShape(in.Shape) != "[1,128,128,3]" || in.Type != schema.TensorTypeINT8 {
		t.Errorf("input %s %s", tflite.FormatShape(in.Shape), tflite.TypeName(in.Type))
	}
}

func TestOutputSizeMatchesTFLiteRules(t *testing.T) {
	cases := []struct {
		in, k, s, d int
		pad         schema.Padding
		want        int
	}{
		{224, 3, 2, 1, schema.PaddingSAME, 112},
		{225, 3, 2, 1, schema.PaddingSAME, 113},
		{224, 3, 2, 1, schema.PaddingVALID, 111},
		{7, 7, 1, 1, schema.PaddingVALID, 1},
		{10, 3, 1, 2, schema.PaddingVALID, 6},
		{2, 3, 1, 1, schema.PaddingVALID, 0},
	}
	for _, c := range cases {
		if got := builder.OutputSize(c.in, c.k, c.s, c.d, c.pad); got != c.want {
			t.Errorf("OutputSize(%d,k%d,s%d,d%d,%v) = %d, want %d", c.in, c.k, c.s, c.d, c.pad, got, c.want)
		}
	}
}

func TestBuilderRejectsBadGeometry(t *testing.T) {
	b := builder.New(1)
	x := b.Input("x", []int32{1, 4, 4, 3}, builder.Quant{Scale: 0.1})
	b.Conv2D(x, builder.Conv{OutChannels: 8, Kernel: 7, Padding: schema.PaddingVALID})
	if _, err := b.Model(); err == nil {
		t.Fatal("a 7x7 VALID convolution on a 4x4 input was accepted")
	}
}
