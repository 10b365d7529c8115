/*
 * The in-memory dataset: construction, accessors, batches, validation splits
 * and shuffling. Loading is in load.c and the loaders; normalisation set-up in
 * normalize.c.
 */
#include "data/dataset_internal.h"

#include "core/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

sn_data_opts sn_data_defaults(void) {
    sn_data_opts o;
    memset(&o, 0, sizeof o);
    o.normalize = SN_NORM_AUTO;
    o.csv_label_col = 0;
    o.csv_header = -1;
    return o;
}

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

/* realloc to a smaller size; on the (unlikely) failure the larger block is kept. */
static void *shrink(void *p, size_t bytes) {
    void *q = realloc(p, bytes > 0 ? bytes : 1);
    return q ? q : p;
}

sn_status sn_dataset_adopt(sn_dataset **out, const char *source, int64_t count,
                           const sn_shape *sample_shape, uint8_t *x_u8, float *x_f32,
                           int64_t target_size, float *y, int num_classes, int64_t limit) {
    *out = NULL;
    sn_dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->source = copy_string(source))) {
        free(ds);
        free(x_u8);
        free(x_f32);
        free(y);
        return sn_error(SN_ERR_NOMEM, "%s: out of memory", source);
    }
    ds->x_u8 = x_u8;
    ds->x_f32 = x_f32;
    ds->y = y;
    if (sample_shape->ndim < 1 || sample_shape->ndim > 3 || sn_shape_check(sample_shape) != SN_OK) {
        char buf[64];
        sn_dataset_destroy(ds);
        return sn_error(SN_ERR_SHAPE, "%s: samples of shape %s: 1 to 3 dimensions are supported",
                        source, sn_shape_format(sample_shape, buf, sizeof buf));
    }
    ds->count = limit > 0 && limit < count ? limit : count;
    ds->sample_shape = *sample_shape;
    ds->sample_numel = sn_shape_numel(sample_shape);
    ds->target_size = target_size;
    ds->num_classes = num_classes;
    ds->normalize = SN_NORM_NONE;
    ds->n_channels = sample_shape->ndim == 3 ? (int)sample_shape->dim[0] : 1;
    if (ds->count < count) {
        size_t kept = (size_t)(ds->count * ds->sample_numel);
        if (ds->x_u8) ds->x_u8 = shrink(ds->x_u8, kept);
        if (ds->x_f32) ds->x_f32 = shrink(ds->x_f32, kept * sizeof(float));
        ds->y = shrink(ds->y, (size_t)(ds->count * target_size) * sizeof(float));
    }
    *out = ds;
    return SN_OK;
}

int sn_class_count(const float *y, int64_t n, int64_t *first_bad) {
    float largest = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        /* the comparisons are false for NaN, which therefore is not a class */
        if (!(y[i] >= 0.0f && y[i] < (float)SN_MAX_CLASSES && y[i] == floorf(y[i]))) {
            if (first_bad) *first_bad = i;
            return 0;
        }
        if (y[i] > largest) largest = y[i];
    }
    return (int)largest + 1;
}

int64_t sn_first_non_finite(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return -1;
}

sn_status sn_dataset_from_arrays(sn_dataset **out, int64_t n, const sn_shape *sample_shape,
                                 const float *x, int64_t target_size, const float *y,
                                 int n_classes) {
    if (!out || !sample_shape || !x || !y)
        return sn_error(SN_ERR_INVALID_ARG, "sn_dataset_from_arrays: NULL argument");
    *out = NULL;
    if (n < 1 || target_size < 1 || n_classes < 0 || (n_classes > 0 && target_size != 1))
        return sn_error(SN_ERR_INVALID_ARG,
                        "sn_dataset_from_arrays: n %lld, target_size %lld, n_classes %d (n and "
                        "target_size must be >= 1; class indices have target_size 1)",
                        (long long)n, (long long)target_size, n_classes);
    if (sample_shape->ndim < 1 || sample_shape->ndim > 3 || sn_shape_check(sample_shape) != SN_OK)
        return sn_error(SN_ERR_SHAPE, "sn_dataset_from_arrays: a sample has 1 to 3 dimensions");
    int64_t x_count, y_count;
    if (sn_mul_checked(n, sn_shape_numel(sample_shape), SN_MAX_NUMEL, &x_count) != SN_OK ||
        sn_mul_checked(n, target_size, SN_MAX_NUMEL, &y_count) != SN_OK)
        return sn_error(SN_ERR_NOMEM, "sn_dataset_from_arrays: %lld examples are too many",
                        (long long)n);
    for (int64_t i = 0; n_classes > 0 && i < n; i++)
        if (!(y[i] >= 0.0f && y[i] < (float)n_classes && y[i] == floorf(y[i])))
            return sn_error(SN_ERR_RANGE,
                            "sn_dataset_from_arrays: y[%lld] = %g is not a class index in [0, %d)",
                            (long long)i, (double)y[i], n_classes);
    float *x_copy = malloc((size_t)x_count * sizeof(float));
    float *y_copy = malloc((size_t)y_count * sizeof(float));
    if (!x_copy || !y_copy) {
        free(x_copy);
        free(y_copy);
        return sn_error(SN_ERR_NOMEM, "sn_dataset_from_arrays: cannot allocate %lld examples",
                        (long long)n);
    }
    memcpy(x_copy, x, (size_t)x_count * sizeof(float));
    memcpy(y_copy, y, (size_t)y_count * sizeof(float));
    return sn_dataset_adopt(out, "(arrays)", n, sample_shape, NULL, x_copy, target_size, y_copy,
                            n_classes, 0);
}

