// Package patch plans and emits MCUNetV2-style patch-based inference for fully-int8 TFLite
// models: it finds the tileable prefix of subgraph 0 (the stage), computes per tile and per
// feature map the window to compute by backward interval arithmetic, chooses the split point
// and tile grid from MACs and the TFLM arena, and replaces the stage by one CUSTOM
// QMCU_PATCH_STAGE operator whose options carry the binary plan of tfmicro_ops/PLAN.md.
package patch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Kind is a layer kind of the plan (PLAN.md layer word 0).
type Kind int32

// Layer kinds, numbered as in the plan.
const (
	KindConv      Kind = 1
	KindDepthwise Kind = 2
	KindAdd       Kind = 3
	KindPad       Kind = 4
	KindMaxPool   Kind = 5
	KindAvgPool   Kind = 6
	// KindQuantize is the model's leading QUANTIZE of a float32 input, folded in as layer 0
	// (PLAN.md, "QUANTIZE"): fm 0 is then the float input, fm 1 its int8 version.
	KindQuantize Kind = 7
)

// String returns the TFLite operator name of the kind.
func (k Kind) String() string {
	switch k {
	case KindConv:
		return "CONV_2D"
	case KindDepthwise:
		return "DEPTHWISE_CONV_2D"
	case KindAdd:
		return "ADD"
	case KindPad:
		return "PAD"
	case KindMaxPool:
		return "MAX_POOL_2D"
	case KindAvgPool:
		return "AVERAGE_POOL_2D"
	case KindQuantize:
		return "QUANTIZE"
	}
	return fmt.Sprintf("KIND_%d", int32(k))
}

// FeatureMap is one int8 NHWC activation of the stage (batch 1), or, with Float, the float32
// model input a folded QUANTIZE reads (zero point and scale 0).
type FeatureMap struct {
	Tensor    int    // tensor index in subgraph 0
	Name      string // its name
	H, W, C   int
	ZeroPoint int32
	Scale     float32
	Float     bool
}

// Bytes is the size of the whole feature map (4 bytes per element when Float).
func (f FeatureMap) Bytes() int64 {
	n := int64(f.H) * int64(f.W) * int64(f.C)
	if f.Float {
		return 4 * n
	}
	return n
}

// Limits of the C kernels (tfmicro_ops/qmcu_plan.h): plans beyond them are never emitted.
const (
	MaxLayers = 64    // layers per stage
	MaxTiles  = 1024  // tiles per stage
	MaxDim    = 32767 // feature-map sizes, kernels, strides, dilations, pads
)

// Layer is one operator of the tileable prefix. Layer l writes feature map l+1.
type Layer struct {
	Op   int // operator index in subgraph 0
	Kind Kind
	// In, In2 and Out are feature-map indices (In2 = -1 except for ADD).
	In, In2, Out int
	KH, KW       int // kernel or pool filter size (1 for ADD and PAD)
	SH, SW       int // strides
	DH, DW       int // dilations
	// PadTop and PadLeft follow PLAN.md words 10-11; PadBottom and PadRight complete PAD's
	// explicit paddings (for convolutions and pools they are implied by the sizes).
	PadTop, PadLeft, PadBottom, PadRight int
	DepthMultiplier                      int
	Weights, Bias                        int     // tensor indices in subgraph 0, or -1
	BiasValues                           []int32 // the bias tensor's values (nil without bias)
	WeightData                           []byte  // the weights tensor's int8 values
	WeightName                           string  // and its name and shape
	WeightShape                          []int32
	WeightScales                         []float32
	Activation                           schema.ActivationFunctionType
}

// Stage is a maximal run of tileable operators of subgraph 0 reading one whole feature map:
// the tileable prefix (DetectStage) or a later segment (DetectSegments). The candidate
// stages are its closed prefixes (Splits).
type Stage struct {
	// Input is the tensor the custom op reads: the stage's first feature map, or the input of
	// the folded layout TRANSPOSE (then InputNCHW is set).
	Input     int
	InputNCHW bool
	Transpose int // operator index of the folded TRANSPOSE, or -1
	// First is the operator index of the first layer (after a leading QUANTIZE/TRANSPOSE).
	First  int
	FMs    []FeatureMap // FMs[0] is the stage input (NHWC view), FMs[l+1] the output of Layers[l]
	Layers []Layer
	// Splits lists the candidate split points n (number of layers) in increasing order: the
	// prefixes whose only escaping tensor is the output of their last layer.
	Splits []int
	// Reasons explains, for every operator of subgraph 0 outside the tileable prefix (and for
	// split points that are not candidates), why it is not tiled.
	Reasons []string
	// Later marks a segment that does not start the model (see DetectSegments): its input is
	// an intermediate tensor that must not outlive the stage.
	Later bool
}

