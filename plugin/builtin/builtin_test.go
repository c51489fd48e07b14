package builtin

import (
	"bytes"
	"context"
	"errors"
	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/plugin"
	"github.com/quantmcu/quantmcu/rewrite"
	"github.com/quantmcu/quantmcu/tflite"
)

func resolve(t *testing.T, set map[string]string) plugin.Options {
	t.Helper()
	opt, ok := Lookup(QuantMCU, "9.9.9")
	if !ok {
		t.Fatal("quantmcu not built in")
	}
	d := opt.Describe()
	d.ProtocolVersion = plugin.ProtocolVersion
	if err := plugin.CheckDescription(&d); err != nil {
		t.Fatal(err)
	}
	o, err := plugin.Resolve(&d, set)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOptionsMapToRewrite(t *testing.T) {
	got, err := options(resolve(t, map[string]string{"sram": "256KiB", "patches": "4x4", "split": "7"}))
	if err != nil || got != (rewrite.Options{SRAM: 262144, Patches: "4x4", Split: 7, MaxOverhead: 0.2, Target: analysis.TargetCortexM, Kernels: analysis.KernelsReference}) {
		t.Fatalf("options = %+v, %v", got, err)
	}
	if got, err := options(resolve(t, nil)); err != nil || got != (rewrite.Options{Patches: "auto", MaxOverhead: 0.2, Target: analysis.TargetCortexM, Kernels: analysis.KernelsReference}) {
		t.Fatalf("defaults = %+v, %v", got, err)
	}
	for _, set := range []map[string]string{{"patches": "4"}, {"patches": "0x4"}, {"split": "-1"}, {"target": "host64", "kernels": "cmsis-nn"}} {
		if _, err := options(resolve(t, set)); !plugin.IsBadInput(err) {
			t.Errorf("%v: got %v, want bad input", set, err)
		}
	}
	if _, ok := Lookup("nosuch", "1"); ok {
		t.Error("Lookup(nosuch) succeeded")
	}
}

func TestOptimizeReachesRewrite(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data", "models", "person_detect.tflite"))
	if err != nil {
		t.Skipf("person_detect.tflite absent: %v", err)
	}
	opt, _ := Lookup(QuantMCU, "9.9.9")
	resp, err := opt.Optimize(context.Background(), &plugin.Request{Model: data, ModelName: "person_detect", Options: resolve(t, nil)}, func(string, float64) {})
	if err != nil {
		t.Fatalf("got %v", err)
	}
	if _, err := tflite.Parse(resp.Model, "rewritten"); err != nil {
		t.Fatalf("rewritten model: %v", err)
	}
	for _, name := range []string{"summary.csv", "per-layer.csv", "memory.svg"} {
		if len(resp.Artifacts[name]) == 0 {
			t.Errorf("artifact %s missing", name)
		}
	}
	// A grid larger than the stage output is a refusal, reported as bad input.
	_, err = opt.Optimize(context.Background(), &plugin.Request{Model: data, ModelName: "person_detect",
		Options: resolve(t, map[string]string{"patches": "64x64"})}, func(string, float64) {})
	if !plugin.IsBadInput(err) || !errors.Is(err, rewrite.ErrUnsupported) {
		t.Fatalf("64x64 grid: got %v, want a bad-input refusal", err)
	}
	_, err = opt.Optimize(context.Background(), &plugin.Request{Model: []byte("junk"), Options: resolve(t, nil)}, func(string, float64) {})
	if !plugin.IsBadInput(err) {
		t.Fatalf("junk model: got %v, want bad input", err)
	}
}

// A model with nothing to patch passes through byte for byte, with the reason as a warning.
func TestOptimizePassesThroughUnchangedBytes(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data", "models", "hello_world_int8.tflite"))
	if err != nil {
		t.Skipf("hello_world_int8.tflite absent: %v", err)
	}
	opt, _ := Lookup(QuantMCU, "9.9.9")
	resp, err := opt.Optimize(context.Background(), &plugin.Request{Model: data, ModelName: "hello_world_int8", Options: resolve(t, nil)}, func(string, float64) {})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.Model, data) {
		t.Errorf("passed-through model has %d bytes, input %d: not the same bytes", len(resp.Model), len(data))
	}
	if n := len(resp.Diagnostics); n == 0 || resp.Diagnostics[n-1].Level != plugin.Warning || !strings.Contains(resp.Diagnostics[n-1].Message, "nothing to patch") {
		t.Errorf("diagnostics %v", resp.Diagnostics)
	}
}
