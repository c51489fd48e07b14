package tfmicroops

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kernelSources are the portable C files that go into the MCU build.
var kernelSources = []string{"qmcu_plan.c", "qmcu_kernels.c", "qmcu_patch_stage.c", "qmcu_msg.c", "qmcu_quantize.c"}

// TestCrossCompileCortexM compiles the kernels for Cortex-M4 and M7 with warnings as errors.
func TestCrossCompileCortexM(t *testing.T) {
	gcc, err := exec.LookPath("arm-none-eabi-gcc")
	if err != nil {
		t.Skip("arm-none-eabi-gcc not on PATH")
	}
	dir := t.TempDir()
	for _, cpu := range [][]string{
		{"-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"},
		{"-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard"},
		{"-mcpu=cortex-m0plus"},
	} {
		for _, src := range kernelSources {
			args := append([]string{"-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-mthumb"}, cpu...)
			args = append(args, "-c", src, "-o", filepath.Join(dir, src+".o"))
			if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
				t.Errorf("%s %v: %v\n%s", src, cpu, err, out)
			}
		}
	}
}

// TestQEMUCortexM4 runs a generated plan (residual block, NCHW input, 3x3 tiles) with the
// kernels cross-compiled for Cortex-M4 on QEMU's mps2-an386 board and checks the output
// against the host reference.
func TestQEMUCortexM4(t *testing.T) {
	gcc, qemu := ArmTools(t)
	rng := rand.New(rand.NewPCG(21, 22))
	s := newStage(rng, 20, 18, 3)
	s.nchw = true
	x := s.conv(0, 3, 2, true, 8)
	y := s.depthwise(x, 3, 1, true, 1)
	y = s.conv(y, 1, 1, true, 8)
	x = s.add(x, y)
	x = s.pad(x, 1, 1, 1, 1)
	x = s.pool(AveragePool2D, x, 3, 1, false)
	s.pool(MaxPool2D, x, 2, 2, true)
	plan, consts := s.plan(3, 3)
	p, err := Parse(plan)
	if err != nil {
		t.Fatal(err)
	}
	nhwc, opIn := s.randomInput()
	want := s.reference(nhwc)
	runPlanOnQEMU(t, gcc, qemu, plan, p, opIn, consts, want)
}

// runPlanOnQEMU compiles the kernels with the plan, its input, constants and expected output
// as C arrays for Cortex-M4 (warnings are errors), runs it on QEMU's mps2-an386 board and
// fails unless the emulated output equals want.
func runPlanOnQEMU(t *testing.T, gcc, qemu string, plan []byte, p *Plan, opIn []byte, consts [][]byte, want []byte) {
	t.Helper()
	var src strings.Builder
	src.WriteString("#include <stdint.h>\n")
	array := func(decl string, vals []int64) {
		fmt.Fprintf(&src, "%s[] __attribute__((aligned(4))) = {", decl)
		for i, v := range vals {
			if i%16 == 0 {
				src.WriteString("\n ")
			}
			fmt.Fprintf(&src, " %d,", v)
		}
		src.WriteString("\n};\n")
	}
	w := words(plan)
	ints := func(b []byte) []int64 {
		v := make([]int64, len(b))
		for i, c := range b {
			v[i] = int64(int8(c))
		}
		return v
	}
	wv := make([]int64, len(w))
	for i, v := range w {
		wv[i] = int64(v)
	}
	array("const int32_t plan_words", wv)
	fmt.Fprintf(&src, "const uint32_t plan_n_words = %d;\n", len(w))
	array("const int8_t stage_input", ints(opIn))
	fmt.Fprintf(&src, "const uint32_t stage_input_bytes = %d;\n", len(opIn))
	array("const int8_t expected_output", ints(want))
	fmt.Fprintf(&src, "const uint32_t output_bytes = %d;\nint8_t output[%d];\n", len(want), len(want))
	fmt.Fprintf(&src, "const uint32_t scratch_bytes = %d;\nint8_t scratch[%d];\n", p.ScratchBytes(), max(p.ScratchBytes(), 1))
	names := []string{"0"}
	for i := 1; i < len(consts); i++ {
		spec, _ := p.Input(i)
		if spec.Type == Int32 {
			v := make([]int64, len(consts[i])/4)
			for j := range v {
				v[j] = int64(int32(binary.LittleEndian.Uint32(consts[i][4*j:])))
			}
			array(fmt.Sprintf("static const int32_t c%d", i), v)
		} else {
			array(fmt.Sprintf("static const int8_t c%d", i), ints(consts[i]))
		}
		names = append(names, fmt.Sprintf("c%d", i))
	}
	fmt.Fprintf(&src, "const void *const stage_consts[] = {%s};\nconst int32_t stage_n_consts = %d;\n", strings.Join(names, ", "), len(names))

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stage.c"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	elf := filepath.Join(dir, "t.elf")
	args := []string{"-std=gnu99", "-Wall", "-Werror", "-O2", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft",
		"--specs=nano.specs", "-nostartfiles", "-T", "testdata/mcu/link.ld", "-I", ".",
		"testdata/mcu/startup.c", "testdata/mcu/main.c", filepath.Join(dir, "stage.c"), "-o", elf}
	args = append(args, kernelSources...)
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("cross build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, qemu, "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
		"-semihosting-config", "enable=on,target=native", "-kernel", elf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("qemu: %v\n%s", err, out)
	}
}
