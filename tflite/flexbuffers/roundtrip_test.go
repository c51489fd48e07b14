package flexbuffers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
)

// gen makes random values of the types Decode returns.
type gen struct {
	r *rand.Rand
	// printable restricts strings, blobs and floats to what survives flatc's JSON printer
	// exactly (printable ASCII, short binary fractions).
	printable bool
}

func (g gen) str(maxLen int) string {
	n := g.r.IntN(maxLen + 1)
	b := make([]byte, n)
	for i := range b {
		if g.printable {
			b[i] = byte(' ' + g.r.IntN(95))
		} else {
			b[i] = byte(g.r.IntN(256))
		}
	}
	return string(b)
}

func (g gen) key() string {
	return strings.ReplaceAll(g.str(6), "\x00", "0")
}

func (g gen) int() int64 { return int64(g.r.Uint64()) >> g.r.IntN(64) }

func (g gen) uint() uint64 { return g.r.Uint64() >> g.r.IntN(64) }

func (g gen) float() float64 {
	switch {
	case g.printable:
		return float64(g.r.IntN(20001)-10000) / 8
	case g.r.IntN(2) == 0:
		return float64(float32(g.r.NormFloat64() * 100)) // exact in 4 bytes
	}
	return g.r.NormFloat64() * 1e10
}

func (g gen) blobLen() int {
	switch g.r.IntN(40) {
	case 0:
		return 300 + g.r.IntN(300) // 2-byte counts and offsets
	case 1:
		if !g.printable {
			return 65536 + g.r.IntN(100) // 4-byte counts and offsets
		}
	}
	return g.r.IntN(12)
}

func (g gen) value(depth int) any {
	k := g.r.IntN(18)
	if depth >= 5 {
		k = g.r.IntN(8)
	}
	n := g.r.IntN(6)
	switch k {
	case 0:
		return nil
	case 1, 7:
		return g.int()
	case 2:
		return g.uint()
	case 3:
		return g.float()
	case 4:
		return g.r.IntN(2) == 0
	case 5:
		return g.str(g.blobLen())
	case 6:
		return []byte(g.str(g.blobLen()))
	case 8, 9:
		v := make([]any, n)
		for i := range v {
			v[i] = g.value(depth + 1)
		}
		return v
	case 10, 11:
		m := make(map[string]any, n)
		for range n {
			m[g.key()] = g.value(depth + 1)
		}
		return m
	case 12:
		v := make([]int64, n*g.r.IntN(100))
		for i := range v {
			v[i] = g.int()
		}
		return v
	case 13:
		v := make([]uint64, n)
		for i := range v {
			v[i] = g.uint()
		}
		return v
	case 14:
		v := make([]float64, n)
		for i := range v {
			v[i] = g.float()
		}
		return v
	case 15:
		v := make([]bool, n)
		for i := range v {
			v[i] = g.r.IntN(2) == 0
		}
		return v
	case 16:
		switch g.r.IntN(3) {
		case 0:
			return [2]int64{g.int(), g.int()}
		case 1:
			return [3]uint64{g.uint(), g.uint(), g.uint()}
		}
		return [4]float64{g.float(), g.float(), g.float(), g.float()}
	}
	return int64(g.r.IntN(3) - 1)
}

// Property: Decode inverts Marshal, and Marshal inverts Decode on Marshal's output (the
// encoding is canonical and deterministic).
func TestRandomRoundTrip(t *testing.T) {
	g := gen{r: rand.New(rand.NewPCG(1, 2))}
	for i := range 2000 {
		v := g.value(0)
		buf, err := flexbuffers.Marshal(v)
		if err != nil {
			t.Fatalf("case %d: Marshal: %v", i, err)
		}
		dec, err := flexbuffers.Decode(buf)
		if err != nil {
			t.Fatalf("case %d: Decode: %v\nvalue %#v", i, err, v)
		}
		if !reflect.DeepEqual(dec, v) {
			t.Fatalf("case %d: Decode(Marshal(v)) differs\n got %#v\nwant %#v", i, dec, v)
		}
		again, err := flexbuffers.Marshal(dec)
		if err != nil || !bytes.Equal(again, buf) {
			t.Fatalf("case %d: Marshal(Decode(buf)) differs from buf (%v)", i, err)
		}
	}
}

// jsonToGo converts decoded JSON (numbers as json.Number) to the values flatc's JSON
// parser gives FlexBuffers: integers as ints, other numbers as doubles.
func jsonToGo(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return u
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return f
	case []any:
		for i := range x {
			x[i] = jsonToGo(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = jsonToGo(x[k])
		}
	}
	return v
}

func parseJSON(t *testing.T, data []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("parse JSON %q: %v", data, err)
	}
	return jsonToGo(v)
}

func flatc(t *testing.T) string {
	path, err := exec.LookPath("flatc")
	if err != nil {
		t.Skip("flatc (Debian flatbuffers-compiler) absent: no cross-check against the C++ implementation")
	}
	return path
}

