package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantmcu/quantmcu/host/cli"
	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// offsetIn returns where sub starts inside buf, when sub is a slice of buf's memory (the
// generated FlatBuffers accessors and the FlexBuffers reader return such slices).
func offsetIn(t *testing.T, buf, sub []byte) int {
	t.Helper()
	off := cap(buf) - cap(sub)
	if off < 0 || off+len(sub) > len(buf) || !bytes.Equal(buf[off:off+len(sub)], sub) {
		t.Fatal("slice does not point into the model")
	}
	return off
}

// stageLocation is where the firmware finds the patch stage's plan and constants inside the
// embedded model: byte offsets into the flatbuffer, exactly where TFLM would point.
type stageLocation struct {
	planOff, planLen int
	constOff         []int // by custom-op input index; [0] unused
	constLen         []int
	inputTensor      int
	outputTensor     int
}

func locateStage(t *testing.T, model []byte) stageLocation {
	t.Helper()
	m := schema.GetRootAsModel(model, 0)
	var sg schema.SubGraph
	if !m.Subgraphs(&sg, 0) {
		t.Fatal("no subgraph")
	}
	for i := 0; i < sg.OperatorsLength(); i++ {
		var op schema.Operator
		var oc schema.OperatorCode
		sg.Operators(&op, i)
		m.OperatorCodes(&oc, int(op.OpcodeIndex()))
		if string(oc.CustomCode()) != "QMCU_PATCH_STAGE" {
			continue
		}
		opts := op.CustomOptionsBytes()
		root, err := flexbuffers.Root(opts)
		if err != nil {
			t.Fatal(err)
		}
		pv, err := root.Get("plan")
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pv.Blob()
		if err != nil {
			t.Fatal(err)
		}
		// The FlexBuffers reader caps the slices it returns, so find the plan inside the
		// options by content (any occurrence holds the same words).
		inOpts := bytes.Index(opts, plan)
		if inOpts < 0 {
			t.Fatal("plan blob not inside the custom options")
		}
		loc := stageLocation{planOff: offsetIn(t, model, opts) + inOpts, planLen: len(plan),
			inputTensor: int(op.Inputs(0)), outputTensor: int(op.Outputs(0))}
		loc.constOff, loc.constLen = make([]int, op.InputsLength()), make([]int, op.InputsLength())
		for j := 1; j < op.InputsLength(); j++ {
			var tensor schema.Tensor
			var buf schema.Buffer
			sg.Tensors(&tensor, int(op.Inputs(j)))
			m.Buffers(&buf, int(tensor.Buffer()))
			data := buf.DataBytes()
			if len(data) == 0 {
				t.Fatalf("input %d of the patch stage has no constant data", j)
			}
			loc.constOff[j], loc.constLen[j] = offsetIn(t, model, data), len(data)
		}
		return loc
	}
	t.Fatal("no QMCU_PATCH_STAGE operator")
	return stageLocation{}
}

