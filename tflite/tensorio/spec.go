// Package tensorio turns user inputs into the bytes of a model's input tensor and back:
// raw tensor files, NumPy .npy arrays (read and write) and images (PNG, JPEG, BMP) through an
// explicit preprocessing pipeline (resize, crop, colour, layout, normalisation, quantization).
package tensorio

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Spec describes a tensor: what an input file must become, or how to read an output.
type Spec struct {
	Name  string
	Type  schema.TensorType
	Shape []int32
	// Scale and ZeroPoint are the tensor's (per-tensor) affine quantization: real =
	// Scale * (q - ZeroPoint). Scale 0 means the tensor is not quantized.
	Scale     float32
	ZeroPoint int64
}

// String renders the spec as int8[1,3,224,224].
func (s Spec) String() string {
	return fmt.Sprintf("%s%s", typeLabel(s.Type), tflite.FormatShape(s.Shape))
}

func typeLabel(t schema.TensorType) string {
	switch t {
	case schema.TensorTypeINT8:
		return "int8"
	case schema.TensorTypeUINT8:
		return "uint8"
	case schema.TensorTypeINT16:
		return "int16"
	case schema.TensorTypeUINT16:
		return "uint16"
	case schema.TensorTypeINT32:
		return "int32"
	case schema.TensorTypeUINT32:
		return "uint32"
	case schema.TensorTypeINT64:
		return "int64"
	case schema.TensorTypeUINT64:
		return "uint64"
	case schema.TensorTypeFLOAT16:
		return "float16"
	case schema.TensorTypeFLOAT32:
		return "float32"
	case schema.TensorTypeFLOAT64:
		return "float64"
	case schema.TensorTypeBOOL:
		return "bool"
	}
	return tflite.TypeName(t)
}

// Elements returns the tensor's element count.
func (s Spec) Elements() (int, error) {
	n, err := tflite.ElementCount(s.Shape)
	if err != nil {
		return 0, fmt.Errorf("tensor %s: %w", s.Name, err)
	}
	return int(n), nil
}

// elemSize returns the byte size of one element, or an error for types this package does
// not move (sub-byte, string, complex and resource types).
func elemSize(t schema.TensorType) (int, error) {
	switch t {
	case schema.TensorTypeINT8, schema.TensorTypeUINT8, schema.TensorTypeBOOL:
		return 1, nil
	case schema.TensorTypeINT16, schema.TensorTypeUINT16, schema.TensorTypeFLOAT16:
		return 2, nil
	case schema.TensorTypeINT32, schema.TensorTypeUINT32, schema.TensorTypeFLOAT32:
		return 4, nil
	case schema.TensorTypeINT64, schema.TensorTypeUINT64, schema.TensorTypeFLOAT64:
		return 8, nil
	}
	return 0, fmt.Errorf("tensor type %s is not supported for input/output files", tflite.TypeName(t))
}

// Bytes returns the tensor's size in bytes.
func (s Spec) Bytes() (int, error) {
	n, err := s.Elements()
	if err != nil {
		return 0, err
	}
	es, err := elemSize(s.Type)
	if err != nil {
		return 0, fmt.Errorf("tensor %s: %w", s.Name, err)
	}
	return n * es, nil
}

// Values decodes data (little-endian, in the spec's type) into float64 element values,
// without dequantizing.
func Values(s Spec, data []byte) ([]float64, error) {
	want, err := s.Bytes()
	if err != nil {
		return nil, err
	}
	if len(data) != want {
		return nil, fmt.Errorf("tensor %s: got %d bytes, %s needs %d", s.Name, len(data), s, want)
	}
	es, _ := elemSize(s.Type)
	out := make([]float64, len(data)/es)
	le := binary.LittleEndian
	for i := range out {
		b := data[i*es:]
		switch s.Type {
		case schema.TensorTypeINT8:
			out[i] = float64(int8(b[0]))
		case schema.TensorTypeUINT8, schema.TensorTypeBOOL:
			out[i] = float64(b[0])
		case schema.TensorTypeINT16:
			out[i] = float64(int16(le.Uint16(b)))
		case schema.TensorTypeUINT16:
			out[i] = float64(le.Uint16(b))
		case schema.TensorTypeINT32:
			out[i] = float64(int32(le.Uint32(b)))
		case schema.TensorTypeUINT32:
			out[i] = float64(le.Uint32(b))
		case schema.TensorTypeINT64:
			out[i] = float64(int64(le.Uint64(b)))
		case schema.TensorTypeUINT64:
			out[i] = float64(le.Uint64(b))
		case schema.TensorTypeFLOAT16:
			out[i] = float64(halfToFloat(le.Uint16(b)))
		case schema.TensorTypeFLOAT32:
			out[i] = float64(math.Float32frombits(le.Uint32(b)))
		case schema.TensorTypeFLOAT64:
			out[i] = math.Float64frombits(le.Uint64(b))
		}
	}
	return out, nil
}

// Dequantize decodes data and maps quantized values to real numbers with the spec's scale
// and zero point; tensors without quantization are returned as plain values.
func Dequantize(s Spec, data []byte) ([]float64, error) {
	v, err := Values(s, data)
	if err != nil {
		return nil, err
	}
	if s.Scale != 0 && isInteger(s.Type) {
		for i := range v {
			v[i] = float64(s.Scale) * (v[i] - float64(s.ZeroPoint))
		}
	}
	return v, nil
}

func isInteger(t schema.TensorType) bool {
	switch t {
	case schema.TensorTypeINT8, schema.TensorTypeUINT8, schema.TensorTypeINT16, schema.TensorTypeUINT16,
		schema.TensorTypeINT32, schema.TensorTypeUINT32, schema.TensorTypeINT64, schema.TensorTypeUINT64:
		return true
	}
	return false
}

// halfToFloat converts an IEEE 754 binary16 value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0:
		// Zero or subnormal: value = frac * 2^-24.
		v := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | frac<<13)
}