// stageError is a refusal: the model cannot be patched at all. noPrefix says the only
// reason is that no operator sequence at its start can be tiled.
type stageError struct {
	msg      string
	noPrefix bool
}

func (e *stageError) Error() string { return e.msg }

// graph wraps subgraph 0 with the look-ups stage detection needs.
type graph struct {
	m         *schema.ModelT
	sg        *schema.SubGraphT
	consumers [][]int // tensor -> operators reading it, in execution order
	isOutput  []bool  // tensor is a subgraph output
}

func newGraph(m *schema.ModelT) (*graph, error) {
	if m == nil || len(m.Subgraphs) == 0 || m.Subgraphs[0] == nil {
		return nil, &stageError{msg: "model has no subgraph"}
	}
	sg := m.Subgraphs[0]
	g := &graph{m: m, sg: sg, consumers: make([][]int, len(sg.Tensors)), isOutput: make([]bool, len(sg.Tensors))}
	for oi, op := range sg.Operators {
		if op == nil {
			return nil, fmt.Errorf("operator %d is missing", oi)
		}
		if int(op.OpcodeIndex) >= len(m.OperatorCodes) {
			return nil, fmt.Errorf("operator %d: opcode index %d out of range", oi, op.OpcodeIndex)
		}
		for _, lists := range [][]int32{op.Inputs, op.Outputs, op.Intermediates} {
			for _, t := range lists {
				if t < -1 || int(t) >= len(sg.Tensors) || (t >= 0 && sg.Tensors[t] == nil) {
					return nil, fmt.Errorf("operator %d: tensor index %d out of range", oi, t)
				}
			}
		}
		for _, t := range op.Inputs {
			if t >= 0 && (len(g.consumers[t]) == 0 || g.consumers[t][len(g.consumers[t])-1] != oi) {
				g.consumers[t] = append(g.consumers[t], oi)
			}
		}
	}
	for _, t := range sg.Outputs {
		if t < 0 || int(t) >= len(sg.Tensors) {
			return nil, fmt.Errorf("subgraph output %d out of range", t)
		}
		g.isOutput[t] = true
	}
	for _, t := range sg.Inputs {
		if t < 0 || int(t) >= len(sg.Tensors) {
			return nil, fmt.Errorf("subgraph input %d out of range", t)
		}
	}
	return g, nil
}

func (g *graph) code(oi int) schema.BuiltinOperator {
	return tflite.BuiltinCode(g.m.OperatorCodes[g.sg.Operators[oi].OpcodeIndex])
}

func (g *graph) opName(oi int) string {
	return tflite.OpName(g.m.OperatorCodes[g.sg.Operators[oi].OpcodeIndex])
}

func (g *graph) constant(t int) bool {
	b := g.sg.Tensors[t].Buffer
	return b > 0 && int(b) < len(g.m.Buffers) && g.m.Buffers[b] != nil && len(g.m.Buffers[b].Data) > 0
}

func (g *graph) constData(t int) []byte {
	if !g.constant(t) {
		return nil
	}
	return g.m.Buffers[g.sg.Tensors[t].Buffer].Data
}

// checkModel refuses models the patch rewriter never handles.
func checkModel(g *graph) error {
	for _, oc := range g.m.OperatorCodes {
		if oc != nil && tflite.BuiltinCode(oc) == schema.BuiltinOperatorCUSTOM && oc.CustomCode == "ethos-u" {
			return &stageError{msg: `model was compiled by Vela (custom op "ethos-u"): patch-based inference needs the original int8 model`}
		}
	}
	for _, oc := range g.m.OperatorCodes {
		if oc != nil && tflite.BuiltinCode(oc) == schema.BuiltinOperatorCUSTOM && oc.CustomCode == CustomCode {
			return &stageError{msg: "model already contains a " + CustomCode + " operator"}
		}
	}
	if len(g.sg.Inputs) != 1 {
		return &stageError{msg: fmt.Sprintf("subgraph 0 has %d inputs; patch-based inference needs exactly one", len(g.sg.Inputs))}
	}
	in := g.sg.Tensors[g.sg.Inputs[0]]
	// A float input must be quantized first: by operator 0, or by operator 1 after a layout
	// TRANSPOSE of the float input (NCHW exports).
	floatLead := 0
	switch {
	case len(g.sg.Operators) > 0 && g.code(0) == schema.BuiltinOperatorQUANTIZE:
		floatLead = 1
	case len(g.sg.Operators) > 1 && g.code(0) == schema.BuiltinOperatorTRANSPOSE && g.code(1) == schema.BuiltinOperatorQUANTIZE &&
		len(g.sg.Operators[0].Outputs) == 1 && g.isInputQuantize(1, int(g.sg.Operators[0].Outputs[0])):
		floatLead = 2
	}
	switch in.Type {
	case schema.TensorTypeFLOAT32, schema.TensorTypeFLOAT16:
		if floatLead == 0 {
			return &stageError{msg: fmt.Sprintf("float model (input %q is %s): only fully-int8 models can be patched", in.Name, tflite.TypeName(in.Type))}
		}
	}
	for oi := range g.sg.Operators {
		if oi < floatLead {
			continue
		}
		op := g.sg.Operators[oi]
		for _, t := range op.Outputs {
			if t >= 0 && g.sg.Tensors[t].Type == schema.TensorTypeFLOAT32 && g.code(oi) != schema.BuiltinOperatorDEQUANTIZE {
				return &stageError{msg: fmt.Sprintf("float model: operator %d (%s) computes in FLOAT32; only fully-int8 models can be patched", oi, g.opName(oi))}
			}
		}
	}
	return nil
}

