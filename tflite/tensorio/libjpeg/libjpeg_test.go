package libjpeg

import (
	"bytes"
	"errors"
	"image"
	"image/draw"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// requireLibjpeg skips a test when libjpeg cannot be loaded, except under CI (.ci/run
// installs it), where exactness must not silently go untested.
func requireLibjpeg(t testing.TB) {
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must have libjpeg: %v", err)
		}
		t.Skip(err)
	}
}

func readCase(t *testing.T, name string) (jpg, want []byte) {
	var err error
	if jpg, err = os.ReadFile(filepath.Join("testdata", name+".jpg")); err != nil {
		t.Fatal(err)
	}
	if want, err = os.ReadFile(filepath.Join("testdata", name+".pillow")); err != nil {
		t.Fatal(err)
	}
	return jpg, want
}

// TestDecodeMatchesPillow compares the decoded samples with what Pillow decodes from the
// same files (testdata/README.md), byte for byte. Go's image/jpeg, with its own inverse
// DCT, is shown alongside: the goldens tell the two apart.
func TestDecodeMatchesPillow(t *testing.T) {
	requireLibjpeg(t)
	t.Logf("decoder: %s", Version())
	for _, tc := range []struct {
		name     string
		channels int
	}{
		{"rgb444", 3}, {"rgb422", 3}, {"rgb420", 3}, {"rgb420_progressive", 3}, {"gray", 1}, {"cmyk", 4},
	} {
		jpg, want := readCase(t, tc.name)
		img, err := Decode(jpg, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if img.Width != 29 || img.Height != 19 || img.Channels != tc.channels {
			t.Fatalf("%s: decoded %dx%dx%d, want 29x19x%d", tc.name, img.Width, img.Height, img.Channels, tc.channels)
		}
		if !bytes.Equal(img.Pix, want) {
			t.Errorf("%s: %d of %d samples differ from Pillow's", tc.name, countDiff(img.Pix, want), len(want))
		}
		if g, err := jpeg.Decode(bytes.NewReader(jpg)); err == nil && tc.channels == 1 {
			gray := image.NewGray(g.Bounds())
			draw.Draw(gray, gray.Rect, g, g.Bounds().Min, draw.Src)
			t.Logf("%s: Go's image/jpeg differs from Pillow in %d of %d samples", tc.name, countDiff(gray.Pix, want), len(want))
		}
	}
}

func countDiff(a, b []byte) int {
	n := 0
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			n++
		}
	}
	return n + max(len(b)-len(a), 0)
}

func TestDecodeRefusals(t *testing.T) {
	requireLibjpeg(t)
	jpg, _ := readCase(t, "rgb420")
	prog, _ := readCase(t, "rgb420_progressive")
	// Cut the baseline file in the middle of its scan, the progressive one before its last
	// scan (SOS marker FF DA).
	sos := bytes.LastIndex(jpg, []byte{0xFF, 0xDA})
	midScan := jpg[:sos+(len(jpg)-sos)/2]
	lastScan := prog[:bytes.LastIndex(prog, []byte{0xFF, 0xDA})]
	for _, tc := range []struct {
		name string
		data []byte
		max  int64
		want string
	}{
		{"truncated in the scan", midScan, 1 << 20, ErrTruncated.Error()},
		{"truncated progressive", lastScan, 1 << 20, ErrTruncated.Error()},
		// Pillow refuses a file whose EOI marker is missing as well.
		{"no EOI marker", jpg[:len(jpg)-2], 1 << 20, ErrTruncated.Error()},
		{"truncated header", jpg[:40], 1 << 20, ErrTruncated.Error()},
		{"not a JPEG", []byte("GIF89a, or rather nothing"), 1 << 20, "libjpeg: Not a JPEG file"},
		{"empty", nil, 1 << 20, "empty JPEG data"},
		{"too large", jpg, 29*19 - 1, "JPEG image of 29x19 pixels is larger than the limit of 550 pixels"},
	} {
		_, err := Decode(tc.data, tc.max)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := Decode(midScan, 1<<20); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated data: %v is not ErrTruncated", err)
	}
}

// FuzzDecode checks that hostile data yields an error or an image of the declared size,
// never a crash.
func FuzzDecode(f *testing.F) {
	requireLibjpeg(f)
	for _, name := range []string{"rgb420", "rgb420_progressive", "gray", "cmyk"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".jpg"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data, 1<<16)
		if err != nil {
			return
		}
		if img.Width*img.Height > 1<<16 || len(img.Pix) != img.Width*img.Height*img.Channels {
			t.Fatalf("decoded %dx%dx%d into %d bytes", img.Width, img.Height, img.Channels, len(img.Pix))
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	requireLibjpeg(b)
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "shared", "data", "images", "imagenet-sample", "340_n02391049_zebra.JPEG"))
	if err != nil {
		b.Skipf("shared data absent: %v", err)
	}
	for b.Loop() {
		if _, err := Decode(data, 1<<27); err != nil {
			b.Fatal(err)
		}
	}
}
