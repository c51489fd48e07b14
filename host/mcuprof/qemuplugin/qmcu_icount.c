/* qmcu_icount: a QEMU TCG plugin counting the guest instructions executed between marker calls.
 *
 * Arguments (-plugin qmcu_icount.so,begin=ADDR,end=ADDR,out=FILE): begin and end are the
 * addresses (hex or decimal, Thumb bit ignored) of two guest functions. Every execution of the
 * first instruction of `begin` opens a segment, every execution of `end`'s closes it; while a
 * segment is open each executed instruction is counted at its address, and so is each taken
 * control transfer (the next executed instruction is not the one after it in memory). When a
 * segment closes, its histogram is appended to FILE:
 *
 *   segment N insns TOTAL
 *   ADDR SIZE COUNT TAKEN        (hex address, then decimal; one line per address executed)
 *   end
 *
 * The marker functions' own instructions are outside the segments. Single vCPU guests only
 * (the MCU boards). Counts do not depend on timing: they are identical run to run. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_min.h"

QMCU_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* One guest instruction address. */
typedef struct insn {
  uint64_t pc;
  uint32_t size;
  uint64_t count, taken; /* in the open segment */
  int listed;            /* in the open segment's list */
  struct insn *next;     /* hash chain */
} insn;

#define TABLE_BITS 16
static insn *table[1u << TABLE_BITS];
static insn **touched; /* instructions executed in the open segment */
static size_t n_touched, cap_touched;
static uint64_t begin_pc = UINT64_MAX, end_pc = UINT64_MAX;
static FILE *out;
static int open_segment;
static long segments;
static insn *last; /* the previous instruction executed in the open segment */

static unsigned hash(uint64_t pc) { return (unsigned)((pc >> 1) * 2654435761u) >> (32 - TABLE_BITS); }

static insn *lookup(uint64_t pc, uint32_t size) {
  insn **slot = &table[hash(pc)];
  insn *i;
  for (i = *slot; i != NULL; i = i->next)
    if (i->pc == pc) return i;
  i = calloc(1, sizeof *i);
  if (i == NULL) {
    fprintf(stderr, "qmcu_icount: out of memory\n");
    exit(1);
  }
  i->pc = pc;
  i->size = size;
  i->next = *slot;
  *slot = i;
  return i;
}

static void on_insn(unsigned int vcpu, void *udata) {
  insn *i = udata;
  (void)vcpu;
  if (!open_segment) return;
  if (last != NULL && last->pc + last->size != i->pc) last->taken++;
  if (!i->listed) {
    if (n_touched == cap_touched) {
      cap_touched = cap_touched ? 2 * cap_touched : 4096;
      touched = realloc(touched, cap_touched * sizeof *touched);
      if (touched == NULL) {
        fprintf(stderr, "qmcu_icount: out of memory\n");
        exit(1);
      }
    }
    touched[n_touched++] = i;
    i->listed = 1;
  }
  i->count++;
  last = i;
}

static int by_pc(const void *a, const void *b) {
  const insn *x = *(insn *const *)a, *y = *(insn *const *)b;
  return x->pc < y->pc ? -1 : x->pc > y->pc;
}

static void close_segment(void) {
  uint64_t total = 0;
  size_t k;
  /* The call into `end` is the segment's last instruction: a taken transfer. */
  if (last != NULL) last->taken++;
  qsort(touched, n_touched, sizeof *touched, by_pc);
  for (k = 0; k < n_touched; k++) total += touched[k]->count;
  fprintf(out, "segment %ld insns %llu\n", segments++, (unsigned long long)total);
  for (k = 0; k < n_touched; k++) {
    insn *i = touched[k];
    fprintf(out, "%llx %u %llu %llu\n", (unsigned long long)i->pc, i->size,
            (unsigned long long)i->count, (unsigned long long)i->taken);
    i->count = i->taken = 0;
    i->listed = 0;
  }
  fputs("end\n", out);
  fflush(out);
  n_touched = 0;
  open_segment = 0;
  last = NULL;
}

static void on_begin(unsigned int vcpu, void *udata) {
  (void)vcpu;
  (void)udata;
  if (open_segment) close_segment(); /* a begin without end: close the previous one */
  open_segment = 1;
  last = NULL;
}

static void on_end(unsigned int vcpu, void *udata) {
  (void)vcpu;
  (void)udata;
  if (open_segment) close_segment();
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  size_t n = qemu_plugin_tb_n_insns(tb), k;
  (void)id;
  for (k = 0; k < n; k++) {
    struct qemu_plugin_insn *q = qemu_plugin_tb_get_insn(tb, k);
    const uint64_t pc = qemu_plugin_insn_vaddr(q);
    /* Registered first, so it runs before on_insn for the same instruction. */
    if (pc == begin_pc) qemu_plugin_register_vcpu_insn_exec_cb(q, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
    if (pc == end_pc) qemu_plugin_register_vcpu_insn_exec_cb(q, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
    qemu_plugin_register_vcpu_insn_exec_cb(q, on_insn, QEMU_PLUGIN_CB_NO_REGS,
                                           lookup(pc, (uint32_t)qemu_plugin_insn_size(q)));
  }
}

static void on_exit(qemu_plugin_id_t id, void *udata) {
  (void)id;
  (void)udata;
  if (out != NULL) {
    if (open_segment) fputs("unterminated\n", out);
    fclose(out);
    out = NULL;
  }
}

static int parse_addr(const char *s, uint64_t *v) {
  char *e;
  errno = 0;
  *v = strtoull(s, &e, 0);
  if (errno != 0 || e == s || *e != '\0') return -1;
  *v &= ~(uint64_t)1; /* Thumb bit */
  return 0;
}

QMCU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv) {
  const char *path = NULL;
  int k;
  (void)info;
  for (k = 0; k < argc; k++) {
    const char *a = argv[k];
    if (strncmp(a, "begin=", 6) == 0 && parse_addr(a + 6, &begin_pc) == 0) continue;
    if (strncmp(a, "end=", 4) == 0 && parse_addr(a + 4, &end_pc) == 0) continue;
    if (strncmp(a, "out=", 4) == 0 && a[4] != '\0') {
      path = a + 4;
      continue;
    }
    fprintf(stderr, "qmcu_icount: bad argument %s (want begin=ADDR,end=ADDR,out=FILE)\n", a);
    return -1;
  }
  if (path == NULL || begin_pc == UINT64_MAX || end_pc == UINT64_MAX) {
    fprintf(stderr, "qmcu_icount: begin=ADDR, end=ADDR and out=FILE are required\n");
    return -1;
  }
  out = fopen(path, "w");
  if (out == NULL) {
    fprintf(stderr, "qmcu_icount: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
  qemu_plugin_register_atexit_cb(id, on_exit, NULL);
  return 0;
}
