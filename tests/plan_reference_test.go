package tests

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/tests/internal/planref"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// patchStage is the QMCU_PATCH_STAGE operator of a rewritten model, with its plan parsed by
// the Go reference (tests/internal/planref) and its constant inputs.
type patchStage struct {
	op      int // operator index in subgraph 0
	in, out string
	version int
	plan    *planref.Plan
	blob    []byte   // the plan's bytes
	consts  [][]byte // by custom-op input index; [0] is nil
}

// findPatchStage returns the first QMCU_PATCH_STAGE operator of m (the one a low branch
// belongs to; later stages are int8 only).
func findPatchStage(m *schema.ModelT) (*patchStage, error) {
	all, err := findPatchStages(m)
	if err != nil {
		return nil, err
	}
	return all[0], nil
}

// findPatchStages returns every QMCU_PATCH_STAGE operator of m, in operator order.
func findPatchStages(m *schema.ModelT) ([]*patchStage, error) {
	sg := m.Subgraphs[0]
	var found []*patchStage
	for i, op := range sg.Operators {
		oc := m.OperatorCodes[op.OpcodeIndex]
		if tflite.BuiltinCode(oc) != schema.BuiltinOperatorCUSTOM || oc.CustomCode != "QMCU_PATCH_STAGE" {
			continue
		}
		root, err := flexbuffers.Root(op.CustomOptions)
		if err != nil {
			return nil, fmt.Errorf("operator %d: custom options: %w", i, err)
		}
		v, err := root.Get("plan")
		if err != nil {
			return nil, fmt.Errorf("operator %d: custom options: %w", i, err)
		}
		blob, err := v.Blob()
		if err != nil {
			return nil, fmt.Errorf("operator %d: plan: %w", i, err)
		}
		ver, err := root.Get("version")
		if err != nil {
			return nil, fmt.Errorf("operator %d: custom options: %w", i, err)
		}
		version, err := ver.Int()
		if err != nil {
			return nil, fmt.Errorf("operator %d: version: %w", i, err)
		}
		plan, err := planref.Parse(blob)
		if err != nil {
			return nil, fmt.Errorf("operator %d: reference parser: %w", i, err)
		}
		if int64(plan.Version) != version {
			return nil, fmt.Errorf("operator %d: custom options say version %d, the plan %d", i, version, plan.Version)
		}
		ps := &patchStage{op: i, in: sg.Tensors[op.Inputs[0]].Name, out: sg.Tensors[op.Outputs[0]].Name,
			version: int(version), plan: plan, blob: blob, consts: make([][]byte, len(op.Inputs))}
		for j := 1; j < len(op.Inputs); j++ {
			ps.consts[j] = m.Buffers[sg.Tensors[op.Inputs[j]].Buffer].Data
		}
		found = append(found, ps)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("no QMCU_PATCH_STAGE operator")
	}
	return found, nil
}

// tensorsByName runs it on input and returns a copy of every model input and operator output,
// by tensor name (the interpreter hook sees each operator's outputs).
func tensorsByName(it *interp.Interpreter, input []byte) (map[string][]byte, error) {
	seen := map[string][]byte{it.Inputs()[0].Name: input}
	it.SetHook(func(_ int, outs []interp.Tensor) {
		for _, o := range outs {
			seen[o.Info.Name] = append([]byte(nil), o.Data...)
		}
	})
	defer it.SetHook(nil)
	if _, err := it.Invoke(input); err != nil {
		return nil, err
	}
	return seen, nil
}

// rewriteAndLoad runs the optimizer and reloads its model from bytes, as a user would.
func rewriteAndLoad(m *schema.ModelT, opts rewrite.Options) (*rewrite.Result, *schema.ModelT, error) {
	res, err := rewrite.Optimize(context.Background(), m, opts, nil)
	if err != nil {
		return nil, nil, err
	}
	data, err := tflite.Serialize(res.Model)
	if err != nil {
		return nil, nil, err
	}
	pm, err := tflite.Parse(data, "patched")
	return res, pm, err
}

// randomInputs returns n random int8 inputs of the model's first input.
func randomInputs(it *interp.Interpreter, seed uint64, n int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 1234))
	ins := make([][]byte, n)
	for i := range ins {
		ins[i] = make([]byte, it.Inputs()[0].Bytes)
		for j := range ins[i] {
			ins[i][j] = byte(rng.Uint32())
		}
	}
	return ins
}

