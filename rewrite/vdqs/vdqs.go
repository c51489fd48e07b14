// Package vdqs is QuantMCU's value-driven quantization search (DESIGN.md §4): a training-free
// greedy search over the bitwidths (8, 4, 2) of the patch stage's feature maps in the low
// branch. All maps start at 8 bits; each step lowers the map whose next step down has the best
// score S(i, b) = -lambda * Omega(i, b) + (1 - lambda) * Phi(i, b), where Phi is the BitOPs the
// step saves over the 8-bit patch stage's BitOPs (non-outlier tiles at low-branch bits, outlier
// tiles at 8) and Omega the entropy the map loses, (H_bi - H_b) / H_8, H being the Shannon
// entropy of its b-bit codes over the non-outlier calibration tiles. With a latency cost
// (Problem.Cycles), Phi is instead the estimated cycles the step saves over the 8-bit patch
// stage's (DESIGN.md's BitOPs are a proxy for latency; on a target whose low-bit kernels do
// not run faster per MAC the cycles say so). The search stops when the best score is <= 0,
// nothing is left to lower, or the BitOPs target is met. It returns every step, so that the
// accuracy guard can step back.
package vdqs

import (
	"fmt"
	"math"

	"github.com/quantmcu/quantmcu/rewrite/calibrate"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/rewrite/vdpc"
)

// Problem is one search.
type Problem struct {
	Plan       *patch.StagePlan
	Stats      *calibrate.Stats
	Thresholds vdpc.Thresholds
	Lambda     float64
	// BitOPsTarget, when > 0, stops the search once the 8-bit patch stage's BitOPs divided by
	// the mixed stage's reach it.
	BitOPsTarget float64
	// ChannelHist, when it has a free map, gives that map per-channel low-bit ranges at 4 and 2
	// bits from these per-channel histograms over the non-outlier tiles (calibrate.Channels).
	ChannelHist map[int][][256]int64
	// Accept, when set, is asked before each step with the precision spec the step would give
	// (the accuracy guard): a refused step is taken back and its map is not lowered further.
	Accept func(spec *precision.Spec) (bool, error)
	// Cycles, when set, is the cost Phi is scored by instead of BitOPs: the estimated cycles of
	// stage layer li over all tiles when it reads maps of inBits (the mean of both inputs for
	// ADD, rounded) and writes a map of outBits.
	Cycles func(li, inBits, outBits int) float64
}

// Step is one lowering.
type Step struct {
	FM                int
	Tensor            string
	From, To          int
	Score, Phi, Omega float64
	BitOPsAfter       int64 // mixed patch-stage BitOPs after the step
	// CyclesAfter is the expected patch-stage cycles after the step (0 without Problem.Cycles).
	CyclesAfter float64
}

// Result is a search's outcome.
type Result struct {
	Free []int // the maps searched
	// Ranges[f][b] and Entropy[f][b] are each free map's low-bit range and entropy at b bits.
	Ranges  map[int]map[int]precision.Map
	Entropy map[int]map[int]float64
	Steps   []Step
	// Refused are the steps the Accept callback took back (their maps stayed as they were).
	Refused []Step
	// BitOPsInt8 is the 8-bit patch stage's BitOPs (all tiles at 8 bits).
	BitOPsInt8 int64
	// CyclesInt8 is the 8-bit patch stage's estimated cycles (0 without Problem.Cycles).
	CyclesInt8 float64
	Thresholds vdpc.Thresholds
	checked    int
	plan       *patch.StagePlan
}

var lower = map[int]int{8: 4, 4: 2}

