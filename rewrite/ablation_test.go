package rewrite

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite/calibrate"
	"github.com/quantmcu/quantmcu/rewrite/guard"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/rewrite/precision"
	"github.com/quantmcu/quantmcu/rewrite/vdpc"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
	"github.com/quantmcu/quantmcu/tflite/tensorio"
)

// TestAblationMobileNetV2 is the measurement behind the search's defaults (run with
// QMCU_ABLATION=1; it takes minutes): mobilenet_v2 calibrated on the even-numbered images of
// the ImageNet sample, evaluated on the odd-numbered ones (100 each), for the configurations
// of the search issue's ablation table. It prints a table; it asserts nothing about accuracy.
func TestAblationMobileNetV2(t *testing.T) {
	if os.Getenv("QMCU_ABLATION") == "" {
		t.Skip("set QMCU_ABLATION=1 to run the ablation (minutes)")
	}
	s := newImagenetSplit(t)
	m, img, calibFiles, evalSrc, ref, top1 := s.m, s.img, s.calibFiles, s.evalSrc, s.ref, s.top1
	t.Logf("int8 model: held-out top-1 %.0f%% (%d images)", 100*top1(ref), len(ref))
	row := func(name string, model *schema.ModelT, summary []byte, extra string) {
		pred, err := guard.Top1(model, evalSrc, 0)
		if err != nil {
			t.Fatal(err)
		}
		ratio := "?"
		if rec, err := csv.NewReader(strings.NewReader(string(summary))).ReadAll(); err == nil && len(rec) == 2 {
			for i, h := range rec[0] {
				if h == "bitops_reduction_patch" {
					ratio = rec[1][i]
				}
			}
		}
		t.Logf("| %-44s | %6sx | %3.0f%% | %3.0f%% | %s", name, ratio, 100*top1(pred), 100*guard.Agreement(pred, ref), extra)
	}
	run := func(name string, opts Options) {
		res, err := Optimize(context.Background(), m, opts, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		extra := ""
		if s := res.Search; s != nil {
			extra = fmt.Sprintf("outliers %.0f%%, %d/%d steps kept (%d refused), guard agreement %.0f%%, %.0f s",
				100*s.Thresholds.Rate, s.Chosen, len(s.Steps)+len(s.Refused), len(s.Refused), 100*s.Agreement, s.Seconds)
		}
		row(name, res.Model, res.Artifacts["summary.csv"], extra)
	}
	t.Logf("| configuration | patch-stage BitOPs reduction | top-1 | agreement with int8 | search")
	run("uniform 4-bit, no VDPC (--bits 4)", Options{Bits: 4})
	calib := &calibrate.FileSet{Files: calibFiles, Image: img}
	for _, rate := range []float64{0.1, 0.25} {
		spec := vdpcUniform(t, m, calib, rate, 4)
		run(fmt.Sprintf("VDPC rate %.2f + uniform 4-bit (MSE ranges)", rate), Options{Precision: spec})
	}
	for _, pt := range []bool{true, false} {
		for _, rate := range []float64{0.1, 0.25} {
			for _, lambda := range []float64{0.1, 0.3, 0.5, 0.7, 0.9} {
				o := DefaultSearch()
				o.OutlierRate, o.Lambda, o.PerTensor = rate, lambda, pt
				run(fmt.Sprintf("VDPC+VDQS rate %.2f lambda %.1f per-%s", rate, lambda, map[bool]string{true: "tensor", false: "channel"}[pt]),
					Options{Calib: calib, Search: o})
			}
		}
	}
}

// vdpcUniform is the spec of VDPC thresholds at rate and every free map at bits with its
// MSE range over the non-outlier calibration tiles.
func vdpcUniform(t *testing.T, m *schema.ModelT, calib *calibrate.FileSet, rate float64, bits int) *precision.Spec {
	t.Helper()
	sp, err := patch.Plan(m, patch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := inputSpec(m)
	k := sp.DefaultChecked()
	st, err := calibrate.Run(m, sp, k, calib.Source(in), calibrate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	th := vdpc.Choose(st, rate)
	spec := &precision.Spec{Format: precision.Format, Version: precision.Version,
		Checked: precision.Checked{Tensor: sp.FMs[k].Name, Lo: th.Lo, Hi: th.Hi, OutlierRate: &th.Rate}, Maps: map[string]precision.Map{}}
	for _, f := range sp.FreeMaps(k) {
		spec.Maps[sp.FMs[f].Name], _ = vdpc.Range(st.NonOutlierHist(f, th.Distance), sp.FMs[f], bits)
	}
	return spec
}

// TestSearchCurveMobileNetV2 prints the BitOPs / held-out accuracy curve of the search's step
// order without the guard (run with QMCU_ABLATION=1): calibrated on the even-numbered ImageNet
// sample photos, measured on the odd-numbered ones, per tensor and per channel.
func TestSearchCurveMobileNetV2(t *testing.T) {
	if os.Getenv("QMCU_ABLATION") == "" {
		t.Skip("set QMCU_ABLATION=1 to run the ablation (minutes)")
	}
	s := newImagenetSplit(t)
	m, img, calibFiles, evalSrc, ref, top1 := s.m, s.img, s.calibFiles, s.evalSrc, s.ref, s.top1
	for _, pt := range []bool{true, false} {
		sp, err := patch.Plan(m, patch.Options{})
		if err != nil {
			t.Fatal(err)
		}
		o := DefaultSearch()
		o.Lambda, o.HoldOut, o.PerTensor = 0.02, 0, pt
		_, rep, err := search(context.Background(), m, sp, &calibrate.FileSet{Files: calibFiles, Image: img}, o, func(string, float64) {})
		if err != nil {
			t.Fatal(err)
		}
		// Re-run the search's step order (no guard) and measure every prefix.
		for n := 0; n <= len(rep.Steps); n++ {
			spec := rep.specAfter(n)
			cand, err := candidate(m, sp, spec)
			if err != nil {
				t.Fatal(err)
			}
			pred, err := guard.Top1(cand, evalSrc, 0)
			if err != nil {
				t.Fatal(err)
			}
			ratio := 1.0
			if n > 0 {
				ratio = float64(rep.BitOPsInt8) / float64(rep.Steps[n-1].BitOPsAfter)
			}
			step := "int8 stage"
			if n > 0 {
				s := rep.Steps[n-1]
				step = fmt.Sprintf("%s %d->%d", s.Tensor, s.From, s.To)
			}
			t.Logf("per-%s | %2d | %-36s | %.3fx | top-1 %3.0f%% | agreement %3.0f%%", map[bool]string{true: "tensor", false: "channel"}[pt],
				n, step, ratio, 100*top1(pred), 100*guard.Agreement(pred, ref))
		}
	}
}

// imagenetSplit is the split of the ablation: mobilenet_v2, the even-numbered sample photos for
// calibration, the odd-numbered ones (labelled by file name) for evaluation, and the int8
// model's top-1 on them.
type imagenetSplit struct {
	m          *schema.ModelT
	img        tensorio.ImageOptions
	calibFiles []string
	evalSrc    calibrate.Source
	labels     []int
	ref        []int
}

func newImagenetSplit(t *testing.T) *imagenetSplit {
	t.Helper()
	files := imagenetSample(t)
	data := loadShared(t, "mobilenet_v2_quantized_1x3x224x224.tflite")
	m, err := tflite.Parse(data, "mobilenet_v2")
	if err != nil {
		t.Fatal(err)
	}
	s := &imagenetSplit{m: m}
	s.img, _ = tensorio.Preset("torchvision")
	var evalFiles []string
	for i, f := range files {
		if i%2 == 0 {
			s.calibFiles = append(s.calibFiles, f)
			continue
		}
		evalFiles = append(evalFiles, f)
		n, _ := strconv.Atoi(strings.SplitN(filepath.Base(f), "_", 2)[0])
		s.labels = append(s.labels, n)
	}
	in, err := inputSpec(m)
	if err != nil {
		t.Fatal(err)
	}
	s.evalSrc = (&calibrate.FileSet{Files: evalFiles, Image: s.img}).Source(in)
	if s.ref, err = guard.Top1(m, s.evalSrc, 0); err != nil {
		t.Fatal(err)
	}
	return s
}

// top1 is the fraction of predictions equal to the labels.
func (s *imagenetSplit) top1(pred []int) float64 {
	n := 0
	for i, p := range pred {
		if p == s.labels[i] {
			n++
		}
	}
	return float64(n) / float64(len(pred))
}
