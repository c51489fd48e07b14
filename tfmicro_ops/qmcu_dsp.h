/* Cortex-M DSP-extension loops of the patch kernels (included by qmcu_kernels.c after its
 * helpers; compiled only where the compiler defines __ARM_FEATURE_DSP, e.g. Cortex-M4, M7,
 * M33 with DSP, M55). They compute the same bytes as the portable loops, integer for integer:
 *
 * - Products and sums: every product (input + offset) * weight fits 16 x 16 bits, so SMLAD and
 *   SMLAxy (32-bit accumulate, wrapping like the portable code's unsigned sums) give the same
 *   32-bit accumulators as the portable multiply-accumulate loops, in any summation order.
 * - Requantization is MultiplyByQuantizedMultiplier with double rounding, as in qmcu_kernels.c,
 *   written for a 32x32->64 multiplier: with multiplier m >= 0 (the plan parser checks) the
 *   saturating case of SaturatingRoundingDoublingHighMul cannot occur, and
 *   (a*m + nudge) / 2^31 truncated toward zero equals floor((a*m + 2^30) / 2^31) for both signs
 *   of a*m (for a*m < 0: a*m + 1 - 2^30 is negative, and truncating it toward zero is the floor
 *   of a*m + 1 - 2^30 + 2^31 - 1). RoundingDivideByPOT is unchanged.
 *
 * The loops follow what CMSIS-NN-class kernels do on these cores: convolution over an im2col
 * buffer of int16 (input plus offset), two output pixels by two filters per pass, four int8
 * weights per load expanded with SXTB16 into the halves SMLAD multiplies; depthwise
 * convolution four channels per word with SXTAB16 (the offset added in the same instruction)
 * and one SMLABB/SMLATT per product; max pooling four channels per word with SSUB8/SEL.
 * Low-bit maps (PLAN.md version 2) keep the same multiplies: packed 4-bit and 2-bit codes are
 * split with masks and widened with UXTAB16 (offset added) straight into the int16 halves,
 * one load per 8 or 16 codes, and outputs are stored as whole packed bytes. With int8 weights
 * no packing of two products into one 32-bit lane beats SMLAD's two products per instruction
 * on these cores: a 4-bit code times an int8 weight needs 12 bits, so two pixels cannot share
 * a 16-bit SMLAD half, and with 2-bit codes the guard bits allow about ten products before
 * the fields must be split again, which costs what the packing saves.
 * Helpers are always inlined so that -Os builds (TFLM's usual) keep the same inner loops. */
#ifndef QMCU_DSP_H_
#define QMCU_DSP_H_

#include <arm_acle.h>

#define QMCU_DSP_INLINE static inline __attribute__((always_inline))

/* GCC's induction-variable optimization turns the nine taps of an unrolled 3x3 window into
 * nine pointers, which spills on these cores (person_detect's depthwise layers: 6% more
 * instructions); the depthwise loops are compiled without it. */
#if defined(__GNUC__) && !defined(__clang__)
#define QMCU_DSP_NO_IVOPTS __attribute__((optimize("no-ivopts")))
#else
#define QMCU_DSP_NO_IVOPTS
#endif

/* Largest im2col row of the DSP convolution in int16 elements (two rows live on the stack:
 * 4 * QMCU_DSP_COL_MAX bytes); larger filters run the portable tap-by-tap loop. */
#ifndef QMCU_DSP_COL_MAX
#define QMCU_DSP_COL_MAX 576
#endif

