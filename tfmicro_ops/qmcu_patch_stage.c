/* The patch loop: for each tile, for each layer, compute the layer's output window (PLAN.md,
 * "Execution"). Feature map 0 is read from the input tensor, the last one written into the
 * output tensor, the others live in per-tile window buffers in the scratch area. In a
 * version-2 plan with a low branch, the tile's window of the checked map decides whether the
 * later layers run their int8 or their low-branch records. */
#include "qmcu_patch_stage.h"

#include "qmcu_kernels.h"
#include "qmcu_msg.h"

#include <string.h>

/* Profiling builds (host/mcuprof's per-layer images) mark every layer of every tile with calls
 * to marker functions an instruction-counting emulator watches; other builds compile nothing. */
#ifdef QMCU_PROFILE_LAYERS
void qmcu_profile_begin(void);
void qmcu_profile_end(void);
#define QMCU_LAYER_BEGIN() qmcu_profile_begin()
#define QMCU_LAYER_END() qmcu_profile_end()
#else
#define QMCU_LAYER_BEGIN() ((void)0)
#define QMCU_LAYER_END() ((void)0)
#endif

/* Decodes a layer record into kernel parameters. */
static void layer_params(const int32_t *w, int32_t flags, qmcu_params *k) {
  k->kh = w[QMCU_L_KH];
  k->kw = w[QMCU_L_KW];
  k->sh = w[QMCU_L_SH];
  k->sw = w[QMCU_L_SW];
  k->dh = w[QMCU_L_DH];
  k->dw = w[QMCU_L_DW];
  k->pad_top = w[QMCU_L_PAD_TOP];
  k->pad_left = w[QMCU_L_PAD_LEFT];
  k->depth_multiplier = w[QMCU_L_DEPTH_MULT];
  k->input_offset = w[QMCU_L_IN_OFFSET];
  k->output_offset = w[QMCU_L_OUT_OFFSET];
  k->act_min = w[QMCU_L_ACT_MIN];
  k->act_max = w[QMCU_L_ACT_MAX];
  k->multiplier = qmcu_record_multipliers(w);
  k->shift = qmcu_record_shifts(w);
  k->in1_offset = w[QMCU_L_ADD_IN1_OFFSET];
  k->in2_offset = w[QMCU_L_ADD_IN2_OFFSET];
  k->left_shift = w[QMCU_L_ADD_LEFT_SHIFT];
  k->in1_multiplier = w[QMCU_L_ADD_IN1_MULT];
  k->in1_shift = w[QMCU_L_ADD_IN1_SHIFT];
  k->in2_multiplier = w[QMCU_L_ADD_IN2_MULT];
  k->in2_shift = w[QMCU_L_ADD_IN2_SHIFT];
  k->out_multiplier = w[QMCU_L_ADD_OUT_MULT];
  k->out_shift = w[QMCU_L_ADD_OUT_SHIFT];
  k->portable = (flags & QMCU_RUN_PORTABLE) != 0;
}

/* Where feature map f lives during tile t: the input tensor, a scratch window buffer, or the
 * output tensor. The fields are those of qmcu_src / qmcu_dst. */
typedef struct {
  int8_t *data;
  ptrdiff_t row, col, ch;
  int32_t r0, c0, h, w, c, bits;
} place;

/* low: the tile runs the low branch (maps after the checked one take their low formats). */
static place locate(const qmcu_plan *p, int32_t t, int32_t f, int low, const int8_t *input,
                    int8_t *output, int8_t *scratch) {
  const int32_t *fm = qmcu_plan_fm(p, f);
  place s;
  s.bits = low && f > p->checked ? qmcu_plan_low_bits(p, f) : 8;
  s.h = fm[QMCU_FM_H];
  s.w = fm[QMCU_FM_W];
  s.c = fm[QMCU_FM_C];
  s.r0 = 0;
  s.c0 = 0;
  s.row = (ptrdiff_t)s.w * s.c;
  s.col = s.c;
  s.ch = 1;
  if (f == 0) {
    /* Only ever read through a const qmcu_src. */
    s.data = (int8_t *)(uintptr_t)input;
    if (p->layout == QMCU_LAYOUT_NCHW) {
      s.row = s.w;
      s.col = 1;
      s.ch = (ptrdiff_t)s.h * s.w;
    }
  } else if (f == p->n_fms - 1) {
    s.data = output;
  } else {
    const int32_t *win = qmcu_plan_window(p, t, f);
    s.data = scratch + fm[QMCU_FM_SCRATCH];
    s.r0 = win[0];
    s.c0 = win[2];
    if (s.bits != 8) s.col = ((ptrdiff_t)s.c * s.bits + 7) / 8;
    s.row = (ptrdiff_t)(win[3] - win[2]) * s.col;
  }
  return s;
}

