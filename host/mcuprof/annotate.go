package mcuprof

import (
	"fmt"
	"io"
	"sort"
)

// Annotate writes the instructions of function fn executed in h, in address order, with their
// execution counts, taken transfers and estimated cycles (for reading hot loops).
func (c CostM4) Annotate(w io.Writer, h Histogram, dis map[uint64]Insn, syms []Symbol, fn string) error {
	var sym *Symbol
	for i := range syms {
		if syms[i].Name == fn {
			sym = &syms[i]
			break
		}
	}
	if sym == nil {
		return fmt.Errorf("no function %q in the image", fn)
	}
	cyc := c.PerPC(h, dis)
	pcs := append([]PC(nil), h.PCs...)
	sort.Slice(pcs, func(i, j int) bool { return pcs[i].Addr < pcs[j].Addr })
	for _, p := range pcs {
		if p.Addr < sym.Lo || p.Addr >= sym.Hi {
			continue
		}
		in := dis[p.Addr]
		fmt.Fprintf(w, "%8x %10d %10d %12.0f  %s %s\n", p.Addr, p.Count, p.Taken, cyc[p.Addr], in.Mnemonic, in.Operands)
	}
	return nil
}
