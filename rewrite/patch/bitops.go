package patch

// BitOPs of the patch stage (DESIGN.md §4): MACs x weight bits x input activation bits, over
// all tiles (full kernel windows, as the MAC counts). Weights are int8 in both branches.
// Non-outlier tiles read the low branch's maps; with an outlier rate rho, a layer after the
// checked map costs MACs x 8 x (rho x 8 + (1 - rho) x input bits). ADD reads two maps: the
// mean of their bits.

// inputBits is the low-branch bitwidth layer li reads (the mean of both inputs for ADD).
func (sp *StagePlan) inputBits(li int) float64 {
	l := sp.Layers[li]
	if sp.Low == nil || li < sp.Low.Checked {
		return 8
	}
	b := float64(sp.Low.FMs[l.In].Bits)
	if l.In2 >= 0 {
		b = (b + float64(sp.Low.FMs[l.In2].Bits)) / 2
	}
	return b
}

// applyBitOPs fills the BitOPs and bitwidth fields of the report from the plan's low branch.
func (sp *StagePlan) applyBitOPs(r *Report) {
	rho := 1.0
	if sp.Low != nil {
		rho = sp.Low.OutlierRate
		r.LowBranch = true
		r.Checked = sp.Low.Checked
		r.CheckedName = sp.FMs[sp.Low.Checked].Name
		r.Lo, r.Hi = sp.Low.Lo, sp.Low.Hi
		r.LowScratchBytes = sp.LowScratchBytes()
	} else {
		r.LowScratchBytes = sp.ScratchBytes
	}
	r.OutlierRate = rho
	r.BitOPsPatchInt8, r.BitOPsPatchMixed = 0, 0
	for li := range r.Layers {
		lr := &r.Layers[li]
		lr.ActivationBits = 8
		if sp.Low != nil && li >= sp.Low.Checked {
			lr.ActivationBits = sp.Low.FMs[sp.Layers[li].Out].Bits
		}
		lr.InputBits = sp.inputBits(li)
		lr.BitOPsInt8 = 64 * lr.PatchMACs
		lr.BitOPsMixed = int64(float64(lr.PatchMACs)*8*(rho*8+(1-rho)*lr.InputBits) + 0.5)
		r.BitOPsPatchInt8 += lr.BitOPsInt8
		r.BitOPsPatchMixed += lr.BitOPsMixed
	}
}