/* Four bytes at p, any alignment (Cortex-M3 and later load unaligned words in one LDR). */
QMCU_DSP_INLINE uint32_t dsp_ld32(const void *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

QMCU_DSP_INLINE void dsp_st32(void *p, uint32_t v) { memcpy(p, &v, sizeof v); }

/* SXTB16 / SXTAB16 of the bytes rotated right by 8 (bytes 1 and 3), the rotation folded into
 * the instruction (compilers do not always fold it). */
QMCU_DSP_INLINE int16x2_t dsp_sxtb16_ror8(uint32_t v) {
  int16x2_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}

QMCU_DSP_INLINE int16x2_t dsp_sxtab16_ror8(uint32_t a, uint32_t v) {
  int16x2_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
  return r;
}

/* UXTAB16 of the bytes rotated right by 8, and the two PKH halfword packs. */
QMCU_DSP_INLINE uint32_t dsp_uxtab16_ror8(uint32_t a, uint32_t v) {
  uint32_t r;
  __asm__("uxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
  return r;
}

/* (low half of a, low half of b) */
QMCU_DSP_INLINE uint32_t dsp_pkhbt(uint32_t a, uint32_t b) {
  uint32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
  return r;
}

/* (high half of b, high half of a) */
QMCU_DSP_INLINE uint32_t dsp_pkhtb(uint32_t a, uint32_t b) {
  uint32_t r;
  __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
  return r;
}

/* MultiplyByQuantizedMultiplier (see the header comment), branch-free. */
QMCU_DSP_INLINE int32_t dsp_mbqm(int32_t x, int32_t m, int32_t shift) {
  /* left = max(shift, 0), right = max(-shift, 0) = left - shift; arithmetic shifts of negative
   * values are floor on GCC and Clang for Arm. */
  const int32_t left = shift & ~(shift >> 31), right = left - shift;
  const int32_t a = (int32_t)((uint32_t)x << left);
  const int32_t v = (int32_t)(((int64_t)a * m + ((int64_t)1 << 30)) >> 31);
  const int32_t mask = (int32_t)((1u << right) - 1u);
  const int32_t threshold = (mask >> 1) + (int32_t)((uint32_t)v >> 31);
  return (v >> right) + ((v & mask) > threshold);
}

/* The im2col row of output pixel (y, x): element k = tap * in_c + channel holds input plus
 * offset as int16 (0 for border taps: the zero point plus its offset). Each whole group of four
 * elements is stored as (e0, e2, e1, e3), the order in which SXTB16 splits four weights, so
 * that one SMLAD pairs the even and one the odd elements; the last K % 4 stay in order. */
static void dsp_im2col(const qmcu_params *p, const qmcu_src *in, int32_t y, int32_t x, int16_t *col) {
  const int32_t in_c = in->c, off = p->input_offset, K = p->kh * p->kw * in_c;
  const int32_t by = y * p->sh - p->pad_top, bx = x * p->sw - p->pad_left;
  const uint32_t off2 = ((uint32_t)off & 0xffffu) | ((uint32_t)off << 16);
  int8_t buf[QMCU_CHUNK];
  int32_t fy, fx, k, k0, m;
  if ((in->bits == 4 && (in_c & 3) == 0) || (in->bits == 2 && (in_c & 7) == 0)) {
    /* Packed codes (PLAN.md): a word holds 8 (4-bit) or 16 (2-bit) channels; masks split
     * it into bytes of every second or fourth channel, UXTAB16 adds the offset to two of them
     * and PKHBT/PKHTB put them into the (e0, e2, e1, e3) groups. A last half word serves the
     * last 4 (4-bit) or 8 (2-bit) channels. */
    for (fy = 0; fy < p->kh; fy++) {
      const int32_t iy = by + fy * p->dh;
      for (fx = 0; fx < p->kw; fx++) {
        const int32_t ix = bx + fx * p->dw;
        int16_t *c = col + (fy * p->kw + fx) * in_c;
        if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) {
          memset(c, 0, sizeof *c * (size_t)in_c);
          continue;
        }
        {
          const uint8_t *px = (const uint8_t *)src_at(in, iy, ix);
          if (in->bits == 4) {
            for (k = 0; k < in_c; k += 8, px += 4, c += 8) {
              const uint32_t v = k + 8 <= in_c ? dsp_ld32(px) : (uint32_t)px[0] | (uint32_t)px[1] << 8;
              const uint32_t lo = v & 0x0f0f0f0fu, hi = (v >> 4) & 0x0f0f0f0fu;
              const uint32_t el = __uxtab16(off2, lo), ol = dsp_uxtab16_ror8(off2, lo); /* (c0,c4) (c2,c6) */
              const uint32_t eh = __uxtab16(off2, hi), oh = dsp_uxtab16_ror8(off2, hi); /* (c1,c5) (c3,c7) */
              dsp_st32(c, dsp_pkhbt(el, ol));
              dsp_st32(c + 2, dsp_pkhbt(eh, oh));
              if (k + 8 <= in_c) {
                dsp_st32(c + 4, dsp_pkhtb(ol, el));
                dsp_st32(c + 6, dsp_pkhtb(oh, eh));
              }
            }
          } else {
            for (k = 0; k < in_c; k += 16, px += 4, c += 16) {
              const uint32_t v = k + 16 <= in_c ? dsp_ld32(px) : (uint32_t)px[0] | (uint32_t)px[1] << 8;
              const uint32_t p0 = v & 0x03030303u, p1 = (v >> 2) & 0x03030303u;
              const uint32_t p2 = (v >> 4) & 0x03030303u, p3 = (v >> 6) & 0x03030303u;
              /* e_j = (c_j, c_8+j), o_j = (c_4+j, c_12+j) */
              const uint32_t e0 = __uxtab16(off2, p0), e1 = __uxtab16(off2, p1);
              const uint32_t e2 = __uxtab16(off2, p2), e3 = __uxtab16(off2, p3);
              const uint32_t o0 = dsp_uxtab16_ror8(off2, p0), o1 = dsp_uxtab16_ror8(off2, p1);
              const uint32_t o2 = dsp_uxtab16_ror8(off2, p2), o3 = dsp_uxtab16_ror8(off2, p3);
              dsp_st32(c, dsp_pkhbt(e0, e2));
              dsp_st32(c + 2, dsp_pkhbt(e1, e3));
              dsp_st32(c + 4, dsp_pkhbt(o0, o2));
              dsp_st32(c + 6, dsp_pkhbt(o1, o3));
              if (k + 16 <= in_c) {
                dsp_st32(c + 8, dsp_pkhtb(e2, e0));
                dsp_st32(c + 10, dsp_pkhtb(e3, e1));
                dsp_st32(c + 12, dsp_pkhtb(o2, o0));
                dsp_st32(c + 14, dsp_pkhtb(o3, o1));
              }
            }
          }
        }
      }
    }
    return;
  }
  if (direct(in) && (in_c & 3) == 0) {
    /* Whole groups never straddle taps: SXTAB16 adds the offset and reorders in one go. */
    for (fy = 0; fy < p->kh; fy++) {
      const int32_t iy = by + fy * p->dh;
      for (fx = 0; fx < p->kw; fx++) {
        const int32_t ix = bx + fx * p->dw;
        int16_t *c = col + (fy * p->kw + fx) * in_c;
        if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) {
          memset(c, 0, sizeof *c * (size_t)in_c);
        } else {
          const int8_t *px = src_at(in, iy, ix);
          for (k = 0; k < in_c; k += 4) {
            const uint32_t w = dsp_ld32(px + k);
            dsp_st32(c + k, (uint32_t)__sxtab16((int16x2_t)off2, (int8x4_t)w));
            dsp_st32(c + k + 2, (uint32_t)dsp_sxtab16_ror8(off2, w));
          }
        }
      }
    }
    return;
  }
  if (direct(in)) {
    /* Channels in place but groups straddling taps (in_c % 4 != 0, e.g. RGB input): the row
     * in order, element by element, then the reordering below. */
    const int32_t kh = p->kh, kw = p->kw, dh = p->dh, dw = p->dw, in_h = in->h, in_w = in->w;
    const ptrdiff_t irow = in->row, icol = in->col;
    const int8_t *const base = in->data - (ptrdiff_t)in->r0 * irow - (ptrdiff_t)in->c0 * icol;
    int16_t *c = col;
    for (fy = 0; fy < kh; fy++) {
      const int32_t iy = by + fy * dh;
      if (iy < 0 || iy >= in_h) {
        memset(c, 0, sizeof *c * (size_t)(kw * in_c));
        c += kw * in_c;
        continue;
      }
      for (fx = 0; fx < kw; fx++, c += in_c) {
        const int32_t ix = bx + fx * dw;
        if (ix < 0 || ix >= in_w) {
          for (k = 0; k < in_c; k++) c[k] = 0;
        } else {
          const int8_t *px = base + (ptrdiff_t)iy * irow + (ptrdiff_t)ix * icol;
          for (k = 0; k < in_c; k++) c[k] = (int16_t)(px[k] + off);
        }
      }
    }
  } else {
    for (fy = 0; fy < p->kh; fy++) {
      const int32_t iy = by + fy * p->dh;
      for (fx = 0; fx < p->kw; fx++) {
        const int32_t ix = bx + fx * p->dw;
        int16_t *c = col + (fy * p->kw + fx) * in_c;
        if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) {
          memset(c, 0, sizeof *c * (size_t)in_c);
          continue;
        }
        for (k0 = 0; k0 < in_c; k0 += QMCU_CHUNK) {
          const int8_t *s;
          m = in_c - k0 < QMCU_CHUNK ? in_c - k0 : QMCU_CHUNK;
          s = fetch(in, src_at(in, iy, ix), k0, m, buf);
          for (k = 0; k < m; k++) c[k0 + k] = (int16_t)(s[k] + off);
        }
      }
    }
  }
  for (k = 0; k + 4 <= K; k += 4) {
    const int16_t e1 = col[k + 1];
    col[k + 1] = col[k + 2];
    col[k + 2] = e1;
  }
}

/* Dot products of two filters with two im2col rows over K elements (groups as dsp_im2col
 * stores them): s[2 * i + j] = filter i . row j. */
