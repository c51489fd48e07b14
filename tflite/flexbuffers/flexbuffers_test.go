package flexbuffers_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
)

// hx parses space-separated hex bytes.
func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// handCases are buffers derived by hand from the spec. Notation: a packed type byte is
// type<<2 | log2(width); the buffer ends with root value (w bytes), root packed type, w.
// Offsets are unsigned and count backwards from the byte where they are stored.
var handCases = []struct {
	name  string
	value any    // what Marshal is given
	hex   string // the bytes the spec dictates
	want  any    // what Decode returns (nil: same as value)
}{
	{
		// INT (1) of width 1: value 01, packed type 1<<2|0 = 04, root width 01.
		name: "int 1", value: int64(1), hex: "01 04 01",
	},
	{
		// -2 in one byte is fe (two's complement).
		name: "int -2", value: int64(-2), hex: "fe 04 01",
	},
	{
		// UINT (2) 300 needs 2 bytes: 2c 01, packed 2<<2|1 = 09, width 02.
		name: "uint 300", value: uint64(300), hex: "2c 01 09 02",
	},
	{
		// NULL (0): a zero of width 1, packed 00.
		name: "null", value: nil, hex: "00 00 01",
	},
	{
		// BOOL (26): 01, packed 26<<2 = 0x68.
		name: "bool true", value: true, hex: "01 68 01",
	},
	{
		// FLOAT (3): 1.5 is exact in float32 (3fc00000), so width 4: packed 3<<2|2 = 0e.
		name: "float 1.5", value: 1.5, hex: "00 00 c0 3f 0e 04",
	},
	{
		// 0.1 is not exact in float32: 8 bytes (3fb999999999999a), packed 3<<2|3 = 0f.
		name: "float 0.1", value: 0.1, hex: "9a 99 99 99 99 99 b9 3f 0f 08",
	},
	{
		// STRING (5) "hi": count 02, bytes 68 69, terminator 00; the string starts at 1.
		// Root: offset stored at 4 -> 4-1 = 03, packed 5<<2|0 = 14 (width of the count).
		name: "string", value: "hi", hex: "02 68 69 00 03 14 01",
	},
	{
		// BLOB (25): count 03, three bytes (no terminator), data at 1; root offset at 4
		// is 03; packed 25<<2 = 0x64.
		name: "blob", value: []byte{0xde, 0xad, 0xbe}, hex: "03 de ad be 03 64 01",
	},
	{
		// MAP (9) {"a":1}:
		//   0: key "a" 61 00
		//   2: keys vector (VECTOR_KEY, width 1): count 01; at 3 the offset 3-0 = 03.
		//   4: values vector prefix: keys offset 4-3 = 01, keys width 01, count 01
		//   7: value 01; 8: its type INT width 1 = 04
		//   9: root offset 9-7 = 02, packed 9<<2|0 = 24, width 01.
		name: "map a=1", value: map[string]any{"a": int64(1)},
		hex: "61 00 01 03 01 01 01 01 04 02 24 01",
	},
	{
		// Untyped VECTOR (10) of strings ["ab","c"]:
		//   0: 02 'a' 'b' 00 (string at 1);  4: 01 'c' 00 (string at 5)
		//   7: count 02; 8: offset 8-1 = 07; 9: offset 9-5 = 04
		//  10: type bytes STRING width 1 = 14 14
		//  12: root offset 12-8 = 04, packed 10<<2 = 28, width 01.
		name: "vector of strings", value: []any{"ab", "c"},
		hex: "02 61 62 00 01 63 00 02 07 04 14 14 04 28 01",
	},
	{
		// Typed VECTOR_INT (11) [1,2,300]: 300 needs 2 bytes, so every element and the
		// count take 2: 03 00 | 01 00 02 00 2c 01 (data at 2). Root offset 8-2 = 06,
		// packed 11<<2|1 = 2d, width 01.
		name: "typed int vector", value: []int64{1, 2, 300},
		hex: "03 00 01 00 02 00 2c 01 06 2d 01",
	},
	{
		// Untyped vector [1, 0.1]: 0.1 needs 8 bytes, so the vector is 8 bytes wide and
		// the int is stored in 8 bytes too. Types: INT w8 = 07, FLOAT w8 = 0f. Data at 8,
		// types at 24..25, root offset 26-8 = 0x12, packed 10<<2|3 = 2b.
		name: "vector widened by a double", value: []any{int64(1), 0.1},
		hex: "02 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 9a 99 99 99 99 99 b9 3f 07 0f 12 2b 01",
	},
	{
		// Fixed VECTOR_FLOAT3 (21): no count; three float32 at 0. Packed 21<<2|2 = 56.
		// Root offset 12-0 = 0c.
		name: "fixed float vector", value: [3]float64{1, 2, 0.5},
		hex: "00 00 80 3f 00 00 00 40 00 00 00 3f 0c 56 01",
	},
	{
		// Nested map {"m": {"x": -2}, "s": "hi"} built in key order:
		//   0: "m" 6d 00;  2: "x" 78 00
		//   4: inner keys: count 01, offset 5-2 = 03 (key vector at 5)
		//   6: inner values: keys offset 6-5 = 01, keys width 01, count 01, fe (at 9), type 04
		//  11: "s" 73 00; 13: string 02 68 69 00 (at 14)
		//  17: outer keys: count 02, 18-0 = 12, 19-11 = 08 (key vector at 18)
		//  20: outer values: 20-18 = 02, 01, count 02, 23-9 = 0e, 24-14 = 0a,
		//      types MAP w1 = 24, STRING w1 = 14 (values at 23)
		//  27: root offset 27-23 = 04, packed 24, width 01.
		name:  "nested map",
		value: map[string]any{"m": map[string]any{"x": int64(-2)}, "s": "hi"},
		hex: "6d 00 78 00 01 03 01 01 01 fe 04 73 00 02 68 69 00 02 12 08 " +
			"02 01 02 0e 0a 24 14 04 24 01",
	},
	{
		// Typed VECTOR_BOOL (36): count 02, 01 00 (data at 1); root offset 3-1 = 02,
		// packed 36<<2 = 0x90.
		name: "bool vector", value: []bool{true, false}, hex: "02 01 00 02 90 01",
	},
	{
		// Empty map: key vector count 00 at 0 (the vector starts at 1, where the map's prefix
		// begins, so the keys offset stored at 1 is 1-1 = 00), keys width 01, count 00;
		// the values start at 4, where the root offset is stored: 4-4 = 00, packed 24.
		name: "empty map", value: map[string]any{}, hex: "00 00 01 00 00 24 01",
	},
}

