// Package cost estimates Cortex-M4 cycles of layers without running them: per-kernel cycle
// constants (per MAC, per output element, per im2col element) measured once under QEMU with
// quantmcu's instruction-counting plugin and the static Cortex-M4 timing model of
// host/mcuprof, for two kernel families:
//
//   - CMSISNN: TFLM's CMSIS-NN kernels (the int8 baseline a Cortex-M deployment runs), from
//     TFLM 90b983c2 with CMSIS-NN 4ab83cc3 built for cortex-m4+fp, -O2 kernels;
//   - Stage: QMCU_PATCH_STAGE's loops with the Cortex-M DSP paths (tfmicro_ops/qmcu_dsp.h),
//     -O2, on the patch MACs of a stage (halo recomputation included).
//
// The rewriter prices the original model per layer with CMSISNN and the rewritten one with
// Stage inside the patch stage and CMSISNN outside it; QuantMCU's search can use the same
// function as its cost of a layer (Cycles).
package cost

// Kind is a layer kind the model prices.
type Kind int

// Layer kinds.
const (
	Other Kind = iota
	Conv2D
	DepthwiseConv2D
	FullyConnected
	Add
	Pad
	MaxPool2D
	AveragePool2D
)

// Layer is what the model needs of one layer's execution.
type Layer struct {
	Kind Kind
	// MACs in the analysis convention (full kernel windows; for a patch-stage layer, over all
	// tiles), Outputs the output elements computed, OutC the output channels.
	MACs    int64
	Outputs int64
	OutC    int
	// Taps is the kernel area (height x width) of convolutions: 1 for pointwise ones; InC the
	// input channels.
	Taps, InC int
	// Transposed: the layer reads the stage's NCHW input (a folded TRANSPOSE).
	Transposed bool
	// InBits and OutBits are the activation bitwidths the layer reads and writes (0 means 8).
	InBits, OutBits int
}

// Kernels is a kernel family's cycle constants.
type Kernels struct {
	Name       string
	coef       map[Kind]coef
	transposed float64 // extra cycles per output of a layer reading an NCHW input
	// lowBit: extra cycles of a patch-stage layer reading or writing low-bit maps, by
	// bitwidth (4: 3..7 bits, 2: 1..2 bits) and kind.
	lowBit map[int]map[Kind]lowCoef
}

// lowCoef: with a low-bit input, InPerMAC * MACs + InPerColumn * MACs / OutC + InPerOutput *
// Outputs extra cycles; with a low-bit output, OutPerOutput * Outputs (negative: cheaper).
type lowCoef struct {
	InPerMAC, InPerColumn, InPerOutput, OutPerOutput float64
}

// coef: cycles = PerMAC * MACs + PerOutput * Outputs + PerColumn * MACs / OutC (the im2col
// row elements an output pixel gathers once for all its channels; PerPointColumn for 1x1
// convolutions, which CMSIS-NN runs without an im2col buffer).
// PerOddColumn replaces PerColumn when the input channels are not a multiple of four (a
// slower im2col).
type coef struct {
	PerMAC, PerOutput, PerColumn, PerPointColumn, PerOddColumn float64
}

// Cycles is the estimated Cortex-M4 cycles of l on kernels k.
func (k Kernels) Cycles(l Layer) float64 {
	c, ok := k.coef[l.Kind]
	if !ok {
		c = k.coef[Other]
	}
	cyc := c.PerMAC*float64(l.MACs) + c.PerOutput*float64(l.Outputs)
	if l.OutC > 0 {
		cols := float64(l.MACs) / float64(l.OutC)
		switch {
		case l.InC%4 != 0:
			cyc += c.PerOddColumn * cols
		case l.Taps <= 1:
			cyc += c.PerPointColumn * cols
		default:
			cyc += c.PerColumn * cols
		}
	}
	if l.Transposed {
		cyc += k.transposed * float64(l.Outputs)
	}
	if low(l.InBits) {
		lc := k.lowBit[table(l.InBits)][l.Kind]
		cyc += lc.InPerMAC*float64(l.MACs) + lc.InPerOutput*float64(l.Outputs)
		if l.OutC > 0 {
			cyc += lc.InPerColumn * float64(l.MACs) / float64(l.OutC)
		}
	}
	if low(l.OutBits) {
		cyc += k.lowBit[table(l.OutBits)][l.Kind].OutPerOutput * float64(l.Outputs)
	}
	return cyc
}

func low(bits int) bool { return bits != 0 && bits < 8 }

// table is the lowBit table a bitwidth (or a mean of the inputs' bitwidths) uses.
func table(bits int) int {
	if bits <= 2 {
		return 2
	}
	return 4
}

// Milliseconds converts cycles at a clock in MHz.
func Milliseconds(cycles, mhz float64) float64 { return cycles / (mhz * 1e3) }

// DefaultMHz is the clock the reports state milliseconds at (STM32F4-class Cortex-M4).
const DefaultMHz = 168
