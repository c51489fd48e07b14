package tfmicroops

// A small plan writer and a whole-map reference executor for the tests. The real plan writer
// is rewrite/patch; this one follows PLAN.md independently so that the two can be compared.

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
)

type tFM struct {
	h, w, c int
	zp      int32
}

type tLayer struct {
	kind                               Kind
	in, in2                            int
	kh, kw, sh, sw, dh, dw, pt, pl, dm int
	inOff, outOff, actMin, actMax      int32
	weights                            []int8
	bias                               []int32 // nil: no bias tensor
	mult, shift                        []int32
	add                                [9]int32 // in1 off, in2 off, left shift, m1, s1, m2, s2, mo, so
}

// tStage is a stage under construction: fms[0] is the input, layer l writes fms[l+1].
type tStage struct {
	fms    []tFM
	layers []tLayer
	nchw   bool
	rng    *rand.Rand
}

func newStage(rng *rand.Rand, h, w, c int) *tStage {
	return &tStage{fms: []tFM{{h, w, c, int32(rng.IntN(41) - 20)}}, rng: rng}
}

func (s *tStage) last() int { return len(s.fms) - 1 }

// geometry returns the output size and leading pad of a sliding window (TFLite SAME/VALID).
func geometry(in, k, stride, dil int, same bool) (out, pad int) {
	eff := (k-1)*dil + 1
	if same {
		out = (in + stride - 1) / stride
		pad = max((out-1)*stride+eff-in, 0) / 2
		return out, pad
	}
	if in < eff {
		return 0, 0
	}
	return (in-eff)/stride + 1, 0
}

// quantize splits a positive real multiplier like TFLite's QuantizeMultiplier.
func quantize(real float64) (int32, int32) {
	frac, exp := math.Frexp(real)
	q := int64(math.Round(frac * (1 << 31)))
	if q == 1<<31 {
		q /= 2
		exp++
	}
	return int32(q), int32(exp)
}

func (s *tStage) activation(zp int32) (int32, int32) {
	switch s.rng.IntN(3) {
	case 0:
		return -128, 127
	case 1:
		return zp, 127
	}
	return zp, min(127, zp+int32(20+s.rng.IntN(60)))
}

func (s *tStage) push(l tLayer, out tFM) int {
	l.in2 = max(l.in2, -1)
	s.layers = append(s.layers, l)
	s.fms = append(s.fms, out)
	return s.last()
}

// convLike appends a CONV_2D (dw == false) or DEPTHWISE_CONV_2D reading fm in. It returns -1
// when the geometry is impossible.
func (s *tStage) convLike(in int, depthwise bool, k, stride, dil int, same bool, outC, dm int) int {
	x := s.fms[in]
	oh, pt := geometry(x.h, k, stride, dil, same)
	ow, pl := geometry(x.w, k, stride, dil, same)
	if oh < 1 || ow < 1 {
		return -1
	}
	l := tLayer{kind: Conv2D, in: in, in2: -1, kh: k, kw: k, sh: stride, sw: stride, dh: dil, dw: dil, pt: pt, pl: pl, dm: 1}
	taps := k * k * x.c
	if depthwise {
		l.kind, l.dm, outC, taps = DepthwiseConv2D, dm, x.c*dm, k*k
	}
	y := tFM{oh, ow, outC, int32(s.rng.IntN(41) - 20)}
	l.inOff, l.outOff = -x.zp, y.zp
	l.actMin, l.actMax = s.activation(y.zp)
	nw := outC * taps
	if depthwise {
		nw = k * k * outC
	}
	l.weights = make([]int8, nw)
	for i := range l.weights {
		l.weights[i] = int8(s.rng.IntN(255) - 127)
	}
	if s.rng.IntN(4) != 0 {
		l.bias = make([]int32, outC)
		for i := range l.bias {
			l.bias[i] = int32(s.rng.IntN(20001) - 10000)
		}
	}
	for range outC {
		real := 40 / (math.Sqrt(float64(taps)) * 5000) * (0.5 + 1.5*s.rng.Float64())
		m, sh := quantize(real)
		l.mult, l.shift = append(l.mult, m), append(l.shift, sh)
	}
	return s.push(l, y)
}

