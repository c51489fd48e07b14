/* Parser and validator of the QMCU_PATCH_STAGE plan (PLAN.md, versions 1 and 2). */
#include "qmcu_plan.h"

#include "qmcu_msg.h"

/* Parsing state: the plan being filled and where to report. */
typedef struct {
  qmcu_plan *p;
  char *msg;
  size_t msg_len;
} parser;

#define FAIL(code, ...)                                  \
  do {                                                   \
    qmcu_msgf(ps->msg, ps->msg_len, __VA_ARGS__);        \
    return (code);                                       \
  } while (0)

static int in_range(int32_t v, int32_t lo, int32_t hi) { return v >= lo && v <= hi; }

const char *qmcu_kind_name(int32_t kind) {
  switch (kind) {
    case QMCU_CONV_2D: return "CONV_2D";
    case QMCU_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
    case QMCU_ADD: return "ADD";
    case QMCU_PAD: return "PAD";
    case QMCU_MAX_POOL_2D: return "MAX_POOL_2D";
    case QMCU_AVERAGE_POOL_2D: return "AVERAGE_POOL_2D";
    case QMCU_QUANTIZE: return "QUANTIZE";
    default: return "?";
  }
}

/* Code range of a low-branch format: int8 for 8 bits, unsigned codes below. */
static int32_t code_min(int32_t bits) { return bits == 8 ? -128 : 0; }
static int32_t code_max(int32_t bits) { return bits == 8 ? 127 : (1 << bits) - 1; }

static int is_conv(int32_t kind) { return kind == QMCU_CONV_2D || kind == QMCU_DEPTHWISE_CONV_2D; }
static int is_pool(int32_t kind) { return kind == QMCU_MAX_POOL_2D || kind == QMCU_AVERAGE_POOL_2D; }

const int32_t *qmcu_plan_layer(const qmcu_plan *p, int32_t l) {
  const int32_t *rec = p->layer0;
  for (; l > 0; l--) rec = qmcu_record_next(rec);
  return rec;
}

const int32_t *qmcu_plan_low_layer(const qmcu_plan *p, int32_t l) {
  const int32_t *rec = p->low0;
  int32_t i;
  if (rec == NULL || l < p->checked || l >= p->n_layers) return NULL;
  for (i = p->checked; i < l; i++) rec = qmcu_record_next(rec);
  return rec;
}

int32_t qmcu_plan_fm_bytes(const qmcu_plan *p, int32_t f) {
  const int32_t *fm = qmcu_plan_fm(p, f);
  /* The parser guarantees the product fits. */
  return fm[QMCU_FM_H] * fm[QMCU_FM_W] * fm[QMCU_FM_C];
}

/* Byte size of the weights of a convolution layer. */
static int64_t weight_bytes(const qmcu_plan *p, const int32_t *l) {
  int64_t k = (int64_t)l[QMCU_L_KH] * l[QMCU_L_KW];
  int64_t out_c = qmcu_plan_fm(p, l[QMCU_L_OUT])[QMCU_FM_C];
  if (l[QMCU_L_KIND] == QMCU_CONV_2D) return out_c * k * qmcu_plan_fm(p, l[QMCU_L_IN])[QMCU_FM_C];
  return k * out_c; /* depthwise: [1, kh, kw, out_c] */
}

static void record_input(const qmcu_plan *p, const int32_t *l, int32_t idx, int32_t *type, int32_t *bytes);

int qmcu_plan_input_spec(const qmcu_plan *p, int32_t index, int32_t *type, int32_t *bytes) {
  int32_t r;
  if (p == NULL || type == NULL || bytes == NULL || index < 0 || index >= p->n_inputs)
    return QMCU_E_ARG;
  if (index == 0) {
    /* The parser guarantees that a float32 input's 4 * h * w * c bytes fit. */
    *type = qmcu_plan_float_input(p) ? QMCU_TYPE_FLOAT32 : QMCU_TYPE_INT8;
    *bytes = (*type == QMCU_TYPE_FLOAT32 ? 4 : 1) * qmcu_plan_fm_bytes(p, 0);
    return QMCU_OK;
  }
  for (r = 0; r < 2 * p->n_layers; r++) {
    record_input(p, r < p->n_layers ? qmcu_plan_layer(p, r) : qmcu_plan_low_layer(p, r - p->n_layers), index, type, bytes);
    if (*type != QMCU_TYPE_NONE) return QMCU_OK;
  }
  return QMCU_E_ARG; /* unreachable for a parsed plan: every index is referenced */
}

