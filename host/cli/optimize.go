package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/quantmcu/quantmcu/host/pluginhost"
	"github.com/quantmcu/quantmcu/plugin"
	"github.com/quantmcu/quantmcu/plugin/builtin"
	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/calibrate"
	precisionspec "github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/atomicfile"
)

// OutputSuffix ends the name of the optimized model: DIR/<name>_quantmcu.tflite.
const OutputSuffix = "_quantmcu.tflite"

// signalContext is cancelled by SIGINT or SIGTERM, so commands can stop their plugins
// before exiting.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func optimizeCommand() *Command {
	var (
		pf        pluginFlags
		outDir    string
		pipeline  string
		sets      []string
		sram      string
		target    string
		kernels   string
		int8IO    bool
		noOffline bool
		patches   string
		split     string
		stages    string
		overhead  string
		precFile  string
		bits      string
		calib     []string
	)
	return &Command{
		Name:    "optimize",
		Summary: "rewrite a model to need less TFLM arena (patch-based first stage; more plugins via --pipeline)",
		Usage:   "optimize MODEL [-o DIR] [--sram SIZE] [--target cortex-m|host64] [--kernels reference|cmsis-nn] [--int8-io] [--no-offline-plan] [--patches auto|RxC] [--split N] [--stages N] [--max-overhead PCT] [--precision FILE | --bits N] [--pipeline a,b,...] [--set NAME.OPTION=VALUE ...] [--plugin-dir DIR] [--plugin-timeout D]",
		Help: `Passes MODEL through the plugins of --pipeline in order, each running in its own
process (see 'quantmcu plugins'). The default pipeline is the built-in QuantMCU rewriter.
Options are checked against each plugin's schema before anything runs; every model a plugin
returns is checked before the next step gets it.

The built-in rewriter replaces the memory-heavy first stage of the network by one
QMCU_PATCH_STAGE operator that computes it patch by patch (MCUNetV2), bit-exact in int8.
Explicit PADs (PyTorch exports) that the stride-1 convolution reading them would reproduce
with SAME padding are folded into it first, also bit-exact.
--sram, --max-overhead, --target, --kernels, --patches, --split, --stages, --precision and --bits are short for
--set quantmcu.sram=..., etc.:
  --sram SIZE       choose the fewest MACs whose whole TFLM arena (the planned head and the
                    persistent tail, what arena_used_bytes() reports) fits SIZE (e.g. 256KiB);
                    without it, the lowest arena at <= --max-overhead (default 20) percent
                    whole-network MAC overhead
  --target T        the TFLM build the arena is predicted for: cortex-m (32-bit, default) or
                    host64 (x86-64/AArch64 Linux)
  --kernels K       its kernels: reference (default) or cmsis-nn (cortex-m only)
  --int8-io         int8 model inputs and outputs: a float input only a QUANTIZE reads becomes
                    that QUANTIZE's int8 output, a float output a DEQUANTIZE writes becomes its
                    int8 input (the application quantizes; the new scales are printed)
  --no-offline-plan no OfflineMemoryAllocation plan in the model: by default, where it lowers
                    the arena head, the model carries one that lets the stage output overlap
                    input bytes no later tile reads (TFLM's planner honours it; runtimes
                    without offline planning ignore it and plan both tensors apart)
  --patches RxC     force the patch grid (rows x columns; uneven tiles allowed)
  --split N         force the number of layers in the patch stage
  --precision FILE  QuantMCU mixed precision from a spec (JSON): the checked map and its int8
                    thresholds [lo, hi] (tiles with a code outside run in int8), and per later
                    stage map (by tensor name) bits 8/4/2 and the real range [min, max]
  --bits N          uniform low-bit branch: every map after the first convolution's output at
                    N bits with its int8 range, no tile classified as outlier
  --calib DIR|FILE  QuantMCU's search, training-free, on calibration inputs (images with the
                    preprocessing flags below, as 'quantmcu eval'; .npy; .raw): thresholds of
                    the first convolution's output so that --outlier-rate of the tiles run in
                    int8 (VDPC), bitwidths 8/4/2 per later map by the greedy score
                    S = -lambda*Omega + (1-lambda)*Phi (VDQS), then an accuracy guard on
                    --holdout of the inputs: steps are taken back until the top-1 agreement
                    with the int8 model is at least --min-agreement. Also --calib-samples,
                    --lambda, --bitops-target, and --cost cycles to score Phi by estimated
                    Cortex-M4 cycles saved (DSP kernels) instead of BitOPs.
The rewriter may patch several stages (segments of tileable operators that read one whole
feature map and whose only escaping tensor is their output), chosen jointly: --split and
--patches force the first; the low-bit branch and the search apply to the first only.
When no patch stage lowers the arena (the peak lies outside every tileable segment, or the
model already fits --sram) or the model has nothing to patch (no tileable first stage, e.g.
a fully connected or SVDF network), the model passes through unchanged (byte for byte)
with the reason as a warning, unless --patches or --split forces a rewrite.
Reports: <name>_summary.csv (one row: split, grid, macs_before, macs_after,
arena_bytes_before, arena_bytes_after (the head), ..., bitops_patch_int8,
bitops_patch_mixed, low_branch_bytes, ..., arena_total_bytes_before, arena_total_bytes_after
(head + tail), arena_declare_bytes_after (the total rounded up to 16: the size to declare),
..., stages (how many), stage_ops; the split/grid/stage columns describe the first stage),
<name>_stages.csv (one row per stage), <name>_per-layer.csv (column stage: the operator's
stage index), <name>_memory.svg (each stage marked), and <name>_precision.json (the
spec used, re-applicable with --precision; for an int8-only stage, the spec in which every
tile is an outlier tile).

Only when the whole pipeline succeeded, DIR/<name>_quantmcu.tflite is written, with each
report artifact of the plugins as DIR/<name>_<artifact> (a later plugin's artifact replaces
an earlier one of the same name). DIR defaults to the current directory and is created if
needed. A failing, crashing or hung plugin stops the run with one error line and nothing is
written.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&outDir, "output-dir", "o", ".", "directory for the optimized model and reports")
			fs.StringVar(&pipeline, "pipeline", builtin.QuantMCU, "comma-separated plugin names, run in order")
			fs.StringVar(&sram, "sram", "", "whole TFLM arena budget (head + tail) for the QuantMCU rewriter, e.g. 256KiB")
			fs.StringVar(&target, "target", "", "TFLM build the arena is predicted for: cortex-m or host64")
			fs.StringVar(&kernels, "kernels", "", "TFLM kernels: reference or cmsis-nn")
			fs.BoolVar(&int8IO, "int8-io", false, "give the model int8 inputs and outputs (drop a leading QUANTIZE and a trailing DEQUANTIZE; the new scales are reported)")
			fs.BoolVar(&noOffline, "no-offline-plan", false, "write no offline arena plan (the stage output then never overlaps its input)")
			fs.StringVar(&patches, "patches", "", `patch grid "RxC" or "auto"`)
			fs.StringVar(&split, "split", "", "number of layers in the (first) patch stage (0 = automatic)")
			fs.StringVar(&stages, "stages", "", "at most this many patch stages, chosen jointly (0 = as many as pay, 1 = a single stage)")
			fs.StringVar(&overhead, "max-overhead", "", "without --sram: whole-network MAC overhead budget in percent (default 20)")
			fs.StringVar(&precFile, "precision", "", "precision spec (JSON) of the low-bit branch, e.g. a <name>_precision.json written before")
			fs.StringVar(&bits, "bits", "", "uniform low-bit branch: 8, 4 or 2 bits for every map after the checked one")
			fs.StringArrayVar(&calib, "calib", nil, "calibration inputs for QuantMCU's search: a folder or a file (repeatable)")
			fs.String("calib-samples", "", fmt.Sprintf("use at most N calibration inputs (default %d)", rewrite.DefaultCalibSamples))
			fs.String("outlier-rate", "", fmt.Sprintf("target fraction of outlier tiles on the calibration data (default %g)", rewrite.DefaultOutlierRate))
			fs.String("lambda", "", fmt.Sprintf("VDQS weight of the entropy loss (default %g)", rewrite.DefaultLambda))
			fs.String("bitops-target", "", "stop the search at this patch-stage BitOPs reduction, e.g. 2.2 (default none)")
			fs.String("cost", "", `VDQS's Phi: "bitops" (BitOPs saved, default) or "cycles" (estimated Cortex-M4 cycles saved)`)
			fs.String("min-agreement", "", fmt.Sprintf("held-out top-1 agreement with the int8 model the guard keeps (default %g)", rewrite.DefaultMinAgreement))
			fs.String("holdout", "", fmt.Sprintf("fraction of the calibration inputs held out for the guard (default %g)", rewrite.DefaultHoldOut))
			preprocessFlags(fs)
			fs.StringArrayVar(&sets, "set", nil, "plugin option NAME.OPTION=VALUE (repeatable)")
			pf.register(fs, pluginhost.DefaultTimeout)
		},
		Run: func(env *Env, fs *pflag.FlagSet, args []string) error {
			if len(args) != 1 {
				return BadInputf("want exactly one MODEL argument, got %d", len(args))
			}
			searchSets, err := calibSets(fs, calib)
			if err != nil {
				return err
			}
			sets = append(sets, searchSets...)
			names, err := parsePipeline(pipeline)
			if err != nil {
				return err
			}
			if len(calib) > 0 && !slices.Contains(names, builtin.QuantMCU) {
				return BadInputf("--calib: the pipeline %q has no quantmcu step to search for", pipeline)
			}
			if sram != "" {
				if n, err := plugin.ParseSize(sram); err == nil && n == 0 {
					return BadInputf("--sram %s: the budget must be positive (leave --sram out for no budget)", sram)
				}
			}
			if err := checkOutputDir("-o", outDir); err != nil {
				return err
			}
			var precision string
			if precFile != "" {
				if precision, err = readPrecision(precFile); err != nil {
					return err
				}
			}
			for _, o := range []struct{ name, value string }{{"sram", sram}, {"target", target}, {"kernels", kernels}, {"patches", patches}, {"split", split}, {"stages", stages}, {"max-overhead", overhead}, {"precision", precision}, {"bits", bits}} {
				if o.value != "" {
					sets = append(sets, builtin.QuantMCU+"."+o.name+"="+o.value)
				}
			}
			if int8IO {
				sets = append(sets, builtin.QuantMCU+".int8-io=true")
			}
			if noOffline {
				sets = append(sets, builtin.QuantMCU+".offline-plan=false")
			}
			values, err := parseSets(sets, names)
			if err != nil {
				return err
			}
			model, modelName, err := readModel(args[0])
			if err != nil {
				return err
			}
			cands, err := pf.discover(env)
			if err != nil {
				return err
			}
			var steps []pluginhost.Candidate
			for _, n := range names {
				c, ok := pluginhost.Find(cands, n)
				if !ok {
					return BadInputf("--pipeline: no plugin named %q (found: %s)", n, candidateNames(cands))
				}
				steps = append(steps, c)
			}
			ctx, stop := signalContext()
			defer stop()
			h := pf.newHost(env)
			defer closeHost(h)
			res, err := runPipeline(ctx, env, h, steps, values, model, modelName)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted; stopped all plugins, nothing written")
				}
				return hostError(err)
			}
			h.Close()
			written, err := writeOptimized(outDir, modelName, res)
			if err != nil {
				return err
			}
			printSummary(env.Stdout, args[0], len(model), res, written)
			return nil
		},
	}
}

