package flexbuffers

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Builder writes one FlexBuffer. Add exactly one root value with the Builder's methods,
// then call Finish. Vector and Map take a callback that adds the elements: inside a Vector
// callback, elements are added with the same Builder methods; inside a Map callback, with
// the *Map's methods, which take a key first.
//
//	var b flexbuffers.Builder
//	b.Map(func(m *flexbuffers.Map) {
//		m.Int("stride", 2)
//		m.Blob("weights", w)
//		m.Vector("shape", func(b *flexbuffers.Builder) { b.Int(1); b.Int(96) })
//	})
//	buf, err := b.Finish()
//
// Misuse (two roots, a value without a key inside a map, a duplicate key, a key containing
// a 0 byte, adding after Finish) is reported by Finish; the call that caused it and every
// later one do nothing. Byte widths are the smallest that hold every child, keys are
// shared, and output depends only on the calls made. The zero Builder is ready to use.
type Builder struct {
	// ShareStrings stores equal strings once (flatc's JSON-to-FlexBuffers conversion does).
	// Keys are always shared.
	ShareStrings bool

	buf     []byte
	stack   []item  // values waiting to be placed in their parent
	frames  []frame // open vectors and maps
	nframes int     // maps opened so far
	keys    map[string]int
	strs    map[string]int
	err     error
	done    bool
	keyed   bool // a map key was just pushed: the next value is its value
}

// item is a value on the builder's stack.
type item struct {
	typ Type
	w   Width   // scalars: their own width; vectors: element width; strings, blobs: count width
	u   uint64  // int, uint, bool bits; or the position of referenced data
	f   float64 // floats
	s   string  // keys: the key (for sorting maps)
}

type frame struct {
	start int // first stack index of the vector or map
	isMap bool
	id    int // tells a map's frame from later ones at the same depth
}

// Map adds the entries of a map inside a Builder.Map or Map.Map callback.
type Map struct {
	b  *Builder
	id int // the id of this map's frame
}

func (b *Builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("flexbuffers: "+format, args...)
	}
}

// valueOK reports whether a value may be added without a key now.
func (b *Builder) valueOK() bool {
	switch {
	case b.err != nil:
		return false
	case b.done:
		b.fail("value added after Finish")
	case len(b.frames) == 0 && len(b.stack) > 0:
		b.fail("more than one root value")
	case len(b.frames) > 0 && b.frames[len(b.frames)-1].isMap && !b.keyed:
		b.fail("value added to a map without a key (use the *Map methods)")
	default:
		b.keyed = false
		return true
	}
	return false
}

// keyOK checks that m is the innermost open map and pushes key.
func (m *Map) keyOK(key string) bool {
	b := m.b
	switch {
	case b.err != nil:
		return false
	case b.done || len(b.frames) == 0 || b.frames[len(b.frames)-1].id != m.id:
		b.fail("map entry %q added outside its map's callback", key)
	case strings.IndexByte(key, 0) >= 0:
		b.fail("map key %q contains a 0 byte", key)
	default:
		b.key(key)
		b.keyed = true
		return true
	}
	return false
}

// Finish writes the root and returns the finished buffer. The Builder must not be used
// again except through Reset.
func (b *Builder) Finish() ([]byte, error) {
	switch {
	case b.err != nil:
		return nil, b.err
	case b.done:
		return nil, fmt.Errorf("flexbuffers: Finish called twice")
	case len(b.frames) > 0:
		return nil, fmt.Errorf("flexbuffers: Finish called inside a vector or map callback")
	case len(b.stack) != 1:
		return nil, fmt.Errorf("flexbuffers: no root value")
	}
	root := b.stack[0]
	w := root.elemWidth(len(b.buf), 0)
	n := b.align(w)
	b.writeAny(root, n)
	b.buf = append(b.buf, root.packed(W8), byte(n))
	b.done = true
	return b.buf, nil
}

// Reset empties the builder for a new buffer (keeping ShareStrings).
func (b *Builder) Reset() {
	*b = Builder{ShareStrings: b.ShareStrings}
}

// --- writing ---

func (b *Builder) align(w Width) int {
	n := w.Bytes()
	for len(b.buf)%n != 0 {
		b.buf = append(b.buf, 0)
	}
	return n
}

func (b *Builder) writeUint(u uint64, n int) {
	var tmp [8]byte
	binary.LittleEndian.PutUint64(tmp[:], u)
	b.buf = append(b.buf, tmp[:n]...)
}

