package rewrite

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/rewrite/cost"
	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tflite"
)

// Version is stamped into reports and models.
const Version = patch.ToolVersion

// report joins the analyses of the model before and after the rewrite with the patch plan.
type report struct {
	before, after *analysis.Report
	plan          *patch.Report
	layers        map[int]patch.LayerReport // by original operator index
	rows          []layerRow
	search        *SearchReport // nil without a search
}

// layerRow is one original operator as the per-layer CSV and the memory profile show it.
type layerRow struct {
	op      analysis.OpInfo
	shape   string
	inStage bool
	stage   int // index of the patch stage holding the operator, -1 outside

	macsAfter             int64
	patchOverhead         float64 // patch MACs / per-layer MACs - 1 (stage layers)
	liveBefore, liveAfter int64
	windowBytes           int64
	// Estimated Cortex-M4 cycles (rewrite/cost): CMSIS-NN-class int8 kernels layer by layer
	// before; after, the patch stage's DSP loops on its patch MACs inside the stage (a folded
	// TRANSPOSE costs nothing) and CMSIS-NN outside it.
	cyclesBefore, cyclesAfter float64
}

func newReport(before, after *analysis.Report, plan *patch.Report) *report {
	r := &report{before: before, after: after, plan: plan, layers: map[int]patch.LayerReport{}}
	stages := plan.Stages()
	stageOf := map[int]int{} // original operator -> stage index
	for si, st := range stages {
		for _, l := range st.Layers {
			r.layers[l.Op] = l
		}
		for o := st.FirstOp; o <= st.LastOp; o++ {
			stageOf[o] = si
		}
	}
	removed := 0 // operators the custom ops before i replaced, minus the custom ops themselves
	for i, op := range before.Ops {
		row := layerRow{op: op, liveBefore: op.LiveBytes, macsAfter: op.MACs, stage: -1}
		row.cyclesBefore = cost.CMSISNN.Cycles(cost.FromOp(op, before.Tensors))
		row.cyclesAfter = row.cyclesBefore
		if len(op.Outputs) > 0 && op.Outputs[0] >= 0 && int(op.Outputs[0]) < len(before.Tensors) {
			row.shape = tflite.FormatShape(before.Tensors[op.Outputs[0]].Shape)
		}
		after := i - removed
		if si, ok := stageOf[i]; ok {
			st := stages[si]
			row.inStage, row.stage = true, si
			after = st.FirstOp - removed
			if i == st.LastOp {
				removed += st.LastOp - st.FirstOp
			}
			row.macsAfter = 0
			row.cyclesAfter = 0
			if l, ok := r.layers[i]; ok {
				row.macsAfter = l.PatchMACs
				row.cyclesAfter = stageLayerCycles(st, l)
				row.windowBytes = l.WindowBytes
				if l.MACs > 0 {
					row.patchOverhead = float64(l.PatchMACs)/float64(l.MACs) - 1
				}
			}
		}
		if after >= 0 && after < len(r.after.Ops) {
			row.liveAfter = r.after.Ops[after].LiveBytes
		}
		r.rows = append(r.rows, row)
	}
	return r
}

// lowHi prints a threshold, empty without a low branch.
func lowHi(low bool, v int32) string {
	if !low {
		return ""
	}
	return strconv.Itoa(int(v))
}

func ratio(a, b int64) string {
	if b == 0 {
		return ""
	}
	return strconv.FormatFloat(float64(a)/float64(b), 'f', 3, 64)
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 2, 64) }

func i64(v int64) string { return strconv.FormatInt(v, 10) }

func cycles(c float64) string { return strconv.FormatInt(int64(math.Round(c)), 10) }

// stageLayerCycles prices a stage layer on the DSP loops: int8 on outlier tiles, at its
// low-branch bitwidths on the others (the report's outlier-tile rate).
func stageLayerCycles(plan *patch.Report, l patch.LayerReport) float64 {
	int8 := stageLayerCost(plan, l, 8, 8)
	inBits := int(math.Round(l.InputBits))
	if !plan.LowBranch || (l.ActivationBits >= 8 && inBits >= 8) {
		return int8
	}
	return plan.OutlierRate*int8 + (1-plan.OutlierRate)*stageLayerCost(plan, l, inBits, l.ActivationBits)
}

