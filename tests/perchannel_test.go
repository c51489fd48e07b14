package tests

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// firstGoldenCase is the first golden case of model name (e.g. "person_detect").
func firstGoldenCase(t *testing.T, cases []goldenCase, name string) *goldenCase {
	t.Helper()
	for i := range cases {
		if filepath.Base(cases[i].model) == name+".tflite" {
			return &cases[i]
		}
	}
	t.Fatalf("%s: no golden case", name)
	return nil
}

// fmByName is the index of the stage map called name.
func fmByName(sp *patch.StagePlan, name string) int {
	for f, fm := range sp.FMs {
		if fm.Name == name {
			return f
		}
	}
	return -1
}

// runModel returns output 0 of m on input.
func runModel(m *schema.ModelT, input []byte) ([]byte, error) {
	it, err := interp.New(m)
	if err != nil {
		return nil, err
	}
	outs, err := it.Invoke(input)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// TestPerChannelLowBitsMatchReference gives every map of the real models that qualifies
// per-channel low-bit scales (folded into multipliers, and into a low-branch weight copy for
// pointwise readers) and checks the C kernels against the Go reference on a real input: the
// plan format is unchanged, so the reference needs no knowledge of per-channel maps.
func TestPerChannelLowBitsMatchReference(t *testing.T) {
	_, cases := goldenCases(t)
	for mi, name := range []string{"mobilenet_v2_quantized_1x3x224x224", "vww_96_int8", "person_detect"} {
		t.Run(name, func(t *testing.T) {
			c := firstGoldenCase(t, cases, name)
			m, err := tflite.Load(c.model)
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(c.input)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := patch.Plan(m, patch.Options{})
			if err != nil {
				t.Fatal(err)
			}
			spec, err := sp.UniformSpec(4)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(mi), 5))
			perChannel := 0
			for _, f := range sp.FreeMaps(sp.DefaultChecked()) {
				if sp.PerChannelOK(f) != nil {
					continue
				}
				fm := sp.FMs[f]
				top := math.Min(float64(fm.Scale)*float64(127-fm.ZeroPoint), sp.ActivationBound(f))
				mp := precision.Map{Bits: []int{4, 2}[rng.IntN(2)], ChannelMax: make([]float64, fm.C)}
				for ch := range mp.ChannelMax {
					mp.ChannelMax[ch] = top * (0.2 + 0.8*rng.Float64())
					mp.Max = math.Max(mp.Max, mp.ChannelMax[ch])
				}
				spec.Maps[fm.Name] = mp
				perChannel++
			}
			if perChannel == 0 {
				t.Skipf("%s: no map qualifies for per-channel scales", name)
			}
			_, pm, err := rewriteAndLoad(m, rewrite.Options{Precision: spec})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := checkRealStage(t, pm, in, "per-channel spec", nil); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d maps with per-channel scales", perChannel)

			// The same maps at 8 bits covering [0, their int8 maximum], once per tensor and once
			// per channel (all channels alike): the folding (multipliers, weight copy, rescaled
			// biases) must give what the per-tensor format gives, and both must stay close to the
			// int8 model.
			perTensor := &precision.Spec{Format: spec.Format, Version: spec.Version, Checked: spec.Checked, Maps: map[string]precision.Map{}}
			for n, mp := range spec.Maps {
				if mp.ChannelMax != nil {
					fm := sp.FMs[fmByName(sp, n)]
					top := math.Min(float64(fm.Scale)*float64(127-fm.ZeroPoint), sp.ActivationBound(fmByName(sp, n)))
					mp = precision.Map{Bits: 8, Max: top, ChannelMax: make([]float64, fm.C)}
					for ch := range mp.ChannelMax {
						mp.ChannelMax[ch] = top
					}
					spec.Maps[n] = mp
					perTensor.Maps[n] = precision.Map{Bits: 8, Max: top}
				} else {
					mp.Bits = 8 // its int8 range: the int8 map itself
					spec.Maps[n] = mp
					perTensor.Maps[n] = mp
				}
			}
			want, err := runModel(m, in)
			if err != nil {
				t.Fatal(err)
			}
			var outs [2][]byte
			for i, s := range []*precision.Spec{perTensor, spec} {
				_, pm8, err := rewriteAndLoad(m, rewrite.Options{Precision: s})
				if err != nil {
					t.Fatal(err)
				}
				if outs[i], err = runModel(pm8, in); err != nil {
					t.Fatal(err)
				}
			}
			delta := func(a, b []byte) float64 {
				var sum float64
				for i := range a {
					sum += math.Abs(float64(int8(a[i])) - float64(int8(b[i])))
				}
				return sum / float64(len(a))
			}
			if d := delta(outs[0], outs[1]); d > 0.5 {
				t.Errorf("per-channel (uniform) vs per-tensor 8-bit maps: mean |output delta| %.3f codes", d)
			}
			if d := delta(outs[1], want); d > 4 {
				t.Errorf("8-bit per-channel maps move the output by %.2f codes on average", d)
			} else {
				t.Logf("8-bit maps on [0, max]: mean |output delta| vs int8 %.3f codes (per tensor %.3f)", d, delta(outs[0], want))
			}
		})
	}
}
