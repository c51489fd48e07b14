package interp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkInvoke runs each real model of the golden index on its first input, once with
// one thread (comparable to TFLM's single-core reference timings) and once with the default.
func BenchmarkInvoke(b *testing.B) {
	cases := loadIndex(b)
	done := map[string]bool{}
	for _, gc := range cases {
		if done[gc.model] {
			continue
		}
		done[gc.model] = true
		m := loadModel(b, gc.model)
		in, err := os.ReadFile(filepath.Join(sharedData, gc.input))
		if err != nil {
			b.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(gc.model), ".tflite")
		for _, cfg := range []struct {
			suffix string
			opts   []Option
		}{{"/threads=1", []Option{WithThreads(1)}}, {"/threads=default", nil}} {
			b.Run(name+cfg.suffix, func(b *testing.B) {
				it, err := New(m, cfg.opts...)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				cpu0 := processCPU()
				for b.Loop() {
					if _, err := it.Invoke(in); err != nil {
						b.Fatal(err)
					}
				}
				// CPU time per inference: robust against other processes sharing the machine.
				if cpu := processCPU() - cpu0; cpu > 0 {
					b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
				}
			})
		}
	}
}
