package mcuprof

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Insn is one disassembled instruction of an image.
type Insn struct {
	Addr     uint64
	Mnemonic string // lower case, without the .w/.n width suffix
	Operands string
}

var objdumpLine = regexp.MustCompile(`^\s*([0-9a-f]+):\t(\S+)(?:\t(.*))?$`)

// Disassemble lists the instructions of an ELF image with arm-none-eabi-objdump.
func (t Tools) Disassemble(elfPath string) (map[uint64]Insn, error) {
	out, err := exec.Command(t.Objdump, "-d", "--no-show-raw-insn", elfPath).Output()
	if err != nil {
		return nil, fmt.Errorf("objdump %s: %w", elfPath, err)
	}
	return parseObjdump(out), nil
}

func parseObjdump(out []byte) map[uint64]Insn {
	m := map[uint64]Insn{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		g := objdumpLine.FindStringSubmatch(sc.Text())
		if g == nil {
			continue
		}
		addr, err := strconv.ParseUint(g[1], 16, 64)
		if err != nil {
			continue
		}
		mn := strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(g[2]), ".w"), ".n")
		ops := g[3]
		if i := strings.Index(ops, ";"); i >= 0 {
			ops = ops[:i]
		}
		if i := strings.Index(ops, "@"); i >= 0 {
			ops = ops[:i]
		}
		m[addr] = Insn{Addr: addr, Mnemonic: mn, Operands: strings.TrimSpace(ops)}
	}
	return m
}

// CostM4 is the static Cortex-M4 timing model applied to a histogram, after the Cortex-M4
// Technical Reference Manual's instruction timings (zero wait-state memory):
//   - data processing, multiply and multiply-accumulate (MUL, MLA, SMLAD, SMLAL, ...), extend,
//     saturate, bit-field and IT instructions: 1 cycle; SDIV/UDIV: 7 (2-12);
//   - load single (LDR, LDRB, LDRSB, LDRH, ...): 2 cycles, 1 when it pipelines after a
//     preceding load single whose result does not form its address; store single: 1;
//   - a load or store whose address register was written by the instruction before it: +1
//     (no forwarding to the address generation unit);
//   - LDM/STM/PUSH/POP/LDRD/STRD/VPUSH/VPOP: 1 + registers transferred;
//   - every taken control transfer (branch, call, return, load or write of PC): +BranchPenalty
//     (the TRM's P, a 1-3 cycle pipeline refill) on top of the instruction's own cycle.
//
// Adjacency (pipelining, address dependencies) is taken from the static instruction order and
// applied to the executions that fell through from the previous instruction.
type CostM4 struct {
	BranchPenalty float64
}

// DefaultCostM4 uses the middle of the TRM's refill range.
var DefaultCostM4 = CostM4{BranchPenalty: 2}

// class of an instruction for the cost table.
type class int

const (
	clALU class = iota
	clDiv
	clLoad
	clStore
	clMulti
	clBranch
)

type decoded struct {
	cl       class
	regs     int      // transferred registers (clMulti)
	dst      []string // registers written
	addrRegs []string // registers forming a load/store address
}

var regRe = regexp.MustCompile(`\b(r1[0-2]|r[0-9]|ip|sp|lr|pc|fp|sl|sb)\b`)

func regs(s string) []string { return regRe.FindAllString(s, -1) }

// decode classifies one instruction; conditional suffixes inside IT blocks are kept in the
// mnemonic and matched by prefix.
func decode(in Insn) decoded {
	mn, ops := in.Mnemonic, in.Operands
	firstReg := func() []string {
		if r := regs(strings.SplitN(ops, ",", 2)[0]); len(r) > 0 {
			return r[:1]
		}
		return nil
	}
	addr := func() (string, bool) {
		i := strings.Index(ops, "[")
		j := strings.Index(ops, "]")
		if i < 0 || j < i {
			return "", false
		}
		return ops[i+1 : j], strings.HasSuffix(strings.TrimSpace(ops), "!") || strings.Contains(ops[j:], ",")
	}
	switch {
	case strings.HasPrefix(mn, "push") || strings.HasPrefix(mn, "pop") || strings.HasPrefix(mn, "ldm") ||
		strings.HasPrefix(mn, "stm") || strings.HasPrefix(mn, "vpush") || strings.HasPrefix(mn, "vpop") ||
		strings.HasPrefix(mn, "vldm") || strings.HasPrefix(mn, "vstm"):
		n := len(regs(ops[strings.Index(ops, "{")+1:]))
		if strings.HasPrefix(mn, "v") {
			n = strings.Count(ops, "d") + strings.Count(ops, "s") // register-list entries
		}
		return decoded{cl: clMulti, regs: n}
	case strings.HasPrefix(mn, "ldrd") || strings.HasPrefix(mn, "strd"):
		a, _ := addr()
		return decoded{cl: clMulti, regs: 2, addrRegs: regs(a)}
	case strings.HasPrefix(mn, "ldr") || strings.HasPrefix(mn, "vldr") || strings.HasPrefix(mn, "ldrex"):
		a, wb := addr()
		d := firstReg()
		if wb {
			d = append(d, regs(a)[:min(1, len(regs(a)))]...)
		}
		return decoded{cl: clLoad, dst: d, addrRegs: regs(a)}
	case strings.HasPrefix(mn, "str") || strings.HasPrefix(mn, "vstr") || strings.HasPrefix(mn, "strex"):
		a, wb := addr()
		var d []string
		if wb {
			d = regs(a)[:min(1, len(regs(a)))]
		}
		return decoded{cl: clStore, dst: d, addrRegs: regs(a)}
	case strings.HasPrefix(mn, "sdiv") || strings.HasPrefix(mn, "udiv"):
		return decoded{cl: clDiv, dst: firstReg()}
	case mn == "b" || strings.HasPrefix(mn, "b.") || mn == "bl" || mn == "blx" || mn == "bx" ||
		strings.HasPrefix(mn, "cbz") || strings.HasPrefix(mn, "cbnz") || strings.HasPrefix(mn, "tbb") || strings.HasPrefix(mn, "tbh") ||
		(len(mn) == 3 && mn[0] == 'b' && isCond(mn[1:])):
		return decoded{cl: clBranch}
	}
	var d []string
	if !strings.HasPrefix(mn, "cmp") && !strings.HasPrefix(mn, "cmn") && !strings.HasPrefix(mn, "tst") && !strings.HasPrefix(mn, "teq") && !strings.HasPrefix(mn, "it") {
		d = firstReg()
		if strings.HasPrefix(mn, "smlal") || strings.HasPrefix(mn, "umlal") || strings.HasPrefix(mn, "smull") || strings.HasPrefix(mn, "umull") {
			d = regs(ops)[:min(2, len(regs(ops)))]
		}
	}
	return decoded{cl: clALU, dst: d}
}

