package tensorio

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

func TestNPYRoundTrip(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	for _, tc := range []struct {
		typ   schema.TensorType
		shape []int32
		descr string
	}{
		{schema.TensorTypeINT8, []int32{1, 12}, "'|i1'"},
		{schema.TensorTypeINT16, []int32{6}, "'<i2'"},
		{schema.TensorTypeFLOAT32, []int32{1, 3, 1}, "'<f4'"},
	} {
		f, err := EncodeNPY(tc.typ, tc.shape, data)
		if err != nil {
			t.Fatal(err)
		}
		hlen := int(binary.LittleEndian.Uint16(f[8:10]))
		if (10+hlen)%64 != 0 || f[10+hlen-1] != '\n' || !strings.Contains(string(f[:10+hlen]), tc.descr) {
			t.Errorf("%v: bad header %q", tc.shape, f[:10+hlen])
		}
		a, err := ParseNPY(f)
		if err != nil {
			t.Fatal(err)
		}
		if a.Type != tc.typ || !bytes.Equal(a.Data, data) || len(a.Shape) != len(tc.shape) {
			t.Errorf("round trip %v: got %+v", tc.shape, a)
		}
	}
	if f, _ := EncodeNPY(schema.TensorTypeINT16, []int32{6}, data); !strings.Contains(string(f), "(6,)") {
		t.Errorf("1-d shape must be written as a one-element tuple: %q", f)
	}
}

// npyFile builds a .npy file by hand with a given format version and header text.
func npyFile(major byte, header string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.Write([]byte{major, 0})
	if major == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(header)))
	}
	b.WriteString(header)
	b.Write(body)
	return b.Bytes()
}

func TestParseNPYVersionsAndErrors(t *testing.T) {
	body := []byte{0, 0, 128, 63, 0, 0, 0, 64} // float32 1, 2
	for _, major := range []byte{2, 3} {
		a, err := ParseNPY(npyFile(major, `{"descr": "<f4", "fortran_order": False, "shape": (2,)}`+"\n", body))
		if err != nil || a.Type != schema.TensorTypeFLOAT32 || a.Shape[0] != 2 {
			t.Errorf("v%d: %v %+v", major, err, a)
		}
	}
	for _, tc := range []struct{ name, file, want string }{
		{"magic", "PK\x03\x04 not npy", "not a .npy file"},
		{"version", string(npyFile(9, "{}", nil)), "version 9"},
		{"header length", string(npyFile(1, "{}", nil)[:9]) + "\xff", "exceeds the file"},
		{"header beyond file", "\x93NUMPY\x01\x00\xff\xff{}", "exceeds the file"},
		{"fortran", string(npyFile(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", body)), "Fortran order"},
		{"big endian", string(npyFile(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", body)), "big-endian"},
		{"object dtype", string(npyFile(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", body)), "not supported"},
		{"size mismatch", string(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", body)), "needs 4 data bytes, file has 8"},
		{"too short", string(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", body)), "needs more than the 8 data bytes"},
		// A hostile header must be rejected from the file size, without allocating 2^60 elements.
		{"huge shape", string(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1152921504606846976, 1024), }", body)), "needs more than the 8 data bytes"},
		{"negative", string(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", body)), "negative"},
		{"garbage header", string(npyFile(1, "{'descr' '<f4'}", body)), "expected ':'"},
	} {
		_, err := ParseNPY([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestDecodeNPYAgainstTensor(t *testing.T) {
	s := Spec{Name: "input", Type: schema.TensorTypeINT8, Shape: []int32{1, 2, 2, 1}, Scale: 1}
	good, _ := EncodeNPY(schema.TensorTypeINT8, []int32{4}, []byte{1, 2, 3, 4})
	got, err := Decode(good, KindNPY, s, ImageOptions{})
	if err != nil || !bytes.Equal(got, []byte{1, 2, 3, 4}) {
		t.Errorf("same element count, other shape: %v %v", got, err)
	}
	f32, _ := EncodeNPY(schema.TensorTypeFLOAT32, []int32{4}, make([]byte, 16))
	if _, err := Decode(f32, KindNPY, s, ImageOptions{}); err == nil || !strings.Contains(err.Error(), "dtype is float32, tensor input is int8[1,2,2,1]") {
		t.Errorf("dtype mismatch: %v", err)
	}
	short, _ := EncodeNPY(schema.TensorTypeINT8, []int32{3}, []byte{1, 2, 3})
	if _, err := Decode(short, KindNPY, s, ImageOptions{}); err == nil || !strings.Contains(err.Error(), "has 3 elements, tensor input int8[1,2,2,1] has 4") {
		t.Errorf("count mismatch: %v", err)
	}
}

func FuzzParseNPY(f *testing.F) {
	good, _ := EncodeNPY(schema.TensorTypeFLOAT32, []int32{2, 1}, make([]byte, 8))
	f.Add(good)
	f.Add(npyFile(2, "{'descr': '<i2', 'shape': (), }", []byte{1, 2}))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseNPY(data)
		if err == nil && len(a.Data) > len(data) {
			t.Fatalf("data larger than the file")
		}
	})
}
