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
 * - Low-bit maps (PLAN.md, version 2): the same arithmetic on codes; 4/2-bit codes are unpacked
 *   to int8 before the multiply-accumulate loops and packed again when stored.
 * Where TFLite's C++ has signed overflow (undefined, wraps on real hardware) this code wraps in
 * unsigned arithmetic instead, so it is defined everywhere and equal wherever TFLite's is. */
#include "qmcu_kernels.h"

#include <string.h>

/* Host builds through cgo define QMCU_HOST_SIMD: the hot loops are then compiled twice on x86-64
 * GCC (AVX2 and baseline) and the loader picks one (function multiversioning). MCU builds never
 * see it: their loops are the same portable C. */
#if defined(QMCU_HOST_SIMD) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QMCU_HOT __attribute__((target_clones("avx2", "default")))
#else
#define QMCU_HOT
#endif

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

static inline int32_t mbqm(int32_t x, int32_t m, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  return rounding_divide_by_pot(srdhm(wrap32((uint32_t)x << left), m), right);
}

int32_t qmcu_multiply_by_quantized_multiplier(int32_t x, int32_t m, int32_t shift) { return mbqm(x, m, shift); }

static inline int32_t clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Requantizes a convolution accumulator of output channel oc. */
static inline int32_t requantize(const qmcu_params *p, uint32_t acc, int32_t oc) {
  int32_t v = mbqm(wrap32(acc), p->multiplier[oc], p->shift[oc]);
  v = wrap32((uint32_t)v + (uint32_t)p->output_offset);
  return clamp(v, p->act_min, p->act_max);
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

/* Code of channel k of the pixel at px. */
static inline int32_t get(const qmcu_src *s, const int8_t *px, int32_t k) {
  if (s->bits == 8) return px[k * s->ch];
  {
    const int32_t bit = k * s->bits;
    return (((const uint8_t *)px)[bit >> 3] >> (bit & 7)) & ((1 << s->bits) - 1);
  }
}

/* Stores code v (inside the output's code range) as channel k of the pixel at px. */
static inline void put(const qmcu_dst *d, int8_t *px, int32_t k, int32_t v) {
  if (d->bits == 8) {
    px[k * d->ch] = (int8_t)v;
  } else {
    const int32_t bit = k * d->bits;
    uint8_t *b = (uint8_t *)px + (bit >> 3);
    const unsigned mask = ((1u << d->bits) - 1u) << (bit & 7);
    *b = (uint8_t)((*b & ~mask) | (((unsigned)v << (bit & 7)) & mask));
  }
}

/* Whether channels of a pixel are contiguous int8 (read in place, no unpacking). */
static inline int direct(const qmcu_src *s) { return s->bits == 8 && s->ch == 1; }

/* Channels [k0, k0 + n) of the pixel at px as int8 values: in place when direct, else unpacked
 * into buf (n <= QMCU_CHUNK). */
#define QMCU_CHUNK 128
static inline const int8_t *fetch(const qmcu_src *s, const int8_t *px, int32_t k0, int32_t n, int8_t *buf) {
  int32_t k;
  if (direct(s)) return px + k0;
  if (s->bits == 8) {
    for (k = 0; k < n; k++) buf[k] = px[(k0 + k) * s->ch];
  } else if (s->bits == 4) {
    const uint8_t *b = (const uint8_t *)px;
    for (k = 0; k < n; k++) buf[k] = (int8_t)((b[(k0 + k) >> 1] >> (((k0 + k) & 1) * 4)) & 15);
  } else {
    const uint8_t *b = (const uint8_t *)px;
    for (k = 0; k < n; k++) buf[k] = (int8_t)((b[(k0 + k) >> 2] >> (((k0 + k) & 3) * 2)) & 3);
  }
  return buf;
}

/* sum over k of (s[k] + off) * f[k]: |s[k] + off| <= 255 and |f[k]| <= 128, so every product
 * fits 16 bits and n <= 32767 products fit the 32-bit sum (no overflow). */
static inline int32_t dot(const int8_t *s, const int8_t *f, int32_t n, int32_t off) {
  int32_t a = 0, k;
  for (k = 0; k < n; k++) a += (int16_t)(s[k] + off) * (int16_t)f[k];
  return a;
}

/* Convolution tap by tap (filters too large for an im2col row): output channels in blocks of
 * QMCU_CONV_BLOCK accumulators, so every kernel tap's input (read in place, or unpacked in
 * chunks) serves a whole block. */
#define QMCU_CONV_BLOCK 32
static QMCU_HOT void conv_taps(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                               const int8_t *weights, const void *bias) {
  const int32_t in_c = in->c, out_c = out->c, off = p->input_offset;
  const int32_t chunk = direct(in) ? in_c : QMCU_CHUNK;
  const ptrdiff_t filter_size = (ptrdiff_t)p->kh * p->kw * in_c;
  int32_t y, x, oc0, n, j, k0, m, fy, fx, fy0, fy1, fx0, fx1;
  uint32_t acc[QMCU_CONV_BLOCK];
  int8_t buf[QMCU_CHUNK];
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
            const int8_t *px = src_at(in, by + fy * p->dh, bx + fx * p->dw);
            const int8_t *f0 = weights + oc0 * filter_size + ((ptrdiff_t)fy * p->kw + fx) * in_c;
            for (k0 = 0; k0 < in_c; k0 += chunk) {
              const int8_t *s;
              m = in_c - k0 < chunk ? in_c - k0 : chunk;
              s = fetch(in, px, k0, m, buf);
              for (j = 0; j < n; j++) acc[j] += (uint32_t)dot(s, f0 + j * filter_size + k0, m, off);
            }
          }
        }
        for (j = 0; j < n; j++) put(out, o, oc0 + j, requantize(p, acc[j], oc0 + j));
      }
    }
  }
}

