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

// Stage is QMCU_PATCH_STAGE with the Cortex-M DSP loops, -O2 (int8 constants refitted on the
// first patch stage of each shared model's default rewrite; per layer within -6.4..+5.7% for
// convolutions, -17..+12% for depthwise ones).
var Stage = Kernels{
	Name: "qmcu-dsp",
	coef: map[Kind]coef{
		Conv2D:          {PerMAC: 1.550, PerOutput: 50.63, PerColumn: 9.672, PerPointColumn: 4.434, PerOddColumn: 31.45},
		DepthwiseConv2D: {PerMAC: 10.02, PerOutput: 1.187},
		Add:             {PerOutput: 106.7},
		Pad:             {PerOutput: 0.792},
		MaxPool2D:       {PerMAC: 9.41, PerOutput: 21.87},
		AveragePool2D:   {PerMAC: 9.41, PerOutput: 21.87},
		Other:           {PerOutput: 1},
	},
	transposed: 70.9,
	// Low-bit maps keep the 16-bit multiplies (int8 weights: qmcu_dsp.h says why no packing
	// beats SMLAD), so they cost or save little: packed inputs cost their unpacking (masks,
	// UXTAB16, and for convolutions PKH into the im2col row; depthwise loops at 4 bits spill
	// eight accumulators), packed outputs save stores and clamp with one USAT. Least-squares
	// fits of (stage layer at --bits N, all tiles low) minus (the same layer in int8) on the
	// first stages of the four shared models, in cycles per patch MAC, im2col column and
	// output element.
	lowBit: map[int]map[Kind]lowCoef{
		4: {
			Conv2D:          {InPerMAC: -0.010, InPerColumn: 1.129, OutPerOutput: 5.752},
			DepthwiseConv2D: {InPerMAC: 2.836, OutPerOutput: -2.160},
			Add:             {InPerOutput: 26.70},
			Pad:             {OutPerOutput: -0.519},
		},
		2: {
			Conv2D:          {InPerMAC: 0.382, InPerColumn: -0.012, OutPerOutput: 22.76},
			DepthwiseConv2D: {InPerMAC: 5.457, OutPerOutput: -6.105},
			Add:             {InPerOutput: 27.49},
			Pad:             {OutPerOutput: -0.778},
		},
	},
}
