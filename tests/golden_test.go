package tests

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// sharedData returns ../shared/data (beside the repository) or skips the test.
func sharedData(t testing.TB) string {
	t.Helper()
	d := filepath.Join("..", "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(d, "golden", "tflm", "INDEX.tsv")); err != nil {
		t.Skipf("shared test data absent (%s): %v", d, err)
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
	f, err := os.Open(filepath.Join(d, "golden", "tflm", "INDEX.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		if len(col) < 4 {
			continue
		}
		c := goldenCase{name: col[0], model: filepath.Join(d, col[1]), input: filepath.Join(d, col[2])}
		fields := strings.Fields(col[3]) // "file dtype[shape]" pairs
		for i := 0; i+1 < len(fields); i += 2 {
			c.outputs = append(c.outputs, filepath.Join(d, "golden", "tflm", fields[i]))
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
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
