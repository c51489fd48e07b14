package tfmicroops

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkPatchStage runs a MobileNet-like stage (96x96x3 input, 3x3 grid) through the C patch
// loop, its constants bound once, and reports multiply-accumulates per second.
func BenchmarkPatchStage(b *testing.B) {
	for _, bc := range []struct {
		name string
		nchw bool
	}{{"nhwc", false}, {"nchw", true}} {
		b.Run(bc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			s := newStage(rng, 96, 96, 3)
			s.nchw = bc.nchw
			x := s.conv(0, 3, 2, true, 16)
			x = s.depthwise(x, 3, 1, true, 1)
			x = s.conv(x, 1, 1, true, 32)
			x = s.depthwise(x, 3, 2, true, 1)
			s.conv(x, 1, 1, true, 32)
			plan, consts := s.plan(3, 3)
			p, err := Parse(plan)
			if err != nil {
				b.Fatal(err)
			}
			_, in := s.randomInput()
			out := make([]byte, p.FeatureMaps()[len(s.fms)-1].Bytes())
			stage, err := p.Bind(consts)
			if err != nil {
				b.Fatal(err)
			}
			scratch := [][]byte{make([]byte, p.ScratchBytes())}
			macs := 48*48*16*27 + 48*48*16*9 + 48*48*32*16 + 24*24*32*9 + 24*24*32*32
			b.ResetTimer()
			for range b.N {
				if _, err := stage.Run(in, out, scratch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(macs)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MMAC/s")
		})
	}
}