// parsePipeline splits "a,b,c" into plugin names.
func parsePipeline(s string) ([]string, error) {
	var names []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, BadInputf("--pipeline %q: empty plugin name", s)
		}
		if !pluginhost.ValidName(n) {
			return nil, BadInputf("--pipeline: %q is not a plugin name", n)
		}
		names = append(names, n)
	}
	return names, nil
}

// parseSets turns --set NAME.OPTION=VALUE flags into per-plugin option values; NAME must be
// in the pipeline. A later --set of the same option wins.
func parseSets(sets, pipeline []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, s := range sets {
		key, value, ok := strings.Cut(s, "=")
		name, option, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 || name == "" || option == "" {
			return nil, BadInputf("--set %q: want NAME.OPTION=VALUE, e.g. quantmcu.sram=256KiB", s)
		}
		inPipeline := false
		for _, n := range pipeline {
			inPipeline = inPipeline || n == name
		}
		if !inPipeline {
			return nil, BadInputf("--set %s: plugin %s is not in the pipeline (%s)", key, name, strings.Join(pipeline, ","))
		}
		if out[name] == nil {
			out[name] = map[string]string{}
		}
		out[name][option] = value
	}
	return out, nil
}

// calibSets turns --calib and the search flags into quantmcu plugin options: the listed
// calibration files and the preprocessing travel as one JSON option.
func calibSets(fs *pflag.FlagSet, calib []string) ([]string, error) {
	var sets []string
	for _, name := range []string{"calib-samples", "outlier-rate", "lambda", "bitops-target", "cost", "min-agreement", "holdout"} {
		if v, _ := fs.GetString(name); fs.Changed(name) {
			if len(calib) == 0 {
				return nil, BadInputf("--%s needs --calib", name)
			}
			sets = append(sets, builtin.QuantMCU+"."+name+"="+v)
		}
	}
	if len(calib) == 0 {
		return sets, nil
	}
	var files []string
	for _, c := range calib {
		fi, err := os.Stat(c)
		if err != nil {
			return nil, BadInput(fmt.Errorf("--calib: %w", err))
		}
		if !fi.IsDir() {
			files = append(files, c)
			continue
		}
		list, err := listInputs(c)
		if err != nil {
			return nil, BadInput(fmt.Errorf("--calib: %w", err))
		}
		files = append(files, list...)
	}
	for i, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, BadInput(fmt.Errorf("--calib %s: %w", f, err))
		}
		files[i] = abs
	}
	img, err := preprocessOptions(fs)
	if err != nil {
		return nil, err
	}
	doc, err := json.Marshal(calibrate.FileSet{Files: files, Image: img})
	if err != nil {
		return nil, err
	}
	return append(sets, builtin.QuantMCU+".calib="+string(doc)), nil
}

