/* int8 patch kernels with TFLite's reference arithmetic.
 *
 * Rules followed (learned from TFLite's reference kernels: kernels/internal/common.{h,cc},
 * reference/integer_ops/{conv,depthwise_conv,add,pooling}.h, as used by TFLM):
 * - Requantization is MultiplyByQuantizedMultiplier with the default double rounding: the
 *   accumulator is shifted left by max(shift, 0), multiplied by the Q31 multiplier with
 *   SaturatingRoundingDoublingHighMul (round half away from zero on the 64-bit product), then
 *   shifted right by max(-shift, 0) with RoundingDivideByPOT (round half away from zero).
 * - Convolutions accumulate filter * (input + input_offset) in 32 bits over the in-map taps only,
 *   add the bias, requantize with the output channel's multiplier and shift, add the output
 *   offset and clamp to the activation range. Depthwise output channel ic * depth_multiplier + m
 *   reads input channel ic.
 * - ADD: each input plus its offset is shifted left by left_shift, scaled by its multiplier (shifts
 *   are <= 0), the sum is scaled by the output multiplier, then output offset and clamp.
 * - AVERAGE_POOL_2D sums the in-map elements and divides by their count rounding half away from
 *   zero: (sum + count/2) / count for sum > 0, else (sum - count/2) / count, C division
 *   truncating toward zero. MAX_POOL_2D starts from -128 over the in-map elements. Both clamp
 *   to the activation range.
 * Where TFLite's C++ has signed overflow (undefined, wraps on real hardware) this code wraps in
 * unsigned arithmetic instead, so it is defined everywhere and equal wherever TFLite's is. */
#include "qmcu_kernels.h"

#include <string.h>

/* Two's complement reinterpretation of u without implementation-defined conversion. */
static inline int32_t wrap32(uint32_t u) {
  return u <= 0x7fffffffu ? (int32_t)u : -(int32_t)(~u) - 1;
}

/* Arithmetic shift right (floor division by 2^e), 0 <= e <= 31. */
static inline int32_t asr32(int32_t x, int32_t e) { return x >= 0 ? x >> e : ~(~x >> e); }

/* gemmlowp's SaturatingRoundingDoublingHighMul: the high 32 bits of 2*a*b, rounded. */
static inline int32_t srdhm(int32_t a, int32_t b) {
  int64_t ab, nudge;
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * b;
  nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* division truncates toward zero */
}

/* gemmlowp's RoundingDivideByPOT: x / 2^e rounded half away from zero, 0 <= e <= 31. */
static inline int32_t rounding_divide_by_pot(int32_t x, int32_t e) {
  const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return asr32(x, e) + (remainder > threshold ? 1 : 0);
}

int32_t qmcu_multiply_by_quantized_multiplier(int32_t x, int32_t m, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  return rounding_divide_by_pot(srdhm(wrap32((uint32_t)x << left), m), right);
}

static inline int32_t clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Requantizes a convolution accumulator of output channel oc to int8. */
static inline int8_t requantize(const qmcu_params *p, uint32_t acc, int32_t oc) {
  int32_t v = qmcu_multiply_by_quantized_multiplier(wrap32(acc), p->multiplier[oc], p->shift[oc]);
  v = wrap32((uint32_t)v + (uint32_t)p->output_offset);
  return (int8_t)clamp(v, p->act_min, p->act_max);
}

static inline int32_t load_bias(const void *bias, int32_t oc) {
  int32_t v;
  memcpy(&v, (const unsigned char *)bias + 4 * (size_t)oc, sizeof v);
  return v;
}

/* Kernel taps [*t0, *t1) of a window whose tap 0 reads position `base` (dilation d, k taps)
 * that fall inside [0, n). */
static inline void taps(int32_t base, int32_t k, int32_t d, int32_t n, int32_t *t0, int32_t *t1) {
  int32_t first = base >= 0 ? 0 : (-base + d - 1) / d;
  int32_t end = base >= n ? 0 : (n - 1 - base) / d + 1;
  *t0 = first;
  *t1 = end < k ? end : k;
}

