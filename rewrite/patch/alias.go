package patch

import (
	"fmt"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Offline arena plans: the patch stage's output may overlap its input.
//
// The op runs its tiles in the order of the plan's tile table; each tile reads its window of
// fm 0 from the input tensor (layers reading fm 0) and writes its window of the last map into
// the output tensor (the last layer), and touches neither tensor otherwise (PLAN.md,
// "Execution"). So once tile t is done, its output window may sit on input bytes that no
// later tile reads: the output can start inside the input at a displacement the tile
// geometry allows, and the arena holds less than input + output during the op. TFLM's
// greedy planner never overlaps buffers that are in use at the same time; an
// OfflineMemoryAllocation plan in the model's metadata fixes both tensors' offsets (the
// other buffers stay online, placed around them) and TFLM honours it.

// aliasGeometry is what the safe overlap of one stage's output with its input depends on.
type aliasGeometry struct {
	in, out FeatureMap // shapes (H, W, C) of fm 0 and of the output map
	inNCHW  bool       // fm 0 is read from an NCHW tensor
	reads   []Window   // per tile, in execution order: the window of fm 0 it reads
	writes  []Window   // and the window of the output it writes
	// sameTile is set when the last layer reads fm 0 too: then a tile's writes happen while
	// it still reads, and may not clobber its own window either.
	sameTile bool
}

// geometry describes sp's stage for aliasing.
func (sp *StagePlan) geometry() aliasGeometry {
	n := len(sp.FMs) - 1
	g := aliasGeometry{in: sp.FMs[0], out: sp.FMs[n], inNCHW: sp.Stage.InputNCHW}
	for _, t := range sp.Tiles {
		g.reads = append(g.reads, t[0])
		g.writes = append(g.writes, t[n])
	}
	last := sp.Layers[len(sp.Layers)-1]
	g.sameTile = last.In == 0 || last.In2 == 0
	return g
}

// setOffline applies opts.NoOfflinePlan to sp and its later stages.
func (sp *StagePlan) setOffline(opts Options) {
	for _, p := range sp.all() {
		p.NoOfflinePlan = opts.NoOfflinePlan
	}
}

// aliasSaving is what overlapping the stage's output with its input saves of the two
// tensors' planned bytes (0 without an offline plan or a safe overlap): an estimate for
// choosing stages; the arena prediction decides.
func (sp *StagePlan) aliasSaving() int64 {
	if sp.NoOfflinePlan {
		return 0
	}
	g := sp.geometry()
	d, ok := g.displacement()
	if !ok {
		return 0
	}
	const align = analysis.BufferAlignment
	inA, outA := analysis.AlignUp(g.in.Bytes(), align), analysis.AlignUp(g.out.Bytes(), align)
	return inA + outA - (max(inA, d+outA) - min(0, d))
}

// byteRun is a half-open byte range [lo, hi) of a tensor.
type byteRun struct{ lo, hi int64 }

// runs returns the bytes of window w of an H x W x C map stored NHWC (or NCHW), int8 or,
// with f.Float, float32 (4 bytes per element), in increasing order, adjacent runs merged.
func runs(f FeatureMap, w Window, nchw bool) []byteRun {
	if w.Empty() {
		return nil
	}
	h, wd, c := int64(f.H), int64(f.W), int64(f.C)
	elem := f.Bytes() / max(h*wd*c, 1)
	var r []byteRun
	add := func(lo, hi int64) {
		lo, hi = lo*elem, hi*elem
		if n := len(r); n > 0 && r[n-1].hi == lo {
			r[n-1].hi = hi
			return
		}
		r = append(r, byteRun{lo, hi})
	}
	if nchw {
		for ch := range c {
			for y := int64(w.R0); y < int64(w.R1); y++ {
				at := ch*h*wd + y*wd
				add(at+int64(w.C0), at+int64(w.C1))
			}
		}
		return r
	}
	for y := int64(w.R0); y < int64(w.R1); y++ {
		at := y * wd * c
		add(at+int64(w.C0)*c, at+int64(w.C1)*c)
	}
	return r
}

// unionRuns merges two increasing run lists.
func unionRuns(a, b []byteRun) []byteRun {
	out := make([]byteRun, 0, len(a)+len(b))
	add := func(x byteRun) {
		if n := len(out); n > 0 && x.lo <= out[n-1].hi {
			out[n-1].hi = max(out[n-1].hi, x.hi)
			return
		}
		out = append(out, x)
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j >= len(b) || (i < len(a) && a[i].lo <= b[j].lo) {
			add(a[i])
			i++
		} else {
			add(b[j])
			j++
		}
	}
	return out
}

// maxAliasPairs bounds the (read run, write run) pairs displacement examines; beyond it (a
// thousand tiles over a large NCHW input) the stage is planned without overlap.
const maxAliasPairs = 1 << 25

// displacement returns the offset d of the output's first byte from the input's first byte,
// a multiple of analysis.BufferAlignment, at which the two tensors (their planned sizes,
// rounded up to the alignment) span the fewest bytes while no tile writes output over input
// bytes that a later tile (or, with sameTile, the tile itself) still reads; among equal
// spans the smallest |d|, then the positive one. ok is false when every such d keeps the
// buffers apart (nothing to gain).
//
// Output byte o of tile t lands on input byte o + d, so a write run [c, e) and a read run
// [a, b) of a later tile collide exactly for a - e < d < b - c; the forbidden displacements
// are the union of these intervals over tiles t and the reads of the tiles after t.
func (g aliasGeometry) displacement() (d int64, ok bool) {
	const align = analysis.BufferAlignment
	inA, outA := analysis.AlignUp(g.in.Bytes(), align), analysis.AlignUp(g.out.Bytes(), align)
	kMin, allowed := g.allowed()
	best, bestSpan := int64(0), inA+outA
	for i, a := range allowed {
		if !a {
			continue
		}
		x := (kMin + int64(i)) * align
		span := max(inA, x+outA) - min(0, x)
		if span < bestSpan || (span == bestSpan && ok && (abs64(x) < abs64(best) || (abs64(x) == abs64(best) && x > best))) {
			best, bestSpan, ok = x, span, true
		}
	}
	return best, ok
}

// safe reports whether displacement d (a multiple of analysis.BufferAlignment) keeps every
// tile's reads intact; displacements that keep the buffers apart always do.
func (g aliasGeometry) safe(d int64) bool {
	kMin, allowed := g.allowed()
	i := d/analysis.BufferAlignment - kMin
	return i < 0 || i >= int64(len(allowed)) || allowed[i]
}

// allowed returns, for the displacements k*analysis.BufferAlignment (k = kMin, kMin+1, ...)
// at which the planned buffers overlap, whether each is safe (all false when the stage is
// too large to examine).
func (g aliasGeometry) allowed() (kMin int64, allowed []bool) {
	const align = analysis.BufferAlignment
	inA, outA := analysis.AlignUp(g.in.Bytes(), align), analysis.AlignUp(g.out.Bytes(), align)
	kMin, kMax := -outA/align+1, inA/align-1
	if inA == 0 || outA == 0 || len(g.reads) != len(g.writes) || kMin > kMax {
		return kMin, nil
	}
	// forbidden counts, per k, the collisions (a difference array over k).
	forbidden := make([]int32, kMax-kMin+2)
	allowed = make([]bool, kMax-kMin+1)
	var future []byteRun // reads of the tiles after t
	pairs := 0
	for t := len(g.reads) - 1; t >= 0; t-- {
		reads := runs(g.in, g.reads[t], g.inNCHW)
		guarded := future
		if g.sameTile {
			guarded = unionRuns(future, reads)
		}
		writes := runs(g.out, g.writes[t], false)
		if pairs += len(writes) * len(guarded); pairs > maxAliasPairs {
			return kMin, allowed
		}
		for _, w := range writes {
			for _, r := range guarded {
				lo, hi := ceilDiv(r.lo-w.hi+1, align), floorDiv(r.hi-w.lo-1, align)
				lo, hi = max(lo, kMin), min(hi, kMax)
				if lo <= hi {
					forbidden[lo-kMin]++
					forbidden[hi-kMin+1]--
				}
			}
		}
		future = unionRuns(future, reads)
	}
	var open int32
	for i := range allowed {
		open += forbidden[i]
		allowed[i] = open == 0
	}
	return kMin, allowed
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// stageAlias names, for one patch stage of a model being planned, the buffers of its input
// and output tensors and their geometry.
type stageAlias struct {
	in, out int // subgraph-0 tensor indices of the op's input and output
	geom    aliasGeometry
}

// overlaps returns the analysis.Overlap of every stage in stages whose output may overlap
// its input: tensorOf gives the subgraph-0 tensor of each buffer (-1: another buffer); the
// input must die at the op (its last use is the op that creates the output) and not be a
// subgraph output.
func overlaps(bufs []analysis.Buffer, tensorOf []int, stages []stageAlias, isOutput func(t int) bool) []analysis.Overlap {
	var ov []analysis.Overlap
	for _, s := range stages {
		a, b := -1, -1
		for i, t := range tensorOf {
			switch t {
			case s.in:
				a = i
			case s.out:
				b = i
			}
		}
		if a < 0 || b < 0 || isOutput(s.in) || bufs[a].Last != bufs[b].First || bufs[a].First > bufs[a].Last {
			continue
		}
		if d, ok := s.geom.displacement(); ok {
			ov = append(ov, analysis.Overlap{A: a, B: b, Displacement: d})
		}
	}
	return ov
}

// planArena plans bufs as TFLM will: online, or with an offline plan overlapping stage
// outputs with their inputs where that gives a smaller head (and offline is allowed).
func planArena(bufs []analysis.Buffer, tensorOf []int, stages []stageAlias, isOutput func(int) bool, offline bool) (size int64, plan *analysis.OverlapPlan, err error) {
	if offline {
		fixable := make([]bool, len(bufs))
		for i, t := range tensorOf {
			fixable[i] = t >= 0
		}
		if plan, err = analysis.PlanOverlapping(bufs, fixable, overlaps(bufs, tensorOf, stages, isOutput)); err != nil {
			return 0, nil, err
		}
		if plan != nil {
			return plan.Plan.Size, plan, nil
		}
	}
	p, err := analysis.PlanGreedy(bufs)
	if err != nil {
		return 0, nil, err
	}
	return p.Size, nil, nil
}

// attachOfflinePlan adds an OfflineMemoryAllocation plan to out (the model Rewrite built from
// sp and its later stages) when overlapping stage outputs with their inputs lowers TFLM's
// arena head for the build sp was planned for; it is what sp.arena predicted.
func attachOfflinePlan(out *schema.ModelT, sp *StagePlan) error {
	if sp.NoOfflinePlan {
		return nil
	}
	ao := Options{}
	if sp.Report != nil {
		ao.Target, ao.Kernels = sp.Report.Target, sp.Report.Kernels
	}
	r, err := analysis.AnalyzeWith(out, ao.analysisOptions())
	if err != nil {
		return fmt.Errorf("planning the rewritten arena: %w", err)
	}
	sg := out.Subgraphs[0]
	plans := sp.all()
	var stages []stageAlias
	for _, op := range sg.Operators {
		if out.OperatorCodes[op.OpcodeIndex].CustomCode == CustomCode && len(op.Inputs) > 0 && len(op.Outputs) > 0 {
			stages = append(stages, stageAlias{in: int(op.Inputs[0]), out: int(op.Outputs[0])})
		}
	}
	if len(stages) != len(plans) {
		return nil // a custom op Rewrite did not write (m had one already): plan online
	}
	for i, p := range plans { // Rewrite writes one op per stage, in operator order
		stages[i].geom = p.geometry()
	}
	bufs := make([]analysis.Buffer, len(r.Planned))
	tensorOf := make([]int, len(r.Planned))
	for i, b := range r.Planned {
		bufs[i], tensorOf[i] = b.Buffer, -1
		if b.Kind == analysis.TensorBuffer && b.Subgraph == 0 {
			tensorOf[i] = b.Tensor
		}
	}
	_, plan, err := planArena(bufs, tensorOf, stages, subgraphOutput(sg), true)
	if err != nil || plan == nil {
		return err
	}
	base := make([]int, len(out.Subgraphs))
	total := 0
	for si, g := range out.Subgraphs {
		base[si] = total
		total += len(g.Tensors)
	}
	offsets := make([]int64, total)
	for i := range offsets {
		offsets[i] = -1
	}
	for i, b := range plan.Buffers {
		if b.Fixed && r.Planned[i].Kind == analysis.TensorBuffer {
			offsets[base[r.Planned[i].Subgraph]+r.Planned[i].Tensor] = b.Offset
		}
	}
	data, err := analysis.EncodeOfflinePlan(len(out.Subgraphs), offsets)
	if err != nil {
		return err
	}
	out.Buffers = append(out.Buffers, &schema.BufferT{Data: data})
	out.Metadata = append(out.Metadata, &schema.MetadataT{Name: analysis.OfflinePlanName, Buffer: uint32(len(out.Buffers) - 1)})
	return nil
}

// subgraphOutput reports whether a tensor is an output of sg.
func subgraphOutput(sg *schema.SubGraphT) func(int) bool {
	return func(t int) bool {
		for _, o := range sg.Outputs {
			if int(o) == t {
				return true
			}
		}
		return false
	}
}
