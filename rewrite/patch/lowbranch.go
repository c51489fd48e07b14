package patch

import (
	"fmt"
	"math"

	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// LowFormat is a feature map's format in the low branch: Bits 8 (int8 codes) or 4/2
// (unsigned codes), with its own scale and zero point.
type LowFormat struct {
	Bits      int
	Scale     float32
	ZeroPoint int32
	// ChannelScales, when set, are per-channel scales sharing ZeroPoint (the code of real 0);
	// Scale is then their largest.
	ChannelScales []float32
}

// scaleOf is the scale of channel c.
func (f LowFormat) scaleOf(c int) float32 {
	if f.ChannelScales != nil {
		return f.ChannelScales[c]
	}
	return f.Scale
}

// equal reports whether two formats are the same.
func (f LowFormat) equal(g LowFormat) bool {
	if f.Bits != g.Bits || f.Scale != g.Scale || f.ZeroPoint != g.ZeroPoint || len(f.ChannelScales) != len(g.ChannelScales) {
		return false
	}
	for i := range f.ChannelScales {
		if f.ChannelScales[i] != g.ChannelScales[i] {
			return false
		}
	}
	return true
}

// codeRange is the code range of a format with the given bits.
func codeRange(bits int) (int32, int32) {
	if bits == 8 {
		return -128, 127
	}
	return 0, int32(1)<<bits - 1
}

// LowBranch is QuantMCU's mixed precision for one stage (DESIGN.md §4): tiles whose checked
// map holds a code outside [Lo, Hi] run in int8, the others run the layers after the checked
// map with the per-map formats FMs.
type LowBranch struct {
	Checked int   // feature-map index k (1..n-1)
	Lo, Hi  int32 // int8 thresholds (Lo > Hi: every tile is an outlier tile)
	FMs     []LowFormat
	// Spec is the spec the branch was resolved from, normalised: what `<name>_precision.json`
	// holds.
	Spec *precision.Spec
	// OutlierRate is the fraction of outlier tiles the reports assume for BitOPs.
	OutlierRate float64
	// Inherited marks maps written by PAD or pools, which take their input's format.
	Inherited []bool
}

// passThrough reports whether a layer copies or compares codes (its output has its input's
// quantization, in TFLite and in the low branch).
func passThrough(k Kind) bool { return k == KindPad || k == KindMaxPool || k == KindAvgPool }

// DefaultChecked is the checked map of DESIGN.md §4: the output of the stage's first
// convolution (a leading PAD does not count). It returns 0 when no layer follows it, so the
// stage has no low branch.
func (sp *StagePlan) DefaultChecked() int {
	for _, l := range sp.Layers {
		if l.Kind == KindConv || l.Kind == KindDepthwise {
			if l.Out >= len(sp.FMs)-1 {
				return 0
			}
			return l.Out
		}
	}
	return 0
}

// int8Range is the real range the int8 codes of f cover.
func int8Range(f FeatureMap) (float64, float64) {
	s := float64(f.Scale)
	return s * float64(-128-f.ZeroPoint), s * float64(127-f.ZeroPoint)
}

// UniformSpec is `--bits N`: every free map after the checked one at bits, with its int8
// range, and no tile classified as outlier (lo -128, hi 127).
func (sp *StagePlan) UniformSpec(bits int) (*precision.Spec, error) {
	if !precision.ValidBits(bits) {
		return nil, fmt.Errorf("%w: --bits %d: want 8, 4 or 2", ErrUnsupported, bits)
	}
	k := sp.DefaultChecked()
	if k == 0 {
		return nil, fmt.Errorf("%w: the patch stage has no layer after its first convolution: nothing can run in low precision", ErrUnsupported)
	}
	zero := 0.0
	spec := &precision.Spec{Format: precision.Format, Version: precision.Version,
		Checked: precision.Checked{Tensor: sp.FMs[k].Name, Lo: -128, Hi: 127, OutlierRate: &zero}, Maps: map[string]precision.Map{}}
	pinned := sp.pinnedMaps()
	for f := k + 1; f < len(sp.FMs)-1; f++ {
		if passThrough(sp.Layers[f-1].Kind) {
			continue
		}
		lo, hi := int8Range(sp.FMs[f])
		b := bits
		if pinned[f] {
			b = 8
		}
		spec.Maps[sp.FMs[f].Name] = precision.Map{Bits: b, Min: lo, Max: hi}
	}
	return spec, nil
}

// pinnedMaps marks the maps that feed the stage output through PAD or pools only: those
// copy codes into the int8 stage output, so the maps keep their int8 format.
func (sp *StagePlan) pinnedMaps() []bool {
	pinned := make([]bool, len(sp.FMs))
	f := len(sp.FMs) - 1
	for f > 0 && passThrough(sp.Layers[f-1].Kind) {
		f = sp.Layers[f-1].In
		pinned[f] = true
	}
	return pinned
}

// ApplyPrecision resolves spec against the stage and sets sp.Low. Errors name the tensor and
// wrap ErrUnsupported (the spec is the user's input).
func (sp *StagePlan) ApplyPrecision(spec *precision.Spec) error {
	if err := spec.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: precision spec: %s", ErrUnsupported, fmt.Sprintf(format, a...))
	}
	byName := map[string]int{}
	for f, fm := range sp.FMs {
		if _, dup := byName[fm.Name]; dup {
			byName[fm.Name] = -1 // ambiguous
			continue
		}
		byName[fm.Name] = f
	}
	last := len(sp.FMs) - 1
	k, ok := byName[spec.Checked.Tensor]
	switch {
	case !ok:
		return fail("checked tensor %q is not a feature map of the patch stage (operators %d-%d)", spec.Checked.Tensor, sp.Layers[0].Op, sp.Layers[len(sp.Layers)-1].Op)
	case k < 0:
		return fail("checked tensor %q names several stage maps", spec.Checked.Tensor)
	case k == 0:
		return fail("checked tensor %q is the stage input: check the output of a stage layer", spec.Checked.Tensor)
	case k == last:
		return fail("checked tensor %q is the stage output: no layer follows it to run in low precision", spec.Checked.Tensor)
	}
	lb := &LowBranch{Checked: k, Lo: int32(spec.Checked.Lo), Hi: int32(spec.Checked.Hi),
		FMs: make([]LowFormat, len(sp.FMs)), Inherited: make([]bool, len(sp.FMs))}
	if spec.Checked.OutlierRate != nil {
		lb.OutlierRate = *spec.Checked.OutlierRate
	} else if lb.Lo > lb.Hi {
		lb.OutlierRate = 1
	}
	for f, fm := range sp.FMs {
		lb.FMs[f] = LowFormat{Bits: 8, Scale: fm.Scale, ZeroPoint: fm.ZeroPoint}
	}
	pinned := sp.pinnedMaps()
	for _, name := range spec.Names() {
		f, ok := byName[name]
		m := spec.Maps[name]
		switch {
		case !ok:
			return fail("tensor %q is not a feature map of the patch stage", name)
		case f < 0:
			return fail("tensor %q names several stage maps", name)
		case f <= k:
			return fail("tensor %q is computed before the checked map %q (the outlier test needs it in int8)", name, spec.Checked.Tensor)
		case f == last:
			return fail("tensor %q is the stage output, which is always int8 with its original quantization", name)
		case passThrough(sp.Layers[f-1].Kind):
			return fail("tensor %q is written by %s, which keeps its input's precision: set the input map instead", name, sp.Layers[f-1].Kind)
		}
		format, err := FormatFromRange(m, sp.FMs[f])
		if err != nil {
			return fail("tensor %q: %v", name, err)
		}
		if m.ChannelMax != nil {
			if err := sp.perChannelOK(f, m); err != nil {
				return fail("tensor %q: per-channel ranges: %v", name, err)
			}
		}
		if pinned[f] && !format.equal(lb.FMs[f]) {
			return fail("tensor %q reaches the int8 stage output through %s only: it must stay 8-bit with its int8 range", name, sp.Layers[len(sp.Layers)-1].Kind)
		}
		lb.FMs[f] = format
	}
	for f := k + 1; f < last; f++ {
		if l := sp.Layers[f-1]; passThrough(l.Kind) {
			lb.FMs[f] = lb.FMs[l.In]
			lb.Inherited[f] = true
		}
	}
	norm := *spec
	norm.Maps = map[string]precision.Map{}
	for f := k + 1; f < last; f++ {
		if lb.Inherited[f] {
			continue
		}
		lo, hi := int8Range(sp.FMs[f])
		m := precision.Map{Bits: 8, Min: lo, Max: hi}
		if given, ok := spec.Maps[sp.FMs[f].Name]; ok {
			m = given
		}
		norm.Maps[sp.FMs[f].Name] = m
	}
	lb.Spec = &norm
	sp.Low = lb
	if err := sp.relayout(); err != nil {
		return err
	}
	if sp.Report != nil {
		sp.applyBitOPs(sp.Report)
	}
	return nil
}