static qmcu_src as_src(place s) {
  qmcu_src r;
  r.data = s.data;
  r.row = s.row;
  r.col = s.col;
  r.ch = s.ch;
  r.r0 = s.r0;
  r.c0 = s.c0;
  r.h = s.h;
  r.w = s.w;
  r.c = s.c;
  r.bits = s.bits;
  return r;
}

static qmcu_dst as_dst(place s) {
  qmcu_dst r;
  r.data = s.data;
  r.row = s.row;
  r.col = s.col;
  r.ch = s.ch;
  r.r0 = s.r0;
  r.c0 = s.c0;
  r.h = s.h;
  r.w = s.w;
  r.c = s.c;
  r.bits = s.bits;
  return r;
}

static int check_buffers(const qmcu_plan *p, const void *input, size_t input_bytes,
                         const void *const *consts, const size_t *const_bytes, int32_t n_consts,
                         const void *output, size_t output_bytes, const void *scratch,
                         size_t scratch_bytes, char *msg, size_t msg_len) {
  int32_t i, type, bytes, in_bytes;
  if (input == NULL || output == NULL || (scratch == NULL && p->scratch_bytes > 0)) {
    qmcu_msgf(msg, msg_len, "patch stage: null input, output or scratch buffer");
    return QMCU_E_ARG;
  }
  qmcu_plan_input_spec(p, 0, &type, &in_bytes);
  if (input_bytes != (size_t)in_bytes) {
    qmcu_msgf(msg, msg_len, "patch stage: input has %d bytes, the plan wants %d",
              (int32_t)(input_bytes & 0x7fffffff), in_bytes);
    return QMCU_E_TENSOR;
  }
  if (output_bytes != (size_t)qmcu_plan_fm_bytes(p, p->n_fms - 1)) {
    qmcu_msgf(msg, msg_len, "patch stage: output has %d bytes, the plan wants %d",
              (int32_t)(output_bytes & 0x7fffffff), qmcu_plan_fm_bytes(p, p->n_fms - 1));
    return QMCU_E_TENSOR;
  }
  if (scratch_bytes < (size_t)p->scratch_bytes) {
    qmcu_msgf(msg, msg_len, "patch stage: %d scratch bytes, the plan wants %d",
              (int32_t)(scratch_bytes & 0x7fffffff), p->scratch_bytes);
    return QMCU_E_TENSOR;
  }
  if (n_consts < p->n_inputs || (consts == NULL && p->n_inputs > 1)) {
    qmcu_msgf(msg, msg_len, "patch stage: %d inputs, the plan wants %d", n_consts, p->n_inputs);
    return QMCU_E_TENSOR;
  }
  for (i = 1; i < p->n_inputs; i++) {
    qmcu_plan_input_spec(p, i, &type, &bytes);
    if (consts[i] == NULL) {
      qmcu_msgf(msg, msg_len, "patch stage: input %d is null", i);
      return QMCU_E_ARG;
    }
    if (const_bytes != NULL && const_bytes[i] != (size_t)bytes) {
      qmcu_msgf(msg, msg_len, "patch stage: input %d has %d bytes, the plan wants %d", i,
                (int32_t)(const_bytes[i] & 0x7fffffff), bytes);
      return QMCU_E_TENSOR;
    }
  }
  return QMCU_OK;
}

