package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// badInput runs the CLI in-process and demands exit 2 with one short stderr line that
// contains want, and nothing on stdout.
func badInput(t *testing.T, want string, args ...string) {
	t.Helper()
	code, stdout, stderr := quantmcu(args...)
	if code != ExitBadInput || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) || len(stderr) > 2100 {
		t.Errorf("%.200q: exit %d, stderr (%d bytes) %.300q; want exit 2 and one short line containing %q", strings.Join(args, " "), code, len(stderr), stderr, want)
	}
	if stdout != "" {
		t.Errorf("%.200q: stdout %.200q", strings.Join(args, " "), stdout)
	}
}

// mutatedModel saves a modified copy of a shared model in dir.
func mutatedModel(t *testing.T, dir, name, model string, mutate func(*schema.ModelT)) string {
	t.Helper()
	m, err := tflite.Load(filepath.Join(sharedData(t), "models", model))
	if err != nil {
		t.Fatal(err)
	}
	mutate(m)
	p := filepath.Join(dir, name)
	// Save validates, and these models must not pass: pack them with the generated code.
	b := flatbuffers.NewBuilder(1 << 16)
	b.FinishWithFileIdentifier(m.Pack(b), []byte(tflite.FileIdentifier))
	if err := os.WriteFile(p, b.FinishedBytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Issue 10, item 1: absurd resize sizes are refused before any pixel is allocated.
func TestHugeResizeIsBadInput(t *testing.T) {
	d := sharedData(t)
	person := filepath.Join(d, "models", "person_detect.tflite")
	imgs, _ := filepath.Glob(filepath.Join(d, "images", "imagenet-sample", "*.JPEG"))
	if len(imgs) == 0 {
		t.Skip("no ImageNet sample images")
	}
	badInput(t, "resize size 1000000000 is larger than 65536", "run", person, "--input", imgs[0], "--resize-to", "1000000000")
	badInput(t, "exceeds the limit of 33554432 pixels", "run", person, "--input", imgs[0], "--resize-to", "60000")
	if code, _, stderr := quantmcu("run", person, "--input", imgs[0], "--resize-to", "200"); code != 0 {
		t.Errorf("--resize-to 200: exit %d, %s", code, stderr)
	}
}

// Issue 10, item 2: devices report size 0; every read is bounded by the bytes read.
func TestEndlessDevicesAreBadInput(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	d := sharedData(t)
	person := filepath.Join(d, "models", "person_detect.tflite")
	out := filepath.Join(t.TempDir(), "out")
	badInput(t, "/dev/zero: not a TFLite model: FlatBuffer root offset 0 is impossible", "inspect", "/dev/zero")
	badInput(t, "/dev/zero: not a TFLite model", "optimize", "/dev/zero", "-o", out)
	badInput(t, "/dev/zero: raw file has more than 9216 bytes", "run", person, "--input", "/dev/zero")
	badInput(t, "/dev/zero: too large: more than 64 MiB, the most quantmcu reads for a labels file",
		"eval", person, "--data", filepath.Join(d, "inputs"), "--labels", "/dev/zero", "-q")
	if _, err := os.Stat(out); err == nil {
		t.Error("optimize wrote its output directory")
	}
}

// Issue 10, item 5: a tensor of rank 200,000 gave error lines of 400 KB and 12.8 MB of
// inspect output; the rank is refused in one short line by every command.
func TestAbsurdRankIsOneShortLine(t *testing.T) {
	d := sharedData(t)
	bomb := mutatedModel(t, t.TempDir(), "bomb.tflite", "person_detect.tflite", func(m *schema.ModelT) {
		sg := m.Subgraphs[0]
		y := sg.Tensors[sg.Operators[0].Outputs[0]]
		y.Shape = make([]int32, 200000)
		for i := range y.Shape {
			y.Shape[i] = 1
		}
		y.ShapeSignature = nil
	})
	want := "rank 200000 is more than 16"
	badInput(t, want, "inspect", bomb)
	badInput(t, want, "run", bomb, "--input", filepath.Join(d, "inputs", "person_96x96x1_int8.raw"))
	badInput(t, want, "optimize", bomb, "-o", filepath.Join(t.TempDir(), "out"))
}

// Issue 10, item 6: the commands agree on what is bad input.
func TestConsistentChecks(t *testing.T) {
	d := sharedData(t)
	person := filepath.Join(d, "models", "person_detect.tflite")
	raw := filepath.Join(d, "inputs", "person_96x96x1_int8.raw")
	tmp := t.TempDir()
	file := filepath.Join(tmp, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	badInput(t, "-o "+file+": exists and is not a directory", "run", person, "--input", raw, "-o", file)
	badInput(t, "-o "+file+": exists and is not a directory", "optimize", person, "-o", file)
	badInput(t, "--threads must be between 1 and 1024, got 0", "run", person, "--input", raw, "--threads", "0")
	badInput(t, "--threads must be between 1 and 1024, got -3", "run", person, "--input", raw, "--threads", "-3")
	badInput(t, "--threads must be between 1 and 1024, got 2000000000", "run", person, "--input", raw, "--threads", "2000000000")
	badInput(t, "--workers between 1 and 1024", "eval", person, "--data", filepath.Join(d, "inputs"), "--workers", "2000000000")
	badInput(t, "--sram 0: the budget must be positive", "optimize", person, "--sram", "0", "-o", filepath.Join(tmp, "o"))
	badInput(t, "--csv "+tmp+": is a directory", "eval", person, "--data", filepath.Join(d, "inputs"), "--csv", tmp)
	if data, _ := os.ReadFile(file); string(data) != "x" {
		t.Error("the file given as -o was changed")
	}
	// Operators that form a cycle: every command refuses the model alike. The tensor gets a
	// 100 KB name: the error line stays bounded.
	cycle := mutatedModel(t, tmp, "cycle.tflite", "pretrainedResnet_quant.tflite", func(m *schema.ModelT) {
		sg := m.Subgraphs[0]
		sg.Operators[1].Inputs[0] = sg.Operators[2].Outputs[0] // same [1,32,32,16] shape
		sg.Tensors[sg.Operators[2].Outputs[0]].Name = strings.Repeat("n", 100000)
	})
	want := "read before operator 2 writes it (the operators form a cycle"
	badInput(t, want, "inspect", cycle)
	badInput(t, want, "run", cycle, "--input", filepath.Join(d, "inputs", "0_airplane_32x32x3_int8.raw"))
	badInput(t, want, "optimize", cycle, "-o", filepath.Join(tmp, "o"))
	if _, err := os.Stat(filepath.Join(tmp, "o")); err == nil {
		t.Error("optimize wrote its output directory")
	}
}
