package rewrite

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/builder"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

func readCSV(t *testing.T, data []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatalf("invalid CSV: %v", err)
	}
	return rows
}

func column(t *testing.T, rows [][]string, name string) string {
	t.Helper()
	for i, h := range rows[0] {
		if h == name {
			return rows[1][i]
		}
	}
	t.Fatalf("column %q missing from %v", name, rows[0])
	return ""
}

func TestOptimizeDemoModelReports(t *testing.T) {
	m, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Optimize(context.Background(), m, Options{Patches: "4x4"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := readCSV(t, res.Artifacts["summary.csv"])
	if len(sum) != 2 {
		t.Fatalf("summary.csv has %d rows, want a header and one data row", len(sum))
	}
	if g := column(t, sum, "grid"); g != "4x4" {
		t.Errorf("grid = %s", g)
	}
	// The demo network's first stage holds its 64x64 maps: the 128x128x3 input and the
	// 64x64x48 expansion dominate, so a 4x4 patch stage must shrink the arena.
	before, _ := strconv.Atoi(column(t, sum, "arena_bytes_before"))
	after, _ := strconv.Atoi(column(t, sum, "arena_bytes_after"))
	if after <= 0 || after >= before {
		t.Errorf("arena %d -> %d did not shrink", before, after)
	}
	for _, c := range []string{"split", "macs_before", "macs_after"} {
		if column(t, sum, c) == "" {
			t.Errorf("column %s empty", c)
		}
	}
	layers := readCSV(t, res.Artifacts["per-layer.csv"])
	if len(layers)-1 != len(m.Subgraphs[0].Operators) {
		t.Errorf("per-layer.csv has %d rows for %d operators", len(layers)-1, len(m.Subgraphs[0].Operators))
	}
	if svg := string(res.Artifacts["memory.svg"]); !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "patch stage (4x4)") {
		t.Error("memory.svg is not the expected picture")
	}
	if !strings.Contains(res.Summary, "grid 4x4") {
		t.Errorf("summary: %q", res.Summary)
	}
}

func TestOptimizeKeepsModelWithoutGain(t *testing.T) {
	// Every feature map has the same size, so no patch stage can lower the arena unless an
	// offline plan overlaps its output with its input (which does lower it here).
	b := builder.New(3)
	x := b.Input("x", []int32{1, 16, 16, 8}, builder.Quant{Scale: 0.05})
	for range 3 {
		x = b.Conv2D(x, builder.Conv{OutChannels: 8, Kernel: 3, Padding: schema.PaddingSAME})
	}
	b.Output(x)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Optimize(context.Background(), m, Options{NoOfflinePlan: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Model != m {
		t.Error("a rewrite without gain replaced the model")
	}
	if g := column(t, readCSV(t, res.Artifacts["summary.csv"]), "grid"); g != "none" {
		t.Errorf("grid = %s, want none", g)
	}
	if len(res.Diagnostics) == 0 || res.Diagnostics[len(res.Diagnostics)-1].Severity != Warning {
		t.Error("no warning says why the model was kept")
	}
	// Forcing a grid rewrites anyway.
	res, err = Optimize(context.Background(), m, Options{Patches: "2x2"}, nil)
	if err != nil || res.Model == m {
		t.Fatalf("forced 2x2: %v", err)
	}
}

func TestOptimizeRefusesBadOptions(t *testing.T) {
	m, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{{Patches: "4"}, {Patches: "0x3"}, {Patches: "x"}, {Split: -1}, {SRAM: 10}} {
		if _, err := Optimize(context.Background(), m, o, nil); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%+v: got %v, want a refusal", o, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Optimize(ctx, m, Options{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestReasonOp(t *testing.T) {
	for in, want := range map[string]int{"operator 27 (MEAN): not spatial": 27, "split after operator 3": -1, "operator x": -1} {
		if got := reasonOp(in); got != want {
			t.Errorf("reasonOp(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestOptimizeHonoursSRAMBudget(t *testing.T) {
	m, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	// The budget bounds the whole arena: the planned head and the persistent tail.
	for _, budget := range []int64{200 << 10, 128 << 10} {
		res, err := Optimize(context.Background(), m, Options{SRAM: budget}, nil)
		if err != nil {
			t.Fatalf("--sram %d: %v", budget, err)
		}
		rows := readCSV(t, res.Artifacts["summary.csv"])
		head, _ := strconv.ParseInt(column(t, rows, "arena_bytes_after"), 10, 64)
		total, _ := strconv.ParseInt(column(t, rows, "arena_total_bytes_after"), 10, 64)
		if head <= 0 || total <= head || total > budget {
			t.Errorf("--sram %d: arena after = %d head, %d whole", budget, head, total)
		}
	}
	if _, err := Optimize(context.Background(), m, Options{SRAM: 8 << 10}, nil); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "--sram") ||
		!strings.Contains(err.Error(), "its head of") || !strings.Contains(err.Error(), "persistent tail adds") {
		t.Errorf("an impossible budget: got %v", err)
	}
}

// A model whose first operator cannot be tiled (issue 10: a PyTorch export starting with a
// PAD over channels) passes through unchanged with the reason as a warning, unless a grid
// or split is forced.
func TestOptimizePassesThroughWithNothingToPatch(t *testing.T) {
	b := builder.New(5)
	x := b.Input("x", []int32{1, 16, 16, 3}, builder.Quant{Scale: 0.05})
	y := b.Pad("pad", x, 0, 0, 0, 0)
	y = b.Conv2D(y, builder.Conv{OutChannels: 8, Kernel: 3, Stride: 2, Padding: schema.PaddingSAME})
	b.Output(y)
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	sg := m.Subgraphs[0]
	sg.Tensors[sg.Inputs[0]].Shape[3] = 2 // 2 channels in, PAD adds the third
	pads := m.Buffers[sg.Tensors[sg.Operators[0].Inputs[1]].Buffer].Data
	pads[7*4] = 1
	// With offline plans the convolution alone is a candidate stage (its output may overlap
	// its input); it does not lower the head either, so the model passes through, but the
	// warning then names that instead of the prefix's reason.
	if res, err := Optimize(context.Background(), m, Options{}, nil); err != nil || res.Model != m {
		t.Fatalf("the model was replaced (%v)", err)
	}
	res, err := Optimize(context.Background(), m, Options{NoOfflinePlan: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Model != m {
		t.Error("the model was replaced")
	}
	last := res.Diagnostics[len(res.Diagnostics)-1]
	if last.Severity != Warning || !strings.Contains(last.Message, "nothing to patch") ||
		!strings.Contains(last.Message, "pads batch or channels") || !strings.Contains(res.Summary, "unchanged") {
		t.Errorf("warning %+v, summary %q", last, res.Summary)
	}
	for _, o := range []Options{{Patches: "2x2"}, {Split: 1}} {
		if _, err := Optimize(context.Background(), m, o, nil); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%+v: got %v, want a refusal", o, err)
		}
	}
}

// TestReportsShowEveryStage: with several patch stages, stages.csv has one row per stage
// (the first agreeing with summary.csv's stage columns), the per-layer stage column marks
// exactly the stages' operators, the summary names every stage and the memory picture
// shades each one.
func TestReportsShowEveryStage(t *testing.T) {
	m, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Optimize(context.Background(), m, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stages := res.Stage.Stages()
	if len(stages) < 2 {
		t.Fatalf("%d stages on the demo network, want several", len(stages))
	}
	sum := readCSV(t, res.Artifacts["summary.csv"])
	if got := column(t, sum, "stages"); got != strconv.Itoa(len(stages)) {
		t.Errorf("summary stages = %s, want %d", got, len(stages))
	}
	rows := readCSV(t, res.Artifacts["stages.csv"])
	if len(rows) != 1+len(stages) {
		t.Fatalf("stages.csv has %d rows for %d stages", len(rows), len(stages))
	}
	for i, st := range stages {
		row := map[string]string{}
		for j, h := range rows[0] {
			row[h] = rows[i+1][j]
		}
		if row["first_op"] != strconv.Itoa(st.FirstOp) || row["last_op"] != strconv.Itoa(st.LastOp) || row["grid"] != fmt.Sprintf("%dx%d", st.Rows, st.Cols) {
			t.Errorf("stages.csv row %d = %v, stage %+v", i, row, st)
		}
		if i == 0 && (row["first_op"] != column(t, sum, "stage_first_op") || row["scratch_bytes"] != column(t, sum, "scratch_bytes")) {
			t.Errorf("stages.csv's first row %v disagrees with summary.csv", row)
		}
		if !strings.Contains(string(res.Artifacts["memory.svg"]), fmt.Sprintf("patch stage %d: operators %d-%d", i+1, st.FirstOp, st.LastOp)) {
			t.Errorf("memory.svg does not mark stage %d", i+1)
		}
		if i > 0 && !strings.Contains(res.Summary, fmt.Sprintf("Patch stage %-4d operators %d-%d", i+1, st.FirstOp, st.LastOp)) {
			t.Errorf("the summary does not name stage %d:\n%s", i+1, res.Summary)
		}
	}
	layers := readCSV(t, res.Artifacts["per-layer.csv"])
	col := slices.Index(layers[0], "stage")
	for _, l := range layers[1:] {
		op, _ := strconv.Atoi(l[0])
		want := ""
		for i, st := range stages {
			if op >= st.FirstOp && op <= st.LastOp {
				want = strconv.Itoa(i)
			}
		}
		if l[col] != want {
			t.Errorf("per-layer op %d: stage %q, want %q", op, l[col], want)
		}
	}
}

// TestMaxOverheadBoundsTheChoice: without --sram the choice stays within the MAC overhead
// budget (the search is heuristic: a looser budget is not guaranteed a smaller arena).
func TestMaxOverheadBoundsTheChoice(t *testing.T) {
	m, err := builder.MobileNetV2(builder.DemoConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, budget := range []float64{0.05, 0.12, 0.20} {
		res, err := Optimize(context.Background(), m, Options{MaxOverhead: budget}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Stage.NetworkOverhead > budget {
			t.Errorf("budget %.2f: overhead %.4f", budget, res.Stage.NetworkOverhead)
		}
		if res.Stage.TotalAfter >= res.Stage.TotalBefore {
			t.Errorf("budget %.2f: whole arena %d -> %d B", budget, res.Stage.TotalBefore, res.Stage.TotalAfter)
		}
		t.Logf("budget %.0f%%: head %d -> %d B, whole %d B, MACs %+.1f%%, %d stages", 100*budget, res.Stage.ArenaBefore, res.Stage.ArenaAfter, res.Stage.TotalAfter, 100*res.Stage.NetworkOverhead, len(res.Stage.Stages()))
	}
	if _, err := Optimize(context.Background(), m, Options{MaxOverhead: -1}, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a negative budget: %v", err)
	}
}

// TestSRAMChoiceNoWorseThanBudgeted: an --sram budget picks the fewest MACs that fit, so it
// never costs more MACs than the choice at a MAC budget whose whole arena already fits
// (mobilenet_v2 at 256 KiB: the choice must find what the default choice finds).
func TestSRAMChoiceNoWorseThanBudgeted(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	data := loadShared(t, "mobilenet_v2_quantized_1x3x224x224.tflite")
	const sram = 256 << 10
	for _, budget := range []float64{0.12, 0.20} {
		m, err := tflite.Parse(data, "mobilenet_v2")
		if err != nil {
			t.Fatal(err)
		}
		free, err := Optimize(context.Background(), m, Options{MaxOverhead: budget}, nil)
		if err != nil {
			t.Fatal(err)
		}
		fits, err := Optimize(context.Background(), m, Options{SRAM: sram}, nil)
		if free.Stage.TotalAfter > sram {
			t.Logf("budget %.0f%%: whole arena %d B does not fit %d B", 100*budget, free.Stage.TotalAfter, sram)
			continue
		}
		if err != nil {
			t.Fatalf("--sram %d: %v, but the %.0f%% budget's choice fits (%d B)", sram, err, 100*budget, free.Stage.TotalAfter)
		}
		t.Logf("budget %.0f%%: %d B at %+.1f%% MACs; --sram: %d B at %+.1f%%", 100*budget, free.Stage.TotalAfter,
			100*free.Stage.NetworkOverhead, fits.Stage.TotalAfter, 100*fits.Stage.NetworkOverhead)
		if fits.Stage.TotalAfter > sram || fits.Stage.MACsAfter > free.Stage.MACsAfter {
			t.Errorf("--sram %d: %d B at %d MACs, but the %.0f%% budget's choice fits with %d MACs", sram,
				fits.Stage.TotalAfter, fits.Stage.MACsAfter, 100*budget, free.Stage.MACsAfter)
		}
	}
}
