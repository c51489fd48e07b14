// Package guard is the accuracy guard of QuantMCU's search (beyond the paper; DESIGN.md §4):
// on held-out calibration inputs it measures how often a candidate model's top-1 class equals
// the int8 model's, through the real kernels (tflite/interp runs QMCU_PATCH_STAGE with the C
// code the MCU runs), and finds the longest prefix of the search's steps that keeps the
// agreement at or above the minimum.
package guard

import (
	"fmt"

	"github.com/quantmcu/quantmcu/rewrite/calibrate"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Top1 runs m on every input of src and returns the top-1 index of output 0 per input (-1
// when output 0 is not int8 or uint8, or is empty).
func Top1(m *schema.ModelT, src calibrate.Source, threads int) ([]int, error) {
	out := make([]int, src.Len())
	err := calibrate.Each(m, src, calibrate.Job{Threads: threads,
		After: func(w, i int, it *interp.Interpreter, outs [][]byte) {
			out[i] = calibrate.Argmax(outs[0], it.Outputs()[0].Type)
		}})
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	return out, nil
}

// Agreement is the fraction of positions where a and b are equal (1 for empty slices).
func Agreement(a, b []int) float64 {
	if len(a) == 0 {
		return 1
	}
	same := 0
	for i := range a {
		if a[i] == b[i] {
			same++
		}
	}
	return float64(same) / float64(len(a))
}

// Probe is one measured point of the search: the agreement after Steps steps.
type Probe struct {
	Steps     int
	Agreement float64
}

// Longest returns the largest n in 0..steps whose agreement (measured by measure) is at least
// min, assuming agreement falls as steps grow: it measures steps first, then bisects. It
// returns every point it measured, in order.
func Longest(steps int, min float64, measure func(n int) (float64, error)) (int, []Probe, error) {
	var probes []Probe
	at := func(n int) (bool, error) {
		a, err := measure(n)
		if err != nil {
			return false, err
		}
		probes = append(probes, Probe{n, a})
		return a >= min, nil
	}
	if steps == 0 {
		return 0, probes, nil
	}
	ok, err := at(steps)
	if err != nil || ok {
		return steps, probes, err
	}
	lo, hi := 0, steps // agreement holds at lo (0 steps: the int8 stage), fails at hi
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		ok, err := at(mid)
		if err != nil {
			return 0, probes, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, probes, nil
}
