package mcuprof

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// randomCNN builds a small random int8 CNN exercising the DSP loops' cases: 1x1 and kxk
// convolutions (strided, dilated, SAME and VALID, channel counts that are and are not
// multiples of four, im2col rows beyond the portable limit), depthwise convolutions with depth
// multipliers 1, 2, 4 and 8, ADD, PAD and both pools.
func randomCNN(seed uint64) (*schema.ModelT, []byte, error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := builder.New(seed)
	h, w := 14+rng.IntN(8), 14+rng.IntN(8)
	c := []int{1, 3, 4, 8}[rng.IntN(4)]
	x := b.Input("input", []int32{1, int32(h), int32(w), int32(c)}, builder.Quant{Scale: 0.02, ZeroPoint: int64(rng.IntN(40) - 20)})
	input := make([]byte, h*w*c)
	for i := range input {
		input[i] = byte(rng.IntN(256))
	}
	acts := []schema.ActivationFunctionType{schema.ActivationFunctionTypeNONE, schema.ActivationFunctionTypeRELU, schema.ActivationFunctionTypeRELU6}
	act := func() schema.ActivationFunctionType { return acts[rng.IntN(3)] }
	// stride halves the map while it stays large; VALID only where the map is large enough.
	stride := func() int {
		if min(h, w) >= 12 && rng.IntN(2) == 0 {
			return 2
		}
		return 1
	}
	pad := func(k int) schema.Padding {
		if min(h, w) >= 2*k+4 && rng.IntN(3) == 0 {
			return schema.PaddingVALID
		}
		return schema.PaddingSAME
	}
	shape := func(k, st, dil int, p schema.Padding) {
		if p == schema.PaddingVALID {
			h, w = h-dil*(k-1), w-dil*(k-1)
		}
		h, w = (h+st-1)/st, (w+st-1)/st
	}
	st := stride()
	k := []int{3, 5}[rng.IntN(2)]
	c = 4 + rng.IntN(13)
	x = b.Conv2D(x, builder.Conv{OutChannels: c, Kernel: k, Stride: st, Padding: schema.PaddingSAME, Activation: act()})
	shape(k, st, 1, schema.PaddingSAME)
	for range 4 + rng.IntN(4) {
		switch rng.IntN(6) {
		case 0, 1:
			k, st, dil, dm := []int{3, 3, 5}[rng.IntN(3)], stride(), 1+rng.IntN(2)*rng.IntN(2), 1
			if c <= 16 {
				dm = []int{1, 1, 2, 4, 8}[rng.IntN(5)]
			}
			p := pad(k * dil)
			x = b.DepthwiseConv2D(x, builder.Conv{Kernel: k, Stride: st, Dilation: dil, DepthMultiplier: dm, Padding: p, Activation: act()})
			shape(k, st, dil, p)
			c *= dm
		case 2:
			y := b.Conv2D(x, builder.Conv{OutChannels: 3 + rng.IntN(30), Kernel: 1, Activation: act()})
			y = b.DepthwiseConv2D(y, builder.Conv{Kernel: 3, Padding: schema.PaddingSAME, Activation: act()})
			x = b.Add("", x, b.Conv2D(y, builder.Conv{OutChannels: c, Kernel: 1}), acts[rng.IntN(2)])
		case 3:
			p := pad(3)
			c = 2 + rng.IntN(70)
			x = b.Conv2D(x, builder.Conv{OutChannels: c, Kernel: 3, Padding: p, Activation: act()})
			shape(3, 1, 1, p)
		case 4:
			t, bo, l, r := rng.IntN(2), rng.IntN(2), rng.IntN(2), rng.IntN(2)
			x = b.Pad("", x, t, bo, l, r)
			h, w = h+t+bo, w+l+r
			k, st := 2+rng.IntN(2), stride()
			p := pad(k)
			x = b.Pool("", x, rng.IntN(2) == 0, k, st, p)
			shape(k, st, 1, p)
		default:
			c = 1 + rng.IntN(40)
			x = b.Conv2D(x, builder.Conv{OutChannels: c, Kernel: 1, Activation: act()})
		}
	}
	b.Output(x)
	m, err := b.Model()
	return m, input, err
}

