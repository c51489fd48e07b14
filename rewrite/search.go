package rewrite

import (
	"context"
	"fmt"
	"time"

	"github.com/quantmcu/quantmcu/rewrite/calibrate"
	"github.com/quantmcu/quantmcu/rewrite/guard"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/rewrite/vdpc"
	"github.com/quantmcu/quantmcu/rewrite/vdqs"
	"github.com/quantmcu/quantmcu/tflite/schema"
	"github.com/quantmcu/quantmcu/tflite/tensorio"
)

// Search defaults (DESIGN.md §4; the note of the search issue gives the measurements).
// DefaultLambda is 0.1, not DESIGN.md's 0.5: with Phi normalised by the whole 8-bit stage's
// BitOPs (0.02-0.10 per step) and Omega by the map's 8-bit entropy (0.2-0.55 per step), the
// score is negative for every step at lambda >= 0.3 on all four shared models, so the search
// would never propose anything; at 0.1 it proposes steps and the accuracy guard decides.
const (
	DefaultOutlierRate  = 0.1
	DefaultLambda       = 0.1
	DefaultMinAgreement = 0.98
	DefaultHoldOut      = 0.25
	DefaultCalibSamples = 256
)

// The costs VDQS can score Phi by (SearchOptions.Cost, --cost).
const (
	CostBitOPs = "bitops"
	CostCycles = "cycles"
)

// SearchOptions steer QuantMCU's search (calibration, VDPC, VDQS, accuracy guard).
type SearchOptions struct {
	OutlierRate  float64 // target fraction of outlier tiles on the calibration data
	Lambda       float64 // weight of the entropy loss in the VDQS score
	BitOPsTarget float64 // stop once the 8-bit patch stage's BitOPs / mixed reach it (0: none)
	MinAgreement float64 // held-out top-1 agreement with the int8 model the guard keeps
	HoldOut      float64 // fraction of the calibration inputs held out for the guard
	Samples      int     // at most this many calibration inputs (0: DefaultCalibSamples)
	Threads      int     // 0: all cores
	// Cost is what Phi measures: CostBitOPs (the paper's) or CostCycles (estimated Cortex-M4
	// cycles of the stage on quantmcu's DSP kernels, rewrite/cost). "" means CostBitOPs.
	Cost string
	// PerTensor disables per-channel low-bit ranges (used where a map qualifies: written by a
	// convolution with RELU/RELU6, read by convolutions, depthwise convolutions, PAD, pools).
	PerTensor bool
}

// DefaultSearch returns the defaults.
func DefaultSearch() SearchOptions {
	return SearchOptions{OutlierRate: DefaultOutlierRate, Lambda: DefaultLambda, MinAgreement: DefaultMinAgreement,
		HoldOut: DefaultHoldOut, Samples: DefaultCalibSamples}
}

// costName is the cost Phi is scored by.
func (o SearchOptions) costName() string {
	if o.Cost == "" {
		return CostBitOPs
	}
	return o.Cost
}

// check validates the options (user input: errors wrap ErrUnsupported).
func (o SearchOptions) check() error {
	switch {
	case !(o.OutlierRate >= 0 && o.OutlierRate < 1):
		return fmt.Errorf("%w: --outlier-rate %g outside [0, 1)", ErrUnsupported, o.OutlierRate)
	case !(o.Lambda >= 0 && o.Lambda <= 1):
		return fmt.Errorf("%w: --lambda %g outside [0, 1]", ErrUnsupported, o.Lambda)
	case !(o.BitOPsTarget == 0 || o.BitOPsTarget >= 1):
		return fmt.Errorf("%w: --bitops-target %g: want 0 (none) or a ratio >= 1", ErrUnsupported, o.BitOPsTarget)
	case !(o.MinAgreement >= 0 && o.MinAgreement <= 1):
		return fmt.Errorf("%w: --min-agreement %g outside [0, 1]", ErrUnsupported, o.MinAgreement)
	case !(o.HoldOut >= 0 && o.HoldOut < 1):
		return fmt.Errorf("%w: --holdout %g outside [0, 1)", ErrUnsupported, o.HoldOut)
	case o.Cost != "" && o.Cost != CostBitOPs && o.Cost != CostCycles:
		return fmt.Errorf("%w: --cost %q: want %q or %q", ErrUnsupported, o.Cost, CostBitOPs, CostCycles)
	case o.Samples < 0:
		return fmt.Errorf("%w: --calib-samples %d is negative", ErrUnsupported, o.Samples)
	}
	return nil
}

// SearchReport is what the search did.
type SearchReport struct {
	Options       SearchOptions
	Samples, Held int // calibration inputs used for statistics, and held out for the guard
	Thresholds    vdpc.Thresholds
	Steps         []vdqs.Step
	Chosen        int           // steps kept
	Refused       []vdqs.Step   // steps the guard took back
	Probes        []guard.Probe // every guard measurement, in order
	Agreement     float64       // held-out top-1 agreement of the chosen spec (1 without held-out inputs)
	BitOPsInt8    int64         // 8-bit patch stage
	BitOPsMixed   int64         // chosen spec, expected over the calibration tiles
	// CyclesInt8 and CyclesMixed are the estimated Cortex-M4 cycles of the 8-bit and the chosen
	// stage with --cost cycles (0 otherwise).
	CyclesInt8, CyclesMixed float64
	Seconds                 float64
	PerChannelMaps          int                // maps that got per-channel ranges at 4 and 2 bits
	EntropyByTensor         map[string]float64 // each free map's entropy at its chosen bits
	// specAfter is the spec after the first n kept steps.
	specAfter func(n int) *precision.Spec
}

