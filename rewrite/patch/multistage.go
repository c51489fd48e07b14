package patch

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// DetectSegments returns the tileable prefix of subgraph 0 (nil when the model has none) and
// the later segments: for every operator k after the prefix's first layer that reads a whole
// int8 feature map t which is the only activation crossing the boundary before k (no skip
// connection is cut), the maximal run of tileable operators from k, with the split points
// after which only its output crosses (msf-CNN's point: the next peak may lie later). It
// fails as DetectStage does, except that a model without a tileable prefix but with later
// segments is accepted.
func DetectSegments(m *schema.ModelT) (*Stage, []*Stage, error) { return detectSegments(m, "") }

// detectSegments is DetectSegments with the prefix detectStage(m, keep) finds.
func detectSegments(m *schema.ModelT, keep string) (*Stage, []*Stage, error) {
	prefix, err := detectStage(m, keep)
	var se *stageError
	if err != nil && !(errors.As(err, &se) && se.noPrefix) {
		return nil, nil, err
	}
	g, gerr := newGraph(m)
	if gerr != nil {
		return nil, nil, gerr
	}
	from := 1
	if prefix != nil {
		from = prefix.First + 1
	}
	later := g.laterSegments(from)
	if prefix == nil && len(later) == 0 {
		return nil, nil, err
	}
	return prefix, later, nil
}

