package rewrite

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite/calibrate"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/tensorio"
)

// imagenetSample returns the files of ../shared/data/images/imagenet-sample, or skips.
func imagenetSample(t testing.TB) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "data", "images", "imagenet-sample")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("shared images absent (%s): %v", dir, err)
	}
	var files []string
	for _, e := range ents {
		files = append(files, filepath.Join(dir, e.Name()))
	}
	return files
}

func loadShared(t testing.TB, name string) []byte {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "data", "models", name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("%s absent", p)
	}
	return b
}

// TestSearchMobileNetV2 runs QuantMCU's search on mobilenet_v2 with the ImageNet sample:
// the guard's held-out agreement must meet the minimum, the chosen spec must not cost more
// BitOPs than the int8 stage, and the same inputs must give the same model bytes.
func TestSearchMobileNetV2(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	files := imagenetSample(t)
	data := loadShared(t, "mobilenet_v2_quantized_1x3x224x224.tflite")
	img, _ := tensorio.Preset("torchvision")
	o := DefaultSearch()
	o.Samples = 64 // 48 for statistics, 16 held out: enough to exercise every pass
	if l := os.Getenv("QMCU_LAMBDA"); l != "" {
		o.Lambda = atof(t, l)
	}
	if r := os.Getenv("QMCU_RATE"); r != "" {
		o.OutlierRate = atof(t, r)
	}
	opts := Options{Calib: &calibrate.FileSet{Files: files, Image: img}, Search: o}
	var first []byte
	for run := range 2 {
		m, err := tflite.Parse(data, "mobilenet_v2")
		if err != nil {
			t.Fatal(err)
		}
		res, err := Optimize(context.Background(), m, opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := res.Search
		for i, st := range s.Steps {
			t.Logf("step %2d: %-40s %d->%d  S %+.4f  Phi %.4f  Omega %.4f  BitOPs %.3fx", i+1, st.Tensor, st.From, st.To, st.Score, st.Phi, st.Omega,
				float64(s.BitOPsInt8)/float64(st.BitOPsAfter))
		}
		for _, st := range s.Refused {
			t.Logf("refused: %-40s %d->%d  S %+.4f", st.Tensor, st.From, st.To, st.Score)
		}
		for _, p := range s.Probes {
			t.Logf("probe %d: agreement %.3f", p.Steps, p.Agreement)
		}
		t.Logf("run %d: kept %d of %d steps, agreement %.3f, BitOPs %.3fx, %.1f s", run, s.Chosen, len(s.Steps), s.Agreement,
			float64(s.BitOPsInt8)/float64(s.BitOPsMixed), s.Seconds)
		if s.Agreement < o.MinAgreement || s.BitOPsMixed > s.BitOPsInt8 {
			t.Errorf("agreement %.3f (min %.3f), BitOPs %d vs int8 %d", s.Agreement, o.MinAgreement, s.BitOPsMixed, s.BitOPsInt8)
		}
		out, err := tflite.Serialize(res.Model)
		if err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			first = out
		} else if string(first) != string(out) {
			t.Errorf("two searches on the same inputs wrote different models")
		}
	}
}

func atof(t testing.TB, s string) float64 {
	t.Helper()
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSearchCostCycles runs the search with Phi scored by estimated Cortex-M4 cycles
// (--cost cycles) on person_detect: the int8 stage's cycles must be the cost model's sum over
// the stage layers, every kept step must save what its Phi says, and the summary must name
// the cost.
func TestSearchCostCycles(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	files := imagenetSample(t)
	data := loadShared(t, "person_detect.tflite")
	img, _ := tensorio.Preset("unit") // one-channel tensor: decoded to gray
	o := DefaultSearch()
	o.Samples, o.Cost, o.Lambda = 48, CostCycles, 0.02
	m, err := tflite.Parse(data, "person_detect")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Optimize(context.Background(), m, Options{Calib: &calibrate.FileSet{Files: files, Image: img}, Search: o}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Search
	var want float64
	for _, l := range res.Stage.Layers {
		want += stageLayerCost(res.Stage, l, 8, 8)
	}
	if s.CyclesInt8 <= 0 || math.Abs(s.CyclesInt8-want) > 1e-6*want {
		t.Fatalf("int8 stage cycles %.0f, cost model says %.0f", s.CyclesInt8, want)
	}
	prev := s.CyclesInt8
	for i, st := range s.Steps {
		t.Logf("step %d: %s %d->%d Phi %.4f Omega %.4f cycles %.0f", i+1, st.Tensor, st.From, st.To, st.Phi, st.Omega, st.CyclesAfter)
		if got := (prev - st.CyclesAfter) / s.CyclesInt8; math.Abs(got-st.Phi) > 1e-9 {
			t.Errorf("step %d: Phi %.6f but the cycles fell by %.6f of the int8 stage's", i+1, st.Phi, got)
		}
		prev = st.CyclesAfter
	}
	t.Logf("cycles: int8 stage %.0f, chosen %.0f (%d steps kept, %d proposed)", s.CyclesInt8, s.CyclesMixed, s.Chosen, len(s.Steps)+len(s.Refused))
	if c := column(t, readCSV(t, res.Artifacts["summary.csv"]), "search_cost"); c != "cycles" {
		t.Errorf("summary names the cost %q, want cycles", c)
	}
}
