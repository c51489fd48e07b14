package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/quantmcu/quantmcu/host/mcuprof"
	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/cost"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

func profileCommand() *Command {
	var target, input, opt string
	var mhz float64
	var perLayer bool
	return &Command{
		Name:    "profile",
		Summary: "count the patch stage's instructions and estimate its cycles on an emulated Cortex-M",
		Usage:   "profile MODEL [--target cortex-m4|cortex-m7] [--input FILE] [--opt -O2|-Os] [--mhz N] [--per-layer]",
		Help: `Cross-compiles MODEL's QMCU_PATCH_STAGE (the model is optimized with default options
first when it has none) with quantmcu's portable C kernels for the target core, runs it on
QEMU's mps2 board (cortex-m4: mps2-an386, cortex-m7: mps2-an500) under quantmcu's own
instruction-counting TCG plugin, and prints, for the portable loops and the DSP loops, the
executed instructions, the estimated Cortex-M4 cycles (a static timing model after the
Cortex-M4 TRM applied to the per-address histogram; no Cortex-M7 model exists, M7 runs report
M4-model cycles) and milliseconds at --mhz, per patch MAC and by kernel function. Both
outputs are checked against the host's. --per-layer splits the counts by stage layer.

The stage input is computed by the host interpreter from --input (raw bytes of the model
input) or from a fixed pseudo-random input. Needs arm-none-eabi-gcc with newlib,
arm-none-eabi-objdump, qemu-system-arm and a host C compiler; without them the command says
what to install and exits 2.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&target, "target", "cortex-m4", "core: cortex-m4 or cortex-m7")
			fs.StringVar(&input, "input", "", "raw model input (default: a fixed pseudo-random input)")
			fs.StringVar(&opt, "opt", "-O2", "optimization level of the cross build (-O2, -Os, -O3)")
			fs.Float64Var(&mhz, "mhz", cost.DefaultMHz, "clock for the milliseconds column")
			fs.BoolVar(&perLayer, "per-layer", false, "count every stage layer separately")
		},
		Run: func(env *Env, _ *pflag.FlagSet, args []string) error {
			if len(args) != 1 {
				return BadInputf("want exactly one MODEL argument, got %d", len(args))
			}
			tg, ok := mcuprof.Targets[target]
			if !ok {
				return BadInputf("unknown --target %q (cortex-m4 or cortex-m7)", target)
			}
			switch opt {
			case "-O2", "-Os", "-O3", "-O1":
			default:
				return BadInputf("unknown --opt %q (-O1, -O2, -O3 or -Os)", opt)
			}
			if mhz <= 0 {
				return BadInputf("--mhz must be positive")
			}
			m, _, err := LoadModel(args[0])
			if err != nil {
				return err
			}
			var in []byte
			if input != "" {
				if in, err = os.ReadFile(input); err != nil {
					return BadInput(err)
				}
			}
			tools, err := mcuprof.FindTools()
			if err != nil {
				return BadInput(err)
			}
			var res *rewrite.Result
			if !hasPatchStage(m) {
				fmt.Fprintf(env.Stdout, "%s has no QMCU_PATCH_STAGE: optimizing it with default options first\n", args[0])
				if res, err = rewrite.Optimize(context.Background(), m, rewrite.Options{}, nil); err != nil {
					if errors.Is(err, rewrite.ErrUnsupported) {
						return BadInput(err)
					}
					return err
				}
				if res.Stage == nil || res.Stage.LastOp < res.Stage.FirstOp {
					return BadInputf("%s: the optimizer adds no patch stage to this model", args[0])
				}
				m = res.Model
			}
			size, err := inputBytes(m)
			if err != nil {
				return BadInput(err)
			}
			if in == nil {
				rng := rand.New(rand.NewPCG(1, 2))
				in = make([]byte, size)
				for i := range in {
					in[i] = byte(rng.IntN(256))
				}
			} else if len(in) != size {
				return BadInputf("--input %s: %d bytes, the model input has %d", input, len(in), size)
			}
			stage, err := mcuprof.StageFromModel(m, in)
			if err != nil {
				return BadInput(err)
			}
			dir, err := os.MkdirTemp("", "quantmcu-profile-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			plugin, err := tools.BuildPlugin(dir)
			if err != nil {
				return err
			}
			me, err := tools.Measure(context.Background(), plugin, dir, stage, tg, mcuprof.Build{Opt: opt, PerLayer: perLayer})
			if err != nil {
				return err
			}
			printProfile(env, me, stage, res, mhz)
			return nil
		},
	}
}

func hasPatchStage(m *schema.ModelT) bool { return len(patchStages(m)) > 0 }

// inputBytes is the size of the model's (single) input.
func inputBytes(m *schema.ModelT) (int, error) {
	it, err := interp.New(m)
	if err != nil {
		return 0, err
	}
	if len(it.Inputs()) != 1 {
		return 0, fmt.Errorf("profile wants a model with one input, this one has %d", len(it.Inputs()))
	}
	return it.Inputs()[0].Bytes, nil
}

// printProfile writes the measurement.
func printProfile(env *Env, me *mcuprof.Measurement, s *mcuprof.Stage, res *rewrite.Result, mhz float64) {
	w := env.Stdout
	plan := s.Parsed()
	fmt.Fprintf(w, "Patch stage on %s (QEMU %s, %s): %d layers, %d tiles\n", me.Target.Name, me.Target.Board, buildOpt(me.Build), len(plan.Layers()), plan.NumTiles())
	var macs int64
	if res != nil && res.Stage != nil {
		for _, l := range res.Stage.Layers {
			macs += l.PatchMACs
		}
	}
	for _, r := range []struct {
		name string
		run  mcuprof.Run
	}{{"portable", me.Portable}, {"dsp", me.Default}} {
		perMAC := ""
		if macs > 0 {
			perMAC = fmt.Sprintf(", %.2f instructions / patch MAC", float64(r.run.Insns)/float64(macs))
		}
		fmt.Fprintf(w, "  %-9s %12d instructions  %12.0f est. M4 cycles  %8.2f ms at %g MHz%s\n", r.name, r.run.Insns, r.run.CyclesM4,
			cost.Milliseconds(r.run.CyclesM4, mhz), mhz, perMAC)
	}
	fmt.Fprintf(w, "  dsp/portable: %.2fx fewer instructions, %.2fx fewer estimated cycles\n",
		float64(me.Portable.Insns)/float64(max(me.Default.Insns, 1)), me.Portable.CyclesM4/max(me.Default.CyclesM4, 1))
	if len(me.Default.Layers) > 0 {
		fmt.Fprintf(w, "  %-5s %-18s %14s %14s %14s\n", "layer", "kind", "portable insns", "dsp insns", "dsp cycles")
		for i, l := range plan.Layers() {
			fmt.Fprintf(w, "  %-5d %-18s %14d %14d %14.0f\n", i, l.Kind, me.Portable.Layers[i].Insns, me.Default.Layers[i].Insns, me.Default.Layers[i].CyclesM4)
		}
	}
	if res != nil {
		if before, after, ok := stageCycles(res); ok {
			fmt.Fprintf(w, "  without emulation (rewrite/cost): stage %.0f cycles on CMSIS-NN-class int8 kernels, %.0f on the DSP patch loops (%+.1f%% vs the histogram's)\n",
				before, after, 100*(after/max(me.Default.CyclesM4, 1)-1))
		}
	}
	fns := append([]mcuprof.FunctionCount(nil), me.Default.Functions...)
	sort.SliceStable(fns, func(i, j int) bool { return fns[i].Cycles > fns[j].Cycles })
	var names []string
	for _, f := range fns[:min(5, len(fns))] {
		names = append(names, fmt.Sprintf("%s %.1f%%", f.Name, 100*f.Cycles/max(me.Default.CyclesM4, 1)))
	}
	fmt.Fprintf(w, "  dsp cycles by function: %s\n", strings.Join(names, ", "))
}

func buildOpt(b mcuprof.Build) string {
	if b.Opt == "" {
		return "-O2"
	}
	return b.Opt
}

// stageCycles reads the stage's estimated cycles from the optimizer's summary.
func stageCycles(res *rewrite.Result) (before, after float64, ok bool) {
	rows, err := csv.NewReader(bytes.NewReader(res.Artifacts["summary.csv"])).ReadAll()
	if err != nil || len(rows) != 2 {
		return 0, 0, false
	}
	var b, a string
	for i, h := range rows[0] {
		switch h {
		case "cycles_m4_stage_before":
			b = rows[1][i]
		case "cycles_m4_stage_after":
			a = rows[1][i]
		}
	}
	x, e1 := strconv.ParseFloat(b, 64)
	y, e2 := strconv.ParseFloat(a, 64)
	return x, y, e1 == nil && e2 == nil
}
