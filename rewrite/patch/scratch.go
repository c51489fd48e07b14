package patch

import (
	"cmp"
	"slices"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
)

// scratchAlign is the alignment of every window buffer inside the op's scratch area.
const scratchAlign = 16

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

// assignScratch places the window buffers of the inner feature maps (1..n-1) in one scratch
// area by their lifetimes within a tile: fm f lives from layer f-1 (which writes it) to its
// last reader. Buffers are placed largest first (ties: lower index first) at the lowest
// 16-byte-aligned offset that does not overlap a placed buffer alive at the same time. It
// returns the offsets (-1 for fm 0 and fm n, which live in the op's tensors) and the area size.
func assignScratch(layers []Layer, sizes []int64) ([]int64, int64) {
	n := len(layers)
	offs := make([]int64, n+1)
	for i := range offs {
		offs[i] = -1
	}
	last := make([]int, n+1)
	for f := range last {
		last[f] = f - 1
	}
	for li, l := range layers {
		last[l.In] = max(last[l.In], li)
		if l.In2 >= 0 {
			last[l.In2] = max(last[l.In2], li)
		}
	}
	var order []int
	for f := 1; f < n; f++ {
		order = append(order, f)
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sizes[b], sizes[a]) })
	type placed struct {
		f        int
		off, end int64
	}
	var done []placed
	var total int64
	for _, f := range order {
		size := analysis.AlignUp(sizes[f], scratchAlign)
		var busy []placed
		for _, p := range done {
			if f-1 <= last[p.f] && p.f-1 <= last[f] {
				busy = append(busy, p)
			}
		}
		slices.SortFunc(busy, func(a, b placed) int { return cmp.Compare(a.off, b.off) })
		var at int64
		for _, p := range busy {
			if p.off-at >= size {
				break
			}
			at = max(at, p.end)
		}
		offs[f] = at
		done = append(done, placed{f, at, at + size})
		total = max(total, at+size)
	}
	return offs, total
}