int qmcu_patch_stage_check(const qmcu_plan *p, const void *input, size_t input_bytes,
                           const void *const *consts, const size_t *const_bytes, int32_t n_consts,
                           const void *output, size_t output_bytes, const void *scratch,
                           size_t scratch_bytes, char *msg, size_t msg_len) {
  if (msg != NULL && msg_len > 0) msg[0] = '\0';
  if (p == NULL) {
    qmcu_msgf(msg, msg_len, "patch stage: null plan");
    return QMCU_E_ARG;
  }
  return check_buffers(p, input, input_bytes, consts, const_bytes, n_consts, output, output_bytes,
                       scratch, scratch_bytes, msg, msg_len);
}

/* The prepared data starts with one pointer per custom-op input (the rearranged weights of
 * that input, or NULL), then the copies, each 32-byte aligned. */
#define QMCU_PREP_ALIGN 32

/* Elements of the prepared copy of the weights of convolution record w of layer l (0: none). */
static size_t prepared_elems(const qmcu_plan *p, int32_t l, const int32_t *w) {
  if (w == NULL || w[QMCU_L_KIND] != QMCU_CONV_2D) return 0;
  return qmcu_conv_prepared_elems(w[QMCU_L_KH], w[QMCU_L_KW], qmcu_plan_fm(p, w[QMCU_L_IN])[QMCU_FM_C],
                                  qmcu_plan_fm(p, l + 1)[QMCU_FM_C]);
}

/* Whether weights input wi is used by a convolution record before layer l, branch b. */
static int prepared_before(const qmcu_plan *p, int32_t l, int32_t b, int32_t wi) {
  int32_t i, j;
  for (i = 0; i <= l; i++) {
    for (j = 0; j < 2; j++) {
      const int32_t *w = j == 0 ? qmcu_plan_layer(p, i) : qmcu_plan_low_layer(p, i);
      if (i == l && j == b) return 0;
      if (prepared_elems(p, i, w) > 0 && w[QMCU_L_WEIGHTS] == wi) return 1;
    }
  }
  return 0;
}

/* Whether every convolution record reading weights input wi has the filter size and output
 * channels of record w of layer l (a copy is laid out for one geometry). */
static int one_geometry(const qmcu_plan *p, int32_t l, const int32_t *w) {
  const int32_t wi = w[QMCU_L_WEIGHTS], out_c = qmcu_plan_fm(p, l + 1)[QMCU_FM_C];
  const int64_t k = (int64_t)w[QMCU_L_KH] * w[QMCU_L_KW] * qmcu_plan_fm(p, w[QMCU_L_IN])[QMCU_FM_C];
  int32_t i, j;
  for (i = 0; i < p->n_layers; i++) {
    for (j = 0; j < 2; j++) {
      const int32_t *v = j == 0 ? qmcu_plan_layer(p, i) : qmcu_plan_low_layer(p, i);
      if (v == NULL || v[QMCU_L_KIND] != QMCU_CONV_2D || v[QMCU_L_WEIGHTS] != wi) continue;
      if (qmcu_plan_fm(p, i + 1)[QMCU_FM_C] != out_c ||
          (int64_t)v[QMCU_L_KH] * v[QMCU_L_KW] * qmcu_plan_fm(p, v[QMCU_L_IN])[QMCU_FM_C] != k)
        return 0;
    }
  }
  return 1;
}

static size_t align_up(size_t n) { return (n + QMCU_PREP_ALIGN - 1) / QMCU_PREP_ALIGN * QMCU_PREP_ALIGN; }

/* Visits the records whose weights get a prepared copy (each weights input once); with buf,
 * writes the copies and the table. Returns the bytes used. */
