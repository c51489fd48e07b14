// Package vdpc is QuantMCU's value-driven patch classification (DESIGN.md §4), offline part:
// from calibration statistics it chooses the int8 thresholds [lo, hi] of the checked feature
// map so that a target fraction of calibration tiles are outlier tiles, and, for every later
// map, the real range its low-bit codes cover, from the non-outlier tiles only.
//
// Thresholds: a tile's peak is the largest distance of a checked-map code from the zero point
// inside its window (the magnitude of its most extreme value); the threshold distance d is the
// smallest one whose outlier fraction (peak > d) is at most the target rate, and
// [lo, hi] = [zp - d, zp + d] clipped to int8. Not a per-value quantile: a tile holds
// thousands of values, so a per-value quantile would flag nearly every tile.
//
// Ranges (the clipping rule): for b bits, the range of the b-bit grid that minimises the
// squared quantization error over the non-outlier code histogram, searched over clip points at
// the histogram's tail quantiles on both sides (0 .. 10% of the mass). 8 bits keep the map's
// int8 range, which is exact.
package vdpc

import (
	"math"

	"github.com/quantmcu/quantmcu/rewrite/calibrate"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/rewrite/precision"
)

// Thresholds is the outlier test of one stage.
type Thresholds struct {
	Distance int     // threshold distance d in codes (255: no tile is an outlier tile)
	Lo, Hi   int     // int8 codes
	Rate     float64 // outlier-tile fraction on the calibration data
}

// Choose picks the smallest distance whose calibration outlier rate is at most rate.
func Choose(st *calibrate.Stats, rate float64) Thresholds {
	d := 255
	if rate > 0 {
		// Count peaks; the outlier fraction at distance d is the share of peaks above d.
		var count [256]int
		total := 0
		for _, peaks := range st.Peaks {
			for _, p := range peaks {
				count[p]++
				total++
			}
		}
		above := 0
		for d = 255; d > 0; d-- {
			// Lowering d to d-1 adds the tiles whose peak is exactly d.
			if float64(above+count[d]) > rate*float64(total) {
				break
			}
			above += count[d]
		}
	}
	zp := int(st.CheckedZP)
	return Thresholds{Distance: d, Lo: max(zp-d, -128), Hi: min(zp+d, 127), Rate: st.OutlierRate(d)}
}

// tailQuantiles are the masses clipped from either end of a histogram when searching ranges.
var tailQuantiles = []float64{0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1}

// Range returns the low-bit range of map fm at bits over histogram h (index int8 code + 128)
// and its squared error per value (in real units squared).
func Range(h [256]int64, fm patch.FeatureMap, bits int) (precision.Map, float64) {
	s := float64(fm.Scale)
	real := func(c int) float64 { return s * float64(c-128-int(fm.ZeroPoint)) }
	if bits == 8 {
		return precision.Map{Bits: 8, Min: real(0), Max: real(255)}, 0
	}
	var total int64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return precision.Map{Bits: bits, Min: real(0), Max: real(255)}, 0
	}
	clip := func(q float64, fromTop bool) int {
		limit := int64(q * float64(total))
		var acc int64
		for i := range 256 {
			c := i
			if fromTop {
				c = 255 - i
			}
			acc += h[c]
			if acc > limit {
				return c
			}
		}
		return 0
	}
	best, bestErr := precision.Map{}, math.Inf(1)
	for _, ql := range tailQuantiles {
		for _, qh := range tailQuantiles {
			lo, hi := clip(ql, false), clip(qh, true)
			if lo >= hi {
				continue
			}
			m := precision.Map{Bits: bits, Min: real(lo), Max: real(hi)}
			f, err := patch.FormatFromRange(m, fm)
			if err != nil {
				continue
			}
			if e := SquaredError(h, fm, f); e < bestErr {
				best, bestErr = m, e
			}
		}
	}
	if math.IsInf(bestErr, 1) {
		return precision.Map{Bits: bits, Min: real(0), Max: real(255)}, 0
	}
	return best, bestErr / float64(total)
}

