package tfmicroops

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// grids lists the tile grids tried on every stage (clipped to the output size).
var grids = [][2]int{{1, 1}, {2, 2}, {3, 3}, {1, 3}, {2, 5}, {4, 4}}

// checkStage runs the stage through the C patch loop for every grid and compares with the
// whole-map reference, byte for byte.
func checkStage(t *testing.T, name string, s *tStage) {
	t.Helper()
	nhwc, opIn := s.randomInput()
	want := s.reference(nhwc)
	out := s.fms[s.last()]
	for _, g := range grids {
		rows, cols := min(g[0], out.h), min(g[1], out.w)
		plan, consts := s.plan(rows, cols)
		p, err := Parse(plan)
		if err != nil {
			t.Fatalf("%s grid %dx%d: %v", name, rows, cols, err)
		}
		if p.NumTiles() != rows*cols || p.NumInputs() != len(consts) {
			t.Fatalf("%s: %d tiles, %d inputs; want %d, %d", name, p.NumTiles(), p.NumInputs(), rows*cols, len(consts))
		}
		got := bytes.Repeat([]byte{0x5a}, len(want)) // every byte must be overwritten
		scratch := make([]byte, p.ScratchBytes())
		if _, err := p.Eval(opIn, consts, got, scratch); err != nil {
			t.Fatalf("%s grid %dx%d: %v", name, rows, cols, err)
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("%s grid %dx%d: output byte %d = %d, reference %d", name, rows, cols, i, int8(got[i]), int8(want[i]))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func TestStacks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name  string
		build func(s *tStage)
	}{
		{"conv3x3 s1 SAME", func(s *tStage) { s.conv(s.conv(0, 3, 1, true, 8), 3, 1, true, 5) }},
		{"conv3x3 s2 SAME", func(s *tStage) { s.conv(s.conv(0, 3, 2, true, 6), 3, 2, true, 4) }},
		{"conv3x3 VALID", func(s *tStage) { s.conv(s.conv(0, 3, 1, false, 6), 3, 2, false, 4) }},
		{"conv5x5 s2 SAME + 1x1", func(s *tStage) { s.conv(s.conv(0, 5, 2, true, 6), 1, 1, true, 7) }},
		{"dilated conv", func(s *tStage) { s.convLike(s.convLike(0, false, 3, 1, 2, true, 4, 1), true, 3, 1, 3, true, 0, 1) }},
		{"mobilenet block", func(s *tStage) {
			x := s.conv(0, 3, 2, true, 8)
			x = s.depthwise(x, 3, 1, true, 1)
			x = s.conv(x, 1, 1, true, 4)
			x = s.conv(x, 1, 1, true, 12)
			x = s.depthwise(x, 3, 2, true, 1)
			s.conv(x, 1, 1, true, 6)
		}},
		{"depthwise multiplier 2", func(s *tStage) { s.depthwise(s.depthwise(0, 3, 1, true, 2), 5, 2, true, 1) }},
		{"residual add", func(s *tStage) {
			x := s.conv(0, 3, 1, true, 6)
			y := s.conv(x, 1, 1, true, 12)
			y = s.depthwise(y, 3, 1, true, 1)
			y = s.conv(y, 1, 1, true, 6)
			x = s.add(x, y)
			s.conv(x, 3, 2, true, 4)
		}},
		{"explicit pad + VALID", func(s *tStage) {
			x := s.pad(0, 1, 2, 0, 1)
			x = s.conv(x, 3, 2, false, 6)
			x = s.pad(x, 1, 1, 1, 1)
			s.depthwise(x, 3, 1, false, 1)
		}},
		{"pools", func(s *tStage) {
			x := s.conv(0, 3, 1, true, 6)
			x = s.pool(MaxPool2D, x, 3, 2, true)
			x = s.pool(AveragePool2D, x, 3, 1, true)
			x = s.pool(AveragePool2D, x, 2, 2, false)
			s.pool(MaxPool2D, x, 2, 1, false)
		}},
		{"conv7x7 s2 + maxpool", func(s *tStage) { s.pool(MaxPool2D, s.conv(0, 7, 2, true, 5), 3, 2, true) }},
	}
	for _, tc := range cases {
		for _, nchw := range []bool{false, true} {
			s := newStage(rng, 17, 14, 3)
			s.nchw = nchw
			tc.build(s)
			checkStage(t, fmt.Sprintf("%s nchw=%v", tc.name, nchw), s)
		}
	}
}

// randomStage builds a random small stack: convolutions (1/3/5/7, strides 1/2, SAME/VALID),
// depthwise, explicit PAD, residual ADD, pools, per-channel quantization.
func randomStage(rng *rand.Rand) *tStage {
	s := newStage(rng, 4+rng.IntN(20), 4+rng.IntN(20), 1+rng.IntN(5))
	s.nchw = rng.IntN(3) == 0
	for n := 1 + rng.IntN(6); n > 0; n-- {
		x := s.last()
		k, stride, same := []int{1, 3, 5, 7}[rng.IntN(4)], 1+rng.IntN(2), rng.IntN(3) != 0
		switch rng.IntN(7) {
		case 0, 1:
			s.conv(x, k, stride, same, 1+rng.IntN(8))
		case 2:
			s.depthwise(x, k, stride, same, 1+rng.IntN(2))
		case 3:
			s.pad(x, rng.IntN(3), rng.IntN(3), rng.IntN(3), rng.IntN(3))
		case 4:
			if y := s.conv(x, k, 1, true, s.fms[x].c); y > 0 {
				s.add(x, y)
			}
		case 5:
			s.pool([]Kind{MaxPool2D, AveragePool2D}[rng.IntN(2)], x, 2+rng.IntN(2), stride, same)
		case 6:
			s.convLike(x, false, 3, 1, 2, same, 1+rng.IntN(4), 1)
		}
	}
	if len(s.layers) == 0 {
		s.conv(0, 1, 1, true, 2)
	}
	return s
}

func TestRandomStacks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	n := 300
	if testing.Short() {
		n = 40
	}
	for i := range n {
		s := randomStage(rng)
		checkStage(t, fmt.Sprintf("random stage %d", i), s)
	}
}