// readPrecision reads and checks a precision spec file (bounded; the plugin re-checks it
// against the model).
func readPrecision(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", BadInput(fmt.Errorf("--precision: %w", err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, precisionspec.MaxBytes+1))
	if err != nil {
		return "", BadInput(fmt.Errorf("--precision %s: %w", path, err))
	}
	if _, err := precisionspec.Parse(data); err != nil {
		return "", BadInputf("--precision %s: %v", path, err)
	}
	return string(data), nil
}

// readModel returns the bytes of a model argument, checked: a file's own bytes (so the first
// plugin sees exactly the user's file), or the serialized built-in model.
func readModel(arg string) ([]byte, string, error) {
	if strings.HasPrefix(arg, BuiltinPrefix) {
		m, name, err := LoadModel(arg)
		if err != nil {
			return nil, "", err
		}
		data, err := tflite.Serialize(m)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", arg, err)
		}
		return data, name, nil
	}
	// Plugins receive the model in one gRPC message, with room for the other fields.
	data, err := tflite.ReadFile(arg, plugin.MaxMessageSize-(1<<20))
	if err != nil {
		return nil, "", BadInput(err)
	}
	if _, err := tflite.Parse(data, arg); err != nil {
		return nil, "", BadInput(err)
	}
	return data, ModelBaseName(arg), nil
}

