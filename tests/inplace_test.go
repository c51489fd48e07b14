package tests

import (
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantmcu/quantmcu/rewrite/patch"
	"github.com/quantmcu/quantmcu/tests/internal/planref"
	tfmicroops "github.com/quantmcu/quantmcu/tfmicro_ops"
)

// TestInPlaceRuleRefusesUnsafeOverlap takes the plan of a real rewrite whose window buffers
// overlap in place (PLAN.md, "In-place layers"), checks that both readers (the C parser and
// the Go reference) accept it, then moves each in-place layer's output buffer onto its input
// (every store then lands on bytes still to be read) and checks that both refuse it.
func TestInPlaceRuleRefusesUnsafeOverlap(t *testing.T) {
	m := mustLoad(t, filepath.Join(sharedData(t), "models", "person_detect.tflite"))
	sp, err := patch.Plan(m, patch.Options{Rows: 4, Cols: 4, Split: 8})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := patch.EncodePlan(sp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tfmicroops.Parse(blob); err != nil {
		t.Fatalf("C parser refuses the rewriter's plan: %v", err)
	}
	if _, err := planref.Parse(blob); err != nil {
		t.Fatalf("reference parser refuses the rewriter's plan: %v", err)
	}
	const headerWords, fmWords = 16, 8
	word := func(b []byte, i int) int32 { return int32(binary.LittleEndian.Uint32(b[4*i:])) }
	put := func(b []byte, i int, v int32) { binary.LittleEndian.PutUint32(b[4*i:], uint32(v)) }
	sizes := []int64{}
	for f := range sp.FMs {
		var s int64
		for _, w := range sp.Tiles {
			s = max(s, int64(w[f].Rows()*w[f].Cols()*sp.FMs[f].C))
		}
		sizes = append(sizes, s)
	}
	orders := map[int32]int{}
	for li, l := range sp.Layers {
		in, out := l.In, l.Out
		if in == 0 || out == len(sp.FMs)-1 {
			continue
		}
		oi, oo := sp.ScratchOffsets[in], sp.ScratchOffsets[out]
		if oo >= oi+sizes[in] || oi >= oo+sizes[out] {
			continue // apart
		}
		orders[sp.RowOrders[li]]++
		bad := append([]byte(nil), blob...)
		put(bad, headerWords+out*fmWords+3, int32(oi))
		put(bad, 6, word(bad, 6)+int32(sizes[out])) // room for the moved buffer
		if _, err := tfmicroops.Parse(bad); err == nil || !strings.Contains(err.Error(), "overlaps") {
			t.Errorf("layer %d (%s, order %d) written exactly over its input: C parser says %v", li, l.Kind, sp.RowOrders[li], err)
		}
		if _, err := planref.Parse(bad); err == nil || !strings.Contains(err.Error(), "overwrites") {
			t.Errorf("layer %d (%s, order %d) written exactly over its input: reference parser says %v", li, l.Kind, sp.RowOrders[li], err)
		}
	}
	if orders[patch.OrderTopDown] == 0 || orders[patch.OrderBottomUp] == 0 {
		t.Errorf("in-place layers by row order %v: want both orders in person_detect's 4x4 plan", orders)
	}
}
