package analysis

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// OfflinePlanName is the model metadata entry TFLM reads an offline memory plan from
// (micro_allocation_info.cc, GetOfflinePlannedOffsets; format in TFLM's
// docs/memory_management.md): little-endian int32 words [version, subgraphs, n, offset of
// tensor 0, ..., offset of tensor n-1], tensors of all subgraphs concatenated, -1 = planned
// online. TFLM reads only n and the offsets, refuses the model when n differs from the
// model's tensor count, and hands every planned tensor with an offset to its
// GreedyMemoryPlanner as a fixed buffer at that offset from the start of the arena head;
// the other buffers (scratch requests included) are placed around them.
const OfflinePlanName = "OfflineMemoryAllocation"

// offlinePlanVersion is the format version written into word 0 (TFLM ignores it; Vela
// writes 1).
const offlinePlanVersion = 1

// EncodeOfflinePlan returns the OfflineMemoryAllocation metadata for a model with the given
// number of subgraphs: offsets lists every tensor of every subgraph in order (-1 = online).
func EncodeOfflinePlan(subgraphs int, offsets []int64) ([]byte, error) {
	b := make([]byte, 0, 4*(3+len(offsets)))
	if len(offsets) > math.MaxInt32 {
		return nil, fmt.Errorf("offline plan: %d tensors", len(offsets))
	}
	b = binary.LittleEndian.AppendUint32(b, offlinePlanVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(subgraphs))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(offsets)))
	for i, o := range offsets {
		if o < -1 || o > math.MaxInt32 {
			return nil, fmt.Errorf("offline plan: tensor %d: offset %d out of range", i, o)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(o)))
	}
	return b, nil
}

// Overlap lets buffers A and B (indices into the buffers given to PlanOverlapping), which are
// in use at the same time, share memory: B starts Displacement bytes after A (before it when
// negative). The caller guarantees that the data stays correct, e.g. an operator that writes
// its output B only over bytes of its input A it has finished reading. Displacement must be
// a multiple of BufferAlignment.
type Overlap struct {
	A, B         int
	Displacement int64
}

// OverlapPlan is an offline plan found by PlanOverlapping.
type OverlapPlan struct {
	// Buffers are the buffers given, with the offline-planned ones Fixed at their offsets:
	// what TFLM's planner receives when the model carries this plan.
	Buffers []Buffer
	// Plan is PlanGreedy(Buffers), the arena TFLM plans then; Online is the size without
	// the offline plan.
	Plan   *Plan
	Online int64
}

