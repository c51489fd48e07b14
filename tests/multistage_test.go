package tests

import (
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// TestMultiStageMatchesTFLMGolden rewrites the real CNNs with several patch stages (the
// automatic joint choice, and at most two stages) and runs every golden input through the
// rewritten model: the outputs must equal TFLM's outputs of the ORIGINAL model and our
// interpreter's outputs of the original model byte for byte, every stage's op must run, and
// the planner's arena prediction must equal the analysis of the model it wrote.
func TestMultiStageMatchesTFLMGolden(t *testing.T) {
	_, cases := goldenCases(t)
	type run struct {
		model string
		opts  rewrite.Options
		min   int // stages the rewrite must have at least
	}
	runs := []run{
		// The automatic choice: with in-place window buffers the first stage's scratch is
		// small enough that two stages give the smallest whole arena (three did before).
		{"mobilenet_v2_quantized_1x3x224x224", rewrite.Options{}, 2},
		{"mobilenet_v2_quantized_1x3x224x224", rewrite.Options{MaxStages: 2}, 2},
		{"mobilenet_v2_quantized_1x3x224x224", rewrite.Options{Split: 18, Patches: "6x6"}, 2},
		{"pretrainedResnet_quant", rewrite.Options{}, 2},
		{"person_detect", rewrite.Options{Patches: "8x8"}, 2},
	}
	for _, r := range runs {
		mine := casesOf(cases, r.model)
		if len(mine) == 0 {
			t.Errorf("%s: no golden cases", r.model)
			continue
		}
		t.Run(r.model, func(t *testing.T) {
			res, pm, err := rewriteAndLoad(mustLoad(t, mine[0].model), r.opts)
			if err != nil {
				t.Fatal(err)
			}
			stages := res.Stage.Stages()
			if len(stages) < r.min || (r.opts.MaxStages > 0 && len(stages) > r.opts.MaxStages) {
				t.Fatalf("options %+v: %d stages, want at least %d (at most %d)", r.opts, len(stages), r.min, r.opts.MaxStages)
			}
			if n := patchStageOps(pm); n != len(stages) {
				t.Fatalf("%d QMCU_PATCH_STAGE ops for %d stages", n, len(stages))
			}
			for i := 1; i < len(stages); i++ {
				if stages[i].FirstOp <= stages[i-1].LastOp {
					t.Fatalf("stages %d and %d overlap: %+v", i-1, i, stages)
				}
			}
			a, err := analysis.AnalyzeWith(pm, analysis.Options{Custom: patch.DescribeCustomOpFor(analysis.TargetCortexM)})
			if err != nil {
				t.Fatal(err)
			}
			if a.ArenaBytes != res.Stage.ArenaAfter || a.TotalBytes != res.Stage.TotalAfter {
				t.Errorf("predicted %d B head, %d B whole; the written model analyses to %d B, %d B", res.Stage.ArenaAfter, res.Stage.TotalAfter, a.ArenaBytes, a.TotalBytes)
			}
			it, err := interp.New(pm)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := interp.New(mustLoad(t, mine[0].model))
			if err != nil {
				t.Fatal(err)
			}
			checkGoldenOutputs(t, it, mine, nil, orig)
			for i, st := range it.PatchStageStats() {
				if st.Tiles != int64(len(mine))*int64(stages[i].Rows*stages[i].Cols) {
					t.Errorf("stage %d ran %d tiles over %d inputs, grid %dx%d", i, st.Tiles, len(mine), stages[i].Rows, stages[i].Cols)
				}
			}
			t.Logf("%+v: %d stages, head %d -> %d B (%.2fx), MACs %+.1f%%", r.opts, len(stages), res.Stage.ArenaBefore, res.Stage.ArenaAfter,
				float64(res.Stage.ArenaBefore)/float64(res.Stage.ArenaAfter), 100*res.Stage.NetworkOverhead)
		})
	}
}

// casesOf returns the golden cases of model name.
func casesOf(cases []goldenCase, name string) []goldenCase {
	var mine []goldenCase
	for _, c := range cases {
		if filepath.Base(c.model) == name+".tflite" {
			mine = append(mine, c)
		}
	}
	return mine
}

// mustLoad loads a model or fails the test.
func mustLoad(t *testing.T, path string) *schema.ModelT {
	t.Helper()
	m, err := tflite.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
