package flexbuffers_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// sharedData is ../shared/data seen from the repository root.
var sharedData = filepath.Join("..", "..", "..", "shared", "data")

// customOptions returns the custom_options of every CUSTOM operator with the given custom
// code in the model.
func customOptions(m *schema.ModelT, code string) [][]byte {
	var out [][]byte
	for _, sg := range m.Subgraphs {
		for _, op := range sg.Operators {
			oc := m.OperatorCodes[op.OpcodeIndex]
			if tflite.BuiltinCode(oc) == schema.BuiltinOperatorCUSTOM && oc.CustomCode == code {
				out = append(out, op.CustomOptions)
			}
		}
	}
	return out
}

// Arm Vela replaces NPU regions by a CUSTOM "ethos-u" operator whose custom options are a
// FlexBuffer holding just a type tag: Vela's CustomType.NpuOp = 1 as a root int, which the
// spec encodes as 01 (value), 04 (INT<<2 | width 1), 01 (root width).
func TestVelaCustomOptions(t *testing.T) {
	path := filepath.Join(sharedData, "models", "negative", "person_detect_vela.tflite")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s absent", path)
	}
	m, err := tflite.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := customOptions(m, "ethos-u")
	if len(opts) == 0 {
		t.Fatal(`no CUSTOM "ethos-u" operator`)
	}
	for i, o := range opts {
		root, err := flexbuffers.Root(o)
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		if root.Type() != flexbuffers.TypeInt {
			t.Fatalf("op %d: root is a %v, want an int type tag", i, root.Type())
		}
		tag, err := root.Int()
		if err != nil || tag != 1 {
			t.Fatalf("op %d: type tag %d (%v), want 1 (NpuOp)", i, tag, err)
		}
		v, err := flexbuffers.Decode(o)
		if err != nil || v != int64(1) {
			t.Fatalf("op %d: Decode = %#v, %v", i, v, err)
		}
		// Vela writes with the canonical (Python port of the C++) builder: re-encoding
		// reproduces the bytes.
		again, err := flexbuffers.Marshal(v)
		if err != nil || !bytes.Equal(again, o) {
			t.Errorf("op %d: re-encoded % x, original % x (%v)", i, again, o, err)
		}
	}
}

// Every custom_options FlexBuffer in the shared models decodes and re-encodes to the same
// bytes.
func TestSharedModelsCustomOptions(t *testing.T) {
	var files []string
	for _, sub := range []string{"", "negative"} {
		f, _ := filepath.Glob(filepath.Join(sharedData, "models", sub, "*.tflite"))
		files = append(files, f...)
	}
	if len(files) == 0 {
		t.Skip("shared models absent")
	}
	seen := 0
	for _, path := range files {
		m, err := tflite.Load(path)
		if err != nil {
			continue // the negative set holds deliberately broken models
		}
		for _, sg := range m.Subgraphs {
			for _, op := range sg.Operators {
				if len(op.CustomOptions) == 0 || op.CustomOptionsFormat != schema.CustomOptionsFormatFLEXBUFFERS {
					continue
				}
				seen++
				v, err := flexbuffers.Decode(op.CustomOptions)
				if err != nil {
					t.Errorf("%s: %v", filepath.Base(path), err)
					continue
				}
				if again, err := flexbuffers.Marshal(v); err != nil || !bytes.Equal(again, op.CustomOptions) {
					t.Errorf("%s: re-encoded % x, original % x (%v)", filepath.Base(path), again, op.CustomOptions, err)
				}
			}
		}
	}
	t.Logf("%d custom_options FlexBuffers in %d models", seen, len(files))
}
