// Package planref is an independent Go reference executor of QMCU_PATCH_STAGE binary plans,
// versions 1 and 2, written from the format description in tfmicro_ops/PLAN.md alone (it
// neither calls nor mirrors the C kernels), so the end-to-end tests can check the C byte for
// byte against a second reading of the contract. It favours plainness over speed: every
// feature map's tile window lives in its own buffer in the documented format (int8, or
// unsigned codes packed along channels), and every element is computed by the literal rule.
//
// It is test-only code: nothing outside tests/ imports it.
package planref

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Header words and sizes (PLAN.md, "Binary plan").
const (
	magic        = 0x50434D51 // the bytes "QMCP"
	headerWords  = 16
	fmWords      = 8
	layerWords   = 32
	windowWords  = 4
	layoutNHWC   = 0
	layoutNCHW   = 1
	kindConv     = 1
	kindDW       = 2
	kindAdd      = 3
	kindPad      = 4
	kindMaxPool  = 5
	kindAvgPool  = 6
	kindQuantize = 7 // layer 0 only: quantizes a float32 stage input (PLAN.md, "QUANTIZE")
	maxDimension = 32767
)

// FeatureMap is one entry of the plan's feature-map table.
type FeatureMap struct {
	H, W, C       int
	ScratchOffset int
	ZeroPoint     int32
	// LowBits, LowZeroPoint and LowGranularity give the map's format in the low branch
	// (version 2); all zero in version 1.
	LowBits, LowZeroPoint, LowGranularity int32
}

// Layer is one layer record (int8 branch or low branch).
type Layer struct {
	Kind                   int32
	In, In2, Out           int
	KH, KW, SH, SW, DH, DW int
	PadTop, PadLeft        int
	DepthMultiplier        int
	// Order is the row order (word 30): 0 rows top-down, 1 bottom-up, each row left to right.
	Order          int
	InputOffset    int32
	OutputOffset   int32
	ActMin, ActMax int32
	Weights, Bias  int // custom-op input indices, or -1
	// ADD parameters (TFLM's int8 ADD).
	In1Offset, In2Offset, LeftShift int32
	In1Multiplier, In1Shift         int32
	In2Multiplier, In2Shift         int32
	OutMultiplier, OutShift         int32
	// QUANTIZE: the output scale (word 19 read as IEEE-754 binary32 bits).
	Scale float32
	// Per output channel (convolutions).
	Multiplier, Shift []int32
	// PlanBias is the bias carried in the plan (low-branch records, word 29 = 1), else nil.
	PlanBias []int32
}

// Window is a half-open window [R0, R1) x [C0, C1) of a feature map.
type Window struct{ R0, R1, C0, C1 int }

// Plan is a parsed binary plan.
type Plan struct {
	Version int
	Layout  int // 0 NHWC, 1 NCHW
	// FloatInput is set when layer 0 is a QUANTIZE: the stage input is float32.
	FloatInput   bool
	ScratchBytes int
	// Checked is the checked feature map k (0: no low branch); Lo and Hi its int8 thresholds.
	Checked   int
	Lo, Hi    int32
	LowBytes  int
	Maps      []FeatureMap
	Layers    []Layer // the int8 records, one per layer
	LowLayers []Layer // version 2 with Checked > 0: records of layers Checked .. L-1
	Tiles     [][]Window
}

type words struct {
	w   []int32
	pos int
}

func (r *words) take(n int, what string) ([]int32, error) {
	if n < 0 || n > len(r.w)-r.pos {
		return nil, fmt.Errorf("plan ends inside %s (word %d of %d)", what, r.pos, len(r.w))
	}
	s := r.w[r.pos : r.pos+n]
	r.pos += n
	return s, nil
}

