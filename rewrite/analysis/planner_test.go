package analysis

import (
	"slices"
	"testing"
)

func TestPlanGreedy(t *testing.T) {
	for _, c := range []struct {
		name string
		bufs []Buffer
		want []int64
		size int64
	}{
		{"empty", nil, []int64{}, 0},
		{"disjoint lifetimes share offset 0",
			[]Buffer{{Size: 32, First: 0, Last: 1}, {Size: 64, First: 2, Last: 3}},
			[]int64{0, 0}, 64},
		{"touching lifetimes conflict (inclusive bounds)",
			[]Buffer{{Size: 32, First: 0, Last: 1}, {Size: 64, First: 1, Last: 2}},
			[]int64{64, 0}, 96},
		{"equal sizes: the later buffer is placed first",
			[]Buffer{{Size: 16, First: 0, Last: 0}, {Size: 16, First: 0, Last: 0}, {Size: 16, First: 0, Last: 0}},
			[]int64{32, 16, 0}, 48},
		{"small buffer fills a gap below a large one",
			// 96@0 [0,1]; 64 [2,3] -> 0; 48 [1,2] meets both -> 96; 16 [3,3] meets the 64 only -> 64.
			[]Buffer{{Size: 96, First: 0, Last: 1}, {Size: 64, First: 2, Last: 3}, {Size: 48, First: 1, Last: 2}, {Size: 16, First: 3, Last: 3}},
			[]int64{0, 0, 96, 64}, 144},
		{"a buffer fits in the gap below a time-overlapping one",
			// A 48 [0,0]@0; B 32 [0,2] meets A: @48; C 16 [1,1] meets B only: fits at 0.
			[]Buffer{{Size: 48, First: 0, Last: 0}, {Size: 32, First: 0, Last: 2}, {Size: 16, First: 1, Last: 1}},
			[]int64{0, 48, 0}, 80},
		{"fixed offsets are kept and others avoid them",
			[]Buffer{{Size: 64, First: 0, Last: 0}, {Size: 16, First: 0, Last: 0, Fixed: true, Offset: 8}},
			[]int64{24, 8}, 88},
		{"zero-size buffer",
			[]Buffer{{Size: 0, First: 0, Last: 0}, {Size: 16, First: 0, Last: 0}},
			[]int64{0, 0}, 16},
		{"never-used buffers overlap only each other",
			[]Buffer{{Size: 16, First: -1, Last: -1}, {Size: 16, First: -1, Last: -1}, {Size: 32, First: 0, Last: 5}},
			[]int64{16, 0, 0}, 32},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := PlanGreedy(c.bufs)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Offsets, c.want) || p.Size != c.size {
				t.Errorf("offsets %v size %d, want %v size %d", p.Offsets, p.Size, c.want, c.size)
			}
			checkNoOverlap(t, c.bufs, p)
		})
	}
}

func checkNoOverlap(t *testing.T, bufs []Buffer, p *Plan) {
	t.Helper()
	for i, a := range bufs {
		for j, b := range bufs[:i] {
			timeOverlap := a.First <= b.Last && b.First <= a.Last
			memOverlap := p.Offsets[i] < p.Offsets[j]+b.Size && p.Offsets[j] < p.Offsets[i]+a.Size
			if timeOverlap && memOverlap && !(a.Fixed && b.Fixed) {
				t.Errorf("buffers %d and %d overlap in time and memory", j, i)
			}
		}
	}
}

func TestPlanGreedyRejectsBadRequests(t *testing.T) {
	for _, b := range []Buffer{{Size: -1}, {First: 2, Last: 1}, {Fixed: true, Offset: -16}} {
		if _, err := PlanGreedy([]Buffer{b}); err == nil {
			t.Errorf("%+v: no error", b)
		}
	}
}

func TestAlignUp(t *testing.T) {
	for _, c := range [][3]int64{{0, 16, 0}, {1, 16, 16}, {16, 16, 16}, {17, 16, 32}, {258, 16, 272}} {
		if got := AlignUp(c[0], c[1]); got != c[2] {
			t.Errorf("AlignUp(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}
