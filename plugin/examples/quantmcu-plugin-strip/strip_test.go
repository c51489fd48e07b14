package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/plugin"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

func realModels(t *testing.T) []string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "data", "models")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.tflite"))
	if len(paths) == 0 {
		t.Skipf("real models absent in %s", dir)
	}
	return paths
}

func run(t *testing.T, model []byte, names bool) *plugin.Response {
	t.Helper()
	d := stripper{}.Describe()
	set := map[string]string{}
	if names {
		set["names"] = "true"
	}
	opts, err := plugin.Resolve(&d, set)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stripper{}.Optimize(context.Background(), &plugin.Request{Model: model, ModelName: "m", Options: opts}, func(string, float64) {})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestStripKeepsComputation checks on every real model that the stripped model computes the
// same thing: same operators in the same order with the same resolved operator codes, options
// and tensor indices, and the same tensors with the same types, shapes, quantization and data.
func TestStripKeepsComputation(t *testing.T) {
	for _, path := range realModels(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := tflite.Parse(data, path)
			if err != nil {
				t.Fatal(err)
			}
			for _, names := range []bool{false, true} {
				resp := run(t, data, names)
				got, err := tflite.Parse(resp.Model, "stripped")
				if err != nil {
					t.Fatalf("stripped model does not load: %v", err)
				}
				sameComputation(t, orig, got, !names)
				for _, md := range got.Metadata {
					if debugMetadata(md.Name) {
						t.Errorf("metadata %s kept", md.Name)
					}
				}
				if !strings.Contains(string(resp.Artifacts["strip.csv"]), "model_bytes,") || resp.Summary == "" {
					t.Errorf("report missing: %q / %q", resp.Artifacts["strip.csv"], resp.Summary)
				}
				// Stripping again changes nothing.
				if again := run(t, resp.Model, names); !bytes.Equal(again.Model, resp.Model) {
					t.Errorf("strip is not idempotent (names=%v)", names)
				}
			}
		})
	}
}

func sameComputation(t *testing.T, a, b *schema.ModelT, names bool) {
	t.Helper()
	if len(a.Subgraphs) != len(b.Subgraphs) {
		t.Fatalf("subgraphs %d -> %d", len(a.Subgraphs), len(b.Subgraphs))
	}
	seen := map[string]bool{}
	for _, oc := range b.OperatorCodes {
		k := fmt.Sprintf("%s v%d", tflite.OpName(oc), oc.Version)
		if seen[k] {
			t.Errorf("operator code %s still duplicated", k)
		}
		seen[k] = true
	}
	for si, sa := range a.Subgraphs {
		sb := b.Subgraphs[si]
		if !equalInts(sa.Inputs, sb.Inputs) || !equalInts(sa.Outputs, sb.Outputs) || len(sa.Operators) != len(sb.Operators) || len(sa.Tensors) != len(sb.Tensors) {
			t.Fatalf("subgraph %d: interface or sizes changed", si)
		}
		for oi, oa := range sa.Operators {
			ob := sb.Operators[oi]
			ca, cb := a.OperatorCodes[oa.OpcodeIndex], b.OperatorCodes[ob.OpcodeIndex]
			if tflite.BuiltinCode(ca) != tflite.BuiltinCode(cb) || ca.CustomCode != cb.CustomCode || ca.Version != cb.Version {
				t.Errorf("op %d: %s v%d became %s v%d", oi, tflite.OpName(ca), ca.Version, tflite.OpName(cb), cb.Version)
			}
			if !equalInts(oa.Inputs, ob.Inputs) || !equalInts(oa.Outputs, ob.Outputs) || !reflect.DeepEqual(oa.BuiltinOptions, ob.BuiltinOptions) || !bytes.Equal(oa.CustomOptions, ob.CustomOptions) {
				t.Errorf("op %d changed", oi)
			}
		}
		for ti, ta := range sa.Tensors {
			tb := sb.Tensors[ti]
			if ta.Type != tb.Type || !equalInts(ta.Shape, tb.Shape) || !bytes.Equal(a.Buffers[ta.Buffer].Data, b.Buffers[tb.Buffer].Data) {
				t.Errorf("tensor %d (%s) changed", ti, ta.Name)
			}
			if (ta.Quantization == nil) != (tb.Quantization == nil) || ta.Quantization != nil &&
				(!equalFloats(ta.Quantization.Scale, tb.Quantization.Scale) || !equalInt64s(ta.Quantization.ZeroPoint, tb.Quantization.ZeroPoint)) {
				t.Errorf("tensor %d (%s): quantization changed", ti, ta.Name)
			}
			if names && ta.Name != tb.Name || !names && tb.Name != "" {
				t.Errorf("tensor %d: name %q -> %q (names kept: %v)", ti, ta.Name, tb.Name, names)
			}
		}
	}
}

func equalInts(a, b []int32) bool     { return slicesEqual(a, b) }
func equalInt64s(a, b []int64) bool   { return slicesEqual(a, b) }
func equalFloats(a, b []float32) bool { return slicesEqual(a, b) }

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStripMergesOpcodes checks the numbers on MobileNetV2 (PyTorch export: one operator code
// per operator).
func TestStripMergesOpcodes(t *testing.T) {
	var path string
	for _, p := range realModels(t) {
		if strings.HasPrefix(filepath.Base(p), "mobilenet_v2") {
			path = p
		}
	}
	if path == "" {
		t.Skip("mobilenet_v2 absent")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resp := run(t, data, false)
	m, err := tflite.Parse(resp.Model, "stripped")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.OperatorCodes) != 8 {
		t.Errorf("operator codes: %d, want 8 (was 84)", len(m.OperatorCodes))
	}
	if !strings.Contains(string(resp.Artifacts["strip.csv"]), "operator_codes,84,8\n") {
		t.Errorf("strip.csv = %q", resp.Artifacts["strip.csv"])
	}
}

func TestStripRejectsGarbage(t *testing.T) {
	d := stripper{}.Describe()
	opts, _ := plugin.Resolve(&d, nil)
	_, err := stripper{}.Optimize(context.Background(), &plugin.Request{Model: []byte("nope"), Options: opts}, func(string, float64) {})
	if !plugin.IsBadInput(err) {
		t.Fatalf("got %v, want a bad-input error", err)
	}
}