func TestHandDerivedBytes(t *testing.T) {
	for _, c := range handCases {
		t.Run(c.name, func(t *testing.T) {
			want := hx(t, c.hex)
			got, err := flexbuffers.Marshal(c.value)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Marshal = % x\nwant      % x", got, want)
			}
			dec, err := flexbuffers.Decode(want)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			wantVal := c.want
			if wantVal == nil {
				wantVal = c.value
			}
			if !reflect.DeepEqual(dec, wantVal) {
				t.Errorf("Decode = %#v, want %#v", dec, wantVal)
			}
		})
	}
}

// A 300-byte blob pushes the root offset past 255, so the root itself is 2 bytes wide.
func TestRootWidthFollowsOffset(t *testing.T) {
	blob := bytes.Repeat([]byte{7}, 300)
	buf, err := flexbuffers.Marshal(blob)
	if err != nil {
		t.Fatal(err)
	}
	// count 2c 01 at 0 (width 2, aligned), data 2..301, root offset at 302: 300 = 2c 01,
	// packed BLOB w2 = 25<<2|1 = 65, root width 02.
	if got, want := buf[len(buf)-4:], hx(t, "2c 01 65 02"); !bytes.Equal(got, want) || len(buf) != 306 {
		t.Fatalf("tail % x (len %d), want % x (len 306)", got, len(buf), want)
	}
}

