/* Minimal Cortex-M start-up for QEMU mps2 boards with semihosting: vector table, zeroed .bss,
 * main(), and exit through SYS_EXIT (QEMU exits 0 for a clean exit, 1 otherwise). */
#include <stdint.h>
#include <string.h>

extern char __bss_start[], __bss_end[], __stack_top[];
int main(void);

static int semihost(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void mcu_puts(const char *s) { semihost(0x04, s); } /* SYS_WRITE0 */

void mcu_exit(int code) {
  /* ADP_Stopped_ApplicationExit (0x20026) means success; any other reason is a failure. */
  semihost(0x18, (const void *)(uintptr_t)(code == 0 ? 0x20026 : 0x20024));
  for (;;) {
  }
}

void reset_handler(void) {
  memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
  mcu_exit(main());
}

static void fault_handler(void) {
  mcu_puts("fault\n");
  mcu_exit(1);
}

__attribute__((section(".vectors"), used)) void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top, reset_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler, 0, 0, 0, 0, fault_handler, fault_handler, 0,
    fault_handler, fault_handler};