func TestMultiplyByQuantizedMultiplier(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	edge := []int32{0, 1, -1, 2, -2, 1 << 30, -(1 << 30), math.MaxInt32, math.MinInt32, 12345, -12345}
	for i := range 200000 {
		var x, m, s int32
		if i < len(edge)*len(edge) {
			x, m = edge[i%len(edge)], edge[i/len(edge)]
			if m < 0 {
				m = -m
			}
			if m < 0 { // MinInt32
				m = math.MaxInt32
			}
		} else {
			x, m = int32(rng.Uint32()), int32(rng.Uint32()>>1)
		}
		s = int32(rng.IntN(40) - 31)
		if s > 0 { // keep x << s meaningful (TFLite would overflow); the C code wraps like hardware
			x >>= s
		}
		if got, want := multiplyByQuantizedMultiplier(x, m, s), refMBQM(x, m, s); got != want {
			t.Fatalf("MBQM(%d, %d, %d) = %d, want %d", x, m, s, got, want)
		}
	}
	// Rounding of a right shift: half away from zero.
	for _, c := range [][4]int32{{3, 1 << 30, -1, 1}, {-3, 1 << 30, -1, -1}, {5, 1 << 30, -2, 1}, {-6, 1 << 30, -2, -1}, {-10, 1 << 30, -2, -1}, {-14, 1 << 30, -2, -2}} {
		if got := multiplyByQuantizedMultiplier(c[0], c[1], c[2]); got != c[3] {
			t.Errorf("MBQM(%d, 2^30, %d) = %d, want %d", c[0], c[2], got, c[3])
		}
	}
}

func samplePlan(t testing.TB) (*tStage, []byte, [][]byte) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := newStage(rng, 9, 8, 3)
	x := s.conv(0, 3, 2, true, 4)
	y := s.depthwise(x, 3, 1, true, 1)
	s.pool(AveragePool2D, s.add(x, y), 2, 1, true)
	plan, consts := s.plan(2, 2)
	return s, plan, consts
}

