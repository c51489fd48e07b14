package tensorio

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// maxInputFile bounds the size of input files read (no microcontroller tensor is near it).
const maxInputFile = 1 << 30

// Load reads the input file at path and returns the bytes of tensor s. Raw files must have
// exactly the tensor's size; .npy arrays must have its dtype and element count; images are
// preprocessed with o. Errors name the file.
func Load(path string, s Spec, o ImageOptions) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	if fi.Size() > maxInputFile {
		return nil, fmt.Errorf("%s: %d bytes is too large for an input tensor", path, fi.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err := Decode(data, KindOf(path), s, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
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
