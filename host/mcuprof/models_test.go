package mcuprof

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/cost"
	"github.com/quantmcu/quantmcu/tflite"
)

// sharedModels are the four patchable shared models with one real input each.
var sharedModels = []struct{ model, input string }{
	{"person_detect.tflite", "person_96x96x1_int8.raw"},
	{"vww_96_int8.tflite", "vww96_person_crop_96x96x3_int8.raw"},
	{"pretrainedResnet_quant.tflite", "0_airplane_32x32x3_int8.raw"},
	{"mobilenet_v2_quantized_1x3x224x224.tflite", "mbv2pt_n01440764_tench_1x3x224x224_int8.raw"},
}

// TestSharedModelsOnCortexM4 runs each shared model's default patch stage on its real input on
// the emulated Cortex-M4, layer by layer: portable and DSP loops must both produce the host's
// stage output. It logs instructions and estimated cycles per layer and per patch MAC, and
// checks that rewrite/cost's estimate of the stage is within 15% of the histogram's, for the
// int8 stage and for the mixed one at --bits 4 (every tile low: uniform bits check nothing).
func TestSharedModelsOnCortexM4(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: the four shared models under the instruction-counting plugin")
	}
	tl, plugin := tools(t)
	for _, c := range sharedModels {
		for _, bits := range []int{0, 4} {
			t.Run(fmt.Sprintf("%s_bits%d", c.model, bits), func(t *testing.T) {
				sharedModelOnCortexM4(t, tl, plugin, c.model, c.input, bits)
			})
		}
	}
}

func sharedModelOnCortexM4(t *testing.T, tl Tools, plugin, model, input string, bits int) {
	s, res := realStageResult(t, model, input, rewrite.Options{Bits: bits})
	m, err := tl.Measure(context.Background(), plugin, t.TempDir(), s, Targets["cortex-m4"], Build{PerLayer: true})
	if err != nil {
		t.Fatal(err)
	}
	plan := s.Parsed()
	var macs int64
	for i, l := range res.layers {
		macs += l.PatchMACs
		t.Logf("layer %2d %-18s patch MACs %10d  portable %11d  dsp %11d insns (%.2f/MAC)  dsp %12.0f cycles",
			i, plan.Layers()[i].Kind, l.PatchMACs, m.Portable.Layers[i].Insns, m.Default.Layers[i].Insns,
			float64(m.Default.Layers[i].Insns)/float64(max(l.PatchMACs, 1)), m.Default.Layers[i].CyclesM4)
	}
	t.Logf("stage: %d patch MACs; portable %d insns (%.2f/MAC), %.0f cycles; dsp %d insns (%.2f/MAC), %.0f cycles",
		macs, m.Portable.Insns, float64(m.Portable.Insns)/float64(macs), m.Portable.CyclesM4,
		m.Default.Insns, float64(m.Default.Insns)/float64(macs), m.Default.CyclesM4)
	// The rewriter's estimate (rewrite/cost, no emulation) against the histogram's.
	est := 0.0
	for i, l := range res.layers {
		inBits, outBits := 8, 8
		if res.lowBranch {
			inBits, outBits = int(math.Round(l.InputBits)), l.ActivationBits
		}
		est += cost.Stage.Cycles(cost.FromStageLayer(l, res.overhead, i == 0 && res.transpose, inBits, outBits))
	}
	t.Logf("cycle model: %.0f estimated vs %.0f from the histogram (%+.1f%%)", est, m.Default.CyclesM4, 100*(est/m.Default.CyclesM4-1))
	if math.Abs(est/m.Default.CyclesM4-1) > 0.15 {
		t.Errorf("the cycle model is %.1f%% off the histogram estimate (more than 15%%)", 100*(est/m.Default.CyclesM4-1))
	}
}

// TestSharedModelLaterStagesOnCortexM4 runs every patch stage after the first of each shared
// model's default rewrite (multi-stage plans: later stages read whole tensors and use in-place
// window buffers) on its real input on the emulated Cortex-M4: portable and DSP loops must both
// produce the host's stage output.
func TestSharedModelLaterStagesOnCortexM4(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: the four shared models under the instruction-counting plugin")
	}
	tl, plugin := tools(t)
	for _, c := range sharedModels {
		t.Run(c.model, func(t *testing.T) {
			d := sharedData(t)
			m, err := tflite.Load(filepath.Join(d, "models", c.model))
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(filepath.Join(d, "inputs", c.input))
			if err != nil {
				t.Fatal(err)
			}
			res, err := rewrite.Optimize(context.Background(), m, rewrite.Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for n := 1; ; n++ {
				s, err := StageN(res.Model, in, n)
				if errors.Is(err, ErrNoStage) {
					t.Logf("%d stages", n)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				me, err := tl.Measure(context.Background(), plugin, t.TempDir(), s, Targets["cortex-m4"], Build{})
				if err != nil {
					t.Fatalf("stage %d: %v", n, err)
				}
				t.Logf("stage %d: portable %d, dsp %d instructions", n, me.Portable.Insns, me.Default.Insns)
			}
		})
	}
}
