/* Parser and validator of the QMCU_PATCH_STAGE binary plan, format versions 1 and 2 (PLAN.md).
 *
 * Portable C99, no allocation: a parsed plan (qmcu_plan) is a small view whose pointers point
 * into the caller's plan words, which must stay alive and unchanged while the view is used.
 * Parsing validates everything the kernels rely on, so that executing a parsed plan on
 * tensors of the sizes it announces can never read or write out of bounds. */
#ifndef QMCU_PLAN_H_
#define QMCU_PLAN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QMCU_PLAN_MAGIC 0x50434D51 /* "QMCP" little-endian */
#define QMCU_PLAN_VERSION ((int32_t)2)    /* newest version read (and written) */
#define QMCU_PLAN_VERSION_MIN ((int32_t)1) /* oldest version read */

/* Implementation limits (a plan exceeding them is refused with QMCU_E_LIMIT). */
#define QMCU_MAX_LAYERS ((int32_t)64)
#define QMCU_MAX_FMS 65 /* QMCU_MAX_LAYERS + 1 */
#define QMCU_MAX_TILES ((int32_t)1024)
#define QMCU_MAX_DIM ((int32_t)32767) /* feature-map sizes, kernels, strides, dilations, pads */

/* Word counts of the plan's fixed-size records. */
#define QMCU_HEADER_WORDS 16
#define QMCU_FM_WORDS 8
#define QMCU_LAYER_WORDS 32

/* Row orders of a layer (PLAN.md layer word 30): output rows top to bottom or bottom to top,
 * the pixels of a row left to right either way. */
#define QMCU_ORDER_TOP_DOWN 0
#define QMCU_ORDER_BOTTOM_UP 1
#define QMCU_WINDOW_WORDS 4

/* Header words. */
enum {
  QMCU_H_MAGIC = 0,
  QMCU_H_VERSION = 1,
  QMCU_H_WORDS = 2,
  QMCU_H_FMS = 3,
  QMCU_H_LAYERS = 4,
  QMCU_H_TILES = 5,
  QMCU_H_SCRATCH = 6,
  QMCU_H_LAYOUT = 7,
  QMCU_H_CHECKED = 8, /* v2: checked feature map k, 0 = no low branch */
  QMCU_H_LO = 9,      /* v2: outlier thresholds (int8 codes of fm k) */
  QMCU_H_HI = 10,
  QMCU_H_LOW_SCRATCH = 11 /* v2: scratch bytes the low branch touches (informative) */
};

/* Feature-map record words. */
enum {
  QMCU_FM_H = 0,
  QMCU_FM_W = 1,
  QMCU_FM_C = 2,
  QMCU_FM_SCRATCH = 3,
  QMCU_FM_ZP = 4,
  QMCU_FM_LOW_BITS = 5, /* v2: bits of the map in the low branch (8, 4, 2) */
  QMCU_FM_LOW_ZP = 6,   /* v2: zero point of the map in the low branch */
  QMCU_FM_LOW_GRAN = 7  /* v2: 0 = per tensor (others reserved) */
};

