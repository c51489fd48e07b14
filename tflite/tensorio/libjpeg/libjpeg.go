// Package libjpeg decodes JPEG files with the system's libjpeg-turbo exactly as Pillow does:
// libjpeg's default islow inverse DCT and fancy chroma upsampling, and the colour output
// Pillow requests (gray, RGB or CMYK by component count). The same library decoding the
// same file gives the same pixels, so input tensors built from these pixels match a Python
// pipeline (PIL.Image.open, torchvision) byte for byte.
//
// The library is opened at run time (dlopen) rather than linked: building needs libjpeg's
// headers (Debian: libjpeg62-turbo-dev), and without them, or without the shared library
// on the machine running the program, everything still builds and runs and Available says
// why exact decoding is off, so callers can fall back to another decoder and say so.
package libjpeg

/*
#cgo CFLAGS: -O2 -Wall
#cgo linux LDFLAGS: -ldl
#include <stdlib.h>
#include "qmjpeg.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// Image is a decoded JPEG: Width×Height pixels of Channels interleaved 8-bit samples, rows
// top to bottom. Channels is 1 (gray), 3 (RGB) or 4 (CMYK, 255 = full ink, as Pillow's
// "CMYK" mode holds it after undoing Adobe's inverted polarity).
type Image struct {
	Width, Height, Channels int
	Pix                     []byte
}

// ErrTruncated is returned for data that ends before the image does (Pillow refuses such
// files too: "image file is truncated").
var ErrTruncated = errors.New("JPEG data is truncated")

// library is the process-wide libjpeg handle: loaded once, then read-only.
var library = sync.OnceValues(func() (string, error) {
	msg := make([]byte, 256)
	rc := C.qmjpeg_load((*C.char)(unsafe.Pointer(&msg[0])), C.size_t(len(msg)))
	text := cString(msg)
	if rc != C.QMJPEG_OK {
		return "", fmt.Errorf("libjpeg unavailable: %s", text)
	}
	return text, nil
})

// Available returns nil when libjpeg can be used, else an error saying why not.
func Available() error {
	_, err := library()
	return err
}

// Version describes the library in use, e.g. "libjpeg-turbo 2.1.5 (ABI 62)", or "" when
// it is unavailable.
func Version() string {
	v, _ := library()
	return v
}

// Decode decodes a JPEG file. Images of more than maxPixels pixels are refused before any
// pixel is decoded.
func Decode(data []byte, maxPixels int64) (*Image, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, errors.New("empty JPEG data")
	}
	var img C.qmjpeg_image
	msg := make([]byte, 256)
	rc := C.qmjpeg_decode((*C.uchar)(unsafe.Pointer(&data[0])), C.size_t(len(data)), C.longlong(maxPixels),
		&img, (*C.char)(unsafe.Pointer(&msg[0])), C.size_t(len(msg)))
	w, h, c := int(img.width), int(img.height), int(img.components)
	switch rc {
	case C.QMJPEG_OK:
	case C.QMJPEG_TRUNCATED:
		return nil, ErrTruncated
	case C.QMJPEG_TOO_LARGE:
		return nil, fmt.Errorf("JPEG image of %dx%d pixels is larger than the limit of %d pixels", w, h, maxPixels)
	case C.QMJPEG_COMPONENTS:
		return nil, fmt.Errorf("JPEG image with %d colour components (only 1, 3 or 4 are images)", c)
	case C.QMJPEG_NO_MEMORY:
		return nil, fmt.Errorf("no memory to decode a %dx%d JPEG image", w, h)
	default:
		return nil, fmt.Errorf("libjpeg: %s", cString(msg))
	}
	defer C.qmjpeg_free(&img)
	pix := make([]byte, w*h*c)
	copy(pix, unsafe.Slice((*byte)(unsafe.Pointer(img.pix)), len(pix)))
	return &Image{Width: w, Height: h, Channels: c, Pix: pix}, nil
}

// cString returns the NUL-terminated text at the start of b.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
