package cli

import (
	"bytes"
	"image"
	_ "image/jpeg" // image.DecodeConfig of the photos
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/internal/shareddata"
	"github.com/quantmcu/quantmcu/tests/tflmgolden"
	"github.com/quantmcu/quantmcu/tflite/schema"
	"github.com/quantmcu/quantmcu/tflite/tensorio"
)

// sharedData returns ../shared/data (relative to the repository root) or skips.
func sharedData(t testing.TB) string {
	d := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		shareddata.Skip(t, "shared data %s absent", d)
	}
	return d
}

// quantmcu runs the CLI in-process.
func quantmcu(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Main(args, &Env{Stdout: &o, Stderr: &e})
	return code, o.String(), e.String()
}

// TestRunGoldenIndex runs every case of golden/tflm/INDEX.tsv through `quantmcu run -o` and
// demands output files byte-identical to TFLM's.
func TestRunGoldenIndex(t *testing.T) {
	index, err := tflmgolden.Load(sharedData(t))
	if err != nil {
		t.Skipf("golden index: %v", err)
	}
	cases := 0
	for _, c := range index {
		if testing.Short() && strings.HasPrefix(c.Name, "mobilenet") && cases > 0 && !strings.Contains(c.Name, "tench") {
			continue
		}
		cases++
		t.Run(c.Name, func(t *testing.T) {
			dir := t.TempDir()
			code, _, stderr := quantmcu("run", c.Model, "--input", c.Input, "-o", dir)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for i, o := range c.Outputs {
				want, err := os.ReadFile(o.Path)
				if err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(filepath.Join(dir, "output"+string(rune('0'+i))+".raw"))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					n := 0
					for j := range got {
						if j < len(want) && got[j] != want[j] {
							n++
						}
					}
					t.Errorf("output %d differs from TFLM in %d of %d bytes", i, n, len(want))
				}
			}
		})
	}
}

func TestRunPrintsTopKAndWritesNPY(t *testing.T) {
	d := sharedData(t)
	model := filepath.Join(d, "models", "person_detect.tflite")
	raw, err := os.ReadFile(filepath.Join(d, "inputs", "person_96x96x1_int8.raw"))
	if err != nil {
		t.Fatal(err)
	}
	// The same input as .npy gives the same result as the raw file.
	tmp := t.TempDir()
	npyIn := filepath.Join(tmp, "person.npy")
	b, _ := tensorio.EncodeNPY(schema.TensorTypeINT8, []int32{1, 96, 96, 1}, raw)
	os.WriteFile(npyIn, b, 0o644)
	out := filepath.Join(tmp, "out")
	code, stdout, stderr := quantmcu("run", model, "-i", npyIn, "-o", out, "--format", "npy", "--top", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `output 0 "MobilenetV1/Predictions/Reshape_1" int8[1,2]`) || !strings.Contains(stdout, "#1  class 1 ") ||
		strings.Contains(stdout, "#2") {
		t.Errorf("unexpected listing:\n%s", stdout)
	}
	f, err := os.ReadFile(filepath.Join(out, "output0.npy"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := tensorio.ParseNPY(f)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(d, "golden", "tflm", "person_detect__person_96x96x1_int8.tflm.out0.raw"))
	if a.Type != schema.TensorTypeINT8 || len(a.Shape) != 2 || a.Shape[1] != 2 || !bytes.Equal(a.Data, want) {
		t.Errorf("output0.npy: %+v, want data %v", a, want)
	}
}

func TestRunImageInput(t *testing.T) {
	d := sharedData(t)
	img := filepath.Join(d, "images", "imagenet-sample", "340_n02391049_zebra.JPEG")
	model := filepath.Join(d, "models", "mobilenet_v2_quantized_1x3x224x224.tflite")
	code, stdout, stderr := quantmcu("run", model, "-i", img, "--preset", "torchvision", "--top", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "#1  class 340 ") { // zebra
		t.Errorf("zebra not recognised:\n%s", stdout)
	}
	// A one-channel model takes the photo as gray, resized to cover 96x96 and cropped.
	code, stdout, stderr = quantmcu("run", filepath.Join(d, "models", "person_detect.tflite"), "-i", img, "--preset", "mobilenet")
	if code != 0 || !strings.Contains(stdout, "class 0") {
		t.Errorf("person_detect on an image: exit %d %s %s", code, stdout, stderr)
	}
}

// TestRunTorchvisionPresetEqualsReferenceTensors: `run --preset torchvision` on a photo
// gives the same outputs as `run` on its mbv2pt_* reference tensor (made with Pillow), for
// every photo where the reference recipe's resize equals torchvision's (the recipe rounds
// the longer side, torchvision truncates it; tensorio's tests cover the other photos).
func TestRunTorchvisionPresetEqualsReferenceTensors(t *testing.T) {
	d := sharedData(t)
	if err := tensorio.ExactJPEG(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must decode JPEGs exactly: %v", err)
		}
		t.Skip(err)
	}
	model := filepath.Join(d, "models", "mobilenet_v2_quantized_1x3x224x224.tflite")
	jpegs, _ := filepath.Glob(filepath.Join(d, "images", "imagenet-sample", "*.JPEG"))
	compared := 0
	for _, j := range jpegs {
		_, wnidName, _ := strings.Cut(strings.TrimSuffix(filepath.Base(j), ".JPEG"), "_")
		ref := filepath.Join(d, "inputs", "mbv2pt_"+wnidName+"_1x3x224x224_int8.raw")
		if _, err := os.Stat(ref); err != nil {
			continue
		}
		f, err := os.Open(j)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _, err := image.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		short, long := min(cfg.Width, cfg.Height), max(cfg.Width, cfg.Height)
		if 256*long/short != int(math.Round(256*float64(long)/float64(short))) {
			t.Logf("%s: the reference recipe's resize is not torchvision's; skipped", filepath.Base(j))
			continue
		}
		if testing.Short() && compared > 0 {
			break
		}
		outs := [2]string{t.TempDir(), t.TempDir()}
		for i, args := range [][]string{{"--input", j, "--preset", "torchvision"}, {"--input", ref}} {
			if code, _, stderr := quantmcu(append([]string{"run", model, "-o", outs[i]}, args...)...); code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, stderr)
			}
		}
		got, _ := os.ReadFile(filepath.Join(outs[0], "output0.raw"))
		want, _ := os.ReadFile(filepath.Join(outs[1], "output0.raw"))
		if len(want) != 1000 || !bytes.Equal(got, want) {
			t.Errorf("%s: logits differ from those of its reference tensor", filepath.Base(j))
		}
		compared++
	}
	if compared == 0 {
		t.Fatal("no photo with a reference tensor")
	}
}