QMCU_DSP_INLINE void dsp_mm2x2(const int16_t *ca, const int16_t *cb, const int8_t *f0, const int8_t *f1,
                               int32_t K, int32_t *s) {
  int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0, k;
  for (k = 0; k + 4 <= K; k += 4) {
    const uint32_t w0 = dsp_ld32(f0 + k), w1 = dsp_ld32(f1 + k);
    const int16x2_t w0e = __sxtb16((int8x4_t)w0), w0o = dsp_sxtb16_ror8(w0);
    const int16x2_t w1e = __sxtb16((int8x4_t)w1), w1o = dsp_sxtb16_ror8(w1);
    int16x2_t e = (int16x2_t)dsp_ld32(ca + k), o = (int16x2_t)dsp_ld32(ca + k + 2);
    s00 = __smlad(e, w0e, s00);
    s00 = __smlad(o, w0o, s00);
    s10 = __smlad(e, w1e, s10);
    s10 = __smlad(o, w1o, s10);
    e = (int16x2_t)dsp_ld32(cb + k);
    o = (int16x2_t)dsp_ld32(cb + k + 2);
    s01 = __smlad(e, w0e, s01);
    s01 = __smlad(o, w0o, s01);
    s11 = __smlad(e, w1e, s11);
    s11 = __smlad(o, w1o, s11);
  }
  for (; k < K; k++) {
    s00 += ca[k] * f0[k];
    s01 += cb[k] * f0[k];
    s10 += ca[k] * f1[k];
    s11 += cb[k] * f1[k];
  }
  s[0] = s00;
  s[1] = s01;
  s[2] = s10;
  s[3] = s11;
}

/* One filter with one im2col row. */
QMCU_DSP_INLINE int32_t dsp_mm1x1(const int16_t *c, const int8_t *f, int32_t K) {
  int32_t s = 0, k;
  for (k = 0; k + 4 <= K; k += 4) {
    const uint32_t w = dsp_ld32(f + k);
    s = __smlad((int16x2_t)dsp_ld32(c + k), __sxtb16((int8x4_t)w), s);
    s = __smlad((int16x2_t)dsp_ld32(c + k + 2), dsp_sxtb16_ror8(w), s);
  }
  for (; k < K; k++) s += c[k] * f[k];
  return s;
}

/* A layer's output stage, copied out of the parameters into locals: stores through int8
 * pointers may alias anything, so fields read through p would be reloaded after every store. */
typedef struct {
  const int32_t *mult, *shift;
  const unsigned char *bias;
  int32_t out_off, lo, hi;
  int out8; /* int8 output channels in place */
  int fast; /* dsp_fast_requant's answer: 1 or 2 when the short requantization is exact */
  const qmcu_dst *out;
} dsp_out;

QMCU_DSP_INLINE dsp_out dsp_out_of(const qmcu_params *p, const qmcu_dst *out, const void *bias, int fast) {
  dsp_out q;
  q.fast = fast;
  q.mult = p->multiplier;
  q.shift = p->shift;
  q.bias = (const unsigned char *)bias;
  q.out_off = p->output_offset;
  q.lo = p->act_min;
  q.hi = p->act_max;
  q.out8 = out->bits == 8 && out->ch == 1;
  q.out = out;
  return q;
}

QMCU_DSP_INLINE int32_t dsp_clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Stores code v as channel k of the output pixel at o. */
QMCU_DSP_INLINE void dsp_put(const dsp_out *q, int8_t *o, int32_t k, int32_t v) {
  if (q->out8)
    o[k] = (int8_t)v;
  else
    put(q->out, o, k, v);
}

/* Whether the short requantization of dsp_out_code is exact for a layer: every shift is
 * negative (a right shift of at least one bit, no left shift) and every accumulator stays
 * below 2^30 in magnitude (|bias| + taps * 255 * 128, each product bounded as in the header
 * comment). Then SaturatingRoundingDoublingHighMul(a, m) = floor((a*m + 2^30) / 2^31) is
 * SMMULR(2a, m) = floor((2a*m + 2^31) / 2^32), and RoundingDivideByPOT(v, e), e >= 1, is
 * floor((v + 2^(e-1) - [v < 0]) / 2^e): writing v = q*2^e + r, both add 1 to q exactly when
 * r >= 2^(e-1) + [v < 0]; |v| < 2^29 keeps the sum in range. Returns 0 when it does not
 * hold, 2, 3 or 4 when moreover the activation range is the whole code range of an int8,
 * 4-bit or 2-bit output (the clamp is one SSAT or USAT), else 1. */
static int dsp_fast_requant(const qmcu_params *p, const qmcu_dst *out, const void *bias, int32_t out_c,
                            int64_t taps) {
  const int64_t sum_max = taps * 255 * 128;
  int32_t oc, b;
  if (sum_max >= ((int64_t)1 << 30)) return 0;
  for (oc = 0; oc < out_c; oc++) {
    memcpy(&b, (const unsigned char *)bias + 4 * (size_t)oc, sizeof b);
    if (p->shift[oc] > -1 || (b < 0 ? -(int64_t)b : (int64_t)b) + sum_max >= ((int64_t)1 << 30)) return 0;
  }
  if (out->bits == 8) return p->act_min == -128 && p->act_max == 127 ? 2 : 1;
  if (p->act_min != 0 || p->act_max != (1 << out->bits) - 1) return 1;
  return out->bits == 4 ? 3 : 4;
}

/* Calls F(mode) with dsp_fast_requant's answer as a constant, one instance per answer. */
#define QMCU_DSP_BY_MODE(mode, F) \
  do {                            \
    switch (mode) {               \
      case 4: F(4); break;        \
      case 3: F(3); break;        \
      case 2: F(2); break;        \
      case 1: F(1); break;        \
      default: F(0); break;       \
    }                             \
  } while (0)

QMCU_DSP_INLINE int32_t dsp_smmulr(int32_t a, int32_t b) {
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}

/* Bias, requantization, output offset and clamp of output channel oc's sum (the DSP paths
 * run with a bias array only). */
QMCU_DSP_INLINE int32_t dsp_out_code(const dsp_out *q, int32_t oc, int32_t sum) {
  int32_t b, v;
  memcpy(&b, q->bias + 4 * (size_t)oc, sizeof b);
  if (q->fast) {
    const int32_t a = (int32_t)((uint32_t)b + (uint32_t)sum), right = -q->shift[oc];
    v = dsp_smmulr(a * 2, q->mult[oc]);
    v = (v + ((int32_t)1 << (right - 1)) - (int32_t)((uint32_t)v >> 31)) >> right;
    /* |v| < 2^29: adding the offset cannot wrap; SSAT clamps to the whole int8 range. */
    if (q->fast == 2) return __ssat(v + q->out_off, 8);
    if (q->fast == 3) return (int32_t)__usat(v + q->out_off, 4);
    if (q->fast == 4) return (int32_t)__usat(v + q->out_off, 2);
  } else {
    v = dsp_mbqm((int32_t)((uint32_t)b + (uint32_t)sum), q->mult[oc], q->shift[oc]);
  }
  return dsp_clamp((int32_t)((uint32_t)v + (uint32_t)q->out_off), q->lo, q->hi);
}