/* Layer record words. */
enum {
  QMCU_L_KIND = 0,
  QMCU_L_IN = 1,
  QMCU_L_IN2 = 2,
  QMCU_L_OUT = 3,
  QMCU_L_KH = 4,
  QMCU_L_KW = 5,
  QMCU_L_SH = 6,
  QMCU_L_SW = 7,
  QMCU_L_DH = 8,
  QMCU_L_DW = 9,
  QMCU_L_PAD_TOP = 10,
  QMCU_L_PAD_LEFT = 11,
  QMCU_L_DEPTH_MULT = 12,
  QMCU_L_IN_OFFSET = 13,
  QMCU_L_OUT_OFFSET = 14,
  QMCU_L_ACT_MIN = 15,
  QMCU_L_ACT_MAX = 16,
  QMCU_L_WEIGHTS = 17,
  QMCU_L_BIAS = 18,
  QMCU_L_ADD_IN1_OFFSET = 19,
  QMCU_L_ADD_IN2_OFFSET = 20,
  QMCU_L_ADD_LEFT_SHIFT = 21,
  QMCU_L_ADD_IN1_MULT = 22,
  QMCU_L_ADD_IN1_SHIFT = 23,
  QMCU_L_ADD_IN2_MULT = 24,
  QMCU_L_ADD_IN2_SHIFT = 25,
  QMCU_L_ADD_OUT_MULT = 26,
  QMCU_L_ADD_OUT_SHIFT = 27,
  QMCU_L_CHANNELS = 28,
  QMCU_L_PLAN_BIAS = 29, /* low-branch records: 1 when bias[N] follows the shifts */
  QMCU_L_ORDER = 30      /* row order: QMCU_ORDER_TOP_DOWN or QMCU_ORDER_BOTTOM_UP */
};

/* Layer kinds (PLAN.md layer word 0). */
enum {
  QMCU_CONV_2D = 1,
  QMCU_DEPTHWISE_CONV_2D = 2,
  QMCU_ADD = 3,
  QMCU_PAD = 4,
  QMCU_MAX_POOL_2D = 5,
  QMCU_AVERAGE_POOL_2D = 6,
  QMCU_QUANTIZE = 7 /* layer 0 only: quantizes the float32 stage input (PLAN.md) */
};

/* QUANTIZE record word: the output scale as IEEE-754 binary32 bits. */
#define QMCU_L_QUANT_SCALE QMCU_L_ADD_IN1_OFFSET

/* Input layouts (header word 7). */
enum { QMCU_LAYOUT_NHWC = 0, QMCU_LAYOUT_NCHW = 1 };

/* Element types of the op's tensors. */
enum { QMCU_TYPE_NONE = 0, QMCU_TYPE_INT8 = 1, QMCU_TYPE_INT32 = 2, QMCU_TYPE_FLOAT32 = 3 };

/* Result codes. */
enum {
  QMCU_OK = 0,
  QMCU_E_FORMAT = 1, /* not a version-1 plan, or truncated / wrong size */
  QMCU_E_PLAN = 2,   /* inconsistent or out-of-range content */
  QMCU_E_LIMIT = 3,  /* valid but beyond this implementation's limits */
  QMCU_E_TENSOR = 4, /* tensors or buffers given to the op do not match the plan */
  QMCU_E_ARG = 5     /* null pointer or other misuse of the API */
};

/* A parsed plan: a view into the caller's words. */
typedef struct {
  const int32_t *words;
  int32_t n_words;
  int32_t n_fms, n_layers, n_tiles;
  int32_t scratch_bytes;
  int32_t layout;
  int32_t n_inputs;                          /* custom-op inputs: stage input + constants */
  int32_t version;
  int32_t checked;                           /* checked fm k; 0: no low branch */
  int32_t lo, hi;                            /* outlier thresholds (lo > hi: all tiles) */
  int32_t low_scratch_bytes;
  const int32_t *fms;                        /* n_fms records of QMCU_FM_WORDS */
  /* The layer records follow one another (qmcu_record_next): the int8 records of layers
   * 0..L-1 from layer0, then the low-branch records of layers checked..L-1 from low0 (NULL
   * without a low branch). Reach them with qmcu_plan_layer / qmcu_plan_low_layer, or walk
   * them in order; the view stores no per-layer table, so that it stays small (TFLM keeps it
   * in the arena). */
  const int32_t *layer0;
  const int32_t *low0;
  const int32_t *tiles;                      /* n_tiles x n_fms windows of QMCU_WINDOW_WORDS */
} qmcu_plan;

/* qmcu_plan_parse validates the n_words plan words (host-endian int32, 4-byte aligned) and fills
 * *plan. On failure it returns a QMCU_E_* code and, when msg is not NULL, writes a one-line
 * NUL-terminated reason of at most msg_len bytes. */
