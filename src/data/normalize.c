/*
 * Normalisation, fixed when a dataset is loaded and applied when a batch is
 * copied out (sn_dataset_batch):
 *
 *   UNIT       x / 255              torchvision ToTensor: [0, 255] -> [0, 1]
 *   SYMMETRIC  x / 127.5 - 1        [0, 255] -> [-1, 1]
 *   STANDARD   (x' - mean_c) / std_c per channel c, as torchvision Normalize,
 *              where x' = x / 255 for uint8 data (ToTensor then Normalize) and
 *              x' = x for float data
 *
 * all in float arithmetic, as torch does them. For STANDARD without given
 * values, mean_c and std_c come from the training split, summed in double:
 * the mean, then the unbiased (n - 1) standard deviation around it, as
 * torch.std does by default; the test split and any split taken from the
 * training data use the same values. A channel is dim 0 of a 3-D sample
 * (C, H, W); other samples have one channel.
 *
 * For uint8 data every normalised value is one of 256 per channel, so the
 * set-up fills a lookup table and a batch is one table read per element.
 */
#include "data/dataset_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char *const normalize_names[] = {"auto", "none", "unit", "symmetric", "standard"};
#define N_NORMALIZE ((int)(sizeof normalize_names / sizeof normalize_names[0]))

const char *sn_normalize_name(sn_normalize n) {
    return (int)n >= 0 && (int)n < N_NORMALIZE ? normalize_names[n] : "?";
}

sn_status sn_normalize_parse(const char *name, sn_normalize *out) {
    for (int k = 0; name && k < N_NORMALIZE; k++)
        if (!strcmp(name, normalize_names[k])) {
            *out = (sn_normalize)k;
            return SN_OK;
        }
    return sn_error(SN_ERR_INVALID_ARG,
                    "unknown normalisation '%s' (auto, none, unit, symmetric or standard)",
                    name ? name : "");
}

sn_normalize sn_dataset_normalization(const sn_dataset *ds) {
    return ds ? ds->normalize : SN_NORM_NONE;
}

float sn_dataset_normalize_value(const sn_dataset *ds, int c, float v) {
    const int standard = ds->normalize == SN_NORM_STANDARD;
    return sn_normalize_formula(ds->normalize, ds->x_u8 != NULL, standard ? ds->mean[c] : 0.0f,
                                standard ? ds->std[c] : 1.0f, v);
}

/* Per-channel mean and unbiased standard deviation of the stored data (of
 * x / 255 for bytes), in double. */
static sn_status compute_statistics(const sn_dataset *ds, double *mean, double *std) {
    int64_t per_channel = ds->sample_numel / ds->n_channels;
    double n = (double)ds->count * (double)per_channel;
    if (n < 2)
        return sn_error(SN_ERR_RANGE,
                        "%s: standardisation needs at least 2 values per channel, not %.0f",
                        ds->source, n);
    if (ds->x_u8) {
        /* a histogram per channel makes both sums exact up to the last step */
        int64_t *hist = calloc((size_t)ds->n_channels * 256, sizeof *hist);
        if (!hist) return sn_error(SN_ERR_NOMEM, "%s: out of memory", ds->source);
        for (int64_t i = 0; i < ds->count; i++) {
            const uint8_t *src = ds->x_u8 + i * ds->sample_numel;
            for (int c = 0; c < ds->n_channels; c++)
                for (int64_t k = 0; k < per_channel; k++) hist[256 * c + *src++]++;
        }
        for (int c = 0; c < ds->n_channels; c++) {
            double sum = 0.0, squares = 0.0;
            for (int v = 0; v < 256; v++) sum += (double)hist[256 * c + v] * (v / 255.0);
            mean[c] = sum / n;
            for (int v = 0; v < 256; v++) {
                double d = v / 255.0 - mean[c];
                squares += (double)hist[256 * c + v] * d * d;
            }
            std[c] = sqrt(squares / (n - 1));
        }
        free(hist);
        return SN_OK;
    }
    for (int c = 0; c < ds->n_channels; c++) {
        double sum = 0.0, squares = 0.0;
        for (int64_t i = 0; i < ds->count; i++) {
            const float *src = ds->x_f32 + i * ds->sample_numel + c * per_channel;
            for (int64_t k = 0; k < per_channel; k++) sum += src[k];
        }
        mean[c] = sum / n;
        for (int64_t i = 0; i < ds->count; i++) {
            const float *src = ds->x_f32 + i * ds->sample_numel + c * per_channel;
            for (int64_t k = 0; k < per_channel; k++) {
                double d = src[k] - mean[c];
                squares += d * d;
            }
        }
        std[c] = sqrt(squares / (n - 1));
    }
    return SN_OK;
}

