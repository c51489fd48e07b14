package tensorio

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// ResizeMode says how an image is brought to the tensor's height and width.
type ResizeMode string

// Resize modes.
const (
	// ResizeShorter scales the image, keeping its aspect ratio, so that its shorter side is
	// ImageOptions.ResizeTo (or just covers the tensor when ResizeTo is 0), then cuts the
	// centre H×W window.
	ResizeShorter ResizeMode = "shorter"
	// ResizeDirect stretches the image to H×W, ignoring its aspect ratio.
	ResizeDirect ResizeMode = "direct"
	// ResizeNone requires the image to be exactly H×W.
	ResizeNone ResizeMode = "none"
)

// Layout is the memory order of an image tensor.
type Layout string

// Layouts. LayoutAuto takes the layout from the tensor shape: the axis of size 1 or 3 is
// the channel axis; a shape where both ends qualify ([1,3,3,3]) needs an explicit layout.
const (
	LayoutAuto Layout = ""
	LayoutNHWC Layout = "nhwc"
	LayoutNCHW Layout = "nchw"
)

// Range is the real-valued range pixels 0..255 are mapped to (linearly) when no mean/std
// is given.
type Range string

// Pixel ranges.
const (
	RangeUnit   Range = "0..1"   // v = x/255
	Range255    Range = "0..255" // v = x
	RangeSigned Range = "-1..1"  // v = x/127.5 - 1
)

// ImageOptions is the preprocessing that turns a decoded image into an input tensor. The
// steps, in order:
//
//  1. colour: to gray (Pillow's "L" weights 0.299/0.587/0.114 in 16-bit fixed point) when the
//     tensor has one channel or Gray is set (then replicated to three channels if needed);
//     gray images are replicated to RGB for three-channel tensors;
//  2. geometry (Resize): 8-bit bilinear resampling that matches Pillow's
//     Image.resize(BILINEAR), including its antialiasing when downscaling; centre crop
//     offsets are round-half-to-even((size-crop)/2) as torchvision's CenterCrop computes them;
//  3. channel order (BGR swaps the red and blue channels) and layout (NHWC or NCHW);
//  4. normalisation in float32: with Mean/Std, v = (x/255 - mean[c]) / std[c]; otherwise
//     per Range;
//  5. quantization with the tensor's scale and zero point:
//     q = clamp(round(v/scale) + zero_point) with round half away from zero, clamped to the
//     integer type; float32 tensors get v itself.
type ImageOptions struct {
	Resize   ResizeMode // default ResizeShorter
	ResizeTo int        // ResizeShorter: shorter side before the crop; 0 = just cover the tensor
	Gray     bool
	BGR      bool
	Layout   Layout
	Range    Range     // default RangeUnit; ignored when Mean is set
	Mean     []float32 // one value, or one per channel (in RGB order)
	Std      []float32 // as Mean; default 1
}

// presets are the named preprocessing recipes.
var presets = map[string]struct {
	doc string
	opt ImageOptions
}{
	"torchvision": {"shorter side 256, centre crop, mean 0.485,0.456,0.406, std 0.229,0.224,0.225 (ImageNet models from PyTorch)",
		ImageOptions{Resize: ResizeShorter, ResizeTo: 256, Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}},
	"mobilenet": {"pixels to -1..1 (TensorFlow MobileNet/Inception style)", ImageOptions{Resize: ResizeShorter, Range: RangeSigned}},
	"raw255":    {"pixels as 0..255", ImageOptions{Resize: ResizeShorter, Range: Range255}},
	"unit":      {"pixels as 0..1", ImageOptions{Resize: ResizeShorter, Range: RangeUnit}},
}

// Preset returns the named preprocessing recipe.
func Preset(name string) (ImageOptions, error) {
	p, ok := presets[name]
	if !ok {
		return ImageOptions{}, fmt.Errorf("unknown preset %q (have %s)", name, strings.Join(PresetNames(), ", "))
	}
	o := p.opt
	o.Mean = append([]float32(nil), o.Mean...)
	o.Std = append([]float32(nil), o.Std...)
	return o, nil
}