QMCU_DSP_INLINE void dsp_emit(const dsp_out *q, int8_t *o, int32_t oc, int32_t sum) {
  dsp_put(q, o, oc, dsp_out_code(q, oc, sum));
}

/* Four consecutive output channels oc.. at once: one format test, one word store for int8. */
QMCU_DSP_INLINE void dsp_emit4(const dsp_out *q, int8_t *o, int32_t oc, int32_t a0, int32_t a1, int32_t a2,
                               int32_t a3) {
  const int32_t v0 = dsp_out_code(q, oc, a0), v1 = dsp_out_code(q, oc + 1, a1);
  const int32_t v2 = dsp_out_code(q, oc + 2, a2), v3 = dsp_out_code(q, oc + 3, a3);
  if (q->out8) {
    dsp_st32(o + oc, ((uint32_t)v0 & 0xffu) | (((uint32_t)v1 & 0xffu) << 8) | (((uint32_t)v2 & 0xffu) << 16) |
                         ((uint32_t)v3 << 24));
  } else if (q->out->bits == 4 && (oc & 3) == 0) {
    /* Codes are inside the output's code range (the activation range is): no masks. Two
     * whole bytes, channels oc .. oc + 3 only. */
    const uint32_t h = (uint32_t)v0 | (uint32_t)v1 << 4 | (uint32_t)v2 << 8 | (uint32_t)v3 << 12;
    unsigned char *b = (unsigned char *)o + (oc >> 1);
    b[0] = (unsigned char)h;
    b[1] = (unsigned char)(h >> 8);
  } else if (q->out->bits == 2 && (oc & 3) == 0) {
    ((unsigned char *)o)[oc >> 2] = (unsigned char)(v0 | v1 << 2 | v2 << 4 | v3 << 6);
  } else {
    put(q->out, o, oc, v0);
    put(q->out, o, oc + 1, v1);
    put(q->out, o, oc + 2, v2);
    put(q->out, o, oc + 3, v3);
  }
}

/* Two consecutive output channels oc, oc + 1 (oc even): one byte store for 4-bit outputs. */
QMCU_DSP_INLINE void dsp_emit2(const dsp_out *q, int8_t *o, int32_t oc, int32_t a0, int32_t a1) {
  const int32_t v0 = dsp_out_code(q, oc, a0), v1 = dsp_out_code(q, oc + 1, a1);
  if (q->out8) {
    o[oc] = (int8_t)v0;
    o[oc + 1] = (int8_t)v1;
  } else if (q->out->bits == 4) {
    ((unsigned char *)o)[oc >> 1] = (unsigned char)(v0 | v1 << 4);
  } else {
    put(q->out, o, oc, v0);
    put(q->out, o, oc + 1, v1);
  }
}

/* CONV_2D, any kernel size whose im2col row fits QMCU_DSP_COL_MAX: the rectangle's output
 * pixels in pairs (in row-major order, so only a rectangle's last pixel can be single), two
 * filters per pass over both rows. */
QMCU_DSP_INLINE void conv_dsp_impl(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                                   const int8_t *weights, const void *bias, const int fast) {
  const int32_t out_c = out->c, K = p->kh * p->kw * in->c, w = r.c1 - r.c0;
  const int32_t n = (r.r1 - r.r0) * w;
  const dsp_out q = dsp_out_of(p, out, bias, fast);
  int16_t col[2][QMCU_DSP_COL_MAX];
  int32_t i, oc, s[4];
  for (i = 0; i < n; i += 2) {
    const int32_t ya = r.r0 + i / w, xa = r.c0 + i % w;
    int8_t *oa = dst_at(out, ya, xa);
    dsp_im2col(p, in, ya, xa, col[0]);
    if (i + 1 < n) {
      const int32_t yb = r.r0 + (i + 1) / w, xb = r.c0 + (i + 1) % w;
      int8_t *ob = dst_at(out, yb, xb);
      dsp_im2col(p, in, yb, xb, col[1]);
      for (oc = 0; oc + 2 <= out_c; oc += 2) {
        const int8_t *f = weights + (ptrdiff_t)oc * K;
        dsp_mm2x2(col[0], col[1], f, f + K, K, s);
        dsp_emit2(&q, oa, oc, s[0], s[2]);
        dsp_emit2(&q, ob, oc, s[1], s[3]);
      }
      if (oc < out_c) {
        dsp_emit(&q, oa, oc, dsp_mm1x1(col[0], weights + (ptrdiff_t)oc * K, K));
        dsp_emit(&q, ob, oc, dsp_mm1x1(col[1], weights + (ptrdiff_t)oc * K, K));
      }
    } else {
      for (oc = 0; oc < out_c; oc++) dsp_emit(&q, oa, oc, dsp_mm1x1(col[0], weights + (ptrdiff_t)oc * K, K));
    }
  }
}

/* One depthwise tap for four channels: their inputs at px (plus offset), weights at f. */
QMCU_DSP_INLINE void dsp_dw_tap4(const int8_t *px, const int8_t *f, uint32_t off2, int32_t *a0, int32_t *a1,
                                 int32_t *a2, int32_t *a3) {
  const uint32_t v = dsp_ld32(px), wt = dsp_ld32(f);
  const int16x2_t ve = __sxtab16((int16x2_t)off2, (int8x4_t)v), vo = dsp_sxtab16_ror8(off2, v);
  const int16x2_t we = __sxtb16((int8x4_t)wt), wo = dsp_sxtb16_ror8(wt);
  *a0 = __smlabb(ve, we, *a0);
  *a2 = __smlatt(ve, we, *a2);
  *a1 = __smlabb(vo, wo, *a1);
  *a3 = __smlatt(vo, wo, *a3);
}

/* One depthwise tap for four channels sharing the input value v (plus offset). */
QMCU_DSP_INLINE void dsp_dw_tap1x4(int32_t v, const int8_t *f, int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3) {
  int32_t vv; /* v in both halves */
  __asm__("pkhbt %0, %1, %1, lsl #16" : "=r"(vv) : "r"(v));
  const uint32_t wt = dsp_ld32(f);
  const int16x2_t we = __sxtb16((int8x4_t)wt), wo = dsp_sxtb16_ror8(wt);
  *a0 = __smlabb(vv, we, *a0);
  *a2 = __smlatt(vv, we, *a2);
  *a1 = __smlabb(vv, wo, *a1);
  *a3 = __smlatt(vv, wo, *a3);
}

/* One depthwise tap for four channels sharing the input byte at px (plus off; depth
 * multipliers 4k): SMLABB and SMLABT read the input from the bottom half, no packing. */
QMCU_DSP_INLINE void dsp_dw_tap1x4b(const int8_t *px, const int8_t *f, int32_t off, int32_t *a0, int32_t *a1,
                                    int32_t *a2, int32_t *a3) {
  const int32_t v = *px + off;
  const uint32_t wt = dsp_ld32(f);
  const int16x2_t we = __sxtb16((int8x4_t)wt), wo = dsp_sxtb16_ror8(wt);
  *a0 = __smlabb((int16x2_t)v, we, *a0);
  *a2 = __smlabt((int16x2_t)v, we, *a2);
  *a1 = __smlabb((int16x2_t)v, wo, *a1);
  *a3 = __smlabt((int16x2_t)v, wo, *a3);
}

