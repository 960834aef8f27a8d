/* adaneg image codecs: libjpeg-turbo / libpng / zlib behind error handlers that never exit. */
#include "image_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <zlib.h>

#define CLIP8(v) ((v) <= 0 ? 0 : (v) >= 255 ? 255 : (v))
/* Pillow's MULDIV255: a*b/255 rounded, exactly as libImaging computes it. */
static inline int muldiv255(int a, int b) {
    int tmp = a * b + 128;
    return ((tmp >> 8) + tmp) >> 8;
}

static void set_message(adaneg_image *out, const char *text) {
    snprintf(out->message, sizeof(out->message), "%s", text);
}

static adaneg_image_format sniff(const uint8_t *data, size_t size) {
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ADANEG_FORMAT_JPEG;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (size >= 8 && memcmp(data, png_sig, 8) == 0) return ADANEG_FORMAT_PNG;
    return ADANEG_FORMAT_UNKNOWN;
}

static int over_limit(int64_t w, int64_t h, int64_t max_pixels) {
    return max_pixels > 0 && w * h > max_pixels;
}

/* MARK: JPEG */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int truncated;
    char text[JMSG_LENGTH_MAX];
} jpeg_failure;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, f->text);
    longjmp(f->jump, 1);
}

/* Warnings are ignored (as Pillow does) except running out of data: Pillow reports a truncated
 * JPEG as an error, libjpeg would pad it with grey and carry on. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            f->truncated = 1;
            (*cinfo->err->format_message)(cinfo, f->text);
            longjmp(f->jump, 1);
        }
        cinfo->err->num_warnings++;
    }
}

static adaneg_image_status decode_jpeg(const uint8_t *data, size_t size, int64_t max_pixels, int header_only,
                                       adaneg_image *out) {
    struct jpeg_decompress_struct cinfo;
    jpeg_failure failure;
    uint8_t *volatile raw = NULL;
    uint8_t *volatile rgb = NULL;
    adaneg_image_status status = ADANEG_IMAGE_OK;

    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&failure.pub);
    failure.pub.error_exit = jpeg_on_error;
    failure.pub.emit_message = jpeg_on_message;
    failure.truncated = 0;
    failure.text[0] = 0;
    if (setjmp(failure.jump)) {
        status = failure.truncated ? ADANEG_IMAGE_TRUNCATED : ADANEG_IMAGE_CORRUPT;
        snprintf(out->message, sizeof(out->message), "JPEG: %s", failure.text);
        jpeg_destroy_decompress(&cinfo);
        if (rgb != raw) free(rgb);
        free(raw);
        return status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (unsigned char *)data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    out->width = (int32_t)cinfo.image_width;
    out->height = (int32_t)cinfo.image_height;
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    int grey = !cmyk && cinfo.num_components == 1;
    out->source_mode = cmyk ? 5 : grey ? 0 : 2;
    if (header_only) {
        jpeg_destroy_decompress(&cinfo);
        return ADANEG_IMAGE_OK;
    }
    if (over_limit(cinfo.image_width, cinfo.image_height, max_pixels)) {
        snprintf(out->message, sizeof(out->message), "JPEG: %ux%u = %lld pixels exceeds the limit of %lld",
                 cinfo.image_width, cinfo.image_height,
                 (long long)cinfo.image_width * (long long)cinfo.image_height, (long long)max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return ADANEG_IMAGE_TOO_LARGE;
    }
    cinfo.out_color_space = cmyk ? JCS_CMYK : grey ? JCS_GRAYSCALE : JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    size_t w = cinfo.output_width, h = cinfo.output_height, comps = (size_t)cinfo.output_components;
    raw = malloc(w * h * comps);
    rgb = (comps == 3) ? raw : malloc(w * h * 3);
    if (!raw || !rgb) {
        set_message(out, "JPEG: out of memory");
        jpeg_destroy_decompress(&cinfo);
        free(raw);
        if (rgb != raw) free(rgb);
        return ADANEG_IMAGE_NO_MEMORY;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = raw + (size_t)cinfo.output_scanline * w * comps;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);

    size_t n = w * h;
    if (comps == 1) {
        for (size_t i = 0; i < n; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = raw[i];
    } else if (comps == 4) {
        /* Pillow reads CMYK JPEGs as "CMYK;I" (Adobe's inverted polarity), then converts with
         * cmyk2rgb: nk = 255 - k, channel = nk - c*nk/255. */
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = raw + 4 * i;
            int nk = p[3]; /* 255 - (255 - raw k) */
            for (int ch = 0; ch < 3; ch++) {
                int c = 255 - p[ch];
                int v = nk - muldiv255(c, nk);
                rgb[3 * i + ch] = (uint8_t)CLIP8(v);
            }
        }
    }
    if (rgb != raw) free(raw);
    out->pixels = rgb;
    out->width = (int32_t)w;
    out->height = (int32_t)h;
    return ADANEG_IMAGE_OK;
}

