package tests

import (
	"context"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/interp"
)

// TestPatchStageMatchesTFLMGolden rewrites the real CNNs with the automatic choice and with
// forced 2x2, 3x3 (uneven tiles) and 4x4 grids, then runs every golden input through the
// rewritten model: the outputs must equal TFLM's outputs of the ORIGINAL model byte for byte
// (DESIGN.md §7: the 8-bit patch-based model is bit-exact). Each grid runs three ways: the
// int8 stage (plan v1); `--bits 8` (plan v2, every tile through the low branch, whose maps
// all keep their int8 quantization); and the int8-only spec the optimizer writes (plan v2,
// every tile an outlier tile).
func TestPatchStageMatchesTFLMGolden(t *testing.T) {
	_, cases := goldenCases(t)
	models := []string{"person_detect", "vww_96_int8", "pretrainedResnet_quant", "mobilenet_v2_quantized_1x3x224x224"}
	grids := []string{"auto", "2x2", "3x3", "4x4"}
	for _, name := range models {
		mine := casesOf(cases, name)
		if len(mine) == 0 {
			t.Errorf("%s: no golden cases", name)
			continue
		}
		m, err := tflite.Load(mine[0].model)
		if err != nil {
			t.Fatal(err)
		}
		for _, grid := range grids {
			for _, mode := range []string{"int8", "bits8", "all-outlier"} {
				t.Run(name+"/"+grid+"/"+mode, func(t *testing.T) {
					if testing.Short() && grid != "3x3" {
						t.Skip("-short: 3x3 only")
					}
					opts := rewrite.Options{Patches: grid}
					switch mode {
					case "bits8":
						opts.Bits = 8
					case "all-outlier":
						// The int8-only spec exists for a first stage with maps after its first
						// convolution: one stage leaves it all the layers.
						opts.MaxStages = 1
						res, err := rewrite.Optimize(context.Background(), m, opts, nil)
						if err != nil {
							t.Fatal(err)
						}
						if opts.Precision, err = precision.Parse(res.Artifacts["precision.json"]); err != nil {
							t.Fatal(err)
						}
						if opts.Precision.Checked.Lo <= opts.Precision.Checked.Hi {
							t.Fatalf("the int8-only spec has thresholds [%d, %d], want an empty range", opts.Precision.Checked.Lo, opts.Precision.Checked.Hi)
						}
					}
					res, err := rewrite.Optimize(context.Background(), m, opts, nil)
					if err != nil {
						t.Fatal(err)
					}
					data, err := tflite.Serialize(res.Model)
					if err != nil {
						t.Fatal(err)
					}
					rewritten, err := tflite.Parse(data, name+"_quantmcu.tflite")
					if err != nil {
						t.Fatal(err)
					}
					stages := len(res.Stage.Stages())
					if n := patchStageOps(rewritten); n != stages || n < 1 || len(rewritten.Subgraphs[0].Operators) >= len(m.Subgraphs[0].Operators) {
						t.Fatalf("rewritten model has %d QMCU_PATCH_STAGE ops (%d stages planned) and %d operators (original %d)", n, stages, len(rewritten.Subgraphs[0].Operators), len(m.Subgraphs[0].Operators))
					}
					it, err := interp.New(rewritten)
					if err != nil {
						t.Fatal(err)
					}
					checkGoldenOutputs(t, it, mine, nil, nil)
					// Every stage ran; the first carries the low branch, the later ones are int8.
					st := it.PatchStageStats()
					if len(st) != stages || st[0].Tiles == 0 {
						t.Fatalf("patch-stage stats %+v", st)
					}
					wantVersion, wantOutliers := 2, int64(0)
					switch mode {
					case "int8":
						wantVersion = 1
					case "all-outlier":
						wantOutliers = st[0].Tiles
					}
					if st[0].Version != wantVersion || st[0].LowBranch != (mode != "int8") || st[0].OutlierTiles != wantOutliers {
						t.Errorf("plan version %d, low branch %v, %d of %d tiles outliers; want version %d, %d outliers",
							st[0].Version, st[0].LowBranch, st[0].OutlierTiles, st[0].Tiles, wantVersion, wantOutliers)
					}
				})
			}
		}
	}
}
