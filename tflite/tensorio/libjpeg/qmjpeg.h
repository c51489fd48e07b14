/* Decoding JPEG files with the system's libjpeg (libjpeg-turbo), loaded at run time.
 *
 * The library is opened with dlopen the first time it is needed, so a build needs only
 * libjpeg's headers (Debian: libjpeg62-turbo-dev) and a machine without the library still
 * runs: qmjpeg_load then reports why it is unavailable. Without the headers at build time
 * the functions are stubs that say so. */
#ifndef QMJPEG_H
#define QMJPEG_H

#include <stddef.h>

/* Return codes. */
#define QMJPEG_OK 0
#define QMJPEG_UNAVAILABLE 1 /* no libjpeg headers at build time or no library at run time */
#define QMJPEG_ERROR 2       /* libjpeg refused the data (message in msg) */
#define QMJPEG_TRUNCATED 3   /* the data ended before the last scanline */
#define QMJPEG_TOO_LARGE 4   /* width x height exceeds max_pixels (width/height are set) */
#define QMJPEG_COMPONENTS 5  /* not 1, 3 or 4 components (components is set) */
#define QMJPEG_NO_MEMORY 6

typedef struct {
	int width, height;
	int components;     /* 1 gray, 3 RGB, 4 CMYK (Adobe polarity undone: 255 = full ink) */
	unsigned char *pix; /* width*height*components bytes, row-major; free with qmjpeg_free */
} qmjpeg_image;

/* qmjpeg_load opens libjpeg (idempotent, not thread-safe: call it once before decoding).
 * On success it writes a description of the library to msg. */
int qmjpeg_load(char *msg, size_t msg_len);

/* qmjpeg_decode decodes data[0:len] with libjpeg's defaults (islow inverse DCT, fancy
 * upsampling), the colour output Pillow asks for: 1 component to gray, 3 to RGB, 4 to CMYK.
 * Thread-safe after a successful qmjpeg_load. */
int qmjpeg_decode(const unsigned char *data, size_t len, long long max_pixels, qmjpeg_image *out,
                  char *msg, size_t msg_len);

void qmjpeg_free(qmjpeg_image *img);

#endif
