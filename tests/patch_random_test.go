package tests

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// randomStack builds a small random int8 CNN made only of tileable layers: convolutions
// (kernels 1/3/5/7, strides 1/2, SAME/VALID, dilation), depthwise convolutions, explicit PAD
// before VALID convolutions, residual blocks with ADD, and pools; per-channel weights, random
// fused activations and zero points. It returns the model and its layer count.
func randomStack(seed uint64) (*schema.ModelT, int, string) {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := builder.New(seed)
	h, w, c := 10+rng.IntN(20), 10+rng.IntN(20), 1+rng.IntN(4)
	x := b.Input("input", []int32{1, int32(h), int32(w), int32(c)},
		builder.Quant{Scale: 0.01 + 0.05*rng.Float32(), ZeroPoint: int64(rng.IntN(60) - 30)})
	acts := []schema.ActivationFunctionType{schema.ActivationFunctionTypeNONE, schema.ActivationFunctionTypeRELU, schema.ActivationFunctionTypeRELU6}
	pads := []schema.Padding{schema.PaddingSAME, schema.PaddingVALID}
	kernels := []int{1, 3, 5, 7}
	var desc []byte
	layers := 0
	n := 2 + rng.IntN(4)
	for range n {
		if len(x.Shape) != 4 {
			break // the builder recorded an error; Model reports it
		}
		hh, ww := int(x.Shape[1]), int(x.Shape[2])
		act := acts[rng.IntN(len(acts))]
		k := kernels[rng.IntN(len(kernels))]
		s := 1 + rng.IntN(2)
		pad := pads[rng.IntN(2)]
		if pad == schema.PaddingVALID && (hh < k || ww < k) {
			pad = schema.PaddingSAME
		}
		var out *builder.Quant
		if rng.IntN(3) == 0 {
			out = &builder.Quant{Scale: 0.02 + 0.1*rng.Float32(), ZeroPoint: int64(rng.IntN(100) - 50)}
		}
		switch rng.IntN(6) {
		case 0, 1:
			d := 1
			if k > 1 && rng.IntN(4) == 0 && hh > 2*k && ww > 2*k {
				d = 2
			}
			x = b.Conv2D(x, builder.Conv{OutChannels: 1 + rng.IntN(8), Kernel: k, Stride: s, Dilation: d, Padding: pad, Activation: act, Out: out})
			desc = fmt.Appendf(desc, "conv%dx%d/s%d/d%d/%v ", k, k, s, d, schema.EnumNamesPadding[pad])
			layers++
		case 2:
			x = b.DepthwiseConv2D(x, builder.Conv{Kernel: k, Stride: s, DepthMultiplier: 1 + rng.IntN(2), Padding: pad, Activation: act, Out: out})
			desc = fmt.Appendf(desc, "dw%dx%d/s%d/%v ", k, k, s, schema.EnumNamesPadding[pad])
			layers++
		case 3:
			t, bo, l, r := rng.IntN(3), rng.IntN(3), rng.IntN(3), rng.IntN(3)
			kk := min(k, 3)
			if hh+t+bo < kk {
				bo += kk
			}
			if ww+l+r < kk {
				r += kk
			}
			x = b.Pad("", x, t, bo, l, r)
			x = b.Conv2D(x, builder.Conv{OutChannels: 1 + rng.IntN(6), Kernel: kk, Stride: s, Padding: schema.PaddingVALID, Activation: act})
			desc = fmt.Appendf(desc, "pad(%d,%d,%d,%d)+conv%d/s%d/VALID ", t, bo, l, r, kk, s)
			layers += 2
		case 4:
			y := b.Conv2D(x, builder.Conv{OutChannels: int(x.Shape[3]), Kernel: 3, Padding: schema.PaddingSAME, Activation: schema.ActivationFunctionTypeRELU6})
			y = b.DepthwiseConv2D(y, builder.Conv{Kernel: k, Padding: schema.PaddingSAME})
			x = b.Add("", x, y, act)
			desc = fmt.Appendf(desc, "residual(conv3,dw%d)+add ", k)
			layers += 3
		case 5:
			f := 2 + rng.IntN(2)
			if hh < f || ww < f {
				continue
			}
			avg := rng.IntN(2) == 0
			x = b.Pool("", x, avg, f, 1+rng.IntN(2), pad)
			desc = fmt.Appendf(desc, "pool(avg=%v,%d)/%v ", avg, f, schema.EnumNamesPadding[pad])
			layers++
		}
	}
	b.Output(x)
	m, err := b.Model()
	if err != nil {
		return nil, 0, err.Error()
	}
	return m, layers, string(desc)
}

// TestRandomStacksPatchedEqualPerLayer is the MCUNetV2 invariant as a property: for random
// tileable stacks and every grid up to 4x4 (uneven included), the patch-based model computes
// exactly what per-layer execution computes.
func TestRandomStacksPatchedEqualPerLayer(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	checked := 0
	for seed := range uint64(seeds) {
		m, layers, desc := randomStack(seed)
		if m == nil {
			t.Fatalf("seed %d: builder: %s", seed, desc)
		}
		ref, err := interp.New(m, interp.WithThreads(1))
		if err != nil {
			t.Fatalf("seed %d (%s): %v", seed, desc, err)
		}
		rng := rand.New(rand.NewPCG(seed, 99))
		inputs := make([][]byte, 3)
		wants := make([][]byte, 3)
		for i := range inputs {
			inputs[i] = make([]byte, ref.Inputs()[0].Bytes)
			for j := range inputs[i] {
				inputs[i][j] = byte(rng.Uint32())
			}
			out, err := ref.Invoke(inputs[i])
			if err != nil {
				t.Fatal(err)
			}
			wants[i] = out[0]
		}
		outShape := ref.Outputs()[0].Shape
		for rows := 1; rows <= min(4, int(outShape[1])); rows++ {
			for cols := 1; cols <= min(4, int(outShape[2])); cols++ {
				opts := rewrite.Options{Patches: fmt.Sprintf("%dx%d", rows, cols), Split: layers}
				res, err := rewrite.Optimize(context.Background(), m, opts, nil)
				if err != nil {
					t.Fatalf("seed %d (%s) grid %s: %v", seed, desc, opts.Patches, err)
				}
				data, err := tflite.Serialize(res.Model)
				if err != nil {
					t.Fatal(err)
				}
				pm, err := tflite.Parse(data, "patched")
				if err != nil {
					t.Fatal(err)
				}
				if n := patchStageOps(pm); n != 1 || len(pm.Subgraphs[0].Operators) >= len(m.Subgraphs[0].Operators) {
					t.Fatalf("rewritten model has %d QMCU_PATCH_STAGE ops and %d operators (original %d)", n, len(pm.Subgraphs[0].Operators), len(m.Subgraphs[0].Operators))
				}
				it, err := interp.New(pm, interp.WithThreads(1))
				if err != nil {
					t.Fatalf("seed %d (%s) grid %s: %v", seed, desc, opts.Patches, err)
				}
				for i, in := range inputs {
					got, err := it.Invoke(in)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got[0], wants[i]) {
						t.Fatalf("seed %d (%s) grid %s input %d: patch-based output differs from per-layer", seed, desc, opts.Patches, i)
					}
				}
				checked++
			}
		}
	}
	t.Logf("%d (model, grid) pairs bit-exact", checked)
}
