package tflite_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

func TestNegativeModelsAreDescribedOrRejected(t *testing.T) {
	// Fuzzing seeds from TFLM: the valid_* ones are well-formed; the others carry absurd
	// dimensions or indices that Load must reject with a message, never a panic.
	// malicious_gather is structurally sound: its out-of-range GATHER index is a value in a
	// constant tensor, which only the operator's own kernel can judge (the interpreter does).
	accept := map[string]bool{"valid_small.tflite": true, "valid_rect.tflite": true,
		"keyword_scrambled_8bit.tflite": true, "person_detect_vela.tflite": true,
		"malicious_gather.tflite": true}
	for _, path := range sharedModels(t, "negative") {
		base := filepath.Base(path)
		_, err := tflite.Load(path)
		if accept[base] && err != nil {
			t.Errorf("%s: rejected a well-formed model: %v", base, err)
		}
		if !accept[base] {
			if err == nil {
				t.Errorf("%s: accepted a malformed model", base)
				continue
			}
			if !strings.HasPrefix(err.Error(), path+": ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error %q should be one line starting with the file name", base, err)
			}
		}
	}
}

func TestLoadRejectsTruncatedEmptyAndForeignFiles(t *testing.T) {
	m, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	good, err := tflite.Serialize(m)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty.tflite":     nil,
		"text.tflite":      []byte("this is not a model, just some text long enough\n"),
		"truncated.tflite": good[:len(good)/2],
		"header.tflite":    good[:64],
	}
	dir := t.TempDir()
	for name, data := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := tflite.Load(p); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), p+": ") {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if _, err := tflite.Load(dir); err == nil {
		t.Error("a directory was accepted as a model")
	}
}

func TestValidateNamesTheProblem(t *testing.T) {
	build := func() *schema.ModelT {
		m, err := builder.MobileNetV2(builder.DemoConfig())
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cases := []struct {
		name   string
		mutate func(m *schema.ModelT)
		want   string
	}{
		{"negative dim", func(m *schema.ModelT) {
			m.Subgraphs[0].Tensors[0].Shape = []int32{1, -5, 3}
		}, `subgraph 0, tensor 0 "input": shape [1,-5,3] has a negative dimension`},
		{"overflow", func(m *schema.ModelT) {
			m.Subgraphs[0].Tensors[0].Shape = []int32{1 << 30, 1 << 30, 1 << 30}
		}, "more than 2^40 elements"},
		{"buffer size", func(m *schema.ModelT) {
			w := m.Subgraphs[0].Tensors[1]
			m.Buffers[w.Buffer].Data = m.Buffers[w.Buffer].Data[1:]
		}, "bytes but shape"},
		{"tensor index", func(m *schema.ModelT) {
			m.Subgraphs[0].Operators[3].Inputs[0] = 99999
		}, "subgraph 0, operator 3: input 0 is tensor 99999"},
		{"optional output", func(m *schema.ModelT) {
			m.Subgraphs[0].Operators[0].Outputs[0] = -1
		}, "operator 0: output 0 is tensor -1"},
		{"opcode", func(m *schema.ModelT) {
			m.Subgraphs[0].Operators[2].OpcodeIndex = 77
		}, "opcode index 77"},
		{"buffer index", func(m *schema.ModelT) {
			m.Subgraphs[0].Tensors[2].Buffer = 100000
		}, "buffer index 100000"},
		{"zero points", func(m *schema.ModelT) {
			m.Subgraphs[0].Tensors[1].Quantization.ZeroPoint = []int64{0}
		}, "scales but 1 zero points"},
		{"per-channel axis", func(m *schema.ModelT) {
			m.Subgraphs[0].Tensors[1].Quantization.QuantizedDimension = 3
		}, "quantization scales but dimension 3"},
		{"subgraph input", func(m *schema.ModelT) {
			m.Subgraphs[0].Inputs = []int32{-1}
		}, "input 0 is tensor -1"},
	}
	for _, c := range cases {
		m := build()
		c.mutate(m)
		err := tflite.Validate(m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestSaveAlignsBuffersTo16(t *testing.T) {
	m, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	m.Subgraphs[0].Operators[1].CustomOptions = []byte{1, 4, 1}
	data, err := tflite.Serialize(m)
	if err != nil {
		t.Fatal(err)
	}
	root := schema.GetRootAsModel(data, 0)
	var sg schema.SubGraph
	var op schema.Operator
	root.Subgraphs(&sg, 0)
	sg.Operators(&op, 1)
	tab := op.Table()
	if start := int(tab.Vector(flatbuffers.UOffsetT(tab.Offset(14)))); start%16 != 0 || op.CustomOptionsLength() != 3 {
		t.Errorf("custom options start at %d (length %d), not 16-byte aligned", start, op.CustomOptionsLength())
	}
	var buf schema.Buffer
	checked := 0
	for i := 0; i < root.BuffersLength(); i++ {
		if !root.Buffers(&buf, i) || buf.DataLength() == 0 {
			continue
		}
		// The vector's data starts 4 bytes after its length prefix.
		tab := buf.Table()
		start := int(tab.Vector(flatbuffers.UOffsetT(tab.Offset(4))))
		if start%16 != 0 {
			t.Errorf("buffer %d data starts at offset %d, not 16-byte aligned", i, start)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no buffers checked")
	}
}
