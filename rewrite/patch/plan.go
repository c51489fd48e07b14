package patch

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// CustomCode is the custom_code of the operator that replaces a patch stage.
const CustomCode = "QMCU_PATCH_STAGE"

// MaxGrid is the largest p of the p x p grids the automatic choice tries: every p up to 8,
// then 10, 12 and 16 (fine grids shrink the window buffers of small-input stages, e.g.
// vww_96_int8's first stage, at a steep halo cost the choice weighs).
const MaxGrid = 16

// autoGrids lists the p x p grids the automatic choice tries on a stage output of out.
func autoGrids(out FeatureMap) [][2]int {
	var grids [][2]int
	for _, p := range []int{1, 2, 3, 4, 5, 6, 7, 8, 10, 12, MaxGrid} {
		if p <= out.H && p <= out.W {
			grids = append(grids, [2]int{p, p})
		}
	}
	return grids
}

// MaxOverhead is the whole-network MAC overhead the automatic choice accepts without --sram
// unless Options.Overhead says otherwise.
const MaxOverhead = 0.20

// sramBudgets are the MAC budgets whose smallest-arena choices an --sram choice also refines.
var sramBudgets = [...]float64{0.05, 0.10, 0.15, MaxOverhead}

// Options steer Plan. The zero value chooses everything automatically.
type Options struct {
	// SRAM, when > 0, is the arena budget in bytes: Plan picks the fewest MACs whose whole
	// arena (head and tail) fits it. Otherwise Plan picks the lowest whole arena whose
	// whole-network MAC overhead is at most Overhead.
	SRAM int64
	// Overhead is the whole-network MAC overhead budget without SRAM, a fraction (0:
	// MaxOverhead).
	Overhead float64
	// Rows and Cols force the tile grid (both 0: automatic, the p x p grids of autoGrids).
	Rows, Cols int
	// Split forces the number of stage layers n (0: automatic). Rows, Cols and Split force
	// the first stage, which is then the tileable prefix; later stages stay automatic.
	Split int
	// MaxStages bounds the number of stages (0: as many as pay; 1: one stage, the tileable
	// prefix or one later segment).
	MaxStages int
	// Target and Kernels name the TFLM build whose whole arena (head and persistent tail)
	// the choice minimises and SRAM bounds (zero values: cortex-m, reference kernels).
	Target  analysis.Target
	Kernels analysis.Kernels
	// NoOfflinePlan keeps TFLM's own arena plan: without it, the rewritten model carries an
	// OfflineMemoryAllocation plan that overlaps the stage output with input bytes no later
	// tile reads, where that lowers the arena head (see alias.go).
	NoOfflinePlan bool
}

// analysisOptions describes the TFLM build of opts to rewrite/analysis.
func (opts Options) analysisOptions() analysis.Options {
	t := cmp.Or(opts.Target, analysis.TargetCortexM)
	return analysis.Options{Target: t, Kernels: cmp.Or(opts.Kernels, analysis.KernelsReference), Custom: DescribeCustomOpFor(t)}
}

// Candidate is one evaluated choice of stages: Split, Rows and Cols are the first stage's,
// Stages lists them all in operator order; the byte and MAC figures are the whole model's.
type Candidate struct {
	Split, Rows, Cols int
	Stages            []StageChoice
	ArenaBytes        int64 // TFLM arena head of the rewritten model
	TotalBytes        int64 // whole arena: head + persistent tail (arena_used_bytes)
	TailBytes         int64
	// tailOpData and tailRuntime split TailBytes (see analysis.Tail).
	tailOpData, tailRuntime int64
	ScratchBytes            int64 // the op's scratch request
	PatchMACs               int64 // stage MACs with halo recomputation (full kernel windows)
	NetworkMACs             int64 // whole-network MACs after the rewrite
	Overhead                float64
}

// StageChoice is one stage of a Candidate: Split layers of a segment cut into a Rows x Cols
// grid. FirstOp and LastOp are the original operators it replaces.
type StageChoice struct {
	FirstOp, LastOp   int
	Split, Rows, Cols int
	seg               *Stage
}