// writeAny writes an inline value or an offset to referenced data in n bytes.
func (b *Builder) writeAny(it item, n int) {
	switch it.typ {
	case TypeNull, TypeInt, TypeUint, TypeBool:
		b.writeUint(it.u, n)
	case TypeFloat:
		if n == 4 {
			b.writeUint(uint64(math.Float32bits(float32(it.f))), 4)
		} else {
			b.writeUint(math.Float64bits(it.f), 8)
		}
	default:
		b.writeUint(uint64(len(b.buf))-it.u, n)
	}
}

// elemWidth returns the width it needs as element index of a vector whose first field
// (count, or keys offset for maps) will be written at bufLen after alignment: inline values
// need their own width; referenced ones need a width that holds the backwards offset from
// where it will be stored.
func (it item) elemWidth(bufLen, index int) Width {
	if it.typ.Inline() {
		return it.w
	}
	for w := W8; w < W64; w++ {
		n := w.Bytes()
		loc := bufLen + (n-bufLen%n)%n + index*n
		if widthU(uint64(loc)-it.u) <= w {
			return w
		}
	}
	return W64
}

// packed returns it's packed type as stored in a parent of the given width: inline values
// take the parent's width, referenced ones keep the width of their own data.
func (it item) packed(parent Width) byte {
	w := it.w
	if it.typ.Inline() && parent > w {
		w = parent
	}
	return packType(it.typ, w)
}

func (b *Builder) push(it item) { b.stack = append(b.stack, it) }

// createVector writes items as a vector and returns the item referring to it. A typed
// vector (elem is not TypeNull) has no type bytes, a fixed one no count; with keys it is a
// map using that key vector.
func (b *Builder) createVector(items []item, elem Type, fixed bool, keys *item) item {
	typed := elem != TypeNull
	w := widthU(uint64(len(items)))
	first := 1 // index of the first element after the prefix fields
	if keys != nil {
		w = max(w, keys.elemWidth(len(b.buf), 0))
		first = 3
	}
	if fixed {
		first = 0
	}
	for i, it := range items {
		w = max(w, it.elemWidth(len(b.buf), first+i))
	}
	n := b.align(w)
	if keys != nil {
		b.writeAny(*keys, n)
		b.writeUint(uint64(keys.w.Bytes()), n)
	}
	if !fixed {
		b.writeUint(uint64(len(items)), n)
	}
	loc := uint64(len(b.buf))
	for _, it := range items {
		b.writeAny(it, n)
	}
	t := TypeVector
	switch {
	case keys != nil:
		t = TypeMap
	case typed && fixed:
		t = vectorOf(elem, len(items))
	case typed:
		t = vectorOf(elem, 0)
	}
	if !typed {
		for _, it := range items {
			b.buf = append(b.buf, it.packed(w))
		}
	}
	return item{typ: t, w: w, u: loc}
}

// sized writes a count-prefixed byte string (strings get a terminating 0).
func (b *Builder) sized(t Type, s string, bs []byte) { b.sizedWidth(t, s, bs, W8) }

// sizedWidth writes a string or blob whose size field is at least min wide; the field is
// aligned to its width, so the data that follows is too.
func (b *Builder) sizedWidth(t Type, s string, bs []byte, min Width) {
	n := len(s) + len(bs)
	w := max(min, widthU(uint64(n)))
	b.writeUint(uint64(n), b.align(w))
	loc := uint64(len(b.buf))
	b.buf = append(b.buf, s...)
	b.buf = append(b.buf, bs...)
	if t == TypeString {
		b.buf = append(b.buf, 0)
	}
	b.push(item{typ: t, w: w, u: loc})
}

func (b *Builder) key(k string) {
	if b.keys == nil {
		b.keys = make(map[string]int)
	}
	loc, ok := b.keys[k]
	if !ok {
		loc = len(b.buf)
		b.keys[k] = loc
		b.buf = append(b.buf, k...)
		b.buf = append(b.buf, 0)
	}
	b.push(item{typ: TypeKey, w: W8, u: uint64(loc), s: k})
}