static int parse_header(parser *ps, const int32_t *w, size_t n_words) {
  qmcu_plan *p = ps->p;
  int32_t i;
  if (n_words < QMCU_HEADER_WORDS) FAIL(QMCU_E_FORMAT, "plan: %d words, shorter than the header", (int)n_words);
  if (w[QMCU_H_MAGIC] != QMCU_PLAN_MAGIC) FAIL(QMCU_E_FORMAT, "plan: bad magic (not a QMCU_PATCH_STAGE plan)");
  if (!in_range(w[QMCU_H_VERSION], QMCU_PLAN_VERSION_MIN, QMCU_PLAN_VERSION))
    FAIL(QMCU_E_FORMAT, "plan: version %d, this kernel reads versions %d..%d", w[QMCU_H_VERSION], QMCU_PLAN_VERSION_MIN, QMCU_PLAN_VERSION);
  if (n_words > 0x7fffffff || w[QMCU_H_WORDS] != (int32_t)n_words)
    FAIL(QMCU_E_FORMAT, "plan: header says %d words, blob has %d", w[QMCU_H_WORDS], (int32_t)(n_words & 0x7fffffff));
  p->n_words = (int32_t)n_words;
  p->n_fms = w[QMCU_H_FMS];
  p->n_layers = w[QMCU_H_LAYERS];
  p->n_tiles = w[QMCU_H_TILES];
  p->scratch_bytes = w[QMCU_H_SCRATCH];
  p->layout = w[QMCU_H_LAYOUT];
  p->version = w[QMCU_H_VERSION];
  p->checked = p->version >= 2 ? w[QMCU_H_CHECKED] : 0;
  p->lo = p->version >= 2 ? w[QMCU_H_LO] : 0;
  p->hi = p->version >= 2 ? w[QMCU_H_HI] : 0;
  p->low_scratch_bytes = p->version >= 2 ? w[QMCU_H_LOW_SCRATCH] : 0;
  if (p->n_layers < 1) FAIL(QMCU_E_PLAN, "plan: %d layers", p->n_layers);
  if (p->n_layers > QMCU_MAX_LAYERS) FAIL(QMCU_E_LIMIT, "plan: %d layers, limit %d", p->n_layers, QMCU_MAX_LAYERS);
  if (p->n_fms != p->n_layers + 1) FAIL(QMCU_E_PLAN, "plan: %d feature maps for %d layers", p->n_fms, p->n_layers);
  if (p->n_tiles < 1) FAIL(QMCU_E_PLAN, "plan: %d tiles", p->n_tiles);
  if (p->n_tiles > QMCU_MAX_TILES) FAIL(QMCU_E_LIMIT, "plan: %d tiles, limit %d", p->n_tiles, QMCU_MAX_TILES);
  if (p->scratch_bytes < 0) FAIL(QMCU_E_PLAN, "plan: negative scratch size %d", p->scratch_bytes);
  if (p->layout != QMCU_LAYOUT_NHWC && p->layout != QMCU_LAYOUT_NCHW)
    FAIL(QMCU_E_PLAN, "plan: unknown input layout %d", p->layout);
  if (p->version >= 2) {
    if (p->checked != 0 && !in_range(p->checked, 1, p->n_fms - 2))
      FAIL(QMCU_E_PLAN, "plan: checked feature map %d outside 1..%d (0: no low branch)", p->checked, p->n_fms - 2);
    if (!in_range(p->lo, -128, 127) || !in_range(p->hi, -128, 127))
      FAIL(QMCU_E_PLAN, "plan: outlier thresholds %d..%d are not int8 codes", p->lo, p->hi);
    if (!in_range(p->low_scratch_bytes, 0, p->scratch_bytes))
      FAIL(QMCU_E_PLAN, "plan: low-branch scratch %d outside 0..%d", p->low_scratch_bytes, p->scratch_bytes);
  }
  for (i = p->version >= 2 ? 12 : 8; i < QMCU_HEADER_WORDS; i++)
    if (w[i] != 0) FAIL(QMCU_E_PLAN, "plan: reserved header word %d is %d, want 0", i, w[i]);
  return QMCU_OK;
}

static int parse_fms(parser *ps, size_t *pos) {
  qmcu_plan *p = ps->p;
  int32_t f;
  if ((size_t)p->n_words - *pos < (size_t)p->n_fms * QMCU_FM_WORDS)
    FAIL(QMCU_E_FORMAT, "plan: truncated in the feature-map table");
  p->fms = p->words + *pos;
  *pos += (size_t)p->n_fms * QMCU_FM_WORDS;
  for (f = 0; f < p->n_fms; f++) {
    const int32_t *fm = qmcu_plan_fm(p, f);
    int64_t bytes;
    int32_t i;
    int inner = f > 0 && f < p->n_fms - 1;
    if (!in_range(fm[QMCU_FM_H], 1, QMCU_MAX_DIM) || !in_range(fm[QMCU_FM_W], 1, QMCU_MAX_DIM) ||
        !in_range(fm[QMCU_FM_C], 1, QMCU_MAX_DIM))
      FAIL(QMCU_E_PLAN, "fm %d: size %dx%dx%d outside 1..%d", f, fm[QMCU_FM_H], fm[QMCU_FM_W], fm[QMCU_FM_C], QMCU_MAX_DIM);
    bytes = (int64_t)fm[QMCU_FM_H] * fm[QMCU_FM_W] * fm[QMCU_FM_C];
    if (bytes > 0x7fffffff) FAIL(QMCU_E_LIMIT, "fm %d: %dx%dx%d is larger than 2 GiB", f, fm[QMCU_FM_H], fm[QMCU_FM_W], fm[QMCU_FM_C]);
    if (inner && fm[QMCU_FM_SCRATCH] < 0) FAIL(QMCU_E_PLAN, "fm %d: inner feature map without a scratch offset", f);
    if (!inner && fm[QMCU_FM_SCRATCH] != -1)
      FAIL(QMCU_E_PLAN, "fm %d: scratch offset %d, want -1 for the stage input/output", f, fm[QMCU_FM_SCRATCH]);
    if (!in_range(fm[QMCU_FM_ZP], -128, 127)) FAIL(QMCU_E_PLAN, "fm %d: zero point %d outside int8", f, fm[QMCU_FM_ZP]);
    if (p->version < 2) {
      for (i = 5; i < QMCU_FM_WORDS; i++)
        if (fm[i] != 0) FAIL(QMCU_E_PLAN, "fm %d: reserved word %d is %d, want 0", f, i, fm[i]);
    } else if (p->checked > 0 && f > p->checked && f < p->n_fms - 1) {
      const int32_t b = fm[QMCU_FM_LOW_BITS];
      if (b != 8 && b != 4 && b != 2) FAIL(QMCU_E_PLAN, "fm %d: low-branch bits %d, want 8, 4 or 2", f, b);
      if (!in_range(fm[QMCU_FM_LOW_ZP], code_min(b), code_max(b)))
        FAIL(QMCU_E_PLAN, "fm %d: low-branch zero point %d outside the %d-bit codes %d..%d", f, fm[QMCU_FM_LOW_ZP], b, code_min(b), code_max(b));
      if (fm[QMCU_FM_LOW_GRAN] != 0)
        FAIL(QMCU_E_PLAN, "fm %d: low-branch granularity %d is not supported (0: per tensor)", f, fm[QMCU_FM_LOW_GRAN]);
    } else if (fm[QMCU_FM_LOW_BITS] != 8 || fm[QMCU_FM_LOW_ZP] != fm[QMCU_FM_ZP] || fm[QMCU_FM_LOW_GRAN] != 0) {
      FAIL(QMCU_E_PLAN, "fm %d: stays int8 in both branches: low-branch words %d, %d, %d, want 8, %d, 0", f,
           fm[QMCU_FM_LOW_BITS], fm[QMCU_FM_LOW_ZP], fm[QMCU_FM_LOW_GRAN], fm[QMCU_FM_ZP]);
    }
  }
  return QMCU_OK;
}

/* QUANTIZE (PLAN.md, "QUANTIZE"): layer 0 reading fm 0 (float32, zero point 0) into fm 1 of
 * the same shape, with the output's zero point and scale; every other word fixed. */
