package planref

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// Result is what running a plan produced.
type Result struct {
	// Output is the stage output tensor (int8 NHWC, the last feature map).
	Output []byte
	// Outlier[t] tells whether tile t was classified as an outlier tile (always false when
	// the plan has no low branch: no tile is checked).
	Outlier []bool
	// LowRuns counts the low-branch layer windows computed, by layer kind and input
	// bitwidth (coverage, for the tests' logs).
	LowRuns map[KindBits]int
}

// KindBits is a layer kind (PLAN.md layer word 0) with the bitwidth of its (first) input.
type KindBits struct{ Kind, Bits int32 }

// String names the pair, e.g. "ADD/4".
func (k KindBits) String() string {
	names := map[int32]string{kindConv: "CONV_2D", kindDW: "DEPTHWISE_CONV_2D", kindAdd: "ADD", kindPad: "PAD",
		kindMaxPool: "MAX_POOL_2D", kindAvgPool: "AVERAGE_POOL_2D", kindQuantize: "QUANTIZE"}
	return fmt.Sprintf("%s/%d", names[k.Kind], k.Bits)
}

// OutlierTiles is the number of outlier tiles.
func (r *Result) OutlierTiles() int {
	n := 0
	for _, o := range r.Outlier {
		if o {
			n++
		}
	}
	return n
}

// mapBuf is one tile window of a feature map in the format of its branch: int8 NHWC, or
// unsigned 4/2-bit codes packed along channels (PLAN.md, "Low-bit formats").
type mapBuf struct {
	win      Window
	h, w, c  int // the whole map
	bits     int32
	pixBytes int
	data     []byte
	// f32 holds the values of a float32 window (the stage input of a plan starting with a
	// QUANTIZE; bits 32): element (pixel offset / 4) + channel.
	f32 []float32
}

