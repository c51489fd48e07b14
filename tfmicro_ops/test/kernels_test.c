/* Host test of the portable kernels without Go: runs kernel test vectors (../testdata/vectors,
 * written by `go test ./tfmicro_ops -run TestKernelVectors -update-vectors`; layout in
 * ../vector_test.go) through qmcu_plan_parse and qmcu_patch_stage_eval and compares the stage
 * output byte for byte. Also checks that damaged plans and short buffers are refused.
 * Used by Bazel (//tfmicro_ops:kernels_test) and CMake (ctest).
 * Usage: kernels_test VECTOR.qmv ... */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../qmcu_patch_stage.h"
#include "../qmcu_plan.h"

typedef struct {
  const uint8_t *p, *end;
} reader;

static int read_u32(reader *r, uint32_t *v) {
  if (r->end - r->p < 4) return 0;
  *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
       (uint32_t)r->p[3] << 24;
  r->p += 4;
  return 1;
}

/* A length-prefixed, 4-byte padded byte string. */
static int read_blob(reader *r, const uint8_t **data, uint32_t *n) {
  uint32_t padded;
  if (!read_u32(r, n)) return 0;
  padded = (*n + 3u) & ~3u;
  if (padded < *n || (uint32_t)(r->end - r->p) < padded) return 0;
  *data = r->p;
  r->p += padded;
  return 1;
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  long n;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
    buf = malloc((size_t)n);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
      free(buf);
      buf = NULL;
    }
    *len = (size_t)n;
  }
  fclose(f);
  return buf;
}

static int failures = 0;

static void fail(const char *path, const char *what, const char *msg) {
  fprintf(stderr, "%s: %s%s%s\n", path, what, msg ? ": " : "", msg ? msg : "");
  failures++;
}

static void run_vector(const char *path) {
  size_t len = 0;
  uint8_t *file = read_file(path, &len);
  reader r;
  uint32_t format, plan_n, in_n, n_inputs, out_n, i, tiles;
  const uint8_t *plan_bytes, *in, *expected;
  const void **consts = NULL;
  size_t *const_bytes = NULL;
  int32_t *words = NULL;
  int8_t *out = NULL, *scratch = NULL;
  qmcu_plan plan;
  qmcu_stats stats;
  char msg[160];
  int rc;

  if (file == NULL) {
    fail(path, "cannot read", NULL);
    return;
  }
  r.p = file;
  r.end = file + len;
  if (len < 8 || memcmp(file, "QMTV", 4) != 0) {
    fail(path, "not a QMTV vector", NULL);
    goto done;
  }
  r.p += 4;
  if (!read_u32(&r, &format) || format != 1 || !read_blob(&r, &plan_bytes, &plan_n) ||
      !read_blob(&r, &in, &in_n) || !read_u32(&r, &n_inputs) || n_inputs == 0 ||
      n_inputs > 1024) {
    fail(path, "malformed vector header", NULL);
    goto done;
  }
  consts = calloc(n_inputs, sizeof *consts);
  const_bytes = calloc(n_inputs, sizeof *const_bytes);
  if (consts == NULL || const_bytes == NULL) goto done;
  for (i = 1; i < n_inputs; i++) {
    const uint8_t *c;
    uint32_t n;
    if (!read_blob(&r, &c, &n)) {
      fail(path, "truncated constants", NULL);
      goto done;
    }
    consts[i] = c;
    const_bytes[i] = n;
  }
  if (!read_blob(&r, &expected, &out_n) || r.p != r.end || plan_n % 4 != 0) {
    fail(path, "malformed vector tail", NULL);
    goto done;
  }

  /* The kernels read host-endian words from aligned memory (as the TFLM glue copies them). */
  words = malloc(plan_n);
  if (words == NULL) goto done;
  for (i = 0; i < plan_n / 4; i++) {
    const uint8_t *b = plan_bytes + 4 * i;
    words[i] = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                         (uint32_t)b[3] << 24);
  }
  rc = qmcu_plan_parse(&plan, words, plan_n / 4, msg, sizeof msg);
  if (rc != QMCU_OK) {
    fail(path, "plan refused", msg);
    goto done;
  }
  tiles = (uint32_t)plan.n_tiles;
  out = malloc(out_n + 1);
  scratch = malloc((size_t)plan.scratch_bytes + 1);
  if (out == NULL || scratch == NULL) goto done;
  memset(out, 0x55, out_n);
  rc = qmcu_patch_stage_eval(&plan, in, in_n, consts, const_bytes, (int32_t)n_inputs, out, out_n,
                             scratch, (size_t)plan.scratch_bytes, &stats, msg, sizeof msg);
  if (rc != QMCU_OK) {
    fail(path, "eval failed", msg);
  } else if (memcmp(out, expected, out_n) != 0) {
    fail(path, "stage output differs from the host's", NULL);
  } else if ((uint32_t)stats.tiles != tiles) {
    fail(path, "eval did not report every tile as run", NULL);
  }

  /* Refusals: a short output, too little scratch, a truncated plan, a wrong magic. */
  if (qmcu_patch_stage_eval(&plan, in, in_n, consts, const_bytes, (int32_t)n_inputs, out,
                            out_n - 1, scratch, (size_t)plan.scratch_bytes, NULL, msg,
                            sizeof msg) == QMCU_OK)
    fail(path, "a short output buffer was accepted", NULL);
  if (plan.scratch_bytes > 0 &&
      qmcu_patch_stage_eval(&plan, in, in_n, consts, const_bytes, (int32_t)n_inputs, out, out_n,
                            scratch, (size_t)plan.scratch_bytes - 1, NULL, msg,
                            sizeof msg) == QMCU_OK)
    fail(path, "too little scratch was accepted", NULL);
  if (qmcu_plan_parse(&plan, words, plan_n / 4 - 1, msg, sizeof msg) != QMCU_E_FORMAT)
    fail(path, "a truncated plan was not refused as a format error", NULL);
  words[0] ^= 1;
  if (qmcu_plan_parse(&plan, words, plan_n / 4, msg, sizeof msg) != QMCU_E_FORMAT)
    fail(path, "a wrong magic was not refused as a format error", NULL);
  if (failures == 0)
    printf("%s: ok (%u tiles, %u of them outlier tiles, %u output bytes)\n", path, (unsigned)tiles,
           (unsigned)stats.outlier_tiles, (unsigned)out_n);

done:
  free(scratch);
  free(out);
  free(words);
  free(const_bytes);
  free(consts);
  free(file);
}

int main(int argc, char **argv) {
  int i;
  if (argc < 2) {
    fprintf(stderr, "usage: %s VECTOR.qmv ...\n", argv[0]);
    return 2;
  }
  for (i = 1; i < argc; i++) run_vector(argv[i]);
  return failures == 0 ? 0 : 1;
}