// DetectStage finds the tileable prefix of subgraph 0 and its candidate split points. It
// fails when the model cannot be patched (no tileable prefix, float model, Vela output).
//
// A leading QUANTIZE of a float32 input (after a float layout TRANSPOSE or before an int8
// one) becomes layer 0 (KindQuantize) when that closes a prefix; otherwise it stays outside.
func DetectStage(m *schema.ModelT) (*Stage, error) { return detectStage(m, "") }

// detectStage is DetectStage; a non-empty keep keeps a leading QUANTIZE outside the stage, for
// the reason keep gives.
func detectStage(m *schema.ModelT, keep string) (*Stage, error) {
	g, err := newGraph(m)
	if err != nil {
		return nil, err
	}
	if err := checkModel(g); err != nil {
		return nil, err
	}
	s, err := g.detect(keep)
	if se := (*stageError)(nil); keep == "" && errors.As(err, &se) {
		// Folding the input QUANTIZE closes no prefix (say, its int8 output is needed beyond
		// the stage): keep it outside, as a stage of int8 layers only.
		if s2, err2 := g.detect("folding it closes no tileable prefix"); err2 == nil {
			return s2, nil
		}
		return nil, err
	}
	return s, err
}

// FoldsQuantize reports whether the stage's layer 0 is the model's input QUANTIZE.
func (s *Stage) FoldsQuantize() bool { return len(s.Layers) > 0 && s.Layers[0].Kind == KindQuantize }

// detect is detectStage on a checked graph.
func (g *graph) detect(keep string) (*Stage, error) {
	foldQuantize := keep == ""
	s := &Stage{Transpose: -1}
	ops := g.sg.Operators
	cur := int(g.sg.Inputs[0])
	s.Input = cur
	oi := 0
	quant := -1 // operator index of the folded QUANTIZE
	if oi < len(ops) && g.isInputQuantize(oi, cur) {
		why := g.foldableQuantize(oi)
		if !foldQuantize {
			why = keep
		}
		if why == "" {
			quant = oi
		} else {
			s.Reasons = append(s.Reasons, "operator 0 (QUANTIZE): input conversion, stays outside the stage: "+why)
			s.Input = int(ops[oi].Outputs[0])
		}
		cur = int(ops[oi].Outputs[0])
		oi++
	}
	if oi < len(ops) && g.code(oi) == schema.BuiltinOperatorTRANSPOSE {
		// A float32 TRANSPOSE folds together with the QUANTIZE right after it.
		floatT := foldQuantize && quant < 0 && oi == 0 && len(ops[oi].Outputs) == 1 && oi+1 < len(ops) &&
			g.isInputQuantize(oi+1, int(ops[oi].Outputs[0])) && g.foldableQuantize(oi+1) == ""
		if ok, why := g.foldableTranspose(oi, cur, floatT); ok {
			s.Transpose = oi
			s.InputNCHW = true
			cur = int(ops[oi].Outputs[0])
			oi++
			if floatT {
				quant = oi
				cur = int(ops[oi].Outputs[0])
				oi++
			}
		} else {
			s.Reasons = append(s.Reasons, fmt.Sprintf("operator %d (TRANSPOSE): %s; the stage ends before it", oi, why))
			return nil, &stageError{msg: fmt.Sprintf("no tileable prefix: operator %d (TRANSPOSE): %s", oi, why), noPrefix: true}
		}
	}
	s.First = oi
	fm0, why := g.featureMap(cur)
	if why != "" {
		return nil, &stageError{msg: fmt.Sprintf("no tileable prefix: stage input %q: %s", g.sg.Tensors[cur].Name, why), noPrefix: true}
	}
	s.FMs = []FeatureMap{fm0}
	if quant >= 0 {
		if why := g.quantizeLayer(s, quant, fm0); why != "" {
			return nil, &stageError{msg: fmt.Sprintf("no tileable prefix: operator %d (QUANTIZE): %s", quant, why), noPrefix: true}
		}
	}
	stop := g.grow(s, oi)
	for o := stop + 1; o < len(ops); o++ {
		if _, _, why := g.layer(o, nil, nil); why != "" && !isNotInStage(why) {
			s.Reasons = append(s.Reasons, fmt.Sprintf("operator %d (%s): %s", o, g.opName(o), why))
		} else {
			s.Reasons = append(s.Reasons, fmt.Sprintf("operator %d (%s): follows the end of the tileable prefix (operator %d)", o, g.opName(o), stop))
		}
	}
	s.Splits, s.Reasons = g.splits(s, s.Reasons)
	if len(s.Splits) == 0 {
		msg := "no tileable prefix"
		for _, r := range s.Reasons {
			if strings.Contains(r, "the stage ends before it") {
				msg += ": " + r
				break
			}
		}
		return nil, &stageError{msg: msg, noPrefix: true}
	}
	return s, nil
}

