package analysis

import (
	"encoding/binary"
	"testing"
)

func TestEncodeOfflinePlan(t *testing.T) {
	b, err := EncodeOfflinePlan(2, []int64{-1, 0, 4096, -1})
	if err != nil {
		t.Fatal(err)
	}
	want := []int32{1, 2, 4, -1, 0, 4096, -1}
	if len(b) != 4*len(want) {
		t.Fatalf("%d bytes, want %d", len(b), 4*len(want))
	}
	for i, w := range want {
		if got := int32(binary.LittleEndian.Uint32(b[4*i:])); got != w {
			t.Fatalf("word %d = %d, want %d", i, got, w)
		}
	}
	for _, bad := range [][]int64{{-2}, {1 << 31}} {
		if _, err := EncodeOfflinePlan(1, bad); err == nil {
			t.Fatalf("offsets %v accepted", bad)
		}
	}
}

// stageBuffers is a stage operator at scope 1 reading A (64 B, from scope 0) and writing B
// (64 B) with 32 B of scratch S, and C (64 B) the next operator's output:
//
//	online: C [0,64), B [64,128), A [0,64), S [128,160) -> 160 B.
func stageBuffers() []Buffer {
	return []Buffer{
		{Size: 64, First: 0, Last: 1}, // A, the stage input
		{Size: 64, First: 1, Last: 2}, // B, the stage output
		{Size: 32, First: 1, Last: 1}, // S, the op's scratch
		{Size: 64, First: 2, Last: 3}, // C
	}
}

func TestPlanOverlapping(t *testing.T) {
	bufs := stageBuffers()
	online, err := PlanGreedy(bufs)
	if err != nil {
		t.Fatal(err)
	}
	if online.Size != 160 {
		t.Fatalf("online plan %d B, want 160", online.Size)
	}
	// B may start 16 B before A: A and B span 80 B, S sits above (112 B at scope 1), and C
	// beside B at scope 2: 128 B, the least any plan needs there (B + C).
	p, err := PlanOverlapping(bufs, []bool{true, true, false, true}, []Overlap{{A: 0, B: 1, Displacement: -16}})
	if err != nil {
		t.Fatal(err)
	}
	if p == nil {
		t.Fatal("no offline plan")
	}
	if p.Plan.Size != 128 || p.Online != 160 {
		t.Fatalf("offline plan %d B (online %d B), want 128 (160)", p.Plan.Size, p.Online)
	}
	a, b := p.Buffers[0], p.Buffers[1]
	if !a.Fixed || !b.Fixed || b.Offset-a.Offset != -16 || p.Plan.Offsets[1]-p.Plan.Offsets[0] != -16 {
		t.Fatalf("A %+v, B %+v: want both fixed, B 16 B before A", a, b)
	}
	if p.Buffers[2].Fixed {
		t.Fatal("the scratch buffer got an offline offset")
	}
	// The plan TFLM completes must keep every pair in use together apart but A and B.
	for i := range bufs {
		for j := i + 1; j < len(bufs); j++ {
			if i == 0 && j == 1 {
				continue
			}
			x, y := p.Buffers[i], p.Buffers[j]
			oi, oj := p.Plan.Offsets[i], p.Plan.Offsets[j]
			if timeOverlap(x, y) && oi < oj+y.Size && oj < oi+x.Size {
				t.Fatalf("buffers %d and %d share memory while both are in use", i, j)
			}
		}
	}
}

func TestPlanOverlappingNoGain(t *testing.T) {
	bufs := stageBuffers()
	bufs[3].Size = 4096 // C and B at scope 2 set the head whatever A and B do
	p, err := PlanOverlapping(bufs, nil, []Overlap{{A: 0, B: 1, Displacement: -16}})
	if err != nil || p != nil {
		t.Fatalf("plan %+v, err %v; want none", p, err)
	}
	if p, err := PlanOverlapping(bufs, nil, nil); err != nil || p != nil {
		t.Fatalf("no overlaps: plan %+v, err %v", p, err)
	}
}

func TestPlanOverlappingRejects(t *testing.T) {
	bufs := stageBuffers()
	for name, ov := range map[string][]Overlap{
		"misaligned":   {{A: 0, B: 1, Displacement: 8}},
		"out of range": {{A: 0, B: 9, Displacement: 0}},
		"self":         {{A: 1, B: 1, Displacement: 0}},
		"two offsets":  {{A: 0, B: 1, Displacement: 0}, {A: 1, B: 3, Displacement: 16}, {A: 3, B: 0, Displacement: 16}},
	} {
		if _, err := PlanOverlapping(bufs, nil, ov); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := PlanOverlapping(bufs, []bool{true, false, true, true}, []Overlap{{A: 0, B: 1}}); err == nil {
		t.Error("a buffer that cannot take an offline offset was accepted in an overlap")
	}
}

// TestPlanOverlappingTwoStages is vww_96_int8 with two patch stages (the buffers TFLM plans
// for it, scopes as TFLM counts them): a stage at scope 1 (input 27,648 B, output 9,216 B
// 864 B below it, scratch 1,184 B), a convolution, a second stage at scope 3 (18,432 B in
// and out, 2,336 B apart, scratch 288 B), then a chain of layers. The least any plan needs
// is the first stage's 28,512 + 1,184 = 29,696 B, and the plan reaches it.
func TestPlanOverlappingTwoStages(t *testing.T) {
	bufs := []Buffer{
		{Size: 27648, First: 0, Last: 1}, {Size: 9216, First: 1, Last: 2}, {Size: 18432, First: 2, Last: 3},
		{Size: 18432, First: 3, Last: 4}, {Size: 4608, First: 4, Last: 5}, {Size: 9216, First: 5, Last: 6},
		{Size: 9216, First: 6, Last: 7}, {Size: 9216, First: 7, Last: 8}, {Size: 2304, First: 8, Last: 9},
		{Size: 1184, First: 1, Last: 1}, {Size: 288, First: 3, Last: 3},
	}
	fixable := []bool{true, true, true, true, true, true, true, true, true, false, false}
	p, err := PlanOverlapping(bufs, fixable, []Overlap{{A: 0, B: 1, Displacement: -864}, {A: 2, B: 3, Displacement: -2336}})
	if err != nil {
		t.Fatal(err)
	}
	if p == nil || p.Plan.Size != 29696 {
		t.Fatalf("plan %+v, want 29696 B", p)
	}
	if p.Online != 46080 {
		t.Fatalf("online %d B, want 46080", p.Online)
	}
}
