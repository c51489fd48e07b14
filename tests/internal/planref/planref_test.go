package planref

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSaturatingRoundingDoublingHighMul(t *testing.T) {
	for _, c := range []struct{ a, b, want int32 }{
		{3, 1 << 30, 2},   // 1.5 -> 2 (ties away from zero for positive products)
		{-3, 1 << 30, -1}, // -1.5: gemmlowp's nudge 1-2^30 gives -1
		{5, 1 << 30, 3},   // 2.5 -> 3
		{100, 1 << 30, 50},
		{math.MinInt32, math.MinInt32, math.MaxInt32}, // the one saturating case
		{math.MaxInt32, math.MaxInt32, math.MaxInt32 - 1},
	} {
		if got := saturatingRoundingDoublingHighMul(c.a, c.b); got != c.want {
			t.Errorf("SRDHM(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestRoundingDivideByPOT(t *testing.T) {
	for _, c := range []struct {
		x    int32
		e    int
		want int32
	}{
		{5, 1, 3}, {-5, 1, -3}, {4, 1, 2}, {7, 2, 2}, {-7, 2, -2}, {6, 2, 2}, {-6, 2, -2}, {9, 0, 9},
		{math.MaxInt32, 31, 1}, {math.MinInt32, 31, -1},
	} {
		if got := roundingDivideByPOT(c.x, c.e); got != c.want {
			t.Errorf("RoundingDivideByPOT(%d, %d) = %d, want %d", c.x, c.e, got, c.want)
		}
	}
}

// TestMultiplyByQuantizedMultiplierNearExact checks the double-rounding result against the
// exact rational x * m * 2^(shift-31): it may differ by the two roundings, never more.
func TestMultiplyByQuantizedMultiplierNearExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		m := int32(1<<30 + rng.IntN(1<<30))
		shift := int32(rng.IntN(20) - 15)
		lim := int64(1) << 24
		if shift > 0 {
			lim >>= shift
		}
		x := int32(rng.Int64N(2*lim) - lim)
		got := MultiplyByQuantizedMultiplier(x, m, shift)
		exact := new(big.Rat).SetFrac(big.NewInt(int64(x)*int64(m)), new(big.Int).Lsh(big.NewInt(1), uint(31-shift)))
		diff := new(big.Rat).Sub(exact, new(big.Rat).SetInt64(int64(got)))
		if diff.Abs(diff).Cmp(big.NewRat(1, 1)) > 0 {
			t.Fatalf("MBQM(%d, %d, %d) = %d, exact %s", x, m, shift, got, exact.FloatString(4))
		}
	}
	// Hand-computed: 10 * 0.5 * 2^-1 = 2.5: SRDHM gives 5, the rounding shift 3.
	if got := MultiplyByQuantizedMultiplier(10, 1<<30, -1); got != 3 {
		t.Errorf("MBQM(10, 2^30, -1) = %d, want 3", got)
	}
	if got := MultiplyByQuantizedMultiplier(3, 1<<30, 3); got != 12 {
		t.Errorf("MBQM(3, 2^30, 3) = %d, want 12", got)
	}
}

// TestPackedLayout pins the documented layout: channel j at byte j*bits/8, bit (j*bits)%8,
// least significant first, each pixel ceil(c*bits/8) bytes.
func TestPackedLayout(t *testing.T) {
	b := newMapBuf(Window{0, 1, 0, 2}, FeatureMap{H: 1, W: 2, C: 3}, 4)
	if b.pixBytes != 2 || len(b.data) != 4 {
		t.Fatalf("3 channels of 4 bits: %d bytes per pixel, %d in all; want 2 and 4", b.pixBytes, len(b.data))
	}
	b.set(0, 0, 0x3)
	b.set(0, 1, 0xC)
	b.set(0, 2, 0x5)
	b.set(2, 0, 0xF)
	if b.data[0] != 0xC3 || b.data[1]&0x0F != 0x5 || b.data[2]&0x0F != 0xF {
		t.Errorf("4-bit bytes % x, want c3 x5 xf ..", b.data)
	}
	b2 := newMapBuf(Window{0, 1, 0, 1}, FeatureMap{H: 1, W: 1, C: 5}, 2)
	for j, v := range []int32{1, 2, 3, 0, 2} {
		b2.set(0, j, v)
	}
	if b2.pixBytes != 2 || b2.data[0] != 0x39 || b2.data[1]&0x03 != 0x2 {
		t.Errorf("2-bit bytes % x, want 39 x2", b2.data)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, bits := range []int32{2, 4, 8} {
		lo, hi, _ := codeRange(bits)
		for c := 1; c <= 9; c++ {
			m := FeatureMap{H: 2, W: 3, C: c}
			b := newMapBuf(Window{0, 2, 0, 3}, m, bits)
			want := make([]int32, 6*c)
			for i := range want {
				want[i] = lo + rng.Int32N(hi-lo+1)
				b.set(i/c*b.pixBytes, i%c, want[i])
			}
			for i := range want {
				if got := b.get(i/c*b.pixBytes, i%c); got != want[i] {
					t.Fatalf("%d bits, %d channels: element %d = %d, want %d", bits, c, i, got, want[i])
				}
			}
		}
	}
}

// planWords assembles a binary plan from its parts.
type planWords struct {
	version, checked, lo, hi int32
	fms                      [][8]int32
	layers                   [][]int32 // int8 records with their arrays
	low                      [][]int32
	tiles                    [][][4]int32
}

func (pw *planWords) bytes() []byte {
	w := make([]int32, headerWords)
	w[0], w[1] = magic, pw.version
	w[3], w[4], w[5] = int32(len(pw.fms)), int32(len(pw.layers)), int32(len(pw.tiles))
	w[6] = 64
	w[8], w[9], w[10] = pw.checked, pw.lo, pw.hi
	for _, f := range pw.fms {
		w = append(w, f[:]...)
	}
	for _, l := range pw.layers {
		w = append(w, l...)
	}
	for _, l := range pw.low {
		w = append(w, l...)
	}
	for _, t := range pw.tiles {
		for _, win := range t {
			w = append(w, win[:]...)
		}
	}
	w[2] = int32(len(w))
	out := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(v))
	}
	return out
}

