// Package rewrite is the QuantMCU model rewriter: it replaces the memory-heavy first stage of
// a CNN by one patch-based QMCU_PATCH_STAGE operator (DESIGN.md §3-§5) and reports what
// that changes. The built-in "quantmcu" plugin calls Optimize.
package rewrite

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/rewrite/calibrate"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Options control one rewrite.
type Options struct {
	// SRAM is the memory budget in bytes for the whole TFLM arena (head and persistent
	// tail); 0 means no budget (choose the lowest arena whose compute overhead stays small).
	SRAM int64
	// Target and Kernels name the TFLM build the arena is predicted for (zero values:
	// cortex-m, reference kernels).
	Target  analysis.Target
	Kernels analysis.Kernels
	// Patches is the patch grid: "auto" or "RxC", e.g. "4x4".
	Patches string
	// Split is the number of leading operators in the patch stage; 0 chooses automatically.
	// Split and Patches force the first stage; later stages stay automatic.
	Split int
	// MaxStages bounds the number of patch stages (0: as many as pay, 1: a single stage).
	MaxStages int
	// MaxOverhead is the whole-network MAC overhead budget without SRAM, a fraction (0:
	// patch.MaxOverhead, 20%).
	MaxOverhead float64
	// Precision, when set, gives the low-bit branch of the patch stage (QuantMCU mixed
	// precision; DESIGN.md §4). Bits, when > 0, is the uniform spec `--bits N` instead.
	// Without either the stage runs in int8 only.
	Precision *precision.Spec
	Bits      int
	// Int8IO gives the model int8 inputs and outputs where a QUANTIZE reads a float input or
	// a DEQUANTIZE writes a float output (patch.Int8IO); the diagnostics state the new scales
	// and zero points.
	Int8IO bool
	// NoOfflinePlan keeps TFLM's own arena plan: no OfflineMemoryAllocation metadata that
	// overlaps the stage output with input bytes no later tile reads (patch.Options).
	NoOfflinePlan bool
	// Calib, when set, runs QuantMCU's search on these inputs (calibration, VDPC thresholds,
	// VDQS bitwidths, accuracy guard) with Search (zero fields: DefaultSearch's).
	Calib  *calibrate.FileSet
	Search SearchOptions
}

// Severity grades a Diagnostic.
type Severity int

// Severities.
const (
	Info Severity = iota + 1
	Warning
	Error
)

// Diagnostic is a message about the model, e.g. the reason an operator was not rewritten.
type Diagnostic struct {
	Severity Severity
	Subgraph int
	// Operator is the operator index, or -1 for the whole model.
	Operator int
	Message  string
}

// Result is a rewritten model with its reports.
type Result struct {
	Model *schema.ModelT
	// Artifacts are report files by name: "summary.csv", "per-layer.csv", "memory.svg",
	// "stages.csv" (one row per patch stage), and
	// "precision.json" (the precision spec used, or the int8-only spec) when the model is
	// rewritten.
	Artifacts map[string][]byte
	// Summary is a few lines for the user (peak memory and MACs before and after).
	Summary     string
	Diagnostics []Diagnostic
	// Search is what QuantMCU's search did (nil without Options.Calib).
	Search *SearchReport
	// Stage is the patch plan's report (FirstOp > LastOp when the model is kept unchanged).
	Stage *patch.Report
}

// ErrUnsupported marks models or options the rewriter refuses (the user's input is at
// fault: the CLI exits with status 2). The error text says why.
var ErrUnsupported = patch.ErrUnsupported

