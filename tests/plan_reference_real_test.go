package tests

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// TestPlanReferenceRealModels runs the Go reference against the C kernels on the four
// patchable real models (../shared/data), on their first golden input: `--bits 4`, then a
// random mixed spec whose thresholds split the tiles on that input. Real quantization
// parameters, per-channel weights, residual blocks and (mobilenet_v2) the NCHW input layout.
func TestPlanReferenceRealModels(t *testing.T) {
	_, cases := goldenCases(t)
	models := []string{"pretrainedResnet_quant", "person_detect", "vww_96_int8", "mobilenet_v2_quantized_1x3x224x224"}
	for mi, name := range models {
		t.Run(name, func(t *testing.T) {
			if testing.Short() && mi > 0 {
				t.Skip("-short: pretrainedResnet_quant only")
			}
			c := firstGoldenCase(t, cases, name)
			m, err := tflite.Load(c.model)
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(c.input)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := interp.New(m)
			if err != nil {
				t.Fatal(err)
			}
			want, err := tensorsByName(orig, in)
			if err != nil {
				t.Fatal(err)
			}
			res4, pm4, err := rewriteAndLoad(m, rewrite.Options{Patches: "auto", Bits: 4})
			if err != nil {
				t.Fatal(err)
			}
			ps4, err := checkRealStage(t, pm4, in, "--bits 4", nil)
			if err != nil {
				t.Fatal(err)
			}
			base, err := precision.Parse(res4.Artifacts["precision.json"])
			if err != nil {
				t.Fatal(err)
			}
			mins, maxs, ok := tileCodeExtremes(ps4.plan, want[base.Checked.Tensor])
			rng := rand.New(rand.NewPCG(uint64(mi), 77))
			spec := &precision.Spec{Format: base.Format, Version: base.Version, Checked: base.Checked, Maps: map[string]precision.Map{}}
			spec.Checked.OutlierRate = nil
			for _, n := range base.Names() {
				mp := base.Maps[n]
				if mp.Bits == 4 { // free to take any bitwidth; the others are pinned at 8
					mp.Bits = []int{8, 4, 2}[rng.IntN(3)]
					mp.Min, mp.Max = randomRange(rng, mp.Min, mp.Max)
				}
				spec.Maps[n] = mp
			}
			for range 10 { // thresholds that split the tiles, if this input allows it
				lo, hi := chooseThresholds(rng, mins, maxs, ok)
				spec.Checked.Lo, spec.Checked.Hi = int(lo), int(hi)
				if n := predictedOutliers(spec, mins, maxs, ok); n > 0 && n < len(ok) {
					break
				}
			}
			_, pm, err := rewriteAndLoad(m, rewrite.Options{Patches: "auto", Precision: spec})
			if err != nil {
				t.Fatal(err)
			}
			js, _ := spec.Marshal()
			if _, err := checkRealStage(t, pm, in, "mixed spec", js); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// predictedOutliers counts the tiles the thresholds of spec make outlier tiles, from the
// tiles' extreme codes of the checked map.
func predictedOutliers(spec *precision.Spec, mins, maxs []int32, ok []bool) int {
	n := 0
	for t := range ok {
		if spec.Checked.Lo > spec.Checked.Hi || ok[t] && (mins[t] < int32(spec.Checked.Lo) || maxs[t] > int32(spec.Checked.Hi)) {
			n++
		}
	}
	return n
}

// checkRealStage compares the C with the reference on one rewritten real model and input,
// outlier-tile counts included; errors name the spec (js) when there is one.
func checkRealStage(t *testing.T, pm *schema.ModelT, in []byte, label string, js []byte) (*patchStage, error) {
	t.Helper()
	what := label
	if js != nil {
		what = fmt.Sprintf("%s %s", label, js)
	}
	ps, err := findPatchStage(pm)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	it, err := interp.New(pm)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ref, err := compareStage(it, ps, in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if got := it.PatchStageStats()[0].OutlierTiles; got != int64(ref.OutlierTiles()) {
		return nil, fmt.Errorf("%s: the C counted %d outlier tiles, the reference %d", what, got, ref.OutlierTiles())
	}
	// Later stages (int8 only) equal the reference too.
	all, err := findPatchStages(pm)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	for _, later := range all[1:] {
		if _, err := compareStage(it, later, in); err != nil {
			return nil, fmt.Errorf("%s: stage at operator %d: %w", what, later.op, err)
		}
	}
	t.Logf("%s: %d tiles, %d outlier tiles, %d feature maps, input layout %s: C = reference", label, len(ref.Outlier), ref.OutlierTiles(), len(ps.plan.Maps), []string{"NHWC", "NCHW"}[ps.plan.Layout])
	return ps, nil
}