func (b *Builder) str(s string) {
	if !b.ShareStrings {
		b.sized(TypeString, s, nil)
		return
	}
	if b.strs == nil {
		b.strs = make(map[string]int)
	}
	if loc, ok := b.strs[s]; ok {
		b.push(item{typ: TypeString, w: widthU(uint64(len(s))), u: uint64(loc)})
		return
	}
	b.sized(TypeString, s, nil)
	b.strs[s] = int(b.stack[len(b.stack)-1].u)
}

func (b *Builder) vector(f func(*Builder)) {
	start := len(b.stack)
	b.frames = append(b.frames, frame{start: start})
	f(b)
	if b.err != nil {
		return
	}
	b.frames = b.frames[:len(b.frames)-1]
	v := b.createVector(b.stack[start:], TypeNull, false, nil)
	b.stack = append(b.stack[:start], v)
}

func (b *Builder) mapOf(f func(*Map)) {
	start := len(b.stack)
	b.nframes++
	b.frames = append(b.frames, frame{start: start, isMap: true, id: b.nframes})
	f(&Map{b: b, id: b.nframes})
	if b.err != nil {
		return
	}
	b.frames = b.frames[:len(b.frames)-1]
	entries := b.stack[start:]
	n := len(entries) / 2
	pairs := make([][2]item, n)
	for i := range pairs {
		pairs[i] = [2]item{entries[2*i], entries[2*i+1]}
	}
	slices.SortFunc(pairs, func(x, y [2]item) int { return strings.Compare(x[0].s, y[0].s) })
	keys := make([]item, n)
	vals := make([]item, n)
	for i, p := range pairs {
		if i > 0 && p[0].s == pairs[i-1][0].s {
			b.fail("duplicate map key %q", p[0].s)
			return
		}
		keys[i], vals[i] = p[0], p[1]
	}
	kv := b.createVector(keys, TypeKey, false, nil)
	m := b.createVector(vals, TypeNull, false, &kv)
	b.stack = append(b.stack[:start], m)
}

// intVector writes a typed int vector (fixed when fixed is true) of at least width min.
func (b *Builder) intVector(vals []int64, min Width, fixed bool) {
	w := max(min, widthU(uint64(len(vals))))
	for _, v := range vals {
		w = max(w, widthI(v))
	}
	b.scalars(TypeInt, len(vals), w, fixed, func(i int) uint64 { return uint64(vals[i]) })
}

func (b *Builder) uintVector(vals []uint64, min Width, fixed bool) {
	w := max(min, widthU(uint64(len(vals))))
	for _, v := range vals {
		w = max(w, widthU(v))
	}
	b.scalars(TypeUint, len(vals), w, fixed, func(i int) uint64 { return vals[i] })
}

func (b *Builder) floatVector(vals []float64, min Width, fixed bool) {
	w := max(min, W32, widthU(uint64(len(vals))))
	for _, v := range vals {
		w = max(w, widthF(v))
	}
	bits := func(i int) uint64 { return uint64(math.Float32bits(float32(vals[i]))) }
	if w == W64 {
		bits = func(i int) uint64 { return math.Float64bits(vals[i]) }
	}
	b.scalars(TypeFloat, len(vals), w, fixed, bits)
}

func (b *Builder) boolVector(vals []bool) {
	b.scalars(TypeBool, len(vals), widthU(uint64(len(vals))), false, func(i int) uint64 {
		if vals[i] {
			return 1
		}
		return 0
	})
}

// scalars writes a typed vector of n scalars of element type e and width w.
func (b *Builder) scalars(e Type, n int, w Width, fixed bool, bits func(int) uint64) {
	size := b.align(w)
	if !fixed {
		b.writeUint(uint64(n), size)
	}
	loc := uint64(len(b.buf))
	for i := 0; i < n; i++ {
		b.writeUint(bits(i), size)
	}
	fn := 0
	if fixed {
		fn = n
	}
	b.push(item{typ: vectorOf(e, fn), w: w, u: loc})
}

func (b *Builder) fixedOK(n int) bool {
	if n < 2 || n > 4 {
		b.fail("fixed typed vector of %d elements (only 2, 3 or 4)", n)
		return false
	}
	return true
}

// --- values without keys: the root, or elements inside a Vector callback ---

// Null adds a null.
func (b *Builder) Null() {
	if b.valueOK() {
		b.push(item{typ: TypeNull, w: W8})
	}
}

// Int adds a signed integer, stored in the smallest width that holds it.
func (b *Builder) Int(v int64) {
	if b.valueOK() {
		b.push(item{typ: TypeInt, w: widthI(v), u: uint64(v)})
	}
}

