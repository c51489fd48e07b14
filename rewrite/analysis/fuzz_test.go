package analysis

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
)

// FuzzAnalyze feeds whatever tflite.Parse accepts to Analyze: it may return an error but must
// never panic or hang. Seeds: the small real models and every negative model. Minimizing
// inputs of 300 kB takes minutes, so run it as
//
//	go test ./rewrite/analysis -run XXX -fuzz FuzzAnalyze -fuzztime 5m -fuzzminimizetime 20x
func FuzzAnalyze(f *testing.F) {
	for _, pattern := range []string{"models/*.tflite", "models/negative/*.tflite"} {
		files, _ := filepath.Glob(filepath.Join(dataDir, pattern))
		for _, p := range files {
			if fi, err := os.Stat(p); err != nil || fi.Size() > 400_000 {
				continue
			}
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := tflite.Parse(data, "fuzz")
		if err != nil {
			return
		}
		r, err := Analyze(m)
		if err != nil {
			return
		}
		if r.ArenaBytes < 0 || r.PeakLiveBytes < 0 {
			t.Fatalf("negative sizes: arena %d, peak live %d", r.ArenaBytes, r.PeakLiveBytes)
		}
	})
}