/* Where depthwise_dsp's general group loop starts: after the groups of the 3x3 paths (taken
 * for every multiplier that has groups). */
QMCU_DSP_INLINE int32_t oc_start(int32_t dm, int32_t nx, int32_t ny, int32_t groups) {
  (void)dm;
  return nx == 3 && ny == 3 ? groups : 0;
}

/* Dot products of two filters with two int8 pixels (plus offset) read in place over K = in_c
 * channels, K % 4 == 0: SXTAB16 widens four inputs per word into the (e0, e2), (e1, e3)
 * halves that SXTB16 gives the weights, so no im2col row is needed. */
QMCU_DSP_INLINE void dsp_mm2x2_direct(const int8_t *pa, const int8_t *pb, const int8_t *f0, const int8_t *f1,
                                      int32_t K, uint32_t off2, int32_t *s) {
  int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0, k;
  for (k = 0; k < K; k += 4) {
    const uint32_t w0 = dsp_ld32(f0 + k), w1 = dsp_ld32(f1 + k), va = dsp_ld32(pa + k), vb = dsp_ld32(pb + k);
    const int16x2_t w0e = __sxtb16((int8x4_t)w0), w0o = dsp_sxtb16_ror8(w0);
    const int16x2_t w1e = __sxtb16((int8x4_t)w1), w1o = dsp_sxtb16_ror8(w1);
    int16x2_t e = __sxtab16((int16x2_t)off2, (int8x4_t)va), o = dsp_sxtab16_ror8(off2, va);
    s00 = __smlad(e, w0e, s00);
    s00 = __smlad(o, w0o, s00);
    s10 = __smlad(e, w1e, s10);
    s10 = __smlad(o, w1o, s10);
    e = __sxtab16((int16x2_t)off2, (int8x4_t)vb);
    o = dsp_sxtab16_ror8(off2, vb);
    s01 = __smlad(e, w0e, s01);
    s01 = __smlad(o, w0o, s01);
    s11 = __smlad(e, w1e, s11);
    s11 = __smlad(o, w1o, s11);
  }
  s[0] = s00;
  s[1] = s01;
  s[2] = s10;
  s[3] = s11;
}

/* One filter with one int8 pixel (plus offset) read in place, K % 4 == 0. */
QMCU_DSP_INLINE int32_t dsp_mm1x1_direct(const int8_t *pa, const int8_t *f, int32_t K, uint32_t off2) {
  int32_t s = 0, k;
  for (k = 0; k < K; k += 4) {
    const uint32_t w = dsp_ld32(f + k), v = dsp_ld32(pa + k);
    s = __smlad(__sxtab16((int16x2_t)off2, (int8x4_t)v), __sxtb16((int8x4_t)w), s);
    s = __smlad(dsp_sxtab16_ror8(off2, v), dsp_sxtb16_ror8(w), s);
  }
  return s;
}

/* 1x1 CONV_2D whose im2col row would not fit (in_c > QMCU_DSP_COL_MAX, e.g. 960 channels) on
 * int8 channels in place, in_c % 4 == 0, no padding: the pixels' inputs are read in place, two
 * pixels by two filters per pass as in conv_dsp_impl. The second pixel's codes wait in a
 * buffer until the first pixel's inputs are read for the last time (an in-place output may
 * overlap the inputs of earlier pixels: PLAN.md, "In-place layers"); outputs that are not
 * int8, or more channels than the buffer, run pixel by pixel. */
QMCU_DSP_INLINE void conv1x1_direct_impl(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out,
                                         qmcu_rect r, const int8_t *weights, const void *bias, const int fast) {
  const int32_t out_c = out->c, K = in->c, w = r.c1 - r.c0, n = (r.r1 - r.r0) * w, off = p->input_offset;
  const uint32_t off2 = ((uint32_t)off & 0xffffu) | ((uint32_t)off << 16);
  const dsp_out q = dsp_out_of(p, out, bias, fast);
  const int pairs = q.out8 && out_c <= QMCU_DSP_COL_MAX;
  int8_t later[QMCU_DSP_COL_MAX];
  int32_t i, oc, s[4];
  for (i = 0; i < n; i++) {
    const int32_t ya = r.r0 + i / w, xa = r.c0 + i % w;
    const int8_t *pa = src_at(in, ya * p->sh, xa * p->sw);
    int8_t *oa = dst_at(out, ya, xa);
    if (pairs && i + 1 < n) {
      const int32_t yb = r.r0 + (i + 1) / w, xb = r.c0 + (i + 1) % w;
      const int8_t *pb = src_at(in, yb * p->sh, xb * p->sw);
      for (oc = 0; oc + 2 <= out_c; oc += 2) {
        const int8_t *f = weights + (ptrdiff_t)oc * K;
        dsp_mm2x2_direct(pa, pb, f, f + K, K, off2, s);
        dsp_emit2(&q, oa, oc, s[0], s[2]);
        later[oc] = (int8_t)dsp_out_code(&q, oc, s[1]);
        later[oc + 1] = (int8_t)dsp_out_code(&q, oc + 1, s[3]);
      }
      if (oc < out_c) {
        const int8_t *f = weights + (ptrdiff_t)oc * K;
        dsp_emit(&q, oa, oc, dsp_mm1x1_direct(pa, f, K, off2));
        later[oc] = (int8_t)dsp_out_code(&q, oc, dsp_mm1x1_direct(pb, f, K, off2));
      }
      memcpy(dst_at(out, yb, xb), later, (size_t)out_c);
      i++;
    } else {
      for (oc = 0; oc < out_c; oc++) dsp_emit(&q, oa, oc, dsp_mm1x1_direct(pa, weights + (ptrdiff_t)oc * K, K, off2));
    }
  }
}

static void conv1x1_direct_dsp(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                               const int8_t *weights, const void *bias) {
  const int mode = dsp_fast_requant(p, out, bias, out->c, in->c);
#define QMCU_CONV1(m) conv1x1_direct_impl(p, in, out, r, weights, bias, m)
  QMCU_DSP_BY_MODE(mode, QMCU_CONV1);
#undef QMCU_CONV1
}

/* conv_dsp_impl compiled for both requantizations. */
static void conv_dsp(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                     const int8_t *weights, const void *bias) {
  const int mode = dsp_fast_requant(p, out, bias, out->c, (int64_t)p->kh * p->kw * in->c);
#define QMCU_CONV(m) conv_dsp_impl(p, in, out, r, weights, bias, m)
  QMCU_DSP_BY_MODE(mode, QMCU_CONV);
#undef QMCU_CONV
}

