package interp

import (
	"fmt"

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
	plan   *tfmicroops.Plan
	inputs []int // tensor indices by custom-op input index
	out    int
	consts [][]byte
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
		if spec.Type == tfmicroops.Int32 {
			want = schema.TensorTypeINT32
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
	return k, nil
}

func (k *patchStageKernel) run(x *execCtx) {
	// Prepare validated the plan and every tensor against it, so Eval cannot fail on sizes;
	// an error here is a defect in the C kernels' checks, surfaced through Invoke.
	if err := k.plan.Eval(x.data[k.inputs[0]], k.consts, x.data[k.out], x.scratch[0][:k.plan.ScratchBytes()]); err != nil && x.err == nil {
		x.err = fmt.Errorf("QMCU_PATCH_STAGE: %w", err)
	}
}