// StagePlan is a chosen patch stage: everything Rewrite and EncodePlan need.
type StagePlan struct {
	Stage      *Stage
	Split      int          // number of layers n
	Rows, Cols int          // grid
	FMs        []FeatureMap // Stage.FMs[:n+1]
	Layers     []Layer      // Stage.Layers[:n]
	Tiles      [][]Window   // per tile (row-major), per feature map
	// ScratchOffsets holds per feature map its window buffer offset (-1: fm 0 and fm n).
	ScratchOffsets []int64
	ScratchBytes   int64
	// RowOrders holds per layer its row order (PLAN.md layer word 30; nil: all top-down).
	RowOrders []int32
	// rescore recomputes Report after the scratch layout changed (set by Plan).
	rescore func() error
	// Consts lists the constant tensors the custom op reads after the stage input, in
	// order (each once).
	Consts []int
	Report *Report
	// choice is the candidate Plan chose (set on the first stage).
	choice Candidate
	// Low is the mixed-precision low branch (nil: the stage runs in int8 only, plan v1).
	Low *LowBranch
	// Version is stamped into the model metadata and the op's options (default ToolVersion).
	Version string
	// Later holds the stages after this one, in operator order (int8 only: the low branch is
	// the first stage's). Rewrite replaces each by its own custom op.
	Later []*StagePlan
	// NoOfflinePlan is Options.NoOfflinePlan: the arena is planned, and the model written,
	// without an offline plan.
	NoOfflinePlan bool
}

// Report holds what the summary and per-layer outputs show.
type Report struct {
	Split      int // number of stage layers
	Rows, Cols int
	FirstOp    int // first and last original operator index of the stage (FirstOp is the
	LastOp     int // folded TRANSPOSE when there is one)
	Transpose  bool

	MACsBefore, MACsAfter int64 // whole network
	// StageMACs and PatchMACs count full kernel windows (the network convention);
	// the Clipped variants count only taps inside the feature maps (border tiles do less).
	StageMACs, StageMACsClipped int64
	PatchMACs, PatchMACsClipped int64
	StageOverhead               float64 // PatchMACs / StageMACs - 1
	NetworkOverhead             float64 // MACsAfter / MACsBefore - 1

	ArenaBefore, ArenaAfter int64 // the non-persistent head
	// TailBefore/After are the persistent tails and TotalBefore/After head + tail, what
	// arena_used_bytes() reports on Target with Kernels.
	TailBefore, TailAfter   int64
	TotalBefore, TotalAfter int64
	Target                  analysis.Target
	Kernels                 analysis.Kernels
	ScratchBytes            int64

	Layers     []LayerReport
	Candidates []Candidate
	Reasons    []string
	// Note is set when the chosen rewrite does not lower the arena (the peak lies outside
	// every tileable prefix); callers may prefer to keep the original model then.
	Note string

	// Mixed precision (all maps at 8 bits when LowBranch is false).
	LowBranch   bool
	Checked     int    // checked feature map (index into the stage's maps)
	CheckedName string // its tensor name
	Lo, Hi      int32  // outlier thresholds
	// OutlierRate is the outlier-tile fraction BitOPsPatchMixed assumes (1 without a low branch).
	OutlierRate                       float64
	BitOPsPatchInt8, BitOPsPatchMixed int64
	// LowScratchBytes is the scratch the low branch touches (ScratchBytes is sized for int8).
	LowScratchBytes int64

	// Later describes the stages after this one (int8 only), each with its stage fields
	// (split, grid, operators, MACs, scratch, layers); the whole-model fields above already
	// count them. Live is a stage's own live bytes while its op runs (input, output and
	// scratch, 16-byte rounded), also set for the first stage.
	Later []*Report
	Live  int64
}

// Stages returns the report of every stage in operator order: r itself, then r.Later.
func (r *Report) Stages() []*Report {
	if r.LastOp < r.FirstOp {
		return nil
	}
	return append([]*Report{r}, r.Later...)
}

