package schema

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/quantmcu/quantmcu/internal/shareddata"
)

// sharedModel reads a model from ../shared/data/models (relative to the repository root),
// skipping the test when the shared data is absent.
func sharedModel(tb testing.TB, name string) []byte {
	tb.Helper()
	path := filepath.Join("..", "..", "..", "shared", "data", "models", name)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		shareddata.Skip(tb, "%s absent (shared test data not available)", path)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// sharedModels lists the .tflite files in ../shared/data/models/sub, skipping when absent.
func sharedModels(tb testing.TB, sub string) []string {
	tb.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "data", "models", sub)
	files, _ := filepath.Glob(filepath.Join(dir, "*.tflite"))
	if len(files) == 0 {
		shareddata.Skip(tb, "no models in %s (shared test data absent)", dir)
	}
	return files
}

// unpack runs the object API on buf and turns a panic into an error.
func unpack(buf []byte) (m *ModelT, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("UnPack panicked: %v", r)
		}
	}()
	return GetRootAsModel(buf, 0).UnPack(), nil
}

// verifyThenUnpack is the contract under test: whatever Verify accepts, UnPack reads
// without panicking.
func verifyThenUnpack(t *testing.T, buf []byte) error {
	t.Helper()
	err := Verify(buf)
	if err == nil {
		if _, perr := unpack(buf); perr != nil {
			t.Fatalf("Verify accepted a buffer that UnPack cannot read: %v", perr)
		}
	} else if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error spans several lines: %q", err)
	}
	return err
}

// fieldAt returns the buffer position of the field in vtable slot (0-based) of tab.
func fieldAt(t *testing.T, tab flatbuffers.Table, slot int) uint32 {
	t.Helper()
	o := tab.Offset(flatbuffers.VOffsetT(4 + 2*slot))
	if o == 0 {
		t.Fatalf("field in slot %d is absent", slot)
	}
	return uint32(tab.Pos) + uint32(o)
}

// deref follows the uoffset stored at pos.
func deref(buf []byte, pos uint32) uint32 { return pos + binary.LittleEndian.Uint32(buf[pos:]) }

func TestVerifyAcceptsRealModels(t *testing.T) {
	for _, path := range sharedModels(t, "") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			buf, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(buf); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// Converter output is aligned as the C++ verifier demands.
			if err := VerifyAligned(buf); err != nil {
				t.Fatalf("VerifyAligned: %v", err)
			}
			m, err := unpack(buf)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Subgraphs) == 0 || len(m.Subgraphs[0].Operators) == 0 {
				t.Fatal("unpacked model has no operators")
			}
		})
	}
}

