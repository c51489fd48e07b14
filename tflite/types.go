package tflite

import (
	"fmt"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// MaxElements bounds the element count of any tensor we accept: larger shapes are hostile or
// far beyond any microcontroller model, and the bound keeps size arithmetic overflow-free.
const MaxElements = 1 << 40

// MaxRank bounds the rank of any tensor we accept. TFLM's kernels hold shapes in a
// RuntimeShape of at most 5 dimensions (runtime_shape.h, kMaxSmallSize); ranks beyond 16
// are hostile, not models.
const MaxRank = 16

// ElementBits returns the storage size of one element of t in bits, or 0 for types without
// a fixed size (STRING, RESOURCE, VARIANT) and unknown types.
func ElementBits(t schema.TensorType) int {
	switch t {
	case schema.TensorTypeBOOL, schema.TensorTypeINT8, schema.TensorTypeUINT8,
		schema.TensorTypeFLOAT8_E4M3FN, schema.TensorTypeFLOAT8_E5M2:
		return 8
	case schema.TensorTypeINT16, schema.TensorTypeUINT16, schema.TensorTypeFLOAT16, schema.TensorTypeBFLOAT16:
		return 16
	case schema.TensorTypeINT32, schema.TensorTypeUINT32, schema.TensorTypeFLOAT32:
		return 32
	case schema.TensorTypeINT64, schema.TensorTypeUINT64, schema.TensorTypeFLOAT64, schema.TensorTypeCOMPLEX64:
		return 64
	case schema.TensorTypeCOMPLEX128:
		return 128
	case schema.TensorTypeINT4, schema.TensorTypeUINT4:
		return 4
	case schema.TensorTypeINT2:
		return 2
	}
	return 0
}

// ElementCount returns the number of elements of a tensor of the given shape (1 for a
// scalar), or an error for negative dimensions or counts above MaxElements.
func ElementCount(shape []int32) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %s has a negative dimension", FormatShape(shape))
		}
		if d != 0 && n > MaxElements/int64(d) {
			return 0, fmt.Errorf("shape %s has more than 2^40 elements", FormatShape(shape))
		}
		n *= int64(d)
	}
	return n, nil
}

// TensorBytes returns the unpacked in-memory size of t in bytes as TFLM allocates it
// (one byte per element for the 4- and 2-bit types, which TFLM unpacks before use), or
// 0 if its shape is invalid or its type has no fixed size.
func TensorBytes(t *schema.TensorT) int64 {
	n, err := ElementCount(t.Shape)
	if err != nil {
		return 0
	}
	bits := ElementBits(t.Type)
	if bits > 0 && bits < 8 {
		bits = 8
	}
	return n * int64(bits/8)
}

// FormatShape renders a shape as [1,96,96,3]; beyond 8 dimensions the rest are counted:
// [1,1,1,1,1,1,1,1,... 199992 more].
func FormatShape(shape []int32) string {
	b := []byte{'['}
	for i, d := range shape {
		if i == shownDims {
			b = fmt.Appendf(b, ",... %d more", len(shape)-i)
			break
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%d", d)
	}
	return string(append(b, ']'))
}

// shownDims is how many dimensions FormatShape writes out; the rest are counted, so
// that messages and tables stay short whatever the rank (real shapes have at most 6).
const shownDims = 8

// BuiltinCode returns the operator code's effective builtin operator. Schema version 3a moved
// codes above 127 to builtin_code and kept deprecated_builtin_code for old readers; the larger
// of the two is the real one (the rule TFLite's GetBuiltinCode applies).
func BuiltinCode(oc *schema.OperatorCodeT) schema.BuiltinOperator {
	if oc == nil {
		return schema.BuiltinOperatorCUSTOM
	}
	return max(oc.BuiltinCode, schema.BuiltinOperator(oc.DeprecatedBuiltinCode))
}

// OpName returns a readable operator name: the builtin name (CONV_2D), or for custom
// operators CUSTOM("custom_code"); unknown codes print as BUILTIN_<n>.
func OpName(oc *schema.OperatorCodeT) string {
	code := BuiltinCode(oc)
	if code == schema.BuiltinOperatorCUSTOM {
		name := ""
		if oc != nil {
			name = oc.CustomCode
		}
		return fmt.Sprintf("CUSTOM(%q)", name)
	}
	if s, ok := schema.EnumNamesBuiltinOperator[code]; ok {
		return s
	}
	return fmt.Sprintf("BUILTIN_%d", int32(code))
}

// TypeName returns the schema name of a tensor type (INT8), or TYPE_<n> if unknown.
func TypeName(t schema.TensorType) string {
	if s, ok := schema.EnumNamesTensorType[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE_%d", int8(t))
}