// grow appends to s (whose FMs hold the stage input, and a folded QUANTIZE's output) the tileable operators from oi on, up
// to the first one that is not, and returns that operator's index (len(ops) if none).
func (g *graph) grow(s *Stage, oi int) int {
	fmOf := map[int]int{}
	for f, fm := range s.FMs {
		if !fm.Float { // a folded QUANTIZE's float input is no layer's input
			fmOf[fm.Tensor] = f
		}
	}
	for ; oi < len(g.sg.Operators); oi++ {
		l, fm, why := g.layer(oi, fmOf, s.FMs)
		if why != "" {
			s.Reasons = append(s.Reasons, fmt.Sprintf("operator %d (%s): %s; the stage ends before it", oi, g.opName(oi), why))
			return oi
		}
		l.Out = len(s.FMs)
		fmOf[fm.Tensor] = l.Out
		s.FMs = append(s.FMs, fm)
		s.Layers = append(s.Layers, l)
	}
	return oi
}

// isInputQuantize reports whether operator oi is a QUANTIZE reading tensor t alone.
func (g *graph) isInputQuantize(oi, t int) bool {
	op := g.sg.Operators[oi]
	return g.code(oi) == schema.BuiltinOperatorQUANTIZE && len(op.Inputs) == 1 && int(op.Inputs[0]) == t &&
		len(op.Outputs) == 1 && op.Outputs[0] >= 0
}

// foldableQuantize says why QUANTIZE operator oi cannot be folded into the stage ("" if it
// can): the plan quantizes float32 to per-tensor int8, element for element.
func (g *graph) foldableQuantize(oi int) string {
	op := g.sg.Operators[oi]
	x, y := g.sg.Tensors[op.Inputs[0]], g.sg.Tensors[op.Outputs[0]]
	if x.Type != schema.TensorTypeFLOAT32 || y.Type != schema.TensorTypeINT8 {
		return fmt.Sprintf("%s to %s, not float32 to int8", tflite.TypeName(x.Type), tflite.TypeName(y.Type))
	}
	if len(x.Shape) != 4 || !slices.Equal(x.Shape, y.Shape) {
		return fmt.Sprintf("shapes %s and %s are not one 4-D shape", tflite.FormatShape(x.Shape), tflite.FormatShape(y.Shape))
	}
	if q := y.Quantization; q == nil || len(q.Scale) != 1 || len(q.ZeroPoint) != 1 || !(q.Scale[0] > 0) || math.IsInf(float64(q.Scale[0]), 1) {
		return "output without one finite positive scale"
	}
	return ""
}

// quantizeLayer makes the folded QUANTIZE (operator quant) layer 0 of s: fm 0 the float input
// (NHWC view of the stage input), fm 1 = fm, its int8 output (after a folded int8 TRANSPOSE,
// the transpose's output). It says why not when the codes would differ.
func (g *graph) quantizeLayer(s *Stage, quant int, fm FeatureMap) string {
	q := g.sg.Tensors[g.sg.Operators[quant].Outputs[0]].Quantization
	if q.Scale[0] != fm.Scale || int32(q.ZeroPoint[0]) != fm.ZeroPoint {
		return fmt.Sprintf("the TRANSPOSE after it changes the quantization (%g, %d to %g, %d)", q.Scale[0], q.ZeroPoint[0], fm.Scale, fm.ZeroPoint)
	}
	// fm 0's tensor is what the rewrite removes besides the inner maps when a TRANSPOSE is
	// folded (the tensor between the two folded operators), else the stage input itself.
	in := s.Input
	if s.Transpose >= 0 {
		if t := g.sg.Operators[s.Transpose]; s.Transpose < quant {
			in = int(t.Outputs[0])
		} else {
			in = int(t.Inputs[0])
		}
	}
	x := g.sg.Tensors[s.Input]
	s.FMs = []FeatureMap{{Tensor: in, Name: x.Name, H: fm.H, W: fm.W, C: fm.C, Float: true}, fm}
	s.Layers = []Layer{{Op: quant, Kind: KindQuantize, In: 0, In2: -1, Out: 1, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1,
		DepthMultiplier: 1, Weights: -1, Bias: -1}}
	return ""
}

