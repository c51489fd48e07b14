package patch

import (
	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// DescribeCustomOp tells rewrite/analysis what a QMCU_PATCH_STAGE operator costs: the MACs
// of its patches and the arena scratch its kernel requests in Prepare, both read from its
// custom options. Other custom codes, and options that do not decode, report ok = false.
// Use it as analysis.Options.Custom.
func DescribeCustomOp(code string, _ *schema.SubGraphT, op *schema.OperatorT) (analysis.CustomOp, bool) {
	if code != CustomCode || op == nil {
		return analysis.CustomOp{}, false
	}
	root, err := flexbuffers.Root(op.CustomOptions)
	if err != nil {
		return analysis.CustomOp{}, false
	}
	v, err := root.Get("scratch_bytes")
	if err != nil {
		return analysis.CustomOp{}, false
	}
	scratch, err := v.Int()
	if err != nil || scratch < 0 {
		return analysis.CustomOp{}, false
	}
	info := analysis.CustomOp{}
	if scratch > 0 {
		info.Scratch = []int64{scratch}
	}
	if v, err := root.Get("macs"); err == nil {
		if macs, err := v.Int(); err == nil && macs >= 0 {
			info.MACs = macs
		}
	}
	return info, true
}