static int check_quantize(parser *ps, int32_t li, const int32_t *l) {
  qmcu_plan *p = ps->p;
  const int32_t *in = qmcu_plan_fm(p, 0), *out = qmcu_plan_fm(p, 1);
  static const int32_t fixed[QMCU_LAYER_WORDS] = {QMCU_QUANTIZE, 0, -1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, -128, 127, -1, -1};
  const uint32_t scale = (uint32_t)l[QMCU_L_QUANT_SCALE];
  int32_t i;
  if (li != 0) FAIL(QMCU_E_PLAN, "layer %d (QUANTIZE): only layer 0 may quantize the stage input", li);
  for (i = 0; i < QMCU_LAYER_WORDS; i++) {
    if (i == QMCU_L_OUT_OFFSET || i == QMCU_L_QUANT_SCALE) continue;
    if (l[i] != fixed[i]) FAIL(QMCU_E_PLAN, "layer 0 (QUANTIZE): word %d is %d, want %d", i, l[i], fixed[i]);
  }
  if (l[QMCU_L_OUT_OFFSET] != out[QMCU_FM_ZP])
    FAIL(QMCU_E_PLAN, "layer 0 (QUANTIZE): output offset %d, want fm 1's zero point %d", l[QMCU_L_OUT_OFFSET], out[QMCU_FM_ZP]);
  /* A positive, finite, nonzero binary32: sign 0, exponent not all ones, not +0. */
  if (scale == 0 || scale >= 0x7f800000u)
    FAIL(QMCU_E_PLAN, "layer 0 (QUANTIZE): scale bits 0x%08x are not a positive finite float", (unsigned)scale);
  if (in[QMCU_FM_H] != out[QMCU_FM_H] || in[QMCU_FM_W] != out[QMCU_FM_W] || in[QMCU_FM_C] != out[QMCU_FM_C])
    FAIL(QMCU_E_PLAN, "layer 0 (QUANTIZE): input %dx%dx%d and output %dx%dx%d differ", in[QMCU_FM_H], in[QMCU_FM_W], in[QMCU_FM_C],
         out[QMCU_FM_H], out[QMCU_FM_W], out[QMCU_FM_C]);
  if (in[QMCU_FM_ZP] != 0) FAIL(QMCU_E_PLAN, "fm 0: zero point %d, want 0 for the float32 input of a QUANTIZE", in[QMCU_FM_ZP]);
  if ((int64_t)qmcu_plan_fm_bytes(p, 0) * 4 > 0x7fffffff)
    FAIL(QMCU_E_LIMIT, "fm 0: %dx%dx%d float32 elements are larger than 2 GiB", in[QMCU_FM_H], in[QMCU_FM_W], in[QMCU_FM_C]);
  return QMCU_OK;
}

