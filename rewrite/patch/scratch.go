package patch

import (
	"cmp"
	"math"
	"slices"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
)

// scratchAlign is the alignment of every window buffer inside the op's scratch area.
const scratchAlign = 16

// Row orders of a layer (PLAN.md layer word 30): output rows top to bottom or bottom to top,
// the pixels of a row left to right either way.
const (
	OrderTopDown  = 0
	OrderBottomUp = 1
)

// windowBytes returns, per feature map 0..n, the largest window over all tiles in bytes.
func windowBytes(fms []FeatureMap, tiles [][]Window) []int64 {
	sz := make([]int64, len(fms))
	for _, t := range tiles {
		for f, w := range t {
			sz[f] = max(sz[f], int64(w.Rows())*int64(w.Cols())*int64(fms[f].C))
		}
	}
	return sz
}

// branch is one pixel format of the stage's maps: the bytes of one pixel of every feature
// map, for the layers from..n-1 (the int8 branch runs every layer; a low branch the layers
// from its checked map on).
type branch struct {
	from  int
	pixel []int64
}

// int8Branch is every map in int8: one byte per channel.
func int8Branch(fms []FeatureMap) branch {
	b := branch{pixel: make([]int64, len(fms))}
	for f, fm := range fms {
		b.pixel[f] = int64(fm.C)
	}
	return b
}

// scratchLayout is where the inner feature maps' window buffers live in the op's scratch
// area and in which row order each layer runs.
type scratchLayout struct {
	Offsets []int64 // per feature map; -1 for fm 0 and fm n (the op's tensors)
	Orders  []int32 // per layer, OrderTopDown or OrderBottomUp
	Bytes   int64
}

// inPlace is how layer l's output buffer may overlap the buffer of its input in (PLAN.md,
// "In-place layers"): computing rows top-down, when off(out) - off(in) <= down (every store
// lands below what later pixels still read); bottom-up, when off(out) - off(in) >= up (every
// store lands above it). Both bounds hold for every tile and every branch.
type inPlace struct {
	in       int
	down, up int64
}

// pair is a layer's output fm out written over its input fm in, in the given row order,
// with its bound (inPlace.down for top-down, inPlace.up for bottom-up).
type pair struct {
	in, out int
	order   int32
	bound   int64
}

// axisReads holds, per output position of one axis, the in-map input positions read.
type axisReads struct {
	lo, hi []int // first and last in-map input position, per output position
	ok     []bool
}

// reads returns, for output positions [o0, o1) of one axis of layer l (kernel k, stride s,
// dilation d, padding p over an input of size n), the in-map input positions they read.
func reads(l *Layer, o0, o1 int, vertical bool, n int) axisReads {
	k, s, d, p := l.KW, l.SW, l.DW, l.PadLeft
	if vertical {
		k, s, d, p = l.KH, l.SH, l.DH, l.PadTop
	}
	switch l.Kind {
	case KindAdd:
		k, s, d, p = 1, 1, 1, 0
	case KindPad:
		k, s, d, p = 1, 1, 1, l.PadLeft
		if vertical {
			p = l.PadTop
		}
	}
	r := axisReads{lo: make([]int, o1-o0), hi: make([]int, o1-o0), ok: make([]bool, o1-o0)}
	for o := o0; o < o1; o++ {
		base := o*s - p
		first := 0
		if base < 0 {
			first = (-base + d - 1) / d
		}
		last := k - 1
		if base+last*d >= n {
			last = (n - 1 - base)
			if last < 0 {
				last = -1
			} else {
				last /= d
			}
		}
		if first > last || first >= k {
			continue
		}
		r.lo[o-o0], r.hi[o-o0], r.ok[o-o0] = base+first*d, base+last*d, true
	}
	return r
}