func TestVerifyNegativeModels(t *testing.T) {
	// The TFLM fuzzing seeds (all but these three) share one defect: operator 0 is typed
	// StridedSliceOptions but its builtin_options offset points past the end of the file.
	sound := map[string]bool{"keyword_scrambled_8bit.tflite": true, "person_detect_vela.tflite": true,
		"malicious_gather.tflite": true}
	for _, path := range sharedModels(t, "negative") {
		base := filepath.Base(path)
		t.Run(base, func(t *testing.T) {
			buf, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			err = verifyThenUnpack(t, buf)
			if sound[base] {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			want := fmt.Sprintf("Model.subgraphs[0].operators[0].builtin_options(StridedSliceOptions): offset 8201 at 159 points past the end of the buffer (size %d)", len(buf))
			if err == nil || err.Error() != want {
				t.Fatalf("Verify = %v\nwant %s", err, want)
			}
			// TFLM never reads that union (the operator is FULLY_CONNECTED), so a lenient
			// reader drops it.
			fixed, dropped, err := DropInvalidUnions(buf)
			if err != nil {
				t.Fatalf("DropInvalidUnions: %v", err)
			}
			if len(dropped) != 1 || dropped[0] != want {
				t.Fatalf("dropped = %q", dropped)
			}
			if buf[152+8] != byte(BuiltinOptionsStridedSliceOptions) {
				t.Fatal("DropInvalidUnions modified its input")
			}
			if err := verifyThenUnpack(t, fixed); err != nil {
				t.Fatalf("repaired buffer does not verify: %v", err)
			}
			m, _ := unpack(fixed)
			if op := m.Subgraphs[0].Operators[0]; op.BuiltinOptions != nil || len(op.Inputs) != 2 {
				t.Fatalf("repaired operator = %+v", op)
			}
			// The seeds are hand-made and misaligned: the C++ rules reject them.
			if err := VerifyAligned(fixed); err == nil || !strings.Contains(err.Error(), "not 4-byte aligned") {
				t.Fatalf("VerifyAligned = %v, want an alignment error", err)
			}
		})
	}
}

func TestDropInvalidUnionsKeepsOtherErrors(t *testing.T) {
	buf := sharedModel(t, "hello_world_int8.tflite")
	out, dropped, err := DropInvalidUnions(buf)
	if err != nil || len(dropped) != 0 || &out[0] != &buf[0] {
		t.Fatalf("sound buffer: out changed=%v dropped=%q err=%v", &out[0] != &buf[0], dropped, err)
	}
	if _, _, err := DropInvalidUnions(buf[:len(buf)/2]); err == nil {
		t.Fatal("a truncated buffer was repaired")
	}
}

func TestVerifyRejectsEveryTruncation(t *testing.T) {
	buf := sharedModel(t, "hello_world_int8.tflite")
	for n := 0; n < len(buf); n++ {
		if err := verifyThenUnpack(t, buf[:n:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: accepted", n, len(buf))
		}
	}
}

func TestVerifyFlippedBytesNeverPanic(t *testing.T) {
	buf := sharedModel(t, "hello_world_int8.tflite")
	rejected := 0
	for pos := range buf {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			c := append([]byte(nil), buf...)
			c[pos] ^= mask
			if verifyThenUnpack(t, c) != nil {
				rejected++
			}
		}
	}
	// Most bytes are weights and scalars, which may take any value; offsets may not.
	if rejected < 100 {
		t.Fatalf("only %d of %d corruptions were rejected", rejected, 3*len(buf))
	}
	t.Logf("%d of %d corruptions rejected", rejected, 3*len(buf))
}

func TestVerifyHugeVectorLength(t *testing.T) {
	orig := sharedModel(t, "hello_world_int8.tflite")
	for _, length := range []uint32{0x7fffffff, 0x40000000, 0xffffffff, 1000} {
		buf := append([]byte(nil), orig...)
		var sg SubGraph
		var tn Tensor
		m := GetRootAsModel(buf, 0)
		m.Subgraphs(&sg, 0)
		sg.Tensors(&tn, 3)
		vec := deref(buf, fieldAt(t, tn._tab, 0)) // Tensor.shape
		binary.LittleEndian.PutUint32(buf[vec:], length)
		want := fmt.Sprintf("Model.subgraphs[0].tensors[3].shape: vector of 4-byte elements with length %d runs past the end of the buffer (size %d)", length, len(buf))
		if err := verifyThenUnpack(t, buf); err == nil || err.Error() != want {
			t.Errorf("Verify = %v\nwant %s", err, want)
		}
	}
}

func TestVerifyRejectsBadOffsets(t *testing.T) {
	orig := sharedModel(t, "hello_world_int8.tflite")
	var sg SubGraph
	m := GetRootAsModel(orig, 0)
	m.Subgraphs(&sg, 0)
	tensors := deref(orig, fieldAt(t, sg._tab, 0)) + 4 // first element of SubGraph.tensors
	name := fieldAt(t, sg._tab, 4)                     // SubGraph.name
	cases := []struct {
		name   string
		modify func(b []byte)
		want   string
	}{
		{"root offset zero", func(b []byte) { binary.LittleEndian.PutUint32(b, 0) },
			"root table: offset at 0 is zero (points at itself)"},
		{"root offset past end", func(b []byte) { binary.LittleEndian.PutUint32(b, uint32(len(b))) },
			fmt.Sprintf("root table: offset %d at 0 points past the end of the buffer (size %d)", len(orig), len(orig))},
		{"self-referencing table offset", func(b []byte) { binary.LittleEndian.PutUint32(b[tensors:], 0) },
			fmt.Sprintf("Model.subgraphs[0].tensors[0]: offset at %d is zero (points at itself)", tensors)},
		{"vtable is the table itself", func(b []byte) {
			var tn Tensor
			sg.Tensors(&tn, 2)
			binary.LittleEndian.PutUint32(b[tn._tab.Pos:], 0)
		}, "Model.subgraphs[0].tensors[2]: vtable of Tensor table at"},
		{"vtable before the buffer", func(b []byte) {
			var tn Tensor
			sg.Tensors(&tn, 1)
			binary.LittleEndian.PutUint32(b[tn._tab.Pos:], 0x7ffffff0)
		}, "outside the buffer"},
		{"string past end", func(b []byte) { binary.LittleEndian.PutUint32(b[deref(b, name):], 1<<30) },
			fmt.Sprintf("Model.subgraphs[0].name: string of length %d runs past the end of the buffer", 1<<30)},
		{"string without NUL", func(b []byte) {
			s := deref(b, name)
			b[s+4+binary.LittleEndian.Uint32(b[s:])] = 'x'
		}, "Model.subgraphs[0].name: string of length"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf := append([]byte(nil), orig...)
			c.modify(buf)
			err := verifyThenUnpack(t, buf)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) && !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Verify = %v\nwant %s", err, c.want)
			}
		})
	}
}

