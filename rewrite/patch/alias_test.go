package patch

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite/analysis"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

// rowTiles is a one-layer stage over a 4 x 16 x 1 map cut into four one-row tiles; a
// kernel of kh rows (pad kh/2) makes tile t read rows t-kh/2 .. t+kh/2.
func rowTiles(kh int, nchwChannels int) aliasGeometry {
	g := aliasGeometry{in: FeatureMap{H: 4, W: 16, C: 1}, out: FeatureMap{H: 4, W: 16, C: 1}}
	if nchwChannels > 0 {
		g.in.C, g.inNCHW = nchwChannels, true
	}
	for t := range 4 {
		g.reads = append(g.reads, Window{max(t-kh/2, 0), min(t+kh/2+1, 4), 0, 16})
		g.writes = append(g.writes, Window{t, t + 1, 0, 16})
	}
	return g
}

func TestDisplacementHandComputed(t *testing.T) {
	for _, c := range []struct {
		name string
		g    aliasGeometry
		d    int64
		ok   bool
	}{
		// 1x1: tile t reads row t before writing it, later tiles read rows > t: in place.
		{"1x1 in place", rowTiles(1, 0), 0, true},
		// 3x3: tile t+1 still reads row t, so the output must start a row (16 B) lower.
		{"3x3 one row below", rowTiles(3, 0), -16, true},
		// The same with the last layer reading fm 0 while it writes: the tile's own rows
		// t-1..t+1 are guarded too, so row t may not land on row t-1: two rows lower.
		{"3x3 same tile", func() aliasGeometry { g := rowTiles(3, 0); g.sameTile = true; return g }(), -32, true},
		// NCHW input with two channel planes of 64 B: row t of both planes is dead after tile
		// t; the output over plane 0 (d = 0) and over plane 1 (d = 64) both span 128 B, and
		// the smaller |d| wins.
		{"nchw two planes", rowTiles(1, 2), 0, true},
		// 5x5: two rows below; the span (96 B) is still below input + output (128 B).
		{"5x5 two rows below", rowTiles(5, 0), -32, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, ok := c.g.displacement()
			if d != c.d || ok != c.ok {
				t.Fatalf("displacement = %d, %v; want %d, %v", d, ok, c.d, c.ok)
			}
		})
	}
	// One tile reading the whole input while writing (sameTile): nothing may overlap.
	g := aliasGeometry{in: FeatureMap{H: 4, W: 16, C: 1}, out: FeatureMap{H: 4, W: 16, C: 1}, sameTile: true,
		reads: []Window{{0, 4, 0, 16}}, writes: []Window{{0, 4, 0, 16}}}
	if d, ok := g.displacement(); ok {
		t.Fatalf("single tile reading while writing: displacement %d accepted", d)
	}
}

// aliasedRun runs stage st with its output placed d bytes after its input in one buffer and
// returns the output.
func aliasedRun(t *testing.T, st *tfmicroops.Stage, input []byte, outBytes int, d int64, scratch []byte) []byte {
	t.Helper()
	inAt, outAt := max(0, -d), max(0, d)
	buf := make([]byte, max(inAt+int64(len(input)), outAt+int64(outBytes)))
	copy(buf[inAt:], input)
	if _, err := st.Run(buf[inAt:inAt+int64(len(input))], buf[outAt:outAt+int64(outBytes)], [][]byte{scratch}); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf[outAt : outAt+int64(outBytes)])
}

