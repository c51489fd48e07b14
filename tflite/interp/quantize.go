package interp

import (
	"math"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// quantizeKernel is QUANTIZE float32 -> int8 (TFLM reference_ops::AffineQuantize:
// round-half-away(x / float(scale)) + zp, clamped) or int8 -> int8 requantization
// (reference_ops::Requantize: MultiplyByQuantizedMultiplier(x - zp_in) with
// QuantizeMultiplier(double(s_in)/double(s_out)), + zp_out, clamped).
type quantizeKernel struct {
	in, out int
	fromF32 bool
	scale   float32
	zp      int32
	table   lutKernel
}

func (c *prep) quantize() (kernel, error) {
	if err := c.counts(1, 1, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	out, _ := c.out(0)
	if err := c.wantType(in, schema.TensorTypeFLOAT32, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	if err := c.wantType(out, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
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
	k := &quantizeKernel{in: in, out: out, scale: qo.scale, zp: qo.zp}
	if c.info(in).Type == schema.TensorTypeFLOAT32 {
		k.fromF32 = true
		return k, nil
	}
	qi, err := c.quant8(in)
	if err != nil {
		return nil, err
	}
	mult, shift := quantizeMultiplier(float64(qi.scale) / float64(qo.scale))
	return c.table(in, out, func(v int32) int32 {
		return mulQuant(v-qi.zp, mult, shift) + qo.zp
	}), nil
}

func (k *quantizeKernel) run(x *execCtx) {
	in, out := f32(x.data[k.in]), i8(x.data[k.out])
	in = in[:len(out)]
	for i, v := range in {
		out[i] = int8(clampI32(roundToInt32(v/k.scale)+k.zp, -128, 127))
	}
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

// dequantizeKernel is DEQUANTIZE int8 -> float32: float(double(scale) * (x - zp)) (TFLM
// reference_ops::Dequantize).
type dequantizeKernel struct {
	in, out int
	table   [256]float32
}

func (c *prep) dequantize() (kernel, error) {
	if err := c.counts(1, 1, 1); err != nil {
		return nil, err
	}
	in, _ := c.in(0)
	out, _ := c.out(0)
	if err := c.wantType(in, schema.TensorTypeINT8); err != nil {
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
	k := &dequantizeKernel{in: in, out: out}
	for v := -128; v < 128; v++ {
		k.table[v+128] = float32(float64(qi.scale) * float64(int32(v)-qi.zp))
	}
	return k, nil
}

func (k *dequantizeKernel) run(x *execCtx) {
	in, out := x.data[k.in], f32(x.data[k.out])
	out = out[:len(in)]
	for i, v := range in {
		out[i] = k.table[v^0x80]
	}
}