// margins computes the in-place bounds of layer l's output (fm out) over its input fm in for
// one tile, with ib and ob bytes per input and output pixel, and folds them into ip. A byte
// address splits into a row part and a column part, so the per-pixel bounds reduce to one
// pass over the columns and one over the rows.
func margins(l *Layer, in FeatureMap, iw, ow Window, ib, ob int64, ip *inPlace) {
	if ow.Empty() {
		return
	}
	rows := reads(l, ow.R0, ow.R1, true, in.H)
	cols := reads(l, ow.C0, ow.C1, false, in.W)
	nc, nr := ow.Cols(), ow.Rows()
	rowPart := func(r int) int64 { return int64(r-iw.R0) * int64(iw.Cols()) * ib }
	colPart := func(c int) int64 { return int64(c-iw.C0) * ib }
	// Top-down, pixel (i, j) stores bytes ending at (i*nc + j + 1)*ob and must stay below
	// the first byte the rest of its row reads, rowPart + colPart(first readable column >= j),
	// and below what the later rows read. The column terms do not depend on the row.
	const none = math.MaxInt64
	colMin := int64(none) // min over j of colPart(first readable column >= j) - (j+1)*ob
	firstCol, lastCol := -1, -1
	for j := nc - 1; j >= 0; j-- {
		if cols.ok[j] {
			firstCol = j
			if lastCol < 0 {
				lastCol = j
			}
		}
		if firstCol >= 0 {
			colMin = min(colMin, colPart(cols.lo[firstCol])-int64(j+1)*ob)
		}
	}
	later := int64(none)
	for i := nr - 1; i >= 0; i-- {
		base := int64(i*nc) * ob
		if later != none {
			ip.down = min(ip.down, later-base-int64(nc)*ob)
		}
		if rows.ok[i] && firstCol >= 0 {
			ip.down = min(ip.down, rowPart(rows.lo[i])-base+colMin)
			later = min(later, rowPart(rows.lo[i])+colPart(cols.lo[firstCol]))
		}
	}
	// Bottom-up, pixel (i, j) stores bytes from (i*nc + j)*ob on, above the end of what its
	// row and the rows above read; the tightest is j = 0.
	above := int64(math.MinInt64)
	for i := range nr {
		bound := above
		if rows.ok[i] && lastCol >= 0 {
			bound = max(bound, rowPart(rows.hi[i])+colPart(cols.hi[lastCol])+ib)
		}
		if bound != math.MinInt64 {
			ip.up = max(ip.up, bound-int64(i*nc)*ob)
		}
		above = bound
	}
}

// lastReaders returns per feature map the last layer reading it (f-1 when none does).
func lastReaders(layers []Layer) []int {
	last := make([]int, len(layers)+1)
	for f := range last {
		last[f] = f - 1
	}
	for li, l := range layers {
		last[l.In] = max(last[l.In], li)
		if l.In2 >= 0 {
			last[l.In2] = max(last[l.In2], li)
		}
	}
	return last
}

// inPlaceCandidates returns per layer the inputs its output may overlap (PLAN.md, "In-place
// layers": a scratch input the layer reads last) with their bounds over all
// tiles and branches.
func inPlaceCandidates(layers []Layer, fms []FeatureMap, tiles [][]Window, branches []branch) [][]inPlace {
	n := len(layers)
	last := lastReaders(layers)
	out := make([][]inPlace, n)
	for li := range layers {
		l := &layers[li]
		if l.Out >= n {
			continue
		}
		for _, u := range []int{l.In, l.In2} {
			if u < 1 || last[u] != li || (u == l.In2 && u == l.In) {
				continue
			}
			ip := inPlace{in: u, down: math.MaxInt64, up: math.MinInt64}
			for _, b := range branches {
				if li < b.from {
					continue
				}
				for _, t := range tiles {
					margins(l, fms[u], t[u], t[l.Out], b.pixel[u], b.pixel[l.Out], &ip)
				}
			}
			out[li] = append(out[li], ip)
		}
	}
	return out
}

// layoutScratch places the window buffers of the inner feature maps (1..n-1) in one scratch
// area. A buffer lives from the layer writing it to its last reader; buffers alive at the
// same time do not overlap, except a layer's output with an input it reads last, where
// PLAN.md's in-place rule holds for every tile in every branch (the layer's row order is
// chosen for it: top-down when the output may start before the input, as for depthwise and
// contracting convolutions, bottom-up when it may start after it, as for expanding 1x1
// convolutions). Buffers are placed greedily where the area grows least (then at the lowest
// offset), in three orders (largest first, the chain forwards, backwards), keeping the
// smallest area; offsets are multiples of 16.
func layoutScratch(layers []Layer, fms []FeatureMap, tiles [][]Window, branches []branch) scratchLayout {
	n := len(layers)
	sizes := windowBytes(fms, tiles)
	for f := range sizes {
		sizes[f] = analysis.AlignUp(sizes[f], scratchAlign)
	}
	lay := scratchLayout{Offsets: make([]int64, n+1), Orders: make([]int32, n)}
	for i := range lay.Offsets {
		lay.Offsets[i] = -1
	}
	// Each layer's order and its in-place pair (at most one input per layer), where
	// overlapping saves space.
	var pairs []pair
	for li, cs := range inPlaceCandidates(layers, fms, tiles, branches) {
		o := layers[li].Out
		best, gain := pair{}, int64(0)
		for _, c := range cs {
			su, so := sizes[c.in], sizes[o]
			if c.down != math.MaxInt64 {
				if span := max(su-c.down, so) + scratchAlign; su+so-span > gain {
					best, gain = pair{c.in, o, OrderTopDown, c.down}, su+so-span
				}
			}
			if c.up != math.MinInt64 {
				if span := max(su, c.up+so) + scratchAlign; su+so-span > gain {
					best, gain = pair{c.in, o, OrderBottomUp, c.up}, su+so-span
				}
			}
		}
		if gain > 0 {
			pairs = append(pairs, best)
			lay.Orders[li] = best.order
		}
	}
	last := lastReaders(layers)
	var bySize []int
	for f := 1; f < n; f++ {
		bySize = append(bySize, f)
	}
	forwards, backwards := slices.Clone(bySize), slices.Clone(bySize)
	slices.Reverse(backwards)
	slices.SortStableFunc(bySize, func(a, b int) int { return cmp.Compare(sizes[b], sizes[a]) })
	lay.Bytes = -1
	for _, order := range [][]int{bySize, forwards, backwards} {
		offs, total := place(order, sizes, last, pairs)
		if lay.Bytes < 0 || total < lay.Bytes {
			copy(lay.Offsets[1:n], offs[1:n])
			lay.Bytes = total
		}
	}
	lay.Bytes = max(lay.Bytes, 0)
	return lay
}

