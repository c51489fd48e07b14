/* int8 kernels of the patch stage: convolution, depthwise convolution, ADD, PAD, max and average
 * pooling, each computing one rectangular window of its output from windows of its inputs.
 *
 * Portable C99, no allocation, no TFLM dependency. The arithmetic is TFLite's (and TFLM's)
 * reference int8 arithmetic, bit for bit: see qmcu_kernels.c for the rules followed.
 * Positions outside the input feature map are border padding: convolutions skip them (they stand
 * for the input zero point), pools skip them, PAD writes its fill value. The caller guarantees
 * that every in-map position read lies inside the given input windows (qmcu_plan_parse checks
 * this for plans).
 *
 * In place (PLAN.md, "In-place layers"): the output window may share bytes with an input
 * window. Every kernel here therefore keeps two properties, whatever its loops (portable,
 * AVX2, Cortex-M DSP, 4/2-bit packed): it computes the rectangle's output pixels in row-major
 * order, finishing all reads of a pixel's inputs before it stores any later pixel, and it
 * reads and writes no byte outside the in-map input pixels of the window being computed and
 * the output pixels it stores (stores of a pixel may come before its own reads end: the rule
 * keeps them off every byte that pixel and the later ones read). PAD copies row runs with
 * memmove. */
#ifndef QMCU_KERNELS_H_
#define QMCU_KERNELS_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A readable window of a feature map of h x w x c. With bits = 8, element (y, x, k), in full-map
 * coordinates, is the int8 data[(y - r0) * row + (x - c0) * col + k * ch]: this covers NHWC
 * window buffers (row = width * c, col = c, ch = 1) and whole NHWC or NCHW tensors
 * (r0 = c0 = 0). With bits = 4 or 2 the pixel at data + (y - r0) * row + (x - c0) * col holds
 * unsigned codes packed along channels (col = ceil(c * bits / 8), ch unused). */
typedef struct {
  const int8_t *data;
  ptrdiff_t row, col, ch;
  int32_t r0, c0;
  int32_t h, w, c;
  int32_t bits;
} qmcu_src;

/* A writable window of a feature map, addressed like qmcu_src. */
typedef struct {
  int8_t *data;
  ptrdiff_t row, col, ch;
  int32_t r0, c0;
  int32_t h, w, c;
  int32_t bits;
} qmcu_dst;

/* The output rectangle [r0, r1) x [c0, c1) to compute, in full-map coordinates. */
typedef struct {
  int32_t r0, r1, c0, c1;
} qmcu_rect;

/* Parameters of one layer (the plan's layer record, decoded). */
typedef struct {
  int32_t kh, kw, sh, sw, dh, dw, pad_top, pad_left, depth_multiplier;
  int32_t input_offset, output_offset, act_min, act_max;
  const int32_t *multiplier, *shift; /* per output channel (convolutions) */
  /* ADD */
  int32_t in1_offset, in2_offset, left_shift;
  int32_t in1_multiplier, in1_shift, in2_multiplier, in2_shift, out_multiplier, out_shift;
  /* CONV_2D: the weights as qmcu_conv_prepare wrote them, or NULL (host fast path only). */
  const int16_t *prepared;
  /* Nonzero: run the portable loops even where faster ones exist (host SIMD, Cortex-M DSP);
   * tests compare the two. */
  int32_t portable;
} qmcu_params;

/* TFLite's MultiplyByQuantizedMultiplier (double rounding): x * m * 2^(shift - 31), rounded.
 * m >= 0, -31 <= shift <= 30. */
int32_t qmcu_multiply_by_quantized_multiplier(int32_t x, int32_t m, int32_t shift);

/* CONV_2D: weights [out_c][kh][kw][in_c] int8; bias [out_c] int32 (host-endian, any alignment),
 * or NULL. Output values are clamped to [act_min, act_max], which must lie in the output's
 * code range. */
void qmcu_conv_2d(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r,
                  const int8_t *weights, const void *bias);

/* Optional host fast path: CONV_2D weights rearranged once (TFLM's Prepare, tfmicroops.Bind)
 * for the vector loops, which then read two taps of eight output channels at a time.
 * qmcu_conv_prepared_elems is the number of int16 elements of the copy, 0 when the build's
 * loops use none (always on MCU builds); qmcu_conv_prepare writes it. */
size_t qmcu_conv_prepared_elems(int32_t kh, int32_t kw, int32_t in_c, int32_t out_c);
void qmcu_conv_prepare(const int8_t *weights, int32_t kh, int32_t kw, int32_t in_c, int32_t out_c, int16_t *dst);

/* DEPTHWISE_CONV_2D: weights [1][kh][kw][out_c], out_c = in_c * depth_multiplier; bias as above. */
void qmcu_depthwise_conv_2d(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out,
                            qmcu_rect r, const int8_t *weights, const void *bias);

/* ADD of two same-shape maps. */
void qmcu_add(const qmcu_params *p, const qmcu_src *in1, const qmcu_src *in2, const qmcu_dst *out,
              qmcu_rect r);

/* PAD: out(y, x) = in(y - pad_top, x - pad_left), or output_offset outside the input map. */
void qmcu_pad(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r);

/* MAX_POOL_2D (the maximum starts from the lowest code of the input format). */
void qmcu_max_pool_2d(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r);

/* AVERAGE_POOL_2D. Returns 0, or -1 when an output position averages no in-map element (TFLM
 * fails such an op; the element is left unwritten). */
int qmcu_average_pool_2d(const qmcu_params *p, const qmcu_src *in, const qmcu_dst *out,
                         qmcu_rect r);

/* QUANTIZE float32 -> int8 (qmcu_quantize.c, TFLM's AffineQuantize bit for bit): in reads a
 * float32 map, its strides counted in elements (data points to the bytes of element (r0, c0,
 * 0), any alignment); out is an int8 map (bits 8). Writes clamp(round(v / scale) +
 * output_offset, -128, 127) for every element of r. */
void qmcu_quantize(const qmcu_params *p, float scale, const qmcu_src *in, const qmcu_dst *out, qmcu_rect r);
/* One element of it. */
int32_t qmcu_quantize_value(float v, float scale, int32_t zero_point);

/* Whether some code of an int8 window buffer of n bytes lies outside [lo, hi] (PLAN.md,
 * "Execution": the outlier-tile test). */
int qmcu_has_outlier(const int8_t *codes, size_t n, int32_t lo, int32_t hi);

#ifdef __cplusplus
}
#endif

#endif /* QMCU_KERNELS_H_ */