// LayerReport describes one stage layer.
type LayerReport struct {
	Op                          int
	Name                        string
	Tensor                      string // output feature map's tensor name
	InShape, OutShape           [3]int // H, W, C
	MACs, MACsClipped           int64  // per-layer execution
	PatchMACs, PatchMACsClipped int64  // over all tiles
	FMBytes                     int64  // whole output feature map
	WindowBytes                 int64  // largest output window over tiles
	ScratchOffset               int64  // -1: the stage output tensor
	// ActivationBits is the bitwidth of the layer's output map in the low branch, InputBits
	// that of what it reads (mean of both inputs for ADD).
	ActivationBits          int
	InputBits               float64
	BitOPsInt8, BitOPsMixed int64 // over all tiles
}

// ErrUnsupported marks refusals: the model cannot be patched (the caller reports a user error).
var ErrUnsupported = errors.New("cannot patch")

// ErrNothingToPatch marks the refusals that only say the model has no tileable prefix (it
// is not a CNN with a patchable first stage); they also match ErrUnsupported. A drop-in
// step passes such a model through unchanged unless a grid or split was forced.
var ErrNothingToPatch = errors.New("nothing to patch")

// refusal is a Plan error the user's input causes: "cannot patch: " + msg.
type refusal struct {
	msg     string
	nothing bool // no tileable prefix (ErrNothingToPatch)
}

func (r *refusal) Error() string { return ErrUnsupported.Error() + ": " + r.msg }

func (r *refusal) Is(target error) bool {
	return target == ErrUnsupported || (r.nothing && target == ErrNothingToPatch)
}

// Plan detects the tileable prefix and the later segments of m, evaluates the candidate
// stages (splits and grids, alone and jointly) and returns the chosen first stage, with the
// stages after it in Later. Refusals wrap ErrUnsupported.
//
// When the prefix folds the model's input QUANTIZE, Plan also plans with the QUANTIZE left
// outside (the prefix reading its int8 copy) and keeps whichever the selection rule prefers:
// the folded stage has no whole int8 copy of the input, but keeps the larger float input live
// while its output and scratch are (a forced split counts the folded stage's layers).
func Plan(m *schema.ModelT, opts Options) (*StagePlan, error) {
	sp, err := planStages(m, opts, "")
	if err != nil || opts.Split > 0 {
		return sp, err
	}
	if s, err := DetectStage(m); err != nil || !s.FoldsQuantize() {
		return sp, nil
	}
	alt, err := planStages(m, opts, "keeping it outside gives the smaller arena")
	if err != nil {
		return sp, nil
	}
	// A choice that does not lower both the head and the whole arena is not a rewrite at all
	// (the caller keeps the model): it loses to one that does.
	r := sp.Report
	if !lowers(alt.choice, r) || lowers(sp.choice, r) && !preferred(sp.choice, alt.choice, opts, r.MACsBefore) {
		return sp, nil
	}
	return alt, nil
}

// lowers reports whether candidate c lowers both the head and the whole arena of report r's
// model.
func lowers(c Candidate, r *Report) bool {
	return c.ArenaBytes < r.ArenaBefore && c.TotalBytes < r.TotalBefore
}

// preferred reports whether the selection rule picks b over a (not when they cost the same).
func preferred(a, b Candidate, opts Options, macsBefore int64) bool {
	same := func(x, y Candidate) bool {
		return x.ArenaBytes == y.ArenaBytes && x.TotalBytes == y.TotalBytes && x.NetworkMACs == y.NetworkMACs
	}
	c, err := choose([]Candidate{a, b}, opts, macsBefore)
	return err == nil && same(c, b) && !same(c, a)
}