func words(b []byte) []int32 {
	w := make([]int32, len(b)/4)
	for i := range w {
		w[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return w
}

func encode(w []int32) []byte {
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return b
}

func TestParseAccessors(t *testing.T) {
	s, plan, _ := samplePlan(t)
	p, err := Parse(plan)
	if err != nil {
		t.Fatal(err)
	}
	if p.Layout() != NHWC || len(p.FeatureMaps()) != 5 || len(p.Layers()) != 4 {
		t.Fatalf("layout %d, %d fms, %d layers", p.Layout(), len(p.FeatureMaps()), len(p.Layers()))
	}
	if l := p.Layers()[2]; l.Kind != Add || l.In != 1 || l.In2 != 2 || l.Out != 3 || l.Kind.String() != "ADD" {
		t.Fatalf("layer 2 = %+v", l)
	}
	// Inputs: stage input, conv weights+bias?, depthwise weights+bias?
	in0, _ := p.Input(0)
	if in0.Type != Int8 || in0.Bytes != 9*8*3 {
		t.Fatalf("input 0 = %+v", in0)
	}
	w1, _ := p.Input(1)
	if w1.Type != Int8 || w1.Bytes != 4*3*3*3 {
		t.Fatalf("input 1 = %+v", w1)
	}
	if _, err := p.Input(p.NumInputs()); err == nil {
		t.Fatal("Input out of range accepted")
	}
	r0, r1, c0, c1, err := p.Window(3, 4)
	out := s.fms[4]
	if err != nil || r1 != out.h || c1 != out.w || r0 == 0 || c0 == 0 {
		t.Fatalf("last tile output window = [%d,%d)x[%d,%d) %v", r0, r1, c0, c1, err)
	}
}

func TestParseRejects(t *testing.T) {
	_, plan, _ := samplePlan(t)
	base := words(plan)
	nf := int(base[3])
	layer0 := 16 + 8*nf
	tiles := len(base) - int(base[5])*nf*4
	win := func(tile, f int) int { return tiles + (tile*nf+f)*4 }
	cases := []struct {
		name, want string
		err        error
		edit       func(w []int32) []int32
	}{
		{"empty", "whole number", ErrFormat, func(w []int32) []int32 { return nil }},
		{"short", "shorter than the header", ErrFormat, func(w []int32) []int32 { return w[:5] }},
		{"magic", "bad magic", ErrFormat, func(w []int32) []int32 { w[0]++; return w }},
		{"version", "version 3", ErrFormat, func(w []int32) []int32 { w[1] = 3; return w }},
		{"v2 low words", "stays int8 in both branches", ErrPlan, func(w []int32) []int32 { w[1] = 2; return w }},
		{"word count", "header says", ErrFormat, func(w []int32) []int32 { return w[:len(w)-1] }},
		{"layers", "feature maps for", ErrPlan, func(w []int32) []int32 { w[4]--; return w }},
		{"too many layers", "limit 64", ErrLimit, func(w []int32) []int32 { w[4], w[3] = 65, 66; return w }},
		{"tiles", "tile windows", ErrFormat, func(w []int32) []int32 { w[5]--; return w }},
		{"layout", "layout", ErrPlan, func(w []int32) []int32 { w[7] = 2; return w }},
		{"reserved", "reserved header word", ErrPlan, func(w []int32) []int32 { w[12] = 1; return w }},
		{"fm size", "outside 1..", ErrPlan, func(w []int32) []int32 { w[16+8] = 0; return w }},
		{"fm scratch", "without a scratch offset", ErrPlan, func(w []int32) []int32 { w[16+8+3] = -1; return w }},
		{"fm zero point", "zero point", ErrPlan, func(w []int32) []int32 { w[16+4] = 300; return w }},
		{"kind", "unknown kind", ErrPlan, func(w []int32) []int32 { w[layer0] = 9; return w }},
		{"output fm", "output fm", ErrPlan, func(w []int32) []int32 { w[layer0+3] = 2; return w }},
		{"input fm", "not computed before", ErrPlan, func(w []int32) []int32 { w[layer0+1] = 1; return w }},
		{"stride", "kernel/stride/dilation", ErrPlan, func(w []int32) []int32 { w[layer0+6] = 0; return w }},
		{"activation", "activation range", ErrPlan, func(w []int32) []int32 { w[layer0+15] = 100; w[layer0+16] = 50; return w }},
		{"weights", "weights input", ErrPlan, func(w []int32) []int32 { w[layer0+17] = -1; return w }},
		{"channels", "truncated in the per-channel", ErrFormat, func(w []int32) []int32 { w[layer0+28] = 1 << 28; return w }},
		{"shift", "shift", ErrPlan, func(w []int32) []int32 { w[layer0+32+4] = 40; return w }},
		{"multiplier", "negative", ErrPlan, func(w []int32) []int32 { w[layer0+32] = -5; return w }},
		{"window outside map", "outside the", ErrPlan, func(w []int32) []int32 { w[win(0, 1)+1] = 99; return w }},
		{"window misses input", "outside the input window", ErrPlan, func(w []int32) []int32 { w[win(3, 0)]++; return w }},
		{"scratch", "does not fit", ErrPlan, func(w []int32) []int32 { w[6] = 1; return w }},
		{"overlap", "overlaps the live buffer", ErrPlan, func(w []int32) []int32 { w[16+8*2+3] = w[16+8+3]; return w }},
		{"output overlap", "output windows overlap", ErrPlan, func(w []int32) []int32 { copy(w[win(1, 0):win(2, 0)], w[win(0, 0):win(1, 0)]); return w }},
		{"output cover", "do not cover", ErrPlan, func(w []int32) []int32 { w[win(1, nf-1)+2]++; return w }},
	}
	for _, tc := range cases {
		w := tc.edit(append([]int32(nil), base...))
		_, err := Parse(encode(w))
		if err == nil || !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %v containing %q", tc.name, err, tc.err, tc.want)
		}
	}
}

func TestEvalRejects(t *testing.T) {
	s, plan, consts := samplePlan(t)
	p, err := Parse(plan)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]byte, s.fms[0].h*s.fms[0].w*s.fms[0].c)
	out := make([]byte, p.FeatureMaps()[4].Bytes())
	scratch := make([]byte, p.ScratchBytes())
	if _, err := p.Eval(in, consts, out, scratch); err != nil {
		t.Fatal(err)
	}
	short := append([][]byte(nil), consts...)
	short[1] = short[1][1:]
	evalErr := func(in []byte, consts [][]byte, out, scratch []byte) error {
		_, err := p.Eval(in, consts, out, scratch)
		return err
	}
	for name, err := range map[string]error{
		"input":   evalErr(in[1:], consts, out, scratch),
		"output":  evalErr(in, consts, out[:len(out)-1], scratch),
		"scratch": evalErr(in, consts, out, scratch[1:]),
		"consts":  evalErr(in, consts[:2], out, scratch),
		"weights": evalErr(in, short, out, scratch),
	} {
		if !errors.Is(err, ErrTensor) {
			t.Errorf("%s: err = %v, want ErrTensor", name, err)
		}
	}
	// Overlapping input and output only run in tile order, on one worker.
	st, err := p.Bind(consts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	buf := make([]byte, len(in)+len(out))
	if _, err := st.Run(buf[:len(in)], buf[len(in)-1:len(in)-1+len(out)], [][]byte{scratch, bytes.Clone(scratch)}); !errors.Is(err, ErrTensor) {
		t.Errorf("overlapping input and output on two workers: err = %v, want ErrTensor", err)
	}
}