/* MARK: PNG */

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    int truncated;
    char text[160];
    jmp_buf jump;
} png_source;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_source *src = (png_source *)png_get_error_ptr(png);
    if (src->text[0] == 0) snprintf(src->text, sizeof(src->text), "%s", msg);
    longjmp(src->jump, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void png_read_memory(png_structp png, png_bytep dest, png_size_t length) {
    png_source *src = (png_source *)png_get_io_ptr(png);
    if (length > src->size - src->offset) {
        src->truncated = 1;
        snprintf(src->text, sizeof(src->text), "the data ends after %zu bytes, inside the image", src->size);
        png_error(png, "truncated");
    }
    memcpy(dest, src->data + src->offset, length);
    src->offset += length;
}

static adaneg_image_status decode_png(const uint8_t *data, size_t size, int64_t max_pixels, int header_only,
                                      adaneg_image *out) {
    png_source src;
    memset(&src, 0, sizeof(src));
    src.data = data;
    src.size = size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) {
        set_message(out, "PNG: out of memory");
        return ADANEG_IMAGE_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile raw = NULL;
    uint8_t *volatile rgb = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_message(out, "PNG: out of memory");
        return ADANEG_IMAGE_NO_MEMORY;
    }
    if (setjmp(src.jump)) {
        adaneg_image_status status = src.truncated ? ADANEG_IMAGE_TRUNCATED : ADANEG_IMAGE_CORRUPT;
        snprintf(out->message, sizeof(out->message), "PNG: %s", src.text);
        png_destroy_read_struct(&png, &info, NULL);
        free(raw);
        free(rgb);
        free(rows);
        return status;
    }
    png_set_read_fn(png, &src, png_read_memory);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    int grey16 = color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 16;
    switch (color_type) {
        case PNG_COLOR_TYPE_GRAY: out->source_mode = grey16 ? 6 : 0; break;
        case PNG_COLOR_TYPE_GRAY_ALPHA: out->source_mode = 1; break;
        case PNG_COLOR_TYPE_RGB: out->source_mode = 2; break;
        case PNG_COLOR_TYPE_RGB_ALPHA: out->source_mode = 3; break;
        default: out->source_mode = 4; break;
    }
    if (header_only) {
        png_destroy_read_struct(&png, &info, NULL);
        return ADANEG_IMAGE_OK;
    }
    if (over_limit(width, height, max_pixels)) {
        snprintf(out->message, sizeof(out->message), "PNG: %ux%u = %lld pixels exceeds the limit of %lld",
                 width, height, (long long)width * (long long)height, (long long)max_pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return ADANEG_IMAGE_TOO_LARGE;
    }
    /* Pillow's modes: 16-bit RGB, RGBA and grey+alpha keep the high byte ("RGB;16B" etc.);
     * 16-bit grey opens as "I;16", whose conversion to RGB clips to 255 (handled below). */
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (bit_depth == 16 && !grey16) png_set_strip_16(png);
    int interlaced = png_get_interlace_type(png, info) != PNG_INTERLACE_NONE;
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    int channels = png_get_channels(png, info);
    int out_depth = png_get_bit_depth(png, info);
    /* Memory is bounded by the pixel limit: the RGB output (3 bytes a pixel) and, for the
     * common non-interlaced PNG, one decoded row at a time; only an interlaced image, whose
     * passes revisit every row, needs all its decoded rows at once. */
    size_t held_rows = interlaced ? height : 1;
    raw = malloc(rowbytes * held_rows);
    rows = malloc(sizeof(png_bytep) * held_rows);
    rgb = malloc((size_t)width * height * 3);
    if (!raw || !rows || !rgb) {
        png_destroy_read_struct(&png, &info, NULL);
        free(raw);
        free(rows);
        free(rgb);
        set_message(out, "PNG: out of memory");
        return ADANEG_IMAGE_NO_MEMORY;
    }
    for (size_t y = 0; y < held_rows; y++) rows[y] = raw + y * rowbytes;
    if (interlaced) png_read_image(png, rows);
    for (png_uint_32 y = 0; y < height; y++) {
        const uint8_t *r;
        if (interlaced) {
            r = rows[y];
        } else {
            png_read_row(png, raw, NULL);
            r = raw;
        }
        uint8_t *o = rgb + (size_t)y * width * 3;
        for (png_uint_32 x = 0; x < width; x++, o += 3) {
            if (out_depth == 16) { /* grey16 (and grey16 + tRNS-expanded alpha) */
                int v = (r[x * channels * 2] << 8) | r[x * channels * 2 + 1];
                o[0] = o[1] = o[2] = (uint8_t)(v > 255 ? 255 : v);
            } else if (channels <= 2) {
                o[0] = o[1] = o[2] = r[x * channels];
            } else {
                o[0] = r[x * channels];
                o[1] = r[x * channels + 1];
                o[2] = r[x * channels + 2];
            }
        }
    }
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(raw);
    free(rows);
    out->pixels = rgb;
    return ADANEG_IMAGE_OK;
}

/* MARK: Entry points */

static adaneg_image_status decode_any(const uint8_t *data, size_t size, int64_t max_pixels, int header_only,
                                      adaneg_image *out) {
    memset(out, 0, sizeof(*out));
    if (size == 0 || data == NULL) {
        set_message(out, "the file is empty");
        return ADANEG_IMAGE_EMPTY;
    }
    adaneg_image_format format = sniff(data, size);
    out->format = format;
    switch (format) {
        case ADANEG_FORMAT_JPEG: return decode_jpeg(data, size, max_pixels, header_only, out);
        case ADANEG_FORMAT_PNG: return decode_png(data, size, max_pixels, header_only, out);
        default:
            set_message(out, "not a JPEG or PNG file (unrecognised signature)");
            return ADANEG_IMAGE_UNKNOWN_FORMAT;
    }
}

adaneg_image_status adaneg_decode_image(const uint8_t *data, size_t size, int64_t max_pixels, adaneg_image *out) {
    return decode_any(data, size, max_pixels, 0, out);
}

adaneg_image_status adaneg_probe_image(const uint8_t *data, size_t size, adaneg_image *out) {
    return decode_any(data, size, 0, 1, out);
}

void adaneg_image_free(adaneg_image *image) {
    if (image && image->pixels) {
        free(image->pixels);
        image->pixels = NULL;
    }
}

/* MARK: gzip */

int adaneg_gunzip(const uint8_t *data, size_t size, size_t max_output, uint8_t **out, size_t *out_size,
                  char *message, size_t message_size) {
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    *out = NULL;
    *out_size = 0;
    if (max_output == 0) max_output = (size_t)1 << 32;
    if (inflateInit2(&zs, 15 + 32) != Z_OK) {
        snprintf(message, message_size, "zlib: cannot initialise");
        return -1;
    }
    size_t capacity = size * 4 + 1024, used = 0;
    uint8_t *buffer = malloc(capacity);
    if (!buffer) {
        inflateEnd(&zs);
        snprintf(message, message_size, "out of memory");
        return -1;
    }
    zs.next_in = (Bytef *)data;
    size_t remaining_in = size;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (used == capacity) {
            if (capacity >= max_output) {
                free(buffer);
                inflateEnd(&zs);
                snprintf(message, message_size, "decompressed data exceeds %zu bytes", max_output);
                return -1;
            }
            size_t next = capacity * 2 > max_output ? max_output : capacity * 2;
            uint8_t *grown = realloc(buffer, next);
            if (!grown) {
                free(buffer);
                inflateEnd(&zs);
                snprintf(message, message_size, "out of memory");
                return -1;
            }
            buffer = grown;
            capacity = next;
        }
        uInt chunk_in = remaining_in > (1u << 30) ? (1u << 30) : (uInt)remaining_in;
        zs.avail_in = chunk_in;
        size_t room = capacity - used;
        zs.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        zs.next_out = buffer + used;
        rc = inflate(&zs, Z_NO_FLUSH);
        remaining_in -= chunk_in - zs.avail_in;
        used = (size_t)(zs.next_out - buffer);
        if (rc == Z_STREAM_END) break;
        if (rc == Z_BUF_ERROR && remaining_in == 0) {
            free(buffer);
            inflateEnd(&zs);
            snprintf(message, message_size, "compressed data is truncated");
            return -1;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            free(buffer);
            snprintf(message, message_size, "zlib: %s", zs.msg ? zs.msg : "corrupt data");
            inflateEnd(&zs);
            return -1;
        }
    }
    inflateEnd(&zs);
    *out = buffer;
    *out_size = used;
    return 0;
}

void adaneg_buffer_free(void *buffer) { free(buffer); }
