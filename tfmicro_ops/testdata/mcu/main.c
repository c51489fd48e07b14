/* Runs one generated plan (stage.c, written by the Go test) on the emulated MCU and compares
 * the output with the host reference. */
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

int main(void) {
  static char msg[160];
  qmcu_plan plan;
  qmcu_stats stats;
  if (qmcu_plan_parse(&plan, plan_words, plan_n_words, msg, sizeof msg) != QMCU_OK ||
      qmcu_patch_stage_eval(&plan, stage_input, stage_input_bytes, stage_consts, NULL,
                            stage_n_consts, output, output_bytes, scratch, scratch_bytes, &stats,
                            msg, sizeof msg) != QMCU_OK) {
    mcu_puts(msg);
    mcu_puts("\n");
    return 1;
  }
  if (memcmp(output, expected_output, output_bytes) != 0) {
    mcu_puts("output differs from the host reference\n");
    return 1;
  }
  mcu_puts("ok\n");
  return 0;
}