// PerChannelOK reports whether free map f can take per-channel low-bit scales (nil) or why not.
func (sp *StagePlan) PerChannelOK(f int) error { return sp.perChannelOK(f, precision.Map{}) }

// perChannelOK checks the rules of per-channel maps: the producer is a convolution with RELU or
// RELU6 (codes below the zero point never occur, so one zero point serves every channel), and
// every reader, through PAD and pools without activation, is a convolution (its low-branch
// weight copy absorbs the scales) or a depthwise convolution (its multipliers do). m, when it
// has ChannelMax, is checked against a RELU6 bound.
func (sp *StagePlan) perChannelOK(f int, m precision.Map) error {
	p := sp.Layers[f-1]
	if p.Kind != KindConv && p.Kind != KindDepthwise {
		return fmt.Errorf("written by %s, not a convolution", p.Kind)
	}
	switch p.Activation {
	case schema.ActivationFunctionTypeRELU:
	case schema.ActivationFunctionTypeRELU6:
		for c, v := range m.ChannelMax {
			if v > 6*(1+1e-6) {
				return fmt.Errorf("channel %d covers up to %g, beyond the RELU6 bound", c, v)
			}
		}
	default:
		return fmt.Errorf("operator %d (%s) has no RELU/RELU6: its values can be negative", p.Op, p.Kind)
	}
	var check func(f int) error
	check = func(f int) error {
		for _, l := range sp.Layers {
			if l.In != f && l.In2 != f {
				continue
			}
			switch {
			case l.Kind == KindConv || l.Kind == KindDepthwise:
			case (l.Kind == KindPad || l.Kind == KindMaxPool || l.Kind == KindAvgPool) && (l.Kind == KindPad || l.Activation == schema.ActivationFunctionTypeNONE):
				if l.Out == len(sp.FMs)-1 {
					return fmt.Errorf("reaches the int8 stage output through %s", l.Kind)
				}
				if err := check(l.Out); err != nil {
					return err
				}
			default:
				return fmt.Errorf("read by operator %d (%s), which cannot absorb per-channel scales", l.Op, l.Kind)
			}
		}
		return nil
	}
	return check(f)
}