// isNotInStage reports reasons that only say an input comes from outside the stage: for ops
// after the prefix end those are implied by the prefix ending.
func isNotInStage(why string) bool { return why == whyOutside }

const whyOutside = "reads an activation produced outside the stage"

// foldableTranspose checks that operator oi is an NCHW->NHWC layout TRANSPOSE of tensor in
// (int8, or float32 when allowFloat: a QUANTIZE after it is folded too).
func (g *graph) foldableTranspose(oi, in int, allowFloat bool) (bool, string) {
	op := g.sg.Operators[oi]
	if len(op.Inputs) != 2 || len(op.Outputs) != 1 || int(op.Inputs[0]) != in {
		return false, "not a layout transpose of the model input"
	}
	x := g.sg.Tensors[in]
	if x.Type != schema.TensorTypeINT8 && !(allowFloat && x.Type == schema.TensorTypeFLOAT32) {
		return false, fmt.Sprintf("%s input, not int8", tflite.TypeName(x.Type))
	}
	p := int(op.Inputs[1])
	data := g.constData(p)
	perm := make([]int64, 0, 4)
	switch g.sg.Tensors[p].Type {
	case schema.TensorTypeINT32:
		for i := 0; i+4 <= len(data); i += 4 {
			perm = append(perm, int64(int32(binary.LittleEndian.Uint32(data[i:]))))
		}
	case schema.TensorTypeINT64:
		for i := 0; i+8 <= len(data); i += 8 {
			perm = append(perm, int64(binary.LittleEndian.Uint64(data[i:])))
		}
	}
	if len(perm) != 4 || perm[0] != 0 || perm[1] != 2 || perm[2] != 3 || perm[3] != 1 {
		return false, "permutation is not the constant NCHW->NHWC [0,2,3,1]"
	}
	if len(x.Shape) != 4 || x.Shape[0] != 1 {
		return false, fmt.Sprintf("input shape %s is not [1,C,H,W]", tflite.FormatShape(x.Shape))
	}
	return true, ""
}

// featureMap describes tensor t as a stage feature map, or says why it cannot be one.
func (g *graph) featureMap(t int) (FeatureMap, string) {
	x := g.sg.Tensors[t]
	switch x.Type {
	case schema.TensorTypeINT8:
	case schema.TensorTypeINT16:
		return FeatureMap{}, "int16 activations"
	default:
		return FeatureMap{}, fmt.Sprintf("%s activations, not int8", tflite.TypeName(x.Type))
	}
	if len(x.Shape) != 4 || x.Shape[0] != 1 || x.Shape[1] <= 0 || x.Shape[2] <= 0 || x.Shape[3] <= 0 {
		return FeatureMap{}, fmt.Sprintf("activation shape %s is not [1,H,W,C]", tflite.FormatShape(x.Shape))
	}
	if x.Shape[1] > MaxDim || x.Shape[2] > MaxDim || x.Shape[3] > MaxDim {
		return FeatureMap{}, fmt.Sprintf("activation shape %s exceeds the kernels' limit of %d per dimension", tflite.FormatShape(x.Shape), MaxDim)
	}
	q := x.Quantization
	if q == nil || len(q.Scale) != 1 || len(q.ZeroPoint) != 1 || !(q.Scale[0] > 0) {
		return FeatureMap{}, "activation without per-tensor quantization"
	}
	if q.ZeroPoint[0] < -128 || q.ZeroPoint[0] > 127 {
		return FeatureMap{}, fmt.Sprintf("activation zero point %d outside int8", q.ZeroPoint[0])
	}
	if g.constant(t) || x.IsVariable {
		return FeatureMap{}, "activation is a constant or variable tensor"
	}
	return FeatureMap{Tensor: t, Name: x.Name, H: int(x.Shape[1]), W: int(x.Shape[2]), C: int(x.Shape[3]), ZeroPoint: int32(q.ZeroPoint[0]), Scale: q.Scale[0]}, ""
}

