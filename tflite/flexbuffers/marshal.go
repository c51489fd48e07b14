package flexbuffers

import (
	"fmt"
	"reflect"
	"slices"
)

// Marshal encodes v as a FlexBuffer:
//
//	nil                                   null
//	bool                                  bool
//	int, int8 ... int64                   int
//	uint, uint8 ... uint64                uint
//	float32                               4-byte float
//	float64                               float (4 bytes when exact, else 8)
//	string                                string
//	[]byte                                blob
//	[]int, []int8 ... []int64             typed int vector (smallest width)
//	[]uint, []uint16 ... []uint64         typed uint vector
//	[]float32, []float64                  typed float vector
//	[]bool                                typed bool vector
//	[2]int64 ... [4]int64, [N]uint64,     fixed typed vectors
//	[N]float64 (N = 2, 3, 4)
//	map[string]T                          map (keys sorted bytewise)
//	[]T, other arrays                     untyped vector
//
// It is the inverse of Decode: Marshal(Decode(buf)) reproduces buf for every buffer
// Marshal wrote. Types not listed are an error.
func Marshal(v any) ([]byte, error) {
	var b Builder
	if err := marshalValue(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Finish()
}

// marshalValue adds v with b's keyless methods.
func marshalValue(b *Builder, v any, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("flexbuffers: value nests deeper than %d levels", MaxDepth)
	}
	switch x := v.(type) {
	case nil:
		b.Null()
	case bool:
		b.Bool(x)
	case int:
		b.Int(int64(x))
	case int8:
		b.Int(int64(x))
	case int16:
		b.Int(int64(x))
	case int32:
		b.Int(int64(x))
	case int64:
		b.Int(x)
	case uint:
		b.Uint(uint64(x))
	case uint8:
		b.Uint(uint64(x))
	case uint16:
		b.Uint(uint64(x))
	case uint32:
		b.Uint(uint64(x))
	case uint64:
		b.Uint(x)
	case float32:
		b.Float32(x)
	case float64:
		b.Float64(x)
	case string:
		b.String(x)
	case []byte:
		b.Blob(x)
	case []int:
		b.Ints(toInt64(x))
	case []int8:
		b.Ints(toInt64(x))
	case []int16:
		b.Ints(toInt64(x))
	case []int32:
		b.Ints(toInt64(x))
	case []int64:
		b.Ints(x)
	case []uint:
		b.Uints(toUint64(x))
	case []uint16:
		b.Uints(toUint64(x))
	case []uint32:
		b.Uints(toUint64(x))
	case []uint64:
		b.Uints(x)
	case []float32:
		b.Float32s(x)
	case []float64:
		b.Floats(x)
	case []bool:
		b.Bools(x)
	case [2]int64:
		b.FixedInts(x[:])
	case [3]int64:
		b.FixedInts(x[:])
	case [4]int64:
		b.FixedInts(x[:])
	case [2]uint64:
		b.FixedUints(x[:])
	case [3]uint64:
		b.FixedUints(x[:])
	case [4]uint64:
		b.FixedUints(x[:])
	case [2]float64:
		b.FixedFloats(x[:])
	case [3]float64:
		b.FixedFloats(x[:])
	case [4]float64:
		b.FixedFloats(x[:])
	case map[string]any:
		return marshalMap(b, reflect.ValueOf(x), depth)
	case []any:
		var err error
		b.Vector(func(b *Builder) {
			for _, e := range x {
				if err = marshalValue(b, e, depth+1); err != nil {
					return
				}
			}
		})
		return err
	default:
		return marshalReflect(b, v, depth)
	}
	return nil
}

// marshalReflect handles other maps with string keys, slices and arrays.
func marshalReflect(b *Builder, v any, depth int) error {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			return marshalMap(b, rv, depth)
		}
	case reflect.Slice, reflect.Array:
		var err error
		b.Vector(func(b *Builder) {
			for i := 0; i < rv.Len() && err == nil; i++ {
				err = marshalValue(b, rv.Index(i).Interface(), depth+1)
			}
		})
		return err
	}
	return fmt.Errorf("flexbuffers: cannot marshal a %T", v)
}

func marshalMap(b *Builder, rv reflect.Value, depth int) error {
	keys := make([]string, 0, rv.Len())
	for _, k := range rv.MapKeys() {
		keys = append(keys, k.String())
	}
	slices.Sort(keys) // the builder sorts too; sorting here makes errors deterministic
	var err error
	b.Map(func(m *Map) {
		for _, k := range keys {
			if !m.keyOK(k) {
				return
			}
			if err = marshalValue(m.b, rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key())).Interface(), depth+1); err != nil {
				return
			}
		}
	})
	return err
}

func toInt64[T int | int8 | int16 | int32](vals []T) []int64 {
	out := make([]int64, len(vals))
	for i, v := range vals {
		out[i] = int64(v)
	}
	return out
}

func toUint64[T uint | uint16 | uint32](vals []T) []uint64 {
	out := make([]uint64, len(vals))
	for i, v := range vals {
		out[i] = uint64(v)
	}
	return out
}
