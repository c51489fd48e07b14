package patch

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
)

// Plan format constants (tfmicro_ops/PLAN.md).
const (
	PlanMagic       = 0x50434D51 // "QMCP" little-endian
	PlanVersion     = 2          // written when the stage has a low branch; version 1 otherwise
	PlanHeaderWords = 16
	PlanFMWords     = 8
	PlanLayerWords  = 32
	PlanFormat      = "qmcu_patch_stage"
)

// ToolVersion is the version stamped into emitted models when StagePlan.Version is empty.
const ToolVersion = "0.1.0"

// layerParams are the requantization parameters of one layer, precomputed from the model.
type layerParams struct {
	actMin, actMax int32
	add            addParams
	mult, shift    []int32
}

// params computes the fixed-point parameters of every layer of the plan's int8 branch.
func (sp *StagePlan) params() ([]layerParams, error) {
	ps := make([]layerParams, len(sp.Layers))
	for li, l := range sp.Layers {
		var in2 FeatureMap
		if l.In2 >= 0 {
			in2 = sp.FMs[l.In2]
		}
		p, err := layerParamsFor(l, sp.FMs[l.In], in2, sp.FMs[l.Out], -128, 127)
		if err != nil {
			return nil, fmt.Errorf("operator %d (%s): %w", l.Op, l.Kind, err)
		}
		ps[li] = p
	}
	return ps, nil
}

// layerParamsFor computes a layer's requantization for input maps x (and x2, ADD) and output
// map y with the given quantization, the output's codes being qmin..qmax.
func layerParamsFor(l Layer, x, x2, y FeatureMap, qmin, qmax int32) (layerParams, error) {
	var p layerParams
	p.actMin, p.actMax = activationRangeIn(l.Activation, y, qmin, qmax)
	var err error
	switch l.Kind {
	case KindConv, KindDepthwise:
		p.mult, p.shift, err = channelMultipliers(l.WeightScales, y.C, x, y)
	case KindAdd:
		p.add, err = computeAddParams(x, x2, y)
	case KindPad, KindQuantize:
		p.actMin, p.actMax = qmin, qmax
	}
	return p, err
}

// lowParams computes the low-branch parameters of layer li (li >= Low.Checked): the int8
// arithmetic with the maps' low quantization, and the bias rescaled from the int8 input
// scale to the low one (the bias scale is input scale x weight scale in TFLite). A convolution
// reading a map with per-channel scales gets a weight copy with the scales folded in (returned;
// nil otherwise).
func (sp *StagePlan) lowParams(li int) (layerParams, []int32, []byte, error) {
	l := sp.Layers[li]
	var in2 FeatureMap
	if l.In2 >= 0 {
		in2 = sp.lowFM(l.In2)
	}
	qmin, qmax := codeRange(sp.Low.FMs[l.Out].Bits)
	x := sp.lowFM(l.In)
	p, err := layerParamsFor(l, x, in2, sp.lowFM(l.Out), qmin, qmax)
	if err != nil {
		return p, nil, nil, fmt.Errorf("operator %d (%s), low branch: %w", l.Op, l.Kind, err)
	}
	inF, outF := sp.Low.FMs[l.In], sp.Low.FMs[l.Out]
	conv := l.Kind == KindConv || l.Kind == KindDepthwise
	if !conv {
		return p, nil, nil, nil
	}
	outC, inC := sp.FMs[l.Out].C, sp.FMs[l.In].C
	// unit[o] is the real value of one accumulator step of output channel o, divided by the
	// channel's weight scale: the input scale, or the scale of the weight copy's rows.
	unit := make([]float64, outC)
	var weights []byte
	for o := range unit {
		unit[o] = float64(inF.scaleOf(0))
	}
	switch {
	case inF.ChannelScales != nil && l.Kind == KindDepthwise:
		for o := range unit {
			unit[o] = float64(inF.ChannelScales[o/l.DepthMultiplier])
		}
	case inF.ChannelScales != nil:
		weights, unit = foldInputScales(l.WeightData, outC, inC, inF.ChannelScales)
	}
	if inF.ChannelScales != nil || outF.ChannelScales != nil {
		for o := range outC {
			ws := float64(l.WeightScales[0])
			if len(l.WeightScales) > 1 {
				ws = float64(l.WeightScales[o])
			}
			q, s, err := QuantizeMultiplier(unit[o] * ws / float64(outF.scaleOf(o)))
			if err != nil {
				return p, nil, nil, fmt.Errorf("operator %d (%s), low branch: channel %d: %w", l.Op, l.Kind, o, err)
			}
			p.mult[o], p.shift[o] = q, s
		}
		if outF.ChannelScales != nil {
			// RELU/RELU6 producers of per-channel maps (checked): every code is in range.
			p.actMin, p.actMax = qmin, qmax
		}
	}
	if l.Bias < 0 {
		return p, nil, weights, nil
	}
	bias := make([]int32, len(l.BiasValues))
	for c, b := range l.BiasValues {
		ratio := float64(sp.FMs[l.In].Scale) / unit[c]
		if ratio == 1 {
			bias[c] = b
			continue
		}
		v := math.Round(float64(b) * ratio)
		if v < math.MinInt32 || v > math.MaxInt32 {
			return p, nil, nil, fmt.Errorf("operator %d (%s), low branch: channel %d: bias %d rescaled to the low input scale (x%g) overflows int32", l.Op, l.Kind, c, b, ratio)
		}
		bias[c] = int32(v)
	}
	return p, bias, weights, nil
}