// Search runs the greedy search.
func Search(p Problem) (*Result, error) {
	sp, st := p.Plan, p.Stats
	k := st.Checked
	r := &Result{Free: sp.FreeMaps(k), Ranges: map[int]map[int]precision.Map{}, Entropy: map[int]map[int]float64{},
		Thresholds: p.Thresholds, checked: k, plan: sp}
	for _, f := range r.Free {
		h := st.NonOutlierHist(f, p.Thresholds.Distance)
		r.Ranges[f], r.Entropy[f] = map[int]precision.Map{}, map[int]float64{}
		ch, perChannel := p.ChannelHist[f]
		for _, b := range []int{8, 4, 2} {
			m, _ := vdpc.Range(h, sp.FMs[f], b)
			if perChannel && b < 8 {
				m = vdpc.ChannelRange(ch, sp.FMs[f], b, sp.ActivationBound(f))
			}
			format, err := patch.FormatFromRange(m, sp.FMs[f])
			if err != nil {
				return nil, fmt.Errorf("vdqs: map %q at %d bits: %w", sp.FMs[f].Name, b, err)
			}
			r.Ranges[f][b], r.Entropy[f][b] = m, vdpc.Entropy(h, sp.FMs[f], format)
			if format.ChannelScales != nil {
				r.Entropy[f][b] = vdpc.ChannelEntropy(ch, sp.FMs[f], format)
			}
		}
	}
	macs := sp.TileMACs()
	frac := st.NonOutlierFraction(p.Thresholds.Distance)
	low := make([]float64, len(sp.Layers))  // MACs over non-outlier tiles (expected per inference)
	high := make([]float64, len(sp.Layers)) // MACs at 8 bits: layers before the check, outlier tiles
	for li := range sp.Layers {
		for t, m := range macs[li] {
			if li >= k {
				low[li] += float64(m) * frac[t]
				high[li] += float64(m) * (1 - frac[t])
			} else {
				high[li] += float64(m)
			}
			r.BitOPsInt8 += 64 * m
		}
	}
	bits := map[int]int{}
	frozen := map[int]bool{}
	for _, f := range r.Free {
		bits[f] = 8
	}
	bitsOf := func(f int) float64 {
		if b, ok := bits[sp.Source(f)]; ok {
			return float64(b)
		}
		return 8
	}
	bitops := func() float64 {
		var sum float64
		for li, l := range sp.Layers {
			in := bitsOf(l.In)
			if l.In2 >= 0 {
				in = (in + bitsOf(l.In2)) / 2
			}
			sum += 64*high[li] + 8*in*low[li]
		}
		return sum
	}
	// lowShare is per layer the share of its work on non-outlier tiles (by MACs; by the mean
	// tile fraction for layers without MACs).
	lowShare := make([]float64, len(sp.Layers))
	var meanFrac float64
	for _, v := range frac {
		meanFrac += v / float64(max(1, len(frac)))
	}
	for li := range sp.Layers {
		lowShare[li] = meanFrac
		if li < k {
			lowShare[li] = 0
		} else if tot := low[li] + high[li]; tot > 0 {
			lowShare[li] = low[li] / tot
		}
	}
	cycles := func() float64 {
		var sum float64
		for li, l := range sp.Layers {
			in := bitsOf(l.In)
			if l.In2 >= 0 {
				in = (in + bitsOf(l.In2)) / 2
			}
			c8 := p.Cycles(li, 8, 8)
			cl := p.Cycles(li, int(math.Round(in)), int(bitsOf(l.Out)))
			sum += (1-lowShare[li])*c8 + lowShare[li]*cl
		}
		return sum
	}
	cost, base := bitops, float64(r.BitOPsInt8)
	if p.Cycles != nil {
		r.CyclesInt8 = 0
		for li := range sp.Layers {
			r.CyclesInt8 += p.Cycles(li, 8, 8)
		}
		cost, base = cycles, r.CyclesInt8
	}
	cur, curCost := bitops(), cost()
	for {
		if p.BitOPsTarget > 0 && cur > 0 && float64(r.BitOPsInt8)/cur >= p.BitOPsTarget {
			break
		}
		best := Step{Score: 0}
		found := false
		for _, f := range r.Free {
			b := bits[f]
			nb, ok := lower[b]
			if !ok || frozen[f] {
				continue
			}
			bits[f] = nb
			after, afterCost := bitops(), cost()
			bits[f] = b
			phi := 0.0
			if base > 0 {
				phi = (curCost - afterCost) / base
			}
			h8 := r.Entropy[f][8]
			omega := 0.0
			if h8 > 0 {
				omega = (r.Entropy[f][b] - r.Entropy[f][nb]) / h8
			}
			s := -p.Lambda*omega + (1-p.Lambda)*phi
			// Ties go to the earlier map (deterministic).
			if !found || s > best.Score {
				best = Step{FM: f, Tensor: sp.FMs[f].Name, From: b, To: nb, Score: s, Phi: phi, Omega: omega, BitOPsAfter: int64(after + 0.5)}
				if p.Cycles != nil {
					best.CyclesAfter = afterCost
				}
				found = true
			}
		}
		if !found || best.Score <= 0 {
			break
		}
		bits[best.FM] = best.To
		if p.Accept != nil {
			ok, err := p.Accept(r.SpecFor(bits))
			if err != nil {
				return nil, err
			}
			if !ok {
				bits[best.FM] = best.From
				frozen[best.FM] = true
				r.Refused = append(r.Refused, best)
				continue
			}
		}
		cur, curCost = bitops(), cost()
		r.Steps = append(r.Steps, best)
	}
	return r, nil
}

// Bits returns each free map's bits after the first n steps.
func (r *Result) Bits(n int) map[int]int {
	bits := map[int]int{}
	for _, f := range r.Free {
		bits[f] = 8
	}
	for _, s := range r.Steps[:n] {
		bits[s.FM] = s.To
	}
	return bits
}

// Spec is the precision spec after the first n steps (n = len(Steps): the search's result).
func (r *Result) Spec(n int) *precision.Spec { return r.SpecFor(r.Bits(n)) }

// SpecFor is the precision spec of the given bitwidths (free maps; missing ones at 8).
func (r *Result) SpecFor(bits map[int]int) *precision.Spec {
	rate := r.Thresholds.Rate
	spec := &precision.Spec{Format: precision.Format, Version: precision.Version,
		Checked: precision.Checked{Tensor: r.plan.FMs[r.checked].Name, Lo: r.Thresholds.Lo, Hi: r.Thresholds.Hi, OutlierRate: &rate},
		Maps:    map[string]precision.Map{}}
	for _, f := range r.Free {
		b, ok := bits[f]
		if !ok {
			b = 8
		}
		spec.Maps[r.plan.FMs[f].Name] = r.Ranges[f][b]
	}
	return spec
}

// BitOPsAfter is the mixed patch-stage BitOPs after the first n steps (expected over the
// calibration tiles).
func (r *Result) BitOPsAfter(n int) int64 {
	if n == 0 {
		return r.BitOPsInt8
	}
	return r.Steps[n-1].BitOPsAfter
}

// CyclesAfter is the expected patch-stage cycles after the first n steps (0 without
// Problem.Cycles).
func (r *Result) CyclesAfter(n int) float64 {
	if n == 0 {
		return r.CyclesInt8
	}
	return r.Steps[n-1].CyclesAfter
}
