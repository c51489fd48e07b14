// Package builtin holds the optimizers that ship inside the quantmcu binary. The host runs
// each in its own process (`quantmcu serve-plugin NAME`), through the same protocol as any
// third-party plugin.
package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"regexp"
	"strconv"
	"strings"

	"github.com/quantmcu/quantmcu/plugin"
	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/calibrate"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/tflite"
)

// QuantMCU is the name of the built-in rewriter plugin and the default pipeline.
const QuantMCU = "quantmcu"

// Names lists the built-in plugins.
func Names() []string { return []string{QuantMCU} }

// Lookup returns the built-in optimizer called name; version is the quantmcu version it
// reports.
func Lookup(name, version string) (plugin.Optimizer, bool) {
	if name == QuantMCU {
		return &quantMCU{version: version}, true
	}
	return nil, false
}

// quantMCU adapts package rewrite to the plugin protocol.
type quantMCU struct{ version string }

func (q *quantMCU) Describe() plugin.Description {
	return plugin.Description{
		Name:    QuantMCU,
		Version: q.version,
		Summary: "patch-based rewrite of the memory-heavy first stage (MCUNetV2, bit-exact in int8) with QuantMCU mixed precision (--calib search, --precision, --bits)",
		Options: []plugin.Option{
			{Name: "sram", Type: plugin.Size, Default: "0",
				Help: "whole TFLM arena budget (head and persistent tail), e.g. 256KiB; 0 = no budget (lowest arena at small compute overhead)"},
			{Name: "target", Type: plugin.String, Default: string(analysis.TargetCortexM),
				Help: "TFLM build the arena is predicted for: cortex-m (32-bit) or host64", Allowed: []string{string(analysis.TargetCortexM), string(analysis.TargetHost64)}},
			{Name: "kernels", Type: plugin.String, Default: string(analysis.KernelsReference),
				Help: "TFLM kernel library: reference or cmsis-nn (their scratch buffers and op data differ)", Allowed: []string{string(analysis.KernelsReference), string(analysis.KernelsCMSISNN)}},
			{Name: "int8-io", Type: plugin.Bool, Default: "false",
				Help: "give the model int8 inputs/outputs where a QUANTIZE reads a float input or a DEQUANTIZE writes a float output (the new scales and zero points are reported)"},
			{Name: "offline-plan", Type: plugin.Bool, Default: "true",
				Help: "write an OfflineMemoryAllocation plan where overlapping the patch stage's output with input bytes no later tile reads lowers TFLM's arena head; false keeps TFLM's online plan"},
			{Name: "patches", Type: plugin.String, Default: "auto",
				Help: `patch grid "RxC" (e.g. 4x4) or "auto"`},
			{Name: "split", Type: plugin.Int, Default: "0",
				Help: "number of layers in the (first) patch stage; 0 = automatic"},
			{Name: "max-overhead", Type: plugin.Float, Default: strconv.FormatFloat(100*patch.MaxOverhead, 'g', -1, 64),
				Help: "without sram: the whole-network MAC overhead budget in percent; the lowest whole arena within it is chosen"},
			{Name: "stages", Type: plugin.Int, Default: "0",
				Help: "at most this many patch stages, chosen jointly (the first is forced by split and patches); 0 = as many as pay"},
			{Name: "precision", Type: plugin.String, Default: "",
				Help: "precision spec of the low-bit branch (the JSON document itself; quantmcu optimize --precision FILE reads it from FILE)"},
			{Name: "bits", Type: plugin.Int, Default: "0",
				Help: "uniform low-bit branch: 8, 4 or 2 bits for every map after the checked one, no tile an outlier; 0 = none"},
			{Name: "calib", Type: plugin.String, Default: "",
				Help: `calibration inputs for QuantMCU's search: JSON {"files": [...], "image": preprocessing} (quantmcu optimize --calib DIR writes it)`},
			{Name: "calib-samples", Type: plugin.Int, Default: strconv.Itoa(rewrite.DefaultCalibSamples), Help: "at most this many calibration inputs"},
			{Name: "outlier-rate", Type: plugin.Float, Default: strconv.FormatFloat(rewrite.DefaultOutlierRate, 'g', -1, 64),
				Help: "target fraction of calibration tiles that are outlier tiles (run in int8)"},
			{Name: "lambda", Type: plugin.Float, Default: strconv.FormatFloat(rewrite.DefaultLambda, 'g', -1, 64),
				Help: "VDQS score weight of the entropy loss: S = -lambda*Omega + (1-lambda)*Phi"},
			{Name: "bitops-target", Type: plugin.Float, Default: "0", Help: "stop the search at this patch-stage BitOPs reduction (0 = none)"},
			{Name: "cost", Type: plugin.String, Default: rewrite.CostBitOPs,
				Help:    `the VDQS score's Phi: "bitops" (BitOPs saved, the paper's) or "cycles" (estimated Cortex-M4 cycles saved with quantmcu's DSP kernels)`,
				Allowed: []string{rewrite.CostBitOPs, rewrite.CostCycles}},
			{Name: "min-agreement", Type: plugin.Float, Default: strconv.FormatFloat(rewrite.DefaultMinAgreement, 'g', -1, 64),
				Help: "held-out top-1 agreement with the int8 model the accuracy guard keeps"},
			{Name: "holdout", Type: plugin.Float, Default: strconv.FormatFloat(rewrite.DefaultHoldOut, 'g', -1, 64),
				Help: "fraction of the calibration inputs held out for the accuracy guard"},
		},
	}
}

var gridRE = regexp.MustCompile(`^([1-9][0-9]{0,3})x([1-9][0-9]{0,3})$`)