/* Largest im2col row (kernel height x width x input channels) gathered on the stack, in int16
 * elements; larger filters run tap by tap. Host builds raise it. */
#ifndef QMCU_COL_MAX
#define QMCU_COL_MAX 256
#endif

/* sum over k < n of col[k] * f[k] for four filters at once (each input element loaded once):
 * |col[k]| <= 255 and |f[k]| <= 128, so every product fits 16 bits and the sums of at most
 * QMCU_COL_MAX (< 65536) products fit 32 bits. */
static inline void dot4(const int16_t *col, const int8_t *f0, const int8_t *f1, const int8_t *f2,
                        const int8_t *f3, int32_t n, int32_t *sum) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, k;
  for (k = 0; k < n; k++) {
    const int16_t v = col[k];
    a0 += v * (int16_t)f0[k];
    a1 += v * (int16_t)f1[k];
    a2 += v * (int16_t)f2[k];
    a3 += v * (int16_t)f3[k];
  }
  sum[0] = a0;
  sum[1] = a1;
  sum[2] = a2;
  sum[3] = a3;
}

static inline int32_t dot1(const int16_t *col, const int8_t *f, int32_t n) {
  int32_t a = 0, k;
  for (k = 0; k < n; k++) a += col[k] * (int16_t)f[k];
  return a;
}

/* Convolution over an im2col row per output pixel: the kernel window's inputs plus the input
 * offset, as int16, with border taps 0 (the zero point plus its offset), padded with zeros to
 * a multiple of 16 so that whole vectors run; each filter is then one dot product. Filters are
 * read over the padded length too where that stays inside the weights (the padding multiplies
 * zeros), the last ones over their exact length. */
static QMCU_HOT void conv_im2col(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                                 const int8_t *weights, const void *bias) {
  const int32_t in_c = in->c, out_c = out->c, off = p->input_offset;
  const int32_t K = p->kh * p->kw * in_c, Kpad = (K + 15) & ~15;
  int16_t col[QMCU_COL_MAX + 16];
  int8_t buf[QMCU_CHUNK];
  int32_t y, x, fy, fx, k, k0, m, oc, sum[4];
  for (k = K; k < Kpad; k++) col[k] = 0;
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * p->sh - p->pad_top;
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * p->sw - p->pad_left;
      int8_t *o = dst_at(out, y, x);
      for (fy = 0; fy < p->kh; fy++) {
        const int32_t iy = by + fy * p->dh;
        for (fx = 0; fx < p->kw; fx++) {
          const int32_t ix = bx + fx * p->dw;
          int16_t *c = col + (fy * p->kw + fx) * in_c;
          if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) {
            for (k = 0; k < in_c; k++) c[k] = 0;
            continue;
          }
          {
            const int8_t *px = src_at(in, iy, ix);
            for (k0 = 0; k0 < in_c; k0 += QMCU_CHUNK) {
              const int8_t *s;
              m = in_c - k0 < QMCU_CHUNK ? in_c - k0 : QMCU_CHUNK;
              s = fetch(in, px, k0, m, buf);
              for (k = 0; k < m; k++) c[k0 + k] = (int16_t)(s[k] + off);
            }
          }
        }
      }
      for (oc = 0; oc + 4 <= out_c; oc += 4) {
        const int8_t *f = weights + (ptrdiff_t)oc * K;
        /* The last filter of the group may read Kpad elements if that stays in the weights. */
        const int32_t n = (int64_t)(oc + 3) * K + Kpad <= (int64_t)out_c * K ? Kpad : K;
        int32_t j;
        dot4(col, f, f + K, f + 2 * K, f + 3 * K, n, sum);
        for (j = 0; j < 4; j++) {
          const uint32_t acc = (bias != NULL ? (uint32_t)load_bias(bias, oc + j) : 0) + (uint32_t)sum[j];
          put(out, o, oc + j, requantize(p, acc, oc + j));
        }
      }
      for (; oc < out_c; oc++) {
        const uint32_t acc = (bias != NULL ? (uint32_t)load_bias(bias, oc) : 0) + (uint32_t)dot1(col, weights + (ptrdiff_t)oc * K, K);
        put(out, o, oc, requantize(p, acc, oc));
      }
    }
  }
}