int qmcu_plan_parse(qmcu_plan *plan, const int32_t *words, size_t n_words, char *msg,
                    size_t msg_len);

/* Record accessors of a parsed plan (indices must be in range). */
static inline const int32_t *qmcu_plan_fm(const qmcu_plan *p, int32_t f) {
  return p->fms + (ptrdiff_t)f * QMCU_FM_WORDS;
}
static inline const int32_t *qmcu_plan_window(const qmcu_plan *p, int32_t tile, int32_t f) {
  return p->tiles + ((ptrdiff_t)tile * p->n_fms + f) * QMCU_WINDOW_WORDS;
}
/* The record after record rec (the next layer's record in the same branch). */
static inline const int32_t *qmcu_record_next(const int32_t *rec) {
  return rec + QMCU_LAYER_WORDS + (rec[QMCU_L_PLAN_BIAS] == 1 ? 3 : 2) * rec[QMCU_L_CHANNELS];
}

/* The int8 record of layer l (0 <= l < n_layers), and the low-branch record of layer l (NULL
 * for layers before the checked map and without a low branch). Both walk the records from
 * the first: loops over the layers in order should use qmcu_record_next instead. */
const int32_t *qmcu_plan_layer(const qmcu_plan *p, int32_t l);
const int32_t *qmcu_plan_low_layer(const qmcu_plan *p, int32_t l);

/* Per-channel output multipliers, shifts and (low-branch records with word 29 set) biases of a
 * layer record (QMCU_L_CHANNELS entries each). */
static inline const int32_t *qmcu_record_multipliers(const int32_t *rec) { return rec + QMCU_LAYER_WORDS; }
static inline const int32_t *qmcu_record_shifts(const int32_t *rec) {
  return rec + QMCU_LAYER_WORDS + rec[QMCU_L_CHANNELS];
}
static inline const int32_t *qmcu_record_biases(const int32_t *rec) {
  return rec[QMCU_L_PLAN_BIAS] ? rec + QMCU_LAYER_WORDS + 2 * rec[QMCU_L_CHANNELS] : NULL;
}
static inline const int32_t *qmcu_plan_multipliers(const qmcu_plan *p, int32_t l) {
  return qmcu_record_multipliers(qmcu_plan_layer(p, l));
}
static inline const int32_t *qmcu_plan_shifts(const qmcu_plan *p, int32_t l) {
  return qmcu_record_shifts(qmcu_plan_layer(p, l));
}
/* Bits of feature map f in the low branch (8 for maps that stay int8, and in v1 plans). */
static inline int32_t qmcu_plan_low_bits(const qmcu_plan *p, int32_t f) {
  const int32_t b = qmcu_plan_fm(p, f)[QMCU_FM_LOW_BITS];
  return b == 0 ? 8 : b;
}

/* Whether the stage input (fm 0) is float32: layer 0 is a QUANTIZE (PLAN.md). */
static inline int qmcu_plan_float_input(const qmcu_plan *p) { return p->layer0[QMCU_L_KIND] == QMCU_QUANTIZE; }

/* Byte size of feature map f as a whole int8 tensor (h * w * c; the float32 stage input takes
 * four times that: see qmcu_plan_input_spec). */
int32_t qmcu_plan_fm_bytes(const qmcu_plan *p, int32_t f);

/* Expected element type (QMCU_TYPE_*) and byte size of custom-op input `index`
 * (0 = stage input, 1..n_inputs-1 = constants). Returns QMCU_OK or QMCU_E_ARG. */
int qmcu_plan_input_spec(const qmcu_plan *p, int32_t index, int32_t *type, int32_t *bytes);

/* Name of a layer kind ("CONV_2D", ...), "?" when unknown. */
const char *qmcu_kind_name(int32_t kind);

#ifdef __cplusplus
}
#endif

#endif /* QMCU_PLAN_H_ */
