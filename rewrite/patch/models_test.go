package patch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/internal/shareddata"
	"github.com/quantmcu/quantmcu/rewrite/analysis"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/flexbuffers"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// dataDir is ../shared/data relative to the repository root.
func dataDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		shareddata.Skip(t, "shared data %s absent", dir)
	}
	return dir
}

func loadModel(t testing.TB, rel string) *schema.ModelT {
	t.Helper()
	path := filepath.Join(dataDir(t), "models", rel)
	if _, err := os.Stat(path); err != nil {
		shareddata.Skip(t, "%s absent", path)
	}
	m, err := tflite.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var realModels = []string{"person_detect", "vww_96_int8", "pretrainedResnet_quant", "mobilenet_v2_quantized_1x3x224x224"}

// decodedPlan is the plan parsed back from its words, as the C reader sees it.
type decodedPlan struct {
	header [16]int32
	fms    [][8]int32
	layers [][]int32 // 32 words each
	mult   [][]int32
	shift  [][]int32
	tiles  [][][4]int32
}

func decodePlan(b []byte) (*decodedPlan, error) {
	if len(b)%4 != 0 || len(b) < 64 {
		return nil, fmt.Errorf("plan of %d bytes", len(b))
	}
	w := make([]int32, len(b)/4)
	for i := range w {
		w[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	d := &decodedPlan{}
	copy(d.header[:], w)
	if w[0] != PlanMagic || w[1] != 1 || int(w[2]) != len(w) {
		return nil, fmt.Errorf("bad header %v", w[:3])
	}
	F, L, T := int(w[3]), int(w[4]), int(w[5])
	if L != F-1 {
		return nil, fmt.Errorf("L %d != F-1", L)
	}
	pos := 16
	take := func(n int) ([]int32, error) {
		if pos+n > len(w) {
			return nil, fmt.Errorf("plan truncated at word %d", pos)
		}
		r := w[pos : pos+n]
		pos += n
		return r, nil
	}
	for range F {
		e, err := take(8)
		if err != nil {
			return nil, err
		}
		d.fms = append(d.fms, [8]int32(e))
	}
	for range L {
		e, err := take(32)
		if err != nil {
			return nil, err
		}
		n := int(e[28])
		m, err := take(n)
		if err != nil {
			return nil, err
		}
		s, err := take(n)
		if err != nil {
			return nil, err
		}
		d.layers, d.mult, d.shift = append(d.layers, e), append(d.mult, m), append(d.shift, s)
	}
	for range T {
		var tile [][4]int32
		for range F {
			e, err := take(4)
			if err != nil {
				return nil, err
			}
			tile = append(tile, [4]int32(e))
		}
		d.tiles = append(d.tiles, tile)
	}
	if pos != len(w) {
		return nil, fmt.Errorf("%d trailing words", len(w)-pos)
	}
	return d, nil
}

// checkCoverage verifies the geometric invariants the C kernels rely on: output windows
// partition the stage output, and every in-map input position a layer reads for its output
// window lies inside the input window.
func checkCoverage(t *testing.T, sp *StagePlan) {
	t.Helper()
	out := sp.FMs[len(sp.FMs)-1]
	cover := make([]uint8, out.H*out.W)
	for ti, tile := range sp.Tiles {
		w := tile[len(tile)-1]
		for r := w.R0; r < w.R1; r++ {
			for c := w.C0; c < w.C1; c++ {
				cover[r*out.W+c]++
			}
		}
		for _, l := range sp.Layers {
			need := l.inputWindow(tile[l.Out], sp.FMs[l.In])
			for _, in := range []int{l.In, l.In2} {
				if in < 0 || need.Empty() {
					continue
				}
				have := tile[in]
				if need.R0 < have.R0 || need.R1 > have.R1 || need.C0 < have.C0 || need.C1 > have.C1 {
					t.Fatalf("tile %d operator %d reads %v of fm %d, window %v", ti, l.Op, need, in, have)
				}
			}
		}
	}
	for i, n := range cover {
		if n != 1 {
			t.Fatalf("output element %d covered %d times", i, n)
		}
	}
}

// arenaOfRewritten plans the rewritten model as TFLM would: analysis.Analyze's buffers plus
// each custom op's scratch request (scratch, in operator order) at its place in request order.
func arenaOfRewritten(t *testing.T, m *schema.ModelT, scratch []int64) int64 {
	t.Helper()
	a, err := analysis.Analyze(m)
	if err != nil {
		t.Fatal(err)
	}
	var customs []int
	for oi, op := range a.Ops {
		if op.Custom == CustomCode {
			customs = append(customs, oi)
		}
	}
	if len(customs) != len(scratch) {
		t.Fatalf("%d custom ops in the rewritten model, want %d", len(customs), len(scratch))
	}
	var bufs []analysis.Buffer
	next := 0
	request := func(before int) {
		for ; next < len(customs) && customs[next] < before; next++ {
			if scratch[next] > 0 {
				scope := customs[next] + 1 // the custom op's scope: its index + 1 (no control flow)
				bufs = append(bufs, analysis.Buffer{Size: analysis.AlignUp(scratch[next], 16), First: scope, Last: scope})
			}
		}
	}
	for _, b := range a.Planned {
		if b.Kind == analysis.ScratchBuffer {
			if b.Subgraph > 0 {
				request(len(a.Ops))
			} else {
				request(b.Op)
			}
		}
		bufs = append(bufs, b.Buffer)
	}
	request(len(a.Ops))
	p, err := analysis.PlanGreedy(bufs)
	if err != nil {
		t.Fatal(err)
	}
	return p.Size
}

// scratchOf lists the scratch request of every stage of sp, in operator order.
func scratchOf(sp *StagePlan) []int64 {
	var r []int64
	for _, p := range sp.all() {
		r = append(r, p.ScratchBytes)
	}
	return r
}

func TestRealModelsPlanAndRewrite(t *testing.T) {
	for _, name := range realModels {
		m := loadModel(t, name+".tflite")
		orig, err := tflite.Serialize(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []int{0, 2, 3, 4} {
			t.Run(fmt.Sprintf("%s/grid%d", name, g), func(t *testing.T) {
				sp, err := Plan(m, Options{Rows: g, Cols: g})
				if err != nil {
					t.Fatal(err)
				}
				if g > 0 && (sp.Rows != g || sp.Cols != g) {
					t.Fatalf("grid %dx%d, forced %d", sp.Rows, sp.Cols, g)
				}
				r := sp.Report
				if r.ArenaAfter <= 0 || r.MACsAfter < r.MACsBefore || r.PatchMACs < r.StageMACs || r.PatchMACsClipped > r.PatchMACs {
					t.Fatalf("implausible report %+v", *r)
				}
				if g == 0 && r.NetworkOverhead > MaxOverhead {
					t.Errorf("automatic choice overhead %.3f > %.2f", r.NetworkOverhead, MaxOverhead)
				}
				for _, p := range sp.all() {
					checkCoverage(t, p)
					if orig, _, patch, _ := p.macs(); p.extraMACs() != sum(patch)-sum(orig) {
						t.Errorf("stage at operator %d: extra MACs %d, the per-layer counts say %d", p.firstOp(), p.extraMACs(), sum(patch)-sum(orig))
					}
				}
				back := rewriteAndReload(t, m, sp, name)
				checkRewritten(t, m, back, sp)
				if got := arenaOfRewritten(t, back, scratchOf(sp)); got != r.ArenaAfter {
					t.Errorf("predicted arena %d, planning the rewritten model gives %d", r.ArenaAfter, got)
				}
				// Determinism: the same input gives the same bytes.
				sp2, err := Plan(m, Options{Rows: g, Cols: g})
				if err != nil {
					t.Fatal(err)
				}
				data, err := tflite.Serialize(back)
				if err != nil {
					t.Fatal(err)
				}
				data2, err := tflite.Serialize(rewriteAndReload(t, m, sp2, name))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, data2) {
					t.Error("two rewrites of the same model differ")
				}
				t.Logf("split %d grid %dx%d: MACs %d -> %d (%+.1f%%; stage %+.1f%%), arena %d -> %d, scratch %d",
					r.Split, r.Rows, r.Cols, r.MACsBefore, r.MACsAfter, 100*r.NetworkOverhead, 100*r.StageOverhead, r.ArenaBefore, r.ArenaAfter, r.ScratchBytes)
			})
		}
		// The input model is untouched.
		now, err := tflite.Serialize(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(orig, now) {
			t.Errorf("%s: Plan/Rewrite modified the input model", name)
		}
	}
}

// checkRewritten checks the emitted model against the plan and the original model.
func checkRewritten(t *testing.T, m, out *schema.ModelT, sp *StagePlan) {
	t.Helper()
	sg, osg := m.Subgraphs[0], out.Subgraphs[0]
	var customs []*schema.OperatorT
	for _, op := range osg.Operators {
		if tflite.OpName(out.OperatorCodes[op.OpcodeIndex]) == `CUSTOM("`+CustomCode+`")` {
			customs = append(customs, op)
		}
	}
	plans := sp.all()
	if len(customs) != len(plans) {
		t.Fatalf("%d custom ops, want one per stage (%d)", len(customs), len(plans))
	}
	removed := 0
	for _, p := range plans {
		removed += p.lastOp() - p.firstOp()
	}
	if len(osg.Operators) != len(sg.Operators)-removed {
		t.Errorf("%d operators, want %d", len(osg.Operators), len(sg.Operators)-removed)
	}
	for pi, p := range plans {
		custom := customs[pi]
		// Inputs: the stage input, then the constants (same names, same bytes), then (first
		// stage only) low-branch weight copies.
		if len(custom.Inputs) < 1+len(p.Consts) || (pi > 0 && len(custom.Inputs) != 1+len(p.Consts)) || len(custom.Outputs) != 1 {
			t.Fatalf("stage %d: custom op inputs %v outputs %v", pi, custom.Inputs, custom.Outputs)
		}
		if got, want := osg.Tensors[custom.Inputs[0]].Name, sg.Tensors[p.Stage.Input].Name; got != want {
			t.Errorf("stage %d: custom op reads %q, want %q", pi, got, want)
		}
		for i, ct := range p.Consts {
			nt, ot := osg.Tensors[custom.Inputs[i+1]], sg.Tensors[ct]
			if nt.Name != ot.Name || !bytes.Equal(out.Buffers[nt.Buffer].Data, m.Buffers[ot.Buffer].Data) {
				t.Errorf("stage %d: constant %d: %q differs from %q", pi, i, nt.Name, ot.Name)
			}
		}
		if got, want := osg.Tensors[custom.Outputs[0]].Name, sg.Tensors[p.FMs[len(p.FMs)-1].Tensor].Name; got != want {
			t.Errorf("stage %d: custom op writes %q, want %q", pi, got, want)
		}
	}
	// Every tensor name of the rewritten model existed before; inner stage tensors are gone.
	names := map[string]bool{}
	for _, tn := range sg.Tensors {
		names[tn.Name] = true
	}
	for _, tn := range osg.Tensors {
		if !names[tn.Name] {
			t.Errorf("new tensor name %q", tn.Name)
		}
	}
	for _, p := range plans {
		for f := 1; f < len(p.FMs)-1; f++ {
			inner := sg.Tensors[p.FMs[f].Tensor].Name
			for _, tn := range osg.Tensors {
				if tn.Name == inner {
					t.Errorf("inner tensor %q survived", inner)
				}
			}
		}
	}
	// No dead opcodes; metadata stamped.
	for i := range out.OperatorCodes {
		if !slices.ContainsFunc(osg.Operators, func(op *schema.OperatorT) bool { return int(op.OpcodeIndex) == i }) {
			t.Errorf("operator code %d unused", i)
		}
	}
	var version string
	for _, md := range out.Metadata {
		if md.Name == MetadataVersionKey {
			version = string(out.Buffers[md.Buffer].Data)
		}
	}
	if version != ToolVersion {
		t.Errorf("metadata %s = %q", MetadataVersionKey, version)
	}
	for pi, p := range plans {
		checkOptions(t, m, out, p, customs[pi])
	}
}

// checkOptions checks the custom op's options: the FlexBuffer map of PLAN.md, and the plan
// matches sp.
func checkOptions(t *testing.T, m, out *schema.ModelT, sp *StagePlan, custom *schema.OperatorT) {
	t.Helper()
	root, err := flexbuffers.Root(custom.CustomOptions)
	if err != nil {
		t.Fatal(err)
	}
	get := func(key string) flexbuffers.Value {
		v, err := root.Get(key)
		if err != nil {
			t.Fatalf("options %q: %v", key, err)
		}
		return v
	}
	if s, _ := get("format").String(); s != PlanFormat {
		t.Errorf("format %q", s)
	}
	if v, _ := get("version").Int(); v != 1 {
		t.Errorf("version %d", v)
	}
	if v, _ := get("scratch_bytes").Int(); v != sp.ScratchBytes {
		t.Errorf("scratch_bytes %d, want %d", v, sp.ScratchBytes)
	}
	if tool, _ := get("tool").String(); !strings.HasPrefix(tool, "quantmcu ") {
		t.Errorf("tool %q", tool)
	}
	g := get("grid")
	r0, _ := g.Index(0)
	c0, _ := g.Index(1)
	if r, _ := r0.Int(); int(r) != sp.Rows {
		t.Errorf("grid rows %d", r)
	}
	if c, _ := c0.Int(); int(c) != sp.Cols {
		t.Errorf("grid cols %d", c)
	}
	blob, err := get("plan").Blob()
	if err != nil {
		t.Fatal(err)
	}
	checkDecodedPlan(t, blob, sp, m, out, custom)
}

func checkDecodedPlan(t *testing.T, blob []byte, sp *StagePlan, m, out *schema.ModelT, custom *schema.OperatorT) {
	t.Helper()
	d, err := decodePlan(blob)
	if err != nil {
		t.Fatal(err)
	}
	if int(d.header[3]) != len(sp.FMs) || int(d.header[5]) != len(sp.Tiles) || int64(d.header[6]) != sp.ScratchBytes {
		t.Errorf("header %v", d.header)
	}
	if (d.header[7] == 1) != sp.Stage.InputNCHW {
		t.Errorf("layout word %d", d.header[7])
	}
	for f, e := range d.fms {
		fm := sp.FMs[f]
		if int(e[0]) != fm.H || int(e[1]) != fm.W || int(e[2]) != fm.C || int64(e[3]) != sp.ScratchOffsets[f] || e[4] != fm.ZeroPoint {
			t.Errorf("fm %d entry %v", f, e)
		}
		if (f == 0 || f == len(sp.FMs)-1) != (e[3] == -1) {
			t.Errorf("fm %d scratch offset %d", f, e[3])
		}
		if e[3] >= 0 && int64(e[3])%16 != 0 {
			t.Errorf("fm %d offset %d not 16-aligned", f, e[3])
		}
	}
	osg := out.Subgraphs[0]
	for li, e := range d.layers {
		l := sp.Layers[li]
		if Kind(e[0]) != l.Kind || int(e[1]) != l.In || int(e[2]) != l.In2 || int(e[3]) != li+1 || e[15] > e[16] {
			t.Errorf("layer %d entry %v", li, e[:17])
		}
		// Weights/bias indices point at the original constant tensors among the op's inputs.
		for k, tt := range []int{l.Weights, l.Bias} {
			idx := e[17+k]
			if tt < 0 {
				if idx != -1 {
					t.Errorf("layer %d input word %d = %d", li, 17+k, idx)
				}
				continue
			}
			if idx < 1 || int(idx) >= len(custom.Inputs) || osg.Tensors[custom.Inputs[idx]].Name != m.Subgraphs[0].Tensors[tt].Name {
				t.Errorf("layer %d constant index %d", li, idx)
			}
		}
		if l.Kind == KindConv || l.Kind == KindDepthwise {
			if int(e[28]) != sp.FMs[l.Out].C {
				t.Errorf("layer %d has %d multipliers for %d channels", li, e[28], sp.FMs[l.Out].C)
			}
			for c, q := range d.mult[li] {
				// TFLite's QuantizeMultiplier flushes a multiplier below 2^-32 to (0, 0):
				// vww_96_int8 has a channel of all-zero weights with scale 1.8e-10 (op 14).
				if q == 0 && d.shift[li][c] == 0 {
					continue
				}
				if q < 1<<30 || d.shift[li][c] > 31 || d.shift[li][c] < -31 {
					t.Fatalf("layer %d channel %d multiplier %d shift %d", li, c, q, d.shift[li][c])
				}
			}
		}
	}
	for ti, tile := range d.tiles {
		for f, e := range tile {
			w := sp.Tiles[ti][f]
			if e != [4]int32{int32(w.R0), int32(w.R1), int32(w.C0), int32(w.C1)} {
				t.Errorf("tile %d fm %d: %v, want %v", ti, f, e, w)
			}
		}
	}
}

func TestEncodePlanMatchesEmittedOptions(t *testing.T) {
	m := loadModel(t, "person_detect.tflite")
	sp, err := Plan(m, Options{Rows: 3, Cols: 3, Split: 4})
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodePlan(sp)
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodePlan(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.layers) != 4 || len(d.tiles) != 9 {
		t.Fatalf("%d layers %d tiles", len(d.layers), len(d.tiles))
	}
	// Truncations are detected by the reader the test uses (the C reader validates the same).
	if _, err := decodePlan(b[:len(b)-4]); err == nil {
		t.Error("truncated plan decoded")
	}
}

func TestRefusals(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"negative/person_detect_vela.tflite", "ethos-u"},
		{"hello_world_int8.tflite", "no tileable prefix"},
	} {
		m := loadModel(t, c.file)
		_, err := Plan(m, Options{})
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a refusal mentioning %q", c.file, err, c.want)
		}
	}
	// A float model: person_detect with its activations declared FLOAT32.
	m := loadModel(t, "person_detect.tflite")
	for _, tn := range m.Subgraphs[0].Tensors {
		if tn.Type == schema.TensorTypeINT8 && m.Buffers[tn.Buffer] != nil && len(m.Buffers[tn.Buffer].Data) == 0 {
			tn.Type = schema.TensorTypeFLOAT32
		}
	}
	if _, err := Plan(m, Options{}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "float model") {
		t.Errorf("float model: %v", err)
	}
	// Forced choices that do not exist.
	m = loadModel(t, "pretrainedResnet_quant.tflite")
	if _, err := Plan(m, Options{Split: 2}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("split inside a residual block: %v", err)
	}
	if _, err := Plan(m, Options{Rows: 64, Cols: 64}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("64x64 grid: %v", err)
	}
	if _, err := Plan(m, Options{SRAM: 100}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "--sram") {
		t.Errorf("tiny SRAM: %v", err)
	}
}

func TestReasonsExplainTheStageEnd(t *testing.T) {
	m := loadModel(t, "mobilenet_v2_quantized_1x3x224x224.tflite")
	s, err := DetectStage(m)
	if err != nil {
		t.Fatal(err)
	}
	if s.Transpose != 0 || !s.InputNCHW || s.First != 1 {
		t.Errorf("transpose %d nchw %v first %d", s.Transpose, s.InputNCHW, s.First)
	}
	joined := strings.Join(s.Reasons, "\n")
	for _, want := range []string{"(MEAN): not a spatial op; the stage ends before it", "is not possible: the output of operator"} {
		if !strings.Contains(joined, want) {
			t.Errorf("reasons lack %q:\n%s", want, joined)
		}
	}
	if slices.Contains(s.Splits, 10) {
		t.Error("split inside a residual block accepted")
	}
}

func TestSRAMBudgetPicksFewestMACs(t *testing.T) {
	m := loadModel(t, "mobilenet_v2_quantized_1x3x224x224.tflite")
	auto, err := Plan(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	budget := auto.Report.TotalAfter * 2
	sp, err := Plan(m, Options{SRAM: budget})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Report.TotalAfter > budget {
		t.Fatalf("whole arena %d over budget %d", sp.Report.TotalAfter, budget)
	}
	for _, c := range sp.Report.Candidates {
		if c.TotalBytes <= budget && c.NetworkMACs < sp.Report.MACsAfter {
			t.Errorf("candidate %+v fits with fewer MACs than the choice", c)
		}
	}
}

func BenchmarkPlanMobileNetV2(b *testing.B) {
	m := loadModel(b, "mobilenet_v2_quantized_1x3x224x224.tflite")
	for b.Loop() {
		if _, err := Plan(m, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLaterSegmentsCutNoSkipConnection: on the residual networks, every later segment starts
// where exactly one activation (its input) crosses, and each of its splits ends where only its
// output does, judged from the tensor lifetimes rewrite/analysis computes.
func TestLaterSegmentsCutNoSkipConnection(t *testing.T) {
	for _, name := range []string{"mobilenet_v2_quantized_1x3x224x224", "pretrainedResnet_quant"} {
		m := loadModel(t, name+".tflite")
		a, err := analysis.Analyze(m)
		if err != nil {
			t.Fatal(err)
		}
		// crossing lists the activations written before operator k and read at or after it.
		crossing := func(k int) []int {
			var ts []int
			for _, ti := range a.Tensors {
				if !ti.Constant && ti.FirstOp >= 0 && ti.FirstOp < k && ti.LastOp >= k {
					ts = append(ts, ti.Index)
				}
			}
			return ts
		}
		prefix, later, err := DetectSegments(m)
		if err != nil || prefix == nil {
			t.Fatalf("%s: prefix %v, %v", name, prefix, err)
		}
		if len(later) == 0 {
			t.Fatalf("%s: no later segment", name)
		}
		for _, s := range later {
			if got := crossing(s.First); len(got) != 1 || got[0] != s.Input {
				t.Errorf("%s: segment at operator %d reads tensor %d but %v cross into it", name, s.First, s.Input, got)
			}
			for _, n := range s.Splits {
				end := s.Layers[n-1].Op + 1
				out := s.FMs[n].Tensor
				if got := crossing(end); !slices.Equal(got, []int{out}) && end < len(a.Ops) {
					t.Errorf("%s: segment at %d split %d: %v cross its end, want only its output %d", name, s.First, n, got, out)
				}
			}
		}
		// The networks do have boundaries inside skip connections (which the segments avoid).
		inside := 0
		for k := prefix.First + 1; k < len(a.Ops); k++ {
			if len(crossing(k)) > 1 {
				inside++
			}
		}
		if inside == 0 {
			t.Errorf("%s: no operator boundary inside a skip connection", name)
		}
		t.Logf("%s: %d later segments", name, len(later))
	}
}

// rewriteAndReload rewrites m with sp and reads the written bytes back, as TFLM gets them.
func rewriteAndReload(t *testing.T, m *schema.ModelT, sp *StagePlan, name string) *schema.ModelT {
	t.Helper()
	out, err := Rewrite(m, sp)
	if err != nil {
		t.Fatal(err)
	}
	data, err := tflite.Serialize(out)
	if err != nil {
		t.Fatal(err)
	}
	back, err := tflite.Parse(data, name)
	if err != nil {
		t.Fatal(err)
	}
	return back
}