/* One element of ADD from the two input codes. */
static inline int32_t add1(const qmcu_params *p, int32_t a, int32_t b) {
  /* |input + offset| <= 255 and left_shift <= 22 (checked by the plan parser): no overflow,
   * and each scaled input is at most its shifted magnitude, so their sum fits too. */
  const int32_t va = (a + p->in1_offset) * ((int32_t)1 << p->left_shift);
  const int32_t vb = (b + p->in2_offset) * ((int32_t)1 << p->left_shift);
  const int32_t sa = mbqm(va, p->in1_multiplier, p->in1_shift);
  const int32_t sb = mbqm(vb, p->in2_multiplier, p->in2_shift);
  const int32_t v = wrap32((uint32_t)mbqm(sa + sb, p->out_multiplier, p->out_shift) + (uint32_t)p->output_offset);
  return clamp(v, p->act_min, p->act_max);
}

/* x86-64 host path (cgo builds define QMCU_HOST_SIMD; MCU builds never see this): AVX2 loops
 * chosen at run time when the CPU has AVX2. They compute the same integers as the portable
 * loops, lane by lane: the int16 products and int32 sums wrap the same way, and the
 * requantization below is MultiplyByQuantizedMultiplier step for step. */
#if defined(QMCU_HOST_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define QMCU_X86 1
#include <immintrin.h>

#define QMCU_AVX2 __attribute__((target("avx2")))

static int use_avx2(const qmcu_params *p) { return !p->portable && __builtin_cpu_supports("avx2"); }

/* MultiplyByQuantizedMultiplier (mbqm) of eight lanes with per-lane multipliers m >= 0 and
 * shifts sh. srdhm: with m >= 0 (the parser checks multipliers) the saturating case cannot
 * occur, and (a*b + nudge) / 2^31 truncated toward zero equals floor((a*b + 2^30) / 2^31) for
 * either sign of a*b, whose low 32 bits are bits 31..62 of a*b + 2^30 (so a logical 64-bit shift
 * is enough). rounding_divide_by_pot as in the scalar code, with per-lane shifts. */
QMCU_AVX2 static inline __m256i mbqm8(__m256i x, __m256i m, __m256i sh) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
  const __m256i half = _mm256_set1_epi64x((int64_t)1 << 30);
  const __m256i left = _mm256_max_epi32(sh, zero), right = _mm256_sub_epi32(left, sh);
  __m256i even, odd, v, mask, rem, thr;
  x = _mm256_sllv_epi32(x, left);
  even = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(x, m), half), 31);
  odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(m, 32)), half);
  v = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 1), 0xaa);
  mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
  rem = _mm256_and_si256(v, mask);
  thr = _mm256_sub_epi32(_mm256_srli_epi32(mask, 1), _mm256_cmpgt_epi32(zero, v));
  return _mm256_sub_epi32(_mm256_srav_epi32(v, right), _mm256_cmpgt_epi32(rem, thr));
}

/* requantize() of eight accumulators of channels [oc, oc + 8). */
QMCU_AVX2 static inline __m256i rq8(__m256i acc, const int32_t *mult, const int32_t *shift, __m256i out_off,
                                    __m256i lo, __m256i hi) {
  const __m256i v = mbqm8(acc, _mm256_loadu_si256((const __m256i *)(const void *)mult),
                          _mm256_loadu_si256((const __m256i *)(const void *)shift));
  return _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(v, out_off), lo), hi);
}

/* Stores eight codes (int32 lanes inside the output's code range) as channels [k, k + 8) of
 * the pixel at px; k is a multiple of 8, so 4/2-bit codes fill whole bytes (4 or 2). */