// Parse reads a binary plan (the "plan" blob of the op's custom options). It checks what
// executing the plan safely needs and what PLAN.md fixes about its structure; it never
// panics on hostile bytes.
func Parse(blob []byte) (*Plan, error) {
	if len(blob) < 4*headerWords || len(blob)%4 != 0 {
		return nil, fmt.Errorf("plan of %d bytes: not a whole header of int32 words", len(blob))
	}
	all := make([]int32, len(blob)/4)
	for i := range all {
		all[i] = int32(binary.LittleEndian.Uint32(blob[4*i:]))
	}
	r := &words{w: all}
	h, _ := r.take(headerWords, "the header")
	if uint32(h[0]) != magic {
		return nil, fmt.Errorf("bad magic %#x", uint32(h[0]))
	}
	p := &Plan{Version: int(h[1]), ScratchBytes: int(h[6]), Layout: int(h[7])}
	if p.Version != 1 && p.Version != 2 {
		return nil, fmt.Errorf("version %d is neither 1 nor 2", p.Version)
	}
	if int(h[2]) != len(all) {
		return nil, fmt.Errorf("header says %d words, the blob has %d", h[2], len(all))
	}
	nf, nl, nt := int(h[3]), int(h[4]), int(h[5])
	if nf < 2 || nl != nf-1 || nt < 1 {
		return nil, fmt.Errorf("F=%d L=%d T=%d: need F >= 2, L = F-1, T >= 1", nf, nl, nt)
	}
	if p.Layout != layoutNHWC && p.Layout != layoutNCHW {
		return nil, fmt.Errorf("input layout %d", p.Layout)
	}
	if p.ScratchBytes < 0 {
		return nil, fmt.Errorf("scratch bytes %d", p.ScratchBytes)
	}
	firstReserved := 12
	if p.Version == 1 {
		firstReserved = 8
	} else {
		p.Checked, p.Lo, p.Hi, p.LowBytes = int(h[8]), h[9], h[10], int(h[11])
		if p.Checked != 0 && (p.Checked < 1 || p.Checked > nf-2) {
			return nil, fmt.Errorf("checked feature map %d outside 1..%d", p.Checked, nf-2)
		}
		if !isInt8(p.Lo) || !isInt8(p.Hi) {
			return nil, fmt.Errorf("thresholds [%d, %d] are not int8 codes", p.Lo, p.Hi)
		}
		if p.LowBytes < 0 || p.LowBytes > p.ScratchBytes {
			return nil, fmt.Errorf("low-branch bytes %d outside 0..%d", p.LowBytes, p.ScratchBytes)
		}
	}
	for i := firstReserved; i < headerWords; i++ {
		if h[i] != 0 {
			return nil, fmt.Errorf("reserved header word %d is %d", i, h[i])
		}
	}
	for f := range nf {
		w, err := r.take(fmWords, fmt.Sprintf("feature map %d", f))
		if err != nil {
			return nil, err
		}
		m := FeatureMap{H: int(w[0]), W: int(w[1]), C: int(w[2]), ScratchOffset: int(w[3]), ZeroPoint: w[4],
			LowBits: w[5], LowZeroPoint: w[6], LowGranularity: w[7]}
		if err := p.checkMap(f, nf, m); err != nil {
			return nil, fmt.Errorf("feature map %d: %w", f, err)
		}
		p.Maps = append(p.Maps, m)
	}
	for l := range nl {
		rec, err := p.readLayer(r, l, false)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		p.Layers = append(p.Layers, rec)
		if rec.Kind == kindQuantize {
			p.FloatInput = true
		} else if p.FloatInput && (rec.In == 0 || (rec.Kind == kindAdd && rec.In2 == 0)) {
			return nil, fmt.Errorf("layer %d: reads the float32 stage input, which only the QUANTIZE may", l)
		}
	}
	if p.Checked > 0 {
		for l := p.Checked; l < nl; l++ {
			rec, err := p.readLayer(r, l, true)
			if err != nil {
				return nil, fmt.Errorf("low-branch layer %d: %w", l, err)
			}
			if err := sameGeometry(&p.Layers[l], &rec); err != nil {
				return nil, fmt.Errorf("low-branch layer %d: %w", l, err)
			}
			p.LowLayers = append(p.LowLayers, rec)
		}
	}
	if len(all)-r.pos != nt*nf*windowWords {
		return nil, fmt.Errorf("%d words left for the tile table, %d tiles x %d maps need %d", len(all)-r.pos, nt, nf, nt*nf*windowWords)
	}
	for t := range nt {
		ws := make([]Window, nf)
		for f := range nf {
			w, _ := r.take(windowWords, "the tile table")
			ws[f] = Window{R0: int(w[0]), R1: int(w[1]), C0: int(w[2]), C1: int(w[3])}
			m := p.Maps[f]
			// A window may be empty: a tile whose outputs are all padding reads nothing.
			if ws[f].R0 < 0 || ws[f].R0 > ws[f].R1 || ws[f].R1 > m.H || ws[f].C0 < 0 || ws[f].C0 > ws[f].C1 || ws[f].C1 > m.W {
				return nil, fmt.Errorf("tile %d: window %v of feature map %d (%dx%d) is reversed or outside the map", t, ws[f], f, m.H, m.W)
			}
		}
		p.Tiles = append(p.Tiles, ws)
	}
	if need := p.touchedBytes(false); need > p.ScratchBytes {
		return nil, fmt.Errorf("window buffers reach byte %d of scratch, the plan has %d", need, p.ScratchBytes)
	}
	if err := p.checkSharing(); err != nil {
		return nil, err
	}
	return p, nil
}

