#include "qmjpeg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<jpeglib.h>) && __has_include(<dlfcn.h>)
#define QMJPEG_HAVE_HEADERS 1
#endif
#endif

#ifndef QMJPEG_HAVE_HEADERS

int qmjpeg_load(char *msg, size_t msg_len) {
	snprintf(msg, msg_len,
	         "built without libjpeg's headers (Debian: libjpeg62-turbo-dev; go clean -cache after installing them)");
	return QMJPEG_UNAVAILABLE;
}

int qmjpeg_decode(const unsigned char *data, size_t len, long long max_pixels, qmjpeg_image *out,
                  char *msg, size_t msg_len) {
	(void)data, (void)len, (void)max_pixels, (void)out;
	return qmjpeg_load(msg, msg_len);
}

void qmjpeg_free(qmjpeg_image *img) { (void)img; }

#else

#include <dlfcn.h>
#include <setjmp.h>

#include <jerror.h>
#include <jpeglib.h>

/* The libjpeg entry points used, typed by the header's own prototypes. */
static struct {
	int loaded;
	__typeof__(jpeg_std_error) *std_error;
	__typeof__(jpeg_CreateDecompress) *create_decompress;
	__typeof__(jpeg_read_header) *read_header;
	__typeof__(jpeg_start_decompress) *start_decompress;
	__typeof__(jpeg_read_scanlines) *read_scanlines;
	__typeof__(jpeg_finish_decompress) *finish_decompress;
	__typeof__(jpeg_destroy_decompress) *destroy_decompress;
	__typeof__(jpeg_resync_to_restart) *resync_to_restart;
} api;

#define QMJPEG_STR2(x) #x
#define QMJPEG_STR(x) QMJPEG_STR2(x)