void sn_dataset_destroy(sn_dataset *ds) {
    if (!ds) return;
    free(ds->source);
    free(ds->x_u8);
    free(ds->x_f32);
    free(ds->y);
    free(ds->mean);
    free(ds->std);
    free(ds->lut);
    free(ds);
}

int64_t sn_dataset_count(const sn_dataset *ds) {
    return ds ? ds->count : 0;
}

const sn_shape *sn_dataset_sample_shape(const sn_dataset *ds) {
    return ds ? &ds->sample_shape : NULL;
}

int64_t sn_dataset_target_size(const sn_dataset *ds) {
    return ds ? ds->target_size : 0;
}

int sn_dataset_num_classes(const sn_dataset *ds) {
    return ds ? ds->num_classes : 0;
}

const char *sn_dataset_source(const sn_dataset *ds) {
    return ds ? ds->source : "";
}

/* n bytes of one channel, normalised by the formula `kind` (a constant where
 * inlined, so that the loop vectorises: about twice as fast as the lookup
 * table on 64 Fashion-MNIST images, 16 vs 35 us). */
static inline void normalize_bytes(sn_normalize kind, const uint8_t *restrict src, int64_t n,
                                   float *restrict x) {
    for (int64_t k = 0; k < n; k++) x[k] = sn_normalize_formula(kind, 1, 0.0f, 1.0f, (float)src[k]);
}

/* One example, normalised, into x (sample_numel floats). Elements are laid
 * out channel by channel, each channel a contiguous block. */
static void copy_example(const sn_dataset *ds, int64_t i, float *x) {
    int64_t per_channel = ds->sample_numel / ds->n_channels;
    if (ds->x_u8) {
        const uint8_t *src = ds->x_u8 + i * ds->sample_numel;
        for (int c = 0; c < ds->n_channels; c++, src += per_channel, x += per_channel) {
            if (ds->normalize == SN_NORM_UNIT) {
                normalize_bytes(SN_NORM_UNIT, src, per_channel, x);
            } else if (ds->normalize == SN_NORM_SYMMETRIC) {
                normalize_bytes(SN_NORM_SYMMETRIC, src, per_channel, x);
            } else {
                /* two divisions per value: the table is faster */
                const float *lut = ds->lut + 256 * c;
                for (int64_t k = 0; k < per_channel; k++) x[k] = lut[src[k]];
            }
        }
        return;
    }
    const float *src = ds->x_f32 + i * ds->sample_numel;
    if (ds->normalize == SN_NORM_NONE) {
        memcpy(x, src, (size_t)ds->sample_numel * sizeof(float));
        return;
    }
    for (int c = 0; c < ds->n_channels; c++)
        for (int64_t k = 0; k < per_channel; k++, src++, x++)
            *x = sn_dataset_normalize_value(ds, c, *src);
}

/* The batch copy on the pool: chunks of BATCH_CHUNK_IMAGES examples, each
 * copied alone, so any thread count writes the same bytes. */
#define BATCH_CHUNK_IMAGES 16

/* Examples are read in shuffled order from a set larger than the caches
 * (Fashion-MNIST: 47 MB of bytes), so each one is a run of cache misses;
 * asking for the example BATCH_PREFETCH_AHEAD places ahead while copying
 * this one overlaps them. 64 shuffled Fashion-MNIST images, one thread:
 * 20-23 us without, 6.8-7.8 us with (6.5-6.7 us in order). */
#define BATCH_PREFETCH_AHEAD 2
static void prefetch_example(const sn_dataset *ds, int64_t i) {
    const size_t bytes = (size_t)ds->sample_numel * (ds->x_u8 ? 1 : sizeof(float));
    const char *src = ds->x_u8 ? (const char *)(ds->x_u8 + i * ds->sample_numel)
                               : (const char *)(ds->x_f32 + i * ds->sample_numel);
    for (size_t k = 0; k < bytes; k += 64) __builtin_prefetch(src + k);
}

typedef struct batch_job {
    const sn_dataset *ds;
    const int64_t *idx;
    int64_t n;
    float *x, *y; /* x (n, sample...), y (n, target_size) */
} batch_job;

