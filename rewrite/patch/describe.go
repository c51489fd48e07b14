package patch

import (
	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// DescribeCustomOp is DescribeCustomOpFor(analysis.TargetCortexM).
func DescribeCustomOp(code string, sg *schema.SubGraphT, op *schema.OperatorT) (analysis.CustomOp, bool) {
	return describeCustomOp(analysis.TargetCortexM, code, sg, op)
}

// DescribeCustomOpFor returns what tells rewrite/analysis what a QMCU_PATCH_STAGE operator
// costs on target t: the MACs of its patches, the arena scratch its kernel requests in
// Prepare (both read from its custom options) and the persistent data its TFLM kernel
// allocates. Other custom codes, and options that do not decode, report ok = false. Use it
// as analysis.Options.Custom.
func DescribeCustomOpFor(t analysis.Target) func(code string, sg *schema.SubGraphT, op *schema.OperatorT) (analysis.CustomOp, bool) {
	return func(code string, sg *schema.SubGraphT, op *schema.OperatorT) (analysis.CustomOp, bool) {
		return describeCustomOp(t, code, sg, op)
	}
}

// KernelOpDataBytes is sizeof(OpData) of the TFLM kernel (tfmicro_ops/tflm) on target t: a
// qmcu_plan (a words pointer, 12 int32 fields, the fms, first-record, first-low-record and
// tiles pointers), the words pointer, the scratch index and three uint32 counters, padded to
// the pointer alignment (88 B on Cortex-M, 112 B on a 64-bit host).
func KernelOpDataBytes(t analysis.Target) int64 {
	p := analysis.PointerBytes(t)
	plan := analysis.AlignUp(p+12*4, p) + 4*p
	return analysis.AlignUp(plan+p+4+3*4, p)
}

// persistent lists what the TFLM kernel allocates in Init: its OpData and, when the plan
// blob's data is not 4-byte aligned in the options (models written before quantmcu aligned
// it), a copy of the plan. The options themselves are 4-byte aligned in the model (a
// flatbuffer byte vector) and TFLM models are loaded 4-byte aligned or better.
func persistent(t analysis.Target, root flexbuffers.Value) []int64 {
	r := []int64{KernelOpDataBytes(t)}
	v, err := root.Get("plan")
	if err != nil {
		return r
	}
	b, err1 := v.Blob()
	off, err2 := v.BlobOffset()
	if err1 == nil && err2 == nil && off%4 != 0 {
		r = append(r, int64(len(b)))
	}
	return r
}

func describeCustomOp(t analysis.Target, code string, _ *schema.SubGraphT, op *schema.OperatorT) (analysis.CustomOp, bool) {
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
	info := analysis.CustomOp{Persistent: persistent(t, root)}
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