// stageLayerCost is the estimated Cortex-M4 cycles of stage layer l over all tiles on the DSP
// loops when it reads inBits and writes outBits.
func stageLayerCost(plan *patch.Report, l patch.LayerReport, inBits, outBits int) float64 {
	transposed := plan.Transpose && len(plan.Layers) > 0 && l.Op == plan.Layers[0].Op
	return cost.Stage.Cycles(cost.FromStageLayer(l, plan.StageOverhead, transposed, inBits, outBits))
}

// stageCycleModel is VDQS's latency cost (--cost cycles) for the stage plan reports.
func stageCycleModel(plan *patch.Report) func(li, inBits, outBits int) float64 {
	return func(li, inBits, outBits int) float64 { return stageLayerCost(plan, plan.Layers[li], inBits, outBits) }
}

// stageCyclesM4 sums the estimated cycles of the first stage's operators before and after.
func (r *report) stageCyclesM4() (before, after float64) {
	for _, l := range r.rows {
		if l.stage == 0 {
			before += l.cyclesBefore
			after += l.cyclesAfter
		}
	}
	return before, after
}

// cyclesM4 sums the rows' estimated Cortex-M4 cycles before and after the rewrite.
func (r *report) cyclesM4() (before, after float64) {
	for _, l := range r.rows {
		before += l.cyclesBefore
		after += l.cyclesAfter
	}
	return before, after
}

func writeCSV(rows [][]string) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.WriteAll(rows) // writes to memory: cannot fail
	return buf.Bytes()
}