func TestVerifyFieldOutsideTable(t *testing.T) {
	buf := append([]byte(nil), sharedModel(t, "hello_world_int8.tflite")...)
	var sg SubGraph
	var tn Tensor
	m := GetRootAsModel(buf, 0)
	m.Subgraphs(&sg, 0)
	sg.Tensors(&tn, 0)
	vt := uint32(int64(tn._tab.Pos) - int64(int32(binary.LittleEndian.Uint32(buf[tn._tab.Pos:]))))
	tsize := binary.LittleEndian.Uint16(buf[vt+2:])
	binary.LittleEndian.PutUint16(buf[vt+4+2*2:], tsize) // Tensor.buffer just past the table's end
	want := fmt.Sprintf("Model.subgraphs[0].tensors[0].buffer: field at table offset %d (4 bytes) lies outside its %d-byte table", tsize, tsize)
	if err := verifyThenUnpack(t, buf); err == nil || err.Error() != want {
		t.Fatalf("Verify = %v\nwant %s", err, want)
	}
}

func TestVerifyUnionTypes(t *testing.T) {
	orig := sharedModel(t, "person_detect.tflite")
	var sg SubGraph
	var op Operator
	m := GetRootAsModel(orig, 0)
	m.Subgraphs(&sg, 0)
	sg.Operators(&op, 0)
	if op.BuiltinOptionsType() == BuiltinOptionsNONE {
		t.Fatal("operator 0 of person_detect has no builtin options")
	}
	typeAt := fieldAt(t, op._tab, 3)
	for _, typ := range []byte{0, 250} { // NONE, and a type this schema does not know
		buf := append([]byte(nil), orig...)
		buf[typeAt] = typ
		if err := verifyThenUnpack(t, buf); err != nil {
			t.Fatalf("type %d: %v", typ, err)
		}
		m, _ := unpack(buf)
		if m.Subgraphs[0].Operators[0].BuiltinOptions != nil {
			t.Fatalf("type %d: UnPack produced options", typ)
		}
	}
	// A wrong but known type: Pool2DOptions reads the Conv2DOptions table with its own field
	// list; every field it finds still lies inside that table, so this verifies...
	buf := append([]byte(nil), orig...)
	buf[typeAt] = byte(BuiltinOptionsPool2DOptions)
	if err := verifyThenUnpack(t, buf); err != nil {
		t.Fatal(err)
	}
	// ...but pointing the value at the vector of operators does not.
	buf = append([]byte(nil), orig...)
	valueAt := fieldAt(t, op._tab, 4)
	binary.LittleEndian.PutUint32(buf[valueAt:], uint32(len(buf))-valueAt-2)
	if err := verifyThenUnpack(t, buf); err == nil || !strings.Contains(err.Error(), "Model.subgraphs[0].operators[0].builtin_options(") {
		t.Fatalf("Verify = %v", err)
	}
}