// ActivationBound is the largest real value the producer of map f can write: 6 after RELU6,
// 1 after RELU_N1_TO_1, +Inf otherwise.
func (sp *StagePlan) ActivationBound(f int) float64 {
	switch sp.Layers[f-1].Activation {
	case schema.ActivationFunctionTypeRELU6:
		return 6
	case schema.ActivationFunctionTypeRELU_N1_TO_1:
		return 1
	}
	return math.Inf(1)
}

// FormatFromRange quantizes the range [m.Min, m.Max] (widened to include 0, as TFLite's
// converter does, so that zero padding is exact) to m.Bits codes. An 8-bit range equal to
// the map's int8 range gives the map's own quantization exactly.
func FormatFromRange(m precision.Map, orig FeatureMap) (LowFormat, error) {
	if m.ChannelMax != nil {
		if len(m.ChannelMax) != orig.C {
			return LowFormat{}, fmt.Errorf("%d per-channel ranges for %d channels", len(m.ChannelMax), orig.C)
		}
		qmin, qmax := codeRange(m.Bits)
		f := LowFormat{Bits: m.Bits, ZeroPoint: qmin, ChannelScales: make([]float32, orig.C)}
		for c, v := range m.ChannelMax {
			s := float32(v / float64(qmax-qmin))
			if !(s > 0) || math.IsInf(float64(s), 0) {
				return LowFormat{}, fmt.Errorf("channel %d: range [0, %g] gives no usable %d-bit scale", c, v, m.Bits)
			}
			f.ChannelScales[c] = s
			f.Scale = max(f.Scale, s)
		}
		return f, nil
	}
	if m.Bits == 8 {
		lo, hi := int8Range(orig)
		if nearlyEqual(m.Min, lo) && nearlyEqual(m.Max, hi) {
			return LowFormat{Bits: 8, Scale: orig.Scale, ZeroPoint: orig.ZeroPoint}, nil
		}
	}
	qmin, qmax := codeRange(m.Bits)
	lo, hi := min(m.Min, 0), max(m.Max, 0)
	scale := float32((hi - lo) / float64(qmax-qmin))
	if !(scale > 0) || math.IsInf(float64(scale), 0) {
		return LowFormat{}, fmt.Errorf("range [%g, %g] gives no usable %d-bit scale", m.Min, m.Max, m.Bits)
	}
	zp := float64(qmin) - lo/float64(scale)
	z := int32(math.Round(zp))
	z = min(max(z, qmin), qmax)
	return LowFormat{Bits: m.Bits, Scale: scale, ZeroPoint: z}, nil
}