// PresetNames lists the preset names in order.
func PresetNames() []string {
	var names []string
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PresetHelp describes each preset, one per line.
func PresetHelp() string {
	var b strings.Builder
	for _, n := range PresetNames() {
		fmt.Fprintf(&b, "  %-12s %s\n", n, presets[n].doc)
	}
	return b.String()
}

// geometry is where an image goes in a tensor.
type geometry struct {
	h, w, c int
	nchw    bool
}

func (o ImageOptions) geometry(s Spec) (geometry, error) {
	var dims []int32
	switch len(s.Shape) {
	case 4:
		if s.Shape[0] != 1 {
			return geometry{}, fmt.Errorf("tensor %s %s: an image fills a batch of 1 only", s.Name, s)
		}
		dims = s.Shape[1:]
	case 3:
		dims = s.Shape
	case 2:
		dims = []int32{s.Shape[0], s.Shape[1], 1}
	default:
		return geometry{}, fmt.Errorf("tensor %s %s is not an image tensor (rank 2, 3 or 4)", s.Name, s)
	}
	chan13 := func(d int32) bool { return d == 1 || d == 3 }
	hwc, chw := chan13(dims[2]), chan13(dims[0]) && len(s.Shape) != 2
	layout := o.Layout
	if layout == LayoutAuto {
		switch {
		case hwc && !chw:
			layout = LayoutNHWC
		case chw && !hwc:
			layout = LayoutNCHW
		case hwc && chw:
			return geometry{}, fmt.Errorf("tensor %s %s could be NHWC or NCHW: choose a layout", s.Name, s)
		default:
			return geometry{}, fmt.Errorf("tensor %s %s has no channel axis of size 1 or 3", s.Name, s)
		}
	}
	switch layout {
	case LayoutNHWC:
		if !hwc {
			return geometry{}, fmt.Errorf("tensor %s %s is not NHWC with 1 or 3 channels", s.Name, s)
		}
		return geometry{h: int(dims[0]), w: int(dims[1]), c: int(dims[2])}, nil
	case LayoutNCHW:
		if !chw {
			return geometry{}, fmt.Errorf("tensor %s %s is not NCHW with 1 or 3 channels", s.Name, s)
		}
		return geometry{h: int(dims[1]), w: int(dims[2]), c: int(dims[0]), nchw: true}, nil
	}
	return geometry{}, fmt.Errorf("unknown layout %q (nhwc or nchw)", o.Layout)
}

// Validate checks the options on their own (before any image is read).
func (o ImageOptions) Validate() error {
	switch o.Resize {
	case "", ResizeShorter, ResizeDirect, ResizeNone:
	default:
		return fmt.Errorf("unknown resize mode %q (shorter, direct or none)", o.Resize)
	}
	if o.ResizeTo < 0 {
		return fmt.Errorf("resize size %d is negative", o.ResizeTo)
	}
	if o.ResizeTo > maxResizeSide {
		return fmt.Errorf("resize size %d is larger than %d, the longest side this tool resizes to", o.ResizeTo, maxResizeSide)
	}
	switch o.Layout {
	case LayoutAuto, LayoutNHWC, LayoutNCHW:
	default:
		return fmt.Errorf("unknown layout %q (nhwc or nchw)", o.Layout)
	}
	switch o.Range {
	case "", RangeUnit, Range255, RangeSigned:
	default:
		return fmt.Errorf("unknown pixel range %q (0..1, 0..255 or -1..1)", o.Range)
	}
	if len(o.Std) > 0 && len(o.Mean) == 0 {
		return fmt.Errorf("std given without mean")
	}
	for _, v := range o.Std {
		if v == 0 || math.IsNaN(float64(v)) {
			return fmt.Errorf("std values must be non-zero numbers")
		}
	}
	return nil
}

// Tensor preprocesses p into the bytes of tensor s (see ImageOptions for the steps).
func (o ImageOptions) Tensor(p *Pixels, s Spec) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	g, err := o.geometry(s)
	if err != nil {
		return nil, err
	}
	if err := checkQuantizable(s); err != nil {
		return nil, err
	}
	mean, std, err := o.normalisation(g.c)
	if err != nil {
		return nil, err
	}
	// 1. colour
	if g.c == 1 || o.Gray {
		p = toGray(p)
	}
	// 2. geometry
	p, err = o.fit(p, g.h, g.w)
	if err != nil {
		return nil, err
	}
	if p.C != g.c {
		p = replicate(p, g.c)
	}
	// 3-5. channel order, layout, normalisation, quantization
	vals := make([]float32, g.h*g.w*g.c)
	for y := 0; y < g.h; y++ {
		for x := 0; x < g.w; x++ {
			for k := 0; k < g.c; k++ {
				src := k
				if o.BGR && g.c == 3 {
					src = 2 - k
				}
				v := float32(p.Pix[(y*p.W+x)*p.C+src])
				switch {
				case mean != nil:
					v = (v/255 - mean[k]) / std[k]
				case o.Range == Range255:
				case o.Range == RangeSigned:
					v = v/127.5 - 1
				default:
					v /= 255
				}
				var i int
				if g.nchw {
					i = (k*g.h+y)*g.w + x
				} else {
					i = (y*g.w+x)*g.c + k
				}
				vals[i] = v
			}
		}
	}
	return Quantize(vals, s)
}