// touchedBytes is the end of the furthest window buffer in scratch over all tiles, for the
// int8 branch or the low branch (whose packed windows live at the int8 offsets).
func (p *Plan) touchedBytes(low bool) int {
	end := 0
	for _, ws := range p.Tiles {
		for f := 1; f < len(p.Maps)-1; f++ {
			m := p.Maps[f]
			bits, _ := p.format(f, low)
			w := ws[f]
			end = max(end, m.ScratchOffset+(w.R1-w.R0)*(w.C1-w.C0)*((m.C*int(bits)+7)/8))
		}
	}
	return end
}

// LowTouchedBytes is the scratch the low branch touches at most: header word 11 may not be
// smaller.
func (p *Plan) LowTouchedBytes() int { return p.touchedBytes(true) }

func isInt8(v int32) bool { return v >= -128 && v <= 127 }

func (p *Plan) checkMap(f, nf int, m FeatureMap) error {
	if m.H < 1 || m.W < 1 || m.C < 1 || m.H > maxDimension || m.W > maxDimension || m.C > maxDimension ||
		int64(m.H)*int64(m.W)*int64(m.C) >= 1<<31 {
		return fmt.Errorf("shape %dx%dx%d", m.H, m.W, m.C)
	}
	if !isInt8(m.ZeroPoint) {
		return fmt.Errorf("zero point %d", m.ZeroPoint)
	}
	if (f == 0 || f == nf-1) != (m.ScratchOffset == -1) || m.ScratchOffset < -1 {
		return fmt.Errorf("scratch offset %d (-1 exactly for fm 0 and fm F-1)", m.ScratchOffset)
	}
	if p.Version == 1 {
		if m.LowBits != 0 || m.LowZeroPoint != 0 || m.LowGranularity != 0 {
			return fmt.Errorf("version 1 with low-branch words %d, %d, %d", m.LowBits, m.LowZeroPoint, m.LowGranularity)
		}
		return nil
	}
	if p.Checked == 0 || f <= p.Checked || f == nf-1 {
		if m.LowBits != 8 || m.LowZeroPoint != m.ZeroPoint || m.LowGranularity != 0 {
			return fmt.Errorf("low format (%d, %d, %d), want the int8 map itself (8, %d, 0)", m.LowBits, m.LowZeroPoint, m.LowGranularity, m.ZeroPoint)
		}
		return nil
	}
	lo, hi, ok := codeRange(m.LowBits)
	if !ok {
		return fmt.Errorf("low bits %d", m.LowBits)
	}
	if m.LowZeroPoint < lo || m.LowZeroPoint > hi {
		return fmt.Errorf("low zero point %d outside the %d-bit codes %d..%d", m.LowZeroPoint, m.LowBits, lo, hi)
	}
	if m.LowGranularity != 0 {
		return fmt.Errorf("low granularity %d (only 0, per map, is defined)", m.LowGranularity)
	}
	return nil
}

// codeRange is the code range of a map format: int8 for 8 bits, unsigned for 4 and 2.
func codeRange(bits int32) (lo, hi int32, ok bool) {
	switch bits {
	case 8:
		return -128, 127, true
	case 4:
		return 0, 15, true
	case 2:
		return 0, 3, true
	}
	return 0, 0, false
}

// format is the (bits, zero point) of feature map f in a branch.
func (p *Plan) format(f int, low bool) (bits, zp int32) {
	m := p.Maps[f]
	if !low || p.Checked == 0 {
		return 8, m.ZeroPoint
	}
	return m.LowBits, m.LowZeroPoint
}