// dagModel builds a Model whose subgraphs vector holds n offsets to one SubGraph whose
// tensors vector holds n offsets to one Tensor: n*n tensors reached from O(n) bytes.
func dagModel(n int) []byte {
	b := flatbuffers.NewBuilder(0)
	name := b.CreateString("t")
	TensorStart(b)
	TensorAddName(b, name)
	tensor := TensorEnd(b)
	SubGraphStartTensorsVector(b, n)
	for range n {
		b.PrependUOffsetT(tensor)
	}
	tensors := b.EndVector(n)
	SubGraphStart(b)
	SubGraphAddTensors(b, tensors)
	sg := SubGraphEnd(b)
	ModelStartSubgraphsVector(b, n)
	for range n {
		b.PrependUOffsetT(sg)
	}
	sgs := b.EndVector(n)
	ModelStart(b)
	ModelAddSubgraphs(b, sgs)
	b.FinishWithFileIdentifier(ModelEnd(b), []byte("TFL3"))
	return b.FinishedBytes()
}

func TestVerifyBoundsSharedOffsets(t *testing.T) {
	// A little sharing (as string deduplication produces) is fine.
	small := dagModel(10)
	if err := verifyThenUnpack(t, small); err != nil {
		t.Fatalf("10x10 DAG: %v", err)
	}
	// 4,000,000 tensors from a 16 kB file would make UnPack allocate about a gigabyte.
	big := dagModel(2000)
	err := verifyThenUnpack(t, big)
	if err == nil || !strings.Contains(err.Error(), "objects reached through shared offsets add up to more than") {
		t.Fatalf("2000x2000 DAG (%d bytes): Verify = %v", len(big), err)
	}
}

// chainSchema is a recursive schema, table Node { child: Node; kids: [Node]; }, which TFLite's
// schema is not; it exercises the nesting and table-count limits.
func chainSchema() *schemaDesc {
	return &schemaDesc{
		tables: []tableDesc{{name: "Node", fields: []fieldDesc{
			{name: "child", kind: kindTable, ref: 0},
			{name: "kids", kind: kindTableVector, ref: 0},
		}}},
		root: 0,
	}
}

func chain(depth int) []byte {
	b := flatbuffers.NewBuilder(0)
	var child flatbuffers.UOffsetT
	for i := range depth {
		b.StartObject(2)
		if i > 0 {
			b.PrependUOffsetTSlot(0, child, 0)
		}
		child = b.EndObject()
	}
	b.Finish(child)
	return b.FinishedBytes()
}

func TestVerifyDepthLimit(t *testing.T) {
	if err := verifyBuffer(chain(maxDepth), chainSchema(), true); err != nil {
		t.Fatalf("depth %d: %v", maxDepth, err)
	}
	err := verifyBuffer(chain(maxDepth+1), chainSchema(), true)
	want := "Node" + strings.Repeat(".child", maxDepth) + ": tables nested more than 64 deep"
	if err == nil || err.Error() != want {
		t.Fatalf("depth %d: Verify = %v", maxDepth+1, err)
	}
}

func TestVerifyTableCountLimit(t *testing.T) {
	// Root with 1001 kids, all the same node with 999 kids, all the same leaf: 1,001,001
	// tables. Padding raises the expansion budget so that the table limit is what trips.
	const n = 1000
	b := flatbuffers.NewBuilder(0)
	b.CreateByteVector(make([]byte, 12<<20))
	b.StartObject(2)
	leaf := b.EndObject()
	b.StartVector(4, n-1, 4)
	for range n - 1 {
		b.PrependUOffsetT(leaf)
	}
	kids := b.EndVector(n - 1)
	b.StartObject(2)
	b.PrependUOffsetTSlot(1, kids, 0)
	mid := b.EndObject()
	b.StartVector(4, n+1, 4)
	for range n + 1 {
		b.PrependUOffsetT(mid)
	}
	rootKids := b.EndVector(n + 1)
	b.StartObject(2)
	b.PrependUOffsetTSlot(1, rootKids, 0)
	b.Finish(b.EndObject())
	err := verifyBuffer(b.FinishedBytes(), chainSchema(), true)
	if err == nil || !strings.HasSuffix(err.Error(), ": more than 1000000 tables") {
		t.Fatalf("Verify = %v", err)
	}
}