// Uint adds an unsigned integer, stored in the smallest width that holds it.
func (b *Builder) Uint(v uint64) {
	if b.valueOK() {
		b.push(item{typ: TypeUint, w: widthU(v), u: v})
	}
}

// Float32 adds a float stored in 4 bytes (or 8 if its parent is 8 bytes wide).
func (b *Builder) Float32(v float32) {
	if b.valueOK() {
		b.push(item{typ: TypeFloat, w: W32, f: float64(v)})
	}
}

// Float64 adds a float, stored in 4 bytes when float32 holds it exactly, else in 8.
func (b *Builder) Float64(v float64) {
	if b.valueOK() {
		b.push(item{typ: TypeFloat, w: widthF(v), f: v})
	}
}

// Bool adds a bool.
func (b *Builder) Bool(v bool) {
	if b.valueOK() {
		it := item{typ: TypeBool, w: W8}
		if v {
			it.u = 1
		}
		b.push(it)
	}
}

// String adds a string (any bytes; readers see a terminating 0 after them).
func (b *Builder) String(s string) {
	if b.valueOK() {
		b.str(s)
	}
}

// Blob adds a blob of bytes.
func (b *Builder) Blob(data []byte) {
	if b.valueOK() {
		b.sized(TypeBlob, "", data)
	}
}

// BlobWidth adds a blob whose size field is at least min wide: its data then starts at an
// offset of the buffer that is a multiple of min's byte width (W32: a reader can use the
// data in place as int32 words when the buffer itself is 4-byte aligned).
func (b *Builder) BlobWidth(data []byte, min Width) {
	if b.valueOK() {
		b.sizedWidth(TypeBlob, "", data, min)
	}
}

// Key adds a key value (a 0-terminated string without a count; keys are shared).
func (b *Builder) Key(k string) {
	if !b.valueOK() {
		return
	}
	if strings.IndexByte(k, 0) >= 0 {
		b.fail("key %q contains a 0 byte", k)
		return
	}
	b.key(k)
}

// Ints adds a typed int vector in the smallest width that holds every element.
func (b *Builder) Ints(vals []int64) { b.IntsWidth(vals, W8) }

// IntsWidth adds a typed int vector of at least width min (e.g. W32 so that a reader can
// use the elements as an int32 array).
func (b *Builder) IntsWidth(vals []int64, min Width) {
	if b.valueOK() {
		b.intVector(vals, min, false)
	}
}

// Uints adds a typed uint vector in the smallest width that holds every element.
func (b *Builder) Uints(vals []uint64) { b.UintsWidth(vals, W8) }

// UintsWidth adds a typed uint vector of at least width min.
func (b *Builder) UintsWidth(vals []uint64, min Width) {
	if b.valueOK() {
		b.uintVector(vals, min, false)
	}
}

// Floats adds a typed float vector: 4-byte floats when all elements fit float32 exactly,
// else 8-byte.
func (b *Builder) Floats(vals []float64) {
	if b.valueOK() {
		b.floatVector(vals, W32, false)
	}
}

// Float32s adds a typed vector of 4-byte floats.
func (b *Builder) Float32s(vals []float32) {
	if b.valueOK() {
		b.floatVector(widen(vals), W32, false)
	}
}

// Bools adds a typed bool vector.
func (b *Builder) Bools(vals []bool) {
	if b.valueOK() {
		b.boolVector(vals)
	}
}

// FixedInts adds a fixed-length typed int vector (2, 3 or 4 elements, no count stored).
func (b *Builder) FixedInts(vals []int64) {
	if b.valueOK() && b.fixedOK(len(vals)) {
		b.intVector(vals, W8, true)
	}
}

// FixedUints adds a fixed-length typed uint vector (2, 3 or 4 elements).
func (b *Builder) FixedUints(vals []uint64) {
	if b.valueOK() && b.fixedOK(len(vals)) {
		b.uintVector(vals, W8, true)
	}
}

// FixedFloats adds a fixed-length typed float vector (2, 3 or 4 elements).
func (b *Builder) FixedFloats(vals []float64) {
	if b.valueOK() && b.fixedOK(len(vals)) {
		b.floatVector(vals, W32, true)
	}
}

// Vector adds an untyped vector whose elements f adds with b's methods.
func (b *Builder) Vector(f func(b *Builder)) {
	if b.valueOK() {
		b.vector(f)
	}
}

