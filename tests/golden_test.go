package tests

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/internal/shareddata"
	"github.com/quantmcu/quantmcu/tests/tflmgolden"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// sharedData returns ../shared/data (beside the repository) or skips the test.
func sharedData(t testing.TB) string {
	t.Helper()
	d := filepath.Join("..", "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(d, "golden", "tflm", "INDEX.tsv")); err != nil {
		shareddata.Skip(t, "shared test data absent (%s): %v", d, err)
	}
	return d
}

// goldenCase is one row of golden/tflm/INDEX.tsv: a model, one input, TFLM's outputs.
type goldenCase struct {
	name, model, input string
	outputs            []string // golden output files, in output order
}

func goldenCases(t testing.TB) (dir string, cases []goldenCase) {
	d := sharedData(t)
	index, err := tflmgolden.Load(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range index {
		g := goldenCase{name: c.Name, model: c.Model, input: c.Input}
		for _, o := range c.Outputs {
			g.outputs = append(g.outputs, o.Path)
		}
		cases = append(cases, g)
	}
	return d, cases
}

// patchStageOps counts the QMCU_PATCH_STAGE operators of subgraph 0, so that a test cannot
// pass by comparing an unrewritten model with itself.
func patchStageOps(m *schema.ModelT) int {
	n := 0
	for _, op := range m.Subgraphs[0].Operators {
		oc := m.OperatorCodes[op.OpcodeIndex]
		if tflite.BuiltinCode(oc) == schema.BuiltinOperatorCUSTOM && oc.CustomCode == "QMCU_PATCH_STAGE" {
			n++
		}
	}
	return n
}

// checkGoldenOutputs runs it on every case's input (through feed, when not nil: e.g. the
// input dequantized for a float-input variant) and requires each output to equal TFLM's golden
// output of the original model, and also the output of also on the same input when also is
// not nil.
func checkGoldenOutputs(t *testing.T, it *interp.Interpreter, cases []goldenCase, feed func([]byte) []byte, also *interp.Interpreter) {
	t.Helper()
	for _, c := range cases {
		in, err := os.ReadFile(c.input)
		if err != nil {
			t.Fatal(err)
		}
		var want [][]byte
		if also != nil {
			if want, err = also.Invoke(in); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		if feed != nil {
			in = feed(in)
		}
		got, err := it.Invoke(in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i, gf := range c.outputs {
			golden, err := os.ReadFile(gf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[i], golden) {
				t.Errorf("%s: output %d differs from TFLM's output of the original model", c.name, i)
			}
			if want != nil && !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: output %d differs from the original model's in the interpreter", c.name, i)
			}
		}
	}
}