static int check_layer(parser *ps, int32_t li, const int32_t *l) {
  qmcu_plan *p = ps->p;
  const int32_t kind = l[QMCU_L_KIND];
  const char *name = qmcu_kind_name(kind);
  const int32_t *in, *out;
  int32_t n = l[QMCU_L_CHANNELS], i;
  if (!in_range(kind, QMCU_CONV_2D, QMCU_QUANTIZE)) FAIL(QMCU_E_PLAN, "layer %d: unknown kind %d", li, kind);
  if (kind == QMCU_QUANTIZE) return check_quantize(ps, li, l);
  if (l[QMCU_L_OUT] != li + 1) FAIL(QMCU_E_PLAN, "layer %d (%s): output fm %d, want %d", li, name, l[QMCU_L_OUT], li + 1);
  if (!in_range(l[QMCU_L_IN], 0, li)) FAIL(QMCU_E_PLAN, "layer %d (%s): input fm %d not computed before it", li, name, l[QMCU_L_IN]);
  if (kind == QMCU_ADD) {
    if (!in_range(l[QMCU_L_IN2], 0, li))
      FAIL(QMCU_E_PLAN, "layer %d (ADD): second input fm %d not computed before it", li, l[QMCU_L_IN2]);
  } else if (l[QMCU_L_IN2] != -1) {
    FAIL(QMCU_E_PLAN, "layer %d (%s): second input fm %d, want -1", li, name, l[QMCU_L_IN2]);
  }
  in = qmcu_plan_fm(p, l[QMCU_L_IN]);
  out = qmcu_plan_fm(p, l[QMCU_L_OUT]);
  if (is_conv(kind) || is_pool(kind)) {
    for (i = QMCU_L_KH; i <= QMCU_L_DW; i++)
      if (!in_range(l[i], 1, QMCU_MAX_DIM)) FAIL(QMCU_E_PLAN, "layer %d (%s): kernel/stride/dilation word %d is %d, want 1..%d", li, name, i, l[i], QMCU_MAX_DIM);
    if (is_pool(kind) && (l[QMCU_L_DH] != 1 || l[QMCU_L_DW] != 1))
      FAIL(QMCU_E_PLAN, "layer %d (%s): dilation %dx%d, pools have none", li, name, l[QMCU_L_DH], l[QMCU_L_DW]);
  }
  if (kind != QMCU_ADD) {
    if (!in_range(l[QMCU_L_PAD_TOP], 0, QMCU_MAX_DIM) || !in_range(l[QMCU_L_PAD_LEFT], 0, QMCU_MAX_DIM))
      FAIL(QMCU_E_PLAN, "layer %d (%s): pads %d, %d outside 0..%d", li, name, l[QMCU_L_PAD_TOP], l[QMCU_L_PAD_LEFT], QMCU_MAX_DIM);
  }
  /* Offsets: an input offset is minus an int8 zero point, an output offset an int8 zero point. */
  if (is_conv(kind) && !in_range(l[QMCU_L_IN_OFFSET], -127, 128))
    FAIL(QMCU_E_PLAN, "layer %d (%s): input offset %d outside -127..128", li, name, l[QMCU_L_IN_OFFSET]);
  if (!in_range(l[QMCU_L_OUT_OFFSET], -128, 127))
    FAIL(QMCU_E_PLAN, "layer %d (%s): output offset %d outside int8", li, name, l[QMCU_L_OUT_OFFSET]);
  if (!in_range(l[QMCU_L_ACT_MIN], -128, 127) || !in_range(l[QMCU_L_ACT_MAX], l[QMCU_L_ACT_MIN], 127))
    FAIL(QMCU_E_PLAN, "layer %d (%s): activation range %d..%d is not an int8 range", li, name, l[QMCU_L_ACT_MIN], l[QMCU_L_ACT_MAX]);
  /* Shapes. */
  switch (kind) {
    case QMCU_CONV_2D:
      break;
    case QMCU_DEPTHWISE_CONV_2D:
      if (!in_range(l[QMCU_L_DEPTH_MULT], 1, QMCU_MAX_DIM) || (int64_t)in[QMCU_FM_C] * l[QMCU_L_DEPTH_MULT] != out[QMCU_FM_C])
        FAIL(QMCU_E_PLAN, "layer %d (%s): %d input channels x depth multiplier %d != %d output channels", li, name, in[QMCU_FM_C], l[QMCU_L_DEPTH_MULT], out[QMCU_FM_C]);
      break;
    case QMCU_ADD: {
      const int32_t *in2 = qmcu_plan_fm(p, l[QMCU_L_IN2]);
      if (in[QMCU_FM_H] != out[QMCU_FM_H] || in[QMCU_FM_W] != out[QMCU_FM_W] || in[QMCU_FM_C] != out[QMCU_FM_C] ||
          in2[QMCU_FM_H] != out[QMCU_FM_H] || in2[QMCU_FM_W] != out[QMCU_FM_W] || in2[QMCU_FM_C] != out[QMCU_FM_C])
        FAIL(QMCU_E_PLAN, "layer %d (ADD): inputs and output differ in shape (no broadcasting)", li);
      if (!in_range(l[QMCU_L_ADD_IN1_OFFSET], -127, 128) || !in_range(l[QMCU_L_ADD_IN2_OFFSET], -127, 128))
        FAIL(QMCU_E_PLAN, "layer %d (ADD): input offsets %d, %d outside -127..128", li, l[QMCU_L_ADD_IN1_OFFSET], l[QMCU_L_ADD_IN2_OFFSET]);
      /* (x + offset) << left_shift must fit int32: |x + offset| <= 255 < 2^8, so left_shift <= 22. */
      if (!in_range(l[QMCU_L_ADD_LEFT_SHIFT], 0, 22))
        FAIL(QMCU_E_PLAN, "layer %d (ADD): left shift %d outside 0..22", li, l[QMCU_L_ADD_LEFT_SHIFT]);
      /* TFLM scales ADD inputs and output with multipliers below one (shift <= 0). */
      for (i = QMCU_L_ADD_IN1_MULT; i <= QMCU_L_ADD_OUT_SHIFT; i += 2) {
        if (l[i] < 0) FAIL(QMCU_E_PLAN, "layer %d (ADD): negative multiplier %d", li, l[i]);
        if (!in_range(l[i + 1], -31, 0)) FAIL(QMCU_E_PLAN, "layer %d (ADD): shift %d outside -31..0", li, l[i + 1]);
      }
      break;
    }
    default: /* PAD and pools keep the channels */
      if (in[QMCU_FM_C] != out[QMCU_FM_C])
        FAIL(QMCU_E_PLAN, "layer %d (%s): %d input channels, %d output channels", li, name, in[QMCU_FM_C], out[QMCU_FM_C]);
  }
  /* Constant inputs. */
  if (is_conv(kind)) {
    if (l[QMCU_L_WEIGHTS] < 1) FAIL(QMCU_E_PLAN, "layer %d (%s): weights input %d, want >= 1", li, name, l[QMCU_L_WEIGHTS]);
    if (l[QMCU_L_BIAS] != -1 && l[QMCU_L_BIAS] < 1) FAIL(QMCU_E_PLAN, "layer %d (%s): bias input %d, want >= 1 or -1", li, name, l[QMCU_L_BIAS]);
    if (weight_bytes(p, l) > 0x7fffffff) FAIL(QMCU_E_LIMIT, "layer %d (%s): weights larger than 2 GiB", li, name);
    if (n != out[QMCU_FM_C]) FAIL(QMCU_E_PLAN, "layer %d (%s): %d per-channel entries for %d output channels", li, name, n, out[QMCU_FM_C]);
  } else {
    if (l[QMCU_L_WEIGHTS] != -1 || l[QMCU_L_BIAS] != -1)
      FAIL(QMCU_E_PLAN, "layer %d (%s): weights/bias inputs %d, %d, want -1", li, name, l[QMCU_L_WEIGHTS], l[QMCU_L_BIAS]);
    if (n != 0) FAIL(QMCU_E_PLAN, "layer %d (%s): %d per-channel entries, want 0", li, name, n);
  }
  if (l[QMCU_L_PLAN_BIAS] != 0) FAIL(QMCU_E_PLAN, "layer %d (%s): reserved word 29 is %d, want 0", li, name, l[QMCU_L_PLAN_BIAS]);
  if (l[QMCU_L_ORDER] != QMCU_ORDER_TOP_DOWN && l[QMCU_L_ORDER] != QMCU_ORDER_BOTTOM_UP)
    FAIL(QMCU_E_PLAN, "layer %d (%s): row order %d, want 0 (top-down) or 1 (bottom-up)", li, name, l[QMCU_L_ORDER]);
  if (l[31] != 0) FAIL(QMCU_E_PLAN, "layer %d (%s): reserved word 31 is %d, want 0", li, name, l[31]);
  return QMCU_OK;
}

/* Low zero point and bits of feature map f in the low branch. */
static int32_t low_zp(const qmcu_plan *p, int32_t f) { return qmcu_plan_fm(p, f)[QMCU_FM_LOW_ZP]; }

/* Checks a low-branch record l of layer li against its int8 record ref (PLAN.md, "Low-branch
 * layer table"): the shared words were checked by check_layer on ref; this checks that l has
 * the same geometry and parameters consistent with the maps' low formats. */
