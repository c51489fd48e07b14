package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// testOptimizeCalib runs QuantMCU's search through the plugin on raw calibration tensors of
// the built-in model (it writes the reports and a spec that re-applies to the same bytes),
// and refuses bad calibration input with one line, exit 2 and nothing written.
func testOptimizeCalib(t *testing.T, pe *pluginEnv) {
	const model = "builtin:mobilenetv2-demo"
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.Mkdir(good, 0o755)
	for i := range 8 {
		b := make([]byte, 128*128*3)
		for j := range b {
			b[j] = byte((j*(i+3))/7 + i*11)
		}
		os.WriteFile(filepath.Join(good, "x"+string(rune('a'+i))+".raw"), b, 0o644)
	}
	out := filepath.Join(dir, "out")
	code, stdout, errOut := pe.run("optimize", model, "--calib", good, "--holdout", "0.25", "-o", out)
	if code != 0 {
		t.Fatalf("--calib: exit %d: %s", code, errOut)
	}
	if !strings.Contains(stdout, "QuantMCU search") {
		t.Errorf("no search line in the summary:\n%s", stdout)
	}
	for _, f := range []string{"_precision.json", "_bits.svg", "_summary.csv"} {
		if _, err := os.Stat(filepath.Join(out, "mobilenetv2-demo"+f)); err != nil {
			t.Error(err)
		}
	}
	csvData, _ := os.ReadFile(filepath.Join(out, "mobilenetv2-demo_summary.csv"))
	for _, key := range []string{"outlier_tile_rate", "lambda", "calib_samples", "search_seconds", "agreement_top1"} {
		if !strings.Contains(string(csvData), key) {
			t.Errorf("summary CSV lacks %s", key)
		}
	}
	again := filepath.Join(dir, "again")
	if code, _, errOut := pe.run("optimize", model, "--precision", filepath.Join(out, "mobilenetv2-demo_precision.json"), "-o", again); code != 0 {
		t.Fatalf("re-apply: exit %d: %s", code, errOut)
	}
	a, _ := os.ReadFile(filepath.Join(out, "mobilenetv2-demo_quantmcu.tflite"))
	b, _ := os.ReadFile(filepath.Join(again, "mobilenetv2-demo_quantmcu.tflite"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("the search's spec does not re-apply to the same model")
	}

	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	short := filepath.Join(dir, "short")
	os.Mkdir(short, 0o755)
	os.WriteFile(filepath.Join(short, "a.raw"), make([]byte, 100), 0o644)
	corrupt := filepath.Join(dir, "corrupt")
	os.Mkdir(corrupt, 0o755)
	os.WriteFile(filepath.Join(corrupt, "a.jpg"), []byte("\xff\xd8\xff\xe0 not really a jpeg"), 0o644)
	m, _, err := LoadModel(model)
	if err != nil {
		t.Fatal(err)
	}
	m.Subgraphs[0].Tensors[m.Subgraphs[0].Inputs[0]].Type = schema.TensorTypeFLOAT32
	m.Subgraphs[0].Tensors[m.Subgraphs[0].Inputs[0]].Quantization = nil
	floatModel := filepath.Join(dir, "float.tflite")
	if err := tflite.Save(floatModel, m); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"empty folder", []string{model, "--calib", empty}, "no inputs"},
		{"missing", []string{model, "--calib", filepath.Join(dir, "nope")}, "no such file"},
		{"wrong size", []string{model, "--calib", short}, "a.raw"},
		{"corrupt image", []string{model, "--calib", corrupt}, "a.jpg"},
		{"float model", []string{floatModel, "--calib", good}, "FLOAT32"},
		{"lambda", []string{model, "--calib", good, "--lambda", "2"}, "--lambda 2"},
		{"flag without calib", []string{model, "--lambda", "0.3"}, "--lambda needs --calib"},
		{"cost", []string{model, "--calib", good, "--cost", "fast"}, `"fast" is not one of bitops, cycles`},
		{"cost without calib", []string{model, "--cost", "cycles"}, "--cost needs --calib"},
		{"with bits", []string{model, "--calib", good, "--bits", "4"}, "exclude each other"},
	} {
		o := filepath.Join(t.TempDir(), "out")
		code, _, errOut := pe.run(append(append([]string{"optimize"}, c.args...), "-o", o)...)
		if code != ExitBadInput || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line containing %q", c.name, code, errOut, c.want)
		}
		if _, err := os.Stat(o); !os.IsNotExist(err) {
			t.Errorf("%s: output dir exists after a refusal", c.name)
		}
	}
}
