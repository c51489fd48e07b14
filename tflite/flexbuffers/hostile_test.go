package flexbuffers_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
)

func TestHostileInputs(t *testing.T) {
	cases := []struct {
		name, hex, want string
	}{
		{"empty", "", "too short"},
		{"two bytes", "04 01", "too short"},
		{"root width 3", "01 04 03", "root byte width 3"},
		{"root width 8 in 3 bytes", "01 04 08", "does not fit"},
		{"unknown type", "01 fc 01", "unknown type 63"},
		// String offset 5 stored at 0 would point 5 bytes before the buffer.
		{"offset before start", "05 14 01", "before the buffer start"},
		// String at 1 claims 255 bytes, more than the whole buffer.
		{"string count too large", "ff 61 00 02 14 01", "claims 255"},
		// String "ab" at 1: the byte after it is the root offset 02, not a 0.
		{"string not terminated", "02 61 62 02 14 01", "no terminating 0"},
		// Blob at 1 claims 6 bytes; only 5 follow it.
		{"blob too long", "06 61 62 02 64 01", "blob of 6 bytes"},
		// Untyped vector at 1 claims 3 elements (6 bytes with type bytes); 4 follow it.
		{"vector too long", "03 01 01 28 01", "extends past"},
		// Typed int vector count of 2^64-1 in 8 bytes: bounded before any multiplication.
		{"huge count", "ff ff ff ff ff ff ff ff 01 00 00 00 00 00 00 00 08 2f 01", "claims"},
		// A float stored in one byte is undefined (the C++ reader reads it as an int8).
		{"float width 1", "01 0c 01", "width 1"},
		// Float vector of width 2 (3 elements at 2).
		{"float vector width 2", "03 00 01 00 02 00 03 00 06 35 01", "width 2"},
		// Vector at 1 whose only element (offset 0) is the vector itself.
		{"self-referencing vector", "01 00 28 02 28 01", "nest deeper"},
		// Map at 7 with keys offset 0 and key width 3.
		{"map keys width 3", "61 00 01 03 00 03 01 01 04 02 24 01", "keys width 3"},
		// Map whose key vector says 2 keys while the map has 1 value.
		{"map key count", "61 00 02 03 01 01 01 01 04 02 24 01", "1 values but 2 keys"},
		// Map {"b":1,"a":2} with keys stored unsorted.
		{"map keys unsorted", "62 00 61 00 02 05 04 02 01 02 01 02 04 04 04 24 01", "does not sort after"},
		// Key "a" whose 0 terminator is missing (the rest of the buffer has no 0).
		{"key not terminated", "61 01 02 10 01", "no terminating 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := flexbuffers.Decode(hx(t, c.hex))
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			if !errors.Is(err, flexbuffers.ErrMalformed) {
				t.Errorf("error %q does not wrap ErrMalformed", err)
			}
		})
	}
}

// A vector of n references to one blob of size s decodes to n*s bytes: with n = s = 1000
// a 4 KB buffer would inflate to 1 MB, which Decode refuses.
func TestAliasingBomb(t *testing.T) {
	const n, s = 1000, 1000
	buf := binary.LittleEndian.AppendUint16(nil, s)
	buf = append(buf, make([]byte, s)...) // blob data at 2
	buf = binary.LittleEndian.AppendUint16(buf, n)
	start := len(buf)
	for i := range n {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(start+2*i-2))
	}
	for range n {
		buf = append(buf, 25<<2|1) // BLOB, count width 2
	}
	off := len(buf) - start
	buf = binary.LittleEndian.AppendUint16(buf, uint16(off))
	buf = append(buf, 10<<2|1, 2) // VECTOR of width 2, root width 2
	v, err := flexbuffers.Root(buf)
	if err != nil {
		t.Fatal(err)
	}
	// The accessors themselves stay cheap: element 999 is the shared blob.
	e, err := v.Index(n - 1)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := e.Blob(); err != nil || len(b) != s {
		t.Fatalf("Index(%d).Blob() = %d bytes, %v", n-1, len(b), err)
	}
	if _, err := v.Decode(); err == nil || !strings.Contains(err.Error(), "aliased") {
		t.Fatalf("Decode of %d-byte aliasing bomb: %v", len(buf), err)
	}
}

