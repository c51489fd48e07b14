package analysis

import (
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/tests/tflmgolden"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// TestWholeArenaMatchesTFLMHost64 compares head + predicted tail with arena_used_bytes() of
// the x86-64 TFLM build (reference kernels) for every model of golden/tflm/INDEX.tsv.
func TestWholeArenaMatchesTFLMHost64(t *testing.T) {
	cases, err := tflmgolden.Load(dataDir)
	if err != nil {
		t.Skipf("golden index: %v", err)
	}
	used := tflmgolden.ArenaUsed(cases)
	for _, model := range sortedKeys(used) {
		t.Run(filepath.Base(model), func(t *testing.T) {
			r, err := AnalyzeWith(loadModel(t, model), Options{Target: TargetHost64})
			if err != nil {
				t.Fatal(err)
			}
			if r.TotalBytes != used[model] || r.TotalBytes != r.ArenaBytes+r.Tail.Bytes {
				t.Errorf("whole arena %d B (tail %d B), TFLM reports %d B", r.TotalBytes, r.Tail.Bytes, used[model])
			}
			if len(r.Tail.Warnings) > 0 {
				t.Errorf("tail warnings %v", r.Tail.Warnings)
			}
		})
	}
}

// TestTailSimulatesAlignment checks the allocation replay on a hand-made sequence: the tail
// grows down from a 16-byte aligned end and every allocation is aligned down.
func TestTailSimulatesAlignment(t *testing.T) {
	var part int64
	s := &tailSim{part: &part}
	for _, a := range []struct{ size, align, want int64 }{{36, 4, 36}, {44, 4, 80}, {72, 16, 160}, {1, 1, 161}, {8, 8, 176}} {
		s.alloc(a.size, a.align)
		if -s.pos != a.want || part != a.want {
			t.Fatalf("after %d/%d: used %d (part %d), want %d", a.size, a.align, -s.pos, part, a.want)
		}
	}
}

// TestTailCountsKernelData checks the per-operator part on a one-convolution model: the
// 32-bit target's builtin parameters (28 B), OpDataConv (56 B, 16-aligned) and two
// per-channel arrays of 4 x 8 channels.
func TestTailCountsKernelData(t *testing.T) {
	sg := &schema.SubGraphT{Tensors: []*schema.TensorT{
		{Shape: []int32{1, 8, 8, 3}, Type: schema.TensorTypeINT8},
		{Shape: []int32{8, 3, 3, 3}, Type: schema.TensorTypeINT8},
		{Shape: []int32{1, 8, 8, 8}, Type: schema.TensorTypeINT8},
	}, Inputs: []int32{0}, Outputs: []int32{2}}
	op := &schema.OperatorT{Inputs: []int32{0, 1}, Outputs: []int32{2}}
	g := []TailGraph{{Tensors: 3, SG: sg, Ops: []TailOp{{Code: schema.BuiltinOperatorCONV_2D, Op: op}}}}
	with := Options{}.TailOf(g, 0)
	g[0].Ops = nil
	without := Options{}.TailOf(g, 0)
	// Builtin data 28 B at align 4, then 56, 32, 32 at align 16 (each padded to 16 B
	// boundaries); the NodeAndRegistration array grows by 32 B.
	if with.OpData < 28+56+32+32 || with.OpData > 28+56+32+32+3*15+3 {
		t.Errorf("op data %d B", with.OpData)
	}
	if d := with.Runtime - without.Runtime; d < 32 || d > 32+15 {
		t.Errorf("runtime grows by %d B with one node", d)
	}
}
