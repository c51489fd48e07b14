package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/tests/internal/planref"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// v2Counts tallies what TestPlanReferenceV2 covered.
type v2Counts struct {
	stacks, plans, runs, mixedRuns, allOutlier, noOutlier, perChannel, weightCopies int
	bits                                                                            map[int]int
	lowRuns                                                                         map[planref.KindBits]int
	stacksMixed                                                                     map[uint64]bool
}

// TestPlanReferenceV2 is issue 8's check of the low-bit arithmetic: on >= 40 random stacks
// (8 under -short) with at least one map free to take a low bitwidth, for every grid up to
// 4x4 and random precision specs (bits 8/4/2 per map, ranges shrunk and shifted, with or
// without 0, thresholds chosen so that both tile classes occur), the C kernels (through the
// interpreter) and the Go reference compute the same stage output byte for byte and the
// same outlier tiles; the tile classes are also predicted from the per-layer checked map.
// `--bits 8` must equal per-layer execution of the original model.
func TestPlanReferenceV2(t *testing.T) {
	want := 40
	if testing.Short() {
		want = 8
	}
	cnt := v2Counts{bits: map[int]int{}, lowRuns: map[planref.KindBits]int{}, stacksMixed: map[uint64]bool{}}
	// After the first `want` stacks, more are taken, only where a max pool sits in the
	// stack, until every layer kind has run in the low branch on 8-, 4- and 2-bit input
	// (not under -short).
	more := func() bool { return !testing.Short() && len(uncovered(cnt.lowRuns)) > 0 }
	for seed := uint64(0); cnt.stacks < want || more(); seed++ {
		if seed > 400 {
			t.Fatalf("400 random stacks: %d with a map free for low bits; never ran in the low branch: %v", cnt.stacks, uncovered(cnt.lowRuns))
		}
		m, layers, desc := randomStack(seed)
		if m == nil {
			t.Fatalf("seed %d: builder: %s", seed, desc)
		}
		if cnt.stacks >= want && !strings.Contains(desc, "pool(avg=false") {
			continue
		}
		res4, err := rewrite.Optimize(context.Background(), m, rewrite.Options{Patches: "1x1", Split: layers, Bits: 4}, nil)
		if errors.Is(err, rewrite.ErrUnsupported) {
			continue // no layer after the first convolution: no low branch possible
		} else if err != nil {
			t.Fatalf("seed %d (%s): --bits 4: %v", seed, desc, err)
		}
		spec4, err := precision.Parse(res4.Artifacts["precision.json"])
		if err != nil {
			t.Fatalf("seed %d: --bits 4 wrote a spec that does not parse: %v", seed, err)
		}
		var free []string // maps that may take 4 or 2 bits (others feed the output through PAD/pools)
		for _, name := range spec4.Names() {
			if spec4.Maps[name].Bits == 4 {
				free = append(free, name)
			}
		}
		if len(free) == 0 {
			continue
		}
		perChannel := perChannelMaps(m, layers, spec4, free)
		cnt.stacks++
		orig, err := interp.New(m, interp.WithThreads(1))
		if err != nil {
			t.Fatalf("seed %d (%s): %v", seed, desc, err)
		}
		rng := rand.New(rand.NewPCG(seed, 8))
		// Two inputs with a busy region on a quiet background (the tiles over it hold the
		// extreme codes, so thresholds can split the tiles), then one uniform noise input.
		inputs := [][]byte{blobInput(rng, orig.Inputs()[0]), blobInput(rng, orig.Inputs()[0]), randomInputs(orig, seed, 1)[0]}
		wants := make([]map[string][]byte, len(inputs))
		for i, in := range inputs {
			if wants[i], err = tensorsByName(orig, in); err != nil {
				t.Fatal(err)
			}
		}
		for _, grid := range gridsUpTo4x4(orig.Outputs()[0].Shape) {
			if checkV2Grid(t, &cnt, rng, seed, desc, m, layers, grid, free, perChannel, inputs, wants) {
				cnt.stacksMixed[seed] = true
			}
		}
	}
	t.Logf("%d stacks (%d with a run holding both tile classes), %d plans, %d runs: %d with both tile classes, %d all outlier, %d no outlier; low maps by bits %v, %d with per-channel ranges",
		cnt.stacks, len(cnt.stacksMixed), cnt.plans, cnt.runs, cnt.mixedRuns, cnt.allOutlier, cnt.noOutlier, cnt.bits, cnt.perChannel)
	t.Logf("%d low-branch records read a low-branch weight copy", cnt.weightCopies)
	if cnt.perChannel == 0 || cnt.weightCopies == 0 {
		t.Errorf("%d maps took per-channel low-bit ranges, %d low records read a weight copy; want both > 0", cnt.perChannel, cnt.weightCopies)
	}
	t.Logf("low-branch layer windows by kind/input bits: %v", cnt.lowRuns)
	// Where every tile's window of the checked map spans the whole map (large halos), no
	// threshold can split the tiles; most stacks must still mix the classes in some run.
	if 2*len(cnt.stacksMixed) < cnt.stacks || cnt.mixedRuns < cnt.stacks {
		t.Errorf("only %d of %d stacks and %d runs had both tile classes in one run", len(cnt.stacksMixed), cnt.stacks, cnt.mixedRuns)
	}
}