int qmjpeg_load(char *msg, size_t msg_len) {
	/* The shared object whose ABI the header describes: libjpeg.so.62 for JPEG_LIB_VERSION
	 * 62 (libjpeg-turbo's default, Debian's libjpeg62-turbo), .so.8 for 80, .so.9 for 90. */
	char soname[32], dylib[32];
	int major = JPEG_LIB_VERSION >= 70 ? JPEG_LIB_VERSION / 10 : JPEG_LIB_VERSION;
	const char *names[4];
	void *h = NULL;
	const char *name = NULL;
	int i;
	if (api.loaded) {
		goto describe;
	}
	snprintf(soname, sizeof soname, "libjpeg.so.%d", major);
	snprintf(dylib, sizeof dylib, "libjpeg.%d.dylib", major);
	names[0] = soname, names[1] = dylib, names[2] = "libjpeg.so", names[3] = "libjpeg.dylib";
	for (i = 0; i < 4 && h == NULL; i++) {
		name = names[i];
		h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	}
	if (h == NULL) {
		snprintf(msg, msg_len, "cannot load %s (Debian: libjpeg62-turbo): %s", soname, dlerror());
		return QMJPEG_UNAVAILABLE;
	}
#define QMJPEG_SYM(field, sym)                                                                     \
	do {                                                                                           \
		*(void **)&api.field = dlsym(h, #sym);                                                     \
		if (api.field == NULL) {                                                                   \
			snprintf(msg, msg_len, "%s has no %s", name, #sym);                                    \
			dlclose(h);                                                                            \
			return QMJPEG_UNAVAILABLE;                                                             \
		}                                                                                          \
	} while (0)
	QMJPEG_SYM(std_error, jpeg_std_error);
	QMJPEG_SYM(create_decompress, jpeg_CreateDecompress);
	QMJPEG_SYM(read_header, jpeg_read_header);
	QMJPEG_SYM(start_decompress, jpeg_start_decompress);
	QMJPEG_SYM(read_scanlines, jpeg_read_scanlines);
	QMJPEG_SYM(finish_decompress, jpeg_finish_decompress);
	QMJPEG_SYM(destroy_decompress, jpeg_destroy_decompress);
	QMJPEG_SYM(resync_to_restart, jpeg_resync_to_restart);
#undef QMJPEG_SYM
	api.loaded = 1;
describe:
#ifdef LIBJPEG_TURBO_VERSION
	snprintf(msg, msg_len, "libjpeg-turbo %s (ABI %d)", QMJPEG_STR(LIBJPEG_TURBO_VERSION),
	         JPEG_LIB_VERSION);
#else
	snprintf(msg, msg_len, "libjpeg (ABI %d, not libjpeg-turbo)", JPEG_LIB_VERSION);
#endif
	return QMJPEG_OK;
}

/* Errors longjmp back to qmjpeg_decode instead of exiting (libjpeg's default). */
typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
} qmjpeg_error_mgr;

static void qmjpeg_error_exit(j_common_ptr cinfo) {
	longjmp(((qmjpeg_error_mgr *)cinfo->err)->jump, 1);
}

/* Warnings (corrupt data libjpeg recovers from) are silent, as in Pillow's decoder. */
static void qmjpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* A source manager over one memory buffer. Running out of data inserts an EOI marker (the
 * libjpeg convention) and records that the data was truncated. */
typedef struct {
	struct jpeg_source_mgr pub;
	int ran_out;
} qmjpeg_source_mgr;

static const JOCTET qmjpeg_eoi[2] = {0xFF, JPEG_EOI};

static void qmjpeg_init_source(j_decompress_ptr cinfo) { (void)cinfo; }

static boolean qmjpeg_fill_input_buffer(j_decompress_ptr cinfo) {
	qmjpeg_source_mgr *src = (qmjpeg_source_mgr *)cinfo->src;
	src->ran_out = 1;
	src->pub.next_input_byte = qmjpeg_eoi;
	src->pub.bytes_in_buffer = 2;
	return TRUE;
}

static void qmjpeg_skip_input_data(j_decompress_ptr cinfo, long n) {
	qmjpeg_source_mgr *src = (qmjpeg_source_mgr *)cinfo->src;
	if (n <= 0) {
		return;
	}
	while ((size_t)n > src->pub.bytes_in_buffer) {
		n -= (long)src->pub.bytes_in_buffer;
		qmjpeg_fill_input_buffer(cinfo);
	}
	src->pub.next_input_byte += n;
	src->pub.bytes_in_buffer -= (size_t)n;
}

static void qmjpeg_term_source(j_decompress_ptr cinfo) { (void)cinfo; }

int qmjpeg_decode(const unsigned char *data, size_t len, long long max_pixels, qmjpeg_image *out,
                  char *msg, size_t msg_len) {
	struct jpeg_decompress_struct cinfo;
	qmjpeg_error_mgr jerr;
	qmjpeg_source_mgr src;
	unsigned char *volatile pix = NULL;
	volatile int created = 0;
	size_t stride;
	int rc;

	memset(out, 0, sizeof *out);
	if (!api.loaded) {
		snprintf(msg, msg_len, "libjpeg is not loaded");
		return QMJPEG_UNAVAILABLE;
	}
	memset(&cinfo, 0, sizeof cinfo);
	memset(&src, 0, sizeof src);
	cinfo.err = api.std_error(&jerr.pub);
	jerr.pub.error_exit = qmjpeg_error_exit;
	jerr.pub.output_message = qmjpeg_output_message;
	if (setjmp(jerr.jump)) {
		char text[JMSG_LENGTH_MAX];
		jerr.pub.format_message((j_common_ptr)&cinfo, text);
		snprintf(msg, msg_len, "%s", text);
		if (created) {
			api.destroy_decompress(&cinfo);
		}
		free(pix);
		/* An error after the data ran out (say, in the header) is the truncation's. */
		return src.ran_out ? QMJPEG_TRUNCATED : QMJPEG_ERROR;
	}
	/* Checks that the header's struct layout is the library's (JERR_BAD_LIB_VERSION,
	 * JERR_BAD_STRUCT_SIZE otherwise). */
	api.create_decompress(&cinfo, JPEG_LIB_VERSION, sizeof cinfo);
	created = 1;

	src.pub.init_source = qmjpeg_init_source;
	src.pub.fill_input_buffer = qmjpeg_fill_input_buffer;
	src.pub.skip_input_data = qmjpeg_skip_input_data;
	src.pub.resync_to_restart = api.resync_to_restart;
	src.pub.term_source = qmjpeg_term_source;
	src.pub.next_input_byte = data;
	src.pub.bytes_in_buffer = len;
	cinfo.src = &src.pub;

	api.read_header(&cinfo, TRUE);
	rc = QMJPEG_OK;
	out->width = (int)cinfo.image_width;
	out->height = (int)cinfo.image_height;
	out->components = cinfo.num_components;
	if (src.ran_out) {
		rc = QMJPEG_TRUNCATED;
	} else if ((long long)cinfo.image_width * cinfo.image_height > max_pixels) {
		rc = QMJPEG_TOO_LARGE;
	}
	/* Pillow's JpegImagePlugin maps 1, 3 and 4 components to modes L, RGB and CMYK and lets
	 * libjpeg convert from the colour space it detects (JFIF/Adobe markers). */
	switch (cinfo.num_components) {
	case 1:
		cinfo.out_color_space = JCS_GRAYSCALE;
		break;
	case 3:
		cinfo.out_color_space = JCS_RGB;
		break;
	case 4:
		cinfo.out_color_space = JCS_CMYK;
		break;
	default:
		if (rc == QMJPEG_OK) {
			rc = QMJPEG_COMPONENTS;
		}
	}
	if (rc != QMJPEG_OK) {
		api.destroy_decompress(&cinfo);
		return rc;
	}
	api.start_decompress(&cinfo);
	out->width = (int)cinfo.output_width;
	out->height = (int)cinfo.output_height;
	out->components = cinfo.output_components;
	stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
	pix = malloc(stride * cinfo.output_height + 1);
	if (pix == NULL) {
		api.destroy_decompress(&cinfo);
		return QMJPEG_NO_MEMORY;
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW row = pix + stride * cinfo.output_scanline;
		api.read_scanlines(&cinfo, &row, 1);
	}
	api.finish_decompress(&cinfo);
	api.destroy_decompress(&cinfo);
	/* Pillow refuses data that ends before libjpeg is done, even if only the EOI marker is
	 * missing ("image file is truncated"). */
	if (src.ran_out) {
		free(pix);
		return QMJPEG_TRUNCATED;
	}
	if (out->components == 4) {
		/* Pillow reads 4-component JPEGs as "CMYK;I": Adobe's inverted polarity, always. */
		size_t i, n = stride * cinfo.output_height;
		for (i = 0; i < n; i++) {
			pix[i] = (unsigned char)(255 - pix[i]);
		}
	}
	out->pix = pix;
	return QMJPEG_OK;
}

void qmjpeg_free(qmjpeg_image *img) {
	free(img->pix);
	img->pix = NULL;
}

#endif