// summaryCSV has one header row and one data row; the column names are a stable interface.
func (r *report) summaryCSV() []byte {
	p := r.plan
	header := []string{"split", "grid", "macs_before", "macs_after", "arena_bytes_before", "arena_bytes_after",
		"arena_reduction", "mac_overhead_network_pct", "mac_overhead_stage_pct", "stage_macs", "patch_macs",
		"stage_macs_clipped", "patch_macs_clipped", "scratch_bytes", "peak_live_bytes_before", "peak_live_bytes_after",
		"stage_first_op", "stage_last_op", "transpose_folded", "weight_bytes", "bitops_before", "bitops_after",
		"bitops_patch_int8", "bitops_patch_mixed", "bitops_reduction_patch", "bitops_outlier_rate", "low_branch",
		"checked_tensor", "outlier_lo", "outlier_hi", "low_branch_bytes",
		"outlier_tile_rate", "lambda", "calib_samples", "held_out_samples", "search_steps", "search_steps_kept",
		"search_seconds", "agreement_top1", "tool_version",
		"arena_tail_bytes_before", "arena_tail_bytes_after", "arena_total_bytes_before", "arena_total_bytes_after",
		"arena_declare_bytes_after", "target", "kernels", "cycles_m4_before", "cycles_m4_after", "cycles_m4_stage_before",
		"cycles_m4_stage_after", "search_cost", "stages", "stage_ops", "scratch_bytes_stages",
		"offline_plan", "arena_bytes_after_online"}
	grid := fmt.Sprintf("%dx%d", p.Rows, p.Cols)
	if p.Split == 0 {
		grid = "none" // no rewrite
	}
	row := []string{strconv.Itoa(p.Split), grid, i64(p.MACsBefore), i64(p.MACsAfter),
		i64(p.ArenaBefore), i64(p.ArenaAfter), ratio(p.ArenaBefore, p.ArenaAfter), pct(p.NetworkOverhead), pct(p.StageOverhead),
		i64(p.StageMACs), i64(p.PatchMACs), i64(p.StageMACsClipped), i64(p.PatchMACsClipped), i64(p.ScratchBytes),
		i64(r.before.PeakLiveBytes), i64(r.after.PeakLiveBytes), strconv.Itoa(p.FirstOp), strconv.Itoa(p.LastOp),
		strconv.FormatBool(p.Transpose), i64(r.before.WeightBytes),
		// Outside the patch stage: 8-bit weights x 8-bit activations.
		i64(64 * p.MACsBefore), i64(64*p.MACsAfter - p.BitOPsPatchInt8 + p.BitOPsPatchMixed),
		i64(p.BitOPsPatchInt8), i64(p.BitOPsPatchMixed), ratio(p.BitOPsPatchInt8, p.BitOPsPatchMixed),
		strconv.FormatFloat(p.OutlierRate, 'f', 4, 64), strconv.FormatBool(p.LowBranch), p.CheckedName,
		lowHi(p.LowBranch, p.Lo), lowHi(p.LowBranch, p.Hi), i64(p.LowScratchBytes)}
	if s := r.search; s != nil {
		row = append(row, strconv.FormatFloat(s.Thresholds.Rate, 'f', 4, 64), strconv.FormatFloat(s.Options.Lambda, 'f', -1, 64),
			strconv.Itoa(s.Samples), strconv.Itoa(s.Held), strconv.Itoa(len(s.Steps)), strconv.Itoa(s.Chosen),
			strconv.FormatFloat(s.Seconds, 'f', 2, 64), strconv.FormatFloat(s.Agreement, 'f', 4, 64))
	} else {
		row = append(row, "", "", "", "", "", "", "", "")
	}
	row = append(row, Version,
		i64(p.TailBefore), i64(p.TailAfter), i64(p.TotalBefore), i64(p.TotalAfter),
		i64(analysis.DeclareBytes(p.TotalAfter)), string(p.Target), string(p.Kernels))
	before, after := r.cyclesM4()
	stageBefore, stageAfter := r.stageCyclesM4()
	row = append(row, cycles(before), cycles(after), cycles(stageBefore), cycles(stageAfter), "")
	if s := r.search; s != nil {
		row[len(row)-1] = s.Options.costName()
	}
	var ops []string
	var scratch int64
	for _, st := range p.Stages() {
		ops = append(ops, fmt.Sprintf("%d-%d", st.FirstOp, st.LastOp))
		scratch += st.ScratchBytes
	}
	row = append(row, strconv.Itoa(len(p.Stages())), strings.Join(ops, ";"), i64(scratch))
	// arena_bytes_after is what TFLM plans for the written model, offline plan included;
	// arena_bytes_after_online what it would plan without one.
	row = append(row, strconv.FormatBool(r.after.OfflineBuffers > 0), i64(r.after.OnlineArenaBytes))
	return writeCSV([][]string{header, row})
}

// stagesCSV has one row per patch stage (the first is the one summary.csv's stage columns
// describe); the column names are a stable interface.
func (r *report) stagesCSV() []byte {
	rows := [][]string{{"stage", "first_op", "last_op", "layers", "grid", "input_tensor", "output_tensor", "input_bytes",
		"output_bytes", "scratch_bytes", "live_bytes", "stage_macs", "patch_macs", "mac_overhead_stage_pct",
		"stage_macs_clipped", "patch_macs_clipped", "transpose_folded", "low_branch"}}
	for si, st := range r.plan.Stages() {
		var in, out string
		var inBytes, outBytes int64
		if len(st.Layers) > 0 {
			first, last := st.Layers[0], st.Layers[len(st.Layers)-1]
			inBytes = int64(first.InShape[0]) * int64(first.InShape[1]) * int64(first.InShape[2])
			outBytes = last.FMBytes
			out = last.Tensor
			if ti := r.before.Ops[first.Op].Inputs; len(ti) > 0 && ti[0] >= 0 && int(ti[0]) < len(r.before.Tensors) {
				in = r.before.Tensors[ti[0]].Name
			}
		}
		rows = append(rows, []string{strconv.Itoa(si), strconv.Itoa(st.FirstOp), strconv.Itoa(st.LastOp), strconv.Itoa(st.Split),
			fmt.Sprintf("%dx%d", st.Rows, st.Cols), in, out, i64(inBytes), i64(outBytes), i64(st.ScratchBytes), i64(st.Live),
			i64(st.StageMACs), i64(st.PatchMACs), pct(st.StageOverhead), i64(st.StageMACsClipped), i64(st.PatchMACsClipped),
			strconv.FormatBool(st.Transpose), strconv.FormatBool(st.LowBranch)})
	}
	return writeCSV(rows)
}

