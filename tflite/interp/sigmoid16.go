package interp

import (
	"math"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// sigmoidTable16 holds sigmoid(i/24) in 0.16 fixed point for i = 0..255: the values of
// TFLM's common.h sigmoid_table_uint16, which the int16 LOGISTIC and TANH kernels
// interpolate (tanh(x) = 2*sigmoid(2x) - 1).
var sigmoidTable16 = [256]uint32{
	32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
	41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
	48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
	54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
	58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
	61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
	63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
	64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
	64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
	65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
	65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
	65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
	65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
	65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
	65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
	65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
	65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
	65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
	65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
	65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
}

// checkedLog2 is TFLM quantization_util.cc CheckedLog2 in float: round(log(x) / log(2)) and
// whether x is within 1e-3 of that power of two.
func checkedLog2(x float32) (int, bool) {
	l := float32(math.Log(float64(x))) * (1 / float32(math.Log(2)))
	r := float32(math.Round(float64(l)))
	return int(r), math.Abs(float64(l-r)) < 1e-3
}

// sigmoid16 is int16 LOGISTIC (tanh false) or TANH (tanh true): TFLM logistic_common.cc /
// tanh.cc Prepare and reference_integer_ops Logistic / Tanh for int16. Zero points 0; the
// output scale must be 2^-15. The input is scaled by 3 * s_in * 2^12 (an integer
// multiplier with a rounding right shift, or exactly 3 for power-of-two scales), and the
// sigmoid table is interpolated with 9 (logistic) or 8 (tanh) fractional bits.
func (c *prep) sigmoid16(in, out int, tanh bool) (kernel, error) {
	qi, qo, err := c.quant2(in, out)
	if err != nil {
		return nil, err
	}
	if qi.zp != 0 || qo.zp != 0 {
		return nil, c.errorf("int16 zero points must be 0")
	}
	const inputIntegerBits = 3
	l2, pot := checkedLog2(qi.scale)
	shift := (15 - inputIntegerBits) + l2
	if tanh {
		pot = pot && (shift == 0 || shift == 1)
	} else {
		pot = pot && shift == 0
	}
	var mult int32
	if !pot {
		m := float64(qi.scale) * 4096 * 3
		shift = 0
		for m <= 32767.0/2 && shift <= 30 {
			shift++
			m *= 2
		}
		mult = int32(m)
	}
	if ol2, ok := checkedLog2(qo.scale); !ok || ol2 != -15 {
		return nil, c.errorf("int16 output scale must be 2^-15 (has %g)", qo.scale)
	}
	if mult == 0 {
		mult, shift = 3<<shift, 0
	}
	round := int32(0)
	if shift > 0 {
		round = 1 << (shift - 1)
	}
	f := func(v int16) int16 {
		x := (int32(v)*mult + round) >> shift
		ax := uint32(x)
		if x < 0 {
			ax = uint32(-x)
		}
		if tanh {
			var r int32
			if uh := ax >> 8; uh >= 255 {
				r = 0xFFFF << 8
			} else {
				ua, ub := sigmoidTable16[uh], sigmoidTable16[uh+1]
				r = int32((ua << 8) + (ax&0xFF)*(ub-ua))
			}
			if x >= 0 {
				r = r - (1 << (14 + 9)) + (1 << (9 - 2))
			} else {
				r = -r + (1 << (14 + 9)) + (1 << (9 - 2)) - 1
			}
			return int16(r >> (9 - 1))
		}
		var r uint32
		if uh := ax >> 9; uh >= 255 {
			r = 0x7FFF << 10
		} else {
			ua, ub := sigmoidTable16[uh], sigmoidTable16[uh+1]
			r = (ua << 9) + (ax&0x1ff)*(ub-ua)
		}
		if x >= 0 {
			r += 1 << 9
		} else {
			r = (1 << (16 + 9)) - r + (1 << 9) - 1
		}
		return int16(r >> 10)
	}
	return unaryLoop(in, out, f), nil
}

// logisticAny dispatches LOGISTIC by type: int8 (logistic in activations.go), int16, float32.
func (c *prep) logisticAny() (kernel, error) {
	switch c.firstInputType() {
	case schema.TensorTypeINT16:
		in, out, err := c.sameTypeUnary(schema.TensorTypeINT16)
		if err != nil {
			return nil, err
		}
		return c.sigmoid16(in, out, false)
	case schema.TensorTypeFLOAT32:
		in, out, err := c.sameTypeUnary(schema.TensorTypeFLOAT32)
		if err != nil {
			return nil, err
		}
		// reference_ops::Logistic (float): 1 above 16.619047, exp(x) below -9, else
		// 1 / (1 + exp(-x)).
		return unaryLoop(in, out, func(v float32) float32 {
			switch {
			case v > 16.619047164916992188:
				return 1
			case v < -9:
				return expf(v)
			}
			return 1 / (1 + expf(-v))
		}), nil
	}
	return c.logistic()
}