// TestHostileWords changes each word of valid plans to hostile values: Parse must refuse or
// accept cleanly, and an accepted plan must evaluate without touching memory it does not own
// (run with -asan).
func TestHostileWords(t *testing.T) {
	_, plan, _ := samplePlan(t)
	rng := rand.New(rand.NewPCG(9, 9))
	plans := [][]byte{plan}
	for range 3 {
		s := randomStage(rng)
		p, _ := s.plan(2, 2)
		plans = append(plans, p)
	}
	values := []int32{0, 1, -1, 2, 3, 7, 1 << 15, math.MaxInt32, math.MinInt32, -2}
	for _, pl := range plans {
		base := words(pl)
		for i := range base {
			for _, v := range values {
				w := append([]int32(nil), base...)
				w[i] = v
				tryPlan(t, encode(w), 1<<16)
				w[i] = base[i] + v
				tryPlan(t, encode(w), 1<<16)
			}
		}
	}
}

// tryPlan parses b and, when valid and cheap (cost <= maxCost), evaluates it on patterned buffers of the right
// sizes: that must succeed.
func tryPlan(t testing.TB, b []byte, maxCost int64) {
	p, err := Parse(b)
	if err != nil {
		if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrPlan) && !errors.Is(err, ErrLimit) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		return
	}
	if cost(b) > maxCost {
		return
	}
	fms := p.FeatureMaps()
	consts := make([][]byte, p.NumInputs())
	for i := 1; i < len(consts); i++ {
		spec, _ := p.Input(i)
		consts[i] = bytes.Repeat([]byte{0x81, 0x7f, 3}, spec.Bytes/3+1)[:spec.Bytes]
	}
	spec, _ := p.Input(0) // int8, or float32 before a QUANTIZE
	in := bytes.Repeat([]byte{0x80, 0x7f, 0x11}, spec.Bytes/3+1)[:spec.Bytes]
	out := make([]byte, fms[len(fms)-1].Bytes())
	if _, err := p.Eval(in, consts, out, make([]byte, p.ScratchBytes())); err != nil {
		t.Fatalf("valid plan failed: %v", err)
	}
}

// cost bounds the work of evaluating a valid plan: tiles x sum over layers of output map bytes
// x kernel taps (x input channels for CONV_2D).
func cost(b []byte) int64 {
	w := words(b)
	nf, nl, nt := int(w[3]), int(w[4]), int64(w[5])
	fm := func(f int) []int32 { return w[16+8*f:] }
	var sum int64
	pos := 16 + 8*nf
	for range nl {
		k := max(int64(w[pos+4])*int64(w[pos+5]), 1)
		if w[pos] == int32(Conv2D) {
			k *= int64(fm(int(w[pos+1]))[2])
		}
		out := fm(int(w[pos+3]))
		sum += int64(out[0]) * int64(out[1]) * int64(out[2]) * k
		pos += 32 + 2*int(w[pos+28])
	}
	return nt * sum
}