// place puts the buffers of sizes (multiples of 16) in the given order (see layoutScratch)
// and returns their offsets from 0 and the area's size.
func place(order []int, sizes []int64, last []int, pairs []pair) ([]int64, int64) {
	offs := make([]int64, len(sizes))
	pairOf := func(in, out int) (pair, bool) {
		for _, p := range pairs {
			if p.in == in && p.out == out {
				return p, true
			}
		}
		return pair{}, false
	}
	// fits reports whether output buffer o at offset oOff may overlap its input at iOff.
	fits := func(p pair, oOff, iOff int64) bool {
		if p.order == OrderTopDown {
			return oOff-iOff <= p.bound
		}
		return oOff-iOff >= p.bound
	}
	alignDown := func(v int64) int64 { return v - ((v%scratchAlign)+scratchAlign)%scratchAlign }
	alignUp := func(v int64) int64 { return -alignDown(-v) }
	type placed struct {
		f        int
		off, end int64
	}
	var done []placed
	lo, hi := int64(0), int64(0)
	for _, f := range order {
		size := sizes[f]
		var busy []placed
		for _, p := range done {
			if f-1 <= last[p.f] && p.f-1 <= last[f] {
				busy = append(busy, p)
			}
		}
		valid := func(off int64) bool {
			for _, p := range busy {
				if pr, ok := pairOf(p.f, f); ok && fits(pr, off, p.off) {
					continue
				}
				if pr, ok := pairOf(f, p.f); ok && fits(pr, p.off, off) {
					continue
				}
				if off < p.end && p.off < off+size {
					return false
				}
			}
			return true
		}
		cand := []int64{0, lo, hi - size}
		for _, p := range busy {
			cand = append(cand, p.end, p.off-size)
			if pr, ok := pairOf(p.f, f); ok {
				cand = append(cand, alignDown(p.off+pr.bound), alignUp(p.off+pr.bound))
			}
			if pr, ok := pairOf(f, p.f); ok {
				cand = append(cand, alignDown(p.off-pr.bound), alignUp(p.off-pr.bound))
			}
		}
		at, span := int64(0), int64(math.MaxInt64)
		for _, c := range cand {
			if !valid(c) {
				continue
			}
			s := max(hi, c+size) - min(lo, c)
			if s < span || (s == span && c >= lo && (at < lo || c < at)) {
				at, span = c, s
			}
		}
		if len(done) == 0 {
			at = 0
		}
		offs[f] = at
		done = append(done, placed{f, at, at + size})
		lo, hi = min(lo, at), max(hi, at+size)
	}
	for _, f := range order {
		offs[f] -= lo
	}
	return offs, hi - lo
}

// setLayout adopts a scratch layout.
func (sp *StagePlan) setLayout(l scratchLayout) {
	sp.ScratchOffsets, sp.ScratchBytes, sp.RowOrders = l.Offsets, l.Bytes, l.Orders
}

// rowOrder is layer li's row order (PLAN.md layer word 30).
func (sp *StagePlan) rowOrder(li int) int32 {
	if li < len(sp.RowOrders) {
		return sp.RowOrders[li]
	}
	return OrderTopDown
}

// relayout recomputes the scratch layout for the int8 branch and, with a low branch, its
// formats (an in-place layer must hold in both), and the report when the size changed.
func (sp *StagePlan) relayout() error {
	branches := []branch{int8Branch(sp.FMs)}
	if sp.Low != nil {
		b := branch{from: sp.Low.Checked, pixel: make([]int64, len(sp.FMs))}
		for f, fm := range sp.FMs {
			bits := 8
			if f > sp.Low.Checked && f < len(sp.FMs)-1 {
				bits = sp.Low.FMs[f].Bits
			}
			b.pixel[f] = (int64(fm.C)*int64(bits) + 7) / 8
		}
		branches = append(branches, b)
	}
	old := sp.ScratchBytes
	sp.setLayout(layoutScratch(sp.Layers, sp.FMs, sp.Tiles, branches))
	if sp.ScratchBytes != old && sp.rescore != nil {
		return sp.rescore()
	}
	return nil
}
