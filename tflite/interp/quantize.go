package interp

import (
	"math"

	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// quantize is QUANTIZE (TFLM quantize_common.cc). float32 -> int8/int16:
// reference_ops::AffineQuantize, round-half-away(x / float(scale)) + zp, clamped. Integer
// -> integer for the pairs TFLM accepts: reference_ops::Requantize,
// MultiplyByQuantizedMultiplier(x - zp_in) with QuantizeMultiplier(double(s_in)/double(s_out)),
// + zp_out, clamped to the output type.
func (c *prep) quantize() (kernel, error) {
	if err := c.counts(1, 1, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	out, _ := c.out(0)
	if c.elements(in) != c.elements(out) {
		return nil, c.errorf("input %s and output %s sizes differ", c.desc(in), c.desc(out))
	}
	if len(c.info(out).Scale) != 1 {
		return nil, c.errorf("%s: only per-tensor output quantization is supported", c.desc(out))
	}
	qo, err := c.quant(out)
	if err != nil {
		return nil, err
	}
	it, ot := c.info(in).Type, c.info(out).Type
	if it == schema.TensorTypeFLOAT32 {
		if err := c.wantType(out, schema.TensorTypeINT8, schema.TensorTypeINT16); err != nil {
			return nil, err
		}
		lo, hi := intRange(ot)
		f := func(v float32) int32 { return clampI32(roundToInt32(v/qo.scale)+qo.zp, lo, hi) }
		if ot == schema.TensorTypeINT8 {
			return unaryLoop(in, out, func(v float32) int8 { return int8(f(v)) }), nil
		}
		return unaryLoop(in, out, func(v float32) int16 { return int16(f(v)) }), nil
	}
	pairs := map[[2]schema.TensorType]bool{
		{schema.TensorTypeINT16, schema.TensorTypeINT8}: true, {schema.TensorTypeINT8, schema.TensorTypeINT8}: true,
		{schema.TensorTypeINT8, schema.TensorTypeUINT8}: true, {schema.TensorTypeUINT8, schema.TensorTypeINT8}: true,
		{schema.TensorTypeINT8, schema.TensorTypeINT16}: true, {schema.TensorTypeINT8, schema.TensorTypeINT32}: true,
		{schema.TensorTypeINT16, schema.TensorTypeINT16}: true, {schema.TensorTypeINT16, schema.TensorTypeINT32}: true,
		{schema.TensorTypeINT32, schema.TensorTypeINT8}: true, {schema.TensorTypeINT32, schema.TensorTypeINT16}: true,
	}
	if !pairs[[2]schema.TensorType{it, ot}] {
		return nil, c.errorf("input %s to output %s is not supported", tflite.TypeName(it), tflite.TypeName(ot))
	}
	qi, err := c.quant(in)
	if err != nil {
		return nil, err
	}
	mult, shift := quantizeMultiplier(float64(qi.scale) / float64(qo.scale))
	lo, hi := intRange(ot)
	if ot == schema.TensorTypeUINT8 {
		lo, hi = 0, 255
	}
	f := func(v int32) int32 { return clampI32(mulQuant(v-qi.zp, mult, shift)+qo.zp, lo, hi) }
	return convertInts(in, out, it, ot, f), nil
}

// convertInts applies f to every element of an integer tensor, writing another integer type.
func convertInts(in, out int, it, ot schema.TensorType, f func(int32) int32) kernel {
	if (it == schema.TensorTypeINT8 || it == schema.TensorTypeUINT8) && (ot == schema.TensorTypeINT8 || ot == schema.TensorTypeUINT8) {
		// 8-bit to 8-bit: tabulate all 256 inputs.
		var table [256]byte
		for v := range 256 {
			x := int32(v)
			if it == schema.TensorTypeINT8 {
				x = int32(int8(v))
			}
			table[v] = byte(f(x))
		}
		return kernelFunc(func(x *execCtx) {
			src, dst := x.data[in], x.data[out]
			dst = dst[:len(src)]
			for i, v := range src {
				dst[i] = table[v]
			}
		})
	}
	load := intLoader(it)
	store := intStorer(ot)
	return kernelFunc(func(x *execCtx) {
		src, dst := x.data[in], x.data[out]
		n := len(dst) / storeSize(ot)
		for i := range n {
			store(dst, i, f(load(src, i)))
		}
	})
}

func storeSize(t schema.TensorType) int { return tflite.ElementBits(t) / 8 }

// intLoader returns a reader of element i of an integer tensor as int32.
func intLoader(t schema.TensorType) func(b []byte, i int) int32 {
	switch t {
	case schema.TensorTypeINT8:
		return func(b []byte, i int) int32 { return int32(int8(b[i])) }
	case schema.TensorTypeUINT8, schema.TensorTypeBOOL:
		return func(b []byte, i int) int32 { return int32(b[i]) }
	case schema.TensorTypeINT16:
		return func(b []byte, i int) int32 { return int32(int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)) }
	}
	return func(b []byte, i int) int32 {
		return int32(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
}

// intStorer returns a writer of element i of an integer tensor (truncating like a C cast).
func intStorer(t schema.TensorType) func(b []byte, i int, v int32) {
	switch t {
	case schema.TensorTypeINT8, schema.TensorTypeUINT8, schema.TensorTypeBOOL:
		return func(b []byte, i int, v int32) { b[i] = byte(v) }
	case schema.TensorTypeINT16:
		return func(b []byte, i int, v int32) { b[2*i], b[2*i+1] = byte(v), byte(v>>8) }
	}
	return func(b []byte, i int, v int32) {
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
}

// unaryLoop applies f element by element.
func unaryLoop[A, O any](in, out int, f func(A) O) kernel {
	return kernelFunc(func(x *execCtx) {
		a, o := view[A](x.data[in]), view[O](x.data[out])
		o = o[:len(a)]
		for i, v := range a {
			o[i] = f(v)
		}
	})
}

// roundToInt32 is static_cast<int32_t>(TfLiteRound(f)) as x86-64 executes it: round half
// away from zero; NaN and out-of-range values become INT32_MIN (cvttss2si's "integer
// indefinite").
func roundToInt32(f float32) int32 {
	r := math.Round(float64(f))
	if math.IsNaN(r) || r < math.MinInt32 || r > math.MaxInt32 {
		return math.MinInt32
	}
	return int32(r)
}

// dequantize is DEQUANTIZE int8/int16/uint8 -> float32: float(double(scale) * (x - zp))
// (TFLM reference_ops::Dequantize).
func (c *prep) dequantize() (kernel, error) {
	if err := c.counts(1, 1, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	out, _ := c.out(0)
	if err := c.wantType(in, schema.TensorTypeINT8, schema.TensorTypeINT16, schema.TensorTypeUINT8); err != nil {
		return nil, err
	}
	if err := c.wantType(out, schema.TensorTypeFLOAT32); err != nil {
		return nil, err
	}
	if c.elements(in) != c.elements(out) {
		return nil, c.errorf("input %s and output %s sizes differ", c.desc(in), c.desc(out))
	}
	qi, err := c.quant(in)
	if err != nil {
		return nil, err
	}
	scale := float64(qi.scale)
	f := func(v int32) float32 { return float32(scale * float64(v-qi.zp)) }
	switch c.info(in).Type {
	case schema.TensorTypeINT16:
		return unaryLoop(in, out, func(v int16) float32 { return f(int32(v)) }), nil
	case schema.TensorTypeUINT8:
		return unaryLoop(in, out, func(v uint8) float32 { return f(int32(v)) }), nil
	}
	var table [256]float32
	for v := -128; v < 128; v++ {
		table[uint8(int8(v))] = f(int32(v))
	}
	return unaryLoop(in, out, func(v uint8) float32 { return table[v] }), nil
}