// Deeply nested vectors (each the only element of the next) stop at MaxDepth.
func TestDepthLimit(t *testing.T) {
	var b flexbuffers.Builder
	var nest func(b *flexbuffers.Builder, d int)
	nest = func(b *flexbuffers.Builder, d int) {
		if d == 0 {
			b.Int(1)
			return
		}
		b.Vector(func(b *flexbuffers.Builder) { nest(b, d-1) })
	}
	nest(&b, flexbuffers.MaxDepth+1)
	buf, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flexbuffers.Decode(buf); err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Errorf("Decode of %d nested vectors: %v", flexbuffers.MaxDepth+1, err)
	}
	b.Reset()
	nest(&b, flexbuffers.MaxDepth)
	buf, _ = b.Finish()
	if _, err := flexbuffers.Decode(buf); err != nil {
		t.Errorf("Decode of %d nested vectors: %v", flexbuffers.MaxDepth, err)
	}
}

// Every truncation and every single-byte change of valid buffers gives a value or an
// error, never a panic; errors are one line.
func TestTruncatedAndMutated(t *testing.T) {
	var bufs [][]byte
	for _, c := range handCases {
		bufs = append(bufs, hx(t, c.hex))
	}
	g := gen{r: rand.New(rand.NewPCG(5, 6))}
	for len(bufs) < 40 {
		b, err := flexbuffers.Marshal(map[string]any{"a": g.value(1), "b": g.value(1)})
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 400 {
			bufs = append(bufs, b)
		}
	}
	check := func(b []byte) {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic on % x: %v", b, r)
			}
		}()
		if _, err := flexbuffers.Decode(b); err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
		walk(b)
	}
	for _, b := range bufs {
		for i := range b {
			check(b[:i])
			check(b[i:])
			m := append([]byte(nil), b...)
			m[i] ^= 1 << (i % 8)
			check(m)
			m[i] = 0xff
			check(m)
		}
	}
}

// walk exercises every accessor on a bounded part of the buffer's tree (a bounded number
// of nodes: offsets may alias one map many times, and each accessor call is linear in the
// buffer size at worst).
func walk(buf []byte) {
	v, err := flexbuffers.Root(buf)
	if err != nil {
		return
	}
	budget := 2000
	var visit func(v flexbuffers.Value, depth int)
	visit = func(v flexbuffers.Value, depth int) {
		if budget--; budget < 0 {
			return
		}
		_ = v.Type().String()
		v.Int()
		v.Uint()
		v.Float()
		v.Bool()
		v.String()
		v.Blob()
		if keys, err := v.Keys(); err == nil && len(keys) > 0 {
			v.Get(keys[0])
			v.Get(keys[len(keys)-1] + "x")
		}
		n, err := v.Len()
		if err != nil || depth > 6 {
			return
		}
		for i := 0; i < n && i < 8; i++ {
			if e, err := v.Index(i); err == nil {
				visit(e, depth+1)
			}
		}
		v.Index(-1)
		v.Index(n)
	}
	visit(v, 0)
}

func FuzzDecode(f *testing.F) {
	for _, c := range handCases {
		f.Add(hx(f, c.hex))
	}
	g := gen{r: rand.New(rand.NewPCG(7, 8))}
	for range 20 {
		b, err := flexbuffers.Marshal(g.value(0))
		if err == nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		watchdog := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("slow input % x", data)) })
		defer watchdog.Stop()
		walk(data)
		v, err := flexbuffers.Decode(data)
		if err != nil {
			if !errors.Is(err, flexbuffers.ErrMalformed) && !errors.Is(err, flexbuffers.ErrType) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrType: %v", err)
			}
			return
		}
		// Whatever decodes re-encodes, and the re-encoding decodes to the same value.
		buf, err := flexbuffers.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(Decode(data)): %v", err)
		}
		v2, err := flexbuffers.Decode(buf)
		if err != nil {
			t.Fatalf("Decode(Marshal(Decode(data))): %v", err)
		}
		if a, b := fmt.Sprintf("%#v", v), fmt.Sprintf("%#v", v2); a != b {
			t.Fatalf("re-encoding changed the value:\n%s\n%s", a, b)
		}
	})
}