/* DEPTHWISE_CONV_2D on int8 channels in place, four output channels per pass with their
 * accumulators in registers over the in-map taps: with depth multiplier 1 the four channels'
 * inputs are one word (SXTAB16 adds the offset to two of them at once), with a multiple of 4
 * they share one input value; four weights per word either way. Other multipliers and the last
 * out_c % 4 channels run one channel at a time. */
QMCU_DSP_INLINE void depthwise_dsp_impl(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out,
                                        qmcu_rect r, const int8_t *weights, const void *bias, const int fast) {
  const int32_t c = out->c, dm = p->depth_multiplier, off = p->input_offset;
  const uint32_t off2 = ((uint32_t)off & 0xffffu) | ((uint32_t)off << 16);
  const int32_t in_h = in->h, in_w = in->w, kh = p->kh, kw = p->kw, sh = p->sh, sw = p->sw;
  const int32_t dh = p->dh, dw = p->dw, pad_top = p->pad_top, pad_left = p->pad_left;
  const ptrdiff_t irow = in->row, icol = in->col, orow = out->row, ocol = out->col;
  const ptrdiff_t tap_step = (ptrdiff_t)dw * icol, row_step = (ptrdiff_t)dh * irow, wrow = (ptrdiff_t)kw * c;
  const int8_t *const ibase = in->data - (ptrdiff_t)in->r0 * irow - (ptrdiff_t)in->c0 * icol;
  int8_t *const obase = out->data - (ptrdiff_t)out->r0 * orow - (ptrdiff_t)out->c0 * ocol;
  const int32_t groups = dm == 1 || (dm & 3) == 0 ? c & ~3 : 0;
  const dsp_out q = dsp_out_of(p, out, bias, fast);
  int32_t y, x, oc, fy, fx0, fx1, fy0, fy1, nx;
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * sh - pad_top;
    taps(by, kh, dh, in_h, &fy0, &fy1);
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * sw - pad_left;
      int8_t *o = obase + (ptrdiff_t)y * orow + (ptrdiff_t)x * ocol;
      const int8_t *first, *wfirst;
      taps(bx, kw, dw, in_w, &fx0, &fx1);
      if (fy0 >= fy1 || fx0 >= fx1) {
        for (oc = 0; oc < c; oc++) dsp_emit(&q, o, oc, 0);
        continue;
      }
      nx = fx1 - fx0;
      first = ibase + (ptrdiff_t)(by + fy0 * dh) * irow + (ptrdiff_t)(bx + fx0 * dw) * icol;
      wfirst = weights + ((ptrdiff_t)fy0 * kw + fx0) * c;
      if (dm == 1 && nx == 3 && fy1 - fy0 == 3) {
        /* A whole 3x3 window (the interior of 3x3 layers): nine taps unrolled, the pointers
         * stepping tap by tap (post-indexed loads, few live registers). */
        const ptrdiff_t radj = row_step - 2 * tap_step, wadj = wrow - 2 * (ptrdiff_t)c;
        for (oc = 0; oc < groups; oc += 4) {
          int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, ky;
          const int8_t *px = first + oc, *f = wfirst + oc;
          for (ky = 0; ky < 3; ky++) {
            dsp_dw_tap4(px, f, off2, &a0, &a1, &a2, &a3);
            px += tap_step;
            f += c;
            dsp_dw_tap4(px, f, off2, &a0, &a1, &a2, &a3);
            px += tap_step;
            f += c;
            dsp_dw_tap4(px, f, off2, &a0, &a1, &a2, &a3);
            px += radj;
            f += wadj;
          }
          dsp_emit4(&q, o, oc, a0, a1, a2, a3);
        }
      }
      if (dm != 1 && nx == 3 && fy1 - fy0 == 3) {
        /* The same for depth multipliers 4k: the four channels share one input per tap; the
         * input channel advances every dm / 4 groups (no division). */
        const ptrdiff_t radj = row_step - 2 * tap_step, wadj = wrow - 2 * (ptrdiff_t)c;
        const int8_t *in_ch = first;
        int32_t left = dm >> 2;
        for (oc = 0; oc < groups; oc += 4) {
          int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, ky;
          const int8_t *px = in_ch, *f = wfirst + oc;
          for (ky = 0; ky < 3; ky++, px += radj, f += wadj) {
            dsp_dw_tap1x4b(px, f, off, &a0, &a1, &a2, &a3);
            px += tap_step;
            f += c;
            dsp_dw_tap1x4b(px, f, off, &a0, &a1, &a2, &a3);
            px += tap_step;
            f += c;
            dsp_dw_tap1x4b(px, f, off, &a0, &a1, &a2, &a3);
          }
          dsp_emit4(&q, o, oc, a0, a1, a2, a3);
          if (--left == 0) {
            left = dm >> 2;
            in_ch++;
          }
        }
      }
      for (oc = oc_start(dm, nx, fy1 - fy0, groups); oc < groups; oc += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        const int8_t *rowp = first + (dm == 1 ? oc : oc / dm), *wrowp = wfirst + oc;
        for (fy = fy0; fy < fy1; fy++, rowp += row_step, wrowp += wrow) {
          const int8_t *px = rowp, *f = wrowp, *end = rowp + nx * tap_step;
          if (dm == 1) {
            if (nx == 3) { /* the interior of a 3-wide kernel, unrolled */
              dsp_dw_tap4(px, f, off2, &a0, &a1, &a2, &a3);
              dsp_dw_tap4(px + tap_step, f + c, off2, &a0, &a1, &a2, &a3);
              dsp_dw_tap4(px + 2 * tap_step, f + 2 * c, off2, &a0, &a1, &a2, &a3);
            } else {
              for (; px != end; px += tap_step, f += c) dsp_dw_tap4(px, f, off2, &a0, &a1, &a2, &a3);
            }
          } else {
            for (; px != end; px += tap_step, f += c) dsp_dw_tap1x4(*px + off, f, &a0, &a1, &a2, &a3);
          }
        }
        dsp_emit4(&q, o, oc, a0, a1, a2, a3);
      }
      for (; oc < c; oc++) {
        int32_t a = 0;
        const int8_t *rowp = first + oc / dm, *wrowp = wfirst + oc;
        for (fy = fy0; fy < fy1; fy++, rowp += row_step, wrowp += wrow) {
          const int8_t *px = rowp, *f = wrowp, *end = rowp + nx * tap_step;
          for (; px != end; px += tap_step, f += c) a += (*px + off) * *f;
        }
        dsp_emit(&q, o, oc, a);
      }
    }
  }
}

/* depthwise_dsp_impl compiled for both requantizations. */
QMCU_DSP_NO_IVOPTS static void depthwise_dsp(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                          const int8_t *weights, const void *bias) {
  const int mode = dsp_fast_requant(p, out, bias, out->c, (int64_t)p->kh * p->kw);
#define QMCU_DW(m) depthwise_dsp_impl(p, in, out, r, weights, bias, m)
  QMCU_DSP_BY_MODE(mode, QMCU_DW);
#undef QMCU_DW
}