func (s *tStage) conv(in, k, stride int, same bool, outC int) int {
	return s.convLike(in, false, k, stride, 1, same, outC, 1)
}

func (s *tStage) depthwise(in, k, stride int, same bool, dm int) int {
	return s.convLike(in, true, k, stride, 1, same, 0, dm)
}

// add appends an ADD of fms a and b with TFLM's parameter derivation (add_common.cc).
func (s *tStage) add(a, b int) int {
	x1, x2 := s.fms[a], s.fms[b]
	y := tFM{x1.h, x1.w, x1.c, int32(s.rng.IntN(41) - 20)}
	s1, s2, so := 0.02+0.03*s.rng.Float64(), 0.02+0.03*s.rng.Float64(), 0.03+0.04*s.rng.Float64()
	twice := 2 * math.Max(s1, s2)
	m1, e1 := quantize(s1 / twice)
	m2, e2 := quantize(s2 / twice)
	mo, eo := quantize(twice / (float64(1<<20) * so))
	l := tLayer{kind: Add, in: a, in2: b, outOff: y.zp, add: [9]int32{-x1.zp, -x2.zp, 20, m1, e1, m2, e2, mo, eo}}
	l.actMin, l.actMax = s.activation(y.zp)
	return s.push(l, y)
}

// pad appends a PAD of fm in (fill: the zero point, shared by input and output).
func (s *tStage) pad(in, top, bottom, left, right int) int {
	x := s.fms[in]
	y := tFM{x.h + top + bottom, x.w + left + right, x.c, x.zp}
	return s.push(tLayer{kind: Pad, in: in, in2: -1, pt: top, pl: left, outOff: x.zp, actMin: -128, actMax: 127}, y)
}

func (s *tStage) pool(kind Kind, in, k, stride int, same bool) int {
	x := s.fms[in]
	oh, pt := geometry(x.h, k, stride, 1, same)
	ow, pl := geometry(x.w, k, stride, 1, same)
	if oh < 1 || ow < 1 {
		return -1
	}
	l := tLayer{kind: kind, in: in, in2: -1, kh: k, kw: k, sh: stride, sw: stride, dh: 1, dw: 1, pt: pt, pl: pl}
	l.actMin, l.actMax = s.activation(x.zp)
	return s.push(l, tFM{oh, ow, x.c, x.zp})
}

type window struct{ r0, r1, c0, c1 int }

func (w window) empty() bool { return w.r0 >= w.r1 || w.c0 >= w.c1 }

func (w window) union(v window) window {
	if w.empty() {
		return v
	}
	if v.empty() {
		return w
	}
	return window{min(w.r0, v.r0), max(w.r1, v.r1), min(w.c0, v.c0), max(w.c1, v.c1)}
}

func clipRange(lo, hi, n int) (int, int) {
	lo, hi = max(lo, 0), min(hi, n)
	if lo >= hi {
		return 0, 0
	}
	return lo, hi
}

// need is the window of the input fm that layer l reads to compute window out.
func (l *tLayer) need(out window, in tFM) window {
	if out.empty() {
		return window{}
	}
	var w window
	switch l.kind {
	case Add:
		return out
	case Pad:
		w.r0, w.r1 = clipRange(out.r0-l.pt, out.r1-l.pt, in.h)
		w.c0, w.c1 = clipRange(out.c0-l.pl, out.c1-l.pl, in.w)
	default:
		w.r0, w.r1 = clipRange(out.r0*l.sh-l.pt, (out.r1-1)*l.sh-l.pt+(l.kh-1)*l.dh+1, in.h)
		w.c0, w.c1 = clipRange(out.c0*l.sw-l.pl, (out.c1-1)*l.sw-l.pl+(l.kw-1)*l.dw+1, in.w)
	}
	if w.empty() {
		return window{}
	}
	return w
}

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