// planStages is Plan with the prefix detectStage(m, keep) finds.
func planStages(m *schema.ModelT, opts Options, keep string) (*StagePlan, error) {
	if opts.SRAM < 0 || opts.Overhead < 0 || opts.Rows < 0 || opts.Cols < 0 || opts.Split < 0 || opts.MaxStages < 0 || (opts.Rows == 0) != (opts.Cols == 0) {
		return nil, fmt.Errorf("patch: invalid options %+v", opts)
	}
	forced := opts.Split > 0 || opts.Rows > 0
	s, later, err := detectSegments(m, keep)
	if err == nil && s == nil && forced {
		_, err = detectStage(m, keep) // a forced grid or split needs the prefix
	}
	if err != nil {
		var se *stageError
		if errors.As(err, &se) {
			return nil, &refusal{msg: se.msg, nothing: se.noPrefix}
		}
		return nil, fmt.Errorf("patch: %w", err)
	}
	for _, op := range m.Subgraphs[0].Operators {
		switch tflite.BuiltinCode(m.OperatorCodes[op.OpcodeIndex]) {
		case schema.BuiltinOperatorIF, schema.BuiltinOperatorWHILE, schema.BuiltinOperatorCALL_ONCE:
			return nil, fmt.Errorf("%w: subgraph 0 has control-flow operators", ErrUnsupported)
		}
	}
	ao := opts.analysisOptions()
	base, err := analysis.AnalyzeWith(m, ao)
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	var cands []Candidate
	var firstErr error
	if s != nil {
		splits := s.Splits
		if opts.Split > 0 {
			if opts.Split > len(s.Layers) {
				return nil, &refusal{msg: fmt.Sprintf("split %d is out of range (1..%d): the tileable prefix has %d layers", opts.Split, len(s.Layers), len(s.Layers))}
			}
			if !slices.Contains(s.Splits, opts.Split) {
				return nil, fmt.Errorf("%w: split %d is not a closed prefix of the stage (candidates: %s)", ErrUnsupported, opts.Split, shortList(s.Splits))
			}
			splits = []int{opts.Split}
		}
		for _, n := range splits {
			out := s.FMs[n]
			grids := [][2]int{{opts.Rows, opts.Cols}}
			if opts.Rows == 0 {
				grids = autoGrids(out)
			}
			for _, g := range grids {
				sp, err := s.build(m, n, g[0], g[1])
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				sp.NoOfflinePlan = opts.NoOfflinePlan
				c, err := sp.candidate(m, base, ao)
				if err != nil {
					return nil, fmt.Errorf("patch: %w", err)
				}
				cands = append(cands, c)
			}
		}
	}
	var segCands []segCand
	if opts.MaxStages != 1 || s == nil {
		more, segs, err := planSegments(m, base, ao, s, later, opts)
		if err != nil {
			return nil, err
		}
		segCands = segs
		for _, c := range more {
			if len(c.Stages) > 1 || c.Stages[0].seg != s {
				cands = append(cands, c) // single prefix stages are all in cands already
			}
		}
	}
	if len(cands) == 0 && s == nil {
		// Later segments exist but none lowers the arena: as without them.
		_, err := DetectStage(m)
		var se *stageError
		if errors.As(err, &se) {
			return nil, &refusal{msg: se.msg + "; no later segment lowers the arena", nothing: se.noPrefix}
		}
	}
	if len(cands) == 0 {
		if firstErr == nil {
			firstErr = errors.New("no candidate")
		}
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, firstErr)
	}
	if opts.SRAM > 0 && opts.MaxStages == 0 && len(segCands) > 0 {
		// The fewest MACs that fit often lie next to the smallest arenas at a MAC budget, which
		// the covering DP (live bytes only) misses: refine from each budget's choice as the
		// budgeted run would (the hill-climb depends on where it starts), then choose among
		// everything measured.
		pool := slices.Clone(cands)
		for _, b := range sramBudgets {
			budgeted := opts
			budgeted.SRAM, budgeted.Overhead = 0, b
			if c, err := choose(pool, budgeted, base.MACs); err == nil {
				cands = append(cands, refine(m, base, ao, budgeted, c, segCands)...)
			}
		}
	}
	best, err := choose(cands, opts, base.MACs)
	if err != nil && opts.SRAM > 0 && opts.MaxStages == 0 && len(segCands) > 0 {
		// Nothing fits: refine the smallest whole arena first (as the choice without a
		// budget or overhead limit would), then choose again.
		if lo, ok := smallest(cands); ok {
			loose := opts
			loose.SRAM, loose.Overhead = 0, math.Inf(1)
			cands = append(cands, refine(m, base, ao, loose, lo, segCands)...)
			best, err = choose(cands, opts, base.MACs)
		}
	}
	if err == nil && opts.MaxStages == 0 && len(segCands) > 0 {
		more := refine(m, base, ao, opts, best, segCands)
		cands = append(cands, more...)
		if len(more) > 0 {
			best = more[len(more)-1]
		}
	}
	if err != nil {
		if lo, ok := smallest(cands); ok && opts.SRAM > 0 {
			err = fmt.Errorf("%w; %s", err, floorNote(base, lo, opts))
		}
		return nil, err
	}
	sp, err := buildChoices(m, best.Stages)
	if err != nil {
		return nil, err
	}
	sp.setOffline(opts)
	for _, p := range sp.all() {
		if err := p.checkScales(m); err != nil {
			return nil, err
		}
	}
	sp.Report = sp.report(base, best)
	sp.Report.Candidates = cands
	sp.choice = best
	sp.applyBitOPs(sp.Report)
	for i, p := range sp.Later {
		p.Report = sp.Report.Later[i]
		p.applyBitOPs(p.Report)
	}
	// A low branch may change the first stage's scratch layout (in-place layers must hold
	// in its formats too): the report is then recomputed for the new scratch size.
	sp.rescore = func() error {
		c, err := sp.candidate(m, base, ao)
		if err != nil {
			return fmt.Errorf("patch: %w", err)
		}
		sp.Report = sp.report(base, c)
		sp.Report.Candidates = cands
		for i, p := range sp.Later {
			p.applyBitOPs(sp.Report.Later[i])
		}
		return nil
	}
	return sp, nil
}

