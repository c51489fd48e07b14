package tensorio

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// dataDir is ../shared/data relative to the repository root.
func dataDir(t testing.TB) string {
	d := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("shared data %s absent", d)
	}
	return d
}

func row(vals ...uint8) *Pixels { return &Pixels{W: len(vals), H: 1, C: 1, Pix: vals} }

// TestBilinearMatchesPillowByHand checks the resampler against weights derived by hand
// from Pillow's rule: output sample o is centred at (o+0.5)*scale in input coordinates, the
// triangle filter is widened by the scale factor when downscaling, input sample x sits at
// x+0.5, and weights are normalised to sum 1.
func TestBilinearMatchesPillowByHand(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []uint8
		out  int
		want []uint8
	}{
		// 6 -> 2, scale 3: output 0 is centred at 1.5 with radius 3; inputs 0..3 get
		// 2/3, 1, 2/3, 1/3, normalised 1/4, 3/8, 1/4, 1/8: 0*.25+40*.375+80*.25+120*.125 = 50.
		// Output 1 (centre 4.5): inputs 2..5 get 1/8, 1/4, 3/8, 1/4: 10+30+60+50 = 150.
		// (A non-antialiased bilinear would give 60 and 140.)
		{"downscale 3x", []uint8{0, 40, 80, 120, 160, 200}, 2, []uint8{50, 150}},
		// 2 -> 4, scale 1/2: outputs centred at 0.25, 0.75, 1.25, 1.75; edge outputs see one
		// input only: 0, 0.75*0+0.25*100, 75, 100.
		{"upscale 2x", []uint8{0, 100}, 4, []uint8{0, 25, 75, 100}},
		// 3 -> 1: weights 2/7, 3/7, 2/7: (20+60+62)/7 = 20.29 -> 20.
		{"weights of sevenths", []uint8{10, 20, 31}, 1, []uint8{20}},
		// 4 -> 3, scale 4/3, radius 4/3, distances measured in units of 4/3 input samples.
		// Output 0 (centre 2/3): inputs 0, 1 at 1/8, 5/8 get 7/8, 3/8 -> 0.7, 0.3: 15.
		// Output 1 (centre 2): inputs 1, 2 at 3/8 each: (50+150)/2 = 100.
		// Output 2 (centre 10/3): inputs 2, 3 get 0.3, 0.7: 45 + 178.5 = 223.5, which the
		// 22-bit weights (0.3 rounds down, 0.7 up) and the +0.5 bias take to 224.
		{"downscale 4:3", []uint8{0, 50, 150, 255}, 3, []uint8{15, 100, 224}},
	} {
		got := resizeBilinear(row(tc.in...), tc.out, 1)
		if !bytes.Equal(got.Pix, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got.Pix, tc.want)
		}
		// The same along the vertical axis.
		col := &Pixels{W: 1, H: len(tc.in), C: 1, Pix: tc.in}
		if got := resizeBilinear(col, 1, tc.out); !bytes.Equal(got.Pix, tc.want) {
			t.Errorf("%s vertical: got %v, want %v", tc.name, got.Pix, tc.want)
		}
	}
}

