package flexbuffers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrMalformed is wrapped by every error about a buffer that breaks the format (sizes or
// offsets outside the buffer, unknown types, bad widths, unsorted map keys, ...).
var ErrMalformed = errors.New("flexbuffers: malformed buffer")

// ErrType is wrapped by errors of accessors called on a value of another type.
var ErrType = errors.New("flexbuffers: wrong type")

// ErrNotFound is wrapped by the error of Get when the map has no such key.
var ErrNotFound = errors.New("flexbuffers: key not found")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

func wrongType(have Type, want string) error {
	return fmt.Errorf("%w: value is a %s, not %s", ErrType, have, want)
}

// Value refers to one value inside a FlexBuffer. Accessors check every read against the
// buffer and return an error wrapping ErrMalformed when the buffer is inconsistent, or
// ErrType when the value has another type. The zero Value is a null.
type Value struct {
	buf []byte
	pos int   // where the inline value, or the offset to the value, is stored
	pw  uint8 // byte width of the slot at pos (the parent's width)
	bw  uint8 // byte width of the referenced data, from the packed type
	typ Type
}

// Root returns the root value of the FlexBuffer buf. Only the root's type and width are
// checked here; accessors check the rest as they read it. Values share buf's memory.
func Root(buf []byte) (Value, error) {
	n := len(buf)
	if n < 3 {
		return Value{}, malformed("%d bytes is too short for a root (at least 3)", n)
	}
	w := buf[n-1]
	if !validWidth(uint64(w)) {
		return Value{}, malformed("root byte width %d is not 1, 2, 4 or 8", w)
	}
	if int(w)+2 > n {
		return Value{}, malformed("root of width %d does not fit in %d bytes", w, n)
	}
	return element(buf, n-2-int(w), w, buf[n-2])
}

func validWidth(w uint64) bool { return w == 1 || w == 2 || w == 4 || w == 8 }

// element makes the Value stored at pos in a slot of width pw with the given packed type.
func element(buf []byte, pos int, pw uint8, packed byte) (Value, error) {
	t := Type(packed >> 2)
	if !t.valid() {
		return Value{}, malformed("unknown type %d at offset %d", uint8(t), pos)
	}
	return Value{buf: buf, pos: pos, pw: pw, bw: 1 << (packed & 3), typ: t}, nil
}

// Type returns the value's type.
func (v Value) Type() Type { return v.typ }

// readUint reads a w-byte little-endian unsigned integer at pos.
func readUint(buf []byte, pos, w int) (uint64, bool) {
	if pos < 0 || pos > len(buf)-w {
		return 0, false
	}
	b := buf[pos:]
	switch w {
	case 1:
		return uint64(b[0]), true
	case 2:
		return uint64(binary.LittleEndian.Uint16(b)), true
	case 4:
		return uint64(binary.LittleEndian.Uint32(b)), true
	case 8:
		return binary.LittleEndian.Uint64(b), true
	}
	return 0, false
}

// readInt reads a w-byte little-endian two's complement integer at pos.
func readInt(buf []byte, pos, w int) (int64, bool) {
	u, ok := readUint(buf, pos, w)
	if !ok {
		return 0, false
	}
	switch w {
	case 1:
		return int64(int8(u)), true
	case 2:
		return int64(int16(u)), true
	case 4:
		return int64(int32(u)), true
	}
	return int64(u), true
}

// readFloat reads a 4- or 8-byte IEEE float at pos.
func readFloat(buf []byte, pos, w int) (float64, bool) {
	u, ok := readUint(buf, pos, w)
	switch {
	case !ok:
		return 0, false
	case w == 4:
		return float64(math.Float32frombits(uint32(u))), true
	case w == 8:
		return math.Float64frombits(u), true
	}
	return 0, false
}

// target follows the offset stored at v.pos and returns the position it points to.
func (v Value) target() (int, error) {
	off, ok := readUint(v.buf, v.pos, int(v.pw))
	if !ok {
		return 0, malformed("%s offset at %d (width %d) is outside the %d-byte buffer", v.typ, v.pos, v.pw, len(v.buf))
	}
	if off > uint64(v.pos) {
		return 0, malformed("%s offset %d at %d points before the buffer start", v.typ, off, v.pos)
	}
	return v.pos - int(off), nil
}

// Int returns an int, indirect int or (if it fits) uint value as int64.
func (v Value) Int() (int64, error) {
	switch v.typ {
	case TypeInt:
		i, ok := readInt(v.buf, v.pos, int(v.pw))
		if !ok {
			return 0, v.outside()
		}
		return i, nil
	case TypeIndirectInt:
		t, err := v.target()
		if err != nil {
			return 0, err
		}
		i, ok := readInt(v.buf, t, int(v.bw))
		if !ok {
			return 0, malformed("indirect int at %d is outside the buffer", t)
		}
		return i, nil
	case TypeUint, TypeIndirectUint:
		u, err := v.Uint()
		if err != nil {
			return 0, err
		}
		if u > math.MaxInt64 {
			return 0, fmt.Errorf("%w: uint %d overflows int64", ErrType, u)
		}
		return int64(u), nil
	}
	return 0, wrongType(v.typ, "an int")
}

// Uint returns a uint, indirect uint or (if not negative) int value as uint64.
func (v Value) Uint() (uint64, error) {
	switch v.typ {
	case TypeUint:
		u, ok := readUint(v.buf, v.pos, int(v.pw))
		if !ok {
			return 0, v.outside()
		}
		return u, nil
	case TypeIndirectUint:
		t, err := v.target()
		if err != nil {
			return 0, err
		}
		u, ok := readUint(v.buf, t, int(v.bw))
		if !ok {
			return 0, malformed("indirect uint at %d is outside the buffer", t)
		}
		return u, nil
	case TypeInt, TypeIndirectInt:
		i, err := v.Int()
		if err != nil {
			return 0, err
		}
		if i < 0 {
			return 0, fmt.Errorf("%w: negative int %d is not a uint", ErrType, i)
		}
		return uint64(i), nil
	}
	return 0, wrongType(v.typ, "a uint")
}

// Float returns a float or indirect float value (stored in 4 or 8 bytes) as float64.
func (v Value) Float() (float64, error) {
	pos, w := v.pos, int(v.pw)
	switch v.typ {
	case TypeFloat:
	case TypeIndirectFloat:
		t, err := v.target()
		if err != nil {
			return 0, err
		}
		pos, w = t, int(v.bw)
	default:
		return 0, wrongType(v.typ, "a float")
	}
	if w != 4 && w != 8 {
		return 0, malformed("float at %d has width %d (only 4 and 8 are defined)", pos, w)
	}
	f, ok := readFloat(v.buf, pos, w)
	if !ok {
		return 0, malformed("float at %d is outside the buffer", pos)
	}
	return f, nil
}

// Bool returns a bool value.
func (v Value) Bool() (bool, error) {
	if v.typ != TypeBool {
		return false, wrongType(v.typ, "a bool")
	}
	u, ok := readUint(v.buf, v.pos, int(v.pw))
	if !ok {
		return false, v.outside()
	}
	return u != 0, nil
}

func (v Value) outside() error {
	return malformed("%s at %d (width %d) is outside the %d-byte buffer", v.typ, v.pos, v.pw, len(v.buf))
}

// String returns a string or key value.
func (v Value) String() (string, error) {
	switch v.typ {
	case TypeString:
		b, err := v.sizedBytes()
		return string(b), err
	case TypeKey:
		b, err := v.keyBytes()
		return string(b), err
	}
	return "", wrongType(v.typ, "a string")
}

// Blob returns the bytes of a blob or string value. The slice shares the buffer's memory.
func (v Value) Blob() ([]byte, error) {
	if v.typ != TypeBlob && v.typ != TypeString {
		return nil, wrongType(v.typ, "a blob")
	}
	return v.sizedBytes()
}

// sizedBytes returns the bytes of a string or blob, checking a string's terminating 0.
// BlobOffset returns the offset of a blob's data within the whole FlexBuffer.
func (v Value) BlobOffset() (int, error) {
	if v.typ != TypeBlob {
		return 0, wrongType(v.typ, "a blob")
	}
	if _, err := v.sizedBytes(); err != nil {
		return 0, err
	}
	start, _, err := v.counted()
	return start, err
}

func (v Value) sizedBytes() ([]byte, error) {
	start, n, err := v.counted()
	if err != nil {
		return nil, err
	}
	end := start + n
	if v.typ == TypeString {
		if end >= len(v.buf) || v.buf[end] != 0 {
			return nil, malformed("string of %d bytes at %d has no terminating 0 inside the buffer", n, start)
		}
	} else if end > len(v.buf) {
		return nil, malformed("blob of %d bytes at %d extends past the %d-byte buffer", n, start, len(v.buf))
	}
	return v.buf[start:end:end], nil
}

// keyBytes returns the bytes of the 0-terminated key v refers to.
func (v Value) keyBytes() ([]byte, error) {
	t, err := v.target()
	if err != nil {
		return nil, err
	}
	return keyAt(v.buf, t)
}

func keyAt(buf []byte, pos int) ([]byte, error) {
	if pos >= len(buf) {
		return nil, malformed("key at %d is outside the %d-byte buffer", pos, len(buf))
	}
	n := bytes.IndexByte(buf[pos:], 0)
	if n < 0 {
		return nil, malformed("key at %d has no terminating 0", pos)
	}
	return buf[pos : pos+n : pos+n], nil
}

// counted follows v's offset and reads the element count stored just before the target,
// in v's data width. The count is checked to be at most the buffer length, so callers can
// multiply it by a width without overflow before comparing with the buffer length.
func (v Value) counted() (start, n int, err error) {
	start, err = v.target()
	if err != nil {
		return 0, 0, err
	}
	w := int(v.bw)
	c, ok := readUint(v.buf, start-w, w)
	if !ok {
		return 0, 0, malformed("%s count at %d is outside the buffer", v.typ, start-w)
	}
	if c > uint64(len(v.buf)) {
		return 0, 0, malformed("%s at %d claims %d elements, more than the buffer has bytes", v.typ, start, c)
	}
	return start, int(c), nil
}

// vec describes a vector (of any kind) or map's elements.
type vec struct {
	start, n, w int
	elem        Type // element type of typed vectors; TypeNull for untyped vectors and maps
	untyped     bool
}

// vector checks that v is a vector or map whose elements (and type bytes) lie inside the
// buffer, and describes it.
func (v Value) vector() (vec, error) {
	switch {
	case v.typ == TypeVector || v.typ == TypeMap || v.typ.typedVector():
		start, n, err := v.counted()
		if err != nil {
			return vec{}, err
		}
		d := vec{start: start, n: n, w: int(v.bw), untyped: v.typ == TypeVector || v.typ == TypeMap}
		stride := d.w // bytes per element
		if d.untyped {
			stride++ // its type byte
		} else {
			d.elem = v.typ.elemType()
		}
		if n > (len(v.buf)-start)/stride {
			return vec{}, malformed("%s of %d elements of width %d at %d extends past the %d-byte buffer", v.typ, n, d.w, start, len(v.buf))
		}
		return d, nil
	}
	if k, ok := v.typ.fixedVector(); ok {
		start, err := v.target()
		if err != nil {
			return vec{}, err
		}
		if k*int(v.bw) > len(v.buf)-start {
			return vec{}, malformed("%s of width %d at %d extends past the %d-byte buffer", v.typ, v.bw, start, len(v.buf))
		}
		return vec{start: start, n: k, w: int(v.bw), elem: v.typ.elemType()}, nil
	}
	return vec{}, wrongType(v.typ, "a vector or map")
}

// at returns element i of the described vector (i must be in range).
func (d vec) at(buf []byte, i int) (Value, error) {
	pos := d.start + i*d.w
	if d.untyped {
		return element(buf, pos, uint8(d.w), buf[d.start+d.n*d.w+i])
	}
	return Value{buf: buf, pos: pos, pw: uint8(d.w), bw: uint8(d.w), typ: d.elem}, nil
}

// Len returns the number of elements of a vector or map, or the byte length of a string or
// blob.
func (v Value) Len() (int, error) {
	switch v.typ {
	case TypeString, TypeBlob:
		b, err := v.sizedBytes()
		return len(b), err
	}
	d, err := v.vector()
	return d.n, err
}

// Index returns element i of a vector. For a map it returns the value of the i-th key in
// sorted key order (the order TFLM's FlexbufferWrapper indexes by).
func (v Value) Index(i int) (Value, error) {
	d, err := v.vector()
	if err != nil {
		return Value{}, err
	}
	if i < 0 || i >= d.n {
		return Value{}, fmt.Errorf("flexbuffers: index %d out of range for %s of length %d", i, v.typ, d.n)
	}
	return d.at(v.buf, i)
}

// mapKeys describes a map's typed key vector.
type mapKeys struct {
	start, n, w int
}

// keys checks that v is a map whose key vector lies inside the buffer and has as many
// keys as the map has values.
func (v Value) keys() (vec, mapKeys, error) {
	if v.typ != TypeMap {
		return vec{}, mapKeys{}, wrongType(v.typ, "a map")
	}
	d, err := v.vector()
	if err != nil {
		return vec{}, mapKeys{}, err
	}
	slot := d.start - 3*d.w
	off, ok := readUint(v.buf, slot, d.w)
	if !ok {
		return vec{}, mapKeys{}, malformed("map at %d: keys offset is outside the buffer", d.start)
	}
	if off > uint64(slot) {
		return vec{}, mapKeys{}, malformed("map at %d: keys offset %d points before the buffer start", d.start, off)
	}
	k := mapKeys{start: slot - int(off)}
	kw, _ := readUint(v.buf, slot+d.w, d.w)
	if !validWidth(kw) {
		return vec{}, mapKeys{}, malformed("map at %d: keys width %d is not 1, 2, 4 or 8", d.start, kw)
	}
	k.w = int(kw)
	c, ok := readUint(v.buf, k.start-k.w, k.w)
	if !ok {
		return vec{}, mapKeys{}, malformed("map at %d: key count is outside the buffer", d.start)
	}
	if c != uint64(d.n) {
		return vec{}, mapKeys{}, malformed("map at %d has %d values but %d keys", d.start, d.n, c)
	}
	k.n = d.n
	if k.n > (len(v.buf)-k.start)/k.w {
		return vec{}, mapKeys{}, malformed("map at %d: key vector extends past the buffer", d.start)
	}
	return d, k, nil
}

// key returns the bytes of key i of the map.
func (k mapKeys) key(buf []byte, i int) ([]byte, error) {
	slot := k.start + i*k.w
	off, _ := readUint(buf, slot, k.w)
	if off > uint64(slot) {
		return nil, malformed("key %d offset %d at %d points before the buffer start", i, off, slot)
	}
	return keyAt(buf, slot-int(off))
}

// Keys returns a map's keys in stored (sorted) order.
func (v Value) Keys() ([]string, error) {
	_, k, err := v.keys()
	if err != nil {
		return nil, err
	}
	out := make([]string, k.n)
	total := 0
	for i := range out {
		b, err := k.key(v.buf, i)
		if err != nil {
			return nil, err
		}
		// Distinct keys of one map occupy distinct bytes, so more key bytes than the buffer
		// holds means overlapping or repeated keys (a hostile buffer).
		if total += len(b) + 1; total > len(v.buf) {
			return nil, malformed("map keys total more bytes than the buffer holds")
		}
		out[i] = string(b)
	}
	return out, nil
}

// Get returns the value of key in a map, found by binary search as C++ readers do. The
// error wraps ErrNotFound when the key is absent.
func (v Value) Get(key string) (Value, error) {
	d, k, err := v.keys()
	if err != nil {
		return Value{}, err
	}
	var ferr error
	i := sort.Search(k.n, func(i int) bool {
		b, err := k.key(v.buf, i)
		if err != nil {
			ferr = err
			return true
		}
		return string(b) >= key
	})
	if ferr != nil {
		return Value{}, ferr
	}
	if i < k.n {
		b, err := k.key(v.buf, i)
		if err != nil {
			return Value{}, err
		}
		if string(b) == key {
			return d.at(v.buf, i)
		}
	}
	return Value{}, fmt.Errorf("%w: %q", ErrNotFound, key)
}
