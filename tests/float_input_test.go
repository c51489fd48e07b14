package tests

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tests/internal/floatinput"
	"github.com/quantmcu/quantmcu/tests/internal/planref"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

// floatVariant is a float-input variant of a model: the model, how its QUANTIZE sits, and the
// int8 quantization of the original input (what the QUANTIZE produces).
type floatVariant struct {
	name  string
	m     *schema.ModelT
	scale float32
	zp    int32
}

func makeFloatVariant(t *testing.T, name string, m *schema.ModelT, o floatinput.Order) floatVariant {
	t.Helper()
	q := m.Subgraphs[0].Tensors[m.Subgraphs[0].Inputs[0]].Quantization
	v, err := floatinput.Variant(m, o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return floatVariant{name: name, m: v, scale: q.Scale[0], zp: int32(q.ZeroPoint[0])}
}

// checkFoldedQuantize checks that the rewritten model of a float-input variant reads the float
// input with the patch stage itself: no QUANTIZE (nor the folded TRANSPOSE) is left, the
// stage's input is the float32 model input and its plan starts with a QUANTIZE layer.
func checkFoldedQuantize(t *testing.T, name string, pm *schema.ModelT) *patchStage {
	t.Helper()
	sg := pm.Subgraphs[0]
	for i, op := range sg.Operators {
		switch tflite.BuiltinCode(pm.OperatorCodes[op.OpcodeIndex]) {
		case schema.BuiltinOperatorQUANTIZE, schema.BuiltinOperatorTRANSPOSE:
			t.Fatalf("%s: operator %d is still a %s", name, i, tflite.OpName(pm.OperatorCodes[op.OpcodeIndex]))
		}
	}
	ps, err := findPatchStage(pm)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if in := sg.Operators[ps.op].Inputs[0]; in != sg.Inputs[0] || sg.Tensors[in].Type != schema.TensorTypeFLOAT32 {
		t.Fatalf("%s: the patch stage reads tensor %d, not the float32 model input %d", name, in, sg.Inputs[0])
	}
	if !ps.plan.FloatInput || len(ps.plan.Layers) < 2 {
		t.Fatalf("%s: the plan does not start with a QUANTIZE layer", name)
	}
	return ps
}

// TestFloatInputQuantizeFolded rewrites float-input variants of the real CNNs (the TFLite
// converter's float32 input and leading QUANTIZE; for the NCHW MobileNetV2 both orders of
// QUANTIZE and TRANSPOSE) and the builtin demo network, with the automatic choice (which may
// keep the QUANTIZE outside when that gives the smaller arena) and with a forced split of the
// folded stage. A stage that folds the QUANTIZE must leave no QUANTIZE
// (no whole int8 copy of the input), and every rewritten model must give:
//   - TFLM's golden outputs of the original int8 model, byte for byte, on the golden inputs
//     dequantized to float (their QUANTIZE gives back the golden int8 input);
//   - the float variant's own outputs, byte for byte, on inputs probing the rounding rule
//     (halfway quotients, saturation, beyond int32, infinities, NaN, random bit patterns),
//     where a folded stage's output also equals the Go reference executor's.
//
// It logs the arena heads.
func TestFloatInputQuantizeFolded(t *testing.T) {
	_, cases := goldenCases(t)
	var variants []floatVariant
	for _, name := range []string{"person_detect", "vww_96_int8", "pretrainedResnet_quant", "mobilenet_v2_quantized_1x3x224x224"} {
		m, err := tflite.Load(filepath.Join(sharedData(t), "models", name+".tflite"))
		if err != nil {
			t.Fatal(err)
		}
		variants = append(variants, makeFloatVariant(t, name, m, floatinput.QuantizeFirst))
		if name == "mobilenet_v2_quantized_1x3x224x224" {
			variants = append(variants, makeFloatVariant(t, name+"/transpose-first", m, floatinput.TransposeFirst))
		}
	}
	demo, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	variants = append(variants, makeFloatVariant(t, "mobilenetv2-demo", demo, floatinput.QuantizeFirst))
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			if testing.Short() && v.name != "vww_96_int8" && v.name != "mobilenetv2-demo" {
				t.Skip("-short: vww_96_int8 and the demo only")
			}
			s, err := patch.DetectStage(v.m)
			if err != nil {
				t.Fatal(err)
			}
			if !s.FoldsQuantize() {
				t.Fatalf("%s: the detected stage does not fold the input QUANTIZE: %v", v.name, s.Reasons)
			}
			orig, err := interp.New(v.m)
			if err != nil {
				t.Fatal(err)
			}
			base := v.name
			if i := strings.IndexByte(base, '/'); i >= 0 {
				base = base[:i]
			}
			var golden []goldenCase
			for _, c := range cases {
				if filepath.Base(c.model) == base+".tflite" {
					golden = append(golden, c)
				}
			}
			if base != "mobilenetv2-demo" && len(golden) == 0 {
				t.Errorf("%s: no golden cases", v.name)
			}
			forced := rewrite.Options{Patches: "3x3", Split: s.Splits[len(s.Splits)/2]}
			for _, opts := range []rewrite.Options{{}, forced} {
				res, pm, err := rewriteAndLoad(v.m, opts)
				if err != nil {
					t.Fatal(err)
				}
				r := res.Stage
				folded := patchStageOps(pm) > 0 && !hasOp(pm, schema.BuiltinOperatorQUANTIZE)
				mode := "auto"
				if opts.Split > 0 {
					mode = fmt.Sprintf("forced split %d grid %s", opts.Split, opts.Patches)
				}
				t.Logf("%s %s: head arena %d -> %d B (%.2fx), grid %dx%d, split %d, QUANTIZE folded %v", v.name, mode,
					r.ArenaBefore, r.ArenaAfter, float64(r.ArenaBefore)/float64(r.ArenaAfter), r.Rows, r.Cols, r.Split, folded)
				// The automatic choice may keep the QUANTIZE: a prefix reading its int8 copy, or
				// a later stage only, can give the smaller arena.
				var ps *patchStage
				if opts.Split > 0 || folded {
					ps = checkFoldedQuantize(t, v.name, pm)
				}
				checkFloatVariant(t, v, pm, orig, golden, ps)
			}
		})
	}
}