QMCU_AVX2 static inline void store8(const qmcu_dst *d, int8_t *px, int32_t k, __m256i v) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i b = _mm_packs_epi16(w, w);
  if (d->bits == 8 && d->ch == 1) {
    _mm_storel_epi64((__m128i *)(void *)(px + k), b);
  } else if (d->bits == 4) {
    /* byte j = code 2j | code 2j+1 << 4 */
    const __m128i pairs = _mm_maddubs_epi16(b, _mm_set1_epi16(0x1001));
    const int32_t u = _mm_cvtsi128_si32(_mm_packus_epi16(pairs, pairs));
    memcpy(px + k / 2, &u, 4);
  } else if (d->bits == 2) {
    /* byte j = codes 4j .. 4j+3 at bits 0, 2, 4, 6 */
    const __m128i pairs = _mm_maddubs_epi16(b, _mm_set1_epi16(0x0401));
    const __m128i quads = _mm_madd_epi16(pairs, _mm_set1_epi32(0x00100001));
    const uint8_t two[2] = {(uint8_t)_mm_cvtsi128_si32(quads), (uint8_t)_mm_extract_epi32(quads, 1)};
    memcpy(px + k / 4, two, 2);
  } else {
    int32_t lanes[8], j;
    _mm256_storeu_si256((__m256i *)(void *)lanes, v);
    for (j = 0; j < 8; j++) put(d, px, k + j, lanes[j]);
  }
}

/* Codes of channels [k, k + 16) of the pixel at px as int16 lanes (k + 16 <= s->c; k a multiple
 * of 16 for 4/2-bit maps, so the codes start on a byte). A 4/2-bit byte is repeated 2/4 times,
 * each copy multiplied so that its code lands in bits 8-bits..7, shifted down and masked. */
QMCU_AVX2 static inline __m256i codes16(const qmcu_src *s, const int8_t *px, int32_t k) {
  if (s->bits == 8) {
    if (s->ch == 1) return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(px + k)));
    {
      int8_t buf[16];
      int32_t j;
      for (j = 0; j < 16; j++) buf[j] = px[(k + j) * s->ch];
      return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)buf));
    }
  }
  if (s->bits == 4) {
    const __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(px + k / 2));
    const __m128i rep = _mm_shuffle_epi8(b, _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    const __m256i w = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(rep), _mm256_set1_epi32(0x00010010));
    return _mm256_and_si256(_mm256_srli_epi16(w, 4), _mm256_set1_epi16(15));
  } else {
    int32_t u;
    __m128i rep;
    __m256i w;
    memcpy(&u, px + k / 4, 4);
    rep = _mm_shuffle_epi8(_mm_cvtsi32_si128(u), _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
    w = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(rep), _mm256_setr_epi16(64, 16, 4, 1, 64, 16, 4, 1, 64, 16, 4, 1, 64, 16, 4, 1));
    return _mm256_and_si256(_mm256_srli_epi16(w, 6), _mm256_set1_epi16(3));
  }
}

QMCU_AVX2 static inline __m256i bias8(const void *bias, int32_t oc) {
  if (bias == NULL) return _mm256_setzero_si256();
  return _mm256_loadu_si256((const __m256i *)(const void *)((const unsigned char *)bias + 4 * (size_t)oc));
}

/* The im2col row of the window whose tap (0, 0) reads (by, bx), as conv_im2col builds it. */
QMCU_AVX2 static void gather_avx2(const qmcu_params *p, const qmcu_src *in, int32_t by, int32_t bx, int16_t *col) {
  const int32_t in_c = in->c, off = p->input_offset;
  const __m256i off16 = _mm256_set1_epi16((int16_t)off);
  int32_t fy, fx, k;
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
        const int8_t *px = src_at(in, iy, ix);
        for (k = 0; k + 16 <= in_c; k += 16)
          _mm256_storeu_si256((__m256i *)(void *)(c + k), _mm256_add_epi16(codes16(in, px, k), off16));
        for (; k < in_c; k++) c[k] = (int16_t)(get(in, px, k) + off);
      }
    }
  }
}

/* Convolution as outer products over the prepared weights (qmcu_conv_prepare: for each pair of
 * im2col positions, the pairs of eight output channels side by side): each step multiplies a
 * broadcast pair of row elements with the pairs of eight filters, so the accumulators hold
 * output channels in their lanes and need no horizontal sums. The pairwise sums are those of
 * conv_im2col (|products| < 2^15); the last channels (out_c % 8) run as there. */
