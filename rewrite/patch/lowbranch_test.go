package patch

import (
	"math/rand/v2"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

func TestFormatFromRange(t *testing.T) {
	orig := FeatureMap{Scale: 0.05, ZeroPoint: -20}
	lo, hi := int8Range(orig)
	for _, c := range []struct {
		m     precision.Map
		scale float32
		zp    int32
	}{
		{precision.Map{Bits: 8, Min: lo, Max: hi}, 0.05, -20},                  // the int8 range: the map's own quantization
		{precision.Map{Bits: 4, Min: 0, Max: 1.5}, 0.1, 0},                     // unsigned codes 0..15
		{precision.Map{Bits: 4, Min: -1.5, Max: 0}, 0.1, 15},                   // zero at the top code
		{precision.Map{Bits: 2, Min: 0.5, Max: 3}, 1, 0},                       // widened to include 0
		{precision.Map{Bits: 2, Min: -3, Max: -1.5}, 1, 3},                     // widened to include 0
		{precision.Map{Bits: 8, Min: -1, Max: 1.55}, float32(2.55 / 255), -28}, // another 8-bit range: int8 codes
	} {
		got, err := FormatFromRange(c.m, orig)
		if err != nil {
			t.Fatal(err)
		}
		if got.Bits != c.m.Bits || got.ZeroPoint != c.zp || got.Scale != c.scale {
			t.Errorf("%+v: got %+v, want scale %g zero point %d", c.m, got, c.scale, c.zp)
		}
	}
}

func TestActivationRangeInCodes(t *testing.T) {
	y := FeatureMap{Scale: 0.5, ZeroPoint: 2}
	if lo, hi := activationRangeIn(schema.ActivationFunctionTypeRELU, y, 0, 15); lo != 2 || hi != 15 {
		t.Errorf("RELU on 4-bit codes: %d..%d, want 2..15", lo, hi)
	}
	if lo, hi := activationRangeIn(schema.ActivationFunctionTypeRELU6, y, 0, 3); lo != 2 || hi != 3 {
		t.Errorf("RELU6 on 2-bit codes: %d..%d, want 2..3", lo, hi)
	}
}

// TestLowScratchWithinScratch: whatever the bitwidths, the low branch touches no more scratch
// than the int8 layout has (its packed windows live at the int8 offsets), on every grid.
func TestLowScratchWithinScratch(t *testing.T) {
	m, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, grid := range [][2]int{{2, 2}, {3, 3}, {4, 4}, {2, 5}} {
		sp, err := Plan(m, Options{Rows: grid[0], Cols: grid[1], MaxStages: 1})
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			spec, err := sp.UniformSpec(4)
			if err != nil {
				t.Fatal(err)
			}
			for n, mp := range spec.Maps {
				mp.Bits = []int{8, 4, 2}[rng.IntN(3)]
				spec.Maps[n] = mp
			}
			c := *sp
			if err := c.ApplyPrecision(spec); err != nil {
				t.Fatal(err)
			}
			if low := c.LowScratchBytes(); low > c.ScratchBytes || low <= 0 {
				t.Fatalf("grid %v: low branch touches %d B of %d B scratch", grid, low, c.ScratchBytes)
			}
		}
	}
}
