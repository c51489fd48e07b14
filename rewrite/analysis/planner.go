package analysis

import (
	"cmp"
	"fmt"
	"slices"
)

// BufferAlignment is the alignment TFLM gives every planned arena buffer
// (MicroArenaBufferAlignment): each request is rounded up to a multiple of it before planning.
const BufferAlignment = 16

// AlignUp rounds n up to a multiple of align (align > 0).
func AlignUp(n, align int64) int64 {
	return (n + align - 1) / align * align
}

// Buffer is one memory request for PlanGreedy: Size bytes, in use from time step First to
// time step Last inclusive. Time steps are arbitrary integers; two buffers conflict when their
// [First, Last] ranges intersect. Fixed buffers keep Offset (an offline plan); the planner
// chooses the offset of every other buffer.
type Buffer struct {
	Size        int64
	First, Last int
	Fixed       bool
	Offset      int64
}

// Plan is the result of PlanGreedy: one offset per buffer (same order as the input) and the
// total size, the highest end offset of any buffer.
type Plan struct {
	Offsets []int64
	Size    int64
}

// PlanGreedy places buffers the way TFLM's GreedyMemoryPlanner does, so that the total equals
// the head size a TFLM build reports for the same requests in the same order:
//
//   - Fixed buffers are placed first, in input order, at their offsets.
//   - The other buffers are taken largest first. Among equal sizes the buffer given LATER
//     comes first (TFLM fills its sort array from the back, then sorts stably).
//   - Each buffer goes into the lowest gap, scanning the placed buffers by increasing offset,
//     that lies after every time-overlapping buffer seen so far and is large enough; else
//     after the last time-overlapping buffer.
//
// Sizes are used as given: TFLM first rounds each to BufferAlignment (see AlignUp).
// The work grows with the square of the buffer count in the worst case, as in TFLM.
func PlanGreedy(bufs []Buffer) (*Plan, error) {
	for i, b := range bufs {
		if b.Size < 0 {
			return nil, fmt.Errorf("buffer %d: negative size %d", i, b.Size)
		}
		if b.First > b.Last {
			return nil, fmt.Errorf("buffer %d: first use %d after last use %d", i, b.First, b.Last)
		}
		if b.Fixed && b.Offset < 0 {
			return nil, fmt.Errorf("buffer %d: negative fixed offset %d", i, b.Offset)
		}
	}
	p := &Plan{Offsets: make([]int64, len(bufs))}
	if len(bufs) == 0 {
		return p, nil
	}
	order := make([]int, 0, len(bufs))
	for i, b := range bufs {
		if b.Fixed {
			order = append(order, i)
		}
	}
	nFixed := len(order)
	for i := len(bufs) - 1; i >= 0; i-- {
		if !bufs[i].Fixed {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order[nFixed:], func(a, b int) int { return cmp.Compare(bufs[b].Size, bufs[a].Size) })

	overlaps := func(a, b int) bool {
		return bufs[a].First <= bufs[b].Last && bufs[b].First <= bufs[a].Last
	}
	// placed holds buffer ids ordered by offset; equal offsets keep placement order.
	placed := make([]int, 0, len(bufs))
	for n, id := range order {
		b := bufs[id]
		var at int64
		switch {
		case b.Fixed:
			at = b.Offset
		case n == 0:
			at = 0
		default:
			at = lowestGap(bufs, p.Offsets, placed, id, overlaps)
		}
		p.Offsets[id] = at
		pos, _ := slices.BinarySearchFunc(placed, at+1, func(e int, t int64) int { return cmp.Compare(p.Offsets[e], t) })
		placed = slices.Insert(placed, pos, id)
		p.Size = max(p.Size, at+b.Size)
	}
	return p, nil
}

// lowestGap returns the offset the greedy planner chooses for buffer id given the buffers
// already placed (ordered by offset).
func lowestGap(bufs []Buffer, offsets []int64, placed []int, id int, overlaps func(a, b int) bool) int64 {
	var at int64
	for _, other := range placed {
		if !overlaps(id, other) {
			continue
		}
		if offsets[other]-at >= bufs[id].Size {
			return at
		}
		at = max(at, offsets[other]+bufs[other].Size)
	}
	return at
}