// laterSegments lists the segments starting at operators from.. (see DetectSegments).
func (g *graph) laterSegments(from int) []*Stage {
	ops, ts := g.sg.Operators, g.sg.Tensors
	// producer: -1 for subgraph inputs, -2 for tensors nothing writes (constants, variables);
	// lastRead: the last operator reading the tensor (len(ops) for subgraph outputs).
	producer, lastRead := make([]int, len(ts)), make([]int, len(ts))
	for t := range ts {
		producer[t], lastRead[t] = -2, -1
	}
	for _, t := range g.sg.Inputs {
		producer[t] = -1
	}
	for oi, op := range ops {
		for _, t := range op.Outputs {
			if t >= 0 && producer[t] == -2 {
				producer[t] = oi
			}
		}
		for _, t := range op.Inputs {
			if t >= 0 {
				lastRead[t] = oi
			}
		}
	}
	for _, t := range g.sg.Outputs {
		lastRead[t] = len(ops)
	}
	var out []*Stage
	for k := from; k < len(ops); k++ {
		op := ops[k]
		if len(op.Inputs) == 0 || op.Inputs[0] < 0 {
			continue
		}
		in := int(op.Inputs[0])
		crossing := 0
		for t := range ts {
			if producer[t] != -2 && producer[t] < k && lastRead[t] >= k {
				crossing++
				if t != in {
					crossing = 2
					break
				}
			}
		}
		if crossing != 1 {
			continue
		}
		fm0, why := g.featureMap(in)
		if why != "" {
			continue
		}
		s := &Stage{Input: in, Transpose: -1, First: k, Later: true, FMs: []FeatureMap{fm0}}
		g.grow(s, k)
		if len(s.Layers) == 0 {
			continue
		}
		s.Splits, _ = g.splits(s, nil)
		s.Reasons = nil
		if len(s.Splits) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// MaxLaterLayers bounds the layers of a stage after the first in the joint choice: a later
// peak is a block or two wide (msf-CNN's stages, and the chosen ones on the shared models,
// hold 2-6 layers), and longer segments only add halo MACs while costing planning time.
const MaxLaterLayers = 16

// segCand is one stage candidate of the joint choice: its MACs above per-layer execution and
// its own live bytes while its op runs.
type segCand struct {
	choice     StageChoice
	extra, own int64
}

// ownLive is what the arena holds while the stage's custom op runs: its input, output and
// scratch, plus the activations live across it (16-byte rounded as TFLM plans them), less
// what an offline plan's overlap of output and input saves.
func (sp *StagePlan) ownLive(base *analysis.Report) int64 {
	return sp.ownLiveOnline(base) - sp.aliasSaving()
}

// ownLiveOnline is ownLive without the offline plan's overlap.
func (sp *StagePlan) ownLiveOnline(base *analysis.Report) int64 {
	a := func(n int64) int64 { return analysis.AlignUp(n, analysis.BufferAlignment) }
	in, out := sp.Stage.Input, sp.FMs[len(sp.FMs)-1].Tensor
	live := a(sp.FMs[0].Bytes()) + a(sp.FMs[len(sp.FMs)-1].Bytes()) + a(sp.ScratchBytes)
	lo, hi := sp.firstOp(), sp.lastOp()
	for _, t := range base.Tensors {
		if !t.Constant && t.Index != in && t.Index != out && t.FirstOp >= 0 && t.FirstOp < lo && t.LastOp > hi {
			live += a(t.Bytes)
		}
	}
	return live
}

// extraMACs is the stage's MACs over all tiles minus its per-layer MACs, full kernel windows
// (macs without the border-clipped counts, which the choice does not need).
func (sp *StagePlan) extraMACs() int64 {
	var extra int64
	for _, l := range sp.Layers {
		x, y := sp.FMs[l.In], sp.FMs[l.Out]
		per := int64(y.C) * l.macsPerOutput(x)
		var area int64
		for _, t := range sp.Tiles {
			area += int64(t[l.Out].Rows()) * int64(t[l.Out].Cols())
		}
		extra += (area - int64(y.H)*int64(y.W)) * per
	}
	return extra
}

// planSegments chooses sets of stages jointly. Every segment candidate (segment, split,
// grid) gets its extra MACs and own live bytes; for every threshold T a dynamic program
// over the operators finds the fewest extra MACs (then stages) that leave no operator
// outside a stage with more than T live bytes and no stage above T. Each distinct set is
// then measured with the exact arena predictor (head and tail). With the prefix forced
// (opts.Split or a grid), every set starts with a prefix candidate that obeys it.
func planSegments(m *schema.ModelT, base *analysis.Report, ao analysis.Options, prefix *Stage, later []*Stage, opts Options) ([]Candidate, []segCand, error) {
	forced := prefix != nil && (opts.Split > 0 || opts.Rows > 0)
	segs := later
	if prefix != nil {
		segs = append([]*Stage{prefix}, later...)
	}
	nops := len(base.Ops)
	live := make([]int64, nops)
	for i, op := range base.Ops {
		live[i] = op.LiveBytes
	}
	var cs []segCand
	for _, seg := range segs {
		isPrefix := seg == prefix
		splits := seg.Splits
		if isPrefix && opts.Split > 0 {
			splits = []int{opts.Split}
		}
		for _, n := range splits {
			if seg.Later && n > MaxLaterLayers {
				break
			}
			out := seg.FMs[n]
			lo, hi := seg.Layers[0].Op, seg.Layers[n-1].Op
			if seg.Transpose >= 0 {
				lo = min(seg.Transpose, lo) // a folded QUANTIZE may come first
			}
			a := func(n int64) int64 { return analysis.AlignUp(n, analysis.BufferAlignment) }
			least := a(seg.FMs[0].Bytes()) + a(out.Bytes())
			if !opts.NoOfflinePlan {
				least = max(a(seg.FMs[0].Bytes()), a(out.Bytes())) // the output may overlap the input
			}
			if !(isPrefix && forced) && least >= slices.Max(live[lo:hi+1]) {
				continue // its input and output alone hold as much as per-layer execution
			}
			var grids [][2]int
			if isPrefix && opts.Rows > 0 {
				grids = [][2]int{{opts.Rows, opts.Cols}}
			} else {
				grids = autoGrids(out)
			}
			for _, gr := range grids {
				sp, err := seg.build(m, n, gr[0], gr[1])
				if err != nil {
					continue
				}
				sp.NoOfflinePlan = opts.NoOfflinePlan
				c := segCand{choice: StageChoice{FirstOp: sp.firstOp(), LastOp: sp.lastOp(), Split: n, Rows: gr[0], Cols: gr[1], seg: seg}}
				// The overlap's saving is costly to find: first rule out with its upper bound.
				peak, online := slices.Max(live[c.choice.FirstOp:c.choice.LastOp+1]), sp.ownLiveOnline(base)
				if !(isPrefix && forced) && online-(a(seg.FMs[0].Bytes())+a(out.Bytes())-least) >= peak {
					continue // lowers no operator's live bytes
				}
				c.extra, c.own = sp.extraMACs(), online-sp.aliasSaving()
				if !(isPrefix && forced) && c.own >= peak {
					continue
				}
				cs = append(cs, c)
			}
		}
	}
	cs = paretoSegments(cs)
	forcedLo := -1
	if forced {
		forcedLo = prefix.Layers[0].Op
		if prefix.Transpose >= 0 {
			forcedLo = min(prefix.Transpose, forcedLo) // a folded QUANTIZE may come first
		}
	}
	ts := make([]int64, 0, len(cs)+nops)
	for _, c := range cs {
		ts = append(ts, c.own)
	}
	ts = append(ts, live...)
	slices.Sort(ts)
	ts = slices.Compact(ts)
	byLo := make([][]int, nops)
	for i, c := range cs {
		byLo[c.choice.FirstOp] = append(byLo[c.choice.FirstOp], i)
	}
	seen := map[string]bool{}
	var sets [][]StageChoice
	for _, t := range ts {
		set := coverDP(cs, byLo, live, t, forcedLo, opts.MaxStages)
		if len(set) == 0 {
			continue
		}
		key := fmt.Sprint(set)
		if seen[key] {
			continue
		}
		seen[key] = true
		var choices []StageChoice
		for _, i := range set {
			choices = append(choices, cs[i].choice)
		}
		sets = append(sets, choices)
	}
	var cands []Candidate
	for _, choices := range sets {
		sp, err := buildChoices(m, choices)
		if err != nil {
			return nil, nil, err
		}
		sp.setOffline(opts)
		c, err := sp.candidate(m, base, ao)
		if err != nil {
			return nil, nil, err
		}
		cands = append(cands, c)
	}
	return cands, cs, nil
}

// refine improves c by hill-climbing, each neighbour measured exactly: the covering DP sees
// live bytes, not how TFLM's (or the offline) planner packs the buffers of neighbouring
// stages. A neighbour changes one stage's grid, or replaces one stage by one of the
// refineAlternatives segment candidates starting at the same operator with the smallest own
// live bytes (dropping the stages it then overlaps). Forced choices stay. It returns the
// candidates it measured that choose prefers to c, in order.
func refine(m *schema.ModelT, base *analysis.Report, ao analysis.Options, opts Options, c Candidate, cs []segCand) []Candidate {
	const rounds, refineAlternatives = 2, 4
	byFirst := map[int][]segCand{}
	for _, sc := range cs {
		byFirst[sc.choice.FirstOp] = append(byFirst[sc.choice.FirstOp], sc)
	}
	for op, g := range byFirst {
		slices.SortStableFunc(g, func(a, b segCand) int { return cmp.Compare(a.own, b.own) })
		byFirst[op] = g[:min(len(g), refineAlternatives)]
	}
	seen := map[string]bool{describeStages(c): true}
	var better []Candidate
	try := func(choices []StageChoice) bool {
		key := describeStages(Candidate{Stages: choices})
		if seen[key] {
			return false
		}
		seen[key] = true
		sp, err := buildChoices(m, choices)
		if err != nil {
			return false
		}
		sp.setOffline(opts)
		nb, err := sp.candidate(m, base, ao)
		if err != nil {
			return false
		}
		if best, err := choose([]Candidate{c, nb}, opts, base.MACs); err == nil && describeStages(best) == describeStages(nb) {
			c = nb
			better = append(better, nb)
			return true
		}
		return false
	}
	forcedFirst := c.Stages[0].seg.Later == false && (opts.Rows > 0 || opts.Split > 0)
	for range rounds {
		improved := false
		for si := 0; si < len(c.Stages); si++ {
			st := c.Stages[si]
			if !(si == 0 && forcedFirst && opts.Rows > 0) {
				for _, g := range autoGrids(st.seg.FMs[st.Split]) {
					choices := slices.Clone(c.Stages)
					choices[si].Rows, choices[si].Cols = g[0], g[1]
					improved = try(choices) || improved
				}
			}
			if si == 0 && forcedFirst {
				continue
			}
			for _, alt := range byFirst[c.Stages[si].FirstOp] {
				choices := append(slices.Clone(c.Stages[:si]), alt.choice)
				for _, rest := range c.Stages[si+1:] {
					if rest.FirstOp > alt.choice.LastOp {
						choices = append(choices, rest)
					}
				}
				improved = try(choices) || improved
				if si >= len(c.Stages) {
					break
				}
			}
		}
		if !improved {
			break
		}
	}
	return better
}

// paretoSegments drops the candidates another candidate over the same operators beats in
// both own live bytes and extra MACs.
func paretoSegments(cs []segCand) []segCand {
	type span struct{ lo, hi int }
	groups := map[span][]segCand{}
	var order []span
	for _, c := range cs {
		k := span{c.choice.FirstOp, c.choice.LastOp}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], c)
	}
	var out []segCand
	for _, k := range order {
		g := groups[k]
		slices.SortStableFunc(g, func(a, b segCand) int { return cmp.Or(cmp.Compare(a.own, b.own), cmp.Compare(a.extra, b.extra)) })
		best := int64(-1)
		for _, c := range g {
			if best < 0 || c.extra < best {
				out = append(out, c)
				best = c.extra
			}
		}
	}
	return out
}