func (p *Plan) readLayer(r *words, l int, low bool) (Layer, error) {
	w, err := r.take(layerWords, "the layer record")
	if err != nil {
		return Layer{}, err
	}
	rec := Layer{Kind: w[0], In: int(w[1]), In2: int(w[2]), Out: int(w[3]),
		KH: int(w[4]), KW: int(w[5]), SH: int(w[6]), SW: int(w[7]), DH: int(w[8]), DW: int(w[9]),
		PadTop: int(w[10]), PadLeft: int(w[11]), DepthMultiplier: int(w[12]),
		InputOffset: w[13], OutputOffset: w[14], ActMin: w[15], ActMax: w[16],
		Weights: int(w[17]), Bias: int(w[18]),
		In1Offset: w[19], In2Offset: w[20], LeftShift: w[21], In1Multiplier: w[22], In1Shift: w[23],
		In2Multiplier: w[24], In2Shift: w[25], OutMultiplier: w[26], OutShift: w[27]}
	n, hasBias := int(w[28]), w[29]
	rec.Order = int(w[30])
	if rec.Order != 0 && rec.Order != 1 {
		return rec, fmt.Errorf("row order %d (0 top-down, 1 bottom-up)", rec.Order)
	}
	if w[31] != 0 {
		return rec, fmt.Errorf("reserved word 31 is %d", w[31])
	}
	if rec.Kind == kindQuantize {
		return p.quantizeLayer(rec, w, l)
	}
	if rec.Out != l+1 {
		return rec, fmt.Errorf("writes feature map %d, want %d", rec.Out, l+1)
	}
	if rec.In < 0 || rec.In > l || (rec.Kind == kindAdd && (rec.In2 < 0 || rec.In2 > l)) {
		return rec, fmt.Errorf("reads feature maps %d, %d: not computed before it", rec.In, rec.In2)
	}
	in, out := p.Maps[rec.In], p.Maps[rec.Out]
	switch rec.Kind {
	case kindConv, kindDW, kindMaxPool, kindAvgPool:
		for _, v := range []int{rec.KH, rec.KW, rec.SH, rec.SW, rec.DH, rec.DW} {
			if v < 1 || v > maxDimension {
				return rec, fmt.Errorf("kernel %dx%d, stride %dx%d, dilation %dx%d", rec.KH, rec.KW, rec.SH, rec.SW, rec.DH, rec.DW)
			}
		}
	case kindAdd:
		if b := p.Maps[rec.In2]; b.H != in.H || b.W != in.W || b.C != in.C || out.H != in.H || out.W != in.W || out.C != in.C {
			return rec, fmt.Errorf("ADD of %dx%dx%d and %dx%dx%d into %dx%dx%d", in.H, in.W, in.C, b.H, b.W, b.C, out.H, out.W, out.C)
		}
	case kindPad:
	default:
		return rec, fmt.Errorf("kind %d", rec.Kind)
	}
	if rec.PadTop < 0 || rec.PadLeft < 0 {
		return rec, fmt.Errorf("pads %d, %d", rec.PadTop, rec.PadLeft)
	}
	if rec.Kind != kindConv && rec.Kind != kindDW && rec.Kind != kindAdd && out.C != in.C {
		return rec, fmt.Errorf("%d channels in, %d out", in.C, out.C)
	}
	if rec.Kind == kindDW && in.C*rec.DepthMultiplier != out.C {
		return rec, fmt.Errorf("depthwise %d channels x multiplier %d != %d", in.C, rec.DepthMultiplier, out.C)
	}
	wantN := 0
	if rec.Kind == kindConv || rec.Kind == kindDW {
		wantN = out.C
	}
	if n != wantN {
		return rec, fmt.Errorf("%d per-channel entries, want %d", n, wantN)
	}
	switch {
	case hasBias == 1 && low && n > 0:
	case hasBias == 0:
	default:
		return rec, fmt.Errorf("word 29 (plan bias) is %d", hasBias)
	}
	cnt := 2 * n
	if hasBias == 1 {
		cnt += n
	}
	arr, err := r.take(cnt, "the per-channel arrays")
	if err != nil {
		return rec, err
	}
	rec.Multiplier, rec.Shift = arr[:n], arr[n:2*n]
	if hasBias == 1 {
		rec.PlanBias = arr[2*n:]
		if rec.Bias != -1 {
			return rec, fmt.Errorf("plan bias and bias input %d", rec.Bias)
		}
	}
	for c := range n {
		if rec.Multiplier[c] < 0 || rec.Shift[c] < -31 || rec.Shift[c] > 30 {
			return rec, fmt.Errorf("channel %d: multiplier %d, shift %d", c, rec.Multiplier[c], rec.Shift[c])
		}
	}
	if rec.Kind == kindAdd && (rec.LeftShift < 0 || rec.LeftShift > 22 || rec.In1Shift < -31 || rec.In1Shift > 0 ||
		rec.In2Shift < -31 || rec.In2Shift > 0 || rec.OutShift < -31 || rec.OutShift > 0 ||
		rec.In1Multiplier < 0 || rec.In2Multiplier < 0 || rec.OutMultiplier < 0) {
		return rec, fmt.Errorf("ADD parameters out of range")
	}
	// Offsets and activation range against the formats of the branch (PLAN.md: input offsets
	// are minus the input maps' zero points, the output offset is the output map's).
	_, zin := p.format(rec.In, low)
	obits, zout := p.format(rec.Out, low)
	lo, hi, _ := codeRange(obits)
	if rec.ActMin < lo || rec.ActMax > hi || rec.ActMin > rec.ActMax {
		return rec, fmt.Errorf("activation range %d..%d outside the output codes %d..%d", rec.ActMin, rec.ActMax, lo, hi)
	}
	if rec.InputOffset != -zin { // word 13, every kind (PLAN.md, layer table)
		return rec, fmt.Errorf("input offset %d; the input map's zero point is %d", rec.InputOffset, zin)
	}
	switch rec.Kind {
	case kindConv, kindDW:
		if rec.OutputOffset != zout {
			return rec, fmt.Errorf("offsets %d, %d; the maps' zero points are %d, %d", rec.InputOffset, rec.OutputOffset, zin, zout)
		}
	case kindAdd:
		_, zin2 := p.format(rec.In2, low)
		if rec.In1Offset != -zin || rec.In2Offset != -zin2 || rec.OutputOffset != zout {
			return rec, fmt.Errorf("ADD offsets %d, %d, %d; the maps' zero points are %d, %d, %d", rec.In1Offset, rec.In2Offset, rec.OutputOffset, zin, zin2, zout)
		}
	default: // PAD and pools copy or compare codes: the output has the input's format
		ibits, _ := p.format(rec.In, low)
		if low && (ibits != obits || zin != zout) {
			return rec, fmt.Errorf("output format (%d bits, zero point %d) differs from the input's (%d, %d)", obits, zout, ibits, zin)
		}
		if rec.Kind == kindPad && rec.OutputOffset != zout {
			return rec, fmt.Errorf("PAD fill %d, the map's zero point is %d", rec.OutputOffset, zout)
		}
	}
	return rec, nil
}

