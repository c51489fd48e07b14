package tensorio

import "math"

// precisionBits is the fixed-point precision of the 8-bit resampling weights (Pillow's
// choice for 8-bit images: 32 bits minus 8 bits of pixel minus 2 bits of headroom).
const precisionBits = 32 - 8 - 2

// taps are the resampling weights of one output sample: inputs first..first+len(w)-1.
type taps struct {
	first int
	w     []int32
}

// bilinearTaps computes, for an axis of in samples resized to out samples, the weights of a
// triangle (bilinear) filter. When downscaling, the filter is widened by the scale factor so
// every input sample contributes (area-style antialiasing, as Pillow's BILINEAR resize does).
// Weights are normalised to sum 1 and rounded to precisionBits fixed point.
func bilinearTaps(in, out int) []taps {
	scale := float64(in) / float64(out)
	fscale := max(scale, 1)
	support := fscale // the triangle's radius is 1 input sample, widened when downscaling
	res := make([]taps, out)
	weights := make([]float64, 0, int(math.Ceil(support))*2+1)
	for o := range res {
		center := (float64(o) + 0.5) * scale
		lo := int(center - support + 0.5) // truncation toward zero, then clamp
		if lo < 0 {
			lo = 0
		}
		hi := int(center + support + 0.5)
		if hi > in {
			hi = in
		}
		weights = weights[:0]
		sum := 0.0
		inv := 1 / fscale
		for x := lo; x < hi; x++ {
			d := math.Abs((float64(x) - center + 0.5) * inv)
			wt := 0.0
			if d < 1 {
				wt = 1 - d
			}
			weights = append(weights, wt)
			sum += wt
		}
		t := taps{first: lo, w: make([]int32, len(weights))}
		for i, wt := range weights {
			if sum != 0 {
				wt /= sum
			}
			// Round half away from zero to fixed point.
			t.w[i] = int32(math.Trunc(wt*(1<<precisionBits) + math.Copysign(0.5, wt)))
		}
		res[o] = t
	}
	return res
}

// resizeBilinear resizes p to w×h with the antialiased triangle filter, horizontally first
// and then vertically, rounding to 8 bits after each pass (as Pillow does for 8-bit images).
func resizeBilinear(p *Pixels, w, h int) *Pixels {
	if p.W == w && p.H == h {
		return p
	}
	cur := p
	if w != p.W {
		cur = resampleAxis(cur, w, true)
	}
	if h != p.H {
		cur = resampleAxis(cur, h, false)
	}
	return cur
}

// resampleAxis resamples p along x (horizontal) or y to n samples.
func resampleAxis(p *Pixels, n int, horizontal bool) *Pixels {
	c := p.C
	var q *Pixels
	var tp []taps
	if horizontal {
		q = &Pixels{W: n, H: p.H, C: c, Pix: make([]uint8, n*p.H*c)}
		tp = bilinearTaps(p.W, n)
	} else {
		q = &Pixels{W: p.W, H: n, C: c, Pix: make([]uint8, p.W*n*c)}
		tp = bilinearTaps(p.H, n)
	}
	rowStride := p.W * c
	for y := 0; y < q.H; y++ {
		for x := 0; x < q.W; x++ {
			var t taps
			var base, step int
			if horizontal {
				t = tp[x]
				base, step = y*rowStride+t.first*c, c
			} else {
				t = tp[y]
				base, step = t.first*rowStride+x*c, rowStride
			}
			for ch := 0; ch < c; ch++ {
				acc := int64(1) << (precisionBits - 1)
				idx := base + ch
				for _, wt := range t.w {
					acc += int64(p.Pix[idx]) * int64(wt)
					idx += step
				}
				q.Pix[(y*q.W+x)*c+ch] = clip8(acc)
			}
		}
	}
	return q
}

// clip8 converts a fixed-point accumulator to an 8-bit sample, saturating.
func clip8(acc int64) uint8 {
	if acc <= 0 {
		return 0
	}
	v := acc >> precisionBits
	if v > 255 {
		return 255
	}
	return uint8(v)
}
