/* Private layout of sn_dataset, shared by dataset.c, normalize.c and the
 * loaders (load.c dispatches to load_idx.c, load_csv.c, load_safetensors.c). */
#ifndef SN_DATA_DATASET_INTERNAL_H
#define SN_DATA_DATASET_INTERNAL_H

#include "sinapsi/data.h"

/* Class indices must be exact in float and fit an int: [0, 2^24). */
#define SN_MAX_CLASSES ((int64_t)1 << 24)

struct sn_dataset {
    char *source; /* file or directory, for messages */
    int64_t count;
    sn_shape sample_shape; /* ndim 1..3, so a batch (n, sample...) has at most 4 dims */
    int64_t sample_numel;
    int64_t target_size;
    int num_classes; /* 0 for float targets */
    uint8_t *x_u8;   /* (count, sample...) bytes, or NULL */
    float *x_f32;    /* (count, sample...) floats, or NULL; exactly one of the two is set */
    float *y;        /* (count, target_size) */

    /* Normalisation applied by sn_dataset_batch, fixed at load (never AUTO). */
    sn_normalize normalize;
    int n_channels;    /* dim 0 of a 3-D sample, else 1 */
    float *mean, *std; /* (n_channels), for SN_NORM_STANDARD, else NULL */
    float *lut;        /* (n_channels, 256): byte -> normalised value, for uint8 data;
                          the batch copy reads it for SN_NORM_STANDARD only */
};

/* A dataset over buffers the loader allocated with malloc. It takes ownership
 * of x_u8 or x_f32 (one of them NULL) and y, also on failure, keeps the first
 * min(count, limit) examples (limit 0 = all) and shrinks the buffers to them.
 * Normalisation is NONE until sn_dataset_set_normalization. */
sn_status sn_dataset_adopt(sn_dataset **out, const char *source, int64_t count,
                           const sn_shape *sample_shape, uint8_t *x_u8, float *x_f32,
                           int64_t target_size, float *y, int num_classes, int64_t limit);

/* 1 + the largest of y[0..n) when every value is an integer in [0, 2^24);
 * otherwise 0, with *first_bad the index of the first value that is not. */
int sn_class_count(const float *y, int64_t n, int64_t *first_bad);

/* Index of the first non-finite value of v[0..n), or -1. */
int64_t sn_first_non_finite(const float *v, int64_t n);

/* Resolves opts->normalize for train and test (test may be NULL): AUTO by the
 * data type; for STANDARD the given mean/std or those of train, computed in
 * double, used for both splits; the byte lookup tables. */
sn_status sn_dataset_set_normalization(sn_dataset *train, sn_dataset *test,
                                       const sn_data_opts *opts);

/* Copies the normalisation of from into to (which has none yet). */
sn_status sn_dataset_copy_normalization(sn_dataset *to, const sn_dataset *from);

/* The value that sn_dataset_batch writes for the stored value v in channel c. */
float sn_dataset_normalize_value(const sn_dataset *ds, int c, float v);

/* The normalisation formulas, one place for sn_dataset_normalize_value and
 * the batch copy (which inlines them with a constant `kind`, so that its loop
 * over a channel vectorises). IEEE division, no reciprocal: the bits of
 * torchvision's ToTensor (x.float().div(255)) and Normalize ((x - m) / s).
 * mean, std: the channel's, for SN_NORM_STANDARD only; bytes: x_u8 data. */
static inline float sn_normalize_formula(sn_normalize kind, int bytes, float mean, float std,
                                         float v) {
    switch (kind) {
    case SN_NORM_UNIT:
        return v / 255.0f;
    case SN_NORM_SYMMETRIC:
        return v / 127.5f - 1.0f;
    case SN_NORM_STANDARD:
        return ((bytes ? v / 255.0f : v) - mean) / std;
    default:
        return v;
    }
}

/* The loaders: each applies opts->limit and sets num_classes over both splits;
 * normalisation is left to sn_dataset_load. test may be NULL (not loaded). */
sn_status sn_load_idx_dir(const char *dir, const sn_data_opts *opts, sn_dataset **train,
                          sn_dataset **test);
sn_status sn_load_csv(const char *path, const sn_data_opts *opts, sn_dataset **train);
sn_status sn_load_safetensors(const char *path, const sn_data_opts *opts, sn_dataset **train,
                              sn_dataset **test);

#endif
