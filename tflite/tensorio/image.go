package tensorio

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode

	_ "golang.org/x/image/bmp" // registers BMP with image.Decode

	"github.com/quantmcu/quantmcu/tflite/tensorio/libjpeg"
)

// maxPixels bounds the decoded size of an image (a guard against decompression bombs): a
// 48-megapixel photo fits, and a 600 KB PNG can no longer make the decoder hold 1.5 GB.
const maxPixels = 1 << 26

// Pixels is an 8-bit image with C interleaved channels per pixel (1 = gray, 3 = RGB),
// rows top to bottom.
type Pixels struct {
	W, H, C int
	Pix     []uint8
}

// DecodeImage decodes a PNG, JPEG or BMP file into 8-bit RGB, or 8-bit gray for grayscale
// files, as PIL.Image.open does; 4-channel images become RGB as Pillow's convert("RGB")
// makes them: alpha dropped (not blended), CMYK by Pillow's formula. JPEGs are decoded by
// libjpeg-turbo (package libjpeg), the library Pillow uses, so the pixels are Pillow's
// exactly; where libjpeg cannot be loaded (see ExactJPEG) Go's decoder stands in, with
// libjpeg's colour conversion and chroma upsampling but its own inverse DCT, which moves
// some pixels by one step.
func DecodeImage(data []byte) (*Pixels, error) {
	if isJPEG(data) && libjpeg.Available() == nil {
		return decodeLibjpeg(data)
	}
	return decodeGo(data)
}

// decodeLibjpeg decodes a JPEG file with libjpeg.
func decodeLibjpeg(data []byte) (*Pixels, error) {
	img, err := libjpeg.Decode(data, maxPixels)
	if err != nil {
		return nil, err
	}
	if img.Channels == 4 {
		return cmykToRGB(img.Width, img.Height, img.Pix, img.Width*4), nil
	}
	return &Pixels{W: img.Width, H: img.Height, C: img.Channels, Pix: img.Pix}, nil
}

// decodeGo decodes a file with Go's image decoders.
func decodeGo(data []byte) (*Pixels, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a readable PNG, JPEG or BMP image: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, fmt.Errorf("%s image of %dx%d pixels is empty or larger than the limit of %d pixels", format, cfg.Width, cfg.Height, int64(maxPixels))
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode %s image: %w", format, err)
	}
	return toPixels(img), nil
}

// ExactJPEG returns nil when JPEGs are decoded by libjpeg (Pillow-identical pixels), else
// an error saying why Go's decoder stands in.
func ExactJPEG() error {
	if err := libjpeg.Available(); err != nil {
		return fmt.Errorf("%w; JPEGs are decoded by Go's image/jpeg, whose inverse DCT differs from Pillow's (libjpeg-turbo) by one step in some pixels", err)
	}
	return nil
}

// isJPEG reports whether data starts with a JPEG SOI marker.
func isJPEG(data []byte) bool {
	return len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF
}

// cmykToRGB converts CMYK (255 = full ink) to RGB as Pillow's convert("RGB") does (its
// cmyk2rgb): each channel is (255-K) - (ink × (255-K))/255, the product divided by 255 with
// Pillow's rounding (t = a×b + 128; (t + t>>8) >> 8).
func cmykToRGB(w, h int, pix []uint8, stride int) *Pixels {
	p := &Pixels{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
	for y := 0; y < h; y++ {
		row := pix[y*stride:]
		for x := 0; x < w; x++ {
			in := row[4*x : 4*x+4]
			nk := 255 - int32(in[3])
			for k := 0; k < 3; k++ {
				t := int32(in[k])*nk + 128
				p.Pix[(y*w+x)*3+k] = clamp8(nk - (t+t>>8)>>8)
			}
		}
	}
	return p
}

func toPixels(img image.Image) *Pixels {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.Gray:
		p := &Pixels{W: w, H: h, C: 1, Pix: make([]uint8, w*h)}
		for y := 0; y < h; y++ {
			off := m.PixOffset(b.Min.X, b.Min.Y+y)
			copy(p.Pix[y*w:(y+1)*w], m.Pix[off:off+w])
		}
		return p
	case *image.Gray16:
		// Pillow opens 16-bit gray PNGs in mode "I" and converts that to 8 bits by clipping
		// at 255 (not by dropping the low byte).
		p := &Pixels{W: w, H: h, C: 1, Pix: make([]uint8, w*h)}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p.Pix[y*w+x] = uint8(min(m.Gray16At(b.Min.X+x, b.Min.Y+y).Y, 255))
			}
		}
		return p
	case *image.YCbCr:
		return ycbcrToRGB(m)
	case *image.CMYK:
		return cmykToRGB(w, h, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride)
	}
	p := &Pixels{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			p.Pix[i], p.Pix[i+1], p.Pix[i+2] = c.R, c.G, c.B
			i += 3
		}
	}
	return p
}

