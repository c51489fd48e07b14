package interp

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/internal/shareddata"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// sharedData is ../shared/data relative to the repository root (this package is two levels down).
const sharedData = "../../../shared/data"

type goldenCase struct {
	name, model, input string
	outputs            []string // files relative to golden/tflm
}

func loadIndex(t testing.TB) []goldenCase {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedData, "golden/tflm/INDEX.tsv"))
	if err != nil {
		shareddata.Skip(t, "shared data absent (%v)", err)
	}
	defer f.Close()
	var cases []goldenCase
	sc := bufio.NewScanner(f)
	header := true
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 4 {
			continue
		}
		gc := goldenCase{name: cols[0], model: cols[1], input: cols[2]}
		for _, o := range strings.Split(cols[3], " ") {
			if strings.HasSuffix(o, ".raw") {
				gc.outputs = append(gc.outputs, o)
			}
		}
		cases = append(cases, gc)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func loadModel(t testing.TB, rel string) *schema.ModelT {
	t.Helper()
	if _, err := os.Stat(sharedData); err != nil {
		shareddata.Skip(t, "shared data absent (%v)", err)
	}
	m, err := tflite.Load(filepath.Join(sharedData, rel))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGoldenTFLM runs every case of golden/tflm/INDEX.tsv and requires outputs identical, byte
// for byte, to those of TFLM's reference kernels.
func TestGoldenTFLM(t *testing.T) {
	cases := loadIndex(t)
	if len(cases) == 0 {
		t.Fatal("INDEX.tsv lists no cases")
	}
	interps := map[string]*Interpreter{}
	for _, gc := range cases {
		t.Run(gc.name, func(t *testing.T) {
			it := interps[gc.model]
			if it == nil {
				var err error
				if it, err = New(loadModel(t, gc.model)); err != nil {
					t.Fatal(err)
				}
				interps[gc.model] = it
			}
			in, err := os.ReadFile(filepath.Join(sharedData, gc.input))
			if err != nil {
				t.Fatal(err)
			}
			outs, err := it.Invoke(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(outs) != len(gc.outputs) {
				t.Fatalf("%d outputs, golden has %d", len(outs), len(gc.outputs))
			}
			for i, o := range gc.outputs {
				want, err := os.ReadFile(filepath.Join(sharedData, "golden/tflm", o))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(outs[i], want) {
					t.Errorf("output %d differs from TFLM: %s", i, diffSummary(outs[i], want))
				}
			}
		})
	}
}

func diffSummary(got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("length %d, want %d", len(got), len(want))
	}
	n, maxD, first := 0, 0, -1
	for i := range got {
		d := int(int8(got[i])) - int(int8(want[i]))
		if d != 0 {
			if first < 0 {
				first = i
			}
			n++
			maxD = max(maxD, d, -d)
		}
	}
	return fmt.Sprintf("%d of %d bytes differ (max |diff| %d, first at %d: got %d want %d)", n, len(got), maxD, first, int8(got[first]), int8(want[first]))
}