// conv1x1 is a CONV_2D record of a 1x1 single-channel convolution with the given parameters.
func conv1x1(in, out, inOff, outOff, actMin, actMax, weights, bias, mult, shift int32, planBias []int32) []int32 {
	r := make([]int32, layerWords)
	r[0], r[1], r[2], r[3] = kindConv, in, -1, out
	r[4], r[5], r[6], r[7], r[8], r[9] = 1, 1, 1, 1, 1, 1
	r[13], r[14], r[15], r[16], r[17], r[18] = inOff, outOff, actMin, actMax, weights, bias
	r[28] = 1
	r = append(r, mult, shift)
	if planBias != nil {
		r[29] = 1
		r = append(r, planBias...)
	}
	return r
}

// handPlan is a 1x2x1 stage of three 1x1 convolutions in two one-pixel tiles: fm 1 (int8) is
// the checked map with [lo, hi] = [-128, 50], fm 2 is a 4-bit map (zero point 3) in the low
// branch, fm 3 the int8 output.
func handPlan() *planWords {
	col := func(c int32) [][4]int32 {
		return [][4]int32{{0, 1, c, c + 1}, {0, 1, c, c + 1}, {0, 1, c, c + 1}, {0, 1, c, c + 1}}
	}
	return &planWords{
		version: 2, checked: 1, lo: -128, hi: 50,
		fms: [][8]int32{{1, 2, 1, -1, 0, 8, 0, 0}, {1, 2, 1, 0, 0, 8, 0, 0}, {1, 2, 1, 8, 0, 4, 3, 0}, {1, 2, 1, -1, 0, 8, 0, 0}},
		layers: [][]int32{
			conv1x1(0, 1, 0, 0, -128, 127, 1, -1, 1<<30, 1, nil), // identity
			conv1x1(1, 2, 0, 0, -128, 127, 1, 2, 1<<30, 1, nil),  // identity + bias 0
			conv1x1(2, 3, 0, 0, -128, 127, 1, -1, 1<<30, 1, nil), // identity
		},
		low: [][]int32{
			// fm 1 (int8, zp 0) -> fm 2 (4-bit, zp 3, 4x the scale): (x + 2) / 4 + 3
			conv1x1(1, 2, 0, 3, 0, 15, 1, -1, 1<<30, -1, []int32{2}),
			// fm 2 -> fm 3 (int8, zp 0): (q - 3) * 4
			conv1x1(2, 3, -3, 0, -128, 127, 1, -1, 1<<30, 3, nil),
		},
		tiles: [][][4]int32{col(0), col(1)},
	}
}