// runPipeline starts every distinct plugin of the pipeline, checks all option values against
// the schemas, and only then runs the steps.
func runPipeline(ctx context.Context, env *Env, h *pluginhost.Host, cands []pluginhost.Candidate,
	values map[string]map[string]string, model []byte, modelName string) (*pluginhost.Result, error) {
	running := map[string]*pluginhost.Plugin{}
	resolved := map[string]plugin.Options{}
	for _, c := range cands {
		if running[c.Name] != nil {
			continue
		}
		p, err := h.Start(ctx, c)
		if err != nil {
			return nil, err
		}
		running[c.Name] = p
		opts, err := plugin.Resolve(p.Desc, values[c.Name])
		if err != nil {
			return nil, BadInputf("--set %w", err)
		}
		resolved[c.Name] = opts
	}
	steps := make([]pluginhost.Step, len(cands))
	for i, c := range cands {
		steps[i] = pluginhost.Step{Plugin: running[c.Name], Options: resolved[c.Name]}
	}
	return pluginhost.Run(ctx, steps, model, modelName, progressPrinter(env.Stderr, len(steps)))
}

// progressPrinter draws plugin progress on a terminal stderr, one line rewritten in place;
// elsewhere (pipes, logs, tests) it stays silent.
func progressPrinter(w io.Writer, n int) pluginhost.ProgressFunc {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return func(step int, name, msg string, fraction float64) {
		pct := "    "
		if fraction >= 0 && fraction <= 1 {
			pct = fmt.Sprintf("%3.0f%%", fraction*100)
		}
		line := fmt.Sprintf("[%d/%d %s] %s %s", step+1, n, name, pct, msg)
		if len(line) > 100 {
			line = line[:100]
		}
		fmt.Fprintf(w, "\r\033[K%s", line)
		if fraction >= 1 {
			fmt.Fprint(w, "\r\033[K")
		}
	}
}

// writeOptimized writes the model and the artifacts atomically and returns the paths written.
func writeOptimized(dir, modelName string, res *pluginhost.Result) ([]string, error) {
	if err := makeOutputDir("-o", dir); err != nil {
		return nil, err
	}
	modelPath := filepath.Join(dir, modelName+OutputSuffix)
	if err := atomicfile.WriteFile(modelPath, res.Model, 0o644); err != nil {
		return nil, err
	}
	written := []string{modelPath}
	artifacts, names := res.Artifacts()
	for _, a := range names {
		p := filepath.Join(dir, modelName+"_"+a)
		if err := atomicfile.WriteFile(p, artifacts[a], 0o644); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

func printSummary(w io.Writer, input string, inBytes int, res *pluginhost.Result, written []string) {
	fmt.Fprintf(w, "%s: %d bytes\n", input, inBytes)
	for i, s := range res.Steps {
		fmt.Fprintf(w, "step %d: %s %s: %d -> %d bytes in %.2fs\n", i+1, s.Name, s.Version, s.InBytes, s.OutBytes, s.Duration.Seconds())
		for _, line := range strings.Split(strings.TrimSpace(s.Summary), "\n") {
			if line != "" {
				fmt.Fprintf(w, "  %s\n", line)
			}
		}
		for _, d := range s.Diagnostics {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	for _, p := range written {
		fmt.Fprintf(w, "wrote %s\n", p)
	}
}
