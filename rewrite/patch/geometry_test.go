package patch

import (
	"reflect"
	"testing"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// conv builds a convolution-like layer for geometry tests.
func conv(kind Kind, in, out, k, s, padTop int) Layer {
	return Layer{Kind: kind, In: in, In2: -1, Out: out, KH: k, KW: k, SH: s, SW: s, DH: 1, DW: 1, PadTop: padTop, PadLeft: padTop, Weights: -1, Bias: -1}
}

func fm(h, w, c int) FeatureMap { return FeatureMap{H: h, W: w, C: c, Scale: 1} }

func TestSamePadsFollowTFLite(t *testing.T) {
	for _, c := range []struct {
		in, k, s, d, out, pad int
	}{
		{8, 3, 1, 1, 8, 1}, // total 2
		{8, 3, 2, 1, 4, 0}, // total max(3*2+3-8, 0) = 1 -> top 0
		{7, 3, 2, 1, 4, 1}, // total 2
		{9, 5, 2, 2, 5, 4}, // effective 9: total 8+9-9 = 8
		{224, 7, 2, 1, 112, 2},
	} {
		got, why := samePads(schema.PaddingSAME, c.in, c.k, c.s, c.d, c.out)
		if why != "" || got != c.pad {
			t.Errorf("SAME in %d k %d s %d d %d: pad %d (%s), want %d", c.in, c.k, c.s, c.d, got, why, c.pad)
		}
	}
	if _, why := samePads(schema.PaddingSAME, 8, 3, 2, 1, 5); why == "" {
		t.Error("wrong output size accepted")
	}
}

func TestTwoLayerStackSameStride2(t *testing.T) {
	// 8x8 -conv3x3 s1 SAME-> 8x8 -conv3x3 s2 SAME (pad_top 0)-> 4x4, grid 2x2.
	s := &Stage{FMs: []FeatureMap{fm(8, 8, 3), fm(8, 8, 4), fm(4, 4, 8)},
		Layers: []Layer{conv(KindConv, 0, 1, 3, 1, 1), conv(KindConv, 1, 2, 3, 2, 0)}}
	tiles, err := s.Tiles(2, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Window{
		// out rows [0,2) -> layer 1 reads [0, 1*2+2+1) = [0,5); layer 0 reads [-1, 6) -> [0,6)
		{{0, 6, 0, 6}, {0, 5, 0, 5}, {0, 2, 0, 2}},
		{{0, 6, 3, 8}, {0, 5, 4, 8}, {0, 2, 2, 4}},
		{{3, 8, 0, 6}, {4, 8, 0, 5}, {2, 4, 0, 2}},
		// out rows [2,4) -> [4, 9) clipped [4,8) -> [3, 9) clipped [3,8)
		{{3, 8, 3, 8}, {4, 8, 4, 8}, {2, 4, 2, 4}},
	}
	if !reflect.DeepEqual(tiles, want) {
		t.Fatalf("tiles\n got %v\nwant %v", tiles, want)
	}
	// Border clipping: layer 0 over the top-left tile's 5x5 window computes 5x5 outputs; the
	// row taps: output row 0 has 2 in-map taps, rows 1-4 have 3 -> 14 per axis.
	full, clipped := s.Layers[0].windowMACs(tiles[0][1], s.FMs[0], s.FMs[1])
	if full != 5*5*4*9*3 || clipped != 14*14*3*4 {
		t.Errorf("window MACs full %d clipped %d, want %d %d", full, clipped, 5*5*4*9*3, 14*14*3*4)
	}
}

func TestUnevenGrid3x3(t *testing.T) {
	if got := splitEven(4, 3); !reflect.DeepEqual(got, []int{0, 2, 3, 4}) {
		t.Errorf("splitEven(4,3) = %v", got)
	}
	if got := splitEven(7, 3); !reflect.DeepEqual(got, []int{0, 3, 5, 7}) {
		t.Errorf("splitEven(7,3) = %v", got)
	}
	s := &Stage{FMs: []FeatureMap{fm(10, 10, 1), fm(10, 10, 1)}, Layers: []Layer{conv(KindDepthwise, 0, 1, 3, 1, 1)}}
	tiles, err := s.Tiles(1, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	// 10 rows -> [0,4) [4,7) [7,10); the middle tile reads [3,8) of the input.
	if got := tiles[4]; !reflect.DeepEqual(got, []Window{{3, 8, 3, 8}, {4, 7, 4, 7}}) {
		t.Errorf("middle tile %v", got)
	}
	if got := tiles[8]; !reflect.DeepEqual(got, []Window{{6, 10, 6, 10}, {7, 10, 7, 10}}) {
		t.Errorf("last tile %v", got)
	}
	// The output windows partition the map.
	cover := make([]int, 100)
	for _, tl := range tiles {
		w := tl[1]
		for r := w.R0; r < w.R1; r++ {
			for c := w.C0; c < w.C1; c++ {
				cover[r*10+c]++
			}
		}
	}
	for i, n := range cover {
		if n != 1 {
			t.Fatalf("output element %d covered %d times", i, n)
		}
	}
	if _, err := s.Tiles(1, 11, 1); err == nil {
		t.Error("grid larger than the output accepted")
	}
}

func TestResidualAddTakesTheUnion(t *testing.T) {
	// fm0 -dw3x3-> fm1 -conv1x1-> fm2; fm3 = fm2 + fm0.
	add := Layer{Kind: KindAdd, In: 2, In2: 0, Out: 3, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Weights: -1, Bias: -1}
	s := &Stage{FMs: []FeatureMap{fm(4, 4, 2), fm(4, 4, 2), fm(4, 4, 2), fm(4, 4, 2)},
		Layers: []Layer{conv(KindDepthwise, 0, 1, 3, 1, 1), conv(KindConv, 1, 2, 1, 1, 0), add}}
	tiles, err := s.Tiles(3, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Window{{0, 3, 0, 4}, {0, 2, 0, 4}, {0, 2, 0, 4}, {0, 2, 0, 4}}
	if !reflect.DeepEqual(tiles[0], want) {
		t.Errorf("tile 0 %v, want %v", tiles[0], want)
	}
	// fm0 is read by the dw (rows [1,4)) and the add (rows [2,4)): union [1,4).
	if got := tiles[1][0]; got != (Window{1, 4, 0, 4}) {
		t.Errorf("tile 1 fm0 %v", got)
	}
	// Lifetimes: fm1 dies at layer 1, fm2 lives to layer 2, so fm1 and fm2 overlap only at
	// layer 1 and both need their own space.
	lay := layoutScratch(s.Layers, s.FMs, tiles, []branch{int8Branch(s.FMs)})
	if offs, total := lay.Offsets, lay.Bytes; offs[0] != -1 || offs[3] != -1 || offs[1] == offs[2] || total != 32 {
		t.Errorf("scratch offsets %v total %d", offs, total)
	}
}

func TestPadShiftsAndClips(t *testing.T) {
	// 6x6 -PAD 1 each side-> 8x8 -conv3x3 VALID s2-> 3x3.
	pad := Layer{Kind: KindPad, In: 0, In2: -1, Out: 1, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Weights: -1, Bias: -1}
	s := &Stage{FMs: []FeatureMap{fm(6, 6, 1), fm(8, 8, 1), fm(3, 3, 1)}, Layers: []Layer{pad, conv(KindConv, 1, 2, 3, 2, 0)}}
	tiles, err := s.Tiles(2, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	// rows: output [0,2) -> padded [0,5) -> input [-1,4) -> [0,4); output [2,3) -> padded
	// [4,7) -> input [3,6). Columns: the VALID stride-2 conv never reads padded column 7.
	want := [][]Window{{{0, 4, 0, 6}, {0, 5, 0, 7}, {0, 2, 0, 3}}, {{3, 6, 0, 6}, {4, 7, 0, 7}, {2, 3, 0, 3}}}
	if !reflect.DeepEqual(tiles, want) {
		t.Errorf("tiles\n got %v\nwant %v", tiles, want)
	}
	// A window entirely inside the padding needs no input.
	if w := pad.inputWindow(Window{0, 1, 0, 8}, s.FMs[0]); !w.Empty() {
		t.Errorf("padding-only rows read %v", w)
	}
}

func TestScratchReusesDeadWindows(t *testing.T) {
	// A 4-layer chain: fm1 dies when fm3 is born, so fm3 may reuse fm1's space.
	layers := []Layer{conv(KindConv, 0, 1, 1, 1, 0), conv(KindConv, 1, 2, 1, 1, 0), conv(KindConv, 2, 3, 1, 1, 0), conv(KindConv, 3, 4, 1, 1, 0)}
	fms := []FeatureMap{fm(1, 1, 10), fm(1, 1, 100), fm(1, 1, 50), fm(1, 1, 90), fm(1, 1, 10)}
	tiles := [][]Window{{{0, 1, 0, 1}, {0, 1, 0, 1}, {0, 1, 0, 1}, {0, 1, 0, 1}, {0, 1, 0, 1}}}
	// One-pixel maps: a 1x1 convolution's single output pixel reads its own input pixel, so
	// it is never written over its input; fm3 reuses fm1's dead space.
	lay := layoutScratch(layers, fms, tiles, []branch{int8Branch(fms)})
	if !reflect.DeepEqual(lay.Offsets, []int64{-1, 0, 112, 0, -1}) || lay.Bytes != 176 {
		t.Errorf("offsets %v total %d", lay.Offsets, lay.Bytes)
	}
}