// foldInputScales returns a copy of CONV_2D weights [outC][kh][kw][inC] with input channel k's
// scale folded in, each output channel's row rescaled to use the int8 range (round half away
// from zero), and per output channel the real value of one step of the new row (divided by the
// original weight scale).
func foldInputScales(w []byte, outC, inC int, scales []float32) ([]byte, []float64) {
	out := make([]byte, len(w))
	unit := make([]float64, outC)
	per := len(w) / outC
	for o := range outC {
		row := w[o*per : (o+1)*per]
		var peak float64
		for i, b := range row {
			peak = max(peak, math.Abs(float64(int8(b))*float64(scales[i%inC])))
		}
		unit[o] = peak / 127
		if peak == 0 {
			unit[o] = float64(scales[0])
			continue
		}
		for i, b := range row {
			v := math.Round(float64(int8(b)) * float64(scales[i%inC]) / unit[o])
			out[o*per+i] = byte(int8(min(max(v, -127), 127)))
		}
	}
	return out, unit
}

// EncodePlan returns the binary plan of sp (tfmicro_ops/PLAN.md, little-endian int32 words).
func EncodePlan(sp *StagePlan) ([]byte, error) {
	w, err := sp.words()
	if err != nil {
		return nil, err
	}
	return wordsToBytes(w), nil
}

// planVersion is the format version sp encodes to: 2 with a low branch, else 1 (the 8-bit
// stage keeps the format every reader knows).
func (sp *StagePlan) planVersion() int32 {
	if sp.Low != nil {
		return PlanVersion
	}
	return 1
}

// words encodes the plan as int32 words (plans without low-branch weight copies).
func (sp *StagePlan) words() ([]int32, error) {
	w, extra, err := sp.encode()
	if err == nil && len(extra) > 0 {
		err = fmt.Errorf("patch: the plan needs %d low-branch weight copies: encode it with Rewrite", len(extra))
	}
	return w, err
}