// perChannelMaps returns, for the free maps that accept per-channel low-bit ranges (maps
// written by a convolution with RELU/RELU6 whose readers can absorb per-channel scales), their
// channel counts. It asks the rewriter, one map at a time.
func perChannelMaps(m *schema.ModelT, layers int, spec4 *precision.Spec, free []string) map[string]int {
	channels := map[string]int{}
	for _, tn := range m.Subgraphs[0].Tensors {
		if len(tn.Shape) == 4 {
			channels[tn.Name] = int(tn.Shape[3])
		}
	}
	out := map[string]int{}
	for _, name := range free {
		spec := *spec4
		spec.Maps = map[string]precision.Map{}
		for n, mp := range spec4.Maps {
			spec.Maps[n] = mp
		}
		mp := spec.Maps[name]
		if mp.Max <= 0 || channels[name] == 0 {
			continue
		}
		mp.Min, mp.ChannelMax = 0, nil
		for range channels[name] {
			mp.ChannelMax = append(mp.ChannelMax, mp.Max)
		}
		spec.Maps[name] = mp
		if _, err := rewrite.Optimize(context.Background(), m, rewrite.Options{Patches: "1x1", Split: layers, Precision: &spec}, nil); err == nil {
			out[name] = channels[name]
		}
	}
	return out
}

// uncovered lists the (layer kind, input bits) pairs the low branch has not run yet.
func uncovered(runs map[planref.KindBits]int) []planref.KindBits {
	var missing []planref.KindBits
	for kind := int32(1); kind <= 6; kind++ { // PLAN.md layer kinds: CONV_2D .. AVERAGE_POOL_2D
		for _, bits := range []int32{8, 4, 2} {
			if kb := (planref.KindBits{Kind: kind, Bits: bits}); runs[kb] == 0 {
				missing = append(missing, kb)
			}
		}
	}
	return missing
}

// checkV2Grid runs one (stack, grid): `--bits 8` against per-layer execution, then two
// random specs and an all-outlier one against the reference. It reports whether a run held both tile classes.
func checkV2Grid(t *testing.T, cnt *v2Counts, rng *rand.Rand, seed uint64, desc string, m *schema.ModelT, layers int,
	grid string, free []string, perChannel map[string]int, inputs [][]byte, wants []map[string][]byte) bool {
	t.Helper()
	where := fmt.Sprintf("seed %d (%s) grid %s", seed, desc, grid)
	res8, pm8, err := rewriteAndLoad(m, rewrite.Options{Patches: grid, Split: layers, Bits: 8})
	if err != nil {
		t.Fatalf("%s: --bits 8: %v", where, err)
	}
	base, err := precision.Parse(res8.Artifacts["precision.json"])
	if err != nil {
		t.Fatalf("%s: --bits 8 wrote a spec that does not parse: %v", where, err)
	}
	ps8, err := findPatchStage(pm8)
	if err != nil {
		t.Fatalf("%s: --bits 8: %v", where, err)
	}
	if ps8.version != 2 || ps8.plan.Checked == 0 {
		t.Fatalf("%s: --bits 8 wrote plan version %d with checked map %d, want a version-2 low branch", where, ps8.version, ps8.plan.Checked)
	}
	it8, err := interp.New(pm8, interp.WithThreads(1))
	if err != nil {
		t.Fatalf("%s: --bits 8: %v", where, err)
	}
	for i, in := range inputs {
		ref, err := compareStage(it8, ps8, in)
		if err != nil {
			t.Fatalf("%s --bits 8 input %d: %v", where, i, err)
		}
		if !bytes.Equal(ref.Output, wants[i][ps8.out]) || ref.OutlierTiles() != 0 {
			t.Errorf("%s --bits 8 input %d: %d outlier tiles, output equal to per-layer: %v; want 0 and true", where, i,
				ref.OutlierTiles(), bytes.Equal(ref.Output, wants[i][ps8.out]))
		}
	}
	checkedFull := wants[0][base.Checked.Tensor]
	if checkedFull == nil {
		t.Fatalf("%s: checked tensor %q not found in the original model", where, base.Checked.Tensor)
	}
	mins, maxs, ok := tileCodeExtremes(ps8.plan, checkedFull)
	mixed := false
	for trial := range 3 {
		spec := &precision.Spec{Format: base.Format, Version: base.Version, Checked: base.Checked, Maps: map[string]precision.Map{}}
		spec.Checked.OutlierRate = nil
		for name, mp := range base.Maps {
			spec.Maps[name] = mp // pinned maps keep 8 bits and their int8 range
		}
		for _, name := range free {
			bits := []int{8, 4, 2}[rng.IntN(3)]
			mp := precision.Map{Bits: bits}
			if c := perChannel[name]; c > 0 && rng.IntN(2) == 0 {
				// Per-channel low-bit ranges [0, channel_max[c]], each a random part of the
				// map's int8 maximum.
				for range c {
					v := base.Maps[name].Max * (0.1 + 0.9*rng.Float64())
					mp.ChannelMax = append(mp.ChannelMax, v)
					mp.Max = max(mp.Max, v)
				}
				cnt.perChannel++
			} else {
				mp.Min, mp.Max = randomRange(rng, base.Maps[name].Min, base.Maps[name].Max)
			}
			spec.Maps[name] = mp
			cnt.bits[bits]++
		}
		lo, hi := chooseThresholds(rng, mins, maxs, ok)
		if trial == 2 {
			lo, hi = 127, -128 // the all-outlier spec: must equal the int8 model, low formats or not
		}
		spec.Checked.Lo, spec.Checked.Hi = int(lo), int(hi)
		if checkV2Spec(t, cnt, where, m, layers, grid, spec, inputs, wants, mins, maxs, ok) {
			mixed = true
		}
	}
	return mixed
}

