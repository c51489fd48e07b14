package cost

import (
	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// KindOf maps a TFLite builtin operator to the model's kinds.
func KindOf(code schema.BuiltinOperator) Kind {
	switch code {
	case schema.BuiltinOperatorCONV_2D:
		return Conv2D
	case schema.BuiltinOperatorDEPTHWISE_CONV_2D:
		return DepthwiseConv2D
	case schema.BuiltinOperatorFULLY_CONNECTED:
		return FullyConnected
	case schema.BuiltinOperatorADD:
		return Add
	case schema.BuiltinOperatorPAD, schema.BuiltinOperatorPADV2:
		return Pad
	case schema.BuiltinOperatorMAX_POOL_2D:
		return MaxPool2D
	case schema.BuiltinOperatorAVERAGE_POOL_2D:
		return AveragePool2D
	}
	return Other
}

// KindOfName maps an operator name (tflite.OpName, patch.LayerReport.Name) to a kind.
func KindOfName(name string) Kind {
	for code, n := range schema.EnumNamesBuiltinOperator {
		if n == name {
			return KindOf(code)
		}
	}
	return Other
}

// FromOp describes an operator of an analysed model executed layer by layer.
func FromOp(op analysis.OpInfo, tensors []analysis.TensorInfo) Layer {
	l := Layer{Kind: KindOf(op.Code), MACs: op.MACs}
	if len(op.Outputs) > 0 && op.Outputs[0] >= 0 && int(op.Outputs[0]) < len(tensors) {
		shape := tensors[op.Outputs[0]].Shape
		if n, err := tflite.ElementCount(shape); err == nil {
			l.Outputs = int64(n)
		}
		if len(shape) > 0 {
			l.OutC = int(shape[len(shape)-1])
		}
	}
	if l.Kind == Conv2D && len(op.Inputs) > 1 && op.Inputs[1] >= 0 && int(op.Inputs[1]) < len(tensors) {
		if w := tensors[op.Inputs[1]].Shape; len(w) == 4 {
			l.Taps, l.InC = int(w[1])*int(w[2]), int(w[3])
		}
	}
	return l
}

// FromStageLayer describes a patch-stage layer over all tiles: its patch MACs, and the output
// elements computed (the whole map's scaled by the layer's recomputation, or by the stage's
// for layers without MACs). inBits/outBits give the low branch's bitwidths (0: int8).
// transposed marks the layer reading the stage's NCHW input.
func FromStageLayer(l patch.LayerReport, stageOverhead float64, transposed bool, inBits, outBits int) Layer {
	out := int64(l.OutShape[0]) * int64(l.OutShape[1]) * int64(l.OutShape[2])
	computed := int64(float64(out)*(1+stageOverhead) + 0.5)
	if l.MACs > 0 {
		computed = int64(float64(out)*float64(l.PatchMACs)/float64(l.MACs) + 0.5)
	}
	taps := 0
	if per := out * int64(l.InShape[2]); per > 0 && KindOfName(l.Name) == Conv2D {
		taps = int(l.MACs / per)
	}
	return Layer{Kind: KindOfName(l.Name), MACs: l.PatchMACs, Outputs: computed, OutC: l.OutShape[2], Taps: taps,
		InC: l.InShape[2], Transposed: transposed, InBits: inBits, OutBits: outBits}
}