// options maps the plugin's option values to rewrite.Options.
func options(o plugin.Options) (rewrite.Options, error) {
	sram, err := o.Size("sram")
	if err != nil {
		return rewrite.Options{}, err
	}
	patches, err := o.String("patches")
	if err != nil {
		return rewrite.Options{}, err
	}
	if patches != "auto" && !gridRE.MatchString(patches) {
		return rewrite.Options{}, plugin.BadInput(fmt.Errorf(`option patches: %q is neither "auto" nor a grid like "4x4"`, patches))
	}
	split, err := o.Int("split")
	if err != nil {
		return rewrite.Options{}, err
	}
	if split < 0 || split > 1<<20 {
		return rewrite.Options{}, plugin.BadInput(fmt.Errorf("option split: %d is not an operator count", split))
	}
	stages, err := o.Int("stages")
	if err != nil {
		return rewrite.Options{}, err
	}
	if stages < 0 || stages > 1<<10 {
		return rewrite.Options{}, plugin.BadInput(fmt.Errorf("option stages: %d is not a stage count", stages))
	}
	overhead, err := o.Float("max-overhead")
	if err != nil {
		return rewrite.Options{}, err
	}
	if !(overhead > 0 && overhead <= 1e6) {
		return rewrite.Options{}, plugin.BadInput(fmt.Errorf("option max-overhead: %g is not a positive percentage", overhead))
	}
	opts := rewrite.Options{SRAM: sram, Patches: patches, Split: int(split), MaxStages: int(stages), MaxOverhead: overhead / 100}
	if opts.Int8IO, err = o.Bool("int8-io"); err != nil {
		return rewrite.Options{}, err
	}
	offline, err := o.Bool("offline-plan")
	if err != nil {
		return rewrite.Options{}, err
	}
	opts.NoOfflinePlan = !offline
	for _, o2 := range []struct {
		name string
		set  func(string) error
	}{
		{"target", func(v string) (err error) { opts.Target, err = analysis.ParseTarget(v); return err }},
		{"kernels", func(v string) (err error) { opts.Kernels, err = analysis.ParseKernels(v, opts.Target); return err }},
	} {
		v, err := o.String(o2.name)
		if err != nil {
			return rewrite.Options{}, err
		}
		if err := o2.set(v); err != nil {
			return rewrite.Options{}, plugin.BadInput(fmt.Errorf("option %s: %w", o2.name, err))
		}
	}
	spec, err := o.String("precision")
	if err != nil {
		return rewrite.Options{}, err
	}
	if spec != "" {
		if opts.Precision, err = precision.Parse([]byte(spec)); err != nil {
			return rewrite.Options{}, plugin.BadInput(err)
		}
	}
	bits, err := o.Int("bits")
	if err != nil {
		return rewrite.Options{}, err
	}
	if bits != 0 && !precision.ValidBits(int(bits)) {
		return rewrite.Options{}, plugin.BadInput(fmt.Errorf("option bits: %d, want 8, 4 or 2", bits))
	}
	opts.Bits = int(bits)
	calib, err := o.String("calib")
	if err != nil {
		return rewrite.Options{}, err
	}
	if calib != "" {
		opts.Calib = &calibrate.FileSet{}
		dec := json.NewDecoder(strings.NewReader(calib))
		dec.DisallowUnknownFields()
		if err := dec.Decode(opts.Calib); err != nil {
			return rewrite.Options{}, plugin.BadInput(fmt.Errorf("option calib: %w", err))
		}
		s := &opts.Search
		samples, err := o.Int("calib-samples")
		if err != nil {
			return rewrite.Options{}, err
		}
		if samples < 1 || samples > 1<<20 {
			return rewrite.Options{}, plugin.BadInput(fmt.Errorf("option calib_samples: %d, want 1..%d", samples, 1<<20))
		}
		s.Samples = int(samples)
		for _, f := range []struct {
			name string
			dst  *float64
		}{{"outlier-rate", &s.OutlierRate}, {"lambda", &s.Lambda}, {"bitops-target", &s.BitOPsTarget},
			{"min-agreement", &s.MinAgreement}, {"holdout", &s.HoldOut}} {
			if *f.dst, err = o.Float(f.name); err != nil {
				return rewrite.Options{}, err
			}
		}
		if s.Cost, err = o.String("cost"); err != nil {
			return rewrite.Options{}, err
		}
	}
	return opts, nil
}

func (q *quantMCU) Optimize(ctx context.Context, req *plugin.Request, progress func(string, float64)) (*plugin.Response, error) {
	opts, err := options(req.Options)
	if err != nil {
		return nil, err
	}
	m, err := tflite.Parse(req.Model, req.ModelName)
	if err != nil {
		return nil, plugin.BadInput(err)
	}
	res, err := rewrite.Optimize(ctx, m, opts, progress)
	if errors.Is(err, rewrite.ErrUnsupported) {
		return nil, plugin.BadInput(err)
	}
	if err != nil {
		return nil, err
	}
	data := req.Model // a model passed through unchanged keeps the user's exact bytes
	if res.Model != m {
		if data, err = tflite.Serialize(res.Model); err != nil {
			return nil, fmt.Errorf("rewritten model: %w", err)
		}
	}
	resp := &plugin.Response{Model: data, Artifacts: res.Artifacts, Summary: res.Summary}
	for _, d := range res.Diagnostics {
		resp.Diagnostics = append(resp.Diagnostics, plugin.Diagnostic{
			// rewrite.Severity and plugin.Level share the numbering info=1, warning=2, error=3.
			Level: plugin.Level(d.Severity), Subgraph: d.Subgraph, Operator: d.Operator, Message: d.Message,
		})
	}
	return resp, nil
}