// shortList renders up to 16 values, counting the rest: "[1 2 3 ... 40 more]".
func shortList(v []int) string {
	const shown = 16
	if len(v) <= shown {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%v ... %d more]", strings.TrimSuffix(fmt.Sprint(v[:shown]), "]"), len(v)-shown)
}

// choose applies the selection rule to the candidates.
func choose(cands []Candidate, opts Options, macsBefore int64) (Candidate, error) {
	var ok []Candidate
	if opts.SRAM > 0 {
		for _, c := range cands {
			if c.TotalBytes <= opts.SRAM {
				ok = append(ok, c)
			}
		}
		if len(ok) == 0 {
			lo := slices.MinFunc(cands, func(a, b Candidate) int { return cmp.Compare(a.TotalBytes, b.TotalBytes) })
			return Candidate{}, fmt.Errorf("%w: no split and grid fits --sram %d B: the smallest whole arena (head and tail) is %d B (split %d, grid %dx%d; stages: %s)",
				ErrUnsupported, opts.SRAM, lo.TotalBytes, lo.Split, lo.Rows, lo.Cols, describeStages(lo))
		}
		return slices.MinFunc(ok, func(a, b Candidate) int {
			return cmp.Or(cmp.Compare(a.NetworkMACs, b.NetworkMACs), cmp.Compare(a.TotalBytes, b.TotalBytes), tieBreak(a, b))
		}), nil
	}
	budget := opts.Overhead
	if budget <= 0 {
		budget = MaxOverhead
	}
	for _, c := range cands {
		if c.Overhead <= budget {
			ok = append(ok, c)
		}
	}
	if len(ok) == 0 {
		// Every candidate costs more than the budget: take the cheapest in MACs.
		return slices.MinFunc(cands, func(a, b Candidate) int {
			return cmp.Or(cmp.Compare(a.NetworkMACs, b.NetworkMACs), cmp.Compare(a.TotalBytes, b.TotalBytes), tieBreak(a, b))
		}), nil
	}
	return slices.MinFunc(ok, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(a.TotalBytes, b.TotalBytes), cmp.Compare(a.NetworkMACs, b.NetworkMACs), tieBreak(a, b))
	}), nil
}