// normalisation expands Mean/Std to one value per tensor channel (nil when unused).
func (o ImageOptions) normalisation(c int) (mean, std []float32, err error) {
	if len(o.Mean) == 0 {
		return nil, nil, nil
	}
	expand := func(v []float32, what string, def float32) ([]float32, error) {
		switch len(v) {
		case 0:
			v = []float32{def}
			fallthrough
		case 1:
			out := make([]float32, c)
			for i := range out {
				out[i] = v[0]
			}
			return out, nil
		case c:
			out := append([]float32(nil), v...)
			if o.BGR && c == 3 {
				out[0], out[2] = out[2], out[0]
			}
			return out, nil
		}
		return nil, fmt.Errorf("%s has %d values; the tensor has %d channels", what, len(v), c)
	}
	if mean, err = expand(o.Mean, "mean", 0); err != nil {
		return nil, nil, err
	}
	if std, err = expand(o.Std, "std", 1); err != nil {
		return nil, nil, err
	}
	return mean, std, nil
}

// fit resizes and crops p to h×w according to the resize mode.
func (o ImageOptions) fit(p *Pixels, h, w int) (*Pixels, error) {
	switch o.Resize {
	case ResizeNone:
		if p.W != w || p.H != h {
			return nil, fmt.Errorf("image is %dx%d, the tensor wants %dx%d (width x height) and resizing is off", p.W, p.H, w, h)
		}
		return p, nil
	case ResizeDirect:
		if err := checkResize(p, w, h); err != nil {
			return nil, err
		}
		return resizeBilinear(p, w, h), nil
	}
	nw, nh := coverSize(p.W, p.H, w, h, o.ResizeTo)
	if nw < w || nh < h {
		return nil, fmt.Errorf("image resized to %dx%d is smaller than the %dx%d crop", nw, nh, w, h)
	}
	if err := checkResize(p, nw, nh); err != nil {
		return nil, err
	}
	r := resizeBilinear(p, nw, nh)
	top := int(math.RoundToEven(float64(nh-h) / 2))
	left := int(math.RoundToEven(float64(nw-w) / 2))
	return crop(r, left, top, w, h), nil
}

// maxResizedPixels bounds the image a resize produces, and its intermediate (the new
// width at the old height): far more than any microcontroller tensor crops from it.
const maxResizedPixels = 1 << 25

// maxResizeSide bounds ImageOptions.ResizeTo.
const maxResizeSide = 1 << 16

// checkResize refuses resizing p to w×h when the result or the horizontal pass's
// intermediate would exceed maxResizedPixels.
func checkResize(p *Pixels, w, h int) error {
	if int64(w)*int64(h) > maxResizedPixels || int64(w)*int64(p.H) > maxResizedPixels {
		return fmt.Errorf("resizing the %dx%d image to %dx%d exceeds the limit of %d pixels (choose a smaller resize size)", p.W, p.H, w, h, maxResizedPixels)
	}
	return nil
}

// coverSize returns the size an iw×ih image is resized to before a centre crop of w×h: its
// shorter side becomes short (the longer one scaled and truncated, as torchvision does), or
// when short is 0 the smallest aspect-preserving size that covers w×h.
func coverSize(iw, ih, w, h, short int) (int, int) {
	if short > 0 {
		if iw <= ih {
			return short, int(int64(short) * int64(ih) / int64(iw))
		}
		return int(int64(short) * int64(iw) / int64(ih)), short
	}
	// Fit the height when the image is relatively wider than the tensor, else the width.
	if int64(iw)*int64(h) >= int64(ih)*int64(w) {
		return max(w, int(int64(h)*int64(iw)/int64(ih))), h
	}
	return w, max(h, int(int64(w)*int64(ih)/int64(iw)))
}

func crop(p *Pixels, left, top, w, h int) *Pixels {
	if left == 0 && top == 0 && w == p.W && h == p.H {
		return p
	}
	q := &Pixels{W: w, H: h, C: p.C, Pix: make([]uint8, w*h*p.C)}
	for y := 0; y < h; y++ {
		copy(q.Pix[y*w*p.C:(y+1)*w*p.C], p.Pix[((top+y)*p.W+left)*p.C:])
	}
	return q
}

