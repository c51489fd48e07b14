package builder

import (
	"math"
	"strconv"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Conv describes a CONV_2D or DEPTHWISE_CONV_2D layer.
type Conv struct {
	Name        string
	OutChannels int // CONV_2D only; DEPTHWISE_CONV_2D uses in_channels * DepthMultiplier
	Kernel      int // square kernel size; KernelH/KernelW override
	KernelH     int
	KernelW     int
	Stride      int // default 1
	Dilation    int // default 1
	// DepthMultiplier for DEPTHWISE_CONV_2D (default 1).
	DepthMultiplier int
	Padding         schema.Padding
	Activation      schema.ActivationFunctionType
	// Out overrides the output quantization chosen from the spread estimate.
	Out *Quant
}

func (c Conv) geometry() (kh, kw, stride, dil int) {
	kh, kw = c.Kernel, c.Kernel
	if c.KernelH > 0 {
		kh = c.KernelH
	}
	if c.KernelW > 0 {
		kw = c.KernelW
	}
	stride, dil = max(c.Stride, 1), max(c.Dilation, 1)
	return
}

// OutputSize is the spatial output size of a windowed op as TFLite computes it.
func OutputSize(in, kernel, stride, dilation int, padding schema.Padding) int {
	eff := (kernel-1)*dilation + 1
	if padding == schema.PaddingSAME {
		return (in + stride - 1) / stride
	}
	if in < eff {
		return 0
	}
	return (in-eff)/stride + 1
}

func (b *Builder) outName(name, kind string) string {
	if name != "" {
		return name
	}
	return kind + "_" + strconv.Itoa(len(b.sg.Operators))
}

func (b *Builder) checkNHWC(in Tensor, what string) bool {
	if len(in.Shape) != 4 {
		b.fail("%s: input must be 4-D NHWC, got shape %v", what, in.Shape)
		return false
	}
	return true
}

// Conv2D adds a CONV_2D with generated per-channel weights and bias.
func (b *Builder) Conv2D(in Tensor, c Conv) Tensor {
	if b.err != nil || !b.checkNHWC(in, "CONV_2D") {
		return Tensor{}
	}
	kh, kw, stride, dil := c.geometry()
	inC := int(in.Shape[3])
	oh := OutputSize(int(in.Shape[1]), kh, stride, dil, c.Padding)
	ow := OutputSize(int(in.Shape[2]), kw, stride, dil, c.Padding)
	if oh <= 0 || ow <= 0 || c.OutChannels <= 0 || kh <= 0 || kw <= 0 {
		b.fail("CONV_2D %q: invalid geometry (input %v, kernel %dx%d, %d output channels)", c.Name, in.Shape, kh, kw, c.OutChannels)
		return Tensor{}
	}
	name := b.outName(c.Name, "conv")
	fanIn := kh * kw * inC
	wq, ws := b.quantizeWeights(c.OutChannels, fanIn, fanIn)
	w := b.tensor(name+"/weights", []int32{int32(c.OutChannels), int32(kh), int32(kw), int32(inC)},
		schema.TensorTypeINT8, int8Bytes(wq),
		&schema.QuantizationParametersT{Scale: ws, ZeroPoint: make([]int64, len(ws)), QuantizedDimension: 0})
	inQ := b.quantOf(in)
	sigma := b.spread[in.Index] * math.Sqrt(2)
	bias := b.bias(name+"/bias", inQ.Scale, ws, sigma)
	outQ := outputQuant(sigma, c.Activation)
	if c.Out != nil {
		outQ = *c.Out
	}
	out := b.activation(name, []int32{in.Shape[0], int32(oh), int32(ow), int32(c.OutChannels)}, outQ)
	b.spread[out.Index] = spreadAfter(sigma, c.Activation)
	b.op(schema.BuiltinOperatorCONV_2D, []int32{in.Index, w.Index, bias.Index}, []int32{out.Index},
		&schema.BuiltinOptionsT{Type: schema.BuiltinOptionsConv2DOptions, Value: &schema.Conv2DOptionsT{
			Padding: c.Padding, StrideW: int32(stride), StrideH: int32(stride),
			DilationWFactor: int32(dil), DilationHFactor: int32(dil), FusedActivationFunction: c.Activation,
		}})
	return out
}

// DepthwiseConv2D adds a DEPTHWISE_CONV_2D with generated per-channel weights and bias.
func (b *Builder) DepthwiseConv2D(in Tensor, c Conv) Tensor {
	if b.err != nil || !b.checkNHWC(in, "DEPTHWISE_CONV_2D") {
		return Tensor{}
	}
	kh, kw, stride, dil := c.geometry()
	mult := max(c.DepthMultiplier, 1)
	outC := int(in.Shape[3]) * mult
	oh := OutputSize(int(in.Shape[1]), kh, stride, dil, c.Padding)
	ow := OutputSize(int(in.Shape[2]), kw, stride, dil, c.Padding)
	if oh <= 0 || ow <= 0 || kh <= 0 || kw <= 0 {
		b.fail("DEPTHWISE_CONV_2D %q: invalid geometry (input %v, kernel %dx%d)", c.Name, in.Shape, kh, kw)
		return Tensor{}
	}
	name := b.outName(c.Name, "depthwise")
	fanIn := kh * kw
	wq, ws := b.quantizeWeights(outC, fanIn, fanIn)
	// Depthwise weights are stored [1, kh, kw, outC]: transpose from channel-major.
	hwc := make([]int8, len(wq))
	for ch := range outC {
		for i := range fanIn {
			hwc[i*outC+ch] = wq[ch*fanIn+i]
		}
	}
	w := b.tensor(name+"/weights", []int32{1, int32(kh), int32(kw), int32(outC)},
		schema.TensorTypeINT8, int8Bytes(hwc),
		&schema.QuantizationParametersT{Scale: ws, ZeroPoint: make([]int64, len(ws)), QuantizedDimension: 3})
	inQ := b.quantOf(in)
	sigma := b.spread[in.Index] * math.Sqrt(2)
	bias := b.bias(name+"/bias", inQ.Scale, ws, sigma)
	outQ := outputQuant(sigma, c.Activation)
	if c.Out != nil {
		outQ = *c.Out
	}
	out := b.activation(name, []int32{in.Shape[0], int32(oh), int32(ow), int32(outC)}, outQ)
	b.spread[out.Index] = spreadAfter(sigma, c.Activation)
	b.op(schema.BuiltinOperatorDEPTHWISE_CONV_2D, []int32{in.Index, w.Index, bias.Index}, []int32{out.Index},
		&schema.BuiltinOptionsT{Type: schema.BuiltinOptionsDepthwiseConv2DOptions, Value: &schema.DepthwiseConv2DOptionsT{
			Padding: c.Padding, StrideW: int32(stride), StrideH: int32(stride), DepthMultiplier: int32(mult),
			DilationWFactor: int32(dil), DilationHFactor: int32(dil), FusedActivationFunction: c.Activation,
		}})
	return out
}

// Add adds an elementwise ADD of two same-shaped activations.
func (b *Builder) Add(name string, x, y Tensor, act schema.ActivationFunctionType) Tensor {
	if b.err != nil {
		return Tensor{}
	}
	if !sameShape(x.Shape, y.Shape) {
		b.fail("ADD %q: shapes %v and %v differ", name, x.Shape, y.Shape)
		return Tensor{}
	}
	name = b.outName(name, "add")
	sigma := math.Hypot(b.spread[x.Index], b.spread[y.Index])
	out := b.activation(name, x.Shape, outputQuant(sigma, act))
	b.spread[out.Index] = spreadAfter(sigma, act)
	b.op(schema.BuiltinOperatorADD, []int32{x.Index, y.Index}, []int32{out.Index},
		&schema.BuiltinOptionsT{Type: schema.BuiltinOptionsAddOptions, Value: &schema.AddOptionsT{FusedActivationFunction: act}})
	return out
}

func sameShape(a, c []int32) bool {
	if len(a) != len(c) {
		return false
	}
	for i := range a {
		if a[i] != c[i] {
			return false
		}
	}
	return true
}

// Pad adds an explicit PAD of an NHWC activation (padded with its zero point, as TFLite
// does for quantized PAD): top, bottom, left, right rows/columns.
func (b *Builder) Pad(name string, in Tensor, top, bottom, left, right int) Tensor {
	if b.err != nil || !b.checkNHWC(in, "PAD") {
		return Tensor{}
	}
	name = b.outName(name, "pad")
	pads := b.constInt32(name+"/paddings", []int32{4, 2}, []int32{0, 0, int32(top), int32(bottom), int32(left), int32(right), 0, 0})
	shape := []int32{in.Shape[0], in.Shape[1] + int32(top+bottom), in.Shape[2] + int32(left+right), in.Shape[3]}
	out := b.activation(name, shape, b.quantOf(in))
	b.spread[out.Index] = b.spread[in.Index]
	b.op(schema.BuiltinOperatorPAD, []int32{in.Index, pads.Index}, []int32{out.Index},
		&schema.BuiltinOptionsT{Type: schema.BuiltinOptionsPadOptions, Value: &schema.PadOptionsT{}})
	return out
}

// Pool adds an AVERAGE_POOL_2D (avg true) or MAX_POOL_2D; the output keeps the input's
// quantization, as TFLite requires.
func (b *Builder) Pool(name string, in Tensor, avg bool, filter, stride int, padding schema.Padding) Tensor {
	if b.err != nil || !b.checkNHWC(in, "POOL_2D") {
		return Tensor{}
	}
	oh := OutputSize(int(in.Shape[1]), filter, stride, 1, padding)
	ow := OutputSize(int(in.Shape[2]), filter, stride, 1, padding)
	if oh <= 0 || ow <= 0 {
		b.fail("POOL_2D %q: filter %d does not fit input %v", name, filter, in.Shape)
		return Tensor{}
	}
	code := schema.BuiltinOperatorMAX_POOL_2D
	if avg {
		code = schema.BuiltinOperatorAVERAGE_POOL_2D
	}
	name = b.outName(name, "pool")
	out := b.activation(name, []int32{in.Shape[0], int32(oh), int32(ow), in.Shape[3]}, b.quantOf(in))
	b.spread[out.Index] = b.spread[in.Index]
	b.op(code, []int32{in.Index}, []int32{out.Index},
		&schema.BuiltinOptionsT{Type: schema.BuiltinOptionsPool2DOptions, Value: &schema.Pool2DOptionsT{
			Padding: padding, StrideW: int32(stride), StrideH: int32(stride), FilterWidth: int32(filter), FilterHeight: int32(filter),
		}})
	return out
}

// MeanHW adds a MEAN over the spatial axes (global average pooling) keeping dims [N,1,1,C].
func (b *Builder) MeanHW(name string, in Tensor) Tensor {
	if b.err != nil || !b.checkNHWC(in, "MEAN") {
		return Tensor{}
	}
	name = b.outName(name, "mean")
	axes := b.constInt32(name+"/axes", []int32{2}, []int32{1, 2})
	out := b.activation(name, []int32{in.Shape[0], 1, 1, in.Shape[3]}, b.quantOf(in))
	b.spread[out.Index] = b.spread[in.Index]
	b.op(schema.BuiltinOperatorMEAN, []int32{in.Index, axes.Index}, []int32{out.Index},
		&schema.BuiltinOptionsT{Type: schema.BuiltinOptionsReducerOptions, Value: &schema.ReducerOptionsT{KeepDims: true}})
	return out
}

// Reshape adds a RESHAPE to shape (same element count).
func (b *Builder) Reshape(name string, in Tensor, shape []int32) Tensor {
	if b.err != nil {
		return Tensor{}
	}
	n1, n2 := int64(1), int64(1)
	for _, d := range in.Shape {
		n1 *= int64(d)
	}
	for _, d := range shape {
		n2 *= int64(d)
	}
	if n1 != n2 {
		b.fail("RESHAPE %q: %v and %v hold different element counts", name, in.Shape, shape)
		return Tensor{}
	}
	name = b.outName(name, "reshape")
	st := b.constInt32(name+"/shape", []int32{int32(len(shape))}, shape)
	out := b.activation(name, shape, b.quantOf(in))
	b.spread[out.Index] = b.spread[in.Index]
	b.op(schema.BuiltinOperatorRESHAPE, []int32{in.Index, st.Index}, []int32{out.Index},
		&schema.BuiltinOptionsT{Type: schema.BuiltinOptionsReshapeOptions, Value: &schema.ReshapeOptionsT{NewShape: shape}})
	return out
}

// FullyConnected adds a FULLY_CONNECTED from a [N, K] activation to [N, units], with
// per-tensor int8 weights.
func (b *Builder) FullyConnected(name string, in Tensor, units int, act schema.ActivationFunctionType) Tensor {
	if b.err != nil {
		return Tensor{}
	}
	if len(in.Shape) != 2 || units <= 0 {
		b.fail("FULLY_CONNECTED %q: input must be [N,K], got %v", name, in.Shape)
		return Tensor{}
	}
	name = b.outName(name, "fc")
	k := int(in.Shape[1])
	wq, ws := b.quantizeWeights(1, units*k, k) // one scale for the whole matrix
	w := b.tensor(name+"/weights", []int32{int32(units), int32(k)}, schema.TensorTypeINT8, int8Bytes(wq),
		&schema.QuantizationParametersT{Scale: ws, ZeroPoint: []int64{0}})
	sigma := b.spread[in.Index] * math.Sqrt(2)
	inQ := b.quantOf(in)
	biasScale := []float32{inQ.Scale * ws[0]}
	biasV := make([]int32, units)
	bias := b.tensor(name+"/bias", []int32{int32(units)}, schema.TensorTypeINT32, int32Bytes(biasV),
		&schema.QuantizationParametersT{Scale: biasScale, ZeroPoint: []int64{0}})
	out := b.activation(name, []int32{in.Shape[0], int32(units)}, outputQuant(sigma, act))
	b.spread[out.Index] = spreadAfter(sigma, act)
	b.op(schema.BuiltinOperatorFULLY_CONNECTED, []int32{in.Index, w.Index, bias.Index}, []int32{out.Index},
		&schema.BuiltinOptionsT{Type: schema.BuiltinOptionsFullyConnectedOptions, Value: &schema.FullyConnectedOptionsT{
			FusedActivationFunction: act,
		}})
	return out
}

// Softmax adds an int8 SOFTMAX (beta 1) with TFLite's fixed output quantization 1/256, -128.
func (b *Builder) Softmax(name string, in Tensor) Tensor {
	if b.err != nil {
		return Tensor{}
	}
	name = b.outName(name, "softmax")
	out := b.activation(name, in.Shape, Quant{Scale: 1.0 / 256, ZeroPoint: -128})
	b.op(schema.BuiltinOperatorSOFTMAX, []int32{in.Index}, []int32{out.Index},
		&schema.BuiltinOptionsT{Type: schema.BuiltinOptionsSoftmaxOptions, Value: &schema.SoftmaxOptionsT{Beta: 1}})
	return out
}
