package patch

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

// execInputs names one real input per model (shared/data/inputs).
var execInputs = map[string]string{
	"person_detect":                      "person_96x96x1_int8.raw",
	"vww_96_int8":                        "vww96_person_crop_96x96x3_int8.raw",
	"pretrainedResnet_quant":             "3_cat_32x32x3_int8.raw",
	"mobilenet_v2_quantized_1x3x224x224": "mbv2pt_n02123045_tabby_1x3x224x224_int8.raw",
}

// stageTensors runs m per layer with tflite/interp and returns the bytes of the given tensors
// (model inputs come from input, others from the hook).
func stageTensors(t *testing.T, m *schema.ModelT, input []byte, tensors ...int) [][]byte {
	t.Helper()
	it, err := interp.New(m)
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]byte, len(tensors))
	for i, tn := range tensors {
		if int(m.Subgraphs[0].Inputs[0]) == tn {
			got[i] = input
		}
	}
	it.SetHook(func(op int, outs []interp.Tensor) {
		for _, o := range outs {
			for i, tn := range tensors {
				if o.Index == tn {
					got[i] = bytes.Clone(o.Data)
				}
			}
		}
	})
	if _, err := it.Invoke(input); err != nil {
		t.Fatal(err)
	}
	return got
}

// modelAndInput loads a real model and its input from execInputs (skipping when absent).
func modelAndInput(t *testing.T, name string) (*schema.ModelT, []byte) {
	t.Helper()
	m := loadModel(t, name+".tflite")
	inPath := filepath.Join(dataDir(t), "inputs", execInputs[name])
	input, err := os.ReadFile(inPath)
	if err != nil {
		t.Skipf("%s absent", inPath)
	}
	return m, input
}

// parsedPlan encodes sp's plan and parses it with the C reader, and returns it with the op's
// constant inputs (by custom-op input index; [0], the stage input, nil).
func parsedPlan(t *testing.T, m *schema.ModelT, sp *StagePlan) (*tfmicroops.Plan, [][]byte) {
	t.Helper()
	planBytes, err := EncodePlan(sp)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tfmicroops.Parse(planBytes)
	if err != nil {
		t.Fatal(err)
	}
	consts := [][]byte{nil}
	for _, c := range sp.Consts {
		consts = append(consts, m.Buffers[m.Subgraphs[0].Tensors[c].Buffer].Data)
	}
	return p, consts
}

// TestPlanExecutesBitExact runs the emitted plan through the C kernels (tfmicro_ops) and
// compares the stage output with per-layer execution by tflite/interp.
func TestPlanExecutesBitExact(t *testing.T) {
	for _, name := range realModels {
		m, input := modelAndInput(t, name)
		s, err := DetectStage(m)
		if err != nil {
			t.Fatal(err)
		}
		// The longest stage whose output still has 3 columns.
		longest := 0
		for _, n := range s.Splits {
			if s.FMs[n].H >= 2 && s.FMs[n].W >= 3 {
				longest = n
			}
		}
		for _, o := range []Options{{}, {Rows: 1, Cols: 1}, {Rows: 2, Cols: 2}, {Rows: 3, Cols: 3}, {Rows: 4, Cols: 4}, {Rows: 7, Cols: 7}, {Rows: 2, Cols: 3, Split: longest}} {
			t.Run(fmt.Sprintf("%s/%dx%d/split%d", name, o.Rows, o.Cols, o.Split), func(t *testing.T) {
				if o.Split > 32 && testing.Short() {
					t.Skip("deep stage skipped in -short mode")
				}
				sp, err := Plan(m, o)
				if err != nil {
					t.Fatal(err)
				}
				out := sp.FMs[len(sp.FMs)-1].Tensor
				ref := stageTensors(t, m, input, sp.Stage.Input, out)
				p, consts := parsedPlan(t, m, sp)
				got := make([]byte, len(ref[1]))
				scratch := make([]byte, p.ScratchBytes())
				if _, err := p.Eval(ref[0], consts, got, scratch); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, ref[1]) {
					diff := 0
					for i := range got {
						if got[i] != ref[1][i] {
							diff++
						}
					}
					t.Fatalf("split %d grid %dx%d: %d of %d output bytes differ from per-layer execution", sp.Split, sp.Rows, sp.Cols, diff, len(got))
				}
			})
		}
	}
}