// toGray converts RGB to 8-bit luma with Pillow's fixed-point weights.
func toGray(p *Pixels) *Pixels {
	if p.C == 1 {
		return p
	}
	q := &Pixels{W: p.W, H: p.H, C: 1, Pix: make([]uint8, p.W*p.H)}
	for i := range q.Pix {
		r, g, b := uint32(p.Pix[3*i]), uint32(p.Pix[3*i+1]), uint32(p.Pix[3*i+2])
		q.Pix[i] = uint8((r*19595 + g*38470 + b*7471 + 0x8000) >> 16)
	}
	return q
}

// replicate copies a one-channel image into c channels.
func replicate(p *Pixels, c int) *Pixels {
	q := &Pixels{W: p.W, H: p.H, C: c, Pix: make([]uint8, p.W*p.H*c)}
	for i := 0; i < p.W*p.H; i++ {
		for k := 0; k < c; k++ {
			q.Pix[i*c+k] = p.Pix[i*p.C]
		}
	}
	return q
}

func checkQuantizable(s Spec) error {
	switch s.Type {
	case schema.TensorTypeFLOAT32:
		return nil
	case schema.TensorTypeINT8, schema.TensorTypeUINT8, schema.TensorTypeINT16:
		if s.Scale == 0 || math.IsNaN(float64(s.Scale)) || math.IsInf(float64(s.Scale), 0) {
			return fmt.Errorf("tensor %s %s has no quantization scale to encode real values", s.Name, s)
		}
		return nil
	}
	return fmt.Errorf("tensor %s %s: images can only fill int8, uint8, int16 or float32 tensors", s.Name, s)
}

// Quantize encodes real values as tensor s's bytes: q = clamp(round(v/scale) + zero_point),
// with v/scale computed in float32 and rounded half away from zero, clamped to the type's
// range; float32 tensors store v unchanged.
func Quantize(vals []float32, s Spec) ([]byte, error) {
	if err := checkQuantizable(s); err != nil {
		return nil, err
	}
	n, err := s.Elements()
	if err != nil {
		return nil, err
	}
	if n != len(vals) {
		return nil, fmt.Errorf("tensor %s %s has %d elements, got %d values", s.Name, s, n, len(vals))
	}
	es, _ := elemSize(s.Type)
	out := make([]byte, n*es)
	var lo, hi float64
	switch s.Type {
	case schema.TensorTypeINT8:
		lo, hi = math.MinInt8, math.MaxInt8
	case schema.TensorTypeUINT8:
		lo, hi = 0, math.MaxUint8
	case schema.TensorTypeINT16:
		lo, hi = math.MinInt16, math.MaxInt16
	}
	for i, v := range vals {
		if s.Type == schema.TensorTypeFLOAT32 {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
			continue
		}
		q := math.Round(float64(v/s.Scale)) + float64(s.ZeroPoint)
		q = min(max(q, lo), hi) // NaN stays NaN: treat as zero point below
		if math.IsNaN(q) {
			q = float64(s.ZeroPoint)
		}
		switch s.Type {
		case schema.TensorTypeINT8, schema.TensorTypeUINT8:
			out[i] = byte(int8(int(q)))
			if s.Type == schema.TensorTypeUINT8 {
				out[i] = byte(int(q))
			}
		case schema.TensorTypeINT16:
			binary.LittleEndian.PutUint16(out[2*i:], uint16(int16(q)))
		}
	}
	return out, nil
}

// Describe summarises the options in one line, e.g.
// "resize shorter side to 256, centre crop; RGB; mean 0.485,0.456,0.406 std 0.229,0.224,0.225".
func (o ImageOptions) Describe() string {
	var parts []string
	switch o.Resize {
	case ResizeDirect:
		parts = append(parts, "resize direct (stretch)")
	case ResizeNone:
		parts = append(parts, "no resize")
	default:
		if o.ResizeTo > 0 {
			parts = append(parts, fmt.Sprintf("resize shorter side to %d, centre crop", o.ResizeTo))
		} else {
			parts = append(parts, "resize to cover, centre crop")
		}
	}
	colour := "RGB"
	if o.BGR {
		colour = "BGR"
	}
	if o.Gray {
		colour = "gray"
	}
	parts = append(parts, colour)
	if o.Layout != LayoutAuto {
		parts = append(parts, strings.ToUpper(string(o.Layout)))
	}
	floats := func(v []float32) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = fmt.Sprint(x)
		}
		return strings.Join(s, ",")
	}
	switch {
	case len(o.Mean) > 0:
		std := o.Std
		if len(std) == 0 {
			std = []float32{1}
		}
		parts = append(parts, fmt.Sprintf("mean %s std %s (on x/255)", floats(o.Mean), floats(std)))
	case o.Range == "":
		parts = append(parts, "range "+string(RangeUnit))
	default:
		parts = append(parts, "range "+string(o.Range))
	}
	return strings.Join(parts, "; ")
}
