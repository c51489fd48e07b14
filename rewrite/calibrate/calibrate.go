// Package calibrate is the first pass of QuantMCU's search (DESIGN.md §4): it runs the int8
// model on calibration inputs and collects, for the patch stage's feature maps, what the
// threshold choice (VDPC) and the bitwidth search (VDQS) need. In int8 a tile's windows are
// crops of the per-layer feature maps, so the statistics come from the original model through
// the interpreter hook, cropped by the plan's tile windows.
//
// Memory is bounded by the stage, not the data: per (sample, tile) the checked window's peak
// (one byte), and per free map a histogram of its int8 codes for every peak value, so that
// the code histogram over the non-outlier tiles of any threshold is a sum of rows.
package calibrate

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Source yields calibration inputs: the bytes of model input 0, ready for the interpreter.
// Errors of Input name the input.
type Source interface {
	Len() int
	Name(i int) string
	Input(i int) ([]byte, error)
}

// Options steer Run.
type Options struct {
	// Threads is the number of interpreters run in parallel (0: all cores).
	Threads int
	// Progress, when set, is called after every sample with the count done.
	Progress func(done, total int)
}

// Stats are the calibration statistics of one stage plan.
type Stats struct {
	Checked   int   // checked feature map k
	CheckedZP int32 // its zero point
	Samples   int
	Tiles     int
	// Peaks[s][t] is the largest distance of a code of the checked map from its zero point
	// inside tile t's window, on sample s (0..255): the tile is an outlier tile at threshold
	// distance d exactly when its peak exceeds d.
	Peaks [][]uint8
	// Hist[f][p][c+128] counts the int8 codes c of free map f (patch.StagePlan.FreeMaps)
	// inside tile windows whose checked peak is p, over all samples.
	Hist map[int]*[256][256]int64
	// Int8Top1 is the int8 model's top-1 class of output 0 per sample (-1 when output 0 is
	// empty), the reference of the accuracy guard.
	Int8Top1 []int
}