func TestRunBadInputs(t *testing.T) {
	d := sharedData(t)
	tmp := t.TempDir()
	garbage := filepath.Join(tmp, "broken.png")
	os.WriteFile(garbage, []byte("\x89PNG\r\n\x1a\n truncated"), 0o644)
	person := filepath.Join(d, "models", "person_detect.tflite")
	kws := filepath.Join(d, "inputs", "kws_input_49x10x1_int8.raw")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong-size raw", []string{"run", person, "-i", kws}, "kws_input_49x10x1_int8.raw: raw file has 490 bytes, tensor input int8[1,96,96,1] needs 9216"},
		{"unreadable image", []string{"run", person, "-i", garbage}, "broken.png: not a readable PNG, JPEG or BMP image"},
		{"missing file", []string{"run", person, "-i", filepath.Join(tmp, "nope.raw")}, "no such file"},
		{"unsupported op", []string{"run", filepath.Join(d, "models", "negative", "person_detect_vela.tflite"), "-i", kws}, "ethos-u"},
		{"input count", []string{"run", person}, "model has 1 input(s)"},
		{"bad preset", []string{"run", person, "-i", kws, "--preset", "imagenet"}, `unknown preset "imagenet"`},
		{"bad range", []string{"run", person, "-i", kws, "--range", "0..2"}, "unknown pixel range"},
		{"bad format", []string{"run", person, "-i", kws, "--format", "csv"}, "unknown --format"},
		{"not a model", []string{"run", kws, "-i", kws}, "kws_input_49x10x1_int8.raw"},
	} {
		out := filepath.Join(tmp, tc.name)
		code, _, stderr := quantmcu(append(tc.args, "-o", out)...)
		if code != ExitBadInput {
			t.Errorf("%s: exit %d, want 2 (%s)", tc.name, code, stderr)
		}
		if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: stderr %q, want one line containing %q", tc.name, stderr, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: output directory written despite the error", tc.name)
		}
	}
}