// PlanOverlapping looks for an offline plan in which the overlaps ov hold and TFLM's arena
// head is smaller than without one. Buffers linked by overlaps form groups with fixed
// relative offsets. fixable[i] says whether buffer i can take an offline offset (tensors
// can, kernel scratch requests cannot; nil: every buffer). Three plans are tried, each
// predicted exactly as TFLM's planner completes it (PlanGreedy):
//   - the groups at the lowest offsets free of conflicts, largest span first, the rest online;
//   - the groups where the greedy planner puts each treated as one buffer spanning it for
//     its whole lifetime, the rest online;
//   - every buffer placed like the greedy planner does (largest first, lowest offset free
//     of conflicts) with each group as one unit whose members keep their own lifetimes,
//     then every fixable buffer fixed there and the rest left to TFLM; with the groups in
//     their turn by span, with the groups after all other buffers (which leaves the later
//     layers' layout as the online plan has it), and with every unit in order of first use
//     (a linear scan, which suits chains of layers around several groups).
//
// It returns the smallest, or nil when none beats the online plan (or ov is empty).
func PlanOverlapping(bufs []Buffer, fixable []bool, ov []Overlap) (*OverlapPlan, error) {
	online, err := PlanGreedy(bufs)
	if err != nil {
		return nil, err
	}
	for _, o := range ov {
		if o.A >= 0 && o.A < len(bufs) && o.B >= 0 && o.B < len(bufs) && (bufs[o.A].Fixed || bufs[o.B].Fixed) {
			return nil, nil // the model's own offline plan places them already
		}
	}
	if len(ov) == 0 {
		return nil, nil
	}
	if fixable != nil && len(fixable) != len(bufs) {
		return nil, fmt.Errorf("overlap plan: %d fixable flags for %d buffers", len(fixable), len(bufs))
	}
	canFix := func(i int) bool { return fixable == nil || fixable[i] }
	groups, err := overlapGroups(bufs, ov)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		for _, id := range g.members {
			if !canFix(id) {
				return nil, fmt.Errorf("overlap plan: buffer %d cannot take an offline offset", id)
			}
		}
	}
	var variants [][]Buffer
	for _, place := range []func([]Buffer, []group) ([]int64, error){placeGroupsLowest, placeGroupsGreedy} {
		bases, err := place(bufs, groups)
		if err != nil {
			return nil, err
		}
		fixed := slices.Clone(bufs)
		for gi, g := range groups {
			for k, id := range g.members {
				fixed[id].Fixed, fixed[id].Offset = true, bases[gi]+g.rel[k]
			}
		}
		variants = append(variants, fixed)
	}
	for _, order := range []unitOrder{bySize, groupsLast, byFirstUse} {
		all := slices.Clone(bufs)
		for i, o := range placeUnits(bufs, groups, order) {
			if canFix(i) && !all[i].Fixed {
				all[i].Fixed, all[i].Offset = true, o
			}
		}
		variants = append(variants, all)
	}

	var best *OverlapPlan
	for _, fixed := range variants {
		if !fixedConsistent(fixed, ov) {
			continue
		}
		p, err := PlanGreedy(fixed)
		if err != nil {
			return nil, err
		}
		if p.Size < online.Size && (best == nil || p.Size < best.Plan.Size) {
			best = &OverlapPlan{Buffers: fixed, Plan: p, Online: online.Size}
		}
	}
	return best, nil
}

// group is a set of buffers with fixed offsets relative to each other (the lowest at 0).
type group struct {
	members []int   // buffer indices, increasing
	rel     []int64 // offset of each member from the group's base
	span    int64   // highest member end
}

// overlapGroups joins the buffers the overlaps link and gives each member its offset from
// the group's lowest member.
func overlapGroups(bufs []Buffer, ov []Overlap) ([]group, error) {
	rel := map[int]int64{}
	adj := map[int][]Overlap{}
	for i, o := range ov {
		switch {
		case o.A < 0 || o.A >= len(bufs) || o.B < 0 || o.B >= len(bufs) || o.A == o.B:
			return nil, fmt.Errorf("overlap %d: buffers %d and %d of %d", i, o.A, o.B, len(bufs))
		case o.Displacement%BufferAlignment != 0:
			return nil, fmt.Errorf("overlap %d: displacement %d is not a multiple of %d", i, o.Displacement, BufferAlignment)
		}
		adj[o.A] = append(adj[o.A], o)
		adj[o.B] = append(adj[o.B], o)
	}
	starts := make([]int, 0, len(adj))
	for id := range adj {
		starts = append(starts, id)
	}
	slices.Sort(starts)
	var groups []group
	for _, s := range starts {
		if _, seen := rel[s]; seen {
			continue
		}
		rel[s] = 0
		queue, members := []int{s}, []int{s}
		for len(queue) > 0 {
			id := queue[0]
			queue = queue[1:]
			for _, o := range adj[id] {
				other, at := o.B, rel[id]+o.Displacement
				if id == o.B {
					other, at = o.A, rel[id]-o.Displacement
				}
				if r, seen := rel[other]; seen {
					if r != at {
						return nil, fmt.Errorf("overlaps give buffer %d two offsets", other)
					}
					continue
				}
				rel[other] = at
				queue = append(queue, other)
				members = append(members, other)
			}
		}
		slices.Sort(members)
		g := group{members: members}
		low := rel[members[0]]
		for _, id := range members {
			low = min(low, rel[id])
		}
		for _, id := range members {
			g.rel = append(g.rel, rel[id]-low)
			g.span = max(g.span, rel[id]-low+bufs[id].Size)
		}
		groups = append(groups, g)
	}
	return groups, nil
}

func timeOverlap(a, b Buffer) bool { return a.First <= b.Last && b.First <= a.Last }