// layer describes operator oi as a stage layer whose activation inputs are feature maps in
// fmOf, or says why it cannot be tiled. With fmOf == nil only the operator itself is judged.
func (g *graph) layer(oi int, fmOf map[int]int, fms []FeatureMap) (Layer, FeatureMap, string) {
	op := g.sg.Operators[oi]
	l := Layer{Op: oi, In2: -1, Weights: -1, Bias: -1, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, DepthMultiplier: 1}
	code := g.code(oi)
	switch code {
	case schema.BuiltinOperatorCONV_2D:
		l.Kind = KindConv
	case schema.BuiltinOperatorDEPTHWISE_CONV_2D:
		l.Kind = KindDepthwise
	case schema.BuiltinOperatorADD:
		l.Kind = KindAdd
	case schema.BuiltinOperatorPAD:
		l.Kind = KindPad
	case schema.BuiltinOperatorMAX_POOL_2D:
		l.Kind = KindMaxPool
	case schema.BuiltinOperatorAVERAGE_POOL_2D:
		l.Kind = KindAvgPool
	default:
		return l, FeatureMap{}, "not a spatial op"
	}
	if len(op.Outputs) != 1 || op.Outputs[0] < 0 {
		return l, FeatureMap{}, "does not have exactly one output"
	}
	out, why := g.featureMap(int(op.Outputs[0]))
	if why != "" {
		return l, FeatureMap{}, why
	}
	if len(op.Inputs) == 0 || op.Inputs[0] < 0 {
		return l, FeatureMap{}, "has no input"
	}
	if _, why := g.featureMap(int(op.Inputs[0])); why != "" {
		return l, FeatureMap{}, why
	}
	if fmOf == nil {
		return l, out, ""
	}
	in, ok := fmOf[int(op.Inputs[0])]
	if !ok {
		return l, FeatureMap{}, whyOutside
	}
	l.In = in
	x := fms[in]
	var why2 string
	switch l.Kind {
	case KindConv, KindDepthwise:
		why2 = g.convLayer(&l, op, x, out)
	case KindAdd:
		why2 = g.addLayer(&l, op, fmOf, fms, out)
	case KindPad:
		why2 = g.padLayer(&l, op, x, out)
	case KindMaxPool, KindAvgPool:
		why2 = g.poolLayer(&l, op, x, out)
	}
	if why2 != "" {
		return l, FeatureMap{}, why2
	}
	switch l.Activation {
	case schema.ActivationFunctionTypeNONE, schema.ActivationFunctionTypeRELU,
		schema.ActivationFunctionTypeRELU6, schema.ActivationFunctionTypeRELU_N1_TO_1:
	default:
		name := schema.EnumNamesActivationFunctionType[l.Activation]
		return l, FeatureMap{}, fmt.Sprintf("fused activation %s is not supported", name)
	}
	return l, out, ""
}

// samePads returns the TFLite padding before the data along one axis, after checking that
// the output size matches the padding rule.
func samePads(padding schema.Padding, in, k, s, d, out int) (int, string) {
	eff := (k-1)*d + 1
	var want int
	switch padding {
	case schema.PaddingSAME:
		want = (in + s - 1) / s
	case schema.PaddingVALID:
		want = (in + s - eff) / s
	default:
		return 0, "unknown padding type"
	}
	if want != out {
		return 0, fmt.Sprintf("output size %d does not follow from input %d, kernel %d, stride %d (expected %d)", out, in, k, s, want)
	}
	total := max((out-1)*s+eff-in, 0)
	return total / 2, ""
}