func TestVerifyShortBuffers(t *testing.T) {
	for _, b := range [][]byte{nil, {}, []byte("TFL3"), make([]byte, 7)} {
		if err := verifyThenUnpack(t, b); err == nil || !strings.Contains(err.Error(), "too short") {
			t.Errorf("%q: Verify = %v", b, err)
		}
	}
	if err := verifyThenUnpack(t, make([]byte, 8)); err == nil {
		t.Error("8 zero bytes accepted")
	}
}

// FuzzVerify feeds arbitrary bytes to Verify: it must never panic, and whatever it accepts
// must unpack without panicking. Seeds: the real and negative models in ../shared/data
// (when present; files over 128 KiB are left out: their extra bytes are weights, which only
// slow the mutator down) and testdata/fuzz.
func FuzzVerify(f *testing.F) {
	for _, sub := range []string{"", "negative"} {
		files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "data", "models", sub, "*.tflite"))
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil && len(data) <= 128<<10 {
				f.Add(data)
			}
		}
	}
	f.Add(dagModel(3))
	f.Fuzz(func(t *testing.T, data []byte) {
		if Verify(data) != nil {
			if out, _, err := DropInvalidUnions(data); err == nil {
				data = out
			} else {
				return
			}
		}
		if _, err := unpack(data); err != nil {
			t.Fatal(err)
		}
		_ = VerifyAligned(data)
	})
}

func BenchmarkVerify(b *testing.B) {
	buf := sharedModel(b, "mobilenet_v2_quantized_1x3x224x224.tflite")
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if err := Verify(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnPack(b *testing.B) {
	buf := sharedModel(b, "mobilenet_v2_quantized_1x3x224x224.tflite")
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		GetRootAsModel(buf, 0).UnPack()
	}
}

func TestDropInvalidUnionsListsAFew(t *testing.T) {
	sg := &SubGraphT{Tensors: []*TensorT{{Name: "x", Shape: []int32{1}}}}
	for range 30 {
		sg.Operators = append(sg.Operators, &OperatorT{Inputs: []int32{0}, Outputs: []int32{0},
			BuiltinOptions: &BuiltinOptionsT{Type: BuiltinOptionsAddOptions, Value: &AddOptionsT{}}})
	}
	b := flatbuffers.NewBuilder(0)
	b.Finish((&ModelT{Version: 3, Subgraphs: []*SubGraphT{sg}}).Pack(b))
	buf := b.FinishedBytes()
	var s SubGraph
	var op Operator
	GetRootAsModel(buf, 0).Subgraphs(&s, 0)
	for i := range s.OperatorsLength() {
		s.Operators(&op, i)
		at := fieldAt(t, op._tab, 4)
		binary.LittleEndian.PutUint32(buf[at:], uint32(len(buf))) // past the end
	}
	if err := verifyThenUnpack(t, buf); err == nil {
		t.Fatal("corrupt unions accepted")
	}
	out, dropped, err := DropInvalidUnions(buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != maxDropReports+1 || dropped[maxDropReports] != "... and 10 more invalid unions" ||
		!strings.HasPrefix(dropped[19], "Model.subgraphs[0].operators[19].builtin_options(AddOptions): offset") {
		t.Fatalf("dropped = %q", dropped)
	}
	m, err := unpack(out)
	if err != nil || len(m.Subgraphs[0].Operators) != 30 || m.Subgraphs[0].Operators[29].BuiltinOptions != nil {
		t.Fatalf("repaired model: %v", err)
	}
}
