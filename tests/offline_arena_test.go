package tests

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tests/internal/floatinput"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

// TestOfflinePlanArenaBitExact runs every patch stage of the rewritten real models (int8, and
// their float-input variants whose stage folds the QUANTIZE) inside one arena laid out as TFLM
// lays it out with the model's OfflineMemoryAllocation plan: the stage's input, output and
// scratch at the offsets rewrite/analysis gives them (what TFLM's planner computes, measured
// equal in real builds), so the output overlaps the input as planned. Each stage must write
// what the host interpreter's separate buffers give.
func TestOfflinePlanArenaBitExact(t *testing.T) {
	_, cases := goldenCases(t)
	for _, name := range []string{"person_detect", "vww_96_int8", "pretrainedResnet_quant", "mobilenet_v2_quantized_1x3x224x224"} {
		m, err := tflite.Load(filepath.Join(sharedData(t), "models", name+".tflite"))
		if err != nil {
			t.Fatal(err)
		}
		var input []byte
		for _, c := range cases {
			if filepath.Base(c.model) == name+".tflite" {
				if input, err = os.ReadFile(filepath.Join(sharedData(t), c.input)); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		if input == nil {
			t.Fatalf("%s: no golden input", name)
		}
		fv := makeFloatVariant(t, name, m, floatinput.QuantizeFirst)
		floatIn := make([]byte, 4*len(input))
		for i, q := range input {
			binary.LittleEndian.PutUint32(floatIn[4*i:], math.Float32bits(fv.scale*float32(int32(int8(q))-fv.zp)))
		}
		for _, v := range []struct {
			name  string
			m     *schema.ModelT
			input []byte
		}{{name, m, input}, {name + "/float-input", fv.m, floatIn}} {
			t.Run(v.name, func(t *testing.T) {
				_, pm, err := rewriteAndLoad(v.m, rewrite.Options{})
				if err != nil {
					t.Fatal(err)
				}
				checkArenaStages(t, pm, v.input)
			})
		}
	}
}

// checkArenaStages runs pm's patch stages in an arena laid out by its (offline) plan.
func checkArenaStages(t *testing.T, pm *schema.ModelT, input []byte) {
	t.Helper()
	r, err := analysis.AnalyzeWith(pm, analysis.Options{Custom: patch.DescribeCustomOpFor(analysis.TargetCortexM)})
	if err != nil {
		t.Fatal(err)
	}
	if r.OfflineBuffers == 0 {
		t.Skip("no offline plan")
	}
	it, err := interp.New(pm)
	if err != nil {
		t.Fatal(err)
	}
	byName, err := tensorsByName(it, input)
	if err != nil {
		t.Fatal(err)
	}
	stages, err := findPatchStages(pm)
	if err != nil {
		t.Fatal(err)
	}
	sg := pm.Subgraphs[0]
	overlapped := 0
	for _, ps := range stages {
		op := sg.Operators[ps.op]
		in, out := r.Tensors[op.Inputs[0]], r.Tensors[op.Outputs[0]]
		scratchAt := int64(-1)
		for _, b := range r.Planned {
			if b.Kind == analysis.ScratchBuffer && b.Subgraph == 0 && b.Op == ps.op {
				scratchAt = b.Offset
			}
		}
		if in.Offset < 0 || out.Offset < 0 {
			t.Fatalf("operator %d: input or output not in the arena head", ps.op)
		}
		if in.Offset < out.Offset+out.Bytes && out.Offset < in.Offset+in.Bytes {
			overlapped++
		}
		plan, err := tfmicroops.Parse(ps.blob)
		if err != nil {
			t.Fatal(err)
		}
		st, err := plan.Bind(ps.consts)
		if err != nil {
			t.Fatal(err)
		}
		arena := make([]byte, r.ArenaBytes)
		copy(arena[in.Offset:], byName[ps.in])
		scratch := make([]byte, plan.ScratchBytes())
		if scratchAt >= 0 {
			scratch = arena[scratchAt : scratchAt+int64(plan.ScratchBytes())]
		}
		if _, err := st.Run(arena[in.Offset:in.Offset+in.Bytes], arena[out.Offset:out.Offset+out.Bytes], [][]byte{scratch}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if got, want := arena[out.Offset:out.Offset+out.Bytes], byName[ps.out]; !bytes.Equal(got, want) {
			t.Errorf("operator %d: the output at arena offset %d (input at %d) differs from separate buffers", ps.op, out.Offset, in.Offset)
		}
	}
	if overlapped == 0 {
		t.Error("the offline plan overlaps no stage's output with its input")
	}
	t.Logf("%d stages, %d overlapping their input; head %d B (online %d B)", len(stages), overlapped, r.ArenaBytes, r.OnlineArenaBytes)
}
