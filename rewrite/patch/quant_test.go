package patch

import (
	"math"
	"testing"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

func TestQuantizeMultiplier(t *testing.T) {
	for _, c := range []struct {
		real  float64
		q     int32
		shift int32
	}{
		{0, 0, 0},
		{0.5, 1 << 30, 0},
		{1, 1 << 30, 1},
		{0.75, 1610612736, 0},
		{1 - math.Pow(2, -33), 1 << 30, 1}, // rounds up to 2^31: halved, exponent + 1
		{math.Pow(2, -40), 0, 0},           // below 2^-32: flushed to zero
		{0.0003, 1319413953, -11},
	} {
		q, s, err := QuantizeMultiplier(c.real)
		if err != nil || q != c.q || s != c.shift {
			t.Errorf("QuantizeMultiplier(%g) = %d, %d, %v; want %d, %d", c.real, q, s, err, c.q, c.shift)
		}
		if c.q != 0 {
			back := float64(q) * math.Pow(2, float64(s-31))
			if math.Abs(back-c.real) > c.real*1e-9 {
				t.Errorf("QuantizeMultiplier(%g) represents %g", c.real, back)
			}
		}
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1), 1e12} {
		if _, _, err := QuantizeMultiplier(bad); err == nil {
			t.Errorf("QuantizeMultiplier(%g) accepted", bad)
		}
	}
}

func TestActivationRange(t *testing.T) {
	y := FeatureMap{Scale: 0.5, ZeroPoint: -10}
	for _, c := range []struct {
		act    schema.ActivationFunctionType
		lo, hi int32
	}{
		{schema.ActivationFunctionTypeNONE, -128, 127},
		{schema.ActivationFunctionTypeRELU, -10, 127},
		{schema.ActivationFunctionTypeRELU6, -10, 2},
		{schema.ActivationFunctionTypeRELU_N1_TO_1, -12, -8},
	} {
		if lo, hi := activationRange(c.act, y); lo != c.lo || hi != c.hi {
			t.Errorf("%v: [%d, %d], want [%d, %d]", c.act, lo, hi, c.lo, c.hi)
		}
	}
	// Clamped to int8: RELU6 with a tiny scale saturates at 127.
	if _, hi := activationRange(schema.ActivationFunctionTypeRELU6, FeatureMap{Scale: 0.001, ZeroPoint: -128}); hi != 127 {
		t.Errorf("RELU6 max %d, want 127", hi)
	}
}

func TestAddParamsFollowTFLM(t *testing.T) {
	a := FeatureMap{Scale: 0.125, ZeroPoint: 3}
	b := FeatureMap{Scale: 0.0625, ZeroPoint: -7}
	y := FeatureMap{Scale: 0.25, ZeroPoint: 1}
	p, err := computeAddParams(a, b, y)
	if err != nil {
		t.Fatal(err)
	}
	if p.in1Offset != -3 || p.in2Offset != 7 || p.leftShift != 20 {
		t.Errorf("offsets %+v", p)
	}
	// input 1 has the larger scale: real multiplier 0.5 exactly; input 2: 0.25.
	if p.in1Mult != 1<<30 || p.in1Shift != 0 || p.in2Mult != 1<<30 || p.in2Shift != -1 {
		t.Errorf("input multipliers %+v", p)
	}
	// output: 2*0.125/(2^20*0.25) = 2^-20 -> 2^30, shift -19.
	if p.outMult != 1<<30 || p.outShift != -19 {
		t.Errorf("output multiplier %d shift %d", p.outMult, p.outShift)
	}
}