static int check_low_layer(parser *ps, int32_t li, const int32_t *l, const int32_t *ref) {
  qmcu_plan *p = ps->p;
  const int32_t kind = ref[QMCU_L_KIND];
  const char *name = qmcu_kind_name(kind);
  const int32_t in = ref[QMCU_L_IN], out = ref[QMCU_L_OUT];
  const int32_t out_bits = qmcu_plan_low_bits(p, out);
  int32_t i;
  for (i = QMCU_L_KIND; i <= QMCU_L_DEPTH_MULT; i++)
    if (l[i] != ref[i]) FAIL(QMCU_E_PLAN, "layer %d (%s): low-branch word %d is %d, the int8 record has %d", li, name, i, l[i], ref[i]);
  if (l[QMCU_L_OUT_OFFSET] != low_zp(p, out))
    FAIL(QMCU_E_PLAN, "layer %d (%s): low-branch output offset %d, want fm %d's low zero point %d", li, name, l[QMCU_L_OUT_OFFSET], out, low_zp(p, out));
  if (!in_range(l[QMCU_L_ACT_MIN], code_min(out_bits), code_max(out_bits)) || !in_range(l[QMCU_L_ACT_MAX], l[QMCU_L_ACT_MIN], code_max(out_bits)))
    FAIL(QMCU_E_PLAN, "layer %d (%s): low-branch activation range %d..%d outside the %d-bit codes", li, name, l[QMCU_L_ACT_MIN], l[QMCU_L_ACT_MAX], out_bits);
  if (l[QMCU_L_IN_OFFSET] != -low_zp(p, in))
    FAIL(QMCU_E_PLAN, "layer %d (%s): low-branch input offset %d, want %d", li, name, l[QMCU_L_IN_OFFSET], -low_zp(p, in));
  if (is_conv(kind)) {
    if (l[QMCU_L_WEIGHTS] < 1) FAIL(QMCU_E_PLAN, "layer %d (%s): low-branch weights input %d, want >= 1", li, name, l[QMCU_L_WEIGHTS]);
    if (l[QMCU_L_BIAS] != -1) FAIL(QMCU_E_PLAN, "layer %d (%s): low-branch bias input %d, want -1 (biases are in the plan)", li, name, l[QMCU_L_BIAS]);
    if (l[QMCU_L_PLAN_BIAS] != (ref[QMCU_L_BIAS] != -1))
      FAIL(QMCU_E_PLAN, "layer %d (%s): low-branch plan-bias flag %d, want %d", li, name, l[QMCU_L_PLAN_BIAS], ref[QMCU_L_BIAS] != -1);
    if (l[QMCU_L_CHANNELS] != ref[QMCU_L_CHANNELS])
      FAIL(QMCU_E_PLAN, "layer %d (%s): %d low-branch per-channel entries, want %d", li, name, l[QMCU_L_CHANNELS], ref[QMCU_L_CHANNELS]);
  } else {
    if (l[QMCU_L_WEIGHTS] != -1 || l[QMCU_L_BIAS] != -1 || l[QMCU_L_PLAN_BIAS] != 0 || l[QMCU_L_CHANNELS] != 0)
      FAIL(QMCU_E_PLAN, "layer %d (%s): low-branch record has weights, biases or per-channel entries", li, name);
  }
  if (kind == QMCU_ADD) {
    if (l[QMCU_L_ADD_IN1_OFFSET] != -low_zp(p, in) || l[QMCU_L_ADD_IN2_OFFSET] != -low_zp(p, ref[QMCU_L_IN2]))
      FAIL(QMCU_E_PLAN, "layer %d (ADD): low-branch input offsets %d, %d, want %d, %d", li, l[QMCU_L_ADD_IN1_OFFSET],
           l[QMCU_L_ADD_IN2_OFFSET], -low_zp(p, in), -low_zp(p, ref[QMCU_L_IN2]));
    if (!in_range(l[QMCU_L_ADD_LEFT_SHIFT], 0, 22))
      FAIL(QMCU_E_PLAN, "layer %d (ADD): left shift %d outside 0..22", li, l[QMCU_L_ADD_LEFT_SHIFT]);
    for (i = QMCU_L_ADD_IN1_MULT; i <= QMCU_L_ADD_OUT_SHIFT; i += 2) {
      if (l[i] < 0) FAIL(QMCU_E_PLAN, "layer %d (ADD): negative multiplier %d", li, l[i]);
      if (!in_range(l[i + 1], -31, 0)) FAIL(QMCU_E_PLAN, "layer %d (ADD): shift %d outside -31..0", li, l[i + 1]);
    }
  } else {
    for (i = QMCU_L_ADD_IN1_OFFSET; i <= QMCU_L_ADD_OUT_SHIFT; i++)
      if (l[i] != ref[i]) FAIL(QMCU_E_PLAN, "layer %d (%s): low-branch word %d is %d, the int8 record has %d", li, name, i, l[i], ref[i]);
  }
  /* PAD and pools copy or compare codes: their output has the input's low format. */
  if (!is_conv(kind) && kind != QMCU_ADD &&
      (qmcu_plan_low_bits(p, in) != out_bits || low_zp(p, in) != low_zp(p, out)))
    FAIL(QMCU_E_PLAN, "layer %d (%s): low-branch output format %d bits / zero point %d differs from its input's %d / %d",
         li, name, out_bits, low_zp(p, out), qmcu_plan_low_bits(p, in), low_zp(p, in));
  if (l[QMCU_L_ORDER] != ref[QMCU_L_ORDER])
    FAIL(QMCU_E_PLAN, "layer %d (%s): low-branch row order %d, the int8 record has %d", li, name, l[QMCU_L_ORDER], ref[QMCU_L_ORDER]);
  if (l[31] != 0) FAIL(QMCU_E_PLAN, "layer %d (%s): reserved low-branch word 31 is %d, want 0", li, name, l[31]);
  return QMCU_OK;
}

/* Reads one layer record at *pos (with its per-channel arrays) and advances *pos. */
static int take_record(parser *ps, size_t *pos, int32_t li, const int32_t **rec) {
  qmcu_plan *p = ps->p;
  const int32_t *l;
  size_t arrays;
  if ((size_t)p->n_words - *pos < QMCU_LAYER_WORDS) FAIL(QMCU_E_FORMAT, "plan: truncated in layer %d", li);
  l = p->words + *pos;
  /* The per-channel count is checked against the remaining words before it is trusted. */
  arrays = (l[QMCU_L_PLAN_BIAS] == 1 ? 3 : 2);
  if (l[QMCU_L_CHANNELS] < 0 || (size_t)p->n_words - *pos - QMCU_LAYER_WORDS < arrays * (size_t)l[QMCU_L_CHANNELS])
    FAIL(QMCU_E_FORMAT, "plan: truncated in the per-channel arrays of layer %d", li);
  *pos += QMCU_LAYER_WORDS + arrays * (size_t)l[QMCU_L_CHANNELS];
  *rec = l;
  return QMCU_OK;
}

static int check_channels(parser *ps, int32_t li, const int32_t *l) {
  int32_t c;
  for (c = 0; c < l[QMCU_L_CHANNELS]; c++) {
    int32_t m = qmcu_record_multipliers(l)[c], s = qmcu_record_shifts(l)[c];
    if (m < 0) FAIL(QMCU_E_PLAN, "layer %d: channel %d multiplier %d is negative", li, c, m);
    if (!in_range(s, -31, 30)) FAIL(QMCU_E_PLAN, "layer %d: channel %d shift %d outside -31..30", li, c, s);
  }
  return QMCU_OK;
}