// smallest returns the candidate with the smallest whole arena.
func smallest(cands []Candidate) (Candidate, bool) {
	if len(cands) == 0 {
		return Candidate{}, false
	}
	return slices.MinFunc(cands, func(a, b Candidate) int { return cmp.Compare(a.TotalBytes, b.TotalBytes) }), true
}

// floorNote says what sets the smallest whole arena c: its head (the largest live bytes at
// an operator outside its stages, or a stage's own input, output and scratch) and the
// persistent tail (mostly the kernels' op data, such as per-channel multipliers and shifts).
func floorNote(base *analysis.Report, c Candidate, opts Options) string {
	inStage := map[int]bool{}
	var own int64
	for _, st := range c.Stages {
		for o := st.FirstOp; o <= st.LastOp; o++ {
			inStage[o] = true
		}
		if sp, err := st.seg.build(nil, st.Split, st.Rows, st.Cols); err == nil {
			sp.NoOfflinePlan = opts.NoOfflinePlan
			own = max(own, sp.ownLive(base))
		}
	}
	after, at := int64(0), -1
	for _, op := range base.Ops {
		if !inStage[op.Index] && op.LiveBytes > after {
			after, at = op.LiveBytes, op.Index
		}
	}
	where := fmt.Sprintf("a stage's input, output and scratch (%d B live)", own)
	if at >= 0 && after >= own {
		where = fmt.Sprintf("operator %d (%s) outside the stages, whose tensors need %d B live", at, base.Ops[at].Name, after)
	}
	if gap := c.ArenaBytes - max(own, after); gap > 0 {
		where += fmt.Sprintf(" plus %d B that TFLM's greedy placement leaves between buffers of neighbouring operators", gap)
	}
	return fmt.Sprintf("its head of %d B is set by %s, and the persistent tail adds %d B (kernel op data %d B, e.g. per-channel multipliers and shifts; TFLM runtime %d B)",
		c.ArenaBytes, where, c.TailBytes, c.tailOpData, c.tailRuntime)
}

// tieBreak prefers fewer stages, then fewer tiles in the first, then the shorter first stage,
// then the earlier stages.
func tieBreak(a, b Candidate) int {
	return cmp.Or(cmp.Compare(len(a.Stages), len(b.Stages)), cmp.Compare(a.Rows*a.Cols, b.Rows*b.Cols), cmp.Compare(a.Rows, b.Rows),
		cmp.Compare(a.Split, b.Split), cmp.Compare(describeStages(a), describeStages(b)))
}

// build computes the geometry and scratch layout of split n with an R x C grid.
func (s *Stage) build(m *schema.ModelT, n, rows, cols int) (*StagePlan, error) {
	tiles, err := s.Tiles(n, rows, cols)
	if err != nil {
		return nil, err
	}
	sp := &StagePlan{Stage: s, Split: n, Rows: rows, Cols: cols, FMs: s.FMs[:n+1], Layers: s.Layers[:n], Tiles: tiles}
	sp.setLayout(layoutScratch(sp.Layers, sp.FMs, tiles, []branch{int8Branch(sp.FMs)}))
	seen := map[int]bool{}
	for _, l := range sp.Layers {
		for _, t := range []int{l.Weights, l.Bias} {
			if t >= 0 && !seen[t] {
				seen[t] = true
				sp.Consts = append(sp.Consts, t)
			}
		}
	}
	return sp, nil
}

// macs returns the stage MACs per layer: per-layer execution and over all tiles, each with
// full windows and border-clipped.
func (sp *StagePlan) macs() (orig, origClip, patch, patchClip []int64) {
	n := len(sp.Layers)
	orig, origClip, patch, patchClip = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for li := range sp.Layers {
		l := &sp.Layers[li]
		x, y := sp.FMs[l.In], sp.FMs[l.Out]
		orig[li], origClip[li] = l.windowMACs(Window{0, y.H, 0, y.W}, x, y)
		for _, t := range sp.Tiles {
			f, c := l.windowMACs(t[l.Out], x, y)
			patch[li] += f
			patchClip[li] += c
		}
	}
	return
}

