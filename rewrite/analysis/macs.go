package analysis

import (
	"fmt"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// opMACs counts the multiply-accumulates of one operator by this convention:
//
//	CONV_2D             output elements x kernel height x kernel width x filter input channels
//	                    (filter [out_ch, kh, kw, in_ch/groups], so grouped convs count in_ch/groups)
//	DEPTHWISE_CONV_2D   output elements x kernel height x kernel width
//	FULLY_CONNECTED     output elements x input features (the filter's last dimension)
//	ADD, SUB, MUL       output elements
//	AVERAGE_POOL_2D,
//	MAX_POOL_2D         output elements x filter height x filter width
//	MEAN                input elements
//	everything else     0 (data movement, activations, and operators we do not analyse)
//
// Padding is ignored: border outputs count full windows, as is usual for MAC counts.
// A shape that does not fit the operator gives 0 MACs and a note.
func opMACs(code schema.BuiltinOperator, sg *schema.SubGraphT, op *schema.OperatorT) (int64, string) {
	out := tensorAt(sg, op.Outputs, 0)
	outN := int64(0)
	if out != nil {
		outN, _ = tflite.ElementCount(out.Shape)
	}
	filterDims := func(rank int) ([]int32, string) {
		f := tensorAt(sg, op.Inputs, 1)
		if f == nil {
			return nil, "no filter tensor: MACs not counted"
		}
		if len(f.Shape) != rank {
			return nil, fmt.Sprintf("filter shape %s is not %d-D: MACs not counted", tflite.FormatShape(f.Shape), rank)
		}
		return f.Shape, ""
	}
	switch code {
	case schema.BuiltinOperatorCONV_2D:
		s, note := filterDims(4)
		if s == nil {
			return 0, note
		}
		return mulChecked(outN, int64(s[1]), int64(s[2]), int64(s[3]))
	case schema.BuiltinOperatorDEPTHWISE_CONV_2D:
		s, note := filterDims(4)
		if s == nil {
			return 0, note
		}
		return mulChecked(outN, int64(s[1]), int64(s[2]))
	case schema.BuiltinOperatorFULLY_CONNECTED:
		f := tensorAt(sg, op.Inputs, 1)
		if f == nil || len(f.Shape) == 0 {
			return 0, "no filter shape: MACs not counted"
		}
		return mulChecked(outN, int64(f.Shape[len(f.Shape)-1]))
	case schema.BuiltinOperatorADD, schema.BuiltinOperatorSUB, schema.BuiltinOperatorMUL:
		return outN, ""
	case schema.BuiltinOperatorAVERAGE_POOL_2D, schema.BuiltinOperatorMAX_POOL_2D:
		if op.BuiltinOptions == nil {
			return 0, "pooling without options: MACs not counted"
		}
		o, ok := op.BuiltinOptions.Value.(*schema.Pool2DOptionsT)
		if !ok || o == nil {
			return 0, "pooling without Pool2DOptions: MACs not counted"
		}
		return mulChecked(outN, int64(o.FilterHeight), int64(o.FilterWidth))
	case schema.BuiltinOperatorMEAN:
		in := tensorAt(sg, op.Inputs, 0)
		if in == nil {
			return 0, ""
		}
		n, _ := tflite.ElementCount(in.Shape)
		return n, ""
	}
	return 0, ""
}

// mulChecked multiplies non-negative factors, refusing results beyond 2^62.
func mulChecked(fs ...int64) (int64, string) {
	const limit = int64(1) << 62
	p := int64(1)
	for _, f := range fs {
		if f < 0 {
			return 0, "negative dimension: MACs not counted"
		}
		if f != 0 && p > limit/f {
			return 0, "MAC count overflows: not counted"
		}
		p *= f
	}
	return p, ""
}
