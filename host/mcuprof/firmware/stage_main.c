/* Runs one QMCU_PATCH_STAGE plan between the profiling markers and checks its output.
 * stage_data.c (generated) holds the plan, the stage input, the constants and the expected
 * output; the firmware prints "ok" and exits 0 when the output equals it. */
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

int main(void) {
  static char msg[160];
  static qmcu_plan plan;
  qmcu_stats stats;
  int rc;
  if (qmcu_plan_parse(&plan, plan_words, plan_n_words, msg, sizeof msg) != QMCU_OK) {
    mcu_puts(msg);
    mcu_puts("\n");
    return 1;
  }
  qmcu_profile_begin();
  rc = qmcu_patch_stage_eval(&plan, stage_input, stage_input_bytes, stage_consts, NULL,
                             stage_n_consts, output, output_bytes, scratch, scratch_bytes, &stats,
                             msg, sizeof msg);
  qmcu_profile_end();
  if (rc != QMCU_OK) {
    mcu_puts(msg);
    mcu_puts("\n");
    return 1;
  }
  if (memcmp(output, expected_output, output_bytes) != 0) {
    mcu_puts("output differs from the host\n");
    return 1;
  }
  mcu_puts("ok\n");
  return 0;
}
