/* Runs one QMCU_PATCH_STAGE plan between the profiling markers and checks its output.
 * stage_data.c (generated) holds the plan, the stage input, the constants and the expected
 * output; the firmware runs the stage twice, with the portable loops and with the default ones
 * (the DSP loops on cores that have them), and prints "ok" and exits 0 when both outputs equal
 * the expected one. */
#include <stdint.h>
#include <string.h>

#include "qmcu_patch_stage.h"
#include "qmcu_plan.h"

void mcu_puts(const char *s);

extern const int32_t plan_words[];
extern const uint32_t plan_n_words;
extern const int8_t stage_input[];
extern const uint32_t stage_input_bytes;
extern const void *const stage_consts[];
extern const int32_t stage_n_consts;
extern const int8_t expected_output[];
extern const uint32_t output_bytes;
extern int8_t output[];
extern int8_t scratch[];
extern const uint32_t scratch_bytes;

/* The markers: distinct bodies, so that the linker cannot fold them into one function. */
volatile int32_t qmcu_profile_state;
__attribute__((noinline)) void qmcu_profile_begin(void) { qmcu_profile_state = 1; }
__attribute__((noinline)) void qmcu_profile_end(void) { qmcu_profile_state = 2; }

/* Runs the stage with the given qmcu_patch_stage_run flags between the markers. */
static int run(const qmcu_plan *plan, int32_t flags, const char *name) {
  qmcu_stats stats = {0, 0};
  int rc;
  memset(output, 0x55, output_bytes);
#ifndef QMCU_PROFILE_LAYERS /* else the patch loop marks every layer of every tile */
  qmcu_profile_begin();
#endif
  rc = qmcu_patch_stage_run(plan, stage_input, stage_consts, output, scratch, 0, plan->n_tiles, 1,
                            NULL, flags, &stats);
#ifndef QMCU_PROFILE_LAYERS
  qmcu_profile_end();
#endif
  if (rc != QMCU_OK) {
    mcu_puts(name);
    mcu_puts(": the stage failed\n");
    return 1;
  }
  if (memcmp(output, expected_output, output_bytes) != 0) {
    mcu_puts(name);
    mcu_puts(": output differs from the host\n");
    return 1;
  }
  return 0;
}

/* Segment 0: the portable loops; segment 1: the default ones (DSP where the core has it). With
 * QMCU_PROFILE_LAYERS, one segment per layer and tile instead, in the same two runs. */
int main(void) {
  static char msg[160];
  static qmcu_plan plan;
  if (qmcu_plan_parse(&plan, plan_words, plan_n_words, msg, sizeof msg) != QMCU_OK ||
      qmcu_patch_stage_check(&plan, stage_input, stage_input_bytes, stage_consts, NULL,
                             stage_n_consts, output, output_bytes, scratch, scratch_bytes, msg,
                             sizeof msg) != QMCU_OK) {
    mcu_puts(msg);
    mcu_puts("\n");
    return 1;
  }
  if (run(&plan, QMCU_RUN_PORTABLE, "portable") != 0 || run(&plan, 0, "default") != 0) return 1;
  mcu_puts("ok\n");
  return 0;
}