func (g *graph) convLayer(l *Layer, op *schema.OperatorT, x, y FeatureMap) string {
	var padding schema.Padding
	switch o := optionsValue(op).(type) {
	case *schema.Conv2DOptionsT:
		if l.Kind != KindConv {
			return "missing options"
		}
		padding, l.SH, l.SW, l.DH, l.DW, l.Activation = o.Padding, int(o.StrideH), int(o.StrideW), int(o.DilationHFactor), int(o.DilationWFactor), o.FusedActivationFunction
	case *schema.DepthwiseConv2DOptionsT:
		if l.Kind != KindDepthwise {
			return "missing options"
		}
		padding, l.SH, l.SW, l.DH, l.DW, l.Activation = o.Padding, int(o.StrideH), int(o.StrideW), int(o.DilationHFactor), int(o.DilationWFactor), o.FusedActivationFunction
	default:
		return "missing options"
	}
	if l.SH <= 0 || l.SW <= 0 || l.DH <= 0 || l.DW <= 0 {
		return "non-positive stride or dilation"
	}
	if len(op.Inputs) < 2 || op.Inputs[1] < 0 || len(op.Inputs) > 3 {
		return "unexpected inputs"
	}
	w := int(op.Inputs[1])
	wt := g.sg.Tensors[w]
	if !g.constant(w) {
		return "weights are not constant"
	}
	if wt.Type != schema.TensorTypeINT8 {
		return fmt.Sprintf("%s weights, not int8", tflite.TypeName(wt.Type))
	}
	if len(wt.Shape) != 4 {
		return "weights are not 4-D"
	}
	outC := int(wt.Shape[0])
	l.KH, l.KW = int(wt.Shape[1]), int(wt.Shape[2])
	if l.Kind == KindConv {
		if int(wt.Shape[3]) != x.C {
			return fmt.Sprintf("grouped convolution (filter depth %d, input channels %d)", wt.Shape[3], x.C)
		}
		if outC != y.C {
			return "filter count does not match the output channels"
		}
	} else {
		if wt.Shape[0] != 1 {
			return "depthwise filter is not [1,kh,kw,c]"
		}
		outC = int(wt.Shape[3])
		if outC != y.C || x.C == 0 || outC%x.C != 0 {
			return "depthwise channels do not match"
		}
		l.DepthMultiplier = outC / x.C
	}
	if l.KH <= 0 || l.KW <= 0 || l.KH > MaxDim || l.KW > MaxDim || l.SH > MaxDim || l.SW > MaxDim || l.DH > MaxDim || l.DW > MaxDim {
		return "kernel size, stride or dilation outside the kernels' limits"
	}
	q := wt.Quantization
	if q == nil || (len(q.Scale) != 1 && len(q.Scale) != outC) {
		return "weights without per-tensor or per-channel quantization"
	}
	for _, zp := range q.ZeroPoint {
		if zp != 0 {
			return "weights with a non-zero zero point"
		}
	}
	for _, sc := range q.Scale {
		if !(sc > 0) {
			return "weights with a non-positive scale"
		}
	}
	l.Weights, l.WeightScales, l.WeightData = w, q.Scale, g.constData(w)
	l.WeightName, l.WeightShape = g.sg.Tensors[w].Name, g.sg.Tensors[w].Shape
	if len(op.Inputs) == 3 && op.Inputs[2] >= 0 {
		b := int(op.Inputs[2])
		bt := g.sg.Tensors[b]
		if !g.constant(b) {
			return "bias is not constant"
		}
		if bt.Type != schema.TensorTypeINT32 {
			return fmt.Sprintf("%s bias, not int32", tflite.TypeName(bt.Type))
		}
		if n, err := tflite.ElementCount(bt.Shape); err != nil || n != int64(outC) || len(g.constData(b)) != 4*outC {
			return "bias size does not match the output channels"
		}
		l.Bias = b
		data := g.constData(b)
		l.BiasValues = make([]int32, outC)
		for i := range l.BiasValues {
			l.BiasValues[i] = int32(binary.LittleEndian.Uint32(data[4*i:]))
		}
	}
	if y.C != outC {
		return "output channels do not match the filter"
	}
	var why string
	if l.PadTop, why = samePads(padding, x.H, l.KH, l.SH, l.DH, y.H); why != "" {
		return why
	}
	if l.PadLeft, why = samePads(padding, x.W, l.KW, l.SW, l.DW, y.W); why != "" {
		return why
	}
	return ""
}

func (g *graph) poolLayer(l *Layer, op *schema.OperatorT, x, y FeatureMap) string {
	o, ok := optionsValue(op).(*schema.Pool2DOptionsT)
	if !ok || o == nil {
		return "missing options"
	}
	l.KH, l.KW, l.SH, l.SW, l.Activation = int(o.FilterHeight), int(o.FilterWidth), int(o.StrideH), int(o.StrideW), o.FusedActivationFunction
	if l.KH <= 0 || l.KW <= 0 || l.SH <= 0 || l.SW <= 0 || l.KH > MaxDim || l.KW > MaxDim || l.SH > MaxDim || l.SW > MaxDim {
		return "filter size or stride outside 1..32767"
	}
	if x.C != y.C {
		return "input and output channels differ"
	}
	if x.ZeroPoint != y.ZeroPoint || x.Scale != y.Scale {
		return "input and output quantization differ"
	}
	var why string
	if l.PadTop, why = samePads(o.Padding, x.H, l.KH, l.SH, 1, y.H); why != "" {
		return why
	}
	if l.PadLeft, why = samePads(o.Padding, x.W, l.KW, l.SW, 1, y.W); why != "" {
		return why
	}
	return ""
}

func (g *graph) addLayer(l *Layer, op *schema.OperatorT, fmOf map[int]int, fms []FeatureMap, y FeatureMap) string {
	if o, ok := optionsValue(op).(*schema.AddOptionsT); ok && o != nil {
		l.Activation = o.FusedActivationFunction
	}
	if len(op.Inputs) != 2 || op.Inputs[1] < 0 {
		return "does not have two inputs"
	}
	in2, ok := fmOf[int(op.Inputs[1])]
	if !ok {
		if g.constant(int(op.Inputs[1])) {
			return "adds a constant (not a residual connection)"
		}
		return whyOutside
	}
	l.In2 = in2
	a, b := fms[l.In], fms[in2]
	if a.H != b.H || a.W != b.W || a.C != b.C || a.H != y.H || a.W != y.W || a.C != y.C {
		return "broadcasting ADD (input shapes differ)"
	}
	return ""
}