/* Custom-op input spec of constant index idx as record l uses it (type NONE: not used). */
static void record_input(const qmcu_plan *p, const int32_t *l, int32_t idx, int32_t *type, int32_t *bytes) {
  *type = QMCU_TYPE_NONE;
  *bytes = 0;
  if (l == NULL) return;
  if (l[QMCU_L_WEIGHTS] == idx) {
    *type = QMCU_TYPE_INT8;
    *bytes = (int32_t)weight_bytes(p, l);
  } else if (l[QMCU_L_BIAS] == idx) {
    *type = QMCU_TYPE_INT32;
    *bytes = 4 * qmcu_plan_fm(p, l[QMCU_L_OUT])[QMCU_FM_C];
  }
}

static int parse_layers(parser *ps, size_t *pos) {
  qmcu_plan *p = ps->p;
  int32_t li, max_index = 0, idx, r;
  p->low0 = NULL;
  for (li = 0; li < p->n_layers; li++) {
    const int32_t *l;
    int rc;
    if ((rc = take_record(ps, pos, li, &l)) != QMCU_OK) return rc;
    if (li == 0) p->layer0 = l;
    if ((rc = check_layer(ps, li, l)) != QMCU_OK) return rc;
    if (li > 0 && qmcu_plan_float_input(p) && (l[QMCU_L_IN] == 0 || l[QMCU_L_IN2] == 0))
      FAIL(QMCU_E_PLAN, "layer %d (%s): reads the float32 stage input (only the QUANTIZE may)", li, qmcu_kind_name(l[QMCU_L_KIND]));
    if ((rc = check_channels(ps, li, l)) != QMCU_OK) return rc;
    if (l[QMCU_L_WEIGHTS] > max_index) max_index = l[QMCU_L_WEIGHTS];
    if (l[QMCU_L_BIAS] > max_index) max_index = l[QMCU_L_BIAS];
  }
  for (li = p->checked > 0 ? p->checked : p->n_layers; li < p->n_layers; li++) {
    const int32_t *l;
    int rc;
    if ((rc = take_record(ps, pos, li, &l)) != QMCU_OK) return rc;
    if (p->low0 == NULL) p->low0 = l;
    if ((rc = check_low_layer(ps, li, l, qmcu_plan_layer(p, li))) != QMCU_OK) return rc;
    if ((rc = check_channels(ps, li, l)) != QMCU_OK) return rc;
    if (l[QMCU_L_WEIGHTS] > max_index) max_index = l[QMCU_L_WEIGHTS];
  }
  /* Custom-op inputs: each constant index 1..max is used, and always with one type and size. */
  if (max_index > 3 * QMCU_MAX_LAYERS) FAIL(QMCU_E_PLAN, "plan: constant input index %d with %d layers", max_index, p->n_layers);
  p->n_inputs = max_index + 1;
  for (idx = 1; idx <= max_index; idx++) {
    int32_t type = QMCU_TYPE_NONE, bytes = 0;
    for (r = 0; r < 2 * p->n_layers; r++) {
      int32_t t, b;
      record_input(p, r < p->n_layers ? qmcu_plan_layer(p, r) : qmcu_plan_low_layer(p, r - p->n_layers), idx, &t, &b);
      if (t == QMCU_TYPE_NONE) continue;
      if (type != QMCU_TYPE_NONE && (t != type || b != bytes))
        FAIL(QMCU_E_PLAN, "plan: input %d is used as two different tensors", idx);
      type = t;
      bytes = b;
    }
    if (type == QMCU_TYPE_NONE) FAIL(QMCU_E_PLAN, "plan: input %d is not used by any layer", idx);
  }
  return QMCU_OK;
}

/* In-map input positions read by output positions [a, b) of one dimension of a sliding window
 * (kernel k, stride s, dilation d, padding p, input size n): sets [*lo, *hi] (*lo > *hi when
 * nothing is read) and *starved when some output position reads no in-map position. */
static void read_range(int64_t a, int64_t b, int64_t k, int64_t s, int64_t d, int64_t p, int64_t n,
                       int64_t *lo, int64_t *hi, int *starved) {
  int64_t y;
  *lo = n;
  *hi = -1;
  *starved = 0;
  for (y = a; y < b; y++) {
    int64_t base = y * s - p; /* input position of kernel tap 0 */
    int64_t first = base >= 0 ? 0 : (-base + d - 1) / d;   /* first tap at or after 0 */
    int64_t last = base + (k - 1) * d < n ? k - 1 : (n - 1 - base < 0 ? -1 : (n - 1 - base) / d); /* last tap before n */
    if (first > last || first >= k) {
      *starved = 1;
      continue;
    }
    if (base + first * d < *lo) *lo = base + first * d;
    if (base + last * d > *hi) *hi = base + last * d;
  }
}

/* In-map input positions [*lo, *hi] one output position o of one axis of layer l reads
 * (vertical: rows); returns 0 when it reads none. ADD reads the same position, PAD the
 * position shifted by its pad. */
static int axis_reads(const int32_t *l, int vertical, int64_t o, int64_t n, int64_t *lo, int64_t *hi) {
  int starved;
  const int32_t kind = l[QMCU_L_KIND];
  if (kind == QMCU_ADD) {
    *lo = *hi = o;
    return 1;
  }
  if (kind == QMCU_PAD) {
    *lo = *hi = o - l[vertical ? QMCU_L_PAD_TOP : QMCU_L_PAD_LEFT];
    return *lo >= 0 && *lo < n;
  }
  if (vertical)
    read_range(o, o + 1, l[QMCU_L_KH], l[QMCU_L_SH], l[QMCU_L_DH], l[QMCU_L_PAD_TOP], n, lo, hi, &starved);
  else
    read_range(o, o + 1, l[QMCU_L_KW], l[QMCU_L_SW], l[QMCU_L_DW], l[QMCU_L_PAD_LEFT], n, lo, hi, &starved);
  return *lo <= *hi;
}

/* Whether [a0, a1) and [b0, b1) share no byte (an empty interval shares none). */
static int apart(int64_t a0, int64_t a1, int64_t b0, int64_t b1) { return a1 <= b0 || b1 <= a0 || b0 >= b1; }

/* Bytes of one pixel of feature map f in a branch (low: the low branch's formats). */
static int64_t pixel_bytes(const qmcu_plan *p, int32_t f, int low) {
  const int64_t c = qmcu_plan_fm(p, f)[QMCU_FM_C];
  const int64_t bits = low && f > p->checked ? qmcu_plan_low_bits(p, f) : 8;
  return (c * bits + 7) / 8;
}

