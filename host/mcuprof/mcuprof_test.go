package mcuprof

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tflite"
)

// sharedData returns ../shared/data (relative to the repository root) or skips.
func sharedData(t testing.TB) string {
	t.Helper()
	d := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(d, "models")); err != nil {
		t.Skipf("shared data %s absent", d)
	}
	return d
}

// tools returns the toolchain and a built plugin, or skips.
func tools(t testing.TB) (Tools, string) {
	t.Helper()
	tl, err := FindTools()
	if errors.Is(err, ErrNoToolchain) {
		t.Skip(err)
	}
	plugin, err := tl.BuildPlugin(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return tl, plugin
}

// realStage optimizes a shared model and returns its patch stage on a real input.
func realStage(t testing.TB, model, input string, opts rewrite.Options) *Stage {
	t.Helper()
	s, _ := realStageResult(t, model, input, opts)
	return s
}

// stageResult is what the rewriter reported about the stage.
type stageResult struct {
	layers    []patch.LayerReport
	overhead  float64
	transpose bool
	lowBranch bool
}

func realStageResult(t testing.TB, model, input string, opts rewrite.Options) (*Stage, stageResult) {
	t.Helper()
	d := sharedData(t)
	m, err := tflite.Load(filepath.Join(d, "models", model))
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile(filepath.Join(d, "inputs", input))
	if err != nil {
		t.Fatal(err)
	}
	res, err := rewrite.Optimize(context.Background(), m, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := StageFromModel(res.Model, in)
	if err != nil {
		t.Fatal(err)
	}
	return s, stageResult{layers: res.Stage.Layers, overhead: res.Stage.StageOverhead, transpose: res.Stage.Transpose,
		lowBranch: res.Stage.LowBranch}
}

// TestCountsDeterministic runs person_detect's patch stage (real person image) on the emulated
// Cortex-M4 and M7 twice each: both evaluations' outputs must equal the host's and the
// instruction counts must repeat exactly.
func TestCountsDeterministic(t *testing.T) {
	tl, plugin := tools(t)
	s := realStage(t, "person_detect.tflite", "person_96x96x1_int8.raw", rewrite.Options{})
	for _, target := range []Target{Targets["cortex-m4"], Targets["cortex-m7"]} {
		var first *Measurement
		for range 2 {
			m, err := tl.Measure(context.Background(), plugin, t.TempDir(), s, target, Build{})
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = m
				continue
			}
			for _, pair := range [][2]Run{{first.Portable, m.Portable}, {first.Default, m.Default}} {
				a, b := pair[0], pair[1]
				if a.Insns != b.Insns || a.CyclesM4 != b.CyclesM4 || len(a.Histogram.PCs) != len(b.Histogram.PCs) {
					t.Fatalf("%s: counts differ run to run: %d vs %d instructions", target.Name, a.Insns, b.Insns)
				}
				for i, p := range b.Histogram.PCs {
					if p != a.Histogram.PCs[i] {
						t.Fatalf("%s: histogram differs at %#x: %+v vs %+v", target.Name, p.Addr, a.Histogram.PCs[i], p)
					}
				}
			}
		}
		for _, r := range []struct {
			name string
			run  Run
		}{{"portable", first.Portable}, {"default", first.Default}} {
			t.Logf("%s (%s) %s: %d instructions, %.0f estimated M4 cycles", target.Name, target.Board, r.name, r.run.Insns, r.run.CyclesM4)
			for _, f := range r.run.Functions[:min(5, len(r.run.Functions))] {
				t.Logf("  %-28s %10d insns %12.0f cycles", f.Name, f.Insns, f.Cycles)
			}
		}
	}
}
