package patch

import "testing"

// A 3x3 depthwise convolution (stride 1, SAME) over a 6x6x4 window: a pixel's first read is
// the pixel up and to the left of it, so top-down the output may start W+2 pixels before its
// input (row 1, column 1 is the tightest: it reads from input pixel (0, 0) and its store
// ends at pixel 8), and bottom-up only two input rows after it (row 0 reads rows 0 and 1).
func TestInPlaceBoundsOfDepthwise(t *testing.T) {
	dw := conv(KindDepthwise, 1, 2, 3, 1, 1)
	dw.DepthMultiplier = 1
	win := Window{0, 6, 0, 6}
	ip := inPlace{down: 1 << 62, up: -1 << 62}
	margins(&dw, fm(6, 6, 4), win, win, 4, 4, &ip)
	if ip.down != -(6+2)*4 || ip.up != 2*6*4 {
		t.Errorf("bounds down %d up %d, want %d and %d", ip.down, ip.up, -(6+2)*4, 2*6*4)
	}
	// In a chain conv1x1 -> dw -> conv1x1, the depthwise output overlaps its input.
	layers := []Layer{conv(KindConv, 0, 1, 1, 1, 0), dw, conv(KindConv, 2, 3, 1, 1, 0)}
	fms := []FeatureMap{fm(6, 6, 4), fm(6, 6, 4), fm(6, 6, 4), fm(6, 6, 4)}
	lay := layoutScratch(layers, fms, [][]Window{{win, win, win, win}}, []branch{int8Branch(fms)})
	if d := lay.Offsets[2] - lay.Offsets[1]; d > -32 || lay.Bytes != 144+32 || lay.Orders[1] != OrderTopDown {
		t.Errorf("offsets %v (output - input %d), %d bytes, orders %v; want the output 32 B before its input in 176 B, top-down",
			lay.Offsets, d, lay.Bytes, lay.Orders)
	}
}

// An expanding 1x1 convolution (4 -> 8 channels): its stores outrun its reads, so top-down
// the output must end where the input's last pixel begins, while bottom-up the output may
// start one input row after the input (the last row's stores start where its reads end).
func TestInPlaceBoundsOfExpandingConv(t *testing.T) {
	pw := conv(KindConv, 1, 2, 1, 1, 0)
	win := Window{0, 5, 0, 5}
	ip := inPlace{down: 1 << 62, up: -1 << 62}
	margins(&pw, fm(5, 5, 4), win, win, 4, 8, &ip)
	if ip.up != 5*4 {
		t.Errorf("bottom-up bound %d, want one input row, %d", ip.up, 5*4)
	}
	if ip.down != -(25*8 - 24*4) {
		t.Errorf("top-down bound %d, want %d", ip.down, -(25*8 - 24*4))
	}
}