// checkV2Spec rewrites with one spec and compares the C with the reference on every input.
// It reports whether a run held both tile classes.
func checkV2Spec(t *testing.T, cnt *v2Counts, where string, m *schema.ModelT, layers int, grid string,
	spec *precision.Spec, inputs [][]byte, wants []map[string][]byte, mins, maxs []int32, ok []bool) bool {
	t.Helper()
	js, _ := spec.Marshal()
	_, pm, err := rewriteAndLoad(m, rewrite.Options{Patches: grid, Split: layers, Precision: spec})
	if err != nil {
		t.Errorf("%s: rewrite: %v\nspec %s", where, err, js)
		return false
	}
	cnt.plans++
	threads := 1 + cnt.plans%2 // every other plan through the C's worker threads
	it, err := interp.New(pm, interp.WithThreads(threads))
	if err != nil {
		t.Errorf("%s: the rewritten model does not load: %v\nspec %s", where, err, js)
		return false
	}
	ps, err := findPatchStage(pm)
	if err != nil {
		t.Errorf("%s: %v\nspec %s", where, err, js)
		return false
	}
	for i, low := range ps.plan.LowLayers {
		if low.Weights != ps.plan.Layers[ps.plan.Checked+i].Weights {
			cnt.weightCopies++ // a low-branch weight copy (PLAN.md word 17)
		}
	}
	if touched := ps.plan.LowTouchedBytes(); ps.plan.LowBytes < touched {
		t.Errorf("%s: header word 11 says the low branch touches %d scratch bytes, its windows reach %d", where, ps.plan.LowBytes, touched)
	}
	var before int64
	mixed := false
	for i, in := range inputs {
		ref, err := compareStage(it, ps, in)
		if err != nil {
			t.Errorf("%s input %d threads %d: %v\nspec %s", where, i, threads, err, js)
			return false
		}
		stats := it.PatchStageStats()
		if len(stats) != 1 {
			t.Fatalf("%s: %d patch-stage stats, want 1", where, len(stats))
		}
		got := stats[0].OutlierTiles - before
		before = stats[0].OutlierTiles
		n := ref.OutlierTiles()
		if got != int64(n) {
			t.Errorf("%s input %d: the C counted %d outlier tiles, the reference %d (%v; lo %d, hi %d)", where, i, got, n,
				ref.Outlier, spec.Checked.Lo, spec.Checked.Hi)
		}
		if i == 0 { // the thresholds were chosen on input 0's per-layer checked map
			for tile := range ref.Outlier {
				predicted := spec.Checked.Lo > spec.Checked.Hi || ok[tile] && (mins[tile] < int32(spec.Checked.Lo) || maxs[tile] > int32(spec.Checked.Hi))
				if predicted != ref.Outlier[tile] {
					t.Errorf("%s input 0 tile %d: outlier %v, the per-layer checked map says %v", where, tile, ref.Outlier[tile], predicted)
				}
			}
		}
		if n == len(ref.Outlier) && !bytes.Equal(ref.Output, wants[i][ps.out]) {
			t.Errorf("%s input %d: every tile is an outlier tile but the output differs from per-layer execution", where, i)
		}
		cnt.runs++
		for kb, c := range ref.LowRuns {
			cnt.lowRuns[kb] += c
		}
		switch n {
		case 0:
			cnt.noOutlier++
		case len(ref.Outlier):
			cnt.allOutlier++
		default:
			cnt.mixedRuns++
			mixed = true
		}
	}
	return mixed
}