/* PLAN.md, "In-place layers": layer l of tile t writes its output buffer over the buffer of
 * its input u. With the output rows in the layer's order and the pixels of a row left to
 * right, no pixel's stored bytes may meet the hull of the bytes the rest of its row reads
 * (itself included) nor the hull of the bytes the rows after it read. A pixel's reads span
 * from its first in-map input pixel's first byte to its last one's last byte. */
static int in_place_ok(const qmcu_plan *p, int32_t t, const int32_t *l, int32_t u, int low) {
  const int32_t *ow = qmcu_plan_window(p, t, l[QMCU_L_OUT]), *iw = qmcu_plan_window(p, t, u);
  const int32_t *in = qmcu_plan_fm(p, u);
  const int64_t ib = pixel_bytes(p, u, low), ob = pixel_bytes(p, l[QMCU_L_OUT], low);
  const int64_t ubase = qmcu_plan_fm(p, u)[QMCU_FM_SCRATCH], obase = qmcu_plan_fm(p, l[QMCU_L_OUT])[QMCU_FM_SCRATCH];
  const int64_t iwidth = iw[3] - iw[2], nc = ow[3] - ow[2], nr = ow[1] - ow[0];
  const int down = l[QMCU_L_ORDER] == QMCU_ORDER_TOP_DOWN;
  int64_t lf = INT64_MAX, le = INT64_MIN; /* hull of the rows after the current one */
  int64_t k, i, j, rlo, rhi, clo, chi, fc = -1, lc = -1;
  for (j = 0; j < nc; j++) { /* first and last output columns that read something */
    if (axis_reads(l, 0, ow[2] + j, in[QMCU_FM_W], &clo, &chi)) {
      if (fc < 0) fc = j;
      lc = j;
    }
  }
  for (k = 0; k < nr; k++) {
    /* Rows after the current one in execution order are visited first (i runs backwards
     * through the execution order), so lf/le hold their hull. */
    const int rok = axis_reads(l, 1, ow[0] + (i = down ? nr - 1 - k : k), in[QMCU_FM_H], &rlo, &rhi);
    const int64_t row0 = ubase + (rlo - iw[0]) * iwidth * ib, rowz = ubase + (rhi - iw[0]) * iwidth * ib;
    int64_t rf = INT64_MAX, re = INT64_MIN; /* hull of this row's pixels from column j on */
    if (rok && lc >= 0) {
      axis_reads(l, 0, ow[2] + lc, in[QMCU_FM_W], &clo, &chi);
      re = rowz + (chi - iw[2] + 1) * ib;
    }
    for (j = nc - 1; j >= 0; j--) {
      const int64_t o0 = obase + (i * nc + j) * ob;
      if (rok && axis_reads(l, 0, ow[2] + j, in[QMCU_FM_W], &clo, &chi)) rf = row0 + (clo - iw[2]) * ib;
      if (!apart(o0, o0 + ob, rf, re) || !apart(o0, o0 + ob, lf, le)) return 0;
    }
    if (rok && fc >= 0) {
      axis_reads(l, 0, ow[2] + fc, in[QMCU_FM_W], &clo, &chi);
      if (row0 + (clo - iw[2]) * ib < lf) lf = row0 + (clo - iw[2]) * ib;
      if (re > le) le = re;
    }
  }
  return 1;
}

/* Checks that window [lo, hi] (inclusive; empty when lo > hi) lies in [w0, w1). */
static int inside(int64_t lo, int64_t hi, int32_t w0, int32_t w1) { return lo > hi || (lo >= w0 && hi < w1); }