// sameGeometry checks that a low-branch record describes the same layer as the int8 one.
func sameGeometry(a, b *Layer) error {
	if a.Kind != b.Kind || a.In != b.In || a.In2 != b.In2 || a.Out != b.Out ||
		a.KH != b.KH || a.KW != b.KW || a.SH != b.SH || a.SW != b.SW || a.DH != b.DH || a.DW != b.DW ||
		a.PadTop != b.PadTop || a.PadLeft != b.PadLeft || a.DepthMultiplier != b.DepthMultiplier || a.Order != b.Order {
		return fmt.Errorf("geometry differs from the int8 record")
	}
	if (a.Bias >= 0) != (b.PlanBias != nil) {
		return fmt.Errorf("int8 bias input %d but plan bias present = %v", a.Bias, b.PlanBias != nil)
	}
	return nil
}

// quantizeLayer checks a QUANTIZE record (PLAN.md, "QUANTIZE"): layer 0, fm 0 (float32, zero
// point 0) into fm 1 of the same shape, every word fixed but the output offset (fm 1's zero
// point) and the scale (a positive finite float).
func (p *Plan) quantizeLayer(rec Layer, w []int32, l int) (Layer, error) {
	if l != 0 {
		return rec, fmt.Errorf("QUANTIZE as layer %d; only layer 0 may quantize the stage input", l)
	}
	want := []int32{kindQuantize, 0, -1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, p.Maps[1].ZeroPoint, -128, 127, -1, -1}
	for i, v := range want {
		if w[i] != v {
			return rec, fmt.Errorf("QUANTIZE word %d is %d, want %d", i, w[i], v)
		}
	}
	for i := 20; i < layerWords; i++ {
		if w[i] != 0 {
			return rec, fmt.Errorf("QUANTIZE word %d is %d, want 0", i, w[i])
		}
	}
	rec.Scale = math.Float32frombits(uint32(w[19]))
	if !(rec.Scale > 0) || math.IsInf(float64(rec.Scale), 1) {
		return rec, fmt.Errorf("QUANTIZE scale %g (bits %#x) is not positive and finite", rec.Scale, uint32(w[19]))
	}
	in, out := p.Maps[0], p.Maps[1]
	if in.H != out.H || in.W != out.W || in.C != out.C {
		return rec, fmt.Errorf("QUANTIZE of %dx%dx%d into %dx%dx%d", in.H, in.W, in.C, out.H, out.W, out.C)
	}
	if in.ZeroPoint != 0 {
		return rec, fmt.Errorf("the float32 input's zero point is %d, want 0", in.ZeroPoint)
	}
	if 4*int64(in.H)*int64(in.W)*int64(in.C) >= 1<<31 {
		return rec, fmt.Errorf("a float32 input of %dx%dx%d is 2 GiB or more", in.H, in.W, in.C)
	}
	return rec, nil
}