// encode encodes the plan as int32 words and returns the low-branch weight copies the plan
// reads after sp.Consts, in custom-op input order.
func (sp *StagePlan) encode() ([]int32, [][]byte, error) {
	ps, err := sp.params()
	if err != nil {
		return nil, nil, err
	}
	var extra [][]byte
	F, L, T := len(sp.FMs), len(sp.Layers), len(sp.Tiles)
	w := make([]int32, PlanHeaderWords, PlanHeaderWords+PlanFMWords*F+4*T*F)
	w[0], w[1], w[3], w[4], w[5], w[6] = PlanMagic, sp.planVersion(), int32(F), int32(L), int32(T), int32(sp.ScratchBytes)
	if sp.Stage.InputNCHW {
		w[7] = 1
	}
	if sp.Low != nil {
		w[8], w[9], w[10], w[11] = int32(sp.Low.Checked), sp.Low.Lo, sp.Low.Hi, int32(sp.LowScratchBytes())
	}
	for f, fm := range sp.FMs {
		w = append(w, int32(fm.H), int32(fm.W), int32(fm.C), int32(sp.ScratchOffsets[f]), fm.ZeroPoint)
		if sp.Low != nil {
			w = append(w, int32(sp.Low.FMs[f].Bits), sp.Low.FMs[f].ZeroPoint, 0)
		} else {
			w = append(w, 0, 0, 0)
		}
	}
	constIndex := map[int]int32{}
	for i, t := range sp.Consts {
		constIndex[t] = int32(i + 1)
	}
	idx := func(t int) int32 {
		if t < 0 {
			return -1
		}
		return constIndex[t]
	}
	record := func(li int, l Layer, p layerParams, x, x2, y FeatureMap, bias []int32) []int32 {
		e := make([]int32, PlanLayerWords)
		e[0], e[1], e[2], e[3] = int32(l.Kind), int32(l.In), int32(l.In2), int32(l.Out)
		e[4], e[5], e[6], e[7], e[8], e[9] = int32(l.KH), int32(l.KW), int32(l.SH), int32(l.SW), int32(l.DH), int32(l.DW)
		e[10], e[11] = int32(l.PadTop), int32(l.PadLeft)
		if l.Kind == KindDepthwise {
			e[12] = int32(l.DepthMultiplier)
		}
		e[13], e[14] = -x.ZeroPoint, y.ZeroPoint
		e[15], e[16] = p.actMin, p.actMax
		e[17], e[18] = idx(l.Weights), idx(l.Bias)
		if l.Kind == KindQuantize {
			e[19] = int32(math.Float32bits(y.Scale)) // PLAN.md, "QUANTIZE"
		}
		if l.Kind == KindAdd {
			a := p.add
			copy(e[19:28], []int32{a.in1Offset, a.in2Offset, a.leftShift, a.in1Mult, a.in1Shift, a.in2Mult, a.in2Shift, a.outMult, a.outShift})
		}
		e[28] = int32(len(p.mult))
		if bias != nil {
			e[18], e[29] = -1, 1
		}
		e[30] = sp.rowOrder(li)
		e = append(e, p.mult...)
		e = append(e, p.shift...)
		return append(e, bias...)
	}
	for li, l := range sp.Layers {
		var x2 FeatureMap
		if l.In2 >= 0 {
			x2 = sp.FMs[l.In2]
		}
		w = append(w, record(li, l, ps[li], sp.FMs[l.In], x2, sp.FMs[l.Out], nil)...)
	}
	if sp.Low != nil {
		for li := sp.Low.Checked; li < L; li++ {
			l := sp.Layers[li]
			p, bias, weights, err := sp.lowParams(li)
			if err != nil {
				return nil, nil, err
			}
			var x2 FeatureMap
			if l.In2 >= 0 {
				x2 = sp.lowFM(l.In2)
			}
			rec := record(li, l, p, sp.lowFM(l.In), x2, sp.lowFM(l.Out), bias)
			if weights != nil {
				extra = append(extra, weights)
				rec[17] = int32(len(sp.Consts) + len(extra))
			}
			w = append(w, rec...)
		}
	}
	for _, t := range sp.Tiles {
		for _, win := range t {
			w = append(w, int32(win.R0), int32(win.R1), int32(win.C0), int32(win.C1))
		}
	}
	w[2] = int32(len(w))
	return w, extra, nil
}

// wordsToBytes serialises plan words little-endian.
func wordsToBytes(w []int32) []byte {
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return b
}

// customOptions builds the FlexBuffer map of the custom operator.
func (sp *StagePlan) customOptions(plan []byte) ([]byte, error) {
	var b flexbuffers.Builder
	b.Map(func(m *flexbuffers.Map) {
		m.String("format", PlanFormat)
		m.Int("version", int64(sp.planVersion()))
		// A 32-bit size field puts the plan's words at a 4-byte aligned offset: TFLM's kernel
		// reads them in place from the model instead of copying them into the arena.
		m.BlobWidth("plan", plan, flexbuffers.W32)
		m.Int("scratch_bytes", sp.ScratchBytes)
		m.Ints("grid", []int64{int64(sp.Rows), int64(sp.Cols)})
		m.String("tool", "quantmcu "+sp.version())
		if sp.Report != nil {
			m.Int("macs", sp.Report.PatchMACs)
		}
		// Informative (read by quantmcu inspect): the stage's tensor names by feature map, and
		// the checked map of the low branch.
		m.Vector("fm_names", func(b *flexbuffers.Builder) {
			for _, fm := range sp.FMs {
				b.String(fm.Name)
			}
		})
		if sp.Low != nil {
			m.String("checked", sp.FMs[sp.Low.Checked].Name)
		}
	})
	out, err := b.Finish()
	if err != nil {
		return nil, fmt.Errorf("encoding custom options: %w", err)
	}
	return out, nil
}

func (sp *StagePlan) version() string {
	if sp.Version != "" {
		return sp.Version
	}
	return ToolVersion
}
