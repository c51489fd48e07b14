package interp

// requantRow requantizes a run of channel accumulators into out: the same arithmetic as
// requant.output (MultiplyByQuantizedMultiplier, zero point, clamp) written out flat so the
// compiler keeps it free of calls and bounds checks. It needs non-negative multipliers (the
// only ones QuantizeMultiplier produces for positive scales; prepare checks), so the
// srdhm INT32_MIN*INT32_MIN saturation cannot occur.
func (r *requant) row(acc, bias []int32, ch0 int, out []int8) {
	n := len(out)
	acc, bias = acc[:n], bias[:n]
	if j := requantVector(acc, bias, r, ch0, out); j > 0 {
		if j == n {
			return
		}
		acc, bias, ch0, out = acc[j:], bias[j:], ch0+j, out[j:]
		n -= j
	}
	mult := r.mult[ch0 : ch0+n]
	lsh := r.lshift[ch0 : ch0+n]
	rsh := r.rshift[ch0 : ch0+n]
	zp, lo, hi := r.outZp, r.actMin, r.actMax
	for i := range out {
		// Written branch-free: the rounding decisions depend on the data and would
		// mispredict constantly as branches.
		x := (acc[i] + bias[i]) << (uint32(lsh[i]) & 31)
		ab := int64(x) * int64(mult[i])
		nudge := int64(1<<30) + (ab>>63)&(1-(1<<31)) // 2^30, or 1-2^30 for negative products
		v := int32((ab + nudge) / (1 << 31))
		e := uint32(rsh[i]) & 31
		mask := int32(1)<<e - 1
		threshold := mask>>1 + int32(uint32(v)>>31)
		rem := v & mask
		v = v>>e + int32(uint32(threshold-rem)>>31)
		v += zp
		v = max(v, lo)
		v = min(v, hi)
		out[i] = int8(v)
	}
}

// splitShifts fills the left/right shift tables used by row.
func (r *requant) splitShifts() bool {
	r.lshift = make([]int32, len(r.shift))
	r.rshift = make([]int32, len(r.shift))
	for i, s := range r.shift {
		if r.mult[i] < 0 || s > 31 || s < -31 {
			return false
		}
		if s > 0 {
			r.lshift[i] = int32(s)
		} else {
			r.rshift[i] = int32(-s)
		}
	}
	return true
}
