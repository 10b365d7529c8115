/* PNG files and upsampled tile grids (mosaics) for the report. */
#ifndef SN_REPORT_RASTER_H
#define SN_REPORT_RASTER_H

#include <stdint.h>

#include "sinapsi/status.h"

/* Writes an 8-bit PNG of width x height pixels, channels 1 (grey) or 3 (RGB),
 * pixels (height, width, channels) row-major, with libpng. */
sn_status sn_report__png_write(const char *path, int width, int height, int channels,
                               const uint8_t *pixels);

/* How a tile's values become grey levels. */
typedef enum sn_tile_scale {
    SN_TILE_MIN_MAX,  /* the tile's minimum black, maximum white (images) */
    SN_TILE_SYMMETRIC /* 0 mid-grey, +-max|v| white/black (filter weights) */
} sn_tile_scale;

/* A grey mosaic: n tiles of (tile_h, tile_w) floats, each scaled on its own,
 * upsampled `scale` times (nearest), laid out in rows of `cols`, separated
 * and framed by a light border of `gap` pixels. *pixels (height, width) is
 * malloc'd; the caller frees it. */
sn_status sn_report__mosaic(const float *tiles, int n, int tile_h, int tile_w, int cols, int scale,
                            int gap, sn_tile_scale how, uint8_t **pixels, int *width, int *height);

#endif