func TestQuantizeFormula(t *testing.T) {
	i8 := Spec{Name: "x", Type: schema.TensorTypeINT8, Shape: []int32{8}, Scale: 1, ZeroPoint: 0}
	got, err := Quantize([]float32{0.5, -0.5, 1.5, -2.5, 1000, -1000, 0.49, 126.5}, i8)
	if err != nil {
		t.Fatal(err)
	}
	want := []int8{1, -1, 2, -3, 127, -128, 0, 127} // half away from zero, then clamp
	for i, w := range want {
		if int8(got[i]) != w {
			t.Errorf("int8 %d: got %d want %d", i, int8(got[i]), w)
		}
	}
	u8 := Spec{Name: "x", Type: schema.TensorTypeUINT8, Shape: []int32{3}, Scale: 0.5, ZeroPoint: 10}
	got, _ = Quantize([]float32{-10, 1.25, 200}, u8)
	if !bytes.Equal(got, []byte{0, 13, 255}) {
		t.Errorf("uint8: got %v", got)
	}
	i16 := Spec{Name: "x", Type: schema.TensorTypeINT16, Shape: []int32{2}, Scale: 0.001}
	got, _ = Quantize([]float32{-40, 1}, i16)
	if !bytes.Equal(got, []byte{0x00, 0x80, 0xe8, 0x03}) {
		t.Errorf("int16: got %v", got)
	}
	if _, err := Quantize([]float32{1}, Spec{Name: "x", Type: schema.TensorTypeINT8, Shape: []int32{1}}); err == nil || !strings.Contains(err.Error(), "no quantization scale") {
		t.Errorf("unquantized int8: %v", err)
	}
}

// A 2x1 RGB image: pixel 0 = (0,128,255), pixel 1 = (10,20,30).
var twoPixels = &Pixels{W: 2, H: 1, C: 3, Pix: []uint8{0, 128, 255, 10, 20, 30}}

func TestLayoutChannelOrderAndRange(t *testing.T) {
	// vww-style: scale 1/255, zero point -128, so q = pixel - 128 with range 0..1.
	nhwc := Spec{Name: "in", Type: schema.TensorTypeINT8, Shape: []int32{1, 1, 2, 3}, Scale: 1.0 / 255, ZeroPoint: -128}
	got, err := ImageOptions{Resize: ResizeNone, Layout: LayoutNHWC}.Tensor(twoPixels, nhwc)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int8{-128, 0, 127, -118, -108, -98}; !equalInt8(got, want) {
		t.Errorf("NHWC: got %v want %v", asInt8(got), want)
	}
	nchw := nhwc
	nchw.Shape = []int32{1, 3, 1, 2} // NCHW is unambiguous here
	got, _ = ImageOptions{Resize: ResizeNone, BGR: true}.Tensor(twoPixels, nchw)
	if want := []int8{127, -98, 0, -108, -128, -118}; !equalInt8(got, want) {
		t.Errorf("NCHW BGR: got %v want %v", asInt8(got), want)
	}
	// Float tensor, -1..1: v = x/127.5 - 1.
	f32 := Spec{Name: "in", Type: schema.TensorTypeFLOAT32, Shape: []int32{1, 1, 2, 3}}
	got, _ = ImageOptions{Resize: ResizeNone, Range: RangeSigned, Layout: LayoutNHWC}.Tensor(twoPixels, f32)
	v, _ := Values(f32, got)
	for i, px := range twoPixels.Pix {
		if w := float64(float32(px)/127.5 - 1); v[i] != w {
			t.Errorf("float -1..1 %d: got %v want %v", i, v[i], w)
		}
	}
	// Grayscale tensor: Pillow's L = (299 R + 587 G + 114 B)/1000 in 16-bit fixed point.
	gray := Spec{Name: "in", Type: schema.TensorTypeUINT8, Shape: []int32{1, 1, 2, 1}, Scale: 1}
	got, _ = ImageOptions{Resize: ResizeNone, Range: Range255, Layout: LayoutNHWC}.Tensor(twoPixels, gray)
	if want := []byte{104, 18}; !bytes.Equal(got, want) { // 0+75.1+29.1 = 104.2; 3+11.7+3.4 = 18.1
		t.Errorf("gray: got %v want %v", got, want)
	}
	// Mean/std: q = round(((x/255 - m)/s)/scale) + zp, all in float32.
	o, _ := Preset("torchvision")
	o.Resize = ResizeNone
	got, _ = o.Tensor(twoPixels, nchw)
	mean, std := []float32{0.485, 0.456, 0.406}, []float32{0.229, 0.224, 0.225}
	for i := range got {
		k, x := i/2, i%2
		px := float32(twoPixels.Pix[x*3+k])
		v := (px/255 - mean[k]) / std[k]
		w := int8(math.Max(-128, math.Min(127, math.Round(float64(v/nchw.Scale))-128)))
		if int8(got[i]) != w {
			t.Errorf("torchvision %d: got %d want %d", i, int8(got[i]), w)
		}
	}
}

