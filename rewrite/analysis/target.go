package analysis

import (
	"fmt"
	"maps"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Target names the TFLM build an arena is predicted for: its data model decides the sizes of
// the structs TFLM keeps in the arena's persistent tail.
type Target string

// Targets.
const (
	// TargetCortexM is a 32-bit Arm Cortex-M build (arm-none-eabi-gcc, AAPCS: 4-byte
	// pointers, enums as small as their values allow).
	TargetCortexM Target = "cortex-m"
	// TargetHost64 is a 64-bit host build (x86-64 or AArch64 Linux, LP64).
	TargetHost64 Target = "host64"
)

// Kernels names the kernel library a TFLM build links: optimized libraries request other
// scratch buffers and keep other per-operator data.
type Kernels string

// Kernel libraries.
const (
	KernelsReference Kernels = "reference" // TFLM's portable reference kernels
	KernelsCMSISNN   Kernels = "cmsis-nn"  // TFLM's CMSIS-NN kernels (OPTIMIZED_KERNEL_DIR=cmsis_nn)
)

// ParseTarget checks a --target value ("" is cortex-m).
func ParseTarget(s string) (Target, error) {
	switch Target(s) {
	case "", TargetCortexM:
		return TargetCortexM, nil
	case TargetHost64:
		return TargetHost64, nil
	}
	return "", fmt.Errorf("unknown target %q (want cortex-m or host64)", s)
}

// ParseKernels checks a --kernels value ("" is reference) for target t.
func ParseKernels(s string, t Target) (Kernels, error) {
	switch Kernels(s) {
	case "", KernelsReference:
		return KernelsReference, nil
	case KernelsCMSISNN:
		if t == TargetHost64 {
			return "", fmt.Errorf("--kernels cmsis-nn needs --target cortex-m (CMSIS-NN's scratch sizes are those of its Arm DSP paths)")
		}
		return KernelsCMSISNN, nil
	}
	return "", fmt.Errorf("unknown kernels %q (want reference or cmsis-nn)", s)
}

// sized is a struct's size and alignment on a target.
type sized struct{ size, align int64 }

// abi holds the sizes TFLM's persistent allocations take on one target. Values were read
// with sizeof/alignof from TFLM 90b983c2 compiled by g++ 12 for x86-64 and by
// arm-none-eabi-g++ 12 for Cortex-M4, and checked against the allocations of real builds.
type abi struct {
	pointer int64
	// Runtime objects MicroInterpreter creates in the arena.
	arenaAllocator, planner, microAllocator, builtinAllocator sized
	subgraphAllocations, nodeAndRegistration, evalTensor      sized
	tfliteTensor, affineQuantization, scratchHandle           sized
	// Builtin parameter structs (TfLite*Params) by builtin operator.
	params map[schema.BuiltinOperator]sized
	// Kernel op data (the size each kernel's Init allocates) by name.
	opData map[string]int64
}

// Parameter structs whose size differs between the targets (short enums on Arm).
var (
	params32 = map[schema.BuiltinOperator]sized{
		schema.BuiltinOperatorADD: {2, 1}, schema.BuiltinOperatorSUB: {2, 1}, schema.BuiltinOperatorMUL: {1, 1},
		schema.BuiltinOperatorDIV: {1, 1}, schema.BuiltinOperatorFULLY_CONNECTED: {5, 1},
		schema.BuiltinOperatorARG_MAX: {1, 1}, schema.BuiltinOperatorARG_MIN: {1, 1}, schema.BuiltinOperatorCAST: {2, 1},
		schema.BuiltinOperatorSHAPE: {1, 1}, schema.BuiltinOperatorTRANSPOSE_CONV: {16, 4},
		schema.BuiltinOperatorL2_NORMALIZATION: {1, 1}, schema.BuiltinOperatorMIRROR_PAD: {1, 1},
		schema.BuiltinOperatorSVDF: {8, 4},
	}
	params64 = map[schema.BuiltinOperator]sized{
		schema.BuiltinOperatorADD: {8, 4}, schema.BuiltinOperatorSUB: {8, 4}, schema.BuiltinOperatorMUL: {4, 4},
		schema.BuiltinOperatorDIV: {4, 4}, schema.BuiltinOperatorFULLY_CONNECTED: {16, 4},
		schema.BuiltinOperatorARG_MAX: {4, 4}, schema.BuiltinOperatorARG_MIN: {4, 4}, schema.BuiltinOperatorCAST: {8, 4},
		schema.BuiltinOperatorSHAPE: {4, 4}, schema.BuiltinOperatorTRANSPOSE_CONV: {20, 4},
		schema.BuiltinOperatorL2_NORMALIZATION: {4, 4}, schema.BuiltinOperatorMIRROR_PAD: {4, 4},
		schema.BuiltinOperatorSVDF: {12, 4},
	}
	// paramsCommon are the same on both targets.
	paramsCommon = map[schema.BuiltinOperator]sized{
		schema.BuiltinOperatorCONV_2D: {28, 4}, schema.BuiltinOperatorDEPTHWISE_CONV_2D: {28, 4},
		schema.BuiltinOperatorAVERAGE_POOL_2D: {40, 4}, schema.BuiltinOperatorMAX_POOL_2D: {40, 4},
		schema.BuiltinOperatorL2_POOL_2D: {40, 4}, schema.BuiltinOperatorSOFTMAX: {4, 4},
		schema.BuiltinOperatorRESHAPE: {36, 4}, schema.BuiltinOperatorSQUEEZE: {36, 4},
		schema.BuiltinOperatorMEAN: {1, 1}, schema.BuiltinOperatorSUM: {1, 1}, schema.BuiltinOperatorREDUCE_MAX: {1, 1},
		schema.BuiltinOperatorREDUCE_MIN: {1, 1}, schema.BuiltinOperatorREDUCE_PROD: {1, 1},
		schema.BuiltinOperatorREDUCE_ANY: {1, 1}, schema.BuiltinOperatorREDUCE_ALL: {1, 1},
		schema.BuiltinOperatorCONCATENATION: {8, 4}, schema.BuiltinOperatorRESIZE_NEAREST_NEIGHBOR: {2, 1},
		schema.BuiltinOperatorRESIZE_BILINEAR: {2, 1}, schema.BuiltinOperatorSTRIDED_SLICE: {24, 4},
		schema.BuiltinOperatorPACK: {8, 4}, schema.BuiltinOperatorUNPACK: {8, 4}, schema.BuiltinOperatorSPLIT: {4, 4},
		schema.BuiltinOperatorSPLIT_V: {4, 4}, schema.BuiltinOperatorGATHER: {8, 4}, schema.BuiltinOperatorLEAKY_RELU: {4, 4},
		schema.BuiltinOperatorSPACE_TO_DEPTH: {4, 4}, schema.BuiltinOperatorDEPTH_TO_SPACE: {4, 4},
		schema.BuiltinOperatorBATCH_MATMUL: {3, 1}, schema.BuiltinOperatorCUMSUM: {2, 1},
	}
	opData32 = map[string]int64{"conv": 56, "fully_connected": 48, "softmax": 56, "transpose": 16, "concatenation": 24}
	opData64 = map[string]int64{"conv": 72, "fully_connected": 64, "softmax": 80, "transpose": 32, "concatenation": 40}
	// opDataCommon are the same on both targets.
	opDataCommon = map[string]int64{
		"add": 60, "sub": 52, "mul": 36, "pooling": 32, "reduce": 44, "quantize": 32, "dequantize": 32,
		"logistic": 16, "pad": 56, "leaky_relu": 24, "relu": 28, "relu6": 8, "hard_swish": 20,
		"strided_slice": 84, "prelu": 28, "tanh": 16,
	}
)

func abiOf(t Target) *abi {
	a := &abi{params: map[schema.BuiltinOperator]sized{}, opData: map[string]int64{}}
	p, d := params32, opData32
	if t == TargetHost64 {
		p, d = params64, opData64
		a.pointer = 8
		a.arenaAllocator, a.planner, a.microAllocator, a.builtinAllocator = sized{72, 8}, sized{72, 8}, sized{72, 8}, sized{16, 8}
		a.subgraphAllocations, a.nodeAndRegistration, a.evalTensor = sized{16, 8}, sized{64, 8}, sized{24, 8}
		a.tfliteTensor, a.affineQuantization, a.scratchHandle = sized{64, 8}, sized{24, 8}, sized{8, 8}
	} else {
		a.pointer = 4
		a.arenaAllocator, a.planner, a.microAllocator, a.builtinAllocator = sized{36, 4}, sized{44, 4}, sized{36, 4}, sized{8, 4}
		a.subgraphAllocations, a.nodeAndRegistration, a.evalTensor = sized{8, 4}, sized{32, 4}, sized{12, 4}
		a.tfliteTensor, a.affineQuantization, a.scratchHandle = sized{32, 4}, sized{12, 4}, sized{4, 4}
	}
	maps.Copy(a.params, paramsCommon)
	maps.Copy(a.params, p)
	maps.Copy(a.opData, opDataCommon)
	maps.Copy(a.opData, d)
	return a
}

// PointerBytes is the pointer size of target t.
func PointerBytes(t Target) int64 { return abiOf(t).pointer }