QMCU_AVX2 static void conv_outer_avx2(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                                      const int8_t *weights, const void *bias) {
  const int32_t out_c = out->c, K = p->kh * p->kw * in->c, pairs = (K + 1) / 2, oc8 = out_c & ~7;
  const __m256i oo = _mm256_set1_epi32(p->output_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  const ptrdiff_t step = 2 * (ptrdiff_t)oc8;
  int16_t col[QMCU_COL_MAX + 16];
  int32_t y, x, kp, oc, j;
  col[K] = 0;
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * p->sh - p->pad_top;
    for (x = r.c0; x < r.c1; x++) {
      int8_t *o = dst_at(out, y, x);
      gather_avx2(p, in, by, x * p->sw - p->pad_left, col);
      for (oc = 0; oc + 32 <= oc8; oc += 32) {
        const int16_t *w = p->prepared + 2 * (ptrdiff_t)oc;
        __m256i a0 = bias8(bias, oc), a1 = bias8(bias, oc + 8), a2 = bias8(bias, oc + 16), a3 = bias8(bias, oc + 24);
        for (kp = 0; kp < pairs; kp++, w += step) {
          int32_t two;
          __m256i b;
          memcpy(&two, col + 2 * kp, sizeof two);
          b = _mm256_set1_epi32(two);
          a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(b, _mm256_loadu_si256((const __m256i *)(const void *)w)));
          a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(b, _mm256_loadu_si256((const __m256i *)(const void *)(w + 16))));
          a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(b, _mm256_loadu_si256((const __m256i *)(const void *)(w + 32))));
          a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(b, _mm256_loadu_si256((const __m256i *)(const void *)(w + 48))));
        }
        store8(out, o, oc, rq8(a0, p->multiplier + oc, p->shift + oc, oo, lo, hi));
        store8(out, o, oc + 8, rq8(a1, p->multiplier + oc + 8, p->shift + oc + 8, oo, lo, hi));
        store8(out, o, oc + 16, rq8(a2, p->multiplier + oc + 16, p->shift + oc + 16, oo, lo, hi));
        store8(out, o, oc + 24, rq8(a3, p->multiplier + oc + 24, p->shift + oc + 24, oo, lo, hi));
      }
      for (; oc < oc8; oc += 8) {
        const int16_t *w = p->prepared + 2 * (ptrdiff_t)oc;
        __m256i a = bias8(bias, oc);
        for (kp = 0; kp < pairs; kp++, w += step) {
          int32_t two;
          memcpy(&two, col + 2 * kp, sizeof two);
          a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_set1_epi32(two), _mm256_loadu_si256((const __m256i *)(const void *)w)));
        }
        store8(out, o, oc, rq8(a, p->multiplier + oc, p->shift + oc, oo, lo, hi));
      }
      for (j = oc8; j < out_c; j++) {
        const uint32_t acc = (bias != NULL ? (uint32_t)load_bias(bias, j) : 0) + (uint32_t)dot1(col, weights + (ptrdiff_t)j * K, K);
        put(out, o, j, requantize(p, acc, j));
      }
    }
  }
}

/* depthwise_blocked sixteen channels at a time: int16 products (they fit, see there) widened
 * into two vectors of eight accumulators; the last channels one by one. */
QMCU_AVX2 static void depthwise_avx2(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                                     const int8_t *weights, const void *bias) {
  const int32_t c = out->c, off = p->input_offset;
  const __m256i off16 = _mm256_set1_epi16((int16_t)off), oo = _mm256_set1_epi32(p->output_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  int32_t y, x, c0, fy, fx, fy0, fy1, fx0, fx1;
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * p->sh - p->pad_top;
    taps(by, p->kh, p->dh, in->h, &fy0, &fy1);
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * p->sw - p->pad_left;
      int8_t *o = dst_at(out, y, x);
      taps(bx, p->kw, p->dw, in->w, &fx0, &fx1);
      for (c0 = 0; c0 + 16 <= c; c0 += 16) {
        __m256i a0 = bias8(bias, c0), a1 = bias8(bias, c0 + 8);
        for (fy = fy0; fy < fy1; fy++) {
          for (fx = fx0; fx < fx1; fx++) {
            const __m256i s = _mm256_add_epi16(codes16(in, src_at(in, by + fy * p->dh, bx + fx * p->dw), c0), off16);
            const int8_t *f = weights + ((ptrdiff_t)fy * p->kw + fx) * c + c0;
            const __m256i prod = _mm256_mullo_epi16(s, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)f)));
            a0 = _mm256_add_epi32(a0, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(prod)));
            a1 = _mm256_add_epi32(a1, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(prod, 1)));
          }
        }
        store8(out, o, c0, rq8(a0, p->multiplier + c0, p->shift + c0, oo, lo, hi));
        store8(out, o, c0 + 8, rq8(a1, p->multiplier + c0 + 8, p->shift + c0 + 8, oo, lo, hi));
      }
      for (; c0 < c; c0++) {
        uint32_t acc = bias != NULL ? (uint32_t)load_bias(bias, c0) : 0;
        for (fy = fy0; fy < fy1; fy++)
          for (fx = fx0; fx < fx1; fx++)
            acc += (uint32_t)(int32_t)(int16_t)((int16_t)(get(in, src_at(in, by + fy * p->dh, bx + fx * p->dw), c0) + off) *
                                                (int16_t)weights[((ptrdiff_t)fy * p->kw + fx) * c + c0]);
        put(out, o, c0, requantize(p, acc, c0));
      }
    }
  }
}