// Requantize maps int8 code c (as real value) to the code of format f, as the low branch's
// producers do (round half away from zero, clamp).
func Requantize(c int, fm patch.FeatureMap, f patch.LowFormat) int {
	r := float64(fm.Scale) * float64(c-int(fm.ZeroPoint))
	q := int(math.Round(r/float64(f.Scale))) + int(f.ZeroPoint)
	qmin, qmax := -128, 127
	if f.Bits < 8 {
		qmin, qmax = 0, 1<<f.Bits-1
	}
	return min(max(q, qmin), qmax)
}

// SquaredError is the total squared error of representing the histogram's values in format f.
func SquaredError(h [256]int64, fm patch.FeatureMap, f patch.LowFormat) float64 {
	var e float64
	for i, n := range h {
		if n == 0 {
			continue
		}
		c := i - 128
		q := Requantize(c, fm, f)
		d := float64(fm.Scale)*float64(c-int(fm.ZeroPoint)) - float64(f.Scale)*float64(q-int(f.ZeroPoint))
		e += float64(n) * d * d
	}
	return e
}

// Entropy is the Shannon entropy (bits) of the histogram's values coded in format f.
func Entropy(h [256]int64, fm patch.FeatureMap, f patch.LowFormat) float64 {
	var counts [256]int64 // by code + 128, summed in code order (deterministic)
	for i, n := range h {
		if n > 0 {
			counts[Requantize(i-128, fm, f)+128] += n
		}
	}
	return entropyOf(&counts)
}

// entropyOf is the Shannon entropy (bits) of a histogram, summed in index order.
func entropyOf(counts *[256]int64) float64 {
	var total int64
	for _, n := range counts {
		total += n
	}
	var e float64
	for _, n := range counts {
		if n > 0 {
			p := float64(n) / float64(total)
			e -= p * math.Log2(p)
		}
	}
	return e
}

// ChannelRange returns per-channel ranges [0, max_c] for a map with per-channel scales at bits
// (a RELU map: one zero point, the code of real 0): per channel, the clip point among the
// channel's tail quantiles that minimises the squared error. Empty channels keep the map's
// int8 maximum. No range exceeds limit (the producer's activation bound, e.g. 6 for RELU6).
func ChannelRange(h [][256]int64, fm patch.FeatureMap, bits int, limit float64) precision.Map {
	s := float64(fm.Scale)
	zero := int(fm.ZeroPoint) + 128 // histogram index of real 0
	top := s * float64(255-zero)
	qmax := float64(int(1)<<bits - 1)
	if bits == 8 {
		qmax = 255
	}
	m := precision.Map{Bits: bits, ChannelMax: make([]float64, len(h))}
	for c, ch := range h {
		var total int64
		for _, n := range ch {
			total += n
		}
		best, bestErr := top, math.Inf(1)
		for _, q := range tailQuantiles {
			limit, acc, hi := int64(q*float64(total)), int64(0), zero
			for i := 255; i > zero; i-- {
				acc += ch[i]
				if acc > limit {
					hi = i
					break
				}
			}
			if hi <= zero {
				continue
			}
			rmax := s * float64(hi-zero)
			step := rmax / qmax
			var e float64
			for i, n := range ch {
				if n == 0 {
					continue
				}
				r := s * float64(i-zero)
				qv := math.Min(math.Max(math.Round(r/step), 0), qmax)
				d := r - qv*step
				e += float64(n) * d * d
			}
			if e < bestErr {
				best, bestErr = rmax, e
			}
		}
		if total == 0 {
			best = s
		}
		best = math.Max(math.Min(best, limit), s) // at most the activation's bound, at least one int8 step
		m.ChannelMax[c] = best
		m.Max = math.Max(m.Max, best)
	}
	return m
}

// ChannelEntropy is the Shannon entropy (bits) of the codes of a per-channel format over the
// per-channel histograms.
func ChannelEntropy(h [][256]int64, fm patch.FeatureMap, f patch.LowFormat) float64 {
	var counts [256]int64
	for c, ch := range h {
		g := f
		g.Scale, g.ChannelScales = f.ChannelScales[c], nil
		for i, n := range ch {
			if n > 0 {
				counts[Requantize(i-128, fm, g)+128] += n
			}
		}
	}
	return entropyOf(&counts)
}
