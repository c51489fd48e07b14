package tflite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
)

// FuzzParse feeds arbitrary bytes to Parse: it must return a model or an error, never panic
// or hang, and a model it accepts must serialize and parse again. Seeds: every real and
// negative model in ../shared/data (when present) plus the regression corpus in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, sub := range []string{"", "negative"} {
		files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "data", "models", sub, "*.tflite"))
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err == nil && len(data) <= 1<<20 { // keep the fuzzing corpus fast
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := tflite.Parse(data, "fuzz.tflite")
		if err != nil {
			return
		}
		out, err := tflite.Serialize(m)
		if err != nil {
			t.Fatalf("accepted model does not serialize: %v", err)
		}
		if _, err := tflite.Parse(out, "resaved.tflite"); err != nil {
			t.Fatalf("accepted model does not parse after saving: %v", err)
		}
	})
}