static inline const int8_t *src_at(const qmcu_src *s, int32_t y, int32_t x) {
  return s->data + (ptrdiff_t)(y - s->r0) * s->row + (ptrdiff_t)(x - s->c0) * s->col;
}

static inline int8_t *dst_at(const qmcu_dst *d, int32_t y, int32_t x) {
  return d->data + (ptrdiff_t)(y - d->r0) * d->row + (ptrdiff_t)(x - d->c0) * d->col;
}

/* Convolution over channel-contiguous input: output channels are processed in blocks with one
 * accumulator each, so every kernel tap's input pointer is computed once per block (same
 * arithmetic as the generic loop). */
#define QMCU_CONV_BLOCK 32
static void conv_contiguous(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out,
                            qmcu_rect r, const int8_t *weights, const void *bias) {
  const int32_t in_c = in->c, out_c = out->c, off = p->input_offset;
  const ptrdiff_t filter_size = (ptrdiff_t)p->kh * p->kw * in_c;
  int32_t y, x, oc0, n, j, k, fy, fx, fy0, fy1, fx0, fx1;
  uint32_t acc[QMCU_CONV_BLOCK];
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * p->sh - p->pad_top;
    taps(by, p->kh, p->dh, in->h, &fy0, &fy1);
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * p->sw - p->pad_left;
      int8_t *o = dst_at(out, y, x);
      taps(bx, p->kw, p->dw, in->w, &fx0, &fx1);
      for (oc0 = 0; oc0 < out_c; oc0 += QMCU_CONV_BLOCK) {
        n = out_c - oc0 < QMCU_CONV_BLOCK ? out_c - oc0 : QMCU_CONV_BLOCK;
        for (j = 0; j < n; j++) acc[j] = bias != NULL ? (uint32_t)load_bias(bias, oc0 + j) : 0;
        for (fy = fy0; fy < fy1; fy++) {
          for (fx = fx0; fx < fx1; fx++) {
            const int8_t *s = src_at(in, by + fy * p->dh, bx + fx * p->dw);
            const int8_t *f = weights + oc0 * filter_size + ((ptrdiff_t)fy * p->kw + fx) * in_c;
            for (j = 0; j < n; j++, f += filter_size) {
              uint32_t a = 0;
              for (k = 0; k < in_c; k++) a += (uint32_t)((s[k] + off) * f[k]);
              acc[j] += a;
            }
          }
        }
        for (j = 0; j < n; j++) o[(oc0 + j) * out->ch] = requantize(p, acc[j], oc0 + j);
      }
    }
  }
}

void qmcu_conv_2d(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                  const int8_t *weights, const void *bias) {
  const int32_t in_c = in->c, out_c = out->c, off = p->input_offset;
  const ptrdiff_t ch = in->ch, filter_size = (ptrdiff_t)p->kh * p->kw * in_c;
  int32_t y, x, oc, fy, fx, k, fy0, fy1, fx0, fx1;
  if (ch == 1) {
    conv_contiguous(p, in, out, r, weights, bias);
    return;
  }
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * p->sh - p->pad_top;
    taps(by, p->kh, p->dh, in->h, &fy0, &fy1);
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * p->sw - p->pad_left;
      int8_t *o = dst_at(out, y, x);
      taps(bx, p->kw, p->dw, in->w, &fx0, &fx1);
      for (oc = 0; oc < out_c; oc++) {
        const int8_t *filter = weights + oc * filter_size;
        uint32_t acc = bias != NULL ? (uint32_t)load_bias(bias, oc) : 0;
        for (fy = fy0; fy < fy1; fy++) {
          for (fx = fx0; fx < fx1; fx++) {
            const int8_t *s = src_at(in, by + fy * p->dh, bx + fx * p->dw);
            const int8_t *f = filter + ((ptrdiff_t)fy * p->kw + fx) * in_c;
            for (k = 0; k < in_c; k++) acc += (uint32_t)((s[k * ch] + off) * f[k]);
          }
        }
        o[oc * out->ch] = requantize(p, acc, oc);
      }
    }
  }
}

