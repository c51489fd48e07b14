package tfmicroops_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

// boundStage is the QMCU_PATCH_STAGE operator of a rewritten model, parsed and bound.
type boundStage struct {
	plan  *tfmicroops.Plan
	stage *tfmicroops.Stage
}

func patchStageOf(t *testing.T, m *schema.ModelT) boundStage {
	t.Helper()
	b, err := findStage(t, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// findStage parses and binds the stage of m (stageOf), reporting a plan the kernels refuse.
func findStage(t *testing.T, m *schema.ModelT) (boundStage, error) {
	plan, consts := stageOf(t, m)
	p, err := tfmicroops.Parse(plan)
	if err != nil {
		return boundStage{}, err
	}
	s, err := p.Bind(consts)
	if err != nil {
		return boundStage{}, err
	}
	return boundStage{p, s}, nil
}

// sameAsPortable runs the stage on random inputs with the host's fast loops (one worker and
// three) and with the portable ones (what the MCU runs), and fails unless outputs and tile
// counts are equal.
func sameAsPortable(t *testing.T, name string, b boundStage, rng *rand.Rand, inputs int) tfmicroops.Stats {
	t.Helper()
	fms := b.plan.FeatureMaps()
	in := make([]byte, fms[0].Bytes())
	n := fms[len(fms)-1].Bytes()
	fast, slow, par := make([]byte, n), make([]byte, n), make([]byte, n)
	scratch := make([][]byte, 3)
	for i := range scratch {
		scratch[i] = make([]byte, b.plan.ScratchBytes())
	}
	var total tfmicroops.Stats
	for i := range inputs {
		for j := range in {
			in[j] = byte(rng.Uint32())
		}
		sf, err := b.stage.Run(in, fast, scratch[:1])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ss, err := b.stage.RunPortable(in, slow, scratch[:1])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sp, err := b.stage.Run(in, par, scratch)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sf != ss || sp != ss {
			t.Fatalf("%s input %d: fast loops ran %+v tiles (three workers %+v), portable %+v", name, i, sf, sp, ss)
		}
		for _, got := range []struct {
			what string
			out  []byte
		}{{"fast loops", fast}, {"three workers", par}} {
			if at := firstDiff(got.out, slow); at >= 0 {
				t.Fatalf("%s input %d: %s differ from the portable loops at output byte %d of %d (%d vs %d)",
					name, i, got.what, at, n, int8(got.out[at]), int8(slow[at]))
			}
		}
		total.Tiles += sf.Tiles
		total.OutlierTiles += sf.OutlierTiles
	}
	return total
}

// firstDiff is the first index where a and b (equally long) differ, or -1.
func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// wideStack builds a random stack with the channel counts of real networks (multiples of 8
// and 16 and odd ones, up to 72), so that the vector loops and their tails all run.
func wideStack(seed uint64) (*schema.ModelT, int, error) {
	rng := rand.New(rand.NewPCG(seed, 3))
	b := builder.New(seed)
	chans := []int{3, 8, 13, 16, 24, 32, 40, 48, 72}
	x := b.Input("input", []int32{1, int32(12 + rng.IntN(14)), int32(12 + rng.IntN(14)), int32(chans[rng.IntN(5)])},
		builder.Quant{Scale: 0.02 + 0.03*rng.Float32(), ZeroPoint: int64(rng.IntN(60) - 30)})
	acts := []schema.ActivationFunctionType{schema.ActivationFunctionTypeNONE, schema.ActivationFunctionTypeRELU6}
	pads := []schema.Padding{schema.PaddingSAME, schema.PaddingVALID}
	ops := 0
	for range 3 + rng.IntN(4) {
		act, pad, k, s := acts[rng.IntN(2)], pads[rng.IntN(2)], []int{1, 3, 5}[rng.IntN(3)], 1+rng.IntN(2)
		if int(x.Shape[1]) < 2*k || int(x.Shape[2]) < 2*k {
			k = 1
		}
		if x.Shape[1] < 12 || x.Shape[2] < 12 {
			s = 1
		}
		switch rng.IntN(5) {
		case 0, 1:
			x = b.Conv2D(x, builder.Conv{OutChannels: chans[rng.IntN(len(chans))], Kernel: k, Stride: s, Padding: pad, Activation: act})
			ops++
		case 2:
			x = b.DepthwiseConv2D(x, builder.Conv{Kernel: k, Stride: s, Padding: pad, Activation: act})
			ops++
		case 3:
			x = b.Pad("", x, rng.IntN(2), 1, 1, rng.IntN(2))
			x = b.DepthwiseConv2D(x, builder.Conv{Kernel: 3, Stride: s, Padding: schema.PaddingVALID, Activation: act})
			ops += 2
		case 4:
			y := b.Conv2D(x, builder.Conv{OutChannels: 2 * int(x.Shape[3]), Kernel: 1, Activation: schema.ActivationFunctionTypeRELU6})
			y = b.DepthwiseConv2D(y, builder.Conv{Kernel: 3, Padding: schema.PaddingSAME, Activation: schema.ActivationFunctionTypeRELU6})
			y = b.Conv2D(y, builder.Conv{OutChannels: int(x.Shape[3]), Kernel: 1})
			x = b.Add("", x, y, act)
			ops += 4
		}
	}
	b.Output(x)
	m, err := b.Model()
	return m, ops, err
}

// optimize rewrites m with the stage covering its first split operators and reloads it.
func optimize(t *testing.T, m *schema.ModelT, opts rewrite.Options) (*schema.ModelT, *rewrite.Result) {
	t.Helper()
	res, err := rewrite.Optimize(context.Background(), m, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := tflite.Serialize(res.Model)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tflite.Parse(data, "rewritten")
	if err != nil {
		t.Fatal(err)
	}
	return out, res
}

// TestFastLoopsEqualPortable checks the host's vector loops against the portable C99 ones on
// random wide stacks, every grid up to 3x3, int8 plans and low branches with random bits per
// map (8/4/2) and random thresholds (tiles of both classes).
func TestFastLoopsEqualPortable(t *testing.T) {
	seeds := 24
	if testing.Short() {
		seeds = 6
	}
	var low, outliers int
	for seed := range uint64(seeds) {
		m, ops, err := wideStack(seed)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		// The rewriter folds PADs that SAME padding reproduces: the stage has that many layers
		// fewer.
		_, folds, _ := patch.FoldPads(m)
		ops -= len(folds)
		rng := rand.New(rand.NewPCG(seed, 5))
		out := m.Subgraphs[0].Tensors[m.Subgraphs[0].Outputs[0]].Shape
		for grid := 1; grid <= min(3, int(out[1])); grid++ {
			opts := rewrite.Options{Patches: fmt.Sprintf("%dx%d", grid, 1+rng.IntN(min(3, int(out[2])))), Split: ops}
			pm, _ := optimize(t, m, opts)
			name := fmt.Sprintf("seed %d grid %s", seed, opts.Patches)
			sameAsPortable(t, name+" int8", patchStageOf(t, pm), rng, 2)

			opts.Bits = 4
			_, res := optimize(t, m, opts)
			spec, err := precisionOf(res)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(spec.Maps) == 0 {
				continue // no map after the checked one
			}
			for n, mp := range spec.Maps {
				if mp.Bits == 8 {
					continue // pinned: feeds the stage output through PAD or pools only
				}
				mp.Bits = []int{8, 4, 2}[rng.IntN(3)]
				spec.Maps[n] = mp
			}
			spec.Checked.Lo, spec.Checked.Hi = -128, 127 // no outlier tile
			if rng.IntN(2) == 0 {
				spec.Checked.Lo, spec.Checked.Hi = -128+rng.IntN(120), 127-rng.IntN(120)
			}
			opts.Bits, opts.Precision = 0, spec
			pm, _ = optimize(t, m, opts)
			name += " mixed " + spec.Summary()
			b, err := findStage(t, pm)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			st := sameAsPortable(t, name, b, rng, 3)
			low += st.Tiles - st.OutlierTiles
			outliers += st.OutlierTiles
		}
	}
	if low == 0 || outliers == 0 {
		t.Errorf("the low-branch runs had %d low-bit and %d outlier tiles: both kinds should occur", low, outliers)
	}
}

// TestFastLoopsEqualPortableMobileNetV2 does the same on the stage of a real network.
func TestFastLoopsEqualPortableMobileNetV2(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "data", "models", "mobilenet_v2_quantized_1x3x224x224.tflite")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared test data absent: %v", err)
	}
	m, err := tflite.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, bits := range []int{0, 8, 4, 2} {
		pm, _ := optimize(t, m, rewrite.Options{Bits: bits})
		sameAsPortable(t, fmt.Sprintf("mobilenet_v2 bits=%d", bits), patchStageOf(t, pm), rng, 1)
	}
}
