package interp

import (
	"math"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// svdfKernel is integer SVDF (TFLM svdf_common.cc PrepareSvdf / EvalIntegerSvdfReference):
// int8 input and feature weights, int16 or int8 time weights and activation state (a
// variable tensor that persists across invocations), int32 bias, int8 output. Each Invoke
// shifts the state left by one, writes the new feature column
// clamp(MultiplyByQuantizedMultiplier(sum w_f*(x - zp_in), scale1), state type) + zp_state,
// takes per filter sum w_t*(state - zp_state), sums rank filters per unit with the bias and
// rescales to the output. The fused activation is not applied (TFLM's integer path ignores it).
type svdfKernel struct {
	in, state, out            int
	batch, inputSize, filters int
	rank, units, memory       int
	wFeature                  []int8
	wTime                     []int32 // widened from int16 or int8
	bias                      []int32
	state16                   bool
	inZp, stateZp, outZp      int32
	mult1, mult2              int32
	shift1, shift2            int
	stateMin, stateMax        int32
}

func (c *prep) svdf() (kernel, error) {
	if err := c.counts(5, 5, 1); err != nil {
		return nil, err
	}
	opts, _ := c.options().(*schema.SVDFOptionsT)
	if opts == nil || opts.Rank <= 0 {
		return nil, c.errorf("missing SVDFOptions with a positive rank")
	}
	in, _ := c.in(0)
	wf, _ := c.in(1)
	wt, _ := c.in(2)
	bias := c.optIn(3)
	state, _ := c.in(4)
	out, _ := c.out(0)
	if err := c.wantType(in, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	if err := c.wantType(wf, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	if err := c.wantType(wt, schema.TensorTypeINT16, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	if c.info(state).Type != c.info(wt).Type {
		return nil, c.errorf("activation state %s must have the time weights' type", c.desc(state))
	}
	if err := c.wantType(out, schema.TensorTypeINT8); err != nil {
		return nil, err
	}
	for _, t := range []int{in, wf, wt, state, out} {
		if err := c.wantRank(t, 2); err != nil {
			return nil, err
		}
	}
	for _, t := range []int{wf, wt} {
		if err := c.wantConst(t); err != nil {
			return nil, err
		}
	}
	if !c.isVariable(state) {
		return nil, c.errorf("activation state %s must be a variable tensor", c.desc(state))
	}
	is, fs, ts := shapeInts(c.info(in).Shape), shapeInts(c.info(wf).Shape), shapeInts(c.info(wt).Shape)
	k := &svdfKernel{in: in, state: state, out: out, batch: is[0], inputSize: is[1], filters: fs[0],
		rank: int(opts.Rank), memory: ts[1], state16: c.info(wt).Type == schema.TensorTypeINT16}
	if k.filters%k.rank != 0 {
		return nil, c.errorf("%d filters are not a multiple of rank %d", k.filters, k.rank)
	}
	k.units = k.filters / k.rank
	ss, os := shapeInts(c.info(state).Shape), shapeInts(c.info(out).Shape)
	if fs[1] != k.inputSize || ts[0] != k.filters || os[0] != k.batch || os[1] != k.units ||
		ss[0] != k.batch || ss[1] != k.memory*k.filters {
		return nil, c.errorf("shapes do not match: input %v, feature weights %v, time weights %v, state %v, output %v", is, fs, ts, ss, os)
	}
	qi, err := c.quant(in)
	if err != nil {
		return nil, err
	}
	qf, err := c.quant(wf)
	if err != nil {
		return nil, err
	}
	qt, err := c.quant(wt)
	if err != nil {
		return nil, err
	}
	qs, err := c.quant(state)
	if err != nil {
		return nil, err
	}
	qo, err := c.quant(out)
	if err != nil {
		return nil, err
	}
	// The products are taken in float, then widened (svdf_common.cc).
	k.mult1, k.shift1 = quantizeMultiplier(float64(qi.scale * qf.scale / qs.scale))
	k.mult2, k.shift2 = quantizeMultiplier(float64(qs.scale * qt.scale / qo.scale))
	k.inZp, k.stateZp, k.outZp = qi.zp, qs.zp, qo.zp
	k.stateMin, k.stateMax = intRange(c.info(state).Type)
	k.wFeature = i8(c.p.constant[wf])
	if k.state16 {
		for _, v := range i16(c.p.constant[wt]) {
			k.wTime = append(k.wTime, int32(v))
		}
	} else {
		for _, v := range i8(c.p.constant[wt]) {
			k.wTime = append(k.wTime, int32(v))
		}
	}
	if bias >= 0 {
		if err := c.wantType(bias, schema.TensorTypeINT32); err != nil {
			return nil, err
		}
		if err := c.wantConst(bias); err != nil {
			return nil, err
		}
		if c.elements(bias) != k.units {
			return nil, c.errorf("%s has %d elements, want %d", c.desc(bias), c.elements(bias), k.units)
		}
		bq, err := c.quant(bias)
		if err != nil {
			return nil, err
		}
		if math.Abs(float64(bq.scale)-float64(qs.scale*qt.scale)) >= 1e-5 {
			return nil, c.errorf("bias scale %g does not match state scale x time weight scale", bq.scale)
		}
		k.bias, _ = c.constInt32s(bias)
	} else {
		// TFLM dereferences the bias's quantization unconditionally: an SVDF without bias
		// does not prepare there.
		return nil, c.errorf("SVDF without bias is not supported (TFLM requires the bias tensor)")
	}
	c.p.scratch = max(c.p.scratch, 4*k.batch*k.filters)
	return k, nil
}

func (c *prep) isVariable(t int) bool {
	for _, v := range c.p.variables {
		if v.index == t {
			return true
		}
	}
	return false
}

func (k *svdfKernel) run(x *execCtx) {
	in := i8(x.data[k.in])
	out := i8(x.data[k.out])
	n := k.batch * k.filters * k.memory
	load, store := k.stateAccess(x.data[k.state])
	// Shift the whole state left by one element.
	for i := 0; i+1 < n; i++ {
		store(i, load(i+1))
	}
	for b := range k.batch {
		src := in[b*k.inputSize : (b+1)*k.inputSize]
		for r := range k.filters {
			w := k.wFeature[r*k.inputSize : (r+1)*k.inputSize]
			var dot int32
			for j, v := range src {
				dot += int32(w[j]) * (int32(v) - k.inZp)
			}
			dot = clampI32(mulQuant(dot, k.mult1, k.shift1), k.stateMin, k.stateMax)
			store((b*k.filters+r)*k.memory+k.memory-1, k.stateZp+dot)
		}
	}
	scratch := i32(x.scratch[0])[:k.batch*k.filters]
	for b := range k.batch {
		for f := range k.filters {
			var s int32
			base := (b*k.filters + f) * k.memory
			for j := range k.memory {
				s += k.wTime[f*k.memory+j] * (load(base+j) - k.stateZp)
			}
			scratch[b*k.filters+f] = s
		}
	}
	for b := range k.batch {
		for u := range k.units {
			acc := k.bias[u]
			for r := range k.rank {
				acc += scratch[b*k.filters+u*k.rank+r]
			}
			v := mulQuant(acc, k.mult2, k.shift2) + k.outZp
			out[b*k.units+u] = int8(clampI32(v, math.MinInt8, math.MaxInt8))
		}
	}
}

// stateAccess reads and writes state elements as int32 (stores truncate like the C cast).
func (k *svdfKernel) stateAccess(d []byte) (func(int) int32, func(int, int32)) {
	if k.state16 {
		s := i16(d)
		return func(i int) int32 { return int32(s[i]) }, func(i int, v int32) { s[i] = int16(v) }
	}
	s := i8(d)
	return func(i int) int32 { return int32(s[i]) }, func(i int, v int32) { s[i] = int8(v) }
}
