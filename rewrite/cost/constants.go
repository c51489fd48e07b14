package cost

// The constants below are least-squares fits (relative error) of per-layer cycle estimates on
// the four shared patchable models (person_detect, vww_96_int8, ResNet-8, MobileNetV2 on
// real inputs), measured with host/mcuprof's plugin and Cortex-M4 cost table; see
// host/mcuprof/models_test.go for the stage side.

// CMSISNN is TFLM's CMSIS-NN int8 kernels layer by layer (TFLM 90b983c2, CMSIS-NN 4ab83cc3,
// cortex-m4+fp, outside this repository).
var CMSISNN = Kernels{
	Name: "cmsis-nn",
	coef: map[Kind]coef{
		Conv2D:          {PerMAC: 1.694, PerOutput: 48.10, PerColumn: 15.28, PerPointColumn: 8.207, PerOddColumn: 41.45},
		DepthwiseConv2D: {PerMAC: 9.496},
		FullyConnected:  {PerMAC: 2.584, PerOutput: 148.2},
		Add:             {PerOutput: 101.9},
		Pad:             {PerOutput: 0.795},
		MaxPool2D:       {PerMAC: 9.41, PerOutput: 21.87},
		AveragePool2D:   {PerMAC: 9.41, PerOutput: 21.87},
		Other:           {PerMAC: 194.1, PerOutput: 1.505},
	},
}

// Stage is QMCU_PATCH_STAGE with the Cortex-M DSP loops, -O2.
var Stage = Kernels{
	Name: "qmcu-dsp",
	coef: map[Kind]coef{
		Conv2D:          {PerMAC: 1.288, PerOutput: 56.97, PerColumn: 11.87, PerPointColumn: 11.59, PerOddColumn: 35.41},
		DepthwiseConv2D: {PerMAC: 10.18},
		Add:             {PerOutput: 104.5},
		Pad:             {PerOutput: 0.792},
		MaxPool2D:       {PerMAC: 9.41, PerOutput: 21.87},
		AveragePool2D:   {PerMAC: 9.41, PerOutput: 21.87},
		Other:           {PerOutput: 1},
	},
	transposed: 70.9,
	// Low-bit maps run through unpacking and packing around the same 16-bit multiplies (no
	// low-bit multiply-accumulate loops yet): measured on whole stages at --bits 4, MobileNetV2
	// +3.4 and vww_96_int8 +3.0 cycles per patch MAC (person_detect +5.8), all tiles low.
	lowBit: coef{PerMAC: 3.4},
}
