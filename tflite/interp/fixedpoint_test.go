package interp

import (
	"math"
	"testing"
)

func TestQuantizeMultiplier(t *testing.T) {
	for _, tc := range []struct {
		m     float64
		mult  int32
		shift int
	}{
		{0, 0, 0},
		{0.5, 1 << 30, 0},
		{1, 1 << 30, 1},
		{0.75, 1610612736, 0},
		{0.125, 1 << 30, -2},          // < 0.5: right shift
		{2, 1 << 30, 2},               // > 1: left shift
		{1 - 1.0/(1<<40), 1 << 30, 1}, // rounds to 2^31: halved, exponent incremented
		{1.0 / (1 << 40), 0, 0},       // exponent below -31 flushes to zero
	} {
		m, s := quantizeMultiplier(tc.m)
		if m != tc.mult || s != tc.shift {
			t.Errorf("quantizeMultiplier(%g) = (%d, %d), want (%d, %d)", tc.m, m, s, tc.mult, tc.shift)
		}
	}
}

func TestSRDHM(t *testing.T) {
	for _, tc := range []struct{ a, b, want int32 }{
		{math.MinInt32, math.MinInt32, math.MaxInt32}, // the one overflow saturates
		{math.MinInt32, math.MaxInt32, -math.MaxInt32},
		{1 << 30, 1 << 30, 1 << 29},
		{3, 1 << 30, 2},   // 1.5 rounds up
		{-3, 1 << 30, -1}, // -1.5 rounds toward +inf (gemmlowp nudge 1-2^30)
		{5, 1 << 30, 3},
		{-5, 1 << 30, -2},
		{0, math.MinInt32, 0},
	} {
		if got := srdhm(tc.a, tc.b); got != tc.want {
			t.Errorf("srdhm(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestRoundingDivideByPOT(t *testing.T) {
	for _, tc := range []struct {
		x    int32
		e    int
		want int32
	}{
		{5, 1, 3}, {-5, 1, -3}, {4, 1, 2}, {-4, 1, -2}, {7, 2, 2}, {-6, 2, -2}, {-7, 2, -2},
		{9, 0, 9}, {math.MaxInt32, 31, 1}, {math.MinInt32, 31, -1}, {math.MinInt32, 1, math.MinInt32 / 2},
	} {
		if got := roundingDivideByPOT(tc.x, tc.e); got != tc.want {
			t.Errorf("roundingDivideByPOT(%d, %d) = %d, want %d", tc.x, tc.e, got, tc.want)
		}
	}
}

func TestMulQuant(t *testing.T) {
	for _, tc := range []struct {
		x, m  int32
		shift int
		want  int32
	}{
		{100, 1 << 30, 1, 100},
		{100, 1 << 30, -1, 25},
		// Double rounding (TFLM's default): 5 * 0.25 = 1.25 -> srdhm gives 2.5 -> 3,
		// then the rounding shift gives 1.5 -> 2 (single rounding would give 1).
		{5, 1 << 30, -1, 2},
		{-5, 1 << 30, -1, -1},
		{math.MinInt32, math.MinInt32, 0, math.MaxInt32},
		// Left shifts wrap in int32 before the multiply, as on the target.
		{1 << 30, 1 << 30, 2, 0},
		{3, 1 << 30, 3, 12},
		{1000, 1 << 30, -31, 0},
	} {
		if got := mulQuant(tc.x, tc.m, tc.shift); got != tc.want {
			t.Errorf("mulQuant(%d, %d, %d) = %d, want %d", tc.x, tc.m, tc.shift, got, tc.want)
		}
	}
}

func TestExpAndLogisticFixed(t *testing.T) {
	if got := expOnNegativeValues(0, 5); got != math.MaxInt32 {
		t.Errorf("exp(0) = %d, want one", got)
	}
	// exp(-1) from a Q5.26 input: the polynomial on [-1/4, 0) times the barrel-shifter
	// factors exp(-1/4) and exp(-1/2); exp(-1) * 2^31 = 790015084.9.
	if got := expOnNegativeValues(-(1 << 26), 5); got != 790015308 {
		t.Errorf("exp(-1) = %d, want 790015308", got)
	}
	for _, x := range []float64{-0.1, -0.7, -2.5, -6, -12} {
		got := float64(expOnNegativeValues(int32(x*(1<<26)), 5)) / (1 << 31)
		if math.Abs(got-math.Exp(x)) > 1e-6 {
			t.Errorf("exp(%g) = %g, want %g", x, got, math.Exp(x))
		}
	}
	if got := logisticFixed(0, 4); got != 1<<30 {
		t.Errorf("logistic(0) = %d, want 2^30", got)
	}
	for _, x := range []float64{-3, -0.5, 0.25, 2, 7} {
		got := float64(logisticFixed(int32(x*(1<<27)), 4)) / (1 << 31)
		if want := 1 / (1 + math.Exp(-x)); math.Abs(got-want) > 1e-6 {
			t.Errorf("logistic(%g) = %g, want %g", x, got, want)
		}
	}
	// 1/(1+x) for x in [0, 1).
	for _, x := range []float64{0, 0.3, 0.9} {
		got := float64(oneOverOnePlusXForXIn01(int32(x*(1<<31)))) / (1 << 31)
		if want := 1 / (1 + x); math.Abs(got-want) > 1e-6 {
			t.Errorf("1/(1+%g) = %g, want %g", x, got, want)
		}
	}
}

// TestRequantRowMatchesScalar checks the batched (AVX2 where available) requantization
// against the per-element reference on random accumulators, including extreme values and
// both shift directions.
func TestRequantRowMatchesScalar(t *testing.T) {
	const n = 67
	r := requant{mult: make([]int32, n), shift: make([]int, n), outZp: -7, actMin: -100, actMax: 120}
	seed := uint32(12345)
	next := func() int32 {
		seed = seed*1664525 + 1013904223
		return int32(seed)
	}
	for i := range n {
		r.mult[i] = int32(uint32(next())>>1) | 1<<30
		r.shift[i] = int(uint32(next())%40) - 31 // -31 .. 8
	}
	if !r.splitShifts() {
		t.Fatal("splitShifts rejected valid shifts")
	}
	acc, bias := make([]int32, n), make([]int32, n)
	for round := range 200 {
		for i := range n {
			acc[i] = next() >> (uint32(next()) % 32)
			bias[i] = next() >> 8
			if round == 0 {
				acc[i], bias[i] = math.MinInt32, 0
			}
		}
		got := make([]int8, n)
		r.row(acc, bias, 0, got)
		for i := range n {
			if want := r.output(acc[i]+bias[i], i); got[i] != want {
				t.Fatalf("round %d channel %d: acc %d mult %d shift %d: row gives %d, scalar %d", round, i, acc[i]+bias[i], r.mult[i], r.shift[i], got[i], want)
			}
		}
	}
}
