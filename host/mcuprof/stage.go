package mcuprof

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

//go:embed firmware/stage.ld firmware/stage_main.c
var firmware embed.FS

// Memory of the stage images (firmware/stage.ld).
const (
	sramBytes  = 4 << 20  // window buffers and the output
	psramBytes = 16 << 20 // plan, input, constants, expected output
)

// Stage is one QMCU_PATCH_STAGE evaluation: its plan, the tensors it reads and the output the
// host computes for them.
type Stage struct {
	Op     int      // operator index in the model
	Plan   []byte   // the plan blob (PLAN.md)
	Input  []byte   // stage input tensor
	Consts [][]byte // custom-op inputs 1.. ([0] unused)
	Output []byte   // stage output computed on the host
	parsed *tfmicroops.Plan
}

// ErrNoStage: the model has no QMCU_PATCH_STAGE operator.
var ErrNoStage = errors.New("no QMCU_PATCH_STAGE operator")

// StageFromModel runs m on input with the host interpreter and returns its first patch stage
// with the tensors it read and wrote.
func StageFromModel(m *schema.ModelT, input []byte) (*Stage, error) {
	return StageN(m, input, 0)
}

// StageN is StageFromModel for the model's patch stage n (0 the first, in operator order).
func StageN(m *schema.ModelT, input []byte, n int) (*Stage, error) {
	if m == nil || len(m.Subgraphs) == 0 || m.Subgraphs[0] == nil {
		return nil, ErrNoStage
	}
	sg := m.Subgraphs[0]
	for oi, op := range sg.Operators {
		if op == nil || int(op.OpcodeIndex) >= len(m.OperatorCodes) {
			continue
		}
		oc := m.OperatorCodes[op.OpcodeIndex]
		if tflite.BuiltinCode(oc) != schema.BuiltinOperatorCUSTOM || oc.CustomCode != patch.CustomCode {
			continue
		}
		if n > 0 {
			n--
			continue
		}
		root, err := flexbuffers.Root(op.CustomOptions)
		if err != nil {
			return nil, fmt.Errorf("patch stage op %d: custom options: %w", oi, err)
		}
		v, err := root.Get("plan")
		if err != nil {
			return nil, fmt.Errorf("patch stage op %d: %w", oi, err)
		}
		blob, err := v.Blob()
		if err != nil {
			return nil, fmt.Errorf("patch stage op %d: plan: %w", oi, err)
		}
		plan := append([]byte(nil), blob...)
		parsed, err := tfmicroops.Parse(plan)
		if err != nil {
			return nil, fmt.Errorf("patch stage op %d: %w", oi, err)
		}
		s := &Stage{Op: oi, Plan: plan, parsed: parsed, Consts: make([][]byte, len(op.Inputs))}
		for j := 1; j < len(op.Inputs); j++ {
			ti := op.Inputs[j]
			if ti < 0 || int(ti) >= len(sg.Tensors) || int(sg.Tensors[ti].Buffer) >= len(m.Buffers) || m.Buffers[sg.Tensors[ti].Buffer] == nil {
				return nil, fmt.Errorf("patch stage op %d: input %d is not a constant tensor", oi, j)
			}
			s.Consts[j] = m.Buffers[sg.Tensors[ti].Buffer].Data
		}
		it, err := interp.New(m)
		if err != nil {
			return nil, err
		}
		in, out := int(op.Inputs[0]), int(op.Outputs[0])
		if len(it.Inputs()) == 1 && it.Inputs()[0].Index == in {
			s.Input = append([]byte(nil), input...)
		}
		it.SetHook(func(k int, outs []interp.Tensor) {
			for _, t := range outs {
				switch {
				case k < oi && t.Index == in:
					s.Input = append([]byte(nil), t.Data...)
				case k == oi && t.Index == out:
					s.Output = append([]byte(nil), t.Data...)
				}
			}
		})
		if _, err := it.Invoke(input); err != nil {
			return nil, fmt.Errorf("host run: %w", err)
		}
		if s.Input == nil || s.Output == nil {
			return nil, fmt.Errorf("patch stage op %d: the host run did not produce its input and output", oi)
		}
		return s, nil
	}
	return nil, ErrNoStage
}

