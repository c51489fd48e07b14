package rewrite

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tflite/builder"
)

// csvColumn returns the named column of a CSV's data rows.
func csvColumn(t *testing.T, data []byte, name string) []float64 {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range rows[0] {
		if h != name {
			continue
		}
		var out []float64
		for _, r := range rows[1:] {
			v, err := strconv.ParseFloat(r[i], 64)
			if err != nil {
				t.Fatalf("%s = %q: %v", name, r[i], err)
			}
			out = append(out, v)
		}
		return out
	}
	t.Fatalf("no column %q", name)
	return nil
}

// inStage reports whether operator i is in one of the patch stages of r.
func inStage(r *patch.Report, i int) bool {
	for _, st := range r.Stages() {
		if i >= st.FirstOp && i <= st.LastOp {
			return true
		}
	}
	return false
}

// TestCycleColumns: the per-layer and summary CSVs carry estimated Cortex-M4 cycles; the
// summary is the per-layer sum, and the operators after the stage keep their cost.
func TestCycleColumns(t *testing.T) {
	m, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Optimize(context.Background(), m, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, sum := res.Artifacts["per-layer.csv"], res.Artifacts["summary.csv"]
	before, after := csvColumn(t, pl, "cycles_m4_before"), csvColumn(t, pl, "cycles_m4_after")
	var b, a float64
	for i := range before {
		if before[i] < 0 || after[i] < 0 {
			t.Fatalf("op %d: negative cycles %v %v", i, before[i], after[i])
		}
		b += before[i]
		a += after[i]
		if i > res.Stage.LastOp && !inStage(res.Stage, i) && before[i] != after[i] {
			t.Errorf("op %d after the stage: %v cycles before, %v after", i, before[i], after[i])
		}
	}
	sb, sa := csvColumn(t, sum, "cycles_m4_before")[0], csvColumn(t, sum, "cycles_m4_after")[0]
	if d := sb - b; d > 1+float64(len(before)) || d < -1-float64(len(before)) {
		t.Errorf("summary cycles_m4_before %v, per-layer sum %v", sb, b)
	}
	if d := sa - a; d > 1+float64(len(before)) || d < -1-float64(len(before)) {
		t.Errorf("summary cycles_m4_after %v, per-layer sum %v", sa, a)
	}
	stageBefore, stageAfter := csvColumn(t, sum, "cycles_m4_stage_before")[0], csvColumn(t, sum, "cycles_m4_stage_after")[0]
	if stageBefore <= 0 || stageAfter <= 0 || stageBefore >= sb || stageAfter >= sa {
		t.Errorf("stage cycles %v -> %v of %v -> %v", stageBefore, stageAfter, sb, sa)
	}
	t.Logf("estimated M4 cycles %.0f -> %.0f (stage %.0f -> %.0f)", sb, sa, stageBefore, stageAfter)
}
