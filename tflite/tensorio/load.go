package tensorio

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/quantmcu/quantmcu/tflite/boundedread"
)

// Kind is the kind of an input file, chosen by its extension.
type Kind string

// Input kinds.
const (
	KindRaw   Kind = "raw"   // the tensor's bytes as they are (any extension not listed below)
	KindNPY   Kind = "npy"   // .npy
	KindImage Kind = "image" // .png, .jpg, .jpeg, .bmp
)

// KindOf classifies a file name by its extension (case-insensitive).
func KindOf(path string) Kind {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return KindNPY
	case ".png", ".jpg", ".jpeg", ".bmp":
		return KindImage
	}
	return KindRaw
}

// maxImageFile bounds the size of image files read (decoded sizes are bounded separately).
const maxImageFile = 256 << 20

// npyHeaderRoom is what an .npy file may hold beyond its tensor's bytes (magic, version,
// header dictionary and padding).
const npyHeaderRoom = 1 << 20

// Load reads the input file at path and returns the bytes of tensor s. Raw files must have
// exactly the tensor's size; .npy arrays must have its dtype and element count; images are
// preprocessed with o. Errors name the file. Reads are bounded by what the tensor can use,
// counted in bytes read (devices and pipes report no size).
func Load(path string, s Spec, o ImageOptions) ([]byte, error) {
	want, err := s.Bytes()
	if err != nil {
		return nil, err
	}
	kind := KindOf(path)
	var data []byte
	switch kind {
	case KindRaw:
		data, err = boundedread.File(path, int64(want), "a raw input", nil)
		if errors.Is(err, boundedread.ErrTooLarge) {
			return nil, fmt.Errorf("%s: raw file has more than %d bytes, tensor %s %s needs %d", path, want, s.Name, s, want)
		}
	case KindNPY:
		data, err = boundedread.File(path, int64(want)+npyHeaderRoom, "an .npy input", nil)
	default:
		data, err = boundedread.File(path, maxImageFile, "an image", checkImageHead)
	}
	if err != nil {
		return nil, err
	}
	b, err := Decode(data, kind, s, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// checkImageHead refuses a file that starts like none of the image formats read (PNG, JPEG,
// BMP), before the rest of it is read.
func checkImageHead(head []byte) error {
	for _, magic := range []string{"\x89PNG\r\n\x1a\n", "\xff\xd8", "BM"} {
		if len(head) < len(magic) || string(head[:len(magic)]) == magic {
			return nil
		}
	}
	return fmt.Errorf("not a PNG, JPEG or BMP image (the file starts with %q)", head[:min(len(head), 8)])
}

// Decode turns file contents of the given kind into the bytes of tensor s (see Load).
func Decode(data []byte, kind Kind, s Spec, o ImageOptions) ([]byte, error) {
	want, err := s.Bytes()
	if err != nil {
		return nil, err
	}
	switch kind {
	case KindNPY:
		a, err := ParseNPY(data)
		if err != nil {
			return nil, err
		}
		if a.Type != s.Type {
			return nil, fmt.Errorf("array dtype is %s, tensor %s is %s", typeLabel(a.Type), s.Name, s)
		}
		if len(a.Data) != want {
			es, _ := elemSize(s.Type)
			n, _ := s.Elements()
			return nil, fmt.Errorf("array shape %v has %d elements, tensor %s %s has %d",
				a.Shape, len(a.Data)/es, s.Name, s, n)
		}
		return a.Data, nil
	case KindImage:
		p, err := DecodeImage(data)
		if err != nil {
			return nil, err
		}
		return o.Tensor(p, s)
	}
	if len(data) != want {
		return nil, fmt.Errorf("raw file has %d bytes, tensor %s %s needs %d", len(data), s.Name, s, want)
	}
	return data, nil
}