// NewStage wraps a plan and its tensors (as tests generate them).
func NewStage(plan, input []byte, consts [][]byte, output []byte) (*Stage, error) {
	p, err := tfmicroops.Parse(plan)
	if err != nil {
		return nil, err
	}
	return &Stage{Plan: plan, Input: input, Consts: consts, Output: output, parsed: p}, nil
}

// Parsed is the stage's plan.
func (s *Stage) Parsed() *tfmicroops.Plan { return s.parsed }

// Build selects how a stage image is compiled.
type Build struct {
	Opt string // optimization flag, "-O2" when empty
	// PerLayer compiles the patch loop with QMCU_PROFILE_LAYERS: every layer of every tile is
	// a segment, so Run.Layers splits the counts by layer.
	PerLayer bool
}

func (b Build) opt() string {
	if b.Opt == "" {
		return "-O2"
	}
	return b.Opt
}

// BuildStage writes and cross-compiles the image running s for target into dir; it returns the
// ELF path.
func (t Tools) BuildStage(dir string, s *Stage, target Target, b Build) (string, error) {
	if len(s.Output)+s.parsed.ScratchBytes()+16 > sramBytes {
		return "", fmt.Errorf("stage output and scratch (%d bytes) exceed the board's %d-byte SRAM", len(s.Output)+s.parsed.ScratchBytes(), sramBytes)
	}
	total := len(s.Plan) + len(s.Input) + len(s.Output)
	for _, c := range s.Consts {
		total += len(c) + 16
	}
	if total > psramBytes {
		return "", fmt.Errorf("stage tensors (%d bytes) exceed the board's %d-byte PSRAM", total, psramBytes)
	}
	var asm, c strings.Builder
	blob := func(sym string, data []byte) error {
		file := sym + ".bin"
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&asm, "  .balign 16\n  .global %s\n%s:\n  .incbin %q\n", sym, sym, file)
		return nil
	}
	asm.WriteString("  .section .psram,\"a\"\n")
	if len(s.Plan)%4 != 0 {
		return "", fmt.Errorf("plan of %d bytes is not whole words", len(s.Plan))
	}
	// Plan words are little-endian, as the targets are.
	if err := blob("plan_words", s.Plan); err != nil {
		return "", err
	}
	if err := blob("stage_input", s.Input); err != nil {
		return "", err
	}
	if err := blob("expected_output", s.Output); err != nil {
		return "", err
	}
	c.WriteString("#include <stdint.h>\n")
	names := []string{"0"}
	for i := 1; i < len(s.Consts); i++ {
		sym := fmt.Sprintf("stage_const%d", i)
		if err := blob(sym, s.Consts[i]); err != nil {
			return "", err
		}
		fmt.Fprintf(&c, "extern const int8_t %s[];\n", sym)
		names = append(names, sym)
	}
	fmt.Fprintf(&c, "const uint32_t plan_n_words = %d;\nconst uint32_t stage_input_bytes = %d;\n", len(s.Plan)/4, len(s.Input))
	fmt.Fprintf(&c, "const uint32_t output_bytes = %d;\nconst uint32_t scratch_bytes = %d;\n", len(s.Output), s.parsed.ScratchBytes())
	fmt.Fprintf(&c, "__attribute__((section(\".sram\"), aligned(16))) int8_t output[%d];\n", max(len(s.Output), 1))
	fmt.Fprintf(&c, "__attribute__((section(\".sram\"), aligned(16))) int8_t scratch[%d];\n", max(s.parsed.ScratchBytes(), 1))
	fmt.Fprintf(&c, "const void *const stage_consts[] = {%s};\nconst int32_t stage_n_consts = %d;\n", strings.Join(names, ", "), len(names))
	if err := os.WriteFile(filepath.Join(dir, "stage_blobs.S"), []byte(asm.String()), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "stage_data.c"), []byte(c.String()), 0o644); err != nil {
		return "", err
	}
	// Kernel sources and start-up from tfmicro_ops, firmware from this package.
	srcs := []string{"stage_data.c", "stage_blobs.S", "stage_main.c", "startup.c"}
	entries, err := tfmicroops.Sources.ReadDir(".")
	if err != nil {
		return "", err
	}
	copyOut := func(fs embed.FS, from, to string) error {
		data, err := fs.ReadFile(from)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, to), data, 0o644)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if err := copyOut(tfmicroops.Sources, e.Name(), e.Name()); err != nil {
			return "", err
		}
		if strings.HasSuffix(e.Name(), ".c") {
			srcs = append(srcs, e.Name())
		}
	}
	if err := copyOut(tfmicroops.Sources, "testdata/mcu/startup.c", "startup.c"); err != nil {
		return "", err
	}
	if err := copyOut(firmware, "firmware/stage_main.c", "stage_main.c"); err != nil {
		return "", err
	}
	ld, err := firmware.ReadFile("firmware/stage.ld")
	if err != nil {
		return "", err
	}
	ld = bytes.Replace(ld, []byte("= @PSRAM@"), []byte(fmt.Sprintf("= %#x", target.PSRAM)), 1)
	if err := os.WriteFile(filepath.Join(dir, "stage.ld"), ld, 0o644); err != nil {
		return "", err
	}
	args := append([]string{"-std=gnu99", "-Wall", "-Wextra", "-Werror", b.opt()}, target.Flags...)
	if b.PerLayer {
		args = append(args, "-DQMCU_PROFILE_LAYERS")
	}
	elfPath := filepath.Join(dir, "stage.elf")
	args = append(args, "--specs=nano.specs", "-nostartfiles", "-T", "stage.ld", "-I", ".", "-o", elfPath)
	cmd := exec.Command(t.GCC, append(args, srcs...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("cross build (%s, %s): %v: %s", target.Name, b.opt(), err, strings.TrimSpace(string(out)))
	}
	return elfPath, nil
}

