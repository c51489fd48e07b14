/* The patch loop of QMCU_PATCH_STAGE: runs a parsed plan tile by tile inside a scratch buffer. */
#ifndef QMCU_PATCH_STAGE_H_
#define QMCU_PATCH_STAGE_H_

#include <stddef.h>
#include <stdint.h>

#include "qmcu_plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one evaluation did: tiles run, and how many of them were outlier tiles (version-2 plans
 * with a low branch; 0 otherwise). */
typedef struct {
  int32_t tiles;
  int32_t outlier_tiles;
} qmcu_stats;

/* qmcu_patch_stage_eval computes the stage output from the stage input.
 * - input: the stage input tensor (int8, or float32 when layer 0 is a QUANTIZE; NHWC or NCHW as
 *   the plan says), input_bytes long (qmcu_plan_input_spec of input 0).
 * - consts: the op's constant tensors indexed by custom-op input index (consts[0] is unused),
 *   n_consts entries (at least plan->n_inputs); const_bytes gives their sizes, or is NULL when
 *   the caller has already checked them against qmcu_plan_input_spec. Bias tensors may be
 *   unaligned.
 * - output: the stage output tensor (int8 NHWC), output_bytes long; every element is written.
 *   It may overlap input only as PLAN.md's "What a tile touches" allows (an offline arena plan
 *   places it so); tiles then run in table order, as here.
 * - scratch: at least plan->scratch_bytes bytes (may be NULL when that is 0); no other memory
 *   is used.
 * - stats: when not NULL, receives what the evaluation did.
 * Returns QMCU_OK, or an error code with a one-line reason in msg (when not NULL). */
int qmcu_patch_stage_eval(const qmcu_plan *plan, const void *input, size_t input_bytes,
                          const void *const *consts, const size_t *const_bytes, int32_t n_consts,
                          void *output, size_t output_bytes, void *scratch, size_t scratch_bytes,
                          qmcu_stats *stats, char *msg, size_t msg_len);

/* qmcu_patch_stage_check validates the buffers of qmcu_patch_stage_eval against the plan
 * without running anything (Prepare-time check; same arguments and results). */
int qmcu_patch_stage_check(const qmcu_plan *plan, const void *input, size_t input_bytes,
                           const void *const *consts, const size_t *const_bytes, int32_t n_consts,
                           const void *output, size_t output_bytes, const void *scratch,
                           size_t scratch_bytes, char *msg, size_t msg_len);

/* Optional host fast path (TFLM's Prepare, tfmicroops.Bind): constants rearranged once for the
 * vector loops. qmcu_patch_stage_prepared_bytes is the size of that data (0: the build's loops
 * use none, as on MCUs); qmcu_patch_stage_prepare writes it into buf (that many bytes, aligned
 * for pointers) from the constants, which must stay where they are while it is used. */
size_t qmcu_patch_stage_prepared_bytes(const qmcu_plan *plan);
void qmcu_patch_stage_prepare(const qmcu_plan *plan, const void *const *consts, void *buf);

/* Flags of qmcu_patch_stage_run: QMCU_RUN_PORTABLE runs the portable loops even where the host
 * build has faster ones (both compute the same bytes; tests compare them). */
#define QMCU_RUN_PORTABLE 1

/* qmcu_patch_stage_run runs tiles first, first + step, ... (< end) of a parsed plan on buffers
 * already validated by qmcu_patch_stage_check, adding to *stats (not NULL). Tiles write
 * disjoint parts of the output, so callers may run disjoint tile sets concurrently, each with
 * its own scratch buffer, unless output and input overlap (then one call runs all tiles). prepared: qmcu_patch_stage_prepare's data for these constants, or
 * NULL. flags: 0 or QMCU_RUN_PORTABLE. Returns QMCU_OK, or QMCU_E_PLAN for an
 * average pool window without an in-map element. */
int qmcu_patch_stage_run(const qmcu_plan *plan, const void *input, const void *const *consts,
                         void *output, void *scratch, int32_t first, int32_t end, int32_t step,
                         const void *prepared, int32_t flags, qmcu_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* QMCU_PATCH_STAGE_H_ */