/* qmcu_add sixteen channels at a time (the same steps on int32 lanes); the last ones one by
 * one. */
QMCU_AVX2 static void add_avx2(const qmcu_params *p, const qmcu_src *in1, const qmcu_src *in2, const qmcu_dst *out,
                               qmcu_rect r) {
  const int32_t c = out->c;
  const __m256i off1 = _mm256_set1_epi32(p->in1_offset), off2 = _mm256_set1_epi32(p->in2_offset);
  const __m128i ls = _mm_cvtsi32_si128(p->left_shift);
  const __m256i m1 = _mm256_set1_epi32(p->in1_multiplier), s1 = _mm256_set1_epi32(p->in1_shift);
  const __m256i m2 = _mm256_set1_epi32(p->in2_multiplier), s2 = _mm256_set1_epi32(p->in2_shift);
  const __m256i mo = _mm256_set1_epi32(p->out_multiplier), so = _mm256_set1_epi32(p->out_shift);
  const __m256i oo = _mm256_set1_epi32(p->output_offset);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  int32_t y, x, k, h;
  for (y = r.r0; y < r.r1; y++) {
    for (x = r.c0; x < r.c1; x++) {
      const int8_t *a = src_at(in1, y, x), *b = src_at(in2, y, x);
      int8_t *o = dst_at(out, y, x);
      for (k = 0; k + 16 <= c; k += 16) {
        const __m256i ca = codes16(in1, a, k), cb = codes16(in2, b, k);
        for (h = 0; h < 2; h++) {
          const __m256i va = _mm256_cvtepi16_epi32(h ? _mm256_extracti128_si256(ca, 1) : _mm256_castsi256_si128(ca));
          const __m256i vb = _mm256_cvtepi16_epi32(h ? _mm256_extracti128_si256(cb, 1) : _mm256_castsi256_si128(cb));
          const __m256i sa = mbqm8(_mm256_sll_epi32(_mm256_add_epi32(va, off1), ls), m1, s1);
          const __m256i sb = mbqm8(_mm256_sll_epi32(_mm256_add_epi32(vb, off2), ls), m2, s2);
          const __m256i v = _mm256_add_epi32(mbqm8(_mm256_add_epi32(sa, sb), mo, so), oo);
          store8(out, o, k + 8 * h, _mm256_min_epi32(_mm256_max_epi32(v, lo), hi));
        }
      }
      for (; k < c; k++) put(out, o, k, add1(p, get(in1, a, k), get(in2, b, k)));
    }
  }
}
#endif /* QMCU_HOST_SIMD on x86-64 */

size_t qmcu_conv_prepared_elems(int32_t kh, int32_t kw, int32_t in_c, int32_t out_c) {
#ifdef QMCU_X86
  const int64_t k = (int64_t)kh * kw * in_c;
  if (k <= QMCU_COL_MAX && out_c >= 8) return (size_t)((k + 1) & ~(int64_t)1) * (size_t)(out_c & ~7);
#else
  (void)kh;
  (void)kw;
  (void)in_c;
  (void)out_c;
#endif
  return 0;
}

/* Layout (conv_outer_avx2): for pair kp of im2col positions and channel oc < out_c & ~7,
 * dst[(kp * (out_c & ~7) + oc) * 2 + e] = weights[oc][2 * kp + e], 0 past the filter. */
void qmcu_conv_prepare(const int8_t *weights, int32_t kh, int32_t kw, int32_t in_c, int32_t out_c, int16_t *dst) {
  const int32_t k = kh * kw * in_c, oc8 = out_c & ~7;
  int32_t i, oc;
  for (i = 0; i < ((k + 1) & ~1); i++)
    for (oc = 0; oc < oc8; oc++)
      dst[((ptrdiff_t)(i / 2) * oc8 + oc) * 2 + i % 2] = (int16_t)(i < k ? weights[(ptrdiff_t)oc * k + i] : 0);
}

/* Cortex-M cores with the DSP extension (M4, M7, M33, M55): SMLAD-class loops computing the
 * same bytes (qmcu_dsp.h), unless the caller asks for the portable ones. QMCU_NO_DSP leaves
 * them out of the build. */
#if defined(__ARM_FEATURE_DSP) && !defined(QMCU_NO_DSP)
#define QMCU_ARM_DSP 1
#include "qmcu_dsp.h"
#endif

