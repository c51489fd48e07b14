/* Internal: one-line error messages without printf (keeps the MCU image small). */
#ifndef QMCU_MSG_H_
#define QMCU_MSG_H_

#include <stddef.h>

/* qmcu_msgf writes fmt into msg (at most len bytes, always NUL-terminated when len > 0),
 * replacing each "%d" by the next int32_t argument (pass int32_t, not int: they differ
 * in type on arm-none-eabi) and each "%s" by the next string argument.
 * msg may be NULL. No other conversions exist. */
void qmcu_msgf(char *msg, size_t len, const char *fmt, ...);

#endif /* QMCU_MSG_H_ */