// TestDSPEqualsPortable runs patch stages of random CNNs (int8, and with 4- and 2-bit low
// branches) on the emulated Cortex-M4 and M7: the DSP loops and the portable loops must both
// produce the host's output byte for byte.
func TestDSPEqualsPortable(t *testing.T) {
	tl, plugin := tools(t)
	n := 24
	if testing.Short() {
		n = 6
	}
	ran := 0
	for seed := uint64(1); ran < n && seed < uint64(4*n); seed++ {
		m, input, err := randomCNN(seed)
		if err != nil {
			t.Logf("seed %d: %v", seed, err)
			continue
		}
		// The whole network in the stage (a model this small gains no memory from patches, so
		// the automatic choice would leave it alone).
		opts := rewrite.Options{Patches: []string{"2x2", "3x3", "3x2"}[seed%3], Split: len(m.Subgraphs[0].Operators),
			Bits: []int{0, 0, 4, 2}[seed%4]}
		res, err := rewrite.Optimize(context.Background(), m, opts, nil)
		if err != nil {
			t.Logf("seed %d: %v", seed, err)
			continue
		}
		s, err := StageFromModel(res.Model, input)
		if err != nil {
			t.Logf("seed %d: %v", seed, err)
			continue
		}
		target := Targets[[]string{"cortex-m4", "cortex-m7"}[seed%2]]
		opt := []string{"-O2", "-Os"}[seed/2%2]
		t.Run(fmt.Sprintf("seed%d_%s_%s_bits%d", seed, target.Name, opt, opts.Bits), func(t *testing.T) {
			me, err := tl.Measure(context.Background(), plugin, t.TempDir(), s, target, Build{Opt: opt})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d layers: portable %d, default %d instructions", len(s.Parsed().Layers()), me.Portable.Insns, me.Default.Insns)
		})
		ran++
	}
	if ran < n {
		t.Fatalf("only %d of %d random models had a patch stage", ran, n)
	}
}

// lowBitCNN is a fixed small CNN whose low branch reaches every packed path of the DSP loops:
// 4-bit and 2-bit inputs of kxk and 1x1 convolutions with channel counts that fill whole words
// (16, 32) or leave a last half word (12 at 4 bits, 24 at 2 bits), depthwise convolutions
// reading whole groups and leftover channels (strided, dilated, SAME and VALID), ADD of
// packed maps, and odd output channel counts.
func lowBitCNN(seed uint64) (*schema.ModelT, []byte, error) {
	rng := rand.New(rand.NewPCG(seed, 11))
	b := builder.New(seed)
	x := b.Input("input", []int32{1, 20, 20, 3}, builder.Quant{Scale: 0.02, ZeroPoint: -3})
	input := make([]byte, 20*20*3)
	for i := range input {
		input[i] = byte(rng.IntN(256))
	}
	relu := schema.ActivationFunctionTypeRELU
	x = b.Conv2D(x, builder.Conv{OutChannels: 16, Kernel: 3, Stride: 2, Padding: schema.PaddingSAME, Activation: relu})
	x = b.DepthwiseConv2D(x, builder.Conv{Kernel: 3, Padding: schema.PaddingSAME, Activation: relu})
	x = b.Conv2D(x, builder.Conv{OutChannels: 24, Kernel: 1, Activation: relu})
	x = b.DepthwiseConv2D(x, builder.Conv{Kernel: 3, Dilation: 2, Padding: schema.PaddingSAME, Activation: relu})
	y := b.Conv2D(x, builder.Conv{OutChannels: 12, Kernel: 1})
	y = b.Conv2D(y, builder.Conv{OutChannels: 12, Kernel: 3, Padding: schema.PaddingSAME, Activation: relu})
	y = b.DepthwiseConv2D(y, builder.Conv{Kernel: 3, Padding: schema.PaddingSAME, Activation: relu})
	y = b.Conv2D(y, builder.Conv{OutChannels: 24, Kernel: 1})
	x = b.Add("", x, y, relu)
	x = b.Conv2D(x, builder.Conv{OutChannels: 32, Kernel: 1, Activation: relu})
	x = b.DepthwiseConv2D(x, builder.Conv{Kernel: 3, Stride: 2, Padding: schema.PaddingVALID, Activation: relu})
	x = b.Conv2D(x, builder.Conv{OutChannels: 7, Kernel: 3, Padding: schema.PaddingSAME})
	b.Output(x)
	m, err := b.Model()
	return m, input, err
}