// checkFloatVariant runs the rewritten model pm of float variant v on the dequantized golden
// inputs (against TFLM's golden outputs) and on rounding-probing inputs (against the variant
// itself, and the Go reference for a folded stage ps, when not nil).
func checkFloatVariant(t *testing.T, v floatVariant, pm *schema.ModelT, orig *interp.Interpreter, golden []goldenCase, ps *patchStage) {
	t.Helper()
	it, err := interp.New(pm)
	if err != nil {
		t.Fatal(err)
	}
	checkGoldenOutputs(t, it, golden, func(in []byte) []byte { return floatinput.Dequantize(in, v.scale, v.zp) }, nil)
	n := it.Inputs()[0].Bytes / 4
	for seed := range uint64(2) {
		in := floatinput.Hard(n, v.scale, seed)
		want, err := orig.Invoke(in)
		if err != nil {
			t.Fatal(err)
		}
		want = cloneOutputs(want)
		got, err := it.Invoke(in)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s hard input %d: output %d differs from the float model's", v.name, seed, i)
			}
		}
		if ps == nil {
			continue
		}
		if _, err := compareStage(it, ps, in); err != nil {
			t.Errorf("%s hard input %d: %v", v.name, seed, err)
		}
	}
}

// hasOp reports whether subgraph 0 of m has an operator with builtin code c.
func hasOp(m *schema.ModelT, c schema.BuiltinOperator) bool {
	for _, op := range m.Subgraphs[0].Operators {
		if tflite.BuiltinCode(m.OperatorCodes[op.OpcodeIndex]) == c {
			return true
		}
	}
	return false
}

func cloneOutputs(outs [][]byte) [][]byte {
	c := make([][]byte, len(outs))
	for i, o := range outs {
		c[i] = append([]byte(nil), o...)
	}
	return c
}