func TestLayoutErrors(t *testing.T) {
	for _, tc := range []struct {
		shape []int32
		o     ImageOptions
		want  string
	}{
		{[]int32{1, 3, 2, 3}, ImageOptions{}, "could be NHWC or NCHW"},
		{[]int32{1, 4, 4, 4}, ImageOptions{}, "no channel axis"},
		{[]int32{2, 4, 4, 3}, ImageOptions{}, "batch of 1"},
		{[]int32{1, 4, 4, 3}, ImageOptions{Layout: LayoutNCHW}, "not NCHW"},
		{[]int32{1, 4, 4, 3}, ImageOptions{Resize: ResizeNone}, "image is 2x1, the tensor wants 4x4"},
		{[]int32{1, 4, 4, 3}, ImageOptions{Mean: []float32{1, 2}}, "mean has 2 values"},
		{[]int32{1, 4, 4, 3}, ImageOptions{Range: "0..9"}, "unknown pixel range"},
	} {
		s := Spec{Name: "in", Type: schema.TensorTypeINT8, Shape: tc.shape, Scale: 1}
		_, err := tc.o.Tensor(twoPixels, s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %+v: got %v, want %q", tc.shape, tc.o, err, tc.want)
		}
	}
	// An explicit layout resolves the ambiguity.
	s := Spec{Name: "in", Type: schema.TensorTypeINT8, Shape: []int32{1, 3, 2, 3}, Scale: 1}
	if _, err := (ImageOptions{Layout: LayoutNHWC}).Tensor(twoPixels, s); err != nil {
		t.Errorf("explicit NHWC: %v", err)
	}
}

func TestCentreCropRoundsHalfToEven(t *testing.T) {
	// 7x2 image whose pixel value is its column; shorter side already 2, so no resampling;
	// the crop offset is round((7-2)/2) = round(2.5) = 2 (Python's round, as torchvision).
	p := &Pixels{W: 7, H: 2, C: 1, Pix: []uint8{0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6}}
	s := Spec{Name: "in", Type: schema.TensorTypeUINT8, Shape: []int32{1, 2, 2, 1}, Scale: 1}
	got, err := ImageOptions{Range: Range255, ResizeTo: 2}.Tensor(p, s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte{2, 3, 2, 3}) {
		t.Errorf("got %v", got)
	}
	// Cover sizes: shorter side 256 of 500x375 -> 341x256 (truncated, as torchvision).
	if w, h := coverSize(500, 375, 224, 224, 256); w != 341 || h != 256 {
		t.Errorf("coverSize = %dx%d", w, h)
	}
	if w, h := coverSize(100, 400, 40, 20, 0); w != 40 || h != 160 {
		t.Errorf("cover for wide tensor = %dx%d", w, h)
	}
}

func TestFancyUpsampling(t *testing.T) {
	// Chroma [0, 100] subsampled 2x2 to a 4x2 image: libjpeg's triangle filter gives
	// (4*0*4+8)>>4, (3*0+100)*4+7>>4, ... = 0, 25, 75, 100 on both rows.
	dst := make([]uint8, 8)
	upsample([]uint8{0, 100}, 2, 0, 4, 2, 2, 2, dst)
	if want := []uint8{0, 25, 75, 100, 0, 25, 75, 100}; !bytes.Equal(dst, want) {
		t.Errorf("h2v2: got %v want %v", dst, want)
	}
	// Vertical weights: rows [0; 100] -> 4 rows: 0, (3*0+100+2)>>2 = 25, (300+0+1)>>2 = 75, 100.
	dst = make([]uint8, 4)
	upsample([]uint8{0, 100}, 1, 0, 1, 4, 1, 2, dst)
	if want := []uint8{0, 25, 75, 100}; !bytes.Equal(dst, want) {
		t.Errorf("h1v2: got %v want %v", dst, want)
	}
}