// tiles computes every fm's window for each tile of a rows x cols grid over the output.
func (s *tStage) tiles(rows, cols int) [][]window {
	out := s.fms[s.last()]
	rb, cb := splitEven(out.h, rows), splitEven(out.w, cols)
	var ts [][]window
	for r := range rows {
		for c := range cols {
			need := make([]window, len(s.fms))
			need[s.last()] = window{rb[r], rb[r+1], cb[c], cb[c+1]}
			for li := len(s.layers) - 1; li >= 0; li-- {
				l := &s.layers[li]
				w := l.need(need[li+1], s.fms[l.in])
				need[l.in] = need[l.in].union(w)
				if l.in2 >= 0 {
					need[l.in2] = need[l.in2].union(w)
				}
			}
			ts = append(ts, need)
		}
	}
	return ts
}

// plan writes the binary plan for a grid and returns it with the op's constant inputs (indexed
// by custom-op input index; [0] nil).
func (s *tStage) plan(rows, cols int) ([]byte, [][]byte) {
	ts := s.tiles(rows, cols)
	nf := len(s.fms)
	// Scratch: every inner fm gets its own region (no reuse), deliberately unaligned.
	offs := make([]int, nf)
	scratch := 0
	for f := range offs {
		offs[f] = -1
		if f == 0 || f == nf-1 {
			continue
		}
		size := 0
		for _, t := range ts {
			w := t[f]
			if !w.empty() {
				size = max(size, (w.r1-w.r0)*(w.c1-w.c0)*s.fms[f].c)
			}
		}
		offs[f] = scratch + 1
		scratch += size + 3
	}
	consts := [][]byte{nil}
	var words []int32
	words = append(words, 0x50434D51, 1, 0, int32(nf), int32(len(s.layers)), int32(len(ts)), int32(scratch), 0, 0, 0, 0, 0, 0, 0, 0, 0)
	if s.nchw {
		words[7] = 1
	}
	for f, fm := range s.fms {
		words = append(words, int32(fm.h), int32(fm.w), int32(fm.c), int32(offs[f]), fm.zp, 0, 0, 0)
	}
	for li, l := range s.layers {
		wIdx, bIdx := int32(-1), int32(-1)
		if l.weights != nil {
			b := make([]byte, len(l.weights))
			for i, v := range l.weights {
				b[i] = byte(v)
			}
			wIdx = int32(len(consts))
			consts = append(consts, b)
		}
		if l.bias != nil {
			b := make([]byte, 4*len(l.bias))
			for i, v := range l.bias {
				binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
			}
			bIdx = int32(len(consts))
			consts = append(consts, b)
		}
		rec := []int32{int32(l.kind), int32(l.in), int32(l.in2), int32(li + 1), int32(l.kh), int32(l.kw), int32(l.sh), int32(l.sw),
			int32(l.dh), int32(l.dw), int32(l.pt), int32(l.pl), int32(l.dm), l.inOff, l.outOff, l.actMin, l.actMax, wIdx, bIdx}
		rec = append(rec, l.add[:]...)
		rec = append(rec, int32(len(l.mult)), 0, 0, 0)
		words = append(words, rec...)
		words = append(words, l.mult...)
		words = append(words, l.shift...)
	}
	for _, t := range ts {
		for _, w := range t {
			if w.empty() {
				w = window{}
			}
			words = append(words, int32(w.r0), int32(w.r1), int32(w.c0), int32(w.c1))
		}
	}
	words[2] = int32(len(words))
	out := make([]byte, 4*len(words))
	for i, v := range words {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(v))
	}
	return out, consts
}

// randomInput returns an NHWC input for the stage and the bytes the op reads (NCHW if set).
func (s *tStage) randomInput() (nhwc, opInput []byte) {
	x := s.fms[0]
	nhwc = make([]byte, x.h*x.w*x.c)
	for i := range nhwc {
		nhwc[i] = byte(s.rng.IntN(256))
	}
	if !s.nchw {
		return nhwc, nhwc
	}
	opInput = make([]byte, len(nhwc))
	for y := range x.h {
		for xx := range x.w {
			for k := range x.c {
				opInput[(k*x.h+y)*x.w+xx] = nhwc[(y*x.w+xx)*x.c+k]
			}
		}
	}
	return nhwc, opInput
}

// --- Whole-map reference, written after TFLite's reference kernels (int32 wraps in Go). ---