static size_t prepare(const qmcu_plan *p, const void *const *consts, unsigned char *buf) {
  size_t at = align_up(sizeof(const int16_t *) * (size_t)p->n_inputs);
  int32_t l, b, any = 0;
  if (buf != NULL) {
    const int16_t **table = (const int16_t **)(void *)buf;
    for (l = 0; l < p->n_inputs; l++) table[l] = NULL;
  }
  for (l = 0; l < p->n_layers; l++) {
    for (b = 0; b < 2; b++) {
      const int32_t *w = b == 0 ? qmcu_plan_layer(p, l) : qmcu_plan_low_layer(p, l);
      const size_t n = prepared_elems(p, l, w);
      if (n == 0 || prepared_before(p, l, b, w[QMCU_L_WEIGHTS]) || !one_geometry(p, l, w)) continue;
      if (buf != NULL) {
        int16_t *dst = (int16_t *)(void *)(buf + at);
        qmcu_conv_prepare((const int8_t *)consts[w[QMCU_L_WEIGHTS]], w[QMCU_L_KH], w[QMCU_L_KW],
                          qmcu_plan_fm(p, w[QMCU_L_IN])[QMCU_FM_C], qmcu_plan_fm(p, l + 1)[QMCU_FM_C], dst);
        ((const int16_t **)(void *)buf)[w[QMCU_L_WEIGHTS]] = dst;
      }
      at = align_up(at + sizeof(int16_t) * n);
      any = 1;
    }
  }
  return any ? at : 0;
}

size_t qmcu_patch_stage_prepared_bytes(const qmcu_plan *p) { return prepare(p, NULL, NULL); }

void qmcu_patch_stage_prepare(const qmcu_plan *p, const void *const *consts, void *buf) {
  if (qmcu_patch_stage_prepared_bytes(p) > 0) prepare(p, consts, (unsigned char *)buf);
}

/* Runs layer record w of layer l for tile t: its output window in one call, or, for the
 * bottom-up row order (PLAN.md, "In-place layers"), row by row from the last. */
static int run_rows(const qmcu_plan *p, int32_t t, int32_t l, const int32_t *w, int low, const void *prepared,
                    int32_t flags, const int8_t *input, const void *const *consts, int8_t *output,
                    int8_t *scratch, qmcu_rect r);

static int run_layer(const qmcu_plan *p, int32_t t, int32_t l, const int32_t *w, int low, const void *prepared,
                     int32_t flags, const int8_t *input, const void *const *consts, int8_t *output,
                     int8_t *scratch) {
  const int32_t *ow = qmcu_plan_window(p, t, l + 1);
  qmcu_rect r = {ow[0], ow[1], ow[2], ow[3]};
  int32_t y;
  int rc;
  if (w[QMCU_L_ORDER] != QMCU_ORDER_BOTTOM_UP) return run_rows(p, t, l, w, low, prepared, flags, input, consts, output, scratch, r);
  for (y = ow[1] - 1; y >= ow[0]; y--) {
    r.r0 = y;
    r.r1 = y + 1;
    if ((rc = run_rows(p, t, l, w, low, prepared, flags, input, consts, output, scratch, r)) != QMCU_OK) return rc;
  }
  return QMCU_OK;
}

/* Runs layer record w of layer l for tile t over rectangle r of its output window. */
static int run_rows(const qmcu_plan *p, int32_t t, int32_t l, const int32_t *w, int low, const void *prepared,
                    int32_t flags, const int8_t *input, const void *const *consts, int8_t *output,
                    int8_t *scratch, qmcu_rect r) {
  const qmcu_src in = as_src(locate(p, t, w[QMCU_L_IN], low, input, output, scratch));
  const qmcu_dst out = as_dst(locate(p, t, l + 1, low, input, output, scratch));
  const void *bias = w[QMCU_L_BIAS] > 0 ? consts[w[QMCU_L_BIAS]] : (const void *)qmcu_record_biases(w);
  qmcu_params k;
  if (r.r0 == r.r1 || r.c0 == r.c1) return QMCU_OK;
  layer_params(w, flags, &k);
  k.prepared = NULL;
  if (prepared != NULL && w[QMCU_L_KIND] == QMCU_CONV_2D)
    k.prepared = ((const int16_t *const *)prepared)[w[QMCU_L_WEIGHTS]];
  switch (w[QMCU_L_KIND]) {
    case QMCU_CONV_2D:
      qmcu_conv_2d(&k, &in, &out, r, (const int8_t *)consts[w[QMCU_L_WEIGHTS]], bias);
      break;
    case QMCU_DEPTHWISE_CONV_2D:
      qmcu_depthwise_conv_2d(&k, &in, &out, r, (const int8_t *)consts[w[QMCU_L_WEIGHTS]], bias);
      break;
    case QMCU_ADD: {
      const qmcu_src in2 = as_src(locate(p, t, w[QMCU_L_IN2], low, input, output, scratch));
      qmcu_add(&k, &in, &in2, &out, r);
      break;
    }
    case QMCU_PAD:
      qmcu_pad(&k, &in, &out, r);
      break;
    case QMCU_MAX_POOL_2D:
      qmcu_max_pool_2d(&k, &in, &out, r);
      break;
    case QMCU_QUANTIZE: {
      /* fm 0 is the float32 input: locate's strides count elements, as qmcu_quantize reads. */
      const uint32_t bits = (uint32_t)w[QMCU_L_QUANT_SCALE];
      float scale;
      memcpy(&scale, &bits, sizeof scale);
      qmcu_quantize(&k, scale, &in, &out, r);
      break;
    }
    default: /* QMCU_AVERAGE_POOL_2D: the parser admits no other kind */
      if (qmcu_average_pool_2d(&k, &in, &out, r) != 0) return QMCU_E_PLAN;
  }
  return QMCU_OK;
}