static void batch_chunk(void *ctx, int chunk, int worker) {
    (void)worker;
    const batch_job *b = ctx;
    const sn_dataset *ds = b->ds;
    const int64_t first = (int64_t)chunk * BATCH_CHUNK_IMAGES;
    const int64_t end = b->n - first < BATCH_CHUNK_IMAGES ? b->n : first + BATCH_CHUNK_IMAGES;
    for (int64_t j = first; b->x && j < end && j < first + BATCH_PREFETCH_AHEAD; j++)
        prefetch_example(ds, b->idx[j]);
    for (int64_t j = first; j < end; j++) {
        if (b->x && j + BATCH_PREFETCH_AHEAD < end)
            prefetch_example(ds, b->idx[j + BATCH_PREFETCH_AHEAD]);
        if (b->x) copy_example(ds, b->idx[j], b->x + j * ds->sample_numel);
        if (b->y)
            memcpy(b->y + j * ds->target_size, ds->y + b->idx[j] * ds->target_size,
                   (size_t)ds->target_size * sizeof(float));
    }
}

sn_status sn_dataset_batch(const sn_dataset *ds, const int64_t *idx, int64_t n, float *x,
                           float *y) {
    if (!ds || (n > 0 && !idx) || n < 0)
        return sn_error(SN_ERR_INVALID_ARG, "sn_dataset_batch: NULL argument or negative count");
    /* All indices first, so that a bad one leaves the buffers untouched. */
    for (int64_t j = 0; j < n; j++)
        if (idx[j] < 0 || idx[j] >= ds->count)
            return sn_error(SN_ERR_RANGE,
                            "%s: example index %lld (batch position %lld) is outside "
                            "[0, %lld)",
                            ds->source, (long long)idx[j], (long long)j, (long long)ds->count);
    if (n > INT32_MAX / 2) /* chunk numbers are ints */
        return sn_error(SN_ERR_RANGE, "%s: a batch of %lld examples is too large", ds->source,
                        (long long)n);
    batch_job job = {ds, idx, n, x, y};
    sn_parallel_for(sn_chunk_count(n, BATCH_CHUNK_IMAGES), sn_get_threads(), batch_chunk, &job);
    return SN_OK;
}

sn_status sn_dataset_split(sn_dataset *ds, double fraction, sn_dataset **tail) {
    if (!ds || !tail) return sn_error(SN_ERR_INVALID_ARG, "sn_dataset_split: NULL argument");
    *tail = NULL;
    if (!(fraction > 0.0 && fraction < 1.0))
        return sn_error(SN_ERR_INVALID_ARG, "%s: split fraction %g is not in (0, 1)", ds->source,
                        fraction);
    /* rounded to nearest: 0.29 x 100 is 28.999999999999996 in double */
    int64_t n_tail = llround((double)ds->count * fraction), n_head = ds->count - n_tail;
    if (n_tail < 1 || n_head < 1)
        return sn_error(SN_ERR_RANGE,
                        "%s: splitting off %g of %lld examples leaves an empty part (%lld + %lld)",
                        ds->source, fraction, (long long)ds->count, (long long)n_head,
                        (long long)n_tail);
    size_t x_elems = (size_t)(n_tail * ds->sample_numel);
    size_t y_elems = (size_t)(n_tail * ds->target_size);
    uint8_t *x_u8 = ds->x_u8 ? malloc(x_elems) : NULL;
    float *x_f32 = ds->x_f32 ? malloc(x_elems * sizeof(float)) : NULL;
    float *y = malloc(y_elems * sizeof(float));
    if ((ds->x_u8 && !x_u8) || (ds->x_f32 && !x_f32) || !y) {
        free(x_u8);
        free(x_f32);
        free(y);
        return sn_error(SN_ERR_NOMEM, "%s: cannot allocate a split of %lld examples", ds->source,
                        (long long)n_tail);
    }
    int64_t x_from = n_head * ds->sample_numel;
    if (x_u8) memcpy(x_u8, ds->x_u8 + x_from, x_elems);
    if (x_f32) memcpy(x_f32, ds->x_f32 + x_from, x_elems * sizeof(float));
    memcpy(y, ds->y + n_head * ds->target_size, y_elems * sizeof(float));
    sn_dataset *t;
    sn_status st = sn_dataset_adopt(&t, ds->source, n_tail, &ds->sample_shape, x_u8, x_f32,
                                    ds->target_size, y, ds->num_classes, 0);
    if (st == SN_OK) st = sn_dataset_copy_normalization(t, ds);
    if (st != SN_OK) {
        sn_dataset_destroy(t);
        return st;
    }
    /* the head keeps its buffers, shrunk to its examples */
    ds->count = n_head;
    if (ds->x_u8) ds->x_u8 = shrink(ds->x_u8, (size_t)x_from);
    if (ds->x_f32) ds->x_f32 = shrink(ds->x_f32, (size_t)x_from * sizeof(float));
    ds->y = shrink(ds->y, (size_t)(n_head * ds->target_size) * sizeof(float));
    *tail = t;
    return SN_OK;
}

void sn_shuffle_indices(int64_t *order, int64_t n, sn_rng *rng) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    /* Fisher-Yates (Knuth, TAOCP vol. 2, Algorithm P): each of the n!
     * permutations equally likely given uniform sn_rng_below. */
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)sn_rng_below(rng, (uint64_t)i + 1);
        int64_t swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
}
