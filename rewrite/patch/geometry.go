package patch

import "fmt"

// Window is a half-open rectangle [R0,R1) x [C0,C1) of a feature map. Empty windows have
// R0 == R1 or C0 == C1.
type Window struct{ R0, R1, C0, C1 int }

// Empty reports whether the window holds no element.
func (w Window) Empty() bool { return w.R0 >= w.R1 || w.C0 >= w.C1 }

// Rows and Cols are the window's extent (0 when empty).
func (w Window) Rows() int { return max(w.R1-w.R0, 0) }

// Cols is the window's width (0 when empty).
func (w Window) Cols() int { return max(w.C1-w.C0, 0) }

// union returns the bounding box of w and v (an empty operand is ignored).
func (w Window) union(v Window) Window {
	if w.Empty() {
		return v
	}
	if v.Empty() {
		return w
	}
	return Window{min(w.R0, v.R0), max(w.R1, v.R1), min(w.C0, v.C0), max(w.C1, v.C1)}
}

// interval is the input range [lo, hi) that output range [o0, o1) of a sliding window with
// kernel k, stride s, dilation d and padding-before p reads, clipped to [0, size).
func interval(o0, o1, k, s, d, p, size int) (int, int) {
	if o0 >= o1 {
		return 0, 0
	}
	lo := o0*s - p
	hi := (o1-1)*s - p + (k-1)*d + 1
	return clip(lo, hi, size)
}

func clip(lo, hi, size int) (int, int) {
	lo, hi = max(lo, 0), min(hi, size)
	if lo >= hi {
		return 0, 0
	}
	return lo, hi
}

// inputWindow returns the window of input feature map that layer l needs to compute the
// window out of its output (for ADD: of both inputs).
func (l *Layer) inputWindow(out Window, in FeatureMap) Window {
	if out.Empty() {
		return Window{}
	}
	var w Window
	switch l.Kind {
	case KindAdd, KindQuantize: // elementwise
		return out
	case KindPad:
		w.R0, w.R1 = clip(out.R0-l.PadTop, out.R1-l.PadTop, in.H)
		w.C0, w.C1 = clip(out.C0-l.PadLeft, out.C1-l.PadLeft, in.W)
	default:
		w.R0, w.R1 = interval(out.R0, out.R1, l.KH, l.SH, l.DH, l.PadTop, in.H)
		w.C0, w.C1 = interval(out.C0, out.C1, l.KW, l.SW, l.DW, l.PadLeft, in.W)
	}
	if w.Empty() {
		return Window{}
	}
	return w
}

// splitEven cuts [0, n) into k consecutive parts as even as possible (the first n%k parts
// one longer).
func splitEven(n, k int) []int {
	b := make([]int, k+1)
	for i := 1; i <= k; i++ {
		b[i] = b[i-1] + n/k
		if i <= n%k {
			b[i]++
		}
	}
	return b
}

// Tiles computes, for the first n layers of s and an R x C grid over the output of layer n-1,
// the window of every feature map 0..n for every tile (tiles row-major). Feature maps are
// indexed as in s.FMs; the result has n+1 windows per tile.
func (s *Stage) Tiles(n, rows, cols int) ([][]Window, error) {
	if n < 1 || n > len(s.Layers) {
		return nil, fmt.Errorf("split %d outside 1..%d", n, len(s.Layers))
	}
	out := s.FMs[n]
	if rows*cols > MaxTiles {
		return nil, fmt.Errorf("grid %dx%d has more than %d tiles", rows, cols, MaxTiles)
	}
	if rows < 1 || cols < 1 || rows > out.H || cols > out.W {
		return nil, fmt.Errorf("grid %dx%d does not fit the %dx%d stage output", rows, cols, out.H, out.W)
	}
	rb, cb := splitEven(out.H, rows), splitEven(out.W, cols)
	tiles := make([][]Window, 0, rows*cols)
	for r := range rows {
		for c := range cols {
			need := make([]Window, n+1)
			need[n] = Window{rb[r], rb[r+1], cb[c], cb[c+1]}
			for li := n - 1; li >= 0; li-- {
				l := &s.Layers[li]
				w := l.inputWindow(need[l.Out], s.FMs[l.In])
				need[l.In] = need[l.In].union(w)
				if l.In2 >= 0 {
					need[l.In2] = need[l.In2].union(w)
				}
			}
			tiles = append(tiles, need)
		}
	}
	return tiles, nil
}

// taps counts, summed over output positions [o0, o1), the kernel taps that fall inside
// [0, size) of the input (border padding excluded).
func taps(o0, o1, k, s, d, p, size int) int64 {
	var n int64
	for o := o0; o < o1; o++ {
		for i := range k {
			if y := o*s - p + i*d; y >= 0 && y < size {
				n++
			}
		}
	}
	return n
}

// macsPerOutput is the multiply-accumulates per output element of l with full kernel windows
// (the convention of rewrite/analysis).
func (l *Layer) macsPerOutput(in FeatureMap) int64 {
	switch l.Kind {
	case KindConv:
		return int64(l.KH) * int64(l.KW) * int64(in.C)
	case KindDepthwise, KindMaxPool, KindAvgPool:
		return int64(l.KH) * int64(l.KW)
	case KindAdd:
		return 1
	}
	return 0
}

// windowMACs returns the MACs of layer l computing window out of its output: full counts
// every kernel tap, clipped only the taps inside the input feature map.
func (l *Layer) windowMACs(out Window, in, y FeatureMap) (full, clipped int64) {
	if out.Empty() {
		return 0, 0
	}
	area := int64(out.Rows()) * int64(out.Cols())
	full = area * int64(y.C) * l.macsPerOutput(in)
	switch l.Kind {
	case KindConv, KindDepthwise, KindMaxPool, KindAvgPool:
		t := taps(out.R0, out.R1, l.KH, l.SH, l.DH, l.PadTop, in.H) * taps(out.C0, out.C1, l.KW, l.SW, l.DW, l.PadLeft, in.W)
		per := int64(1)
		if l.Kind == KindConv {
			per = int64(in.C)
		}
		clipped = t * per * int64(y.C)
	default:
		clipped = full
	}
	return full, clipped
}
