package flexbuffers

import (
	"fmt"
)

// MaxDepth is the deepest nesting of vectors and maps that Decode accepts.
const MaxDepth = 64

// Decode decodes the whole FlexBuffer buf into Go values; see Value.Decode.
func Decode(buf []byte) (any, error) {
	v, err := Root(buf)
	if err != nil {
		return nil, err
	}
	return v.Decode()
}

// Decode turns v and everything below it into Go values:
//
//	null                     nil
//	int, indirect int        int64
//	uint, indirect uint      uint64
//	float, indirect float    float64
//	bool                     bool
//	string, key              string
//	blob                     []byte (a copy)
//	map                      map[string]any
//	vector                   []any
//	int/uint/float vector    []int64, []uint64, []float64
//	bool vector              []bool
//	key (or string) vector   []any of strings, as an untyped vector of strings
//	fixed vectors of 2, 3, 4 [2]int64 ... [4]float64
//
// Besides checking every read, Decode rejects maps whose keys are not strictly increasing
// (C++ readers binary-search them), nesting deeper than MaxDepth, and buffers whose
// offsets alias values so much that decoding would produce (or compare) many times more
// data than the buffer holds.
func (v Value) Decode() (any, error) {
	n := len(v.buf)
	d := decoder{
		buf:  v.buf,
		out:  4*n + 4096,
		work: 64*n + 1<<16,
		strs: make(map[int]string),
	}
	return d.value(v, 0)
}

// decoder holds the limits of one Decode call. Canonical buffers store every value once
// (keys and, optionally, strings shared), so they stay far below both budgets.
type decoder struct {
	buf  []byte
	out  int            // values and copied bytes Decode may still produce
	work int            // comparisons and scans Decode may still do
	strs map[int]string // strings and keys already converted, by position
}

func (d *decoder) spend(out, work int) error {
	d.out -= out
	d.work -= work
	if d.out < 0 || d.work < 0 {
		return malformed("values are aliased so often that decoding would take far more memory or time than the buffer size warrants")
	}
	return nil
}

// str converts the bytes at pos once and reuses the string for every other reference.
func (d *decoder) str(pos int, b []byte) (string, error) {
	if s, ok := d.strs[pos]; ok {
		return s, d.spend(0, len(b)+1)
	}
	if err := d.spend(len(b), len(b)+1); err != nil {
		return "", err
	}
	s := string(b)
	d.strs[pos] = s
	return s, nil
}