// Run computes the statistics of sp (planned on m, the original model) over src.
func Run(m *schema.ModelT, sp *patch.StagePlan, checked int, src Source, opts Options) (*Stats, error) {
	n := src.Len()
	if n == 0 {
		return nil, errors.New("calibrate: no calibration inputs")
	}
	if checked < 1 || checked >= len(sp.FMs)-1 {
		return nil, fmt.Errorf("calibrate: checked map %d outside 1..%d", checked, len(sp.FMs)-2)
	}
	st := &Stats{Checked: checked, CheckedZP: sp.FMs[checked].ZeroPoint, Samples: n, Tiles: len(sp.Tiles),
		Peaks: make([][]uint8, n), Hist: map[int]*[256][256]int64{}, Int8Top1: make([]int, n)}
	free := sp.FreeMaps(checked)
	// The tensors to watch: the checked map and the free maps, by tensor index.
	watch := map[int]int{sp.FMs[checked].Tensor: checked}
	for _, f := range free {
		watch[sp.FMs[f].Tensor] = f
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	hists := make([]map[int]*[256][256]int64, threads)
	peaks := make([][]uint8, threads) // the sample each worker runs now
	err := Each(m, src, Job{Threads: threads, Progress: opts.Progress,
		Setup: func(w int, it *interp.Interpreter) {
			hists[w] = map[int]*[256][256]int64{}
			for _, f := range free {
				hists[w][f] = new([256][256]int64)
			}
			it.SetHook(func(op int, outs []interp.Tensor) {
				for _, o := range outs {
					f, ok := watch[o.Index]
					if !ok {
						continue
					}
					fm := sp.FMs[f]
					if f == checked {
						for t, tile := range sp.Tiles {
							peaks[w][t] = windowPeak(o.Data, fm, tile[f], fm.ZeroPoint)
						}
						continue
					}
					h := hists[w][f]
					for t, tile := range sp.Tiles {
						countWindow(o.Data, fm, tile[f], &h[peaks[w][t]])
					}
				}
			})
		},
		Before: func(w, i int) { peaks[w] = make([]uint8, len(sp.Tiles)) },
		After: func(w, i int, it *interp.Interpreter, outs [][]byte) {
			st.Peaks[i] = peaks[w]
			st.Int8Top1[i] = Argmax(outs[0], it.Outputs()[0].Type)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("calibration input: %w", err)
	}
	workers := hists[:min(threads, n)]
	for _, f := range free {
		sum := new([256][256]int64)
		for _, h := range workers {
			for p := range sum {
				for c := range sum[p] {
					sum[p][c] += h[f][p][c]
				}
			}
		}
		st.Hist[f] = sum
	}
	return st, nil
}

// windowPeak is the largest |code - zp| over window win of the NHWC int8 map data.
func windowPeak(data []byte, fm patch.FeatureMap, win patch.Window, zp int32) uint8 {
	lo, hi := int8(127), int8(-128)
	row := fm.W * fm.C
	for y := win.R0; y < win.R1; y++ {
		line := data[y*row+win.C0*fm.C : y*row+win.C1*fm.C]
		for _, b := range line {
			v := int8(b)
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if win.Empty() {
		return 0
	}
	return uint8(max(zp-int32(lo), int32(hi)-zp, 0))
}

// countWindow adds the codes of window win of the NHWC int8 map data to h (index code+128).
func countWindow(data []byte, fm patch.FeatureMap, win patch.Window, h *[256]int64) {
	row := fm.W * fm.C
	for y := win.R0; y < win.R1; y++ {
		for _, b := range data[y*row+win.C0*fm.C : y*row+win.C1*fm.C] {
			h[int(int8(b))+128]++
		}
	}
}

// Argmax is the index of the largest element of an int8 or uint8 output (-1 if empty or of
// another type): the top-1 class.
func Argmax(data []byte, typ schema.TensorType) int {
	best := -1
	switch typ {
	case schema.TensorTypeINT8:
		for i, b := range data {
			if best < 0 || int8(b) > int8(data[best]) {
				best = i
			}
		}
	case schema.TensorTypeUINT8:
		for i, b := range data {
			if best < 0 || b > data[best] {
				best = i
			}
		}
	}
	return best
}

// NonOutlierHist returns the code histogram of free map f over the tiles whose peak is at
// most d (the non-outlier tiles at threshold distance d).
func (s *Stats) NonOutlierHist(f, d int) [256]int64 {
	var out [256]int64
	h := s.Hist[f]
	if h == nil {
		return out
	}
	for p := 0; p <= d && p < 256; p++ {
		for c := range out {
			out[c] += h[p][c]
		}
	}
	return out
}

// NonOutlierFraction returns per tile the fraction of samples on which the tile is not an
// outlier tile at threshold distance d.
func (s *Stats) NonOutlierFraction(d int) []float64 {
	out := make([]float64, s.Tiles)
	for _, peaks := range s.Peaks {
		for t, p := range peaks {
			if int(p) <= d {
				out[t]++
			}
		}
	}
	for t := range out {
		out[t] /= float64(s.Samples)
	}
	return out
}

// OutlierRate is the fraction of (sample, tile) pairs that are outlier tiles at distance d.
func (s *Stats) OutlierRate(d int) float64 {
	var n, out int
	for _, peaks := range s.Peaks {
		for _, p := range peaks {
			n++
			if int(p) > d {
				out++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(out) / float64(n)
}

// Channels is a second pass over the same inputs as Run: per channel of each map in maps, the
// histogram of its int8 codes over the tiles that are not outlier tiles at distance d
// (Stats.Peaks tell which), for per-channel low-bit ranges.
func Channels(m *schema.ModelT, sp *patch.StagePlan, st *Stats, d int, maps []int, src Source, opts Options) (map[int][][256]int64, error) {
	out := map[int][][256]int64{}
	if len(maps) == 0 {
		return out, nil
	}
	n := src.Len()
	if n != st.Samples {
		return nil, fmt.Errorf("calibrate: %d inputs, the statistics have %d", n, st.Samples)
	}
	watch := map[int]int{}
	for _, f := range maps {
		watch[sp.FMs[f].Tensor] = f
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	parts := make([]map[int][][256]int64, threads)
	sample := make([]int, threads) // the sample each worker runs now
	err := Each(m, src, Job{Threads: threads, Progress: opts.Progress,
		Setup: func(w int, it *interp.Interpreter) {
			part := map[int][][256]int64{}
			for _, f := range maps {
				part[f] = make([][256]int64, sp.FMs[f].C)
			}
			parts[w] = part
			it.SetHook(func(op int, outs []interp.Tensor) {
				for _, o := range outs {
					f, ok := watch[o.Index]
					if !ok {
						continue
					}
					fm, h := sp.FMs[f], part[f]
					for t, tile := range sp.Tiles {
						if int(st.Peaks[sample[w]][t]) > d {
							continue
						}
						win, row := tile[f], fm.W*fm.C
						for y := win.R0; y < win.R1; y++ {
							line := o.Data[y*row+win.C0*fm.C : y*row+win.C1*fm.C]
							for i, b := range line {
								h[i%fm.C][int(int8(b))+128]++
							}
						}
					}
				}
			})
		},
		Before: func(w, i int) { sample[w] = i },
	})
	if err != nil {
		return nil, fmt.Errorf("calibration input: %w", err)
	}
	parts = parts[:min(threads, n)]
	for _, f := range maps {
		sum := make([][256]int64, sp.FMs[f].C)
		for _, part := range parts {
			for c := range sum {
				for k := range sum[c] {
					sum[c][k] += part[f][c][k]
				}
			}
		}
		out[f] = sum
	}
	return out, nil
}