// Map adds a map whose entries f adds with m's methods.
func (b *Builder) Map(f func(m *Map)) {
	if b.valueOK() {
		b.mapOf(f)
	}
}

func widen(vals []float32) []float64 {
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = float64(v)
	}
	return out
}

// --- map entries ---

// Null adds key: null.
func (m *Map) Null(key string) {
	if m.keyOK(key) {
		m.b.Null()
	}
}

// Int adds key: v as a signed integer.
func (m *Map) Int(key string, v int64) {
	if m.keyOK(key) {
		m.b.Int(v)
	}
}

// Uint adds key: v as an unsigned integer.
func (m *Map) Uint(key string, v uint64) {
	if m.keyOK(key) {
		m.b.Uint(v)
	}
}

// Float32 adds key: v as a 4-byte float.
func (m *Map) Float32(key string, v float32) {
	if m.keyOK(key) {
		m.b.Float32(v)
	}
}

// Float64 adds key: v as a float of the smallest exact width (4 or 8 bytes).
func (m *Map) Float64(key string, v float64) {
	if m.keyOK(key) {
		m.b.Float64(v)
	}
}

// Bool adds key: v.
func (m *Map) Bool(key string, v bool) {
	if m.keyOK(key) {
		m.b.Bool(v)
	}
}

// String adds key: s.
func (m *Map) String(key, s string) {
	if m.keyOK(key) {
		m.b.String(s)
	}
}

// Blob adds key: data as a blob.
func (m *Map) Blob(key string, data []byte) {
	if m.keyOK(key) {
		m.b.Blob(data)
	}
}

// BlobWidth adds key: a blob whose data is aligned to min's byte width (see Builder.BlobWidth).
func (m *Map) BlobWidth(key string, data []byte, min Width) {
	if m.keyOK(key) {
		m.b.BlobWidth(data, min)
	}
}

// Ints adds key: a typed int vector of the smallest width.
func (m *Map) Ints(key string, vals []int64) { m.IntsWidth(key, vals, W8) }

// IntsWidth adds key: a typed int vector of at least width min.
func (m *Map) IntsWidth(key string, vals []int64, min Width) {
	if m.keyOK(key) {
		m.b.IntsWidth(vals, min)
	}
}

// Uints adds key: a typed uint vector of the smallest width.
func (m *Map) Uints(key string, vals []uint64) { m.UintsWidth(key, vals, W8) }

// UintsWidth adds key: a typed uint vector of at least width min.
func (m *Map) UintsWidth(key string, vals []uint64, min Width) {
	if m.keyOK(key) {
		m.b.UintsWidth(vals, min)
	}
}

// Floats adds key: a typed float vector (4-byte floats when all fit exactly).
func (m *Map) Floats(key string, vals []float64) {
	if m.keyOK(key) {
		m.b.Floats(vals)
	}
}

// Float32s adds key: a typed vector of 4-byte floats.
func (m *Map) Float32s(key string, vals []float32) {
	if m.keyOK(key) {
		m.b.Float32s(vals)
	}
}

// Bools adds key: a typed bool vector.
func (m *Map) Bools(key string, vals []bool) {
	if m.keyOK(key) {
		m.b.Bools(vals)
	}
}

// FixedInts adds key: a fixed-length typed int vector (2, 3 or 4 elements).
func (m *Map) FixedInts(key string, vals []int64) {
	if m.keyOK(key) {
		m.b.FixedInts(vals)
	}
}

// FixedUints adds key: a fixed-length typed uint vector (2, 3 or 4 elements).
func (m *Map) FixedUints(key string, vals []uint64) {
	if m.keyOK(key) {
		m.b.FixedUints(vals)
	}
}

// FixedFloats adds key: a fixed-length typed float vector (2, 3 or 4 elements).
func (m *Map) FixedFloats(key string, vals []float64) {
	if m.keyOK(key) {
		m.b.FixedFloats(vals)
	}
}

// Vector adds key: an untyped vector whose elements f adds with b's methods.
func (m *Map) Vector(key string, f func(b *Builder)) {
	if m.keyOK(key) {
		m.b.Vector(f)
	}
}

// Map adds key: a nested map whose entries f adds with the inner *Map's methods.
func (m *Map) Map(key string, f func(m *Map)) {
	if m.keyOK(key) {
		m.b.Map(f)
	}
}