// perLayerCSV has one row per operator of the original model.
func (r *report) perLayerCSV() []byte {
	rows := [][]string{{"op_index", "op", "output_shape", "in_stage", "macs_before", "macs_after", "patch_overhead_pct",
		"weight_bytes", "weight_bits", "activation_bits", "input_bits", "bitops_int8", "bitops_mixed", "entropy_bits",
		"live_bytes_before", "live_bytes_after", "window_bytes", "cycles_m4_before", "cycles_m4_after", "stage"}}
	for _, l := range r.rows {
		over := ""
		if l.inStage && l.op.MACs > 0 {
			over = pct(l.patchOverhead)
		}
		bits, inBits, b8, bm, entropy := "8", "8", i64(64*l.macsAfter), i64(64*l.macsAfter), ""
		if lr, ok := r.layers[l.op.Index]; ok && l.inStage {
			bits, inBits = strconv.Itoa(lr.ActivationBits), strconv.FormatFloat(lr.InputBits, 'f', -1, 64)
			b8, bm = i64(lr.BitOPsInt8), i64(lr.BitOPsMixed)
			if r.search != nil {
				if h, ok := r.search.EntropyByTensor[lr.Tensor]; ok {
					entropy = strconv.FormatFloat(h, 'f', 3, 64)
				}
			}
		}
		rows = append(rows, []string{strconv.Itoa(l.op.Index), l.op.Name, l.shape, strconv.FormatBool(l.inStage),
			i64(l.op.MACs), i64(l.macsAfter), over, i64(l.op.WeightBytes), "8", bits, inBits, b8, bm, entropy,
			i64(l.liveBefore), i64(l.liveAfter), i64(l.windowBytes), cycles(l.cyclesBefore), cycles(l.cyclesAfter), stageIndex(l.stage)})
	}
	return writeCSV(rows)
}

// stageIndex prints a patch stage index, empty outside every stage.
func stageIndex(si int) string {
	if si < 0 {
		return ""
	}
	return strconv.Itoa(si)
}

// buildName names the TFLM build the arena figures are for.
func buildName(p *patch.Report) string {
	return fmt.Sprintf("%s, %s kernels", p.Target, p.Kernels)
}