// TestQuantizePlanRefused edits the QUANTIZE of a real plan (the demo network's float-input
// variant) into what PLAN.md forbids: both the C reader (tfmicroops.Parse, TFLM's Init) and
// the Go reference must refuse every edit, and both must accept the plan unedited.
func TestQuantizePlanRefused(t *testing.T) {
	demo, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	v := makeFloatVariant(t, "demo", demo, floatinput.QuantizeFirst)
	_, pm, err := rewriteAndLoad(v.m, rewrite.Options{Patches: "2x2"})
	if err != nil {
		t.Fatal(err)
	}
	ps := checkFoldedQuantize(t, "demo", pm)
	blob := ps.blob
	w := make([]int32, len(blob)/4)
	for i := range w {
		w[i] = int32(binary.LittleEndian.Uint32(blob[4*i:]))
	}
	nf := int(w[3])
	l0 := 16 + 8*nf
	l1 := l0 + 32 + 2*int(w[l0+28]) // layer 1's record
	cases := map[string]func(w []int32){
		"scale zero":          func(w []int32) { w[l0+19] = 0 },
		"scale negative":      func(w []int32) { w[l0+19] = int32(math.Float32bits(-0.5)) },
		"scale infinite":      func(w []int32) { w[l0+19] = int32(math.Float32bits(float32(math.Inf(1)))) },
		"scale NaN":           func(w []int32) { w[l0+19] = 0x7fc00000 },
		"output offset":       func(w []int32) { w[l0+14]++ },
		"input offset":        func(w []int32) { w[l0+13] = 3 },
		"activation":          func(w []int32) { w[l0+15] = -100 },
		"kernel":              func(w []int32) { w[l0+4] = 3 },
		"word 20":             func(w []int32) { w[l0+20] = 1 },
		"float zero point":    func(w []int32) { w[16+4] = 5 },
		"layer 1 reads fm 0":  func(w []int32) { w[l1+1] = 0 },
		"quantize at layer 1": func(w []int32) { w[l1] = 7 },
	}
	check := func(name string, w []int32, wantOK bool) {
		b := make([]byte, 4*len(w))
		for i, x := range w {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
		}
		_, errC := tfmicroops.Parse(b)
		_, errRef := planref.Parse(b)
		if (errC == nil) != wantOK || (errRef == nil) != wantOK {
			t.Errorf("%s: C reader: %v; reference: %v; want accepted = %v", name, errC, errRef, wantOK)
		}
	}
	check("unedited", w, true)
	for name, edit := range cases {
		c := append([]int32(nil), w...)
		edit(c)
		check(name, c, false)
	}
}

// TestPlanReferenceFloatInput gives the random tileable stacks a float32 input and a leading
// QUANTIZE: for grids up to 3x3, the rewritten stage (which folds the QUANTIZE) must equal the
// Go reference and per-layer execution of the float model, on rounding-probing inputs.
func TestPlanReferenceFloatInput(t *testing.T) {
	pairs := 0
	eachRandomStack(t, func(seed uint64, m *schema.ModelT, layers int, desc string, _ *interp.Interpreter) {
		v := makeFloatVariant(t, desc, m, floatinput.QuantizeFirst)
		orig, err := interp.New(v.m, interp.WithThreads(1))
		if err != nil {
			t.Fatal(err)
		}
		in := floatinput.Hard(orig.Inputs()[0].Bytes/4, v.scale, seed)
		want, err := tensorsByName(orig, in)
		if err != nil {
			t.Fatal(err)
		}
		out := orig.Outputs()[0]
		for _, grid := range gridsUpTo4x4(out.Shape) {
			if grid[0] > '3' || grid[2] > '3' {
				continue
			}
			_, pm, err := rewriteAndLoad(v.m, rewrite.Options{Patches: grid, Split: layers + 1})
			if err != nil {
				t.Fatalf("seed %d (%s) grid %s: %v", seed, desc, grid, err)
			}
			ps := checkFoldedQuantize(t, desc, pm)
			it, err := interp.New(pm, interp.WithThreads(1))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := compareStage(it, ps, in)
			if err != nil {
				t.Fatalf("seed %d (%s) grid %s: %v", seed, desc, grid, err)
			}
			if !bytes.Equal(ref.Output, want[ps.out]) {
				t.Fatalf("seed %d (%s) grid %s: reference differs from per-layer execution", seed, desc, grid)
			}
			pairs++
		}
	})
	t.Logf("%d (stack, grid) float-input plans: reference = C = per-layer", pairs)
}