/* Eight depthwise products of one tap from packed codes: h0 = (slot 0, slot 4), h1 = (2, 6),
 * h2 = (1, 5), h3 = (3, 7) as int16 halves (offset added), w0 the four weights of slots 0..3,
 * w1 those of slots 4..7. */
QMCU_DSP_INLINE void dsp_dw_tap8(uint32_t h0, uint32_t h1, uint32_t h2, uint32_t h3, uint32_t w0, uint32_t w1,
                                 int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3, int32_t *a4, int32_t *a5,
                                 int32_t *a6, int32_t *a7) {
  const int16x2_t e0 = __sxtb16((int8x4_t)w0), o0 = dsp_sxtb16_ror8(w0); /* (w0, w2) (w1, w3) */
  const int16x2_t e1 = __sxtb16((int8x4_t)w1), o1 = dsp_sxtb16_ror8(w1); /* (w4, w6) (w5, w7) */
  *a0 = __smlabb((int16x2_t)h0, e0, *a0);
  *a2 = __smlabt((int16x2_t)h1, e0, *a2);
  *a4 = __smlatb((int16x2_t)h0, e1, *a4);
  *a6 = __smlatt((int16x2_t)h1, e1, *a6);
  *a1 = __smlabb((int16x2_t)h2, o0, *a1);
  *a3 = __smlabt((int16x2_t)h3, o0, *a3);
  *a5 = __smlatb((int16x2_t)h2, o1, *a5);
  *a7 = __smlatt((int16x2_t)h3, o1, *a7);
}

/* DEPTHWISE_CONV_2D with depth multiplier 1 reading packed 4-bit or 2-bit codes (bits is a
 * constant of each instance). A group's codes come from one word per tap: eight channels at
 * 4 bits (masks split the nibbles, UXTAB16 adds the offset: slots = channels oc .. oc + 7),
 * sixteen at 2 bits in two passes of eight (the bytes of every fourth channel, UXTAB16 plain
 * for channels oc + 0..3 and oc + 8..11, rotated for oc + 4..7 and oc + 12..15). Each
 * pass stores its channels after reading all their taps (whole bytes of the output). The last
 * c % 8 (c % 16) channels run one at a time. */
QMCU_DSP_INLINE void depthwise_low_impl(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out,
                                        qmcu_rect r, const int8_t *weights, const void *bias, const int fast,
                                        const int bits) {
  const int32_t c = out->c, off = p->input_offset;
  const uint32_t off2 = ((uint32_t)off & 0xffffu) | ((uint32_t)off << 16);
  const int32_t in_h = in->h, in_w = in->w, kh = p->kh, kw = p->kw, sh = p->sh, sw = p->sw;
  const int32_t dh = p->dh, dw = p->dw, pad_top = p->pad_top, pad_left = p->pad_left;
  const ptrdiff_t irow = in->row, icol = in->col;
  const ptrdiff_t tap_step = (ptrdiff_t)dw * icol, row_step = (ptrdiff_t)dh * irow, wrow = (ptrdiff_t)kw * c;
  const uint8_t *const ibase = (const uint8_t *)in->data - (ptrdiff_t)in->r0 * irow - (ptrdiff_t)in->c0 * icol;
  const int32_t span = bits == 4 ? 8 : 16, groups = c & ~(span - 1), passes = bits == 4 ? 1 : 2;
  const dsp_out q = dsp_out_of(p, out, bias, fast);
  int32_t y, x, oc, fy, fx0, fx1, fy0, fy1, pass, j;
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * sh - pad_top;
    taps(by, kh, dh, in_h, &fy0, &fy1);
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * sw - pad_left;
      int8_t *o = dst_at(out, y, x);
      const uint8_t *first;
      const int8_t *wfirst;
      taps(bx, kw, dw, in_w, &fx0, &fx1);
      if (fy0 >= fy1 || fx0 >= fx1) {
        for (oc = 0; oc < c; oc++) dsp_emit(&q, o, oc, 0);
        continue;
      }
      first = ibase + (ptrdiff_t)(by + fy0 * dh) * irow + (ptrdiff_t)(bx + fx0 * dw) * icol;
      wfirst = weights + ((ptrdiff_t)fy0 * kw + fx0) * c;
      for (oc = 0; oc < groups; oc += span) {
        for (pass = 0; pass < passes; pass++) {
          /* Channels of slots 0..3 and 4..7. */
          const int32_t base0 = oc + 4 * pass, base1 = base0 + (bits == 4 ? 4 : 8);
          int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
          const uint8_t *rowp = first + oc * bits / 8;
          const int8_t *wrowp = wfirst + base0;
          for (fy = fy0; fy < fy1; fy++, rowp += row_step, wrowp += wrow) {
            const uint8_t *px = rowp;
            const int8_t *f = wrowp;
            for (j = fx0; j < fx1; j++, px += tap_step, f += c) {
              const uint32_t v = dsp_ld32(px), w0 = dsp_ld32(f), w1 = dsp_ld32(f + (base1 - base0));
              if (bits == 4) {
                const uint32_t lo = v & 0x0f0f0f0fu, hi = (v >> 4) & 0x0f0f0f0fu;
                dsp_dw_tap8(__uxtab16(off2, lo), dsp_uxtab16_ror8(off2, lo), __uxtab16(off2, hi),
                            dsp_uxtab16_ror8(off2, hi), w0, w1, &a0, &a1, &a2, &a3, &a4, &a5, &a6, &a7);
              } else {
                /* Bytes of channel oc + i: byte k holds oc + 4k + i. */
                const uint32_t p0 = v & 0x03030303u, p1 = (v >> 2) & 0x03030303u;
                const uint32_t p2 = (v >> 4) & 0x03030303u, p3 = (v >> 6) & 0x03030303u;
                if (pass == 0)
                  dsp_dw_tap8(__uxtab16(off2, p0), __uxtab16(off2, p2), __uxtab16(off2, p1), __uxtab16(off2, p3), w0,
                              w1, &a0, &a1, &a2, &a3, &a4, &a5, &a6, &a7);
                else
                  dsp_dw_tap8(dsp_uxtab16_ror8(off2, p0), dsp_uxtab16_ror8(off2, p2), dsp_uxtab16_ror8(off2, p1),
                              dsp_uxtab16_ror8(off2, p3), w0, w1, &a0, &a1, &a2, &a3, &a4, &a5, &a6, &a7);
              }
            }
          }
          dsp_emit4(&q, o, base0, a0, a1, a2, a3);
          dsp_emit4(&q, o, base1, a4, a5, a6, a7);
        }
      }
      for (; oc < c; oc++) {
        int32_t acc = 0;
        const uint8_t *rowp = first;
        const int8_t *wrowp = wfirst + oc;
        for (fy = fy0; fy < fy1; fy++, rowp += row_step, wrowp += wrow) {
          const uint8_t *px = rowp;
          const int8_t *f = wrowp;
          for (j = fx0; j < fx1; j++, px += tap_step, f += c) acc += (get(in, (const int8_t *)px, oc) + off) * *f;
        }
        dsp_emit(&q, o, oc, acc);
      }
    }
  }
}