// ycbcrToRGB converts a decoded JPEG's planes to RGB. Chroma planes subsampled 2x in either
// direction are upsampled with libjpeg's fancy (triangle) filter; other layouts replicate.
func ycbcrToRGB(m *image.YCbCr) *Pixels {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	var hs, vs int // subsampling factors
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		hs, vs = 1, 2
	}
	cb := make([]uint8, w*h)
	cr := make([]uint8, w*h)
	if hs == 0 {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				o := m.COffset(b.Min.X+x, b.Min.Y+y)
				cb[y*w+x], cr[y*w+x] = m.Cb[o], m.Cr[o]
			}
		}
	} else {
		upsample(m.Cb, m.CStride, m.COffset(b.Min.X, b.Min.Y), w, h, hs, vs, cb)
		upsample(m.Cr, m.CStride, m.COffset(b.Min.X, b.Min.Y), w, h, hs, vs, cr)
	}
	p := &Pixels{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
	t := newYCCTables()
	for y := 0; y < h; y++ {
		yo := m.YOffset(b.Min.X, b.Min.Y+y)
		for x := 0; x < w; x++ {
			i := y*w + x
			yy := int32(m.Y[yo+x])
			cbv, crv := cb[i], cr[i]
			p.Pix[3*i] = clamp8(yy + t.crR[crv])
			p.Pix[3*i+1] = clamp8(yy + (t.cbG[cbv]+t.crG[crv])>>yccBits)
			p.Pix[3*i+2] = clamp8(yy + t.cbB[cbv])
		}
	}
	return p
}

const yccBits = 16

// yccTables hold libjpeg's fixed-point YCbCr→RGB terms for each chroma value.
type yccTables struct{ crR, cbB, crG, cbG [256]int32 }

func newYCCTables() *yccTables {
	fix := func(v float64) int64 { return int64(v*(1<<yccBits) + 0.5) }
	half := int64(1) << (yccBits - 1)
	t := &yccTables{}
	for i := range 256 {
		x := int64(i - 128)
		t.crR[i] = int32((fix(1.40200)*x + half) >> yccBits)
		t.cbB[i] = int32((fix(1.77200)*x + half) >> yccBits)
		t.crG[i] = int32(-fix(0.71414) * x)
		t.cbG[i] = int32(-fix(0.34414)*x + half)
	}
	return t
}

func clamp8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// upsample expands a chroma plane subsampled by (hs, vs) ∈ {1,2}² to w×h with libjpeg's
// fancy upsampling: each output sample weights the nearer input sample 3/4 and the farther
// 1/4 in each subsampled direction, with libjpeg's alternating rounding biases; edge samples
// are replicated.
func upsample(src []uint8, stride, off, w, h, hs, vs int, dst []uint8) {
	cw := (w + hs - 1) / hs
	ch := (h + vs - 1) / vs
	at := func(x, y int) int32 {
		x = min(max(x, 0), cw-1)
		y = min(max(y, 0), ch-1)
		return int32(src[off+y*stride+x])
	}
	// colsum(x, y) is the vertically filtered chroma value for output row y at chroma column x,
	// scaled by 4 when filtering vertically.
	for y := 0; y < h; y++ {
		cy := y / vs
		ny := cy // vertical neighbour
		if vs == 2 {
			if y%2 == 0 {
				ny = cy - 1
			} else {
				ny = cy + 1
			}
		}
		colsum := func(x int) int32 {
			if vs == 2 {
				return 3*at(x, cy) + at(x, ny)
			}
			return at(x, cy)
		}
		for x := 0; x < w; x++ {
			cx := x / hs
			var v int32
			switch {
			case hs == 2 && vs == 2:
				this := colsum(cx)
				var other int32
				var bias int32
				if x%2 == 0 {
					other, bias = colsum(max(cx-1, 0)), 8
				} else {
					other, bias = colsum(min(cx+1, cw-1)), 7
				}
				v = (3*this + other + bias) >> 4
			case hs == 2:
				this := at(cx, cy)
				var other, bias int32
				if x%2 == 0 {
					other, bias = at(cx-1, cy), 1
				} else {
					other, bias = at(cx+1, cy), 2
				}
				v = (3*this + other + bias) >> 2
			case vs == 2:
				var bias int32 = 1
				if y%2 == 1 {
					bias = 2
				}
				v = (colsum(cx) + bias) >> 2
			default:
				v = at(cx, cy)
			}
			dst[y*w+x] = uint8(v)
		}
	}
}
