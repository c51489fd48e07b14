package patch

import (
	"fmt"
	"math"

	"github.com/quantmcu/quantmcu/tflite/fixedpoint"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// QuantizeMultiplier is TFLite's QuantizeMultiplier (tflite/fixedpoint), refusing multipliers
// no int32 kernel can apply.
func QuantizeMultiplier(real float64) (q int32, shift int32, err error) {
	m, s, ok := fixedpoint.QuantizeMultiplier(real)
	if !ok || real < 0 {
		if math.IsNaN(real) || math.IsInf(real, 0) || real < 0 {
			return 0, 0, fmt.Errorf("multiplier %g is not a finite non-negative number", real)
		}
		return 0, 0, fmt.Errorf("multiplier %g is too large", real)
	}
	return m, int32(s), nil
}

// quantizeValue is TFLite's Quantize helper of kernel_util.cc: the float quotient rounded
// half away from zero, plus the zero point.
func quantizeValue(scale float32, zp int32, f float32) int32 {
	return zp + int32(math.Round(float64(f/scale)))
}

// activationRange is CalculateActivationRangeQuantized for int8 outputs.
func activationRange(act schema.ActivationFunctionType, y FeatureMap) (int32, int32) {
	return activationRangeIn(act, y, -128, 127)
}

// activationRangeIn is CalculateActivationRangeQuantized for outputs with codes qmin..qmax
// (int8, or the unsigned codes of a low-bit map).
func activationRangeIn(act schema.ActivationFunctionType, y FeatureMap, qmin, qmax int32) (int32, int32) {
	lo, hi := qmin, qmax
	switch act {
	case schema.ActivationFunctionTypeRELU:
		lo = max(lo, quantizeValue(y.Scale, y.ZeroPoint, 0))
	case schema.ActivationFunctionTypeRELU6:
		lo = max(lo, quantizeValue(y.Scale, y.ZeroPoint, 0))
		hi = min(hi, quantizeValue(y.Scale, y.ZeroPoint, 6))
	case schema.ActivationFunctionTypeRELU_N1_TO_1:
		lo = max(lo, quantizeValue(y.Scale, y.ZeroPoint, -1))
		hi = min(hi, quantizeValue(y.Scale, y.ZeroPoint, 1))
	}
	// A fused activation entirely outside the code range clamps everything to one code.
	lo, hi = min(max(lo, qmin), qmax), max(min(hi, qmax), qmin)
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// channelMultipliers computes the per-output-channel multiplier/shift of a convolution as
// TFLite's PopulateConvolutionQuantizationParams does (double arithmetic on float scales).
func channelMultipliers(wScales []float32, outC int, x, y FeatureMap) ([]int32, []int32, error) {
	mult := make([]int32, outC)
	shift := make([]int32, outC)
	for c := range outC {
		ws := wScales[0]
		if len(wScales) > 1 {
			ws = wScales[c]
		}
		eff := float64(x.Scale) * float64(ws) / float64(y.Scale)
		q, s, err := QuantizeMultiplier(eff)
		if err != nil {
			return nil, nil, fmt.Errorf("channel %d: %w", c, err)
		}
		mult[c], shift[c] = q, s
	}
	return mult, shift, nil
}

// addParams are TFLM's int8 ADD parameters (add_common.cc CalculateOpDataAdd).
type addParams struct {
	in1Offset, in2Offset, leftShift int32
	in1Mult, in1Shift               int32
	in2Mult, in2Shift               int32
	outMult, outShift               int32
}

func computeAddParams(a, b, y FeatureMap) (addParams, error) {
	p := addParams{in1Offset: -a.ZeroPoint, in2Offset: -b.ZeroPoint, leftShift: 20}
	twiceMax := 2 * float64(max(a.Scale, b.Scale))
	r1 := float64(a.Scale) / twiceMax
	r2 := float64(b.Scale) / twiceMax
	ro := twiceMax / (float64(int64(1)<<p.leftShift) * float64(y.Scale))
	var err error
	for _, e := range []struct {
		real    float64
		m, s    *int32
		meaning string
	}{{r1, &p.in1Mult, &p.in1Shift, "input 1"}, {r2, &p.in2Mult, &p.in2Shift, "input 2"}, {ro, &p.outMult, &p.outShift, "output"}} {
		if !(e.real > 0 && e.real < 1) {
			return p, fmt.Errorf("ADD %s multiplier %g outside (0, 1)", e.meaning, e.real)
		}
		var s int32
		if *e.m, s, err = QuantizeMultiplier(e.real); err != nil {
			return p, err
		}
		if s > 0 {
			return p, fmt.Errorf("ADD %s multiplier %g has a positive shift", e.meaning, e.real)
		}
		*e.s = s
	}
	return p, nil
}
