package patch

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// An absurd weight scale (issue 10: a mutated pretrainedResnet_quant) is the model's fault:
// Plan refuses it naming the tensor, instead of failing later inside Rewrite.
func TestAbsurdScaleIsARefusalNamingTheTensor(t *testing.T) {
	m := loadModel(t, "pretrainedResnet_quant.tflite")
	sg := m.Subgraphs[0]
	w := sg.Tensors[sg.Operators[1].Inputs[1]]
	w.Quantization.Scale[0] *= 1e18
	_, err := Plan(m, Options{})
	if !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrNothingToPatch) {
		t.Fatalf("got %v, want a refusal", err)
	}
	for _, want := range []string{"operator 1 (CONV_2D)", "weights tensor", `"` + w.Name + `"`, "channel 0", "outside TFLite's fixed-point range"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	// A zero output scale of a residual ADD names the ADD's output.
	m = loadModel(t, "pretrainedResnet_quant.tflite")
	sg = m.Subgraphs[0]
	y := sg.Tensors[sg.Operators[3].Outputs[0]]
	y.Quantization.Scale[0] = 1e-30
	if _, err = Plan(m, Options{}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `output tensor`) ||
		!strings.Contains(err.Error(), `"`+y.Name+`"`) {
		t.Errorf("tiny ADD output scale: %v", err)
	}
}

func TestSplitOutOfRangeSaysTheRange(t *testing.T) {
	m := loadModel(t, "person_detect.tflite")
	s, err := DetectStage(m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Plan(m, Options{Split: 999})
	want := "split 999 is out of range (1.." + strconv.Itoa(len(s.Layers)) + ")"
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestNoTileablePrefixIsNothingToPatch(t *testing.T) {
	m := loadModel(t, "hello_world_int8.tflite")
	if _, err := Plan(m, Options{}); !errors.Is(err, ErrNothingToPatch) || !errors.Is(err, ErrUnsupported) {
		t.Errorf("hello_world: %v, want nothing to patch", err)
	}
	// An SVDF keyword spotter: int8, no spatial stage at all.
	m = loadModel(t, "negative/keyword_scrambled_8bit.tflite")
	if _, err := Plan(m, Options{}); !errors.Is(err, ErrNothingToPatch) {
		t.Errorf("keyword_scrambled_8bit: %v, want nothing to patch", err)
	}
	// Vela's output is not the model the rewriter is for: a refusal.
	m = loadModel(t, "negative/person_detect_vela.tflite")
	if _, err := Plan(m, Options{}); !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrNothingToPatch) {
		t.Errorf("Vela model: %v, want a refusal that is not 'nothing to patch'", err)
	}
}