void qmcu_conv_2d(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                  const int8_t *weights, const void *bias) {
#ifdef QMCU_ARM_DSP
  if (!p->portable && bias != NULL && (int64_t)p->kh * p->kw * in->c <= QMCU_DSP_COL_MAX) {
    conv_dsp(p, in, out, r, weights, bias);
    return;
  }
  if (!p->portable && bias != NULL && p->kh == 1 && p->kw == 1 && p->pad_top == 0 && p->pad_left == 0 &&
      direct(in) && (in->c & 3) == 0) {
    conv1x1_direct_dsp(p, in, out, r, weights, bias);
    return;
  }
#endif
  if ((int64_t)p->kh * p->kw * in->c <= QMCU_COL_MAX) {
#ifdef QMCU_X86
    if (use_avx2(p) && p->prepared != NULL) {
      conv_outer_avx2(p, in, out, r, weights, bias);
      return;
    }
#endif
    conv_im2col(p, in, out, r, weights, bias);
  } else {
    conv_taps(p, in, out, r, weights, bias);
  }
}

/* Depthwise convolution with depth multiplier 1: channels in blocks with one accumulator each, so
 * the innermost loop runs over contiguous channels of input (in place or unpacked) and weights. */
#define QMCU_DW_BLOCK 32
static QMCU_HOT void depthwise_blocked(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out,
                                       qmcu_rect r, const int8_t *weights, const void *bias) {
  const int32_t c = out->c, off = p->input_offset;
  int32_t y, x, c0, k, n, fy, fx, fy0, fy1, fx0, fx1;
  uint32_t acc[QMCU_DW_BLOCK];
  int8_t buf[QMCU_DW_BLOCK];
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
            const int8_t *s = fetch(in, src_at(in, by + fy * p->dh, bx + fx * p->dw), c0, n, buf);
            const int8_t *f = weights + ((ptrdiff_t)fy * p->kw + fx) * c + c0;
            /* |s + off| <= 255, |f| <= 128: the product fits 16 bits. */
            for (k = 0; k < n; k++) acc[k] += (uint32_t)(int32_t)(int16_t)((int16_t)(s[k] + off) * (int16_t)f[k]);
          }
        }
        for (k = 0; k < n; k++) put(out, o, c0 + k, requantize(p, acc[k], c0 + k));
      }
    }
  }
}

void qmcu_depthwise_conv_2d(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out,
                            qmcu_rect r, const int8_t *weights, const void *bias) {
  const int32_t in_c = in->c, out_c = out->c, dm = p->depth_multiplier, off = p->input_offset;
  int32_t y, x, ic, m, fy, fx, fy0, fy1, fx0, fx1;
#ifdef QMCU_ARM_DSP
  if (!p->portable && bias != NULL && direct(in)) {
    depthwise_dsp(p, in, out, r, weights, bias);
    return;
  }
  if (!p->portable && bias != NULL && dm == 1 && (in->bits == 4 || in->bits == 2)) {
    depthwise_low_dsp(p, in, out, r, weights, bias);
    return;
  }
#endif
  if (dm == 1) {
#ifdef QMCU_X86
    if (use_avx2(p)) {
      depthwise_avx2(p, in, out, r, weights, bias);
      return;
    }
#endif
    depthwise_blocked(p, in, out, r, weights, bias);
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
              const int32_t v = get(in, src_at(in, by + fy * p->dh, bx + fx * p->dw), ic);
              const int8_t f = weights[((ptrdiff_t)fy * p->kw + fx) * out_c + oc];
              acc += (uint32_t)((v + off) * f);
            }
          }
          put(out, o, oc, requantize(p, acc, oc));
        }
      }
    }
  }
}

void qmcu_add(const qmcu_params *p, const qmcu_src *in1, const qmcu_src *in2, const qmcu_dst *out,
              qmcu_rect r) {
  const int32_t c = out->c;
  int32_t y, x, k;
#ifdef QMCU_X86
  if (use_avx2(p)) {
    add_avx2(p, in1, in2, out, r);
    return;
  }
#endif
#ifdef QMCU_ARM_DSP
  if (!p->portable) {
    add_dsp(p, in1, in2, out, r);
    return;
  }
#endif
  for (y = r.r0; y < r.r1; y++) {
    for (x = r.c0; x < r.c1; x++) {
      const int8_t *a = src_at(in1, y, x), *b = src_at(in2, y, x);
      int8_t *o = dst_at(out, y, x);
      for (k = 0; k < c; k++) put(out, o, k, add1(p, get(in1, a, k), get(in2, b, k)));
    }
  }
}

