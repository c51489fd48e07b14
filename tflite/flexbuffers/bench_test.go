package flexbuffers_test

import (
	"fmt"
	"testing"

	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
)

// buildPlan writes a map shaped like a patch-stage plan: 50 keys, ~4 KB of blobs and int
// vectors, a few nested maps.
func buildPlan(b *flexbuffers.Builder, blob []byte, ints []int64) {
	b.Map(func(m *flexbuffers.Map) {
		for i := range 20 {
			m.Int(fmt.Sprintf("int_%02d", i), int64(i*1000-7000))
		}
		for i := range 10 {
			m.IntsWidth(fmt.Sprintf("offsets_%02d", i), ints, flexbuffers.W32)
		}
		for i := range 10 {
			m.Blob(fmt.Sprintf("blob_%02d", i), blob)
		}
		for i := range 5 {
			m.Float32(fmt.Sprintf("scale_%02d", i), 0.0078125*float32(i+1))
		}
		for i := range 5 {
			m.Map(fmt.Sprintf("stage_%02d", i), func(m *flexbuffers.Map) {
				m.String("op", "conv")
				m.FixedInts("kernel", []int64{3, 3})
				m.Int("stride", 2)
			})
		}
	})
}

func planInputs() ([]byte, []int64) {
	blob := make([]byte, 200)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	ints := make([]int64, 32)
	for i := range ints {
		ints[i] = int64(i * 4096)
	}
	return blob, ints
}

func BenchmarkEncodePlan(b *testing.B) {
	blob, ints := planInputs()
	var fb flexbuffers.Builder
	var n int
	for b.Loop() {
		fb.Reset()
		buildPlan(&fb, blob, ints)
		buf, err := fb.Finish()
		if err != nil {
			b.Fatal(err)
		}
		n = len(buf)
	}
	b.ReportMetric(float64(n), "bytes/plan")
}

func BenchmarkDecodePlan(b *testing.B) {
	blob, ints := planInputs()
	var fb flexbuffers.Builder
	buildPlan(&fb, blob, ints)
	buf, err := fb.Finish()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := flexbuffers.Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetPlan reads five entries by key, as a kernel's Init would.
func BenchmarkGetPlan(b *testing.B) {
	blob, ints := planInputs()
	var fb flexbuffers.Builder
	buildPlan(&fb, blob, ints)
	buf, err := fb.Finish()
	if err != nil {
		b.Fatal(err)
	}
	keys := []string{"int_07", "offsets_03", "blob_09", "scale_00", "stage_04"}
	for b.Loop() {
		root, err := flexbuffers.Root(buf)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys {
			if _, err := root.Get(k); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkMarshalDecodeRoundTrip(b *testing.B) {
	blob, ints := planInputs()
	var fb flexbuffers.Builder
	buildPlan(&fb, blob, ints)
	buf, _ := fb.Finish()
	v, err := flexbuffers.Decode(buf)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		out, err := flexbuffers.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := flexbuffers.Decode(out); err != nil {
			b.Fatal(err)
		}
	}
}