// summaryText is the stdout summary.
func (r *report) summaryText() string {
	p := r.plan
	var b strings.Builder
	if p.Split == 0 {
		fmt.Fprintf(&b, "Patch stage      none: model left unchanged\n")
		fmt.Fprintf(&b, "TFLM arena       %s head + %s tail = %s (%s); declare %d B\nMACs             %d\n",
			human(p.ArenaBefore), human(p.TailBefore), human(p.TotalBefore), buildName(p), analysis.DeclareBytes(p.TotalBefore), p.MACsBefore)
		return b.String()
	}
	fmt.Fprintf(&b, "Patch stage      operators %d-%d (%d layers%s), grid %dx%d\n", p.FirstOp, p.LastOp, p.Split,
		map[bool]string{true: ", NCHW transpose folded", false: ""}[p.Transpose], p.Rows, p.Cols)
	for si, st := range p.Later {
		fmt.Fprintf(&b, "Patch stage %-4d operators %d-%d (%d layers), grid %dx%d; %s live (input, output, scratch %s); stage MACs %+.1f%%\n",
			si+2, st.FirstOp, st.LastOp, st.Split, st.Rows, st.Cols, human(st.Live), human(st.ScratchBytes), 100*st.StageOverhead)
	}
	fmt.Fprintf(&b, "TFLM arena head  %s -> %s (%sx smaller; patch scratch %s)\n", human(p.ArenaBefore), human(p.ArenaAfter),
		ratio(p.ArenaBefore, p.ArenaAfter), human(p.ScratchBytes))
	if a := r.after; a.OfflineBuffers > 0 {
		fmt.Fprintf(&b, "Offline plan     %d tensors at fixed offsets (OfflineMemoryAllocation): patch-stage outputs overlap input bytes no later tile reads; head %s instead of %s planned online\n",
			a.OfflineBuffers, human(a.ArenaBytes), human(a.OnlineArenaBytes))
	}
	fmt.Fprintf(&b, "Whole arena      %s -> %s (%sx smaller; head + persistent tail, %s); declare %d B\n",
		human(p.TotalBefore), human(p.TotalAfter), ratio(p.TotalBefore, p.TotalAfter), buildName(p), analysis.DeclareBytes(p.TotalAfter))
	first := "patch stage"
	if len(p.Later) > 0 {
		first = "first patch stage"
	}
	fmt.Fprintf(&b, "MACs             %d -> %d (network %+.1f%%, %s %+.1f%%)\n", p.MACsBefore, p.MACsAfter,
		100*p.NetworkOverhead, first, 100*p.StageOverhead)
	before, after := r.cyclesM4()
	fmt.Fprintf(&b, "Cortex-M4 est.   %.1f ms -> %.1f ms at %d MHz (%+.1f%%; CMSIS-NN-class int8 kernels, patch stage on its DSP loops)\n",
		cost.Milliseconds(before, cost.DefaultMHz), cost.Milliseconds(after, cost.DefaultMHz), cost.DefaultMHz, 100*(after/before-1))
	if p.LowBranch {
		fmt.Fprintf(&b, "Low-bit branch   checked %q, int8 when a code is outside [%d, %d]; bits after it: %s\n",
			p.CheckedName, p.Lo, p.Hi, bitsSummary(p))
		fmt.Fprintf(&b, "Stage BitOPs     %d -> %d (%sx fewer at outlier-tile rate %.1f%%; low branch touches %s of scratch)\n",
			p.BitOPsPatchInt8, p.BitOPsPatchMixed, ratio(p.BitOPsPatchInt8, p.BitOPsPatchMixed), 100*p.OutlierRate, human(p.LowScratchBytes))
	}
	if s := r.search; s != nil {
		fmt.Fprintf(&b, "QuantMCU search  %d calibration inputs (+%d held out), outlier tiles %.1f%% (|code - zp| > %d), lambda %g, Phi by %s: %d steps kept, %d taken back by the guard, held-out top-1 agreement %.1f%% (min %.1f%%), %.1f s\n",
			s.Samples, s.Held, 100*s.Thresholds.Rate, s.Thresholds.Distance, s.Options.Lambda, s.Options.costName(), s.Chosen, len(s.Refused),
			100*s.Agreement, 100*s.Options.MinAgreement, s.Seconds)
	}
	if p.Note != "" {
		fmt.Fprintf(&b, "Note             %s\n", p.Note)
	}
	return b.String()
}

// bitsSummary counts the stage layers after the checked map by output bitwidth.
func bitsSummary(p *patch.Report) string {
	count := map[int]int{}
	for li, l := range p.Layers {
		if li >= p.Checked {
			count[l.ActivationBits]++
		}
	}
	var parts []string
	for _, b := range []int{8, 4, 2} {
		if count[b] > 0 {
			parts = append(parts, fmt.Sprintf("%d maps at %d", count[b], b))
		}
	}
	return strings.Join(parts, ", ")
}