/* PAD's fill byte when every byte of a pixel holds codes v (8 bits: the int8 itself). */
static unsigned char fill_byte(int32_t bits, int32_t v) {
  if (bits == 4) return (unsigned char)((v & 15) * 0x11);
  if (bits == 2) return (unsigned char)((v & 3) * 0x55);
  return (unsigned char)(v & 0xff);
}

void qmcu_pad(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r) {
  const int32_t c = out->c;
  int32_t y, x, k;
  if (in->bits == out->bits && in->col == out->col && (in->bits != 8 || (in->ch == 1 && out->ch == 1 && in->col == c))) {
    /* Same pixel format on both sides (always for window buffers: PAD keeps the format):
     * whole runs of pixels are copied or filled. A packed pixel's unused bits get the fill's
     * or the input's bits; they are undefined (PLAN.md). */
    const size_t px = (size_t)out->col;
    const unsigned char fill = fill_byte(out->bits, p->output_offset);
    /* Output columns [x0, x1) read the input map (ix = x - pad_left in [0, w)). */
    const int32_t x0 = r.c0 > p->pad_left ? r.c0 : p->pad_left;
    const int32_t x1 = r.c1 < p->pad_left + in->w ? r.c1 : p->pad_left + in->w;
    for (y = r.r0; y < r.r1; y++) {
      const int32_t iy = y - p->pad_top;
      int8_t *o = dst_at(out, y, r.c0);
      if (iy < 0 || iy >= in->h || x0 >= x1) {
        memset(o, fill, px * (size_t)(r.c1 - r.c0));
        continue;
      }
      memset(o, fill, px * (size_t)(x0 - r.c0));
      /* memmove: in place (PLAN.md, "In-place layers") the run may overlap its source. */
      memmove(o + px * (size_t)(x0 - r.c0), src_at(in, iy, x0 - p->pad_left), px * (size_t)(x1 - x0));
      memset(o + px * (size_t)(x1 - r.c0), fill, px * (size_t)(r.c1 - x1));
    }
    return;
  }
  for (y = r.r0; y < r.r1; y++) {
    const int32_t iy = y - p->pad_top;
    for (x = r.c0; x < r.c1; x++) {
      const int32_t ix = x - p->pad_left;
      int8_t *o = dst_at(out, y, x);
      if (iy >= 0 && iy < in->h && ix >= 0 && ix < in->w) {
        const int8_t *s = src_at(in, iy, ix);
        for (k = 0; k < c; k++) put(out, o, k, get(in, s, k));
      } else {
        for (k = 0; k < c; k++) put(out, o, k, p->output_offset);
      }
    }
  }
}

void qmcu_max_pool_2d(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r) {
  const int32_t c = out->c, lowest = in->bits == 8 ? -128 : 0;
  int32_t y, x, k, fy, fx, fy0, fy1, fx0, fx1;
#ifdef QMCU_ARM_DSP
  if (!p->portable && direct(in)) {
    max_pool_dsp(p, in, out, r);
    return;
  }
#endif
  for (y = r.r0; y < r.r1; y++) {
    const int32_t by = y * p->sh - p->pad_top;
    taps(by, p->kh, 1, in->h, &fy0, &fy1);
    for (x = r.c0; x < r.c1; x++) {
      const int32_t bx = x * p->sw - p->pad_left;
      int8_t *o = dst_at(out, y, x);
      taps(bx, p->kw, 1, in->w, &fx0, &fx1);
      for (k = 0; k < c; k++) {
        int32_t mx = lowest;
        for (fy = fy0; fy < fy1; fy++) {
          for (fx = fx0; fx < fx1; fx++) {
            const int32_t v = get(in, src_at(in, by + fy, bx + fx), k);
            if (v > mx) mx = v;
          }
        }
        put(out, o, k, clamp(mx, p->act_min, p->act_max));
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
          for (fx = fx0; fx < fx1; fx++) sum += get(in, src_at(in, by + fy, bx + fx), k);
        avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
        put(out, o, k, clamp((int32_t)avg, p->act_min, p->act_max));
      }
    }
  }
  return rc;
}

QMCU_HOT int qmcu_has_outlier(const int8_t *codes, size_t n, int32_t lo, int32_t hi) {
  int8_t mn = 127, mx = -128;
  size_t i;
  if (n == 0) return 0;
#ifdef QMCU_ARM_DSP
  {
    int32_t lo4, hi4;
    minmax_dsp(codes, n, &lo4, &hi4);
    return lo4 < lo || hi4 > hi;
  }
#endif
  for (i = 0; i < n; i++) {
    mn = codes[i] < mn ? codes[i] : mn;
    mx = codes[i] > mx ? codes[i] : mx;
  }
  return mn < lo || mx > hi;
}