// wideCNN has pointwise convolutions reading more channels than an im2col row of the DSP loops
// holds (584 > 576, strided and not), which read their inputs in place.
func wideCNN(seed uint64) (*schema.ModelT, []byte, error) {
	rng := rand.New(rand.NewPCG(seed, 13))
	b := builder.New(seed)
	x := b.Input("input", []int32{1, 12, 12, 3}, builder.Quant{Scale: 0.02, ZeroPoint: 5})
	input := make([]byte, 12*12*3)
	for i := range input {
		input[i] = byte(rng.IntN(256))
	}
	x = b.Conv2D(x, builder.Conv{OutChannels: 8, Kernel: 3, Padding: schema.PaddingSAME, Activation: schema.ActivationFunctionTypeRELU})
	x = b.Conv2D(x, builder.Conv{OutChannels: 584, Kernel: 1, Activation: schema.ActivationFunctionTypeRELU6})
	x = b.Conv2D(x, builder.Conv{OutChannels: 20, Kernel: 1})
	x = b.Conv2D(x, builder.Conv{OutChannels: 584, Kernel: 1, Activation: schema.ActivationFunctionTypeRELU})
	x = b.Conv2D(x, builder.Conv{OutChannels: 13, Kernel: 1, Stride: 2})
	b.Output(x)
	m, err := b.Model()
	return m, input, err
}

// TestDSPWideEqualsPortable runs wideCNN's patch stage on the emulated Cortex-M4 at -O2 and
// -Os: DSP and portable loops must both produce the host's output.
func TestDSPWideEqualsPortable(t *testing.T) {
	tl, plugin := tools(t)
	for _, opt := range []string{"-O2", "-Os"} {
		m, input, err := wideCNN(3)
		if err != nil {
			t.Fatal(err)
		}
		res, err := rewrite.Optimize(context.Background(), m, rewrite.Options{Patches: "2x2", Split: len(m.Subgraphs[0].Operators)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := StageFromModel(res.Model, input)
		if err != nil {
			t.Fatal(err)
		}
		me, err := tl.Measure(context.Background(), plugin, t.TempDir(), s, Targets["cortex-m4"], Build{Opt: opt})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: portable %d, default %d instructions", opt, me.Portable.Insns, me.Default.Insns)
	}
}

// TestDSPLowBitEqualsPortable runs lowBitCNN's patch stage with 4-bit and 2-bit low branches
// on the emulated Cortex-M4 at -O2 and -Os: the DSP loops and the portable loops must both
// produce the host's output byte for byte.
func TestDSPLowBitEqualsPortable(t *testing.T) {
	tl, plugin := tools(t)
	for _, bits := range []int{4, 2} {
		for _, opt := range []string{"-O2", "-Os"} {
			t.Run(fmt.Sprintf("bits%d_%s", bits, opt), func(t *testing.T) {
				m, input, err := lowBitCNN(uint64(bits))
				if err != nil {
					t.Fatal(err)
				}
				res, err := rewrite.Optimize(context.Background(), m, rewrite.Options{Patches: "3x3", Split: len(m.Subgraphs[0].Operators), Bits: bits}, nil)
				if err != nil {
					t.Fatal(err)
				}
				s, err := StageFromModel(res.Model, input)
				if err != nil {
					t.Fatal(err)
				}
				if s.Parsed().Checked() <= 0 {
					t.Fatal("the stage has no low branch")
				}
				me, err := tl.Measure(context.Background(), plugin, t.TempDir(), s, Targets["cortex-m4"], Build{Opt: opt})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%d layers: portable %d, default %d instructions", len(s.Parsed().Layers()), me.Portable.Insns, me.Default.Insns)
			})
		}
	}
}