/* Whether tile t is an outlier tile: some code of the checked map's window outside [lo, hi]. */
static int outlier_tile(const qmcu_plan *p, int32_t t, const int8_t *scratch) {
  const int32_t *fm = qmcu_plan_fm(p, p->checked), *w = qmcu_plan_window(p, t, p->checked);
  const size_t n = (size_t)(w[1] - w[0]) * (size_t)(w[3] - w[2]) * (size_t)fm[QMCU_FM_C];
  if (p->lo > p->hi) return 1; /* empty range: every tile, even one with an empty window */
  return qmcu_has_outlier(scratch + fm[QMCU_FM_SCRATCH], n, p->lo, p->hi);
}

int qmcu_patch_stage_run(const qmcu_plan *p, const void *input, const void *const *consts,
                         void *output, void *scratch, int32_t first, int32_t end, int32_t step,
                         const void *prepared, int32_t flags, qmcu_stats *stats) {
  const int8_t *in = (const int8_t *)input;
  int8_t *out = (int8_t *)output, *sc = (int8_t *)scratch;
  int32_t t, l;
  int rc;
  if (step < 1) step = 1;
  if (end > p->n_tiles) end = p->n_tiles;
  for (t = first < 0 ? 0 : first; t < end; t += step) {
    int low = 0;
    const int32_t *rec = p->layer0, *low_rec = p->low0; /* layer l's records */
    for (l = 0; l < p->n_layers; l++) {
      if (p->checked > 0 && l == p->checked) {
        /* fm k (written by layer k-1) is complete: choose the branch of the remaining layers. */
        low = !outlier_tile(p, t, sc);
        stats->outlier_tiles += !low;
      }
      QMCU_LAYER_BEGIN();
      rc = run_layer(p, t, l, low ? low_rec : rec, low, prepared, flags, in, consts, out, sc);
      QMCU_LAYER_END();
      if (rc != QMCU_OK) return QMCU_E_PLAN;
      rec = qmcu_record_next(rec);
      if (low_rec != NULL && l >= p->checked) low_rec = qmcu_record_next(low_rec);
    }
    stats->tiles++;
  }
  return QMCU_OK;
}

int qmcu_patch_stage_eval(const qmcu_plan *p, const void *input, size_t input_bytes,
                          const void *const *consts, const size_t *const_bytes, int32_t n_consts,
                          void *output, size_t output_bytes, void *scratch, size_t scratch_bytes,
                          qmcu_stats *stats, char *msg, size_t msg_len) {
  qmcu_stats local = {0, 0};
  int rc = qmcu_patch_stage_check(p, input, input_bytes, consts, const_bytes, n_consts, output,
                                  output_bytes, scratch, scratch_bytes, msg, msg_len);
  if (rc != QMCU_OK) return rc;
  rc = qmcu_patch_stage_run(p, input, consts, output, scratch, 0, p->n_tiles, 1, NULL, 0, &local);
  if (rc != QMCU_OK) qmcu_msgf(msg, msg_len, "patch stage: empty average pool window");
  if (stats != NULL) *stats = local;
  return rc;
}