// stageTensors runs m on input and returns its tensors by name (tensorsByName).
func stageTensors(t *testing.T, m *schema.ModelT, input []byte) map[string][]byte {
	t.Helper()
	it, err := interp.New(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tensorsByName(it, input)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// countDiffering counts the positions where a and b differ (all of them if lengths differ).
func countDiffering(a, b []byte) int {
	if len(a) != len(b) {
		return max(len(a), len(b))
	}
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func cArray(b *strings.Builder, decl string, data []byte) {
	fmt.Fprintf(b, "%s[] = {", decl)
	for i, c := range data {
		if i%16 == 0 {
			b.WriteString("\n ")
		}
		fmt.Fprintf(b, " %d,", int8(c))
	}
	b.WriteString("\n};\n")
}

func cUints(b *strings.Builder, decl string, v []int) {
	fmt.Fprintf(b, "%s[] = {", decl)
	for _, x := range v {
		fmt.Fprintf(b, " %du,", x)
	}
	b.WriteString(" };\n")
}

// TestCArrayOnCortexM4 optimizes person_detect, exports it with `quantmcu export-c`, compiles
// the array for Cortex-M4 with -Werror, links it with the kernels (every .c of tfmicro_ops)
// and runs the patch stage on QEMU's mps2-an386 on the real person image. The firmware takes
// the plan and the weights straight out of the embedded model, as TFLM would; its stage output
// must equal the host's, which (in int8) must equal the original model's per-layer result.
// A second run does the same with a uniform 4-bit low branch (a version-2 plan).
func TestCArrayOnCortexM4(t *testing.T) {
	gcc, err := exec.LookPath("arm-none-eabi-gcc")
	if err != nil {
		t.Skip("arm-none-eabi-gcc not on PATH")
	}
	qemu, err := exec.LookPath("qemu-system-arm")
	if err != nil {
		t.Skip("qemu-system-arm not on PATH")
	}
	d := sharedData(t)
	original, err := tflite.Load(filepath.Join(d, "models", "person_detect.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	input, err := os.ReadFile(filepath.Join(d, "inputs", "person_96x96x1_int8.raw"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts rewrite.Options
	}{
		{"int8", rewrite.Options{}},         // bit-exact with the original model
		{"bits4", rewrite.Options{Bits: 4}}, // low-bit branch: equal to the host only
	} {
		t.Run(c.name, func(t *testing.T) { runCArrayOnCortexM4(t, gcc, qemu, original, input, c.opts) })
	}
}

func runCArrayOnCortexM4(t *testing.T, gcc, qemu string, original *schema.ModelT, input []byte, opts rewrite.Options) {
	res, err := rewrite.Optimize(context.Background(), original, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	model, err := tflite.Serialize(res.Model)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	modelPath := filepath.Join(dir, "person_detect_quantmcu.tflite")
	if err := os.WriteFile(modelPath, model, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := cli.Main([]string{"export-c", modelPath, "-o", dir}, &cli.Env{Stdout: &stdout, Stderr: &stderr}); code != 0 {
		t.Fatalf("export-c: exit %d: %s", code, stderr.String())
	}

	loc := locateStage(t, model)
	rewritten, err := tflite.Parse(model, "person_detect_quantmcu.tflite")
	if err != nil {
		t.Fatal(err)
	}
	sg := rewritten.Subgraphs[0]
	inName, outName := sg.Tensors[loc.inputTensor].Name, sg.Tensors[loc.outputTensor].Name
	host := stageTensors(t, rewritten, input)
	stageIn, stageOut := host[inName], host[outName]
	if stageIn == nil || stageOut == nil {
		t.Fatalf("host run did not produce %q / %q", inName, outName)
	}
	perLayer := stageTensors(t, original, input)[outName]
	if differ := countDiffering(perLayer, stageOut); opts.Bits == 0 && differ != 0 {
		t.Fatalf("host patch stage output %q differs from the original model's per-layer result", outName)
	} else if opts.Bits != 0 {
		t.Logf("low branch: %d of %d stage output bytes differ from int8 per-layer execution", differ, len(stageOut))
	}

	// The firmware: everything but the model comes from this generated file.
	var src strings.Builder
	src.WriteString(`#include <stdint.h>
#include <string.h>
#include "person_detect_quantmcu_model.h"
#include "qmcu_patch_stage.h"
#include "qmcu_plan.h"

void mcu_puts(const char *s);
`)
	fmt.Fprintf(&src, "#define N_INPUTS %d\n#define PLAN_OFF %du\n#define PLAN_LEN %du\n", len(loc.constOff), loc.planOff, loc.planLen)
	cUints(&src, "static const uint32_t const_off", loc.constOff)
	cUints(&src, "static const uint32_t const_len", loc.constLen)
	cArray(&src, "static const int8_t stage_input", stageIn)
	cArray(&src, "static const int8_t expected", stageOut)
	fmt.Fprintf(&src, "static int8_t output[%d];\n", len(stageOut))
	src.WriteString(`static int32_t plan_words[PLAN_LEN / 4];
static uint8_t scratch[64 * 1024];

int main(void) {
  static char msg[160];
  const void *consts[N_INPUTS];
  size_t sizes[N_INPUTS];
  qmcu_plan plan;
  int i;
  if (PLAN_OFF + PLAN_LEN > g_person_detect_quantmcu_model_data_size) {
    mcu_puts("plan outside the model\n");
    return 1;
  }
  /* As the TFLM glue does: copy the plan blob out of the custom options to aligned words. */
  memcpy(plan_words, g_person_detect_quantmcu_model_data + PLAN_OFF, PLAN_LEN);
  for (i = 1; i < N_INPUTS; i++) {
    consts[i] = g_person_detect_quantmcu_model_data + const_off[i];
    sizes[i] = const_len[i];
  }
  consts[0] = 0;
  sizes[0] = 0;
  if (qmcu_plan_parse(&plan, plan_words, PLAN_LEN / 4, msg, sizeof msg) != QMCU_OK ||
      (size_t)plan.scratch_bytes > sizeof scratch ||
      qmcu_patch_stage_eval(&plan, stage_input, sizeof stage_input, consts, sizes, N_INPUTS,
                            output, sizeof output, scratch, (size_t)plan.scratch_bytes, NULL,
                            msg, sizeof msg) != QMCU_OK) {
    mcu_puts(msg);
    mcu_puts("\n");
    return 1;
  }
  if (memcmp(output, expected, sizeof output) != 0) {
    mcu_puts("stage output differs from the host\n");
    return 1;
  }
  mcu_puts("ok\n");
  return 0;
}
`)
	if err := os.WriteFile(filepath.Join(dir, "main.c"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ops, err := filepath.Abs(filepath.Join("..", "tfmicro_ops"))
	if err != nil {
		t.Fatal(err)
	}
	kernels, err := filepath.Glob(filepath.Join(ops, "*.c"))
	if err != nil || len(kernels) == 0 {
		t.Fatalf("no kernel sources in %s", ops)
	}
	cpu := []string{"-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-O2", "-Wall", "-Wextra", "-Werror"}
	build := func(args ...string) {
		t.Helper()
		cmd := exec.Command(gcc, append(append([]string{}, cpu...), args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("arm-none-eabi-gcc %v: %v\n%s", args, err, out)
		}
	}
	// The exported array, as a firmware build compiles it.
	build("-c", "person_detect_quantmcu_model.cc", "-o", "model.o")
	mcu := filepath.Join(ops, "testdata", "mcu")
	args := []string{"-std=c99", "--specs=nano.specs", "-nostartfiles", "-T", filepath.Join(mcu, "link.ld"),
		"-I", ops, "-I", dir, filepath.Join(mcu, "startup.c"), "main.c", "model.o", "-o", "t.elf"}
	build(append(args, kernels...)...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, qemu, "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
		"-semihosting-config", "enable=on,target=native", "-kernel", filepath.Join(dir, "t.elf")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("qemu: %v\n%s", err, out)
	}
	t.Logf("Cortex-M4 stage output (%d bytes, %q) equals the host; model array %d bytes", len(stageOut), outName, len(model))
}
