/* PNG writing through libpng's simplified API, and tile mosaics (raster.h). */
#include "report/raster.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

sn_status sn_report__png_write(const char *path, int width, int height, int channels,
                               const uint8_t *pixels) {
    if (width < 1 || height < 1 || (channels != 1 && channels != 3) || !pixels)
        return sn_error(SN_ERR_INVALID_ARG, "%s: bad image %dx%dx%d", path, width, height,
                        channels);
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&image, path, 0, pixels, width * channels, NULL)) {
        sn_status st = sn_error(SN_ERR_IO, "%s: cannot write the PNG: %s", path, image.message);
        png_image_free(&image);
        return st;
    }
    return SN_OK;
}

/* Grey level of v for a tile whose values span [lo, hi]. */
static uint8_t grey(float v, float lo, float hi) {
    if (!(hi > lo)) return 128;
    float t = (v - lo) / (hi - lo);
    if (!(t >= 0.0f)) t = 0.0f; /* also NaN */
    if (t > 1.0f) t = 1.0f;
    return (uint8_t)lrintf(t * 255.0f);
}

sn_status sn_report__mosaic(const float *tiles, int n, int tile_h, int tile_w, int cols, int scale,
                            int gap, sn_tile_scale how, uint8_t **pixels, int *width, int *height) {
    *pixels = NULL;
    if (n < 1 || tile_h < 1 || tile_w < 1 || cols < 1 || scale < 1 || gap < 0 || tile_h > 4096 ||
        tile_w > 4096 || scale > 64 || n > 100000)
        return sn_error(SN_ERR_INVALID_ARG, "mosaic: bad layout (%d tiles of %dx%d)", n, tile_h,
                        tile_w);
    if (cols > n) cols = n;
    const int rows = (n + cols - 1) / cols;
    const int64_t w = (int64_t)cols * (tile_w * scale + gap) + gap;
    const int64_t h = (int64_t)rows * (tile_h * scale + gap) + gap;
    if (w > 32768 || h > 32768)
        return sn_error(SN_ERR_INVALID_ARG, "mosaic: %lldx%lld pixels is too large", (long long)w,
                        (long long)h);
    uint8_t *out = malloc((size_t)(w * h));
    if (!out) return sn_error(SN_ERR_NOMEM, "mosaic: out of memory");
    memset(out, 224, (size_t)(w * h)); /* the light border */
    const int64_t per_tile = (int64_t)tile_h * tile_w;
    for (int k = 0; k < n; k++) {
        const float *t = tiles + k * per_tile; /* (tile_h, tile_w) */
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < per_tile; i++) {
            if (how == SN_TILE_SYMMETRIC) {
                hi = fmaxf(hi, fabsf(t[i]));
            } else {
                lo = fminf(lo, t[i]);
                hi = fmaxf(hi, t[i]);
            }
        }
        if (how == SN_TILE_SYMMETRIC) lo = -hi;
        const int64_t x0 = gap + (int64_t)(k % cols) * (tile_w * scale + gap);
        const int64_t y0 = gap + (int64_t)(k / cols) * (tile_h * scale + gap);
        for (int y = 0; y < tile_h * scale; y++)
            for (int x = 0; x < tile_w * scale; x++)
                out[(y0 + y) * w + x0 + x] = grey(t[(y / scale) * tile_w + x / scale], lo, hi);
    }
    *pixels = out;
    *width = (int)w;
    *height = (int)h;
    return SN_OK;
}
