package interp

import (
	"math"
	"math/bits"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// softmax16Kernel is int16 -> int16 SOFTMAX (TFLM softmax_common.cc InitializeLutForInt16 /
// CalculateSoftmaxParams and reference_ops::SoftmaxInt16): differences to the row maximum
// are scaled so that [-65535, 0] covers [-10, 0], looked up in a 513-entry exp table,
// summed, and the sum's reciprocal looked up in a 1/(1+x) table; both tables are built in
// float exactly as TFLM's LUTPopulateInt16 builds them.
type softmax16Kernel struct {
	in, out      int
	outer, depth int
	mult         int32
	shift        int
	expLUT       [513]int16
	recipLUT     [513]int16
}

func (c *prep) softmax16() (kernel, error) {
	if err := c.counts(1, 1, 1); err != nil {
		return nil, err
	}
	beta := float32(1)
	if o, ok := c.options().(*schema.SoftmaxOptionsT); ok && o != nil {
		beta = o.Beta
	}
	in, _ := c.in(0)
	out, _ := c.out(0)
	if err := c.wantType(out, schema.TensorTypeINT16); err != nil {
		return nil, err
	}
	if !sameShape(c.info(in).Shape, c.info(out).Shape) || len(c.info(in).Shape) == 0 {
		return nil, c.errorf("input %s and output %s shapes differ", c.desc(in), c.desc(out))
	}
	qi, qo, err := c.quant2(in, out)
	if err != nil {
		return nil, err
	}
	if qi.zp != 0 || qo.zp != 0 {
		return nil, c.errorf("int16 zero points must be 0")
	}
	if math.Abs(float64(qo.scale)-1.0/32768) > 0.001/32768 {
		return nil, c.errorf("int16 output scale must be 1/32768 (has %g)", qo.scale)
	}
	shape := shapeInts(c.info(in).Shape)
	k := &softmax16Kernel{in: in, out: out, depth: shape[len(shape)-1]}
	k.outer = c.elements(in) / max(k.depth, 1)
	k.mult, k.shift = quantizeMultiplier(float64(qi.scale) * float64(beta) / (10.0 / 65535.0))
	const rng = float32(math.MaxInt16 - math.MinInt16)
	lutPopulate16(10/rng, math.MaxInt16, 2/rng, 0, expf, &k.expLUT)
	lutPopulate16(1/rng, math.MinInt16, 2/rng, 0, func(v float32) float32 { return 1 / (1 + v) }, &k.recipLUT)
	return k, nil
}

// lutPopulate16 is TFLM common.h LUTPopulateInt16<float>: 512 samples of f over the input
// range, each corrected by half the error of linear interpolation at the midpoint, plus
// the end point; all arithmetic in float32 as written there.
func lutPopulate16(inScale float32, inZp int32, outScale float32, outZp int32, f func(float32) float32, lut *[513]int16) {
	inMin := inScale * float32(math.MinInt16-inZp)
	inMax := inScale * float32(math.MaxInt16-inZp)
	outMin := outScale * float32(math.MinInt16-outZp)
	outMax := outScale * float32(math.MaxInt16-outZp)
	const steps = 512
	step := (inMax - inMin) / steps
	half := step / 2
	inv := float32(65536) / (outMax - outMin)
	round := func(v float32) float32 { return float32(math.Round(float64(v))) }
	clamp := func(v float32) int16 { return int16(min(max(v, math.MinInt16), math.MaxInt16)) }
	for i := range steps {
		x := float32(inMin + float32(float32(i)*step))
		val := f(x)
		mid := f(float32(x + half))
		next := f(float32(inMin + float32(float32(i+1)*step)))
		sample := round(float32(val * inv))
		interp := round(float32(float32(next*inv)+round(float32(val*inv))) / 2)
		midVal := round(float32(mid * inv))
		bias := round(float32(interp-midVal) / 2)
		lut[i] = clamp(sample - bias)
	}
	lut[steps] = clamp(round(float32(f(inMax) * inv)))
}

// lutLookup16 is TFLM common.h LUTLookup for int16: the high 9 bits index the table, the
// low 7 interpolate to the next entry.
func lutLookup16(v int16, lut *[513]int16) int16 {
	idx := int(256 + int32(v>>7))
	off := int32(v & 0x7f)
	base := lut[idx]
	slope := int16(lut[idx+1] - lut[idx])
	delta := (int32(slope)*off + 64) >> 7
	return int16(int32(base) + delta)
}

func (k *softmax16Kernel) run(x *execCtx) {
	in, out := i16(x.data[k.in]), i16(x.data[k.out])
	for i := range k.outer {
		row := in[i*k.depth : (i+1)*k.depth]
		o := out[i*k.depth : (i+1)*k.depth]
		maxV := int16(math.MinInt16)
		for _, v := range row {
			maxV = max(maxV, v)
		}
		var sum int32 // Q16.15
		for j, v := range row {
			d := mulQuant(int32(v)-int32(maxV), k.mult, k.shift) + 32767
			o[j] = lutLookup16(int16(clampI32(d, math.MinInt16, math.MaxInt16)), &k.expLUT)
			sum += int32(o[j])
		}
		h := bits.LeadingZeros32(uint32(sum))
		shifted := int32(((int64(sum) << (h - 1)) + (1 << 13)) >> 14)
		sym := clampI32(shifted-((1<<15)+(1<<16)), math.MinInt16, math.MaxInt16)
		recip := lutLookup16(int16(sym), &k.recipLUT)
		rs := 31 - h
		round := int64(1) << (rs - 1)
		for j := range o {
			r := int32((int64(o[j])*int64(recip) + round) >> rs)
			o[j] = int16(clampI32(r, 0, math.MaxInt16))
		}
	}
}