static int check_tiles(parser *ps, size_t pos) {
  qmcu_plan *p = ps->p;
  const int32_t last_fm = p->n_fms - 1;
  int32_t t, f, li, u;
  const int32_t *rec;
  int32_t last_use[QMCU_MAX_FMS];
  int64_t covered = 0;
  if ((size_t)p->n_words - pos != (size_t)p->n_tiles * (size_t)p->n_fms * QMCU_WINDOW_WORDS)
    FAIL(QMCU_E_FORMAT, "plan: %d words after the layers, want %d tile windows", (int32_t)((size_t)p->n_words - pos), p->n_tiles * p->n_fms);
  p->tiles = p->words + pos;
  for (f = 0; f < p->n_fms; f++) last_use[f] = f - 1;
  for (li = 0, rec = p->layer0; li < p->n_layers; li++, rec = qmcu_record_next(rec)) {
    const int32_t *l = rec;
    if (last_use[l[QMCU_L_IN]] < li) last_use[l[QMCU_L_IN]] = li;
    if (l[QMCU_L_IN2] >= 0 && last_use[l[QMCU_L_IN2]] < li) last_use[l[QMCU_L_IN2]] = li;
  }
  for (t = 0; t < p->n_tiles; t++) {
    /* Windows inside their maps, scratch buffers inside the scratch area. */
    for (f = 0; f < p->n_fms; f++) {
      const int32_t *w = qmcu_plan_window(p, t, f), *fm = qmcu_plan_fm(p, f);
      if (!in_range(w[0], 0, fm[QMCU_FM_H]) || !in_range(w[1], w[0], fm[QMCU_FM_H]) ||
          !in_range(w[2], 0, fm[QMCU_FM_W]) || !in_range(w[3], w[2], fm[QMCU_FM_W]))
        FAIL(QMCU_E_PLAN, "tile %d fm %d: window [%d,%d)x[%d,%d) outside the %dx%d map", t, f, w[0], w[1], w[2], w[3], fm[QMCU_FM_H], fm[QMCU_FM_W]);
      if (fm[QMCU_FM_SCRATCH] >= 0 &&
          (int64_t)fm[QMCU_FM_SCRATCH] + (int64_t)(w[1] - w[0]) * (w[3] - w[2]) * fm[QMCU_FM_C] > p->scratch_bytes)
        FAIL(QMCU_E_PLAN, "tile %d fm %d: window buffer at %d does not fit the %d scratch bytes", t, f, fm[QMCU_FM_SCRATCH], p->scratch_bytes);
    }
    for (li = 0, rec = p->layer0; li < p->n_layers; li++, rec = qmcu_record_next(rec)) {
      const int32_t *l = rec;
      const int32_t kind = l[QMCU_L_KIND];
      const int32_t *ow = qmcu_plan_window(p, t, l[QMCU_L_OUT]);
      const int32_t *in = qmcu_plan_fm(p, l[QMCU_L_IN]);
      const int32_t *iw = qmcu_plan_window(p, t, l[QMCU_L_IN]);
      int64_t rlo, rhi, clo, chi;
      int srow = 0, scol = 0;
      if (ow[0] == ow[1] || ow[2] == ow[3]) continue; /* nothing computed */
      if (kind == QMCU_QUANTIZE) {
        rlo = ow[0], rhi = ow[1] - 1, clo = ow[2], chi = ow[3] - 1; /* elementwise */
      } else if (kind == QMCU_ADD) {
        const int32_t *iw2 = qmcu_plan_window(p, t, l[QMCU_L_IN2]);
        rlo = ow[0], rhi = ow[1] - 1, clo = ow[2], chi = ow[3] - 1;
        if (!inside(rlo, rhi, iw2[0], iw2[1]) || !inside(clo, chi, iw2[2], iw2[3]))
          FAIL(QMCU_E_PLAN, "tile %d layer %d (ADD): second input window does not cover the output window", t, li);
      } else if (kind == QMCU_PAD) {
        rlo = ow[0] - l[QMCU_L_PAD_TOP] < 0 ? 0 : ow[0] - l[QMCU_L_PAD_TOP];
        rhi = ow[1] - 1 - l[QMCU_L_PAD_TOP] >= in[QMCU_FM_H] ? in[QMCU_FM_H] - 1 : ow[1] - 1 - l[QMCU_L_PAD_TOP];
        clo = ow[2] - l[QMCU_L_PAD_LEFT] < 0 ? 0 : ow[2] - l[QMCU_L_PAD_LEFT];
        chi = ow[3] - 1 - l[QMCU_L_PAD_LEFT] >= in[QMCU_FM_W] ? in[QMCU_FM_W] - 1 : ow[3] - 1 - l[QMCU_L_PAD_LEFT];
      } else {
        read_range(ow[0], ow[1], l[QMCU_L_KH], l[QMCU_L_SH], l[QMCU_L_DH], l[QMCU_L_PAD_TOP], in[QMCU_FM_H], &rlo, &rhi, &srow);
        read_range(ow[2], ow[3], l[QMCU_L_KW], l[QMCU_L_SW], l[QMCU_L_DW], l[QMCU_L_PAD_LEFT], in[QMCU_FM_W], &clo, &chi, &scol);
        /* TFLM's AVERAGE_POOL_2D fails on a window with no in-map element: refuse it here. */
        if (kind == QMCU_AVERAGE_POOL_2D && (srow || scol))
          FAIL(QMCU_E_PLAN, "tile %d layer %d (AVERAGE_POOL_2D): an output position averages no input element", t, li);
      }
      if (rlo <= rhi && clo <= chi && (!inside(rlo, rhi, iw[0], iw[1]) || !inside(clo, chi, iw[2], iw[3])))
        FAIL(QMCU_E_PLAN, "tile %d layer %d (%s): reads input rows %d..%d, cols %d..%d outside the input window [%d,%d)x[%d,%d)",
             t, li, qmcu_kind_name(kind), (int32_t)rlo, (int32_t)rhi, (int32_t)clo, (int32_t)chi, iw[0], iw[1], iw[2], iw[3]);
      /* The output buffer must not overlap a scratch buffer still to be read (or read now). */
      if (li + 1 < last_fm) {
        const int32_t *of = qmcu_plan_fm(p, li + 1);
        int64_t o0 = of[QMCU_FM_SCRATCH], o1 = o0 + (int64_t)(ow[1] - ow[0]) * (ow[3] - ow[2]) * of[QMCU_FM_C];
        for (u = 1; u <= li; u++) {
          const int32_t *uf = qmcu_plan_fm(p, u), *uw = qmcu_plan_window(p, t, u);
          int64_t u0 = uf[QMCU_FM_SCRATCH], u1 = u0 + (int64_t)(uw[1] - uw[0]) * (uw[3] - uw[2]) * uf[QMCU_FM_C];
          if (last_use[u] < li || !(u0 < o1 && o0 < u1 && u0 < u1)) continue;
          /* An input the layer reads last may be overwritten as PLAN.md's in-place rule
           * allows, in every branch that runs the layer. */
          if ((u == l[QMCU_L_IN] || u == l[QMCU_L_IN2]) && last_use[u] == li && in_place_ok(p, t, l, u, 0) &&
              (p->checked == 0 || li < p->checked || in_place_ok(p, t, l, u, 1)))
            continue;
          FAIL(QMCU_E_PLAN, "tile %d layer %d: output buffer overlaps the live buffer of fm %d", t, li, u);
        }
      }
    }
  }
  /* The output windows partition the stage output: pairwise disjoint, covering every element. */
  for (t = 0; t < p->n_tiles; t++) {
    const int32_t *a = qmcu_plan_window(p, t, last_fm);
    covered += (int64_t)(a[1] - a[0]) * (a[3] - a[2]);
    for (u = 0; u < t; u++) {
      const int32_t *b = qmcu_plan_window(p, u, last_fm);
      if (a[0] < b[1] && b[0] < a[1] && a[2] < b[3] && b[2] < a[3])
        FAIL(QMCU_E_PLAN, "tiles %d and %d: output windows overlap", u, t);
    }
  }
  {
    const int32_t *fm = qmcu_plan_fm(p, last_fm);
    if (covered != (int64_t)fm[QMCU_FM_H] * fm[QMCU_FM_W])
      FAIL(QMCU_E_PLAN, "plan: the tiles' output windows do not cover the %dx%d stage output", fm[QMCU_FM_H], fm[QMCU_FM_W]);
  }
  return QMCU_OK;
}

int qmcu_plan_parse(qmcu_plan *plan, const int32_t *words, size_t n_words, char *msg, size_t msg_len) {
  parser st, *ps = &st;
  size_t pos = QMCU_HEADER_WORDS;
  int rc;
  st.p = plan;
  st.msg = msg;
  st.msg_len = msg_len;
  if (msg != NULL && msg_len > 0) msg[0] = '\0';
  if (plan == NULL || (words == NULL && n_words > 0)) FAIL(QMCU_E_ARG, "plan: null argument");
  plan->words = words;
  plan->n_inputs = 0;
  if ((rc = parse_header(ps, words, n_words)) != QMCU_OK) return rc;
  if ((rc = parse_fms(ps, &pos)) != QMCU_OK) return rc;
  if ((rc = parse_layers(ps, &pos)) != QMCU_OK) return rc;
  return check_tiles(ps, pos);
}
