#include "qmcu_msg.h"

#include <stdarg.h>
#include <stdint.h>

typedef struct {
  char *buf;
  size_t len, pos;
} sink;

static void put(sink *s, char c) {
  if (s->pos + 1 < s->len) s->buf[s->pos++] = c;
}

static void put_int(sink *s, int32_t v) {
  char digits[12];
  int n = 0;
  /* Work on the negative magnitude so that INT_MIN needs no special case. */
  int32_t neg = v < 0 ? v : -v;
  do {
    digits[n++] = (char)('0' - neg % 10);
    neg /= 10;
  } while (neg != 0);
  if (v < 0) put(s, '-');
  while (n > 0) put(s, digits[--n]);
}

void qmcu_msgf(char *msg, size_t len, const char *fmt, ...) {
  sink s;
  va_list ap;
  if (msg == NULL || len == 0) return;
  s.buf = msg;
  s.len = len;
  s.pos = 0;
  va_start(ap, fmt);
  for (; *fmt != '\0'; fmt++) {
    if (fmt[0] == '%' && fmt[1] == 'd') {
      put_int(&s, va_arg(ap, int32_t));
      fmt++;
    } else if (fmt[0] == '%' && fmt[1] == 's') {
      const char *str = va_arg(ap, const char *);
      if (str == NULL) str = "(null)";
      while (*str != '\0') put(&s, *str++);
      fmt++;
    } else {
      put(&s, *fmt);
    }
  }
  va_end(ap);
  s.buf[s.pos] = '\0';
}
