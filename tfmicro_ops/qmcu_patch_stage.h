/* The patch loop of QMCU_PATCH_STAGE: runs a parsed plan tile by tile inside a scratch buffer. */
#ifndef QMCU_PATCH_STAGE_H_
#define QMCU_PATCH_STAGE_H_

#include <stddef.h>
#include <stdint.h>

#include "qmcu_plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* qmcu_patch_stage_eval computes the stage output from the stage input.
 * - input: the stage input tensor (int8, NHWC or NCHW as the plan says), input_bytes long.
 * - consts: the op's constant tensors indexed by custom-op input index (consts[0] is unused),
 *   n_consts entries (at least plan->n_inputs); const_bytes gives their sizes, or is NULL when
 *   the caller has already checked them against qmcu_plan_input_spec. Bias tensors may be
 *   unaligned.
 * - output: the stage output tensor (int8 NHWC), output_bytes long; every element is written.
 * - scratch: at least plan->scratch_bytes bytes (may be NULL when that is 0); no other memory
 *   is used.
 * Returns QMCU_OK, or an error code with a one-line reason in msg (when not NULL). */
int qmcu_patch_stage_eval(const qmcu_plan *plan, const void *input, size_t input_bytes,
                          const void *const *consts, const size_t *const_bytes, int32_t n_consts,
                          void *output, size_t output_bytes, void *scratch, size_t scratch_bytes,
                          char *msg, size_t msg_len);

#ifdef __cplusplus
}
#endif

#endif /* QMCU_PATCH_STAGE_H_ */