/* mean and std of ds for STANDARD: given in opts or computed. */
static sn_status set_statistics(sn_dataset *ds, const sn_data_opts *opts) {
    int nc = ds->n_channels;
    if (opts->n_channels_stats > 0 && opts->n_channels_stats != nc)
        return sn_error(SN_ERR_SHAPE,
                        "%s: %d mean/std values given but the samples have %d channel%s",
                        ds->source, opts->n_channels_stats, nc, nc == 1 ? "" : "s");
    ds->mean = malloc((size_t)nc * sizeof(float));
    ds->std = malloc((size_t)nc * sizeof(float));
    double *stats = malloc(2 * (size_t)nc * sizeof(double));
    sn_status st = SN_OK;
    if (!ds->mean || !ds->std || !stats)
        st = sn_error(SN_ERR_NOMEM, "%s: out of memory", ds->source);
    else if (opts->n_channels_stats > 0) {
        memcpy(ds->mean, opts->mean, (size_t)nc * sizeof(float));
        memcpy(ds->std, opts->std, (size_t)nc * sizeof(float));
    } else if ((st = compute_statistics(ds, stats, stats + nc)) == SN_OK) {
        for (int c = 0; c < nc && st == SN_OK; c++) {
            ds->mean[c] = (float)stats[c];
            ds->std[c] = (float)stats[nc + c];
            if (!(ds->std[c] > 0.0f && isfinite(ds->std[c]) && isfinite(ds->mean[c])))
                st = sn_error(SN_ERR_NUMERIC,
                              "%s: channel %d has mean %g and standard deviation %g: cannot "
                              "standardise",
                              ds->source, c, stats[c], stats[nc + c]);
        }
    }
    free(stats);
    return st;
}

static sn_status build_lookup(sn_dataset *ds) {
    if (!ds->x_u8) return SN_OK;
    ds->lut = malloc((size_t)ds->n_channels * 256 * sizeof(float));
    if (!ds->lut) return sn_error(SN_ERR_NOMEM, "%s: out of memory", ds->source);
    for (int c = 0; c < ds->n_channels; c++)
        for (int v = 0; v < 256; v++)
            ds->lut[256 * c + v] = sn_dataset_normalize_value(ds, c, (float)v);
    return SN_OK;
}

sn_status sn_dataset_set_normalization(sn_dataset *train, sn_dataset *test,
                                       const sn_data_opts *opts) {
    if (test &&
        (!sn_shape_equal(&train->sample_shape, &test->sample_shape) || !train->x_u8 != !test->x_u8))
        return sn_error(SN_ERR_FORMAT, "%s: training and test examples differ in shape or type",
                        train->source);
    train->normalize = opts->normalize;
    if (train->normalize == SN_NORM_AUTO)
        train->normalize = train->x_u8 ? SN_NORM_UNIT : SN_NORM_NONE;
    sn_status st = SN_OK;
    if (train->normalize == SN_NORM_STANDARD) st = set_statistics(train, opts);
    if (st == SN_OK) st = build_lookup(train);
    if (st == SN_OK && test) st = sn_dataset_copy_normalization(test, train);
    return st;
}

static float *copy_floats(const float *src, size_t n) {
    float *dst = malloc(n * sizeof(float));
    if (dst) memcpy(dst, src, n * sizeof(float));
    return dst;
}

sn_status sn_dataset_copy_normalization(sn_dataset *to, const sn_dataset *from) {
    size_t nc = (size_t)from->n_channels;
    to->normalize = from->normalize;
    to->n_channels = from->n_channels;
    if (from->mean && !(to->mean = copy_floats(from->mean, nc)))
        return sn_error(SN_ERR_NOMEM, "%s: out of memory", from->source);
    if (from->std && !(to->std = copy_floats(from->std, nc)))
        return sn_error(SN_ERR_NOMEM, "%s: out of memory", from->source);
    if (from->lut && !(to->lut = copy_floats(from->lut, 256 * nc)))
        return sn_error(SN_ERR_NOMEM, "%s: out of memory", from->source);
    return SN_OK;
}