// search runs calibration, VDPC, VDQS and the guard for sp and returns the chosen spec.
func search(ctx context.Context, m *schema.ModelT, sp *patch.StagePlan, files *calibrate.FileSet, o SearchOptions,
	progress func(string, float64)) (*precision.Spec, *SearchReport, error) {
	start := time.Now()
	if err := o.check(); err != nil {
		return nil, nil, err
	}
	k := sp.DefaultChecked()
	if k == 0 {
		return nil, nil, fmt.Errorf("%w: the patch stage has no layer after its first convolution: nothing to search", ErrUnsupported)
	}
	in, err := inputSpec(m)
	if err != nil {
		return nil, nil, err
	}
	all := files.Source(in)
	limit := o.Samples
	if limit == 0 {
		limit = DefaultCalibSamples
	}
	n := min(all.Len(), limit)
	if n == 0 {
		return nil, nil, fmt.Errorf("%w: no calibration inputs", ErrUnsupported)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	src := calibrate.Subset(all, idx)
	calibIdx, heldIdx := calibrate.Split(n, o.HoldOut)
	rep := &SearchReport{Options: o, Samples: len(calibIdx), Held: len(heldIdx), Agreement: 1}
	progress(fmt.Sprintf("calibrating on %d inputs", len(calibIdx)), 0.1)
	st, err := calibrate.Run(m, sp, k, calibrate.Subset(src, calibIdx), calibrate.Options{Threads: o.Threads,
		Progress: func(d, total int) { progress("calibrating", 0.1+0.4*float64(d)/float64(total)) }})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	rep.Thresholds = vdpc.Choose(st, o.OutlierRate)
	problem := vdqs.Problem{Plan: sp, Stats: st, Thresholds: rep.Thresholds, Lambda: o.Lambda, BitOPsTarget: o.BitOPsTarget}
	if o.Cost == CostCycles {
		problem.Cycles = stageCycleModel(sp.Report)
	}
	if !o.PerTensor {
		var maps []int
		for _, f := range sp.FreeMaps(k) {
			if sp.PerChannelOK(f) == nil {
				maps = append(maps, f)
			}
		}
		progress(fmt.Sprintf("per-channel statistics of %d maps", len(maps)), 0.45)
		if problem.ChannelHist, err = calibrate.Channels(m, sp, st, rep.Thresholds.Distance, maps, calibrate.Subset(src, calibIdx),
			calibrate.Options{Threads: o.Threads}); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
		rep.PerChannelMaps = len(maps)
	}
	if len(heldIdx) > 0 {
		// The accuracy guard takes part in every step: a step whose held-out top-1 agreement
		// with the int8 model falls below the minimum is taken back and its map frozen.
		held := calibrate.Subset(src, heldIdx)
		ref, err := guard.Top1(m, held, o.Threads)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: held-out %v", ErrUnsupported, err)
		}
		problem.Accept = func(spec *precision.Spec) (bool, error) {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			progress(fmt.Sprintf("accuracy guard: step %d", len(rep.Probes)+1), 0.5+0.45*min(1, float64(len(rep.Probes))/40))
			cand, err := candidate(m, sp, spec)
			if err != nil {
				return false, err
			}
			got, err := guard.Top1(cand, held, o.Threads)
			if err != nil {
				return false, err
			}
			a := guard.Agreement(got, ref)
			rep.Probes = append(rep.Probes, guard.Probe{Steps: len(rep.Probes) + 1, Agreement: a})
			if a >= o.MinAgreement {
				rep.Agreement = a
				return true, nil
			}
			return false, nil
		}
	}
	res, err := vdqs.Search(problem)
	if err != nil {
		return nil, nil, err
	}
	rep.Steps, rep.Refused, rep.BitOPsInt8 = res.Steps, res.Refused, res.BitOPsInt8
	chosen := len(res.Steps)
	rep.Chosen = chosen
	rep.specAfter = res.Spec
	rep.BitOPsMixed = res.BitOPsAfter(chosen)
	rep.CyclesInt8, rep.CyclesMixed = res.CyclesInt8, res.CyclesAfter(chosen)
	rep.EntropyByTensor = map[string]float64{}
	for f, b := range res.Bits(chosen) {
		rep.EntropyByTensor[sp.FMs[f].Name] = res.Entropy[f][b]
	}
	rep.Seconds = time.Since(start).Seconds()
	return res.Spec(chosen), rep, nil
}

// candidate is m rewritten with sp under spec (sp itself keeps its state).
func candidate(m *schema.ModelT, sp *patch.StagePlan, spec *precision.Spec) (*schema.ModelT, error) {
	c := *sp
	if err := c.ApplyPrecision(spec); err != nil {
		return nil, err
	}
	return patch.Rewrite(m, &c)
}

// inputSpec is model input 0 as tensorio describes it.
func inputSpec(m *schema.ModelT) (tensorio.Spec, error) {
	sg := m.Subgraphs[0]
	if len(sg.Inputs) != 1 {
		return tensorio.Spec{}, fmt.Errorf("%w: calibration needs a model with one input, this one has %d", ErrUnsupported, len(sg.Inputs))
	}
	t := sg.Tensors[sg.Inputs[0]]
	s := tensorio.Spec{Name: t.Name, Type: t.Type, Shape: t.Shape}
	if q := t.Quantization; q != nil && len(q.Scale) > 0 && len(q.ZeroPoint) > 0 {
		s.Scale, s.ZeroPoint = q.Scale[0], q.ZeroPoint[0]
	}
	return s, nil
}