// Our encoder against the C++ builder inside flatc, for documents written in a fixed
// order (flatc builds map entries in document order and so does this test).
func TestEncodeMatchesFlatc(t *testing.T) {
	bin := flatc(t)
	docs := []string{
		`1`,
		`{"a":1}`,
		`{"a":1,"b":[1,2.5,"x",true,null],"c":{"z":-300}}`,
		`{"v":[1,2,3],"s":["ab","ab"],"k":"ab"}`,
		`[0.1,-1,70000,"long string that is long",[[],{}],{"k":{"k":{"k":1.5}}}]`,
		`{"plan":{"stages":[{"op":"conv","k":[3,3],"s":2},{"op":"dw","k":[3,3],"s":1}],"scale":0.0078125,"zp":-128}}`,
	}
	dir := t.TempDir()
	for i, doc := range docs {
		in := filepath.Join(dir, fmt.Sprintf("d%d.json", i))
		if err := os.WriteFile(in, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "-b", "--flexbuffers", "-o", dir, in).CombinedOutput(); err != nil {
			t.Fatalf("flatc: %v\n%s", err, out)
		}
		want, err := os.ReadFile(strings.TrimSuffix(in, ".json") + ".bin")
		if err != nil {
			t.Fatal(err)
		}
		got := buildInOrder(t, doc)
		if !bytes.Equal(got, want) {
			t.Errorf("doc %s:\n ours  % x\n flatc % x", doc, got, want)
		}
	}
}

// buildInOrder builds a JSON document with the Builder, adding map entries in document
// order as flatc does.
func buildInOrder(t *testing.T, doc string) []byte {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	b := flexbuffers.Builder{ShareStrings: true}
	var value func(b *flexbuffers.Builder)
	var entries func(m *flexbuffers.Map)
	next := func() json.Token {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("JSON %s: %v", doc, err)
		}
		return tok
	}
	scalar := func(b *flexbuffers.Builder, tok json.Token) {
		switch x := tok.(type) {
		case nil:
			b.Null()
		case bool:
			b.Bool(x)
		case string:
			b.String(x)
		case json.Number:
			switch n := jsonToGo(x).(type) {
			case int64:
				b.Int(n)
			case uint64:
				b.Uint(n)
			case float64:
				b.Float64(n)
			}
		}
	}
	var valueTok func(b *flexbuffers.Builder, tok json.Token)
	valueTok = func(b *flexbuffers.Builder, tok json.Token) {
		switch tok {
		case json.Delim('['):
			b.Vector(func(b *flexbuffers.Builder) {
				for d.More() {
					valueTok(b, next())
				}
				next()
			})
		case json.Delim('{'):
			b.Map(entries)
		default:
			scalar(b, tok)
		}
	}
	value = func(b *flexbuffers.Builder) { valueTok(b, next()) }
	entries = func(m *flexbuffers.Map) {
		for d.More() {
			k := next().(string)
			tok := next()
			switch tok {
			case json.Delim('['):
				m.Vector(k, func(b *flexbuffers.Builder) {
					for d.More() {
						valueTok(b, next())
					}
					next()
				})
			case json.Delim('{'):
				m.Map(k, entries)
			default:
				switch x := tok.(type) {
				case nil:
					m.Null(k)
				case bool:
					m.Bool(k, x)
				case string:
					m.String(k, x)
				case json.Number:
					switch n := jsonToGo(x).(type) {
					case int64:
						m.Int(k, n)
					case uint64:
						m.Uint(k, n)
					case float64:
						m.Float64(k, n)
					}
				}
			}
		}
		next()
	}
	value(&b)
	buf, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return buf
}

// Our random buffers read by the C++ reader inside flatc: the JSON it prints must describe
// the value we encoded.
func TestFlatcReadsOurBuffers(t *testing.T) {
	bin := flatc(t)
	dir := t.TempDir()
	g := gen{r: rand.New(rand.NewPCG(3, 4)), printable: true}
	for i := range 60 {
		v := map[string]any{"root": g.value(0)}
		buf, err := flexbuffers.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		in := filepath.Join(dir, fmt.Sprintf("r%d.bin", i))
		if err := os.WriteFile(in, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "--json", "--strict-json", "--flexbuffers", "-o", dir, in).CombinedOutput(); err != nil {
			t.Fatalf("case %d: flatc cannot read our buffer: %v\n%s", i, err, out)
		}
		js, err := os.ReadFile(strings.TrimSuffix(in, ".bin") + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := parseJSON(t, js), asJSON(v); !sameJSON(got, want) {
			t.Fatalf("case %d: flatc read\n%s\nwe wrote\n%#v", i, js, want)
		}
	}
}

// asJSON maps a decoded value to what flatc prints: typed and fixed vectors become
// arrays, blobs strings.
func asJSON(v any) any {
	rv := reflect.ValueOf(v)
	switch x := v.(type) {
	case []byte:
		return string(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = asJSON(e)
		}
		return out
	case string, nil:
		return v
	}
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = asJSON(rv.Index(i).Interface())
		}
		return out
	}
	return v
}

// sameJSON compares values, numbers by value whatever their Go type.
func sameJSON(a, b any) bool {
	num := func(v any) (float64, string, bool) {
		switch x := v.(type) {
		case int64:
			return float64(x), strconv.FormatInt(x, 10), true
		case uint64:
			return float64(x), strconv.FormatUint(x, 10), true
		case float64:
			return x, "", true
		}
		return 0, "", false
	}
	if fa, sa, ok := num(a); ok {
		fb, sb, ok := num(b)
		if sa != "" && sb != "" {
			return sa == sb
		}
		return ok && (fa == fb || math.IsNaN(fa) && math.IsNaN(fb))
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, e := range x {
			if f, ok := y[k]; !ok || !sameJSON(e, f) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