func sum(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

// candidate evaluates MACs and the rewritten model's arena, over sp and its later stages.
func (sp *StagePlan) candidate(m *schema.ModelT, base *analysis.Report, ao analysis.Options) (Candidate, error) {
	after := base.MACs
	var choices []StageChoice
	for _, p := range sp.all() {
		orig, _, patch, _ := p.macs()
		after += sum(patch) - sum(orig)
		choices = append(choices, StageChoice{FirstOp: p.firstOp(), LastOp: p.lastOp(), Split: p.Split, Rows: p.Rows, Cols: p.Cols, seg: p.Stage})
	}
	_, _, patch, _ := sp.macs()
	arena, err := sp.arena(m, base)
	if err != nil {
		return Candidate{}, err
	}
	c := Candidate{Split: sp.Split, Rows: sp.Rows, Cols: sp.Cols, Stages: choices, ArenaBytes: arena, ScratchBytes: sp.ScratchBytes,
		PatchMACs: sum(patch), NetworkMACs: after}
	tail := sp.tail(m, base, ao)
	c.TailBytes, c.TotalBytes, c.tailOpData, c.tailRuntime = tail.Bytes, arena+tail.Bytes, tail.OpData, tail.Runtime
	if base.MACs > 0 {
		c.Overhead = float64(after)/float64(base.MACs) - 1
	}
	return c, nil
}

func (sp *StagePlan) report(base *analysis.Report, c Candidate) *Report {
	r := sp.stageReport(base)
	r.MACsBefore, r.MACsAfter, r.NetworkOverhead = base.MACs, c.NetworkMACs, c.Overhead
	r.ArenaBefore, r.ArenaAfter = base.ArenaBytes, c.ArenaBytes
	r.TailBefore, r.TailAfter, r.TotalBefore, r.TotalAfter = base.Tail.Bytes, c.TailBytes, base.TotalBytes, c.TotalBytes
	r.Target, r.Kernels = base.Target, base.Kernels
	r.Reasons = sp.Stage.Reasons
	for _, p := range sp.Later {
		r.Later = append(r.Later, p.stageReport(base))
	}
	if r.ArenaAfter >= r.ArenaBefore || r.TotalAfter >= r.TotalBefore {
		r.Note = fmt.Sprintf("patch-based inference does not lower the arena (head %d B before, %d B after; whole %d B before, %d B after): the activation peak lies outside every tileable segment",
			r.ArenaBefore, r.ArenaAfter, r.TotalBefore, r.TotalAfter)
	}
	return r
}

// stageReport fills the stage fields of a report: operators, grid, MACs, scratch, layers.
func (sp *StagePlan) stageReport(base *analysis.Report) *Report {
	s := sp.Stage
	r := &Report{Split: sp.Split, Rows: sp.Rows, Cols: sp.Cols, FirstOp: sp.firstOp(), LastOp: sp.lastOp(),
		Transpose: s.Transpose >= 0, ScratchBytes: sp.ScratchBytes, Live: sp.ownLive(base)}
	orig, origClip, patch, patchClip := sp.macs()
	r.StageMACs, r.StageMACsClipped, r.PatchMACs, r.PatchMACsClipped = sum(orig), sum(origClip), sum(patch), sum(patchClip)
	if r.StageMACs > 0 {
		r.StageOverhead = float64(r.PatchMACs)/float64(r.StageMACs) - 1
	}
	wb := windowBytes(sp.FMs, sp.Tiles)
	for li, l := range sp.Layers {
		x, y := sp.FMs[l.In], sp.FMs[l.Out]
		r.Layers = append(r.Layers, LayerReport{
			Op: l.Op, Name: l.Kind.String(), InShape: [3]int{x.H, x.W, x.C}, OutShape: [3]int{y.H, y.W, y.C},
			MACs: orig[li], MACsClipped: origClip[li], PatchMACs: patch[li], PatchMACsClipped: patchClip[li],
			FMBytes: y.Bytes(), WindowBytes: wb[l.Out], ScratchOffset: sp.ScratchOffsets[l.Out], Tensor: y.Name,
		})
	}
	return r
}
