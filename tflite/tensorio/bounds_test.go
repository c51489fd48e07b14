package tensorio

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Issue 10: --resize-to 1000000000 ran out of memory and 60000 took 3 GB; both are refused
// before any pixel is allocated. A legitimate resize still works.
func TestResizeIsBounded(t *testing.T) {
	p := &Pixels{W: 500, H: 375, C: 3, Pix: make([]uint8, 500*375*3)}
	s := Spec{Name: "in", Type: schema.TensorTypeINT8, Shape: []int32{1, 96, 96, 3}, Scale: 1.0 / 255, ZeroPoint: -128}
	for to, want := range map[int]string{1000000000: "larger than 65536", 60000: "to 80000x60000 exceeds the limit of 33554432 pixels"} {
		o := ImageOptions{Resize: ResizeShorter, ResizeTo: to}
		_, err := o.Tensor(p, s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--resize-to %d: %v", to, err)
		}
	}
	if err := (ImageOptions{ResizeTo: 1 << 40}).Validate(); err == nil {
		t.Error("resize size 2^40 accepted")
	}
	huge := Spec{Name: "in", Type: schema.TensorTypeINT8, Shape: []int32{1, 30000, 30000, 3}, Scale: 1}
	if _, err := (ImageOptions{Resize: ResizeDirect}).Tensor(p, huge); err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Errorf("direct resize to 30000x30000: %v", err)
	}
	got, err := ImageOptions{Resize: ResizeShorter, ResizeTo: 128}.Tensor(p, s)
	if err != nil || len(got) != 96*96*3 {
		t.Errorf("--resize-to 128: %d bytes, %v", len(got), err)
	}
}

// Issue 10: inputs read from devices were read without end; every kind is bounded by what
// the tensor can use, counted in bytes read.
func TestLoadFromEndlessDevice(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	dir := t.TempDir()
	s := Spec{Name: "in", Type: schema.TensorTypeINT8, Shape: []int32{1, 96, 96, 1}, Scale: 1}
	for name, want := range map[string]string{
		"zero.raw": "raw file has more than 9216 bytes, tensor in int8[1,96,96,1] needs 9216",
		"zero.npy": "too large: more than 1033 KiB, the most quantmcu reads for an .npy input",
		"zero.png": "not a PNG, JPEG or BMP image",
	} {
		p := filepath.Join(dir, name)
		if err := os.Symlink("/dev/zero", p); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p, s, ImageOptions{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
	if _, err := Load("/dev/zero", s, ImageOptions{}); err == nil || !strings.Contains(err.Error(), "/dev/zero: raw file has more than") {
		t.Errorf("/dev/zero: %v", err)
	}
}

// pngHeader returns the signature and IHDR chunk of a w x h 8-bit RGB PNG: enough for
// DecodeConfig, nothing for the decoder.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, uint32(len(ihdr)-4))
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

// Issue 10: image sizes are bounded when decoded; a decompression bomb (a small PNG of
// 11585x11585 pixels took 1.5 GB) is refused from its header.
func TestDecodedSizeIsBounded(t *testing.T) {
	_, err := DecodeImage(pngHeader(8193, 8192))
	if err == nil || !strings.Contains(err.Error(), "png image of 8193x8192 pixels is empty or larger than the limit of 67108864 pixels") {
		t.Errorf("8193x8192: %v", err)
	}
	// A 48-megapixel photo passes the size check (and fails later, on the missing data).
	_, err = DecodeImage(pngHeader(8000, 6000))
	if err == nil || strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("8000x6000: %v", err)
	}
}
