package cli

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cifarDir links the ten CIFAR-10 reference inputs (named <label>_<class>_32x32x3_int8.raw)
// into a temporary folder, plus a file eval must skip.
func cifarDir(t *testing.T, d string) string {
	dir := t.TempDir()
	d, err := filepath.Abs(d)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(d, "inputs"))
	n := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), "_32x32x3_int8.raw") {
			if err := os.Symlink(filepath.Join(d, "inputs", e.Name()), filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n != 10 {
		t.Skipf("expected 10 CIFAR inputs, found %d", n)
	}
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not an input"), 0o644)
	return dir
}

// TestEvalCIFAR evaluates the CIFAR-10 ResNet on its ten reference inputs: TFLM's golden
// argmaxes are right for nine (the airplane is taken for a ship), and the model agrees
// perfectly with itself as a baseline.
func TestEvalCIFAR(t *testing.T) {
	d := sharedData(t)
	dir := cifarDir(t, d)
	model := filepath.Join(d, "models", "pretrainedResnet_quant.tflite")
	csvPath := filepath.Join(t.TempDir(), "res.csv")
	code, stdout, stderr := quantmcu("eval", model, "--data", dir, "--labels", "from-name", "--baseline", model, "--csv", csvPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("progress bar drawn on a non-terminal: %q", stderr)
	}
	for _, want := range []string{
		"inputs       10 from ",
		"top-1         90.00% (9/10)",
		"top-5        100.00% (10/10)",
		"top-1 agreement  100.00% (10/10)",
		"mean 0.0000, max 0 ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 11 || rows[0][0] != "file" || rows[0][7] != "baseline_top1" {
		t.Fatalf("csv has %d rows, header %v", len(rows), rows[0])
	}
	// Rows come in input order: 0_airplane first, predicted 8 (ship), a top-1 miss.
	if r := rows[1]; r[0] != "0_airplane_32x32x3_int8.raw" || r[1] != "0" || r[2] != "8" || r[4] != "0" || r[8] != "1" {
		t.Errorf("airplane row %v", r)
	}
	for i, r := range rows[1:] {
		if want := fmt.Sprint(i); r[1] != want {
			t.Errorf("row %d label %s, want %s", i+1, r[1], want)
		}
	}
}

func TestEvalLabelsFileLimitAndOffset(t *testing.T) {
	d := sharedData(t)
	dir := cifarDir(t, d)
	model := filepath.Join(d, "models", "pretrainedResnet_quant.tflite")
	labels := filepath.Join(t.TempDir(), "labels.txt")
	// Labels for two of the first three files only; the third is run but unlabelled.
	os.WriteFile(labels, []byte("# name label\n0_airplane_32x32x3_int8.raw 8\n\n1_automobile_32x32x3_int8.raw 1\n"), 0o644)
	code, stdout, stderr := quantmcu("eval", model, "--data", dir, "--labels", labels, "--limit", "3", "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "inputs       3 from") || !strings.Contains(stdout, "2 labelled") || !strings.Contains(stdout, "top-1        100.00% (2/2)") {
		t.Errorf("summary:\n%s", stdout)
	}
	// An explicit offset shifts every label: label+1 is never the prediction here except by chance.
	code, stdout, _ = quantmcu("eval", model, "--data", dir, "--labels", "from-name", "--label-offset", "1", "--limit", "2", "-q")
	if code != 0 || !strings.Contains(stdout, "output index = label + 1") {
		t.Errorf("offset: exit %d\n%s", code, stdout)
	}
}

func TestEvalBadInputs(t *testing.T) {
	d := sharedData(t)
	dir := cifarDir(t, d)
	tmp := t.TempDir()
	model := filepath.Join(d, "models", "pretrainedResnet_quant.tflite")
	badLabels := filepath.Join(tmp, "labels.txt")
	os.WriteFile(badLabels, []byte("0_airplane_32x32x3_int8.raw airplane\n"), 0o644)
	os.WriteFile(filepath.Join(tmp, "5_short.raw"), []byte{1, 2, 3}, 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no data", []string{"eval", model}, "--data DIR is required"},
		{"empty dir", []string{"eval", model, "--data", t.TempDir()}, "no inputs"},
		{"bad labels", []string{"eval", model, "--data", dir, "--labels", badLabels}, `labels.txt:1: label "airplane" is not a class index`},
		{"wrong-size input", []string{"eval", model, "--data", tmp}, "5_short.raw: raw file has 3 bytes"},
		{"baseline mismatch", []string{"eval", model, "--data", dir, "--baseline", filepath.Join(d, "models", "person_detect.tflite")}, "not comparable"},
		{"not a classifier", []string{"eval", filepath.Join(d, "models", "negative", "person_detect_vela.tflite"), "--data", dir}, "ethos-u"},
	} {
		code, _, stderr := quantmcu(tc.args...)
		if code != ExitBadInput || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want 2 and one line containing %q", tc.name, code, stderr, tc.want)
		}
	}
}

func TestLeadingInt(t *testing.T) {
	for name, want := range map[string]int{"005_n01496331_electric_ray.JPEG": 5, "999_x.png": 999, "n01_x": -1, "7.raw": 7} {
		if got := leadingInt(name); got != want {
			t.Errorf("leadingInt(%q) = %d, want %d", name, got, want)
		}
	}
}

// BenchmarkEvalMobileNetV2ImageNetSample evaluates MobileNetV2 (PyTorch export) on the 200
// ImageNet sample photos with the torchvision preset and reports top-1/top-5 (%) as
// metrics. Reference: TFLM on PIL-preprocessed inputs gives 76.5 / 97.0.
// Run with: go test ./host/cli -run XXX -bench EvalMobileNetV2 -benchtime 1x
func BenchmarkEvalMobileNetV2ImageNetSample(b *testing.B) {
	d := sharedData(b)
	model := filepath.Join(d, "models", "mobilenet_v2_quantized_1x3x224x224.tflite")
	images := filepath.Join(d, "images", "imagenet-sample")
	for b.Loop() {
		code, stdout, stderr := quantmcu("eval", model, "--data", images, "--preset", "torchvision", "--labels", "from-name", "-q")
		if code != 0 {
			b.Fatalf("exit %d: %s", code, stderr)
		}
		var top1, top5 float64
		for _, line := range strings.Split(stdout, "\n") {
			fmt.Sscanf(line, "top-1 %f%%", &top1)
			fmt.Sscanf(line, "top-5 %f%%", &top5)
		}
		b.ReportMetric(top1, "top1%")
		b.ReportMetric(top5, "top5%")
	}
}