// compareStage runs the rewritten model through the interpreter (whose QMCU_PATCH_STAGE is
// the C kernels) and the stage's plan through the Go reference, and returns an error when
// their stage outputs differ, with the first differing element and its tile.
func compareStage(it *interp.Interpreter, ps *patchStage, input []byte) (*planref.Result, error) {
	seen, err := tensorsByName(it, input)
	if err != nil {
		return nil, err
	}
	stageIn, ok := seen[ps.in]
	if !ok {
		return nil, fmt.Errorf("stage input %q not seen", ps.in)
	}
	got := seen[ps.out]
	ref, err := ps.plan.Run(stageIn, ps.consts)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	if !bytes.Equal(ref.Output, got) {
		return ref, fmt.Errorf("C and reference differ: %s", firstDifference(ps.plan, ref, got))
	}
	return ref, nil
}

// firstDifference names the first element where the C output differs from the reference's.
func firstDifference(p *planref.Plan, ref *planref.Result, got []byte) string {
	if len(got) != len(ref.Output) {
		return fmt.Sprintf("C output has %d bytes, reference %d", len(got), len(ref.Output))
	}
	last := p.Maps[len(p.Maps)-1]
	n := 0
	first := -1
	for i := range got {
		if got[i] != ref.Output[i] {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	y, x, c := first/(last.W*last.C), first/last.C%last.W, first%last.C
	tile := -1
	for t, ws := range p.Tiles {
		if w := ws[len(ws)-1]; y >= w.R0 && y < w.R1 && x >= w.C0 && x < w.C1 {
			tile = t
		}
	}
	class := "int8"
	if tile >= 0 && p.Checked > 0 && !ref.Outlier[tile] {
		class = "low-branch"
	}
	return fmt.Sprintf("%d of %d bytes; first at (y %d, x %d, c %d) in tile %d (%s): C %d, reference %d",
		n, len(got), y, x, c, tile, class, int8(got[first]), int8(ref.Output[first]))
}

// eachRandomStack calls f on the random tileable stacks of the property tests (randomStack;
// 40 seeds, 8 under -short) with a single-threaded interpreter of the original model.
func eachRandomStack(t *testing.T, f func(seed uint64, m *schema.ModelT, layers int, desc string, orig *interp.Interpreter)) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for seed := range uint64(seeds) {
		m, layers, desc := randomStack(seed)
		if m == nil {
			t.Fatalf("seed %d: builder: %s", seed, desc)
		}
		orig, err := interp.New(m, interp.WithThreads(1))
		if err != nil {
			t.Fatalf("seed %d (%s): %v", seed, desc, err)
		}
		f(seed, m, layers, desc, orig)
	}
}

// gridsUpTo4x4 lists every grid "RxC" with R, C <= 4 that an output of this shape admits.
func gridsUpTo4x4(outShape []int32) []string {
	var grids []string
	for rows := 1; rows <= min(4, int(outShape[1])); rows++ {
		for cols := 1; cols <= min(4, int(outShape[2])); cols++ {
			grids = append(grids, fmt.Sprintf("%dx%d", rows, cols))
		}
	}
	return grids
}

// TestPlanReferenceV1 checks the Go reference executor against the C kernels on the int8
// (version-1) plans the rewriter writes for random tileable stacks, every grid up to 4x4;
// both must also equal per-layer execution of the original model.
func TestPlanReferenceV1(t *testing.T) {
	pairs := 0
	eachRandomStack(t, func(seed uint64, m *schema.ModelT, layers int, desc string, orig *interp.Interpreter) {
		inputs := randomInputs(orig, seed, 2)
		wants := make([]map[string][]byte, len(inputs))
		for i, in := range inputs {
			var err error
			if wants[i], err = tensorsByName(orig, in); err != nil {
				t.Fatal(err)
			}
		}
		for _, grid := range gridsUpTo4x4(orig.Outputs()[0].Shape) {
			_, pm, err := rewriteAndLoad(m, rewrite.Options{Patches: grid, Split: layers})
			if err != nil {
				t.Fatalf("seed %d (%s) grid %s: %v", seed, desc, grid, err)
			}
			ps, err := findPatchStage(pm)
			if err != nil {
				t.Fatalf("seed %d (%s) grid %s: %v", seed, desc, grid, err)
			}
			if ps.plan.Checked != 0 {
				t.Fatalf("seed %d grid %s: a plain rewrite has checked map %d, want no low branch", seed, grid, ps.plan.Checked)
			}
			it, err := interp.New(pm, interp.WithThreads(1))
			if err != nil {
				t.Fatalf("seed %d (%s) grid %s: %v", seed, desc, grid, err)
			}
			for i, in := range inputs {
				ref, err := compareStage(it, ps, in)
				if err != nil {
					t.Fatalf("seed %d (%s) grid %s input %d: %v", seed, desc, grid, i, err)
				}
				if want := wants[i][ps.out]; !bytes.Equal(ref.Output, want) {
					t.Fatalf("seed %d (%s) grid %s input %d: reference differs from per-layer execution", seed, desc, grid, i)
				}
				if n := ref.OutlierTiles(); n != 0 {
					t.Fatalf("seed %d grid %s: %d outlier tiles without a low branch", seed, grid, n)
				}
			}
			pairs++
		}
	})
	t.Logf("%d (stack, grid) plans: reference = C = per-layer", pairs)
}

// tileCodeExtremes returns, per tile, the smallest and largest int8 code of the checked map
// inside the tile's window of it, cropped from the map computed per layer by the original
// model (in int8, a tile's windows are crops of the per-layer maps); ok is false for an empty
// window.
func tileCodeExtremes(p *planref.Plan, full []byte) (mins, maxs []int32, ok []bool) {
	fm := p.Maps[p.Checked]
	for _, ws := range p.Tiles {
		w := ws[p.Checked]
		lo, hi, seen := int32(127), int32(-128), false
		for y := w.R0; y < w.R1; y++ {
			for x := w.C0; x < w.C1; x++ {
				for c := range fm.C {
					v := int32(int8(full[(y*fm.W+x)*fm.C+c]))
					lo, hi, seen = min(lo, v), max(hi, v), true
				}
			}
		}
		mins, maxs, ok = append(mins, lo), append(maxs, hi), append(ok, seen)
	}
	return mins, maxs, ok
}

// chooseThresholds picks [lo, hi] for the checked map so that, on the measured codes, some
// tiles are outlier tiles and some are not whenever the tiles' extremes allow it; now and
// then it picks the all-outlier (lo > hi) or no-outlier range instead.
func chooseThresholds(rng *rand.Rand, mins, maxs []int32, ok []bool) (lo, hi int32) {
	var mn, mx []int32
	for t := range ok {
		if ok[t] {
			mn, mx = append(mn, mins[t]), append(mx, maxs[t])
		}
	}
	// split returns a threshold v with some values > v and some <= v, if there is one.
	split := func(vals []int32) (int32, bool) {
		a, b := int32(127), int32(-128)
		for _, v := range vals {
			a, b = min(a, v), max(b, v)
		}
		if a >= b {
			return 0, false
		}
		return a + rng.Int32N(b-a), true
	}
	lo, hi = -128, 127
	switch r := rng.IntN(10); {
	case r == 0:
		return 1 + rng.Int32N(127), -rng.Int32N(128) // lo > hi: every tile is an outlier
	case r == 1:
		return -128, 127 // no tile is an outlier
	case r < 6:
		if v, ok := split(mx); ok {
			hi = v // tiles with a code above hi are outliers
			return lo, hi
		}
	case r < 8:
		neg := make([]int32, len(mn))
		for i, v := range mn {
			neg[i] = -v
		}
		if v, ok := split(neg); ok {
			lo = -v // tiles with a code below lo are outliers
			return lo, hi
		}
	}
	if v, ok := split(mx); ok {
		hi = v
	}
	if len(mn) > 0 && rng.IntN(2) == 0 {
		lo = mn[rng.IntN(len(mn))]
	}
	return lo, hi
}

// blobInput is an int8 input for the model's first input: its zero point with a little
// noise (what the border padding also reads, so the borders stay quiet), and full-range noise
// inside a random rectangle of up to a third of each side.
func blobInput(rng *rand.Rand, info interp.TensorInfo) []byte {
	h, w, c := int(info.Shape[1]), int(info.Shape[2]), int(info.Shape[3])
	level := int(info.ZeroPoint[0])
	bh, bw := 1+rng.IntN(max(1, h/3)), 1+rng.IntN(max(1, w/3))
	by, bx := rng.IntN(h-bh+1), rng.IntN(w-bw+1)
	in := make([]byte, h*w*c)
	for y := range h {
		for x := range w {
			for k := range c {
				v := max(-128, min(127, level+rng.IntN(5)-2))
				if y >= by && y < by+bh && x >= bx && x < bx+bw {
					v = rng.IntN(256) - 128
				}
				in[(y*w+x)*c+k] = byte(int8(v))
			}
		}
	}
	return in
}

// randomRange shrinks and shifts an int8 range [a, b] at random; a quarter of the ranges
// exclude 0 (the engine must widen them or cope).
func randomRange(rng *rand.Rand, a, b float64) (float64, float64) {
	width := (b - a) * (0.15 + 0.85*rng.Float64())
	center := (a+b)/2 + (b-a)*(rng.Float64()-0.5)*0.6
	lo, hi := center-width/2, center+width/2
	switch rng.IntN(8) {
	case 0:
		lo = width * (0.05 + 0.5*rng.Float64()) // strictly positive
		hi = lo + width
	case 1:
		hi = -width * (0.05 + 0.5*rng.Float64()) // strictly negative
		lo = hi - width
	}
	return lo, hi
}