// TestHandPlan runs the hand plan: tile 0 (code 10) takes the low branch, (10+2)/4 rounds
// to 3, plus the zero point 3 is code 6, back in int8 (6-3)*4 = 12; tile 1 (code 100 > 50)
// is an outlier tile and passes 100 through the int8 records.
func TestHandPlan(t *testing.T) {
	consts := [][]byte{nil, {1}, {0, 0, 0, 0}}
	p, err := Parse(handPlan().bytes())
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Run([]byte{10, 100}, consts)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{12, 100}; !bytes.Equal(res.Output, want) || res.OutlierTiles() != 1 || !res.Outlier[1] {
		t.Errorf("output %v, outliers %v; want %v, tile 1 only", res.Output, res.Outlier, want)
	}
	// fm 2's one-pixel 4-bit window at offset 8 ends at byte 9.
	if got := p.LowTouchedBytes(); got != 9 {
		t.Errorf("LowTouchedBytes = %d, want 9", got)
	}
	// lo > hi: every tile is an outlier tile and the stage is the int8 identity.
	hp := handPlan()
	hp.lo, hp.hi = 5, 4
	if p, err = Parse(hp.bytes()); err != nil {
		t.Fatal(err)
	}
	if res, err = p.Run([]byte{10, 100}, consts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Output, []byte{10, 100}) || res.OutlierTiles() != 2 {
		t.Errorf("empty range: output %v, %d outlier tiles; want [10 100], 2", res.Output, res.OutlierTiles())
	}
	// The 4-bit map clamps to its codes: 120 -> (122/4 = 30.5 -> 31) + 3 clamps to 15.
	hp = handPlan()
	hp.hi = 127
	if p, err = Parse(hp.bytes()); err != nil {
		t.Fatal(err)
	}
	if res, err = p.Run([]byte{10, 120}, consts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Output, []byte{12, 48}) || res.OutlierTiles() != 0 {
		t.Errorf("clamp: output %v, %d outlier tiles; want [12 48], 0", res.Output, res.OutlierTiles())
	}
}

// TestParseRefusesBrokenPlans: the parser rejects what PLAN.md rules out, with an error
// naming the problem, and survives every truncation and many random corruptions.
func TestParseRefusesBrokenPlans(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*planWords)
		want string
	}{
		{"version 3", func(p *planWords) { p.version = 3 }, "version 3"},
		{"checked map = output", func(p *planWords) { p.checked = 3 }, "checked feature map 3"},
		{"3-bit map", func(p *planWords) { p.fms[2][5] = 3 }, "low bits 3"},
		{"zero point beyond 4 bits", func(p *planWords) { p.fms[2][6] = 16 }, "low zero point 16"},
		{"per-channel granularity", func(p *planWords) { p.fms[2][7] = 1 }, "granularity"},
		{"low output map not int8", func(p *planWords) { p.fms[3][5] = 4 }, "feature map 3"},
		{"activation outside 4-bit codes", func(p *planWords) { p.low[0][16] = 16 }, "activation range"},
		{"wrong input offset", func(p *planWords) { p.low[1][13] = 0 }, "input offset 0"},
		{"wrong output offset", func(p *planWords) { p.low[0][14] = 2 }, "offsets"},
		{"missing plan bias", func(p *planWords) { p.low[0] = conv1x1(1, 2, 0, 3, 0, 15, 1, -1, 1<<30, -1, nil) }, "plan bias"},
		{"geometry differs", func(p *planWords) { p.low[0][6] = 2 }, "geometry"},
		{"reversed window", func(p *planWords) { p.tiles[0][1] = [4]int32{0, 1, 1, 0} }, "reversed"},
		{"buffer beyond scratch", func(p *planWords) { p.fms[2][3] = 64 }, "reach byte 65"},
		{"input map in scratch", func(p *planWords) { p.fms[0][3] = 0 }, "scratch offset 0"},
	} {
		pw := handPlan()
		c.edit(pw)
		_, err := Parse(pw.bytes())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	good := handPlan().bytes()
	for n := 0; n < len(good); n += 4 {
		if _, err := Parse(good[:n]); err == nil {
			t.Errorf("a plan truncated to %d bytes was accepted", n)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	consts := [][]byte{nil, {1}, {0, 0, 0, 0}}
	for range 20000 {
		b := append([]byte(nil), good...)
		for range 1 + rng.IntN(4) {
			b[rng.IntN(len(b))] = byte(rng.Uint32())
		}
		if p, err := Parse(b); err == nil {
			_, _ = p.Run([]byte{10, 100}, consts) // must not panic
		}
	}
}

// FuzzParse: the reference parser and executor never panic, whatever the plan bytes
// (`go test ./tests/internal/planref -run '^$' -fuzz FuzzParse`).
func FuzzParse(f *testing.F) {
	f.Add(handPlan().bytes(), []byte{10, 100})
	hp := handPlan()
	hp.lo, hp.hi = 5, 4
	f.Add(hp.bytes(), []byte{0, 0})
	f.Fuzz(func(t *testing.T, plan, input []byte) {
		p, err := Parse(plan)
		if err != nil {
			return
		}
		if m := p.Maps[0]; m.H*m.W*m.C > 1<<16 {
			return // keep runs short
		}
		_, _ = p.Run(input, [][]byte{nil, {1}, {0, 0, 0, 0}})
	})
}