func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// memorySVG draws live activation bytes per operator, before and after the rewrite.
func (r *report) memorySVG() []byte {
	const (
		left, right, top, bottom = 80, 20, 50, 60
		plotH                    = 300
		barW                     = 4
	)
	n := len(r.rows)
	group := max(2*barW+3, 640/max(n, 1))
	plotW := max(n*group, 640)
	labelEvery := (24 + group - 1) / group
	width, height := left+plotW+right, top+plotH+bottom
	var peak int64 = 1
	for _, l := range r.rows {
		peak = max(peak, l.liveBefore, l.liveAfter)
	}
	step := niceStep(float64(peak)/5/1024) * 1024 // KiB-based ticks
	yMax := math.Ceil(float64(peak)/step) * step
	y := func(v float64) float64 { return top + plotH - v/yMax*plotH }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">Live activation memory per operator (TFLM arena %s before, %s after)</text>`+"\n",
		left, html.EscapeString(human(r.plan.ArenaBefore)), html.EscapeString(human(r.plan.ArenaAfter)))
	// Patch stage backgrounds, one per stage.
	for si, st := range r.plan.Stages() {
		x0 := left + st.FirstOp*group
		fill, ink := "#fff3d6", "#8a6d1f"
		if si%2 == 1 {
			fill, ink = "#e3f1dd", "#3f6b2a"
		}
		label := fmt.Sprintf("patch stage (%dx%d)", st.Rows, st.Cols)
		if si > 0 {
			label = fmt.Sprintf("patch stage %d (%dx%d)", si+1, st.Rows, st.Cols)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>patch stage %d: operators %d-%d, grid %dx%d, %d B live</title></rect>`+"\n",
			x0, top, (st.LastOp-st.FirstOp+1)*group, plotH, fill, si+1, st.FirstOp, st.LastOp, st.Rows, st.Cols, st.Live)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", x0+2, top+12+14*(si%2), ink, html.EscapeString(label))
	}
	for v := 0.0; v <= yMax+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, left, left+plotW, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, html.EscapeString(human(int64(v))))
	}
	for i, l := range r.rows {
		x := left + i*group + (group-2*barW)/2
		hb := float64(l.liveBefore) / yMax * plotH
		ha := float64(l.liveAfter) / yMax * plotH
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="#9e9e9e"><title>op %d %s before: %d B</title></rect>`,
			x, top+plotH-hb, barW, hb, i, html.EscapeString(l.op.Name), l.liveBefore)
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="#1f77b4"><title>op %d %s after: %d B</title></rect>`+"\n",
			x+barW, top+plotH-ha, barW, ha, i, html.EscapeString(l.op.Name), l.liveAfter)
		if i%labelEvery == 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%d</text>`, x+barW, top+plotH+14, i)
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>`+"\n", left, left+plotW, top+plotH, top+plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">operator index (original model)</text>`+"\n", left+plotW/2, top+plotH+32)
	lx := left
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="#9e9e9e"/><text x="%d" y="%d">before (per-layer)</text>`, lx, top+plotH+42, lx+14, top+plotH+51)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="#1f77b4"/><text x="%d" y="%d">after (patch-based)</text>`+"\n", lx+140, top+plotH+42, lx+154, top+plotH+51)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// bitsSVG draws the low branch's bitwidth of every patch-stage feature map.
func (r *report) bitsSVG() []byte {
	const left, top, barH, gap, scale = 220, 40, 14, 4, 30
	layers := r.plan.Layers
	width, height := left+8*scale+120, top+len(layers)*(barH+gap)+40
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">Low-bit branch: bits per patch-stage feature map (outlier tiles run int8)</text>`+"\n")
	colors := map[int]string{8: "#9e9e9e", 4: "#1f77b4", 2: "#d62728"}
	for i, l := range layers {
		y := top + i*(barH+gap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">op %d %s</text>`, left-6, y+barH-3, l.Op, html.EscapeString(l.Tensor))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s: %d bits</title></rect>`,
			left, y, l.ActivationBits*scale, barH, colors[l.ActivationBits], html.EscapeString(l.Tensor), l.ActivationBits)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%d</text>`+"\n", left+l.ActivationBits*scale+4, y+barH-3, l.ActivationBits)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// niceStep rounds a raw axis step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}