func TestDecodeImageFormats(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	img.Set(0, 0, color.NRGBA{0, 128, 255, 255})
	img.Set(1, 0, color.NRGBA{10, 20, 30, 40}) // alpha is dropped, colour kept
	var pngBuf, bmpBuf bytes.Buffer
	png.Encode(&pngBuf, img)
	opaque := image.NewRGBA(img.Bounds())
	opaque.Set(0, 0, color.RGBA{0, 128, 255, 255})
	opaque.Set(1, 0, color.RGBA{10, 20, 30, 255})
	bmp.Encode(&bmpBuf, opaque)
	for name, data := range map[string][]byte{"png": pngBuf.Bytes(), "bmp": bmpBuf.Bytes()} {
		p, err := DecodeImage(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.W != 2 || p.H != 1 || p.C != 3 || !bytes.Equal(p.Pix, twoPixels.Pix) {
			t.Errorf("%s: got %+v", name, p)
		}
	}
	if _, err := DecodeImage([]byte("GIF89a or rather nothing")); err == nil || !strings.Contains(err.Error(), "not a readable PNG, JPEG or BMP image") {
		t.Errorf("garbage: %v", err)
	}
	if _, err := DecodeImage(pngBuf.Bytes()[:40]); err == nil {
		t.Errorf("truncated PNG decoded")
	}
}

func TestRawSizeError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "short.raw")
	os.WriteFile(path, make([]byte, 100), 0o644)
	s := Spec{Name: "input", Type: schema.TensorTypeINT8, Shape: []int32{1, 96, 96, 1}}
	_, err := Load(path, s, ImageOptions{})
	if err == nil || err.Error() != path+": raw file has 100 bytes, tensor input int8[1,96,96,1] needs 9216" {
		t.Errorf("got %v", err)
	}
}

// mbv2ptCase is an ImageNet photo of images/imagenet-sample with the mbv2pt_* tensor that
// was made from it with Pillow (../shared/data/README.md).
type mbv2ptCase struct{ name, jpeg, tensor string }

// read returns the photo's file and its reference tensor.
func (c mbv2ptCase) read(t testing.TB) (jpeg, tensor []byte) {
	jpeg, err := os.ReadFile(c.jpeg)
	if err == nil {
		tensor, err = os.ReadFile(c.tensor)
	}
	if err != nil {
		t.Fatal(err)
	}
	return jpeg, tensor
}

// mbv2ptCases lists every photo of images/imagenet-sample that has a matching tensor.
func mbv2ptCases(t testing.TB) []mbv2ptCase {
	d := dataDir(t)
	jpegs, _ := filepath.Glob(filepath.Join(d, "images", "imagenet-sample", "*.JPEG"))
	var cases []mbv2ptCase
	for _, j := range jpegs {
		name := strings.TrimSuffix(filepath.Base(j), ".JPEG") // <class>_<wnid>_<name>
		_, wnidName, ok := strings.Cut(name, "_")
		tensor := filepath.Join(d, "inputs", "mbv2pt_"+wnidName+"_1x3x224x224_int8.raw")
		if _, err := os.Stat(tensor); ok && err == nil {
			cases = append(cases, mbv2ptCase{name, j, tensor})
		}
	}
	if len(cases) == 0 {
		t.Fatalf("no photo in %s has an mbv2pt_* tensor", filepath.Join(d, "images", "imagenet-sample"))
	}
	return cases
}

// mbv2ptSpec is mobilenet_v2_quantized_1x3x224x224.tflite's input tensor.
var mbv2ptSpec = Spec{Name: "input", Type: schema.TensorTypeINT8, Shape: []int32{1, 3, 224, 224}, Scale: 0.0186311156, ZeroPoint: -14}