func (d *decoder) value(v Value, depth int) (any, error) {
	if err := d.spend(1, 1); err != nil {
		return nil, err
	}
	switch v.typ {
	case TypeNull:
		return nil, nil
	case TypeInt, TypeIndirectInt:
		return v.Int()
	case TypeUint, TypeIndirectUint:
		return v.Uint()
	case TypeFloat, TypeIndirectFloat:
		return v.Float()
	case TypeBool:
		return v.Bool()
	case TypeKey:
		t, err := v.target()
		if err != nil {
			return nil, err
		}
		b, err := keyAt(v.buf, t)
		if err != nil {
			return nil, err
		}
		return d.str(t, b)
	case TypeString:
		b, err := v.sizedBytes()
		if err != nil {
			return nil, err
		}
		t, _ := v.target()
		return d.str(t, b)
	case TypeBlob:
		b, err := v.sizedBytes()
		if err != nil {
			return nil, err
		}
		if err := d.spend(len(b), len(b)); err != nil {
			return nil, err
		}
		return append([]byte{}, b...), nil
	}
	if depth >= MaxDepth {
		return nil, malformed("vectors and maps nest deeper than %d levels", MaxDepth)
	}
	if v.typ == TypeMap {
		return d.mapValue(v, depth)
	}
	vd, err := v.vector()
	if err != nil {
		return nil, err
	}
	if err := d.spend(vd.n, vd.n); err != nil {
		return nil, err
	}
	if vd.untyped {
		out := make([]any, vd.n)
		for i := range out {
			e, err := vd.at(v.buf, i)
			if err != nil {
				return nil, err
			}
			if out[i], err = d.value(e, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return d.typed(v, vd)
}

func (d *decoder) mapValue(v Value, depth int) (any, error) {
	vd, k, err := v.keys()
	if err != nil {
		return nil, err
	}
	if err := d.spend(vd.n, vd.n); err != nil {
		return nil, err
	}
	out := make(map[string]any, vd.n)
	prev := ""
	for i := 0; i < vd.n; i++ {
		slot := k.start + i*k.w
		off, _ := readUint(v.buf, slot, k.w)
		if off > uint64(slot) {
			return nil, malformed("key %d offset %d at %d points before the buffer start", i, off, slot)
		}
		b, err := keyAt(v.buf, slot-int(off))
		if err != nil {
			return nil, err
		}
		key, err := d.str(slot-int(off), b)
		if err != nil {
			return nil, err
		}
		if i > 0 && key <= prev {
			return nil, malformed("map at %d: key %q does not sort after %q", vd.start, key, prev)
		}
		prev = key
		e, err := vd.at(v.buf, i)
		if err != nil {
			return nil, err
		}
		if out[key], err = d.value(e, depth+1); err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
	}
	return out, nil
}

// typed decodes a typed or fixed typed vector whose extent vector() has checked.
func (d *decoder) typed(v Value, vd vec) (any, error) {
	buf, w := v.buf, vd.w
	pos := func(i int) int { return vd.start + i*w }
	if vd.elem == TypeFloat && w != 4 && w != 8 {
		return nil, malformed("float vector at %d has width %d (only 4 and 8 are defined)", vd.start, w)
	}
	ints := func(dst []int64) {
		for i := range dst {
			dst[i], _ = readInt(buf, pos(i), w)
		}
	}
	uints := func(dst []uint64) {
		for i := range dst {
			dst[i], _ = readUint(buf, pos(i), w)
		}
	}
	floats := func(dst []float64) {
		for i := range dst {
			dst[i], _ = readFloat(buf, pos(i), w)
		}
	}
	switch v.typ {
	case TypeVectorInt:
		out := make([]int64, vd.n)
		ints(out)
		return out, nil
	case TypeVectorUint:
		out := make([]uint64, vd.n)
		uints(out)
		return out, nil
	case TypeVectorFloat:
		out := make([]float64, vd.n)
		floats(out)
		return out, nil
	case TypeVectorBool:
		out := make([]bool, vd.n)
		for i := range out {
			u, _ := readUint(buf, pos(i), w)
			out[i] = u != 0
		}
		return out, nil
	case TypeVectorKey, TypeVectorString:
		out := make([]any, vd.n)
		for i := range out {
			e, err := vd.at(buf, i)
			if err != nil {
				return nil, err
			}
			if out[i], err = d.value(e, 0); err != nil {
				return nil, err
			}
		}
		return out, nil
	case TypeVectorInt2:
		var a [2]int64
		ints(a[:])
		return a, nil
	case TypeVectorInt3:
		var a [3]int64
		ints(a[:])
		return a, nil
	case TypeVectorInt4:
		var a [4]int64
		ints(a[:])
		return a, nil
	case TypeVectorUint2:
		var a [2]uint64
		uints(a[:])
		return a, nil
	case TypeVectorUint3:
		var a [3]uint64
		uints(a[:])
		return a, nil
	case TypeVectorUint4:
		var a [4]uint64
		uints(a[:])
		return a, nil
	case TypeVectorFloat2:
		var a [2]float64
		floats(a[:])
		return a, nil
	case TypeVectorFloat3:
		var a [3]float64
		floats(a[:])
		return a, nil
	case TypeVectorFloat4:
		var a [4]float64
		floats(a[:])
		return a, nil
	}
	return nil, wrongType(v.typ, "a vector")
}