/* depthwise_low_impl compiled for both requantizations and both packed formats. */
QMCU_DSP_NO_IVOPTS static void depthwise_low_dsp(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                              const int8_t *weights, const void *bias) {
  const int mode = dsp_fast_requant(p, out, bias, out->c, (int64_t)p->kh * p->kw);
#define QMCU_DW4(m) depthwise_low_impl(p, in, out, r, weights, bias, m, 4)
#define QMCU_DW2(m) depthwise_low_impl(p, in, out, r, weights, bias, m, 2)
  /* Fewer instances for the rarer cases (code size): 2-bit inputs clamp in C, and so do
   * 4-bit inputs with 2-bit outputs. */
  if (in->bits == 4)
    QMCU_DSP_BY_MODE(mode == 4 ? 1 : mode, QMCU_DW4);
  else if (mode != 0)
    QMCU_DW2(1);
  else
    QMCU_DW2(0);
#undef QMCU_DW4
#undef QMCU_DW2
}

/* ADD: the portable arithmetic (add1 in qmcu_kernels.c, same bounds) with the DSP
 * requantization and the parameters in locals; codes read in place (int8 channels in place,
 * direct = 1) or unpacked one by one (any format). */
QMCU_DSP_INLINE void add_dsp_impl(const qmcu_params *p, const qmcu_src *in1, const qmcu_src *in2,
                                  const qmcu_dst *out, qmcu_rect r, const int direct_in) {
  const int32_t c = out->c, scale = (int32_t)1 << p->left_shift;
  const int32_t off1 = p->in1_offset, m1 = p->in1_multiplier, s1 = p->in1_shift;
  const int32_t off2 = p->in2_offset, m2 = p->in2_multiplier, s2 = p->in2_shift;
  const int32_t mo = p->out_multiplier, so = p->out_shift;
  const dsp_out q = dsp_out_of(p, out, NULL, 0);
  int32_t y, x, k;
  for (y = r.r0; y < r.r1; y++) {
    for (x = r.c0; x < r.c1; x++) {
      const int8_t *a = src_at(in1, y, x), *b = src_at(in2, y, x);
      int8_t *o = dst_at(out, y, x);
      for (k = 0; k < c; k++) {
        const int32_t ca = direct_in ? a[k] : get(in1, a, k), cb = direct_in ? b[k] : get(in2, b, k);
        const int32_t sa = dsp_mbqm((ca + off1) * scale, m1, s1);
        const int32_t sb = dsp_mbqm((cb + off2) * scale, m2, s2);
        const int32_t v = (int32_t)((uint32_t)dsp_mbqm(sa + sb, mo, so) + (uint32_t)q.out_off);
        dsp_put(&q, o, k, dsp_clamp(v, q.lo, q.hi));
      }
    }
  }
}

static void add_dsp(const qmcu_params *p, const qmcu_src *in1, const qmcu_src *in2, const qmcu_dst *out,
                    qmcu_rect r) {
  if (direct(in1) && direct(in2))
    add_dsp_impl(p, in1, in2, out, r, 1);
  else
    add_dsp_impl(p, in1, in2, out, r, 0);
}

/* MAX_POOL_2D on int8 channels in place: four channels per word, SSUB8 setting the per-byte
 * greater-or-equal flags and SEL keeping the larger bytes. */
static void max_pool_dsp(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r) {
  const int32_t c = out->c, kh = p->kh, kw = p->kw, sh = p->sh, sw = p->sw;
  const int32_t pad_top = p->pad_top, pad_left = p->pad_left;
  const ptrdiff_t irow = in->row, icol = in->col;
  const dsp_out q = dsp_out_of(p, out, NULL, 0);
  int32_t y, x, k, fy, fx, fy0, fy1, fx0, fx1, j;
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * sh - pad_top;
    taps(by, kh, 1, in->h, &fy0, &fy1);
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * sw - pad_left;
      int8_t *o = dst_at(out, y, x);
      const int8_t *first;
      taps(bx, kw, 1, in->w, &fx0, &fx1);
      if (fy0 >= fy1 || fx0 >= fx1) {
        for (k = 0; k < c; k++) dsp_put(&q, o, k, dsp_clamp(-128, q.lo, q.hi));
        continue;
      }
      first = src_at(in, by + fy0, bx + fx0);
      for (k = 0; k + 4 <= c; k += 4) {
        uint32_t mx = 0x80808080u; /* -128 in every byte */
        const int8_t *rowp = first + k;
        for (fy = fy0; fy < fy1; fy++, rowp += irow) {
          const int8_t *px = rowp;
          for (fx = fx0; fx < fx1; fx++, px += icol) {
            const uint32_t v = dsp_ld32(px);
            (void)__ssub8((int8x4_t)v, (int8x4_t)mx);
            mx = (uint32_t)__sel((uint8x4_t)v, (uint8x4_t)mx);
          }
        }
        for (j = 0; j < 4; j++) dsp_put(&q, o, k + j, dsp_clamp((int8_t)(uint8_t)(mx >> (8 * j)), q.lo, q.hi));
      }
      for (; k < c; k++) {
        int32_t mk = -128;
        const int8_t *rowp = first + k;
        for (fy = fy0; fy < fy1; fy++, rowp += irow) {
          const int8_t *px = rowp;
          for (fx = fx0; fx < fx1; fx++, px += icol)
            if (*px > mk) mk = *px;
        }
        dsp_put(&q, o, k, dsp_clamp(mk, q.lo, q.hi));
      }
    }
  }
}

/* The smallest and largest of n int8 codes, four lanes per word (SSUB8 sets the per-byte
 * greater-or-equal flags, SEL keeps the larger or the smaller bytes), then the lanes and the
 * last n % 4 codes. */
static void minmax_dsp(const int8_t *codes, size_t n, int32_t *mn_out, int32_t *mx_out) {
  uint32_t mn = 0x7f7f7f7fu, mx = 0x80808080u;
  int32_t mn1 = 127, mx1 = -128, j;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t v = dsp_ld32(codes + i);
    (void)__ssub8((int8x4_t)v, (int8x4_t)mx);
    mx = (uint32_t)__sel((uint8x4_t)v, (uint8x4_t)mx);
    (void)__ssub8((int8x4_t)v, (int8x4_t)mn);
    mn = (uint32_t)__sel((uint8x4_t)mn, (uint8x4_t)v);
  }
  for (j = 0; j < 4; j++) {
    const int32_t a = (int8_t)(uint8_t)(mn >> (8 * j)), b = (int8_t)(uint8_t)(mx >> (8 * j));
    mn1 = a < mn1 ? a : mn1;
    mx1 = b > mx1 ? b : mx1;
  }
  for (; i < n; i++) {
    mn1 = codes[i] < mn1 ? codes[i] : mn1;
    mx1 = codes[i] > mx1 ? codes[i] : mx1;
  }
  *mn_out = mn1;
  *mx_out = mx1;
}

#endif /* QMCU_DSP_H_ */