// fixedConsistent reports whether no two fixed buffers share memory while both are in use,
// except the pairs ov allows.
func fixedConsistent(bufs []Buffer, ov []Overlap) bool {
	allowed := map[[2]int]bool{}
	for _, o := range ov {
		allowed[[2]int{o.A, o.B}], allowed[[2]int{o.B, o.A}] = true, true
	}
	for i, a := range bufs {
		for j := i + 1; j < len(bufs); j++ {
			b := bufs[j]
			if !a.Fixed || !b.Fixed || allowed[[2]int{i, j}] || !timeOverlap(a, b) || a.Size == 0 || b.Size == 0 {
				continue
			}
			if a.Offset < b.Offset+b.Size && b.Offset < a.Offset+a.Size {
				return false
			}
		}
	}
	return true
}

// placeGroupsLowest gives each group, by decreasing span, the lowest base at which none of
// its members shares memory with a member of a group placed before while both are in use.
func placeGroupsLowest(bufs []Buffer, groups []group) ([]int64, error) {
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(groups[b].span, groups[a].span) })
	bases := make([]int64, len(groups))
	var placed []int
	for _, gi := range order {
		g := groups[gi]
		cands := []int64{0}
		for _, pj := range placed {
			p := groups[pj]
			for k, id := range p.members {
				for m := range g.members {
					if x := bases[pj] + p.rel[k] + bufs[id].Size - g.rel[m]; x > 0 {
						cands = append(cands, x)
					}
				}
			}
		}
		slices.Sort(cands)
		fits := func(x int64) bool {
			for _, pj := range placed {
				p := groups[pj]
				for k, id := range p.members {
					for m, mid := range g.members {
						a, b := bufs[id], bufs[mid]
						ao, bo := bases[pj]+p.rel[k], x+g.rel[m]
						if timeOverlap(a, b) && ao < bo+b.Size && bo < ao+a.Size {
							return false
						}
					}
				}
			}
			return true
		}
		for _, x := range cands {
			if fits(x) {
				bases[gi] = x
				break
			}
		}
		placed = append(placed, gi)
	}
	return bases, nil
}

// placeGroupsGreedy plans the buffers with each group replaced by one buffer spanning the
// group over the union of its members' lifetimes (at its lowest member's place in the order)
// and returns where the greedy planner puts those.
func placeGroupsGreedy(bufs []Buffer, groups []group) ([]int64, error) {
	at := map[int]int{} // buffer index -> group, for the group's lowest member
	in := map[int]bool{}
	for gi, g := range groups {
		at[g.members[0]] = gi
		for _, id := range g.members {
			in[id] = true
		}
	}
	var merged []Buffer
	pos := make([]int, len(groups))
	for id, b := range bufs {
		if gi, ok := at[id]; ok {
			g := groups[gi]
			mb := Buffer{Size: g.span, First: bufs[g.members[0]].First, Last: bufs[g.members[0]].Last}
			for _, m := range g.members {
				mb.First, mb.Last = min(mb.First, bufs[m].First), max(mb.Last, bufs[m].Last)
			}
			pos[gi] = len(merged)
			merged = append(merged, mb)
			continue
		}
		if !in[id] {
			merged = append(merged, b)
		}
	}
	p, err := PlanGreedy(merged)
	if err != nil {
		return nil, err
	}
	bases := make([]int64, len(groups))
	for gi := range groups {
		bases[gi] = p.Offsets[pos[gi]]
	}
	return bases, nil
}

func countFixed(bufs []Buffer) int {
	n := 0
	for _, b := range bufs {
		if b.Fixed {
			n++
		}
	}
	return n
}

// onlineSize is the head PlanGreedy gives bufs with every offline offset dropped.
func onlineSize(bufs []Buffer) (int64, error) {
	free := slices.Clone(bufs)
	for i := range free {
		free[i].Fixed, free[i].Offset = false, 0
	}
	p, err := PlanGreedy(free)
	if err != nil {
		return 0, err
	}
	return p.Size, nil
}

// unitOrder is the order in which placeUnits places its units.
type unitOrder int

const (
	bySize     unitOrder = iota // largest first, as TFLM's planner (groups first among equals)
	groupsLast                  // by size, but every group after the single buffers
	byFirstUse                  // by first use, larger first among equals
)