func refSRDHM(a, b int32) int32 {
	if a == b && a == math.MinInt32 {
		return math.MaxInt32
	}
	ab := int64(a) * int64(b)
	nudge := int64(1 << 30)
	if ab < 0 {
		nudge = 1 - (1 << 30)
	}
	return int32((ab + nudge) / (1 << 31))
}

func refRDBPOT(x, e int32) int32 {
	mask := int32(int64(1)<<e - 1)
	rem, th := x&mask, mask>>1
	if x < 0 {
		th++
	}
	r := x >> e
	if rem > th {
		r++
	}
	return r
}

func refMBQM(x, m, shift int32) int32 {
	left, right := max(shift, 0), max(-shift, 0)
	return refRDBPOT(refSRDHM(x*(1<<left), m), right)
}

func clamp8(v, lo, hi int32) byte { return byte(int8(min(max(v, lo), hi))) }

// reference runs the stage layer by layer on whole NHWC maps and returns the last map.
func (s *tStage) reference(input []byte) []byte {
	maps := [][]byte{input}
	at := func(f, y, x, k int) int32 {
		fm := s.fms[f]
		return int32(int8(maps[f][(y*fm.w+x)*fm.c+k]))
	}
	for li, l := range s.layers {
		x, y := s.fms[l.in], s.fms[li+1]
		out := make([]byte, y.h*y.w*y.c)
		for oy := range y.h {
			for ox := range y.w {
				for oc := range y.c {
					var v byte
					switch l.kind {
					case Conv2D, DepthwiseConv2D:
						var acc int32
						for fy := range l.kh {
							for fx := range l.kw {
								iy, ix := oy*l.sh-l.pt+fy*l.dh, ox*l.sw-l.pl+fx*l.dw
								if iy < 0 || iy >= x.h || ix < 0 || ix >= x.w {
									continue
								}
								if l.kind == Conv2D {
									for ic := range x.c {
										acc += int32(l.weights[((oc*l.kh+fy)*l.kw+fx)*x.c+ic]) * (at(l.in, iy, ix, ic) + l.inOff)
									}
								} else {
									acc += int32(l.weights[(fy*l.kw+fx)*y.c+oc]) * (at(l.in, iy, ix, oc/l.dm) + l.inOff)
								}
							}
						}
						if l.bias != nil {
							acc += l.bias[oc]
						}
						v = clamp8(refMBQM(acc, l.mult[oc], l.shift[oc])+l.outOff, l.actMin, l.actMax)
					case Add:
						a := (at(l.in, oy, ox, oc) + l.add[0]) * (1 << l.add[2])
						b := (at(l.in2, oy, ox, oc) + l.add[1]) * (1 << l.add[2])
						sum := refMBQM(a, l.add[3], l.add[4]) + refMBQM(b, l.add[5], l.add[6])
						v = clamp8(refMBQM(sum, l.add[7], l.add[8])+l.outOff, l.actMin, l.actMax)
					case Pad:
						iy, ix := oy-l.pt, ox-l.pl
						if iy >= 0 && iy < x.h && ix >= 0 && ix < x.w {
							v = byte(at(l.in, iy, ix, oc))
						} else {
							v = byte(int8(l.outOff))
						}
					case MaxPool2D, AveragePool2D:
						mx, sum, n := int32(-128), int32(0), int32(0)
						for fy := range l.kh {
							for fx := range l.kw {
								iy, ix := oy*l.sh-l.pt+fy, ox*l.sw-l.pl+fx
								if iy < 0 || iy >= x.h || ix < 0 || ix >= x.w {
									continue
								}
								e := at(l.in, iy, ix, oc)
								mx, sum, n = max(mx, e), sum+e, n+1
							}
						}
						if l.kind == MaxPool2D {
							v = clamp8(mx, l.actMin, l.actMax)
						} else if sum > 0 {
							v = clamp8((sum+n/2)/n, l.actMin, l.actMax)
						} else {
							v = clamp8((sum-n/2)/n, l.actMin, l.actMax)
						}
					}
					out[(oy*y.w+ox)*y.c+oc] = v
				}
			}
		}
		maps = append(maps, out)
	}
	return maps[len(maps)-1]
}