/* Depthwise convolution with depth multiplier 1 over channel-contiguous input: channels are
 * processed in blocks with one accumulator each, so the innermost loop runs over contiguous
 * channels of input and weights (same arithmetic as the generic loop). */
#define QMCU_DW_BLOCK 32
static void depthwise_contiguous(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out,
                                 qmcu_rect r, const int8_t *weights, const void *bias) {
  const int32_t c = out->c, off = p->input_offset;
  int32_t y, x, c0, k, n, fy, fx, fy0, fy1, fx0, fx1;
  uint32_t acc[QMCU_DW_BLOCK];
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * p->sh - p->pad_top;
    taps(by, p->kh, p->dh, in->h, &fy0, &fy1);
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * p->sw - p->pad_left;
      int8_t *o = dst_at(out, y, x);
      taps(bx, p->kw, p->dw, in->w, &fx0, &fx1);
      for (c0 = 0; c0 < c; c0 += QMCU_DW_BLOCK) {
        n = c - c0 < QMCU_DW_BLOCK ? c - c0 : QMCU_DW_BLOCK;
        for (k = 0; k < n; k++) acc[k] = bias != NULL ? (uint32_t)load_bias(bias, c0 + k) : 0;
        for (fy = fy0; fy < fy1; fy++) {
          for (fx = fx0; fx < fx1; fx++) {
            const int8_t *s = src_at(in, by + fy * p->dh, bx + fx * p->dw) + c0;
            const int8_t *f = weights + ((ptrdiff_t)fy * p->kw + fx) * c + c0;
            for (k = 0; k < n; k++) acc[k] += (uint32_t)((s[k] + off) * f[k]);
          }
        }
        for (k = 0; k < n; k++) o[(c0 + k) * out->ch] = requantize(p, acc[k], c0 + k);
      }
    }
  }
}

void qmcu_depthwise_conv_2d(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out,
                            qmcu_rect r, const int8_t *weights, const void *bias) {
  const int32_t in_c = in->c, out_c = out->c, dm = p->depth_multiplier, off = p->input_offset;
  int32_t y, x, ic, m, fy, fx, fy0, fy1, fx0, fx1;
  if (dm == 1 && in->ch == 1) {
    depthwise_contiguous(p, in, out, r, weights, bias);
    return;
  }
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * p->sh - p->pad_top;
    taps(by, p->kh, p->dh, in->h, &fy0, &fy1);
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * p->sw - p->pad_left;
      int8_t *o = dst_at(out, y, x);
      taps(bx, p->kw, p->dw, in->w, &fx0, &fx1);
      for (ic = 0; ic < in_c; ic++) {
        for (m = 0; m < dm; m++) {
          const int32_t oc = ic * dm + m;
          uint32_t acc = bias != NULL ? (uint32_t)load_bias(bias, oc) : 0;
          for (fy = fy0; fy < fy1; fy++) {
            for (fx = fx0; fx < fx1; fx++) {
              const int8_t *s = src_at(in, by + fy * p->dh, bx + fx * p->dw);
              const int8_t f = weights[((ptrdiff_t)fy * p->kw + fx) * out_c + oc];
              acc += (uint32_t)((s[ic * in->ch] + off) * f);
            }
          }
          o[oc * out->ch] = requantize(p, acc, oc);
        }
      }
    }
  }
}

