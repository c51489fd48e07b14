package mcuprof

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// PC is one executed instruction address of a segment.
type PC struct {
	Addr  uint64
	Size  int    // bytes (2 or 4 on Thumb)
	Count uint64 // executions
	Taken uint64 // executions after which control did not fall through to Addr+Size
}

// Histogram is what the plugin recorded between one begin and end marker.
type Histogram struct {
	Insns uint64 // executed instructions
	PCs   []PC   // by address
}

// ParseHistograms reads the plugin's output (qemuplugin/qmcu_icount.c documents the format).
func ParseHistograms(r io.Reader) ([]Histogram, error) {
	var out []Histogram
	var cur *Histogram
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && f[0] == "segment" && f[2] == "insns" && cur == nil:
			n, err := strconv.ParseUint(f[3], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("histogram line %d: %w", line, err)
			}
			out = append(out, Histogram{Insns: n})
			cur = &out[len(out)-1]
		case len(f) == 1 && f[0] == "end" && cur != nil:
			var sum uint64
			for _, p := range cur.PCs {
				sum += p.Count
			}
			if sum != cur.Insns {
				return nil, fmt.Errorf("histogram line %d: segment counts %d instructions, its lines %d", line, cur.Insns, sum)
			}
			cur = nil
		case len(f) == 4 && cur != nil:
			addr, e1 := strconv.ParseUint(f[0], 16, 64)
			size, e2 := strconv.Atoi(f[1])
			count, e3 := strconv.ParseUint(f[2], 10, 64)
			taken, e4 := strconv.ParseUint(f[3], 10, 64)
			if e1 != nil || e2 != nil || e3 != nil || e4 != nil || taken > count {
				return nil, fmt.Errorf("histogram line %d: bad entry %q", line, sc.Text())
			}
			cur.PCs = append(cur.PCs, PC{Addr: addr, Size: size, Count: count, Taken: taken})
		default:
			return nil, fmt.Errorf("histogram line %d: unexpected %q", line, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("histogram: segment %d not closed (the guest stopped inside it)", len(out)-1)
	}
	return out, nil
}

// Merge adds histograms address by address.
func Merge(hs []Histogram) Histogram {
	if len(hs) == 1 {
		return hs[0]
	}
	byAddr := map[uint64]*PC{}
	var out Histogram
	for _, h := range hs {
		out.Insns += h.Insns
		for _, p := range h.PCs {
			if q := byAddr[p.Addr]; q != nil {
				q.Count += p.Count
				q.Taken += p.Taken
			} else {
				c := p
				byAddr[p.Addr] = &c
			}
		}
	}
	for _, p := range byAddr {
		out.PCs = append(out.PCs, *p)
	}
	sort.Slice(out.PCs, func(i, j int) bool { return out.PCs[i].Addr < out.PCs[j].Addr })
	return out
}