// coverDP returns the candidate indices (in operator order) of the cheapest set of
// non-overlapping stages, each with own live bytes <= t, such that every operator outside
// them has live bytes <= t; nil if there is none or it needs no stage. Cheapest is the
// fewest extra MACs, then the fewest stages. forcedLo >= 0 requires a stage starting there;
// maxStages > 0 bounds the number of stages.
func coverDP(cs []segCand, byLo [][]int, live []int64, t int64, forcedLo, maxStages int) []int {
	n := len(live)
	type cost struct {
		macs   int64
		stages int
		ok     bool
	}
	type back struct{ u, i, cand int }
	less := func(a, b cost) bool {
		return !b.ok || (a.ok && (a.macs < b.macs || (a.macs == b.macs && a.stages < b.stages)))
	}
	// State u counts the stages taken so far; without a bound, state 1 means "one or more".
	states := 2
	if maxStages > 0 {
		states = maxStages + 1
	}
	f, from := make([][]cost, states), make([][]back, states)
	for u := range f {
		f[u], from[u] = make([]cost, n+1), make([]back, n+1)
	}
	f[0][0] = cost{ok: true}
	for i := range n {
		for u := range states {
			cur := f[u][i]
			if !cur.ok {
				continue
			}
			if live[i] <= t && !(u == 0 && i == forcedLo) {
				if less(cur, f[u][i+1]) {
					f[u][i+1], from[u][i+1] = cur, back{u, i, -1}
				}
			}
			v := u + 1
			if maxStages == 0 {
				v = 1
			} else if v >= states {
				continue
			}
			for _, ci := range byLo[i] {
				c := cs[ci]
				if c.own > t || (forcedLo >= 0 && u == 0 && i != forcedLo) {
					continue
				}
				next := cost{macs: cur.macs + c.extra, stages: cur.stages + 1, ok: true}
				j := c.choice.LastOp + 1
				if less(next, f[v][j]) {
					f[v][j], from[v][j] = next, back{u, i, ci}
				}
			}
		}
	}
	best := -1
	for u := 1; u < states; u++ {
		if f[u][n].ok && (best < 0 || less(f[u][n], f[best][n])) {
			best = u
		}
	}
	if best < 0 {
		return nil
	}
	var set []int
	for u, i := best, n; i > 0; {
		b := from[u][i]
		if b.cand >= 0 {
			set = append(set, b.cand)
		}
		u, i = b.u, b.i
	}
	slices.Reverse(set)
	return set
}

// buildChoices builds the stages of choices (in operator order) as one plan: the first
// stage with the others as its Later stages.
func buildChoices(m *schema.ModelT, choices []StageChoice) (*StagePlan, error) {
	var plans []*StagePlan
	for _, c := range choices {
		sp, err := c.seg.build(m, c.Split, c.Rows, c.Cols)
		if err != nil {
			return nil, fmt.Errorf("patch: stage at operator %d: %w", c.FirstOp, err)
		}
		plans = append(plans, sp)
	}
	if len(plans) == 0 {
		return nil, errors.New("patch: no stage")
	}
	plans[0].Later = plans[1:]
	return plans[0], nil
}

// describeStages renders the stages of a candidate: "operators 0-16 (16 layers, 6x6), ...".
func describeStages(c Candidate) string {
	var parts []string
	for _, s := range c.Stages {
		parts = append(parts, fmt.Sprintf("operators %d-%d (%d layers, %dx%d)", s.FirstOp, s.LastOp, s.Split, s.Rows, s.Cols))
	}
	return strings.Join(parts, ", ")
}
