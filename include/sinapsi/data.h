/*
 * sinapsi/data.h: datasets in memory, their readers, normalisation, batching.
 *
 * A dataset is n examples of one shape plus their targets. Pixel data stays as
 * uint8 in memory (a quarter of the float size) and is normalised when a batch
 * is copied out, so the full Fashion-MNIST training set takes 47 MB, not 188.
 *
 *     sn_dataset *train, *test;
 *     sn_data_opts o = sn_data_defaults();
 *     if (sn_dataset_load("/usr/share/datasets/fashion-mnist", &o, &train, &test) != SN_OK)
 *         fail(sn_last_error());             // "train-images-idx3-ubyte.gz: ..."
 *     int64_t order[64] = {...};
 *     sn_dataset_batch(train, order, 64, x, y);   // x (64, 1, 28, 28) in [0, 1]
 *
 * Readers (every one treats its file as hostile: sizes are checked against the
 * file length before anything is allocated, or for a gzip stream memory grows
 * only as data arrives, and errors name the file; see docs/formats.md):
 *   - a directory of IDX files in the MNIST layout: train-images-idx3-ubyte,
 *     train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
 *     each plain or .gz;
 *   - a CSV file: one example per row, the label column first by default,
 *     an optional header row;
 *   - a safetensors file with tensors x (F32 or U8, (n, ...)), y (class indices
 *     as I64/I32/U8, or F32 targets) and optionally x_test, y_test.
 */
#ifndef SINAPSI_DATA_H
#define SINAPSI_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "sinapsi/rng.h"
#include "sinapsi/status.h"
#include "sinapsi/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sn_normalize {
    SN_NORM_AUTO,      /* [0, 1] for uint8 data, none for float data (the default) */
    SN_NORM_NONE,      /* values as stored */
    SN_NORM_UNIT,      /* x / 255: [0, 255] -> [0, 1] */
    SN_NORM_SYMMETRIC, /* x / 127.5 - 1: [0, 255] -> [-1, 1] */
    SN_NORM_STANDARD   /* per channel (x/255 for uint8 - mean) / std, mean/std from the
                          training split unless given */
} sn_normalize;

typedef struct sn_data_opts {
    sn_normalize normalize;
    int n_channels_stats;  /* SN_NORM_STANDARD: number of given mean/std values (0 =
                              compute them from the training split) */
    float mean[4], std[4]; /* per channel, for SN_NORM_STANDARD */
    int csv_label_col;     /* CSV: column of the label (default 0; -1 = last) */
    int csv_header;        /* CSV: 1 = first row is a header, 0 = none, -1 = detect (default) */
    int64_t limit;         /* keep only the first `limit` examples of each split (0 = all) */
} sn_data_opts;

sn_data_opts sn_data_defaults(void);

/* "auto", "none", "unit", "symmetric", "standard" (the --normalize names). */
const char *sn_normalize_name(sn_normalize n);
/* The inverse; SN_ERR_INVALID_ARG for an unknown name. */
sn_status sn_normalize_parse(const char *name, sn_normalize *out);

typedef struct sn_dataset sn_dataset;

/* Loads DATA (a directory of IDX files, a .csv file or a .safetensors file).
 * *train gets the training split; *test the test split or NULL when the
 * source has none (a CSV, a safetensors file without x_test). The caller
 * destroys both. test may be NULL to skip the test split. */
sn_status sn_dataset_load(const char *path, const sn_data_opts *opts, sn_dataset **train,
                          sn_dataset **test);

/* A dataset over caller data (copied): x (n, sample...) float, y (n, target_size). */
sn_status sn_dataset_from_arrays(sn_dataset **out, int64_t n, const sn_shape *sample_shape,
                                 const float *x, int64_t target_size, const float *y,
                                 int n_classes);

void sn_dataset_destroy(sn_dataset *ds);

int64_t sn_dataset_count(const sn_dataset *ds);
/* One example's shape: (1, 28, 28) for IDX images, (features) for CSV. */
const sn_shape *sn_dataset_sample_shape(const sn_dataset *ds);
/* Floats per target: 1 for a class index, k for float targets of width k. */
int64_t sn_dataset_target_size(const sn_dataset *ds);
/* Number of classes when targets are class indices (max label + 1 over the
 * training and test splits: 10 for Fashion-MNIST); 0 when targets are float
 * values. */
int sn_dataset_num_classes(const sn_dataset *ds);
/* The normalisation a batch gets, AUTO resolved (UNIT for uint8 data, NONE
 * for float data). Recorded in training logs so a report reads data alike. */
sn_normalize sn_dataset_normalization(const sn_dataset *ds);
/* The file or directory it came from, for messages. */
const char *sn_dataset_source(const sn_dataset *ds);

/* Copies examples idx[0..n-1] into x (n, sample...) normalised as loaded, and
 * their targets into y (n, target_size) (class indices as floats). Indices must
 * be in [0, count): SN_ERR_RANGE otherwise, with nothing written. x or y may be
 * NULL. Allocates nothing; concurrent calls on one dataset are safe. */
sn_status sn_dataset_batch(const sn_dataset *ds, const int64_t *idx, int64_t n, float *x, float *y);

/* Splits off the last `fraction` of ds (0 < fraction < 1; round(count *
 * fraction) examples, and both parts non-empty) as a new dataset with the same
 * normalisation; ds keeps the rest. The tail is a copy with its own buffers, so
 * the two are destroyed independently. For validation splits. */
sn_status sn_dataset_split(sn_dataset *ds, double fraction, sn_dataset **tail);

/* order[i] = i, then a Fisher-Yates shuffle from rng (deterministic per seed). */
void sn_shuffle_indices(int64_t *order, int64_t n, sn_rng *rng);

/* ---- single IDX files ---- */

typedef struct sn_idx {
    int type; /* IDX type code: 0x08 unsigned byte (the only one MNIST uses), 0x09
                 signed byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double */
    int ndim; /* 1..4 */
    int64_t dim[4];
    int64_t count; /* product of dims */
    uint8_t *u8;   /* data when type is 0x08 */
    float *f32;    /* data converted to float for the other types */
} sn_idx;

/* Reads one IDX file (plain or gzip, detected by content), checking the magic,
 * the dimension count, and that the sizes match the data length exactly before
 * allocating. The caller frees it with sn_idx_free. */
sn_status sn_idx_read(const char *path, sn_idx **out);
void sn_idx_free(sn_idx *idx);

#ifdef __cplusplus
}
#endif
#endif
