package tests

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/quantmcu/quantmcu/internal/shareddata"
	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// BenchmarkPatchedMobileNetV2 times one inference of mobilenet_v2 (torchvision, 224x224) on
// the host: the original model, the rewritten one with the int8 patch stage, and with a
// uniform 4-bit low branch (--bits 4), single-threaded and on all cores. Compare the ns/op
// of one run (issue 8: rewritten single-threaded within 1.5x of the original; all cores
// faster than the original single-threaded).
func BenchmarkPatchedMobileNetV2(b *testing.B) {
	d := sharedData(b)
	path := filepath.Join(d, "models", "mobilenet_v2_quantized_1x3x224x224.tflite")
	m, err := tflite.Load(path)
	if err != nil {
		shareddata.Skip(b, "%s: %v", path, err)
	}
	input, err := os.ReadFile(filepath.Join(d, "inputs", "mbv2pt_n02123045_tabby_1x3x224x224_int8.raw"))
	if err != nil {
		shareddata.Skip(b, "%v", err)
	}
	models := []struct {
		name string
		opts *rewrite.Options
	}{{"original", nil}, {"patched-int8", &rewrite.Options{}}, {"patched-bits4", &rewrite.Options{Bits: 4}}}
	for _, mc := range models {
		model := m
		if mc.opts != nil {
			res, err := rewrite.Optimize(context.Background(), m, *mc.opts, nil)
			if err != nil {
				b.Fatal(err)
			}
			model = reparse(b, res.Model)
		}
		for _, threads := range []int{1, runtime.NumCPU()} {
			b.Run(mc.name+"/threads="+strconv.Itoa(threads), func(b *testing.B) {
				it, err := interp.New(model, interp.WithThreads(threads))
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := it.Invoke(input); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// reparse serializes and parses a model, as a user's file would be read.
func reparse(tb testing.TB, m *schema.ModelT) *schema.ModelT {
	tb.Helper()
	data, err := tflite.Serialize(m)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := tflite.Parse(data, "rewritten")
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