void qmcu_add(const qmcu_params *p, const qmcu_src *in1, const qmcu_src *in2, const qmcu_dst *out,
              qmcu_rect r) {
  const int32_t c = out->c;
  int32_t y, x, k;
  for (y = r.r0; y < r.r1; y++) {
    for (x = r.c0; x < r.c1; x++) {
      const int8_t *a = src_at(in1, y, x), *b = src_at(in2, y, x);
      int8_t *o = dst_at(out, y, x);
      for (k = 0; k < c; k++) {
        /* |input + offset| <= 255 and left_shift <= 22 (checked by the plan parser): no overflow,
         * and each scaled input is at most its shifted magnitude, so their sum fits too. */
        const int32_t va = (a[k * in1->ch] + p->in1_offset) * ((int32_t)1 << p->left_shift);
        const int32_t vb = (b[k * in2->ch] + p->in2_offset) * ((int32_t)1 << p->left_shift);
        const int32_t sa = qmcu_multiply_by_quantized_multiplier(va, p->in1_multiplier, p->in1_shift);
        const int32_t sb = qmcu_multiply_by_quantized_multiplier(vb, p->in2_multiplier, p->in2_shift);
        int32_t v = qmcu_multiply_by_quantized_multiplier(sa + sb, p->out_multiplier, p->out_shift);
        v = wrap32((uint32_t)v + (uint32_t)p->output_offset);
        o[k * out->ch] = (int8_t)clamp(v, p->act_min, p->act_max);
      }
    }
  }
}

void qmcu_pad(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r) {
  const int32_t c = out->c;
  const int8_t fill = (int8_t)p->output_offset;
  int32_t y, x, k;
  for (y = r.r0; y < r.r1; y++) {
    const int32_t iy = y - p->pad_top;
    for (x = r.c0; x < r.c1; x++) {
      const int32_t ix = x - p->pad_left;
      int8_t *o = dst_at(out, y, x);
      if (iy >= 0 && iy < in->h && ix >= 0 && ix < in->w) {
        const int8_t *s = src_at(in, iy, ix);
        for (k = 0; k < c; k++) o[k * out->ch] = s[k * in->ch];
      } else {
        for (k = 0; k < c; k++) o[k * out->ch] = fill;
      }
    }
  }
}

void qmcu_max_pool_2d(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r) {
  const int32_t c = out->c;
  int32_t y, x, k, fy, fx, fy0, fy1, fx0, fx1;
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * p->sh - p->pad_top;
    taps(by, p->kh, 1, in->h, &fy0, &fy1);
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * p->sw - p->pad_left;
      int8_t *o = dst_at(out, y, x);
      taps(bx, p->kw, 1, in->w, &fx0, &fx1);
      for (k = 0; k < c; k++) {
        int32_t mx = -128;
        for (fy = fy0; fy < fy1; fy++) {
          for (fx = fx0; fx < fx1; fx++) {
            const int32_t v = src_at(in, by + fy, bx + fx)[k * in->ch];
            if (v > mx) mx = v;
          }
        }
        o[k * out->ch] = (int8_t)clamp(mx, p->act_min, p->act_max);
      }
    }
  }
}

int qmcu_average_pool_2d(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out,
                         qmcu_rect r) {
  const int32_t c = out->c;
  int32_t y, x, k, fy, fx, fy0, fy1, fx0, fx1;
  int rc = 0;
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * p->sh - p->pad_top;
    taps(by, p->kh, 1, in->h, &fy0, &fy1);
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * p->sw - p->pad_left;
      int8_t *o = dst_at(out, y, x);
      int64_t count;
      taps(bx, p->kw, 1, in->w, &fx0, &fx1);
      if (fx1 <= fx0 || fy1 <= fy0) {
        rc = -1;
        continue;
      }
      /* The sum runs in 64 bits (TFLite: 32, equal unless it would overflow). */
      count = (int64_t)(fy1 - fy0) * (fx1 - fx0);
      for (k = 0; k < c; k++) {
        int64_t sum = 0, avg;
        for (fy = fy0; fy < fy1; fy++)
          for (fx = fx0; fx < fx1; fx++) sum += src_at(in, by + fy, bx + fx)[k * in->ch];
        avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
        o[k * out->ch] = (int8_t)clamp((int32_t)avg, p->act_min, p->act_max);
      }
    }
  }
  return rc;
}