// nearlyEqual compares two range ends with a relative tolerance (JSON round trips of float64).
func nearlyEqual(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*max(math.Abs(a), math.Abs(b), 1e-30)
}

// lowFM is feature map f with its low-branch quantization.
func (sp *StagePlan) lowFM(f int) FeatureMap {
	fm := sp.FMs[f]
	fm.Scale, fm.ZeroPoint = sp.Low.FMs[f].Scale, sp.Low.FMs[f].ZeroPoint
	return fm
}

// packedBytes is the size of a window of rows x cols pixels of c channels at bits.
func packedBytes(rows, cols, c, bits int) int64 {
	return int64(rows) * int64(cols) * ((int64(c)*int64(bits) + 7) / 8)
}

// LowScratchBytes is the scratch the low branch touches at most: the window buffers keep the
// offsets of the int8 layout (sized for the worst case), and packed 4/2-bit windows fill only
// the start of theirs, so this is the largest end of a buffer as the low branch fills it.
func (sp *StagePlan) LowScratchBytes() int64 {
	if sp.Low == nil {
		return sp.ScratchBytes
	}
	var top int64
	for _, t := range sp.Tiles {
		for f, w := range t {
			if sp.ScratchOffsets[f] < 0 {
				continue
			}
			bits := 8
			if f > sp.Low.Checked {
				bits = sp.Low.FMs[f].Bits
			}
			top = max(top, sp.ScratchOffsets[f]+packedBytes(w.Rows(), w.Cols(), sp.FMs[f].C, bits))
		}
	}
	return top
}

// FreeMaps lists the maps after checked map k whose low-branch precision can be chosen: all
// maps before the stage output except those PAD or pools write (they inherit their input's)
// and those that reach the int8 stage output through PAD or pools only (they stay int8).
func (sp *StagePlan) FreeMaps(k int) []int {
	pinned := sp.pinnedMaps()
	var out []int
	for f := k + 1; f < len(sp.FMs)-1; f++ {
		if !passThrough(sp.Layers[f-1].Kind) && !pinned[f] {
			out = append(out, f)
		}
	}
	return out
}

// Source is the map whose low-branch precision map f takes: f itself, or for maps written by
// PAD or pools, the map they copy codes from.
func (sp *StagePlan) Source(f int) int {
	for f > 0 && passThrough(sp.Layers[f-1].Kind) {
		f = sp.Layers[f-1].In
	}
	return f
}

// TileMACs returns per layer and per tile the MACs of the layer's output window (full kernel
// windows, the convention of the reports).
func (sp *StagePlan) TileMACs() [][]int64 {
	out := make([][]int64, len(sp.Layers))
	for li := range sp.Layers {
		l := &sp.Layers[li]
		x, y := sp.FMs[l.In], sp.FMs[l.Out]
		out[li] = make([]int64, len(sp.Tiles))
		for t, tile := range sp.Tiles {
			out[li][t], _ = l.windowMACs(tile[l.Out], x, y)
		}
	}
	return out
}