// TestAliasedStageBitExact runs real models' patch stages through the C kernels with the
// output overlapping the input at the planned displacement (as TFLM runs them with the
// offline plan) and compares with separate buffers. To show that the harness really
// overlaps the tensors, the next displacement towards full overlap is run too where the
// tile geometry forbids it, and for each model at least one such run must corrupt the
// output (windows are conservative: a forbidden displacement may clobber only bytes no tile
// reads, so not every one does).
func TestAliasedStageBitExact(t *testing.T) {
	for _, name := range realModels {
		m, input := modelAndInput(t, name)
		corrupted, forbidden := 0, 0
		for _, o := range []Options{{}, {Rows: 1, Cols: 1}, {Rows: 2, Cols: 2}, {Rows: 3, Cols: 5}, {Rows: 4, Cols: 4}, {Rows: 7, Cols: 7}} {
			t.Run(fmt.Sprintf("%s/%dx%d", name, o.Rows, o.Cols), func(t *testing.T) {
				sp, err := Plan(m, o)
				if err != nil {
					t.Fatal(err)
				}
				for si, p := range sp.all() { // every stage: later ones read intermediate maps
					g := p.geometry()
					d, ok := g.displacement()
					if !ok {
						t.Logf("stage %d, split %d grid %dx%d: no overlapping displacement", si+1, p.Split, p.Rows, p.Cols)
						continue
					}
					ref := stageTensors(t, m, input, p.Stage.Input, p.FMs[len(p.FMs)-1].Tensor)
					plan, consts := parsedPlan(t, m, p)
					st, err := plan.Bind(consts)
					if err != nil {
						t.Fatal(err)
					}
					scratch := make([]byte, plan.ScratchBytes())
					if got := aliasedRun(t, st, ref[0], len(ref[1]), d, scratch); !bytes.Equal(got, ref[1]) {
						t.Fatalf("stage %d, split %d grid %dx%d, output at input %+d B: %d of %d bytes differ from separate buffers",
							si+1, p.Split, p.Rows, p.Cols, d, diffCount(got, ref[1]), len(got))
					}
					closer := d + analysis.BufferAlignment
					if d > 0 {
						closer = d - analysis.BufferAlignment
					}
					if d != 0 && !g.safe(closer) {
						forbidden++
						if got := aliasedRun(t, st, ref[0], len(ref[1]), closer, scratch); !bytes.Equal(got, ref[1]) {
							corrupted++
						}
					}
					st.Close()
				}
			})
		}
		if forbidden > 0 && corrupted == 0 {
			t.Errorf("%s: none of %d forbidden displacements changed the output: the harness does not overlap the tensors", name, forbidden)
		}
	}
}

func diffCount(a, b []byte) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// TestRewriteOfflinePlan checks the plan the rewritten models carry: TFLM's layout (one
// offset per tensor of every subgraph), the predicted head equal to the analysis of the
// written model, a smaller head than online, and no plan with NoOfflinePlan.
func TestRewriteOfflinePlan(t *testing.T) {
	for _, name := range realModels {
		t.Run(name, func(t *testing.T) {
			m := loadModel(t, name+".tflite")
			var heads [2]int64
			for i, no := range []bool{false, true} {
				sp, err := Plan(m, Options{NoOfflinePlan: no})
				if err != nil {
					t.Fatal(err)
				}
				back := rewriteAndReload(t, m, sp, name)
				r, err := analysis.AnalyzeWith(back, Options{}.analysisOptions())
				if err != nil {
					t.Fatal(err)
				}
				if r.ArenaBytes != sp.Report.ArenaAfter {
					t.Fatalf("offline %v: predicted head %d B, the written model plans %d B", !no, sp.Report.ArenaAfter, r.ArenaBytes)
				}
				var plans int
				for _, md := range back.Metadata {
					if md.Name == analysis.OfflinePlanName {
						plans++
						words := back.Buffers[md.Buffer].Data
						tensors := 0
						for _, sg := range back.Subgraphs {
							tensors += len(sg.Tensors)
						}
						if len(words) != 4*(3+tensors) {
							t.Fatalf("offline plan has %d bytes for %d tensors", len(words), tensors)
						}
					}
				}
				switch {
				case no && (plans != 0 || r.OfflineBuffers != 0):
					t.Fatalf("NoOfflinePlan: %d plans, %d offline buffers", plans, r.OfflineBuffers)
				case !no && (plans == 1) != (r.OfflineBuffers > 0):
					t.Fatalf("%d plans but %d offline buffers", plans, r.OfflineBuffers)
				case !no && plans == 1 && r.ArenaBytes >= r.OnlineArenaBytes:
					t.Fatalf("offline plan written although the head (%d B) is not below the online one (%d B)", r.ArenaBytes, r.OnlineArenaBytes)
				}
				// Bytes in use (shared bytes once) always fit below the arena top.
				for _, op := range r.Ops {
					if op.LiveBytes > op.ArenaTop {
						t.Fatalf("offline %v: operator %d has %d B live below an arena top of %d B", !no, op.Index, op.LiveBytes, op.ArenaTop)
					}
				}
				heads[i] = r.ArenaBytes
				t.Logf("offline %v: split %d grid %dx%d head %d B (online %d B), %d offline buffers", !no, sp.Split, sp.Rows, sp.Cols, r.ArenaBytes, r.OnlineArenaBytes, r.OfflineBuffers)
			}
			if heads[0] > heads[1] {
				t.Fatalf("the chosen head with offline plans (%d B) is above the one without (%d B)", heads[0], heads[1])
			}
		})
	}
}