// placeUnits places every buffer as the greedy planner would (fixed buffers at their
// offsets; then largest first, later buffers first among equal sizes; each at the lowest
// offset where it meets no placed buffer in use at the same time), except that each group
// is placed as one unit: its span decides its turn (order changes the turns), and its
// members, at their relative offsets, must each fit. It returns one offset per buffer.
func placeUnits(bufs []Buffer, groups []group, order unitOrder) []int64 {
	type unit struct {
		members []int
		rel     []int64
		size    int64
		first   int // first use of any member
	}
	inGroup := map[int]bool{}
	var units []unit
	for _, g := range groups {
		first := bufs[g.members[0]].First
		for _, id := range g.members {
			first = min(first, bufs[id].First)
		}
		units = append(units, unit{g.members, g.rel, g.span, first})
		for _, id := range g.members {
			inGroup[id] = true
		}
	}
	offsets := make([]int64, len(bufs))
	var placed []int
	for i := len(bufs) - 1; i >= 0; i-- {
		switch {
		case bufs[i].Fixed:
			offsets[i] = bufs[i].Offset
			placed = append(placed, i)
		case !inGroup[i]:
			units = append(units, unit{[]int{i}, []int64{0}, bufs[i].Size, bufs[i].First})
		}
	}
	// Groups come first among equal sizes: they were added before the single buffers.
	slices.SortStableFunc(units, func(a, b unit) int { return cmp.Compare(b.size, a.size) })
	switch order {
	case groupsLast:
		slices.SortStableFunc(units, func(a, b unit) int { return cmp.Compare(btoi(len(a.members) > 1), btoi(len(b.members) > 1)) })
	case byFirstUse:
		slices.SortStableFunc(units, func(a, b unit) int { return cmp.Compare(a.first, b.first) })
	}
	for _, u := range units {
		cands := []int64{0}
		for _, p := range placed {
			for k, id := range u.members {
				if timeOverlap(bufs[p], bufs[id]) {
					if x := offsets[p] + bufs[p].Size - u.rel[k]; x > 0 {
						cands = append(cands, x)
					}
				}
			}
		}
		slices.Sort(cands)
		fits := func(x int64) bool {
			for _, p := range placed {
				for k, id := range u.members {
					o := x + u.rel[k]
					if timeOverlap(bufs[p], bufs[id]) && bufs[p].Size > 0 && bufs[id].Size > 0 &&
						o < offsets[p]+bufs[p].Size && offsets[p] < o+bufs[id].Size {
						return false
					}
				}
			}
			return true
		}
		at := cands[len(cands)-1]
		for _, x := range cands {
			if fits(x) {
				at = x
				break
			}
		}
		for k, id := range u.members {
			offsets[id] = at + u.rel[k]
			placed = append(placed, id)
		}
	}
	return offsets
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// maxSharedFixed bounds the offline-planned buffers whose pairs sharedBytes examines.
const maxSharedFixed = 2048

// sharedBytes subtracts, in the per-operator live-byte difference array diff, the bytes that
// two offline-planned buffers share while both are live (ops: each planned buffer's operator
// interval, empty when [0] > [1]). Only offline plans overlap buffers in use together; TFLM's
// own planner never does.
func (r *Report) sharedBytes(ops [][2]int, diff []int64) {
	var fixed []int
	for i, b := range r.Planned {
		if b.Fixed {
			fixed = append(fixed, i)
		}
	}
	if len(fixed) > maxSharedFixed {
		r.Warnings = append(r.Warnings, fmt.Sprintf("live bytes count memory that offline-planned buffers share twice: the offline plan fixes %d buffers", len(fixed)))
		return
	}
	for x, i := range fixed {
		for _, j := range fixed[x+1:] {
			a, b := r.Planned[i], r.Planned[j]
			lo, hi := max(ops[i][0], ops[j][0]), min(ops[i][1], ops[j][1])
			shared := min(a.Offset+a.Bytes, b.Offset+b.Bytes) - max(a.Offset, b.Offset)
			if lo > hi || shared <= 0 {
				continue
			}
			diff[lo] -= shared
			diff[hi+1] += shared
		}
	}
}
