/* QUANTIZE of the float32 stage input (PLAN.md layer kind 7), bit for bit as TFLM computes it.
 *
 * TFLM's QUANTIZE float32 -> int8 (tensorflow/lite/micro/kernels/quantize_common.cc,
 * EvalQuantizeReference) calls reference_ops::AffineQuantize
 * (tensorflow/lite/kernels/internal/reference/quantize.h) with the output's per-tensor scale
 * and zero point (Prepare stores the float scale as a double; Eval casts it back to float, so
 * it is the tensor's float scale exactly):
 *   q = clamp(static_cast<int32_t>(TfLiteRound(val / static_cast<float>(scale))) + zero_point,
 *             -128, 127)
 * with the division in float32 and TfLiteRound = std::round, half away from zero.
 * This file does exactly that without libm: the quotient is a float32 division (C99 rounds an
 * assignment to float even where FLT_EVAL_METHOD is 2; builds must not use -ffast-math, which
 * may replace the division by a reciprocal multiply), rounded half away from zero by
 * truncation and an exact fraction test.
 * Quotients outside the int32 range and NaN make TFLM's cast undefined behaviour; this code
 * gives what the hardware conversion gives there (Arm: saturation, NaN -> 0; elsewhere, as
 * x86-64's cvttss2si: INT32_MIN), then adds the zero point with wrap-around as those machines
 * do, so it equals TFLM on the targets it runs on for every input bit pattern. */
#include <string.h>

#include "qmcu_kernels.h"

static inline int32_t wrap32(uint32_t u) { return u <= 0x7fffffffu ? (int32_t)u : -(int32_t)(~u) - 1; }

/* static_cast<int32_t>(std::round(q)) as the target executes it. */
static int32_t round_to_int32(float q) {
  int32_t i;
  float frac;
  if (!(q >= -2147483648.0f && q < 2147483648.0f)) {
#if defined(__arm__) || defined(__aarch64__) || defined(__ARM_ARCH)
    if (q != q) return 0;
    return q > 0 ? INT32_MAX : INT32_MIN;
#else
    return INT32_MIN;
#endif
  }
  i = (int32_t)q;      /* truncation toward zero, defined: |q| < 2^31 */
  frac = q - (float)i; /* exact: (float)i is q's integer part */
  if (frac >= 0.5f) return i + 1; /* a fraction exists only for |q| < 2^23: no overflow */
  if (frac <= -0.5f) return i - 1;
  return i;
}

int32_t qmcu_quantize_value(float v, float scale, int32_t zero_point) {
  const float q = v / scale;
  const int32_t r = wrap32((uint32_t)round_to_int32(q) + (uint32_t)zero_point);
  return r < -128 ? -128 : (r > 127 ? 127 : r);
}

void qmcu_quantize(const qmcu_params *p, float scale, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r) {
  const unsigned char *base = (const unsigned char *)in->data;
  int32_t y, x, k;
  for (y = r.r0; y < r.r1; y++) {
    for (x = r.c0; x < r.c1; x++) {
      const ptrdiff_t px = (ptrdiff_t)(y - in->r0) * in->row + (ptrdiff_t)(x - in->c0) * in->col;
      int8_t *o = out->data + (ptrdiff_t)(y - out->r0) * out->row + (ptrdiff_t)(x - out->c0) * out->col;
      for (k = 0; k < out->c; k++) {
        float v;
        /* Tensors are 4-byte aligned in TFLM; memcpy keeps any caller's buffer legal. */
        memcpy(&v, base + 4 * (px + (ptrdiff_t)k * in->ch), sizeof v);
        o[k * out->ch] = (int8_t)qmcu_quantize_value(v, scale, p->output_offset);
      }
    }
  }
}
