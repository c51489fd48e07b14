package interp

import (
	"fmt"
	"sync/atomic"

	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
	"github.com/quantmcu/quantmcu/tflite/schema"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

// patchStageCode is the custom code of quantmcu's patch-stage operator (tfmicro_ops/PLAN.md).
const patchStageCode = "QMCU_PATCH_STAGE"

// patchStageKernel runs a QMCU_PATCH_STAGE operator by calling the same C kernels the
// microcontroller runs (package tfmicro_ops through cgo), so the host computes exactly what
// TFLM will.
type patchStageKernel struct {
	op     int // operator index
	plan   *tfmicroops.Plan
	stage  *tfmicroops.Stage // plan bound to the constants once, at Prepare
	inputs []int             // tensor indices by custom-op input index
	out    int
	consts [][]byte
	stats  *patchStats
}

// patchStats accumulates what a QMCU_PATCH_STAGE operator did over invocations (shared by
// clones of the interpreter, hence atomic).
type patchStats struct {
	invocations, tiles, outlierTiles atomic.Int64
}

func (c *prep) custom() (kernel, error) {
	code := c.m.OperatorCodes[c.op.OpcodeIndex].CustomCode
	if code != patchStageCode {
		return nil, c.errorf("custom operator %q is not supported by the interpreter", code)
	}
	return c.patchStage()
}

func (c *prep) patchStage() (kernel, error) {
	root, err := flexbuffers.Root(c.op.CustomOptions)
	if err != nil {
		return nil, c.errorf("custom options: %v", err)
	}
	if v, err := root.Get("format"); err != nil {
		return nil, c.errorf("custom options: %v", err)
	} else if f, err := v.String(); err != nil || f != "qmcu_patch_stage" {
		return nil, c.errorf("custom options: format %q is not qmcu_patch_stage", f)
	}
	v, err := root.Get("plan")
	if err != nil {
		return nil, c.errorf("custom options: %v", err)
	}
	blob, err := v.Blob()
	if err != nil {
		return nil, c.errorf("custom options: plan: %v", err)
	}
	plan, err := tfmicroops.Parse(blob)
	if err != nil {
		return nil, c.errorf("plan: %v", err)
	}
	if len(c.op.Inputs) != plan.NumInputs() || len(c.op.Outputs) != 1 {
		return nil, c.errorf("has %d inputs and %d outputs; the plan wants %d and 1", len(c.op.Inputs), len(c.op.Outputs), plan.NumInputs())
	}
	k := &patchStageKernel{plan: plan, inputs: make([]int, len(c.op.Inputs)), consts: make([][]byte, len(c.op.Inputs))}
	for i := range c.op.Inputs {
		t, err := c.in(i)
		if err != nil {
			return nil, err
		}
		spec, _ := plan.Input(i)
		want := schema.TensorTypeINT8
		switch spec.Type {
		case tfmicroops.Int32:
			want = schema.TensorTypeINT32
		case tfmicroops.Float32: // the stage input of a plan that quantizes it per tile
			want = schema.TensorTypeFLOAT32
		}
		if err := c.wantType(t, want); err != nil {
			return nil, err
		}
		if c.info(t).Bytes != spec.Bytes {
			return nil, c.errorf("input %d %s has %d bytes; the plan wants %d", i, c.desc(t), c.info(t).Bytes, spec.Bytes)
		}
		if i > 0 {
			if c.p.constant[t] == nil {
				return nil, c.errorf("input %d %s must be a constant", i, c.desc(t))
			}
			k.consts[i] = c.p.constant[t]
		}
		k.inputs[i] = t
	}
	k.out, _ = c.out(0)
	if err := c.wantType(k.out, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	fms := plan.FeatureMaps()
	if last := fms[len(fms)-1]; c.info(k.out).Bytes != last.Bytes() {
		return nil, c.errorf("output %s has %d bytes; the plan writes %d", c.desc(k.out), c.info(k.out).Bytes, last.Bytes())
	}
	c.p.scratch = max(c.p.scratch, plan.ScratchBytes())
	if k.stage, err = plan.Bind(k.consts); err != nil {
		return nil, c.errorf("plan: %v", err)
	}
	k.op = c.opIndex
	k.stats = &patchStats{}
	c.p.patchStages = append(c.p.patchStages, k)
	return k, nil
}

func (k *patchStageKernel) run(x *execCtx) {
	// Prepare validated the plan and every tensor against it, so Eval cannot fail on sizes;
	// an error here is a defect in the C kernels' checks, surfaced through Invoke.
	st, err := k.stage.Run(x.data[k.inputs[0]], x.data[k.out], x.scratch[:max(1, x.threads)])
	if err != nil {
		if x.err == nil {
			x.err = fmt.Errorf("QMCU_PATCH_STAGE: %w", err)
		}
		return
	}
	k.stats.invocations.Add(1)
	k.stats.tiles.Add(int64(st.Tiles))
	k.stats.outlierTiles.Add(int64(st.OutlierTiles))
}

// PatchStageStats is what one QMCU_PATCH_STAGE operator did over all invocations so far (of
// this interpreter and its clones).
type PatchStageStats struct {
	Op                 int // operator index
	Version            int // plan format version
	LowBranch          bool
	Invocations, Tiles int64
	OutlierTiles       int64
}

// OutlierRate is the fraction of tiles that ran the int8 branch because of outliers (0 when
// nothing ran).
func (s PatchStageStats) OutlierRate() float64 {
	if s.Tiles == 0 {
		return 0
	}
	return float64(s.OutlierTiles) / float64(s.Tiles)
}

// PatchStageStats reports every QMCU_PATCH_STAGE operator of the model, in execution order.
func (it *Interpreter) PatchStageStats() []PatchStageStats {
	var out []PatchStageStats
	for _, k := range it.p.patchStages {
		out = append(out, PatchStageStats{Op: k.op, Version: k.plan.Version(), LowBranch: k.plan.Checked() > 0,
			Invocations: k.stats.invocations.Load(), Tiles: k.stats.tiles.Load(), OutlierTiles: k.stats.outlierTiles.Load()})
	}
	return out
}
