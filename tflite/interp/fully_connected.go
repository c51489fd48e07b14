package interp

import (
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// fcKernel is FULLY_CONNECTED (int8), following TFLM reference_integer_ops::FullyConnected
// and FullyConnectedPerChannel: acc = sum (w - zp_w)*(x - zp_in) + bias, requantized. As in
// conv, -zp_in*sum(w - zp_w) is folded into the bias at preparation (same int32 result).
type fcKernel struct {
	in, out    int
	batches    int
	depth, oc  int
	kp         int
	weights    []int16 // oc rows of kp values, already offset by -zp_w
	bias       []int32
	perChannel bool
	rq         requant
}

func (c *prep) fullyConnected() (kernel, error) {
	if err := c.counts(2, 3, 1); err != nil {
		return nil, err
	}
	opts, _ := c.options().(*schema.FullyConnectedOptionsT)
	if opts == nil {
		opts = &schema.FullyConnectedOptionsT{}
	}
	if opts.WeightsFormat != schema.FullyConnectedOptionsWeightsFormatDEFAULT {
		return nil, c.errorf("shuffled weights format is not supported")
	}
	switch c.firstInputType() {
	case schema.TensorTypeINT16:
		return c.fc16(opts)
	case schema.TensorTypeFLOAT32:
		return c.fcFloat(opts)
	}
	input, filter, output, bias, err := c.weightedOperands()
	if err != nil {
		return nil, err
	}
	for _, t := range []int{input, filter, output} {
		if err := c.wantType(t, schema.TensorTypeINT8); err != nil {
			return nil, err
		}
	}
	if err := c.wantConst(filter); err != nil {
		return nil, err
	}
	fs := shapeInts(c.info(filter).Shape)
	os := shapeInts(c.info(output).Shape)
	if len(fs) < 2 || len(os) < 1 {
		return nil, c.errorf("filter %v and output %v need ranks >= 2 and >= 1", fs, os)
	}
	k := &fcKernel{in: input, out: output, depth: fs[len(fs)-1], oc: os[len(os)-1]}
	if k.oc > fs[len(fs)-2] || k.depth == 0 {
		return nil, c.errorf("output depth %d exceeds the filter's %d rows", k.oc, fs[len(fs)-2])
	}
	k.batches = c.elements(output) / max(k.oc, 1)
	if c.elements(input) != k.batches*k.depth {
		return nil, c.errorf("input %s has %d elements, want %d batches x %d", c.desc(input), c.elements(input), k.batches, k.depth)
	}
	iq, err := c.quant8(input)
	if err != nil {
		return nil, err
	}
	oq, err := c.quant8(output)
	if err != nil {
		return nil, err
	}
	fq, err := c.quant(filter)
	if err != nil {
		return nil, err
	}
	fScales := c.info(filter).Scale
	k.perChannel = len(fScales) > 1
	k.rq.mult = make([]int32, k.oc)
	k.rq.shift = make([]int, k.oc)
	if k.perChannel {
		// TFLM fully_connected_common.cc: per-channel effective scale in double.
		if len(fScales) < k.oc {
			return nil, c.errorf("%s has %d scales for %d output channels", c.desc(filter), len(fScales), k.oc)
		}
		for ch := range k.oc {
			eff := float64(iq.scale) * float64(fScales[ch]) / float64(oq.scale)
			k.rq.mult[ch], k.rq.shift[ch] = quantizeMultiplier(eff)
		}
	} else {
		// TFLM GetQuantizedConvolutionMultipler: the input*filter product is taken in float,
		// then widened and divided by the output scale in double.
		prod := float64(iq.scale * fq.scale)
		m, s := quantizeMultiplier(prod / float64(oq.scale))
		for ch := range k.oc {
			k.rq.mult[ch], k.rq.shift[ch] = m, s
		}
		if bias >= 0 {
			// TFLM checks that the bias scale matches input*filter scale within 2% of an
			// output step.
			if bs := c.info(bias).Scale; len(bs) > 0 {
				diff := float64(iq.scale)*float64(fq.scale) - float64(bs[0])
				if diff < 0 {
					diff = -diff
				}
				if diff/float64(oq.scale) > 0.02 {
					return nil, c.errorf("bias scale %g does not match input scale x filter scale", bs[0])
				}
			}
		}
	}
	k.rq.outZp = oq.zp
	k.rq.fast = k.rq.splitShifts()
	if k.rq.actMin, k.rq.actMax, err = c.activationRange(opts.FusedActivationFunction, oq); err != nil {
		return nil, err
	}
	var biasV []int32
	if bias >= 0 {
		if err := c.wantType(bias, schema.TensorTypeINT32); err != nil {
			return nil, err
		}
		if err := c.wantConst(bias); err != nil {
			return nil, err
		}
		if c.elements(bias) < k.oc {
			return nil, c.errorf("%s has %d elements, want %d", c.desc(bias), c.elements(bias), k.oc)
		}
		biasV, _ = c.constInt32s(bias)
	}
	// TFLM passes weights_offset = -filter zero point (zero for int8 weights in practice).
	wOff := int32(0)
	if !k.perChannel {
		wOff = -fq.zp
	}
	k.kp = (k.depth + 15) &^ 15
	k.weights = make([]int16, k.oc*k.kp)
	k.bias = make([]int32, k.oc)
	wd := i8(c.p.constant[filter])
	for o := range k.oc {
		var sum int32
		row := k.weights[o*k.kp : o*k.kp+k.depth]
		for j, v := range wd[o*k.depth : (o+1)*k.depth] {
			w := int32(v) + wOff
			row[j] = int16(w)
			sum += w
		}
		var b int32
		if biasV != nil {
			b = biasV[o]
		}
		k.bias[o] = b - iq.zp*sum
	}
	c.p.scratch = max(c.p.scratch, 2*k.kp)
	return k, nil
}

func (k *fcKernel) run(x *execCtx) {
	in := i8(x.data[k.in])
	out := i8(x.data[k.out])
	a := i16(x.scratch[0])[:k.kp]
	var acc [4]int32
	for b := range k.batches {
		for i, v := range in[b*k.depth : (b+1)*k.depth] {
			a[i] = int16(v)
		}
		clear(a[k.depth:])
		o := out[b*k.oc : (b+1)*k.oc]
		ch := 0
		for ; ch+4 <= k.oc; ch += 4 {
			dot4(a, k.weights[ch*k.kp:(ch+4)*k.kp], k.kp, &acc)
			for j := range 4 {
				o[ch+j] = k.rq.output(acc[j]+k.bias[ch+j], ch+j)
			}
		}
		for ; ch < k.oc; ch++ {
			o[ch] = k.rq.output(dot1(a, k.weights[ch*k.kp:(ch+1)*k.kp])+k.bias[ch], ch)
		}
	}
}