// rowOrder lists a window's rows in a layer's row order (PLAN.md layer word 30).
func rowOrder(win Window, order int) []int {
	var rows []int
	for y := win.R0; y < win.R1; y++ {
		rows = append(rows, y)
	}
	if order == 1 {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	return rows
}

// sharedMapBuf is a window buffer inside the tile's scratch area at its plan offset, so that
// buffers overlap exactly as the plan places them.
func sharedMapBuf(win Window, m FeatureMap, bits int32, scratch []byte) (*mapBuf, error) {
	b := &mapBuf{win: win, h: m.H, w: m.W, c: m.C, bits: bits}
	b.pixBytes = (m.C*int(bits) + 7) / 8
	n := (win.R1 - win.R0) * (win.C1 - win.C0) * b.pixBytes
	if m.ScratchOffset < 0 || m.ScratchOffset+n > len(scratch) {
		return nil, fmt.Errorf("window buffer [%d, %d) outside the %d scratch bytes", m.ScratchOffset, m.ScratchOffset+n, len(scratch))
	}
	b.data = scratch[m.ScratchOffset : m.ScratchOffset+n : m.ScratchOffset+n]
	return b, nil
}

func newMapBuf(win Window, m FeatureMap, bits int32) *mapBuf {
	b := &mapBuf{win: win, h: m.H, w: m.W, c: m.C, bits: bits}
	b.pixBytes = (m.C*int(bits) + 7) / 8 // ceil(c * bits / 8)
	b.data = make([]byte, (win.R1-win.R0)*(win.C1-win.C0)*b.pixBytes)
	if bits == 32 {
		b.f32 = make([]float32, len(b.data)/4)
	}
	// The format leaves the unused high bits of a pixel's last byte undefined: start from
	// a pattern with them set so that nothing can rely on them being zero.
	for i := range b.data {
		b.data[i] = 0xA5
	}
	return b
}

func (b *mapBuf) inMap(y, x int) bool { return y >= 0 && y < b.h && x >= 0 && x < b.w }

func (b *mapBuf) inWindow(y, x int) bool {
	return y >= b.win.R0 && y < b.win.R1 && x >= b.win.C0 && x < b.win.C1
}

// pixel is the byte offset of pixel (y, x), full-map coordinates, inside the window.
func (b *mapBuf) pixel(y, x int) int {
	return ((y-b.win.R0)*(b.win.C1-b.win.C0) + (x - b.win.C0)) * b.pixBytes
}

// get returns the code of channel ch at a pixel offset.
func (b *mapBuf) get(pix, ch int) int32 {
	if b.bits == 8 {
		return int32(int8(b.data[pix+ch]))
	}
	bit := ch * int(b.bits)
	return int32(b.data[pix+bit/8]>>(bit%8)) & (1<<b.bits - 1)
}

func (b *mapBuf) set(pix, ch int, v int32) {
	if b.bits == 8 {
		b.data[pix+ch] = byte(int8(v))
		return
	}
	bit := ch * int(b.bits)
	mask := byte(1<<b.bits-1) << (bit % 8)
	i := pix + bit/8
	b.data[i] = b.data[i]&^mask | byte(v)<<(bit%8)&mask
}

// Run executes the plan on one stage input. input is the stage input tensor (int8, or float32
// little-endian when the plan starts with a QUANTIZE; NHWC or NCHW as the plan's layout says); consts are the op's inputs by custom-op input index
// (consts[0] is ignored; int32 tensors as little-endian bytes).
func (p *Plan) Run(input []byte, consts [][]byte) (*Result, error) {
	in0, out := p.Maps[0], p.Maps[len(p.Maps)-1]
	elem := 1
	if p.FloatInput {
		elem = 4
	}
	if len(input) != elem*in0.H*in0.W*in0.C {
		return nil, fmt.Errorf("stage input has %d bytes, feature map 0 is %dx%dx%d of %d-byte elements", len(input), in0.H, in0.W, in0.C, elem)
	}
	res := &Result{Output: make([]byte, out.H*out.W*out.C), Outlier: make([]bool, len(p.Tiles)),
		LowRuns: map[KindBits]int{}}
	written := make([]int, out.H*out.W)
	for t, wins := range p.Tiles {
		// Each tile runs twice: every map in a buffer of its own, and in the shared scratch
		// area as the plan places them; the in-place rule makes the sharing invisible.
		outlier, last, err := p.runTile(wins, input, consts, res.LowRuns, nil)
		if err != nil {
			return nil, fmt.Errorf("tile %d: %w", t, err)
		}
		scratch := make([]byte, p.ScratchBytes)
		for i := range scratch {
			scratch[i] = 0xA5
		}
		sharedOutlier, shared, err := p.runTile(wins, input, consts, map[KindBits]int{}, scratch)
		if err != nil {
			return nil, fmt.Errorf("tile %d in the shared scratch: %w", t, err)
		}
		if sharedOutlier != outlier || !bytes.Equal(shared.data, last.data) {
			return nil, fmt.Errorf("tile %d: its output in the shared scratch differs from separate buffers (window buffers overlap unsafely)", t)
		}
		res.Outlier[t] = outlier
		// Copy the tile's window of the stage output into the output tensor (int8 NHWC).
		for y := last.win.R0; y < last.win.R1; y++ {
			for x := last.win.C0; x < last.win.C1; x++ {
				written[y*out.W+x]++
				copy(res.Output[(y*out.W+x)*out.C:][:out.C], last.data[last.pixel(y, x):][:out.C])
			}
		}
	}
	for i, n := range written {
		if n != 1 {
			return nil, fmt.Errorf("stage output pixel (%d, %d) is written by %d tiles, want exactly 1", i/out.W, i%out.W, n)
		}
	}
	return res, nil
}

// runTile runs one tile and returns whether it is an outlier tile and its window of the last
// feature map.
// With scratch, the inner maps live in it at their plan offsets; else each in its own buffer.
func (p *Plan) runTile(wins []Window, input []byte, consts [][]byte, lowRuns map[KindBits]int, scratch []byte) (bool, *mapBuf, error) {
	bufs := make([]*mapBuf, len(p.Maps))
	// fm 0: the tile's window, read from the input tensor.
	m0 := p.Maps[0]
	bits0 := int32(8)
	if p.FloatInput {
		bits0 = 32
	}
	b0 := newMapBuf(wins[0], m0, bits0)
	for y := wins[0].R0; y < wins[0].R1; y++ {
		for x := wins[0].C0; x < wins[0].C1; x++ {
			pix := b0.pixel(y, x)
			for c := range m0.C {
				src := (y*m0.W+x)*m0.C + c // NHWC
				if p.Layout == layoutNCHW {
					src = (c*m0.H+y)*m0.W + x
				}
				if p.FloatInput {
					b0.f32[pix/4+c] = math.Float32frombits(binary.LittleEndian.Uint32(input[4*src:]))
				} else {
					b0.data[pix+c] = input[src]
				}
			}
		}
	}
	bufs[0] = b0
	outlier, low := false, false
	for l := range p.Layers {
		rec := &p.Layers[l]
		if p.Checked > 0 && l == p.Checked {
			// The outlier check over the checked map's window, all channels (PLAN.md,
			// Execution, step 2): the tile stays int8 when a code lies outside [lo, hi].
			outlier = p.isOutlier(bufs[p.Checked])
			low = !outlier
		}
		if low {
			rec = &p.LowLayers[l-p.Checked]
			inBits, _ := p.format(rec.In, true)
			lowRuns[KindBits{rec.Kind, inBits}]++
		}
		bits, _ := p.format(rec.Out, low)
		dst := newMapBuf(wins[rec.Out], p.Maps[rec.Out], bits)
		if scratch != nil && rec.Out < len(p.Maps)-1 {
			var err error
			if dst, err = sharedMapBuf(wins[rec.Out], p.Maps[rec.Out], bits, scratch); err != nil {
				return false, nil, fmt.Errorf("layer %d: %w", l, err)
			}
		}
		if err := p.runLayer(rec, bufs, dst, consts, low); err != nil {
			branch := "int8"
			if low {
				branch = "low-branch"
			}
			return false, nil, fmt.Errorf("%s layer %d: %w", branch, l, err)
		}
		bufs[rec.Out] = dst
	}
	return outlier, bufs[len(bufs)-1], nil
}

func (p *Plan) isOutlier(b *mapBuf) bool {
	if p.Lo > p.Hi {
		return true // PLAN.md header words 9, 10: an empty range makes every tile an outlier
	}
	for _, v := range b.data { // an int8 map: one code per byte
		if c := int32(int8(v)); c < p.Lo || c > p.Hi {
			return true
		}
	}
	return false
}

// constant returns custom-op input i, checked against the size the layer needs.
func constant(consts [][]byte, i, bytes int, what string) ([]byte, error) {
	if i < 1 || i >= len(consts) {
		return nil, fmt.Errorf("%s input %d outside 1..%d", what, i, len(consts)-1)
	}
	if len(consts[i]) != bytes {
		return nil, fmt.Errorf("%s input %d has %d bytes, want %d", what, i, len(consts[i]), bytes)
	}
	return consts[i], nil
}

// biasOf returns the layer's per-channel bias: the plan's own array, a constant input, or
// nil.
func biasOf(rec *Layer, consts [][]byte, n int) ([]int32, error) {
	if rec.PlanBias != nil {
		return rec.PlanBias, nil
	}
	if rec.Bias < 0 {
		if rec.Bias != -1 {
			return nil, fmt.Errorf("bias input %d", rec.Bias)
		}
		return nil, nil
	}
	raw, err := constant(consts, rec.Bias, 4*n, "bias")
	if err != nil {
		return nil, err
	}
	b := make([]int32, n)
	for i := range b {
		b[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return b, nil
}

func clamp(v, lo, hi int32) int32 { return max(lo, min(v, hi)) }

// runLayer computes dst (the tile's window of the layer's output map) from the input windows.
func (p *Plan) runLayer(rec *Layer, bufs []*mapBuf, dst *mapBuf, consts [][]byte, low bool) error {
	src := bufs[rec.In]
	if src == nil {
		return fmt.Errorf("input feature map %d not computed", rec.In)
	}
	// tap returns the pixel offset of input position (y, x), or -1 for border padding.
	tap := func(b *mapBuf, y, x int) (int, error) {
		if !b.inMap(y, x) {
			return -1, nil
		}
		if !b.inWindow(y, x) {
			return 0, fmt.Errorf("reads (%d, %d) outside the input window %v", y, x, b.win)
		}
		return b.pixel(y, x), nil
	}
	inC, outC := src.c, dst.c
	win := dst.win
	switch rec.Kind {
	case kindQuantize:
		for y := win.R0; y < win.R1; y++ {
			for x := win.C0; x < win.C1; x++ {
				pix, err := tap(src, y, x)
				if err != nil {
					return err
				}
				op := dst.pixel(y, x)
				for c := range outC {
					dst.set(op, c, quantize(src.f32[pix/4+c], rec.Scale, rec.OutputOffset))
				}
			}
		}
	case kindConv, kindDW:
		var wbytes int
		if rec.Kind == kindConv {
			wbytes = outC * rec.KH * rec.KW * inC // [out_c][kh][kw][in_c], TFLite's layout
		} else {
			wbytes = rec.KH * rec.KW * outC // [1][kh][kw][out_c]
		}
		wt, err := constant(consts, rec.Weights, wbytes, "weights")
		if err != nil {
			return err
		}
		bias, err := biasOf(rec, consts, outC)
		if err != nil {
			return err
		}
		for _, y := range rowOrder(win, rec.Order) {
			for x := win.C0; x < win.C1; x++ {
				op := dst.pixel(y, x)
				for o := range outC {
					var acc int32 // int32 accumulator, wrapping like TFLM's
					for i := range rec.KH {
						for j := range rec.KW {
							pix, err := tap(src, y*rec.SH-rec.PadTop+i*rec.DH, x*rec.SW-rec.PadLeft+j*rec.DW)
							if err != nil {
								return err
							}
							if pix < 0 {
								continue // border padding: the input zero point, contributes nothing
							}
							if rec.Kind == kindConv {
								for ic := range inC {
									acc += int32(int8(wt[((o*rec.KH+i)*rec.KW+j)*inC+ic])) * (src.get(pix, ic) + rec.InputOffset)
								}
							} else {
								acc += int32(int8(wt[(i*rec.KW+j)*outC+o])) * (src.get(pix, o/rec.DepthMultiplier) + rec.InputOffset)
							}
						}
					}
					if bias != nil {
						acc += bias[o]
					}
					acc = MultiplyByQuantizedMultiplier(acc, rec.Multiplier[o], rec.Shift[o]) + rec.OutputOffset
					dst.set(op, o, clamp(acc, rec.ActMin, rec.ActMax))
				}
			}
		}
	case kindAdd:
		src2 := bufs[rec.In2]
		if src2 == nil {
			return fmt.Errorf("input feature map %d not computed", rec.In2)
		}
		for _, y := range rowOrder(win, rec.Order) {
			for x := win.C0; x < win.C1; x++ {
				p1, err := tap(src, y, x)
				if err != nil {
					return err
				}
				p2, err := tap(src2, y, x)
				if err != nil {
					return err
				}
				op := dst.pixel(y, x)
				for c := range outC {
					dst.set(op, c, addElement(rec, src.get(p1, c), src2.get(p2, c)))
				}
			}
		}
	case kindPad:
		for _, y := range rowOrder(win, rec.Order) {
			for x := win.C0; x < win.C1; x++ {
				op := dst.pixel(y, x)
				pix, err := tap(src, y-rec.PadTop, x-rec.PadLeft)
				if err != nil {
					return err
				}
				for c := range outC {
					v := rec.OutputOffset // the fill: the output map's zero point
					if pix >= 0 {
						v = src.get(pix, c)
					}
					dst.set(op, c, v)
				}
			}
		}
	case kindMaxPool, kindAvgPool:
		lowest, _, _ := codeRange(dst.bits)
		for _, y := range rowOrder(win, rec.Order) {
			for x := win.C0; x < win.C1; x++ {
				op := dst.pixel(y, x)
				for c := range outC {
					acc, count := int32(0), int32(0)
					if rec.Kind == kindMaxPool {
						acc = lowest
					}
					for i := range rec.KH {
						for j := range rec.KW {
							pix, err := tap(src, y*rec.SH-rec.PadTop+i, x*rec.SW-rec.PadLeft+j)
							if err != nil {
								return err
							}
							if pix < 0 {
								continue // pools skip positions outside the map
							}
							v := src.get(pix, c)
							if rec.Kind == kindMaxPool {
								acc = max(acc, v)
							} else {
								acc += v
							}
							count++
						}
					}
					if rec.Kind == kindAvgPool {
						if count == 0 {
							return fmt.Errorf("AVERAGE_POOL_2D output (%d, %d) covers no in-map element", y, x)
						}
						// TFLite's reference integer average pool: round half away from
						// zero (integer_ops/pooling.h).
						if acc > 0 {
							acc = (acc + count/2) / count
						} else {
							acc = (acc - count/2) / count
						}
					}
					dst.set(op, c, clamp(acc, rec.ActMin, rec.ActMax))
				}
			}
		}
	default:
		return fmt.Errorf("kind %d", rec.Kind)
	}
	return nil
}

// addElement is TFLM's int8 ADD on one element pair (reference_integer_ops/add.h,
// AddElementwise): both inputs are offset, shifted left, rescaled to a common scale,
// summed, rescaled to the output, offset and clamped.
func addElement(rec *Layer, a, b int32) int32 {
	s1 := (a + rec.In1Offset) * (1 << rec.LeftShift)
	s2 := (b + rec.In2Offset) * (1 << rec.LeftShift)
	s1 = multiplyByQuantizedMultiplierSmallerThanOneExp(s1, rec.In1Multiplier, rec.In1Shift)
	s2 = multiplyByQuantizedMultiplierSmallerThanOneExp(s2, rec.In2Multiplier, rec.In2Shift)
	raw := multiplyByQuantizedMultiplierSmallerThanOneExp(s1+s2, rec.OutMultiplier, rec.OutShift) + rec.OutputOffset
	return clamp(raw, rec.ActMin, rec.ActMax)
}

// quantize is TFLM's QUANTIZE of one float32 to int8 (reference_ops::AffineQuantize):
// static_cast<int32_t>(TfLiteRound(v / scale)) + zero_point, clamped to int8; the quotient is
// a float32, TfLiteRound rounds half away from zero (math.Round is exact on a float32 value).
// Quotients outside int32 and NaN make the C++ cast undefined; this reference takes x86-64's
// result (cvttss2si: INT32_MIN), the host these tests run on, and the zero point wraps.
func quantize(v, scale float32, zeroPoint int32) int32 {
	q := v / scale
	r := math.Round(float64(q))
	i := int32(math.MinInt32)
	if r >= math.MinInt32 && r <= math.MaxInt32 {
		i = int32(r)
	}
	return clamp(i+zeroPoint, -128, 127)
}