// Run is one evaluation of the stage measured under the plugin.
type Run struct {
	Insns     uint64          // executed instructions (the whole qmcu_patch_stage_run, or its layers)
	CyclesM4  float64         // DefaultCostM4 over the histogram
	Functions []FunctionCount // by function, most cycles first
	Histogram Histogram       // all segments of the run merged
	Layers    []LayerCount    // per plan layer, summed over tiles (Build.PerLayer only)
}

// LayerCount is one plan layer's share of a run.
type LayerCount struct {
	Insns    uint64
	CyclesM4 float64
}

// Measurement is one stage image run under the plugin: the stage evaluated with the portable
// loops and with the default ones (the DSP loops where the core has the DSP extension), both
// outputs checked against the host's.
type Measurement struct {
	Target   Target
	Build    Build
	Portable Run
	Default  Run
}

// Measure builds the image for s in a fresh directory under workDir and runs it on the
// target's board with the plugin.
func (t Tools) Measure(ctx context.Context, plugin, workDir string, s *Stage, target Target, b Build) (*Measurement, error) {
	dir, err := os.MkdirTemp(workDir, "stage-")
	if err != nil {
		return nil, err
	}
	elfPath, err := t.BuildStage(dir, s, target, b)
	if err != nil {
		return nil, err
	}
	out, segs, err := t.Run(ctx, plugin, elfPath, target, 20*time.Minute)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(out) != "ok" {
		return nil, fmt.Errorf("%s (%s): the emulated stage failed: %s", target.Name, b.opt(), strings.TrimSpace(out))
	}
	per := 1
	layers := len(s.parsed.Layers())
	if b.PerLayer {
		per = s.parsed.NumTiles() * layers
	}
	if len(segs) != 2*per {
		return nil, fmt.Errorf("%s (%s): %d profiled segments, want %d", target.Name, b.opt(), len(segs), 2*per)
	}
	dis, err := t.Disassemble(elfPath)
	if err != nil {
		return nil, err
	}
	syms, err := Symbols(elfPath)
	if err != nil {
		return nil, err
	}
	run := func(segs []Histogram) Run {
		var r Run
		if b.PerLayer {
			r.Layers = make([]LayerCount, layers)
			for i, h := range segs {
				r.Layers[i%layers].Insns += h.Insns
				r.Layers[i%layers].CyclesM4 += DefaultCostM4.Cycles(h, dis)
			}
		}
		r.Histogram = Merge(segs)
		r.Insns, r.CyclesM4 = r.Histogram.Insns, DefaultCostM4.Cycles(r.Histogram, dis)
		r.Functions = DefaultCostM4.ByFunction(r.Histogram, dis, syms)
		return r
	}
	return &Measurement{Target: target, Build: b, Portable: run(segs[:per]), Default: run(segs[per:])}, nil
}