func (g *graph) padLayer(l *Layer, op *schema.OperatorT, x, y FeatureMap) string {
	if len(op.Inputs) != 2 || op.Inputs[1] < 0 {
		return "does not have two inputs"
	}
	p := int(op.Inputs[1])
	data := g.constData(p)
	if data == nil {
		return "paddings are not constant"
	}
	pads, ok := decodeInts(g.sg.Tensors[p].Type, data)
	if !ok {
		return "paddings are neither int32 nor int64"
	}
	if len(pads) != 8 {
		return "paddings are not a 4x2 matrix"
	}
	if pads[0] != 0 || pads[1] != 0 || pads[6] != 0 || pads[7] != 0 {
		return "pads batch or channels (only spatial padding is tiled)"
	}
	for _, v := range pads[2:6] {
		if v < 0 || v > MaxDim {
			return "negative or huge paddings"
		}
	}
	l.PadTop, l.PadBottom, l.PadLeft, l.PadRight = int(pads[2]), int(pads[3]), int(pads[4]), int(pads[5])
	if x.H+l.PadTop+l.PadBottom != y.H || x.W+l.PadLeft+l.PadRight != y.W || x.C != y.C {
		return "output shape does not match the paddings"
	}
	if x.ZeroPoint != y.ZeroPoint || x.Scale != y.Scale {
		return "input and output quantization differ"
	}
	return ""
}

func optionsValue(op *schema.OperatorT) any {
	if op.BuiltinOptions == nil {
		return nil
	}
	return op.BuiltinOptions.Value
}

// splits lists the closed prefixes of s and adds reasons for the prefixes that are not.
func (g *graph) splits(s *Stage, reasons []string) ([]int, []string) {
	// lastUse[fm] = the last stage layer reading fm; escapes[fm] = read outside the stage
	// layers or a graph output.
	inStage := map[int]bool{}
	for _, l := range s.Layers {
		inStage[l.Op] = true
	}
	if s.Transpose >= 0 {
		inStage[s.Transpose] = true // reads fm 0's tensor after a folded QUANTIZE
	}
	escapes := make([]bool, len(s.FMs))
	for f, fm := range s.FMs {
		if f == 0 && s.Transpose < 0 && !s.Later {
			continue // the model's input stays a tensor of the rewritten graph
		}
		if g.isOutput[fm.Tensor] {
			escapes[f] = true
		}
		for _, c := range g.consumers[fm.Tensor] {
			if !inStage[c] {
				escapes[f] = true
			}
		}
	}
	lastUse := make([]int, len(s.FMs))
	for i := range lastUse {
		lastUse[i] = -1
	}
	for li, l := range s.Layers {
		lastUse[l.In] = li
		if l.In2 >= 0 {
			lastUse[l.In2] = li
		}
	}
	var out []int
	for n := 1; n <= len(s.Layers); n++ {
		if n > MaxLayers {
			reasons = append(reasons, fmt.Sprintf("splits after operator %d (%s) are not possible: the kernels execute at most %d layers per stage", s.Layers[n-1].Op, s.Layers[n-1].Kind, MaxLayers))
			break
		}
		if n == 1 && s.FoldsQuantize() {
			continue // a stage of the input QUANTIZE alone would save nothing
		}
		closed := true
		why := ""
		for f := 0; f < n; f++ { // fm f is internal for split n when f < n (fm n is the output)
			if f == 0 && s.Transpose < 0 && !s.Later {
				continue
			}
			if escapes[f] || lastUse[f] >= n {
				closed = false
				who := fmt.Sprintf("the output of operator %d", s.Layers[max(f-1, 0)].Op)
				if f == 0 {
					who = "the folded TRANSPOSE's output"
					if s.Later {
						who = "the stage input"
					}
				}
				why = fmt.Sprintf("%s is still needed after it", who)
				break
			}
		}
		if closed {
			out = append(out, n)
		} else {
			reasons = append(reasons, fmt.Sprintf("split after operator %d (%s) is not possible: %s", s.Layers[n-1].Op, s.Layers[n-1].Kind, why))
		}
	}
	return out, reasons
}

// transposedQuantize reports whether l is a folded QUANTIZE whose output the folded TRANSPOSE
// after it turns into fm 1 (NCHW float input, QUANTIZE, then TRANSPOSE).
func (s *Stage) transposedQuantize(l Layer) bool {
	return l.Kind == KindQuantize && s.Transpose > l.Op
}