func TestBuilderAPI(t *testing.T) {
	var b flexbuffers.Builder
	b.Map(func(m *flexbuffers.Map) {
		m.Int("stride", 2)
		m.Uint("u", 1<<40)
		m.Float32("scale", 0.25)
		m.Float64("pi", math.Pi)
		m.Bool("on", true)
		m.Null("none")
		m.String("name", "conv")
		m.Blob("w", []byte{1, 2, 3})
		m.Ints("shape", []int64{1, 96, 96, 3})
		m.IntsWidth("offs", []int64{1, 2}, flexbuffers.W32)
		m.Uints("us", []uint64{1, 70000})
		m.Floats("fs", []float64{0.5, 0.1})
		m.Float32s("f32", []float32{0.1})
		m.Bools("bs", []bool{true})
		m.FixedInts("pad", []int64{1, 1, 2, 2})
		m.FixedUints("fu", []uint64{3, 4})
		m.FixedFloats("ff", []float64{1, 2, 3})
		m.Vector("mixed", func(b *flexbuffers.Builder) {
			b.Int(-1)
			b.String("s")
			b.Key("k")
			b.Map(func(m *flexbuffers.Map) { m.Int("z", 0) })
			b.Vector(func(*flexbuffers.Builder) {})
		})
		m.Map("sub", func(m *flexbuffers.Map) { m.String("a", "b") })
	})
	buf, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	root, err := flexbuffers.Root(buf)
	if err != nil {
		t.Fatal(err)
	}
	if root.Type() != flexbuffers.TypeMap {
		t.Fatalf("root type %v", root.Type())
	}
	keys, err := root.Keys()
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"bs", "f32", "ff", "fs", "fu", "mixed", "name", "none", "offs", "on", "pad", "pi", "scale", "shape", "stride", "sub", "u", "us", "w"}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Fatalf("keys %q, want %q", keys, wantKeys)
	}
	get := func(k string) flexbuffers.Value {
		t.Helper()
		v, err := root.Get(k)
		if err != nil {
			t.Fatalf("Get(%q): %v", k, err)
		}
		return v
	}
	if i, err := get("stride").Int(); i != 2 || err != nil {
		t.Errorf("stride = %d, %v", i, err)
	}
	if u, err := get("u").Uint(); u != 1<<40 || err != nil {
		t.Errorf("u = %d, %v", u, err)
	}
	if f, err := get("pi").Float(); f != math.Pi || err != nil {
		t.Errorf("pi = %v, %v", f, err)
	}
	if f, err := get("scale").Float(); f != 0.25 || err != nil {
		t.Errorf("scale = %v, %v", f, err)
	}
	if v, err := get("on").Bool(); !v || err != nil {
		t.Errorf("on = %v, %v", v, err)
	}
	if get("none").Type() != flexbuffers.TypeNull {
		t.Errorf("none is %v", get("none").Type())
	}
	if s, err := get("name").String(); s != "conv" || err != nil {
		t.Errorf("name = %q, %v", s, err)
	}
	if w, err := get("w").Blob(); !bytes.Equal(w, []byte{1, 2, 3}) || err != nil {
		t.Errorf("w = %v, %v", w, err)
	}
	shape := get("shape")
	if n, err := shape.Len(); n != 4 || err != nil || shape.Type() != flexbuffers.TypeVectorInt {
		t.Errorf("shape: %v len %d, %v", shape.Type(), n, err)
	}
	if e, err := shape.Index(1); err != nil {
		t.Error(err)
	} else if i, _ := e.Int(); i != 96 {
		t.Errorf("shape[1] = %d", i)
	}
	if _, err := shape.Index(4); err == nil {
		t.Error("shape[4] gave no error")
	}
	// FlexbufferWrapper-style access: the map's values in sorted key order.
	if v, err := root.Index(14); err != nil {
		t.Error(err)
	} else if i, _ := v.Int(); i != 2 {
		t.Errorf("root.Index(14) (stride) = %d", i)
	}
	// IntsWidth(W32): element i sits 4*i bytes after element 0.
	offs := get("offs")
	if _, err := offs.Index(1); err != nil {
		t.Fatal(err)
	}
	if got := flexbuffers.TypeVectorFloat3.String(); got != "float vector[3]" {
		t.Errorf("type name %q", got)
	}
	// Type errors and missing keys.
	if _, err := get("name").Int(); !errors.Is(err, flexbuffers.ErrType) {
		t.Errorf("Int of a string: %v", err)
	}
	if _, err := root.Get("nope"); !errors.Is(err, flexbuffers.ErrNotFound) {
		t.Errorf("Get(nope): %v", err)
	}
	if _, err := get("stride").Keys(); !errors.Is(err, flexbuffers.ErrType) {
		t.Errorf("Keys of an int: %v", err)
	}

	dec, err := flexbuffers.Decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"stride": int64(2), "u": uint64(1 << 40), "scale": 0.25, "pi": math.Pi, "on": true,
		"none": nil, "name": "conv", "w": []byte{1, 2, 3}, "shape": []int64{1, 96, 96, 3},
		"offs": []int64{1, 2}, "us": []uint64{1, 70000}, "fs": []float64{0.5, 0.1},
		"f32": []float64{float64(float32(0.1))}, "bs": []bool{true},
		"pad": [4]int64{1, 1, 2, 2}, "fu": [2]uint64{3, 4}, "ff": [3]float64{1, 2, 3},
		"mixed": []any{int64(-1), "s", "k", map[string]any{"z": int64(0)}, []any{}},
		"sub":   map[string]any{"a": "b"},
	}
	if !reflect.DeepEqual(dec, want) {
		t.Errorf("Decode =\n%#v\nwant\n%#v", dec, want)
	}
}