func isCond(s string) bool {
	switch s {
	case "eq", "ne", "cs", "cc", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al":
		return true
	}
	return false
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// Cycles estimates the Cortex-M4 cycles of the instructions of h, given the image's
// disassembly.
func (c CostM4) Cycles(h Histogram, dis map[uint64]Insn) float64 {
	total := 0.0
	for _, v := range c.PerPC(h, dis) {
		total += v
	}
	return total
}

// PerPC estimates the cycles spent at each address of h. Addresses missing from dis cost 1
// cycle per execution.
func (c CostM4) PerPC(h Histogram, dis map[uint64]Insn) map[uint64]float64 {
	byAddr := make(map[uint64]PC, len(h.PCs))
	for _, p := range h.PCs {
		byAddr[p.Addr] = p
	}
	out := make(map[uint64]float64, len(h.PCs))
	for _, p := range h.PCs {
		in, ok := dis[p.Addr]
		if !ok {
			out[p.Addr] = float64(p.Count)
			continue
		}
		d := decode(in)
		n := float64(p.Count)
		cyc := 0.0
		switch d.cl {
		case clALU, clBranch:
			cyc = n
		case clDiv:
			cyc = 7 * n
		case clStore:
			cyc = n
		case clLoad:
			cyc = 2 * n
		case clMulti:
			cyc = float64(1+d.regs) * n
		}
		// Adjacent-instruction effects apply to the executions that fell through from the
		// instruction just before (the histogram knows how often it did not).
		if prev, prevIn, ok := previous(p.Addr, byAddr, dis); ok && (d.cl == clLoad || d.cl == clStore || d.cl == clMulti) {
			through := float64(prev.Count - prev.Taken)
			if through > n {
				through = n
			}
			pd := decode(prevIn)
			switch {
			case pd.cl == clLoad && d.cl == clLoad && !intersects(pd.dst, d.addrRegs):
				cyc -= through // pipelined load
			case pd.cl == clALU && intersects(pd.dst, d.addrRegs):
				cyc += through // address from the previous data-processing result
			}
		}
		out[p.Addr] = cyc + c.BranchPenalty*float64(p.Taken)
	}
	return out
}

// previous finds the instruction ending at addr (2 or 4 bytes before).
func previous(addr uint64, byAddr map[uint64]PC, dis map[uint64]Insn) (PC, Insn, bool) {
	for _, back := range []uint64{2, 4} {
		if addr < back {
			continue
		}
		if p, ok := byAddr[addr-back]; ok && p.Addr+uint64(p.Size) == addr {
			if in, ok := dis[p.Addr]; ok {
				return p, in, true
			}
		}
	}
	return PC{}, Insn{}, false
}

// FunctionCount is the share of one function of an image in a histogram.
type FunctionCount struct {
	Name   string
	Insns  uint64
	Cycles float64
}

// ByFunction splits h by the symbols of an image, most cycles first (instructions outside
// every symbol go to "?").
func (c CostM4) ByFunction(h Histogram, dis map[uint64]Insn, syms []Symbol) []FunctionCount {
	sorted := append([]Symbol(nil), syms...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Lo < sorted[j].Lo })
	acc := map[string]*FunctionCount{}
	find := func(a uint64) string {
		i := sort.Search(len(sorted), func(i int) bool { return sorted[i].Lo > a }) - 1
		if i >= 0 && a < sorted[i].Hi {
			return sorted[i].Name
		}
		return "?"
	}
	cyc := c.PerPC(h, dis)
	for _, p := range h.PCs {
		name := find(p.Addr)
		fc := acc[name]
		if fc == nil {
			fc = &FunctionCount{Name: name}
			acc[name] = fc
		}
		fc.Insns += p.Count
		fc.Cycles += cyc[p.Addr]
	}
	var out []FunctionCount
	for _, fc := range acc {
		out = append(out, *fc)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Cycles > out[j].Cycles || out[i].Cycles == out[j].Cycles && out[i].Name < out[j].Name
	})
	return out
}