// requireExactJPEG skips when libjpeg is unavailable, except under CI, which installs it.
func requireExactJPEG(t testing.TB) {
	if err := ExactJPEG(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must decode JPEGs exactly: %v", err)
		}
		t.Skip(err)
	}
}

// TestTorchvisionPresetIsPillowExact demands the torchvision preset's input bytes equal the
// reference tensors made with Pillow (decode, convert("RGB"), resize(BILINEAR), crop) and
// ToTensor/Normalize arithmetic, for every photo that has one.
//
// The reference recipe rounds the scaled longer side (round(256*500/339) = 378) where
// torchvision's Resize(256) truncates it (int(...) = 377, what the preset does). For a
// photo where the two differ, the tensor is checked at the recipe's size, which still
// tests decoding, resampling, cropping and quantization byte for byte.
func TestTorchvisionPresetIsPillowExact(t *testing.T) {
	cases := mbv2ptCases(t)
	requireExactJPEG(t)
	o, _ := Preset("torchvision")
	for _, c := range cases {
		data, want := c.read(t)
		p, err := DecodeImage(data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tw, th := coverSize(p.W, p.H, 224, 224, 256)
		rw, rh := roundedCoverSize(p.W, p.H, 256)
		var got []byte
		if tw == rw && th == rh {
			got, err = Load(c.jpeg, mbv2ptSpec, o)
		} else {
			t.Logf("%s: %dx%d; torchvision resizes to %dx%d, the reference recipe to %dx%d: checked at the recipe's size", c.name, p.W, p.H, tw, th, rw, rh)
			exact := o
			exact.Resize = ResizeNone
			got, err = exact.Tensor(recipeCrop(p), mbv2ptSpec)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n := countDiff(got, want); n != 0 {
			t.Errorf("%s: %d of %d input bytes differ from the Pillow reference", c.name, n, len(want))
		}
	}
	t.Logf("%d photos checked", len(cases))
}

// TestTorchvisionPresetMatchesPillowDigests runs every photo of images/imagenet-sample
// (gray, 4:4:4, 4:2:2 and 4:2:0 JPEGs of many sizes) through the torchvision preset and
// compares the SHA-256 of the input bytes with that of the tensor Pillow + torchvision give
// (testdata/README.md). -short checks every tenth photo.
func TestTorchvisionPresetMatchesPillowDigests(t *testing.T) {
	d := dataDir(t)
	requireExactJPEG(t)
	tsv, err := os.ReadFile(filepath.Join("testdata", "imagenet_sample_torchvision_sha256.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	o, _ := Preset("torchvision")
	checked := 0
	for i, line := range strings.Split(strings.TrimSpace(string(tsv)), "\n")[1:] {
		col := strings.Split(line, "\t")
		if len(col) != 4 {
			t.Fatalf("testdata line %d: %q", i+2, line)
		}
		if testing.Short() && i%10 != 0 {
			continue
		}
		got, err := Load(filepath.Join(d, "images", "imagenet-sample", col[0]), mbv2ptSpec, o)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != col[3] {
			t.Errorf("%s (%s %s): input bytes differ from Pillow + torchvision's", col[0], col[1], col[2])
		}
		checked++
	}
	t.Logf("%d photos checked", checked)
}

// recipeCrop is the reference recipe's geometry: shorter side to 256 (the longer one rounded
// to nearest, see roundedCoverSize), centre 224x224 crop.
func recipeCrop(p *Pixels) *Pixels {
	w, h := roundedCoverSize(p.W, p.H, 256)
	r := resizeBilinear(p, w, h)
	return crop(r, int(math.RoundToEven(float64(w-224)/2)), int(math.RoundToEven(float64(h-224)/2)), 224, 224)
}

// roundedCoverSize is the reference recipe's resize: shorter side to short, longer side
// scaled and rounded to nearest.
func roundedCoverSize(w, h, short int) (int, int) {
	if w <= h {
		return short, int(math.Round(float64(short) * float64(h) / float64(w)))
	}
	return int(math.Round(float64(short) * float64(w) / float64(h))), short
}

// TestGoJPEGFallbackIsClose keeps the stand-in decoder (Go's image/jpeg, used where libjpeg
// is missing) honest: its inverse DCT differs from libjpeg's, so pixels may move by a step,
// but colour conversion and upsampling are libjpeg's, so nearly all bytes agree.
func TestGoJPEGFallbackIsClose(t *testing.T) {
	o, _ := Preset("torchvision")
	o.Resize = ResizeNone
	for _, c := range mbv2ptCases(t) {
		data, want := c.read(t)
		p, err := decodeGo(data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := o.Tensor(recipeCrop(p), mbv2ptSpec)
		if err != nil {
			t.Fatal(err)
		}
		same, maxd := len(got)-countDiff(got, want), 0
		for i := range got {
			d := int(int8(got[i])) - int(int8(want[i]))
			maxd = max(maxd, d, -d)
		}
		frac := float64(same) / float64(len(got))
		t.Logf("%s: Go's decoder gives %.2f%% identical bytes, max |diff| %d", c.name, 100*frac, maxd)
		if frac < 0.95 || maxd > 2 {
			t.Errorf("%s: only %.2f%% identical, max |diff| %d", c.name, 100*frac, maxd)
		}
	}
}

// TestCMYKToRGBLikePillow checks the CMYK conversion against values Pillow 9.4's
// Image.convert("RGB") gives for the same CMYK pixels.
func TestCMYKToRGBLikePillow(t *testing.T) {
	cmyk := []uint8{0, 0, 0, 0, 100, 50, 200, 60, 255, 255, 255, 255, 10, 250, 128, 200}
	got := cmykToRGB(4, 1, cmyk, 16)
	if want := []uint8{255, 255, 255, 119, 157, 42, 0, 0, 0, 53, 1, 27}; got.C != 3 || !bytes.Equal(got.Pix, want) {
		t.Errorf("got %v, want %v", got.Pix, want)
	}
}

// TestGray16ClipsLikePillow: Pillow opens a 16-bit gray PNG in mode "I", whose conversion to
// 8 bits clips (0, 100, 255, 256, 1000, 65535 -> 0, 100, 255, 255, 255, 255).
func TestGray16ClipsLikePillow(t *testing.T) {
	img := image.NewGray16(image.Rect(0, 0, 6, 1))
	for i, v := range []uint16{0, 100, 255, 256, 1000, 65535} {
		img.SetGray16(i, 0, color.Gray16{Y: v})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p, err := DecodeImage(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint8{0, 100, 255, 255, 255, 255}; p.C != 1 || !bytes.Equal(p.Pix, want) {
		t.Errorf("got %+v, want gray %v", p, want)
	}
}

func countDiff(a, b []byte) int {
	n := max(len(b)-len(a), 0)
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			n++
		}
	}
	return n
}

func asInt8(b []byte) []int8 {
	out := make([]int8, len(b))
	for i, v := range b {
		out[i] = int8(v)
	}
	return out
}

func equalInt8(b []byte, want []int8) bool {
	if len(b) != len(want) {
		return false
	}
	for i := range b {
		if int8(b[i]) != want[i] {
			return false
		}
	}
	return true
}

// BenchmarkLoadTorchvision measures decoding and preprocessing one 500x375 ImageNet JPEG
// into MobileNetV2's int8 [1,3,224,224] input.
func BenchmarkLoadTorchvision(b *testing.B) {
	d := dataDir(b)
	img := filepath.Join(d, "images", "imagenet-sample", "340_n02391049_zebra.JPEG")
	s := Spec{Name: "input", Type: schema.TensorTypeINT8, Shape: []int32{1, 3, 224, 224}, Scale: 0.0186311156, ZeroPoint: -14}
	o, _ := Preset("torchvision")
	for b.Loop() {
		if _, err := Load(img, s, o); err != nil {
			b.Fatal(err)
		}
	}
}