// IntsWidth keeps the requested width even for small values, so a C++ kernel can read the
// elements as an int32_t array.
func TestIntsWidth(t *testing.T) {
	var b flexbuffers.Builder
	b.IntsWidth([]int64{1, -1}, flexbuffers.W32)
	buf, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	// count 02 00 00 00, 01 00 00 00, ff ff ff ff; root offset 12-4 = 08, packed 11<<2|2 = 2e.
	if want := hx(t, "02 00 00 00 01 00 00 00 ff ff ff ff 08 2e 01"); !bytes.Equal(buf, want) {
		t.Fatalf("got % x\nwant % x", buf, want)
	}
}

func TestBuilderMisuse(t *testing.T) {
	cases := []struct {
		name  string
		build func(b *flexbuffers.Builder)
		want  string
	}{
		{"no root", func(b *flexbuffers.Builder) {}, "no root value"},
		{"two roots", func(b *flexbuffers.Builder) { b.Int(1); b.Int(2) }, "more than one root"},
		{"duplicate key", func(b *flexbuffers.Builder) {
			b.Map(func(m *flexbuffers.Map) { m.Int("a", 1); m.Int("b", 1); m.String("a", "x") })
		}, `duplicate map key "a"`},
		{"key with 0", func(b *flexbuffers.Builder) {
			b.Map(func(m *flexbuffers.Map) { m.Int("a\x00b", 1) })
		}, "contains a 0 byte"},
		{"value without key", func(b *flexbuffers.Builder) {
			b.Map(func(m *flexbuffers.Map) { b.Int(1) })
		}, "without a key"},
		{"stale map", func(b *flexbuffers.Builder) {
			var outer *flexbuffers.Map
			b.Map(func(m *flexbuffers.Map) {
				outer = m
				m.Map("in", func(*flexbuffers.Map) { outer.Int("x", 1) })
			})
		}, "outside its map's callback"},
		{"fixed length", func(b *flexbuffers.Builder) { b.FixedInts([]int64{1, 2, 3, 4, 5}) }, "only 2, 3 or 4"},
	}
	for _, c := range cases {
		var b flexbuffers.Builder
		c.build(&b)
		_, err := b.Finish()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
	var b flexbuffers.Builder
	b.Int(1)
	if _, err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	b.Int(2)
	if _, err := b.Finish(); err == nil {
		t.Error("adding after Finish gave no error")
	}
	b.Reset()
	b.Bool(false)
	if buf, err := b.Finish(); err != nil || !bytes.Equal(buf, hx(t, "00 68 01")) {
		t.Errorf("after Reset: % x, %v", buf, err)
	}
	if _, err := flexbuffers.Marshal(struct{}{}); err == nil {
		t.Error("Marshal(struct{}{}) gave no error")
	}
	loop := []any{nil}
	loop[0] = loop
	if _, err := flexbuffers.Marshal(loop); err == nil {
		t.Error("Marshal of a cyclic slice gave no error")
	}
}

// Keys are shared: two maps with the same key store it once.
func TestSharedKeysAndStrings(t *testing.T) {
	v := []any{map[string]any{"key": "val"}, map[string]any{"key": "val"}}
	buf, err := flexbuffers.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf, []byte("key\x00")); n != 1 {
		t.Errorf("key stored %d times", n)
	}
	if n := bytes.Count(buf, []byte("val\x00")); n != 2 {
		t.Errorf("string stored %d times without ShareStrings", n)
	}
	b := flexbuffers.Builder{ShareStrings: true}
	b.Vector(func(b *flexbuffers.Builder) { b.String("val"); b.String("val") })
	buf, err = b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf, []byte("val\x00")); n != 1 {
		t.Errorf("string stored %d times with ShareStrings", n)
	}
	dec, err := flexbuffers.Decode(buf)
	if err != nil || !reflect.DeepEqual(dec, []any{"val", "val"}) {
		t.Errorf("Decode = %#v, %v", dec, err)
	}
}

// Offsets beyond 64 KiB need 4-byte widths in the parent vector, and the inline int in the
// same vector is widened with it.
func TestLargeOffsets(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, 70000)
	v := []any{big, int64(5)}
	buf, err := flexbuffers.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	root, err := flexbuffers.Root(buf)
	if err != nil {
		t.Fatal(err)
	}
	// The vector's type bytes are BLOB w4 (25<<2|2 = 66) and INT w4 (06).
	if tail := buf[len(buf)-5 : len(buf)-3]; !bytes.Equal(tail, []byte{0x66, 0x06}) {
		t.Errorf("type bytes % x, want 66 06", tail)
	}
	dec, err := root.Decode()
	if err != nil || !reflect.DeepEqual(dec, v) {
		t.Errorf("Decode: %v", err)
	}
}
