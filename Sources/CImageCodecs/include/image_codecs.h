#ifndef ADANEG_IMAGE_CODECS_H
#define ADANEG_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

/* A small shim over libjpeg-turbo, libpng and zlib for adaneg's CLIP pipeline.
 *
 * Every decoder installs its own error handler (setjmp/longjmp), so a corrupt or truncated
 * file comes back as a status code with a message instead of terminating the process (libjpeg's
 * default handler calls exit()). Pixels are returned as tightly packed RGB8, converted the way
 * Pillow's `Image.convert("RGB")` converts the mode Pillow would have opened the file in. */

typedef enum {
    ADANEG_IMAGE_OK = 0,
    ADANEG_IMAGE_UNKNOWN_FORMAT = 1,  /* neither a JPEG nor a PNG signature */
    ADANEG_IMAGE_CORRUPT = 2,         /* the decoder rejected the data (message says why) */
    ADANEG_IMAGE_TRUNCATED = 3,       /* the data ends before the image does */
    ADANEG_IMAGE_TOO_LARGE = 4,       /* width*height above the caller's pixel limit */
    ADANEG_IMAGE_NO_MEMORY = 5,
    ADANEG_IMAGE_EMPTY = 6            /* zero bytes */
} adaneg_image_status;

typedef enum {
    ADANEG_FORMAT_UNKNOWN = 0,
    ADANEG_FORMAT_JPEG = 1,
    ADANEG_FORMAT_PNG = 2
} adaneg_image_format;

typedef struct {
    uint8_t *pixels;        /* width*height*3 bytes, row-major RGB; free with adaneg_image_free */
    int32_t width;
    int32_t height;
    int32_t format;         /* adaneg_image_format */
    int32_t source_mode;    /* 0 grey, 1 grey+alpha, 2 RGB, 3 RGBA, 4 palette, 5 CMYK, 6 grey16 */
    char message[200];      /* a description of the failure when status != OK */
} adaneg_image;

/* Decodes JPEG or PNG bytes to RGB8. `max_pixels` <= 0 means no limit. */
adaneg_image_status adaneg_decode_image(const uint8_t *data, size_t size, int64_t max_pixels, adaneg_image *out);

/* Reads only the header: width, height and format (pixels stays NULL). */
adaneg_image_status adaneg_probe_image(const uint8_t *data, size_t size, adaneg_image *out);

void adaneg_image_free(adaneg_image *image);

/* gunzip (or zlib-inflate) `size` bytes. On success returns 0 and a malloc'ed buffer in *out
 * (free with adaneg_buffer_free). `max_output` bounds the decompressed size (0 = 4 GiB). */
int adaneg_gunzip(const uint8_t *data, size_t size, size_t max_output, uint8_t **out, size_t *out_size,
                  char *message, size_t message_size);

void adaneg_buffer_free(void *buffer);

#endif
