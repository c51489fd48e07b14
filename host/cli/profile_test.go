package cli

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProfilePersonDetect profiles person_detect's patch stage on the emulated Cortex-M4 (real
// person image) when the toolchain is installed.
func TestProfilePersonDetect(t *testing.T) {
	for _, tool := range []string{"arm-none-eabi-gcc", "arm-none-eabi-objdump", "qemu-system-arm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not on PATH", tool)
		}
	}
	d := sharedData(t)
	code, out, errOut := quantmcu("profile", filepath.Join(d, "models", "person_detect.tflite"),
		"--input", filepath.Join(d, "inputs", "person_96x96x1_int8.raw"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"portable", "dsp", "est. M4 cycles", "ms at 168 MHz", "rewrite/cost"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	t.Log(out)
}

// TestProfileWithoutToolchain: with nothing on PATH the command names what to install.
func TestProfileWithoutToolchain(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	code, _, errOut := quantmcu("profile", "builtin:mobilenetv2-demo")
	if code != ExitBadInput || !strings.Contains(errOut, "apt-get install") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestProfileBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"profile"},
		{"profile", "builtin:mobilenetv2-demo", "--target", "cortex-m0"},
		{"profile", "builtin:mobilenetv2-demo", "--opt", "-O9"},
	} {
		if code, _, _ := quantmcu(args...); code != ExitBadInput {
			t.Errorf("%v: exit %d, want %d", args, code, ExitBadInput)
		}
	}
}
