package patch

import (
	"fmt"
	"math"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// scaleOf is one tensor's part in a requantization multiplier.
type scaleOf struct {
	role   string // "input", "weights", "output", ...
	tensor int
	scale  float32
}

// checkScales refuses a plan whose layers need a requantization multiplier that TFLite's
// fixed-point form cannot hold (QuantizeMultiplier: a finite positive value below 2^31;
// ADD's rescales inside (0, 1)). Such scales are the model's fault, so the error is a
// refusal naming the tensor whose scale is furthest from 1 (the likely culprit) and the
// multiplier it produces.
func (sp *StagePlan) checkScales(m *schema.ModelT) error {
	tensors := m.Subgraphs[0].Tensors
	for _, l := range sp.Layers {
		x, y := sp.FMs[l.In], sp.FMs[l.Out]
		switch l.Kind {
		case KindConv, KindDepthwise:
			for c := range y.C {
				ws := l.WeightScales[0]
				if len(l.WeightScales) > 1 {
					ws = l.WeightScales[c]
				}
				eff := float64(x.Scale) * float64(ws) / float64(y.Scale)
				if _, _, err := QuantizeMultiplier(eff); err != nil {
					bad := culprit([]scaleOf{{"input", x.Tensor, x.Scale}, {"weights", l.Weights, ws}, {"output", y.Tensor, y.Scale}})
					return &refusal{msg: fmt.Sprintf("operator %d (%s): %s tensor %d %q has scale %g (channel %d): multiplier input x weights / output = %g x %g / %g = %g is outside TFLite's fixed-point range (below 2^31)",
						l.Op, l.Kind, bad.role, bad.tensor, tensors[bad.tensor].Name, bad.scale, c, x.Scale, ws, y.Scale, eff)}
				}
			}
		case KindAdd:
			b := sp.FMs[l.In2]
			if _, err := computeAddParams(x, b, y); err != nil {
				bad := culprit([]scaleOf{{"input 1", x.Tensor, x.Scale}, {"input 2", b.Tensor, b.Scale}, {"output", y.Tensor, y.Scale}})
				return &refusal{msg: fmt.Sprintf("operator %d (%s): %s tensor %d %q has scale %g: %v",
					l.Op, l.Kind, bad.role, bad.tensor, tensors[bad.tensor].Name, bad.scale, err)}
			}
		}
	}
	return nil
}

// culprit returns the scale furthest from 1 in log terms; a non-finite or non-positive one
// wins outright.
func culprit(s []scaleOf) scaleOf {
	best, far := s[0], -1.0
	for _, c := range s {
		d := math.Abs(math.Log2(float64(c.scale)))
		if !(c.scale > 0) || math.IsNaN(d) || math.IsInf(d, 0) {
			return c
		}
		if d > far {
			best, far = c, d
		}
	}
	return best
}