// Optimize rewrites m under opts, reporting progress through progress (which may be nil).
// m is not modified. Refusals wrap ErrUnsupported.
func Optimize(ctx context.Context, m *schema.ModelT, opts Options, progress func(msg string, fraction float64)) (*Result, error) {
	if progress == nil {
		progress = func(string, float64) {}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, cols, err := parseGrid(opts.Patches)
	if err != nil {
		return nil, err
	}
	if opts.SRAM < 0 || opts.Split < 0 || opts.MaxStages < 0 || opts.MaxOverhead < 0 {
		return nil, fmt.Errorf("%w: --sram, --split, --stages and --max-overhead must not be negative", ErrUnsupported)
	}
	if n := btoi(opts.Precision != nil) + btoi(opts.Bits != 0) + btoi(opts.Calib != nil); n > 1 {
		return nil, fmt.Errorf("%w: --precision, --bits and --calib exclude each other", ErrUnsupported)
	}
	if opts.Bits != 0 && !precision.ValidBits(opts.Bits) {
		return nil, fmt.Errorf("%w: --bits %d: want 8, 4 or 2", ErrUnsupported, opts.Bits)
	}
	progress("planning the patch stage", 0.05)
	target, err := analysis.ParseTarget(string(opts.Target))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	kernels, err := analysis.ParseKernels(string(opts.Kernels), target)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	ao := analysis.Options{Target: target, Kernels: kernels, Custom: patch.DescribeCustomOpFor(target)}
	before, err := analysis.AnalyzeWith(m, ao)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	// --int8-io: the model's float edges become int8 first; before stays the model as given.
	var ioChanges []patch.IOChange
	if opts.Int8IO {
		m, ioChanges = patch.Int8IO(m)
	}
	base := before
	if len(ioChanges) > 0 {
		if base, err = analysis.AnalyzeWith(m, ao); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
	}
	res, err := optimizeModel(ctx, m, before, base, ao, opts, rows, cols, progress)
	if err != nil {
		return nil, err
	}
	for _, c := range ioChanges {
		res.Diagnostics = append(res.Diagnostics, Diagnostic{Severity: Info, Operator: -1, Message: "--int8-io: " + c.String()})
	}
	return res, nil
}

// optimizeModel is Optimize after option checks on m (the model as given, or its int8-io
// variant); before describes the model as given, base m.
func optimizeModel(ctx context.Context, m *schema.ModelT, before, base *analysis.Report, ao analysis.Options, opts Options,
	rows, cols int, progress func(msg string, fraction float64)) (*Result, error) {
	target, kernels := ao.Target, ao.Kernels
	var err error
	// Explicit PADs that SAME padding reproduces exactly are folded first (bit-exact; see
	// patch.FoldPads): the stage and the rest of the network then hold neither the PAD's
	// output nor its window buffers. pm is the model planned and rewritten.
	pm, folds, _ := patch.FoldPads(m)
	pmBefore := base
	if len(folds) > 0 {
		if pmBefore, err = analysis.AnalyzeWith(pm, ao); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
	}
	popts := patch.Options{SRAM: opts.SRAM, Rows: rows, Cols: cols, Split: foldedSplit(m, opts.Split, folds), MaxStages: opts.MaxStages,
		Overhead: opts.MaxOverhead, Target: target, Kernels: kernels, NoOfflinePlan: opts.NoOfflinePlan}
	sp, err := patch.Plan(pm, popts)
	if err == nil && len(sp.Later) > 0 && sp.DefaultChecked() == 0 && (opts.Precision != nil || opts.Bits != 0 || opts.Calib != nil) {
		// The low branch is the first stage's, and this one has no map after its first
		// convolution: plan one stage, which gives it room.
		popts.MaxStages = 1
		sp, err = patch.Plan(pm, popts)
	}
	if errors.Is(err, patch.ErrNothingToPatch) && rows == 0 && opts.Split == 0 {
		// Not a model this step can improve: a drop-in step leaves it as it is.
		reason := strings.TrimPrefix(err.Error(), ErrUnsupported.Error()+": ")
		return keepOriginal(m, base, &patch.Report{MACsBefore: before.MACs, ArenaBefore: before.ArenaBytes,
			TailBefore: before.Tail.Bytes, TotalBefore: before.TotalBytes, Target: target, Kernels: kernels,
			Note: "nothing to patch (" + reason + "); the model is left unchanged"}), nil
	}
	if err != nil {
		if len(folds) > 0 {
			err = fmt.Errorf("%w (operator numbers after folding %d explicit PADs into their convolutions)", err, len(folds))
		}
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Before is the model as given, folds included.
	sp.Report.ArenaBefore, sp.Report.TailBefore, sp.Report.TotalBefore = before.ArenaBytes, before.Tail.Bytes, before.TotalBytes
	// A gain means a lower activation head (what patching is for) without a larger whole
	// arena: a tail that only shrinks because the stage's per-channel data moves into the
	// plan is not a reason to rewrite.
	if (sp.Report.ArenaAfter >= sp.Report.ArenaBefore || sp.Report.TotalAfter >= sp.Report.TotalBefore) && rows == 0 && opts.Split == 0 {
		return keepOriginal(m, base, sp.Report), nil
	}
	var searched *SearchReport
	if opts.Calib != nil {
		if opts.Precision, searched, err = search(ctx, pm, sp, opts.Calib, withDefaults(opts.Search), progress); err != nil {
			return nil, err
		}
	}
	spec, err := applyPrecision(sp, opts)
	if err != nil {
		return nil, err
	}
	progress(fmt.Sprintf("rewriting: split %d, grid %dx%d, %d stages", sp.Split, sp.Rows, sp.Cols, 1+len(sp.Later)), 0.6)
	out, err := patch.Rewrite(pm, sp)
	if err != nil {
		return nil, fmt.Errorf("rewriting the patch stage: %w", err)
	}
	after, err := analysis.AnalyzeWith(out, ao)
	if err != nil {
		return nil, fmt.Errorf("analysing the rewritten model: %w", err)
	}
	if after.ArenaBytes != sp.Report.ArenaAfter {
		return nil, fmt.Errorf("internal: predicted arena %d B but the rewritten model plans to %d B", sp.Report.ArenaAfter, after.ArenaBytes)
	}
	// The plan predicted the int8 stage's tail; low-branch weight copies add tensors to it.
	sp.Report.TailAfter, sp.Report.TotalAfter = after.Tail.Bytes, after.TotalBytes
	progress("writing reports", 0.9)
	// Per-layer rows describe the planned model (folded PADs are gone; the diagnostics list them).
	rep := newReport(pmBefore, after, sp.Report)
	rep.search = searched
	res := &Result{
		Model: out,
		Artifacts: map[string][]byte{
			"summary.csv":   rep.summaryCSV(),
			"per-layer.csv": rep.perLayerCSV(),
			"memory.svg":    rep.memorySVG(),
			"stages.csv":    rep.stagesCSV(),
		},
		Summary: rep.summaryText(),
		Stage:   sp.Report,
	}
	if spec != nil {
		if res.Artifacts["precision.json"], err = spec.Marshal(); err != nil {
			return nil, err
		}
	}
	if sp.Low != nil {
		res.Artifacts["bits.svg"] = rep.bitsSVG()
	}
	res.Search = searched
	// Reasons about operators are shown one by one; split points that cut a residual block
	// (every MobileNetV2 block has some) are summarised in one line.
	if len(folds) > 0 {
		var list []string
		for _, f := range folds {
			list = append(list, fmt.Sprintf("%d into %d", f.Pad, f.Conv))
		}
		res.Diagnostics = append(res.Diagnostics, Diagnostic{Severity: Info, Operator: -1,
			Message: fmt.Sprintf("%d explicit PADs folded into the stride-1 convolution reading them as SAME padding (bit-exact; operators %s); operator numbers below and in the per-layer report are those after folding",
				len(folds), strings.Join(list, ", "))})
	}
	openSplits := 0
	for _, r := range sp.Report.Reasons {
		if strings.HasPrefix(r, "split after") && strings.Contains(r, "is still needed after it") {
			openSplits++
			continue
		}
		res.Diagnostics = append(res.Diagnostics, Diagnostic{Severity: Info, Operator: reasonOp(r), Message: r})
	}
	if openSplits > 0 {
		res.Diagnostics = append(res.Diagnostics, Diagnostic{Severity: Info, Operator: -1,
			Message: fmt.Sprintf("%d split points inside residual blocks were skipped (a tensor crosses them)", openSplits)})
	}
	if sp.Report.Note != "" {
		res.Diagnostics = append(res.Diagnostics, Diagnostic{Severity: Warning, Operator: -1, Message: sp.Report.Note})
	}
	progress("done", 1)
	return res, nil
}

// foldedSplit translates a forced split, which counts the stage layers of m as given, to the
// model with folds applied: the folded PADs among those layers are gone.
func foldedSplit(m *schema.ModelT, split int, folds []patch.Fold) int {
	if split <= 0 || len(folds) == 0 {
		return split
	}
	s, err := patch.DetectStage(m)
	if err != nil || split > len(s.Layers) {
		return split
	}
	folded := map[int]bool{}
	for _, f := range folds {
		folded[f.Pad] = true
	}
	n := split
	for _, l := range s.Layers[:split] {
		if folded[l.Op] {
			n--
		}
	}
	return max(n, 1)
}

// applyPrecision gives sp its low branch from opts and returns the spec to write: the one
// applied, or, for an int8-only stage, the equivalent spec in which every tile is an outlier
// tile (nil when the stage has no map after its first convolution).
func applyPrecision(sp *patch.StagePlan, opts Options) (*precision.Spec, error) {
	spec := opts.Precision
	if opts.Bits != 0 {
		var err error
		if spec, err = sp.UniformSpec(opts.Bits); err != nil {
			return nil, err
		}
	}
	if spec == nil {
		if sp.DefaultChecked() == 0 {
			return nil, nil
		}
		int8Only, err := sp.UniformSpec(8)
		if err != nil {
			return nil, err
		}
		one := 1.0
		int8Only.Checked.Lo, int8Only.Checked.Hi, int8Only.Checked.OutlierRate = 127, -128, &one
		return int8Only, nil
	}
	if err := sp.ApplyPrecision(spec); err != nil {
		return nil, err
	}
	return sp.Low.Spec, nil
}

// keepOriginal is the result when no patch stage lowers the arena and the user forced
// nothing: the model passes through unchanged (a drop-in step never makes things worse) and
// the reports say why.
func keepOriginal(m *schema.ModelT, before *analysis.Report, plan *patch.Report) *Result {
	note := plan.Note
	if !strings.Contains(note, "left unchanged") {
		note += "; the model is left unchanged (force a rewrite with --patches or --split)"
	}
	kept := &patch.Report{FirstOp: 0, LastOp: -1, MACsBefore: plan.MACsBefore, MACsAfter: plan.MACsBefore,
		ArenaBefore: plan.ArenaBefore, ArenaAfter: before.ArenaBytes, TailBefore: plan.TailBefore, TailAfter: before.Tail.Bytes,
		TotalBefore: plan.TotalBefore, TotalAfter: before.TotalBytes, Target: plan.Target, Kernels: plan.Kernels,
		Reasons: plan.Reasons, Note: note}
	rep := newReport(before, before, kept)
	res := &Result{
		Model: m,
		Artifacts: map[string][]byte{
			"summary.csv":   rep.summaryCSV(),
			"per-layer.csv": rep.perLayerCSV(),
			"memory.svg":    rep.memorySVG(),
			"stages.csv":    rep.stagesCSV(),
		},
		Summary: rep.summaryText(),
		Stage:   kept,
	}
	res.Diagnostics = append(res.Diagnostics, Diagnostic{Severity: Warning, Operator: -1, Message: kept.Note})
	return res
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// withDefaults fills the zero fields of o with DefaultSearch's (a zero OutlierRate stays
// zero only through an explicit choice in the CLI, which passes every field).
func withDefaults(o SearchOptions) SearchOptions {
	d := DefaultSearch()
	if o == (SearchOptions{}) {
		return d
	}
	if o.Samples == 0 {
		o.Samples = d.Samples
	}
	return o
}

// parseGrid reads "auto" (0, 0) or "RxC".
func parseGrid(s string) (rows, cols int, err error) {
	if s == "" || s == "auto" {
		return 0, 0, nil
	}
	r, c, ok := strings.Cut(s, "x")
	rows, err1 := strconv.Atoi(r)
	cols, err2 := strconv.Atoi(c)
	if !ok || err1 != nil || err2 != nil || rows < 1 || cols < 1 || rows > 64 || cols > 64 {
		return 0, 0, fmt.Errorf("%w: --patches %q: want auto or RxC with 1 <= R, C <= 64, e.g. 4x4", ErrUnsupported, s)
	}
	return rows, cols, nil
}

// reasonOp extracts the operator index from a reason such as "operator 27 (MEAN): ...",
// or -1.
func reasonOp(reason string) int {
	rest, ok := strings.CutPrefix(reason, "operator ")
	if !ok {
		return -1
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end <= 0 {
		return -1
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil {
		return -1
	}
	return n
}