// TestAliasedLowBranchBitExact: with a low-bit branch (uniform 4 and 2 bits: every tile runs
// it) the overlapped first stage computes what separate buffers give.
func TestAliasedLowBranchBitExact(t *testing.T) {
	for _, name := range realModels {
		m, input := modelAndInput(t, name)
		for _, bits := range []int{4, 2} {
			sp, err := Plan(m, Options{MaxStages: 1})
			if err != nil {
				t.Fatal(err)
			}
			spec, err := sp.UniformSpec(bits)
			if err != nil {
				t.Fatal(err)
			}
			if err := sp.ApplyPrecision(spec); err != nil {
				t.Fatal(err)
			}
			d, ok := sp.geometry().displacement()
			if !ok {
				t.Fatalf("%s: no overlapping displacement", name)
			}
			ref := stageTensors(t, m, input, sp.Stage.Input)
			plan, consts := parsedPlan(t, m, sp)
			if plan.Checked() == 0 {
				t.Fatalf("%s at %d bits: the plan has no low branch", name, bits)
			}
			st, err := plan.Bind(consts)
			if err != nil {
				t.Fatal(err)
			}
			out := sp.FMs[len(sp.FMs)-1].Bytes()
			scratch := make([]byte, plan.ScratchBytes())
			apart := make([]byte, out)
			if _, err := st.Run(ref[0], apart, [][]byte{scratch}); err != nil {
				t.Fatal(err)
			}
			if got := aliasedRun(t, st, ref[0], int(out), d, scratch); !bytes.Equal(got, apart) {
				t.Errorf("%s at %d bits, output at input %+d B: %d of %d bytes differ from separate buffers", name, bits, d, diffCount(got, apart), len(got))
			}
			st.Close()
		}
	}
}

// TestDisplacementFloatInput: a float32 input (a folded QUANTIZE reads it) takes 4 bytes per
// element. With rowTiles' 3x3 stage the input rows are 64 B and the int8 output rows 16 B:
// tile t writes output bytes [16t, 16t+16) + d while tile t+1 still reads input bytes from
// 64t, so every d in (48t - 16, 256 - 16t) is forbidden; tile 0 alone forbids (-16, 256).
func TestDisplacementFloatInput(t *testing.T) {
	g := rowTiles(3, 0)
	g.in.Float = true
	if d, ok := g.displacement(); !ok || d != -16 {
		t.Fatalf("displacement = %d, %v; want -16", d, ok)
	}
	// Read as int8 the input would end at byte 64, and d = 64 would look disjoint from it.
	for _, d := range []int64{0, 64, 128, 240} {
		if g.safe(d) {
			t.Errorf("d = %d accepted: tile 0's output lands on float input bytes tile 1 reads", d)
		}
	}
	if !g.safe(256) || !g.safe(-16) {
		t.Error("d = 256 (after the input) or -16 refused")
	}
}
