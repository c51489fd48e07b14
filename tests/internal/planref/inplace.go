package planref

import "fmt"

// The window buffers of the inner feature maps share one scratch area (PLAN.md, feature-map
// table, "In-place layers"). This file checks the sharing rule as PLAN.md states it.

// lastReaders returns, per feature map, the last layer reading it (f-1 when none does).
func (p *Plan) lastReaders() []int {
	last := make([]int, len(p.Maps))
	for f := range last {
		last[f] = f - 1
	}
	for l, rec := range p.Layers {
		last[rec.In] = max(last[rec.In], l)
		if rec.Kind == kindAdd {
			last[rec.In2] = max(last[rec.In2], l)
		}
	}
	return last
}

// span is the half-open byte range [lo, hi) of scratch; empty when lo >= hi.
type span struct{ lo, hi int }

func (a span) meets(b span) bool { return a.lo < a.hi && b.lo < b.hi && a.lo < b.hi && b.lo < a.hi }

// hull is the smallest span holding a and b.
func (a span) hull(b span) span {
	if a.lo >= a.hi {
		return b
	}
	if b.lo >= b.hi {
		return a
	}
	return span{min(a.lo, b.lo), max(a.hi, b.hi)}
}

// buffer is fm f's window buffer in tile t for a branch, in scratch bytes.
func (p *Plan) buffer(t, f int, low bool) span {
	w, m := p.Tiles[t][f], p.Maps[f]
	bits, _ := p.format(f, low)
	n := (w.R1 - w.R0) * (w.C1 - w.C0) * ((m.C*int(bits) + 7) / 8)
	return span{m.ScratchOffset, m.ScratchOffset + n}
}

// checkSharing checks, for every tile and layer, that the output buffer meets no buffer still
// to be read except an input the layer reads last, and then only as "In-place layers"
// allows in every branch that runs the layer.
func (p *Plan) checkSharing() error {
	last := p.lastReaders()
	nf := len(p.Maps)
	for t := range p.Tiles {
		for l, rec := range p.Layers {
			if rec.Out == nf-1 || p.Tiles[t][rec.Out].R0 == p.Tiles[t][rec.Out].R1 || p.Tiles[t][rec.Out].C0 == p.Tiles[t][rec.Out].C1 {
				continue
			}
			for u := 1; u <= l; u++ {
				if last[u] < l || !p.buffer(t, rec.Out, false).meets(p.buffer(t, u, false)) {
					continue
				}
				reads := u == rec.In || (rec.Kind == kindAdd && u == rec.In2)
				if !reads || last[u] != l {
					return fmt.Errorf("tile %d layer %d: output buffer overlaps the buffer of feature map %d, which is read later", t, l, u)
				}
				for _, low := range []bool{false, true} {
					if low && (p.Checked == 0 || l < p.Checked) {
						continue
					}
					if err := p.inPlace(t, &rec, u, low); err != nil {
						return fmt.Errorf("tile %d layer %d over feature map %d (low branch %v): %w", t, l, u, low, err)
					}
				}
			}
		}
	}
	return nil
}

// readsOf is the span of u's buffer that output pixel (y, x) of layer rec reads: from the
// first in-map input pixel (first row, first column) to the end of the last one.
func (p *Plan) readsOf(rec *Layer, t, u, y, x int, low bool) span {
	in, w := p.Maps[u], p.Tiles[t][u]
	bits, _ := p.format(u, low)
	pix := (in.C*int(bits) + 7) / 8
	// One axis: the in-map positions of kernel taps (ADD: the position itself; PAD: shifted).
	axis := func(o, k, s, d, pad, n int) (int, int, bool) {
		switch rec.Kind {
		case kindAdd:
			k, s, d, pad = 1, 1, 1, 0
		case kindPad:
			k, s, d = 1, 1, 1
		}
		first, last := -1, -1
		for i := range k {
			if v := o*s - pad + i*d; v >= 0 && v < n {
				if first < 0 {
					first = v
				}
				last = v
			}
		}
		return first, last, first >= 0
	}
	r0, r1, okr := axis(y, rec.KH, rec.SH, rec.DH, rec.PadTop, in.H)
	c0, c1, okc := axis(x, rec.KW, rec.SW, rec.DW, rec.PadLeft, in.W)
	if !okr || !okc {
		return span{}
	}
	at := func(r, c int) int { return in.ScratchOffset + ((r-w.R0)*(w.C1-w.C0)+(c-w.C0))*pix }
	return span{at(r0, c0), at(r1, c1) + pix}
}

// inPlace checks PLAN.md's in-place rule for layer rec over input u in tile t: with the
// output pixels in the layer's row order, no pixel's bytes meet the hull of the reads of
// itself and the rest of its row, nor the hull of the reads of the rows after it.
func (p *Plan) inPlace(t int, rec *Layer, u int, low bool) error {
	ow := p.Tiles[t][rec.Out]
	om := p.Maps[rec.Out]
	bits, _ := p.format(rec.Out, low)
	pix := (om.C*int(bits) + 7) / 8
	rows := make([]int, 0, ow.R1-ow.R0)
	for y := ow.R0; y < ow.R1; y++ {
		rows = append(rows, y)
	}
	if rec.Order == 1 {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	// Hulls of the reads of each row, then of all rows after each one in the order.
	rowHull := make([]span, len(rows))
	for i, y := range rows {
		for x := ow.C0; x < ow.C1; x++ {
			rowHull[i] = rowHull[i].hull(p.readsOf(rec, t, u, y, x, low))
		}
	}
	after := make([]span, len(rows)+1)
	for i := len(rows) - 1; i >= 0; i-- {
		after[i] = after[i+1].hull(rowHull[i])
	}
	for i, y := range rows {
		rest := span{}
		for x := ow.C1 - 1; x >= ow.C0; x-- {
			rest = rest.hull(p.readsOf(rec, t, u, y, x, low))
			o := om.ScratchOffset + ((y-ow.R0)*(ow.C1-ow.C0)+(x-ow.C0))*pix
			mine := span{o, o + pix}
			if mine.meets(rest) || mine.meets(after[i+1]) {
				return fmt.Errorf("output pixel (%d, %d) overwrites bytes that it or a later pixel reads", y, x)
			}
		}
	}
	return nil
}
