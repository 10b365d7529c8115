/*
 * A safetensors dataset:
 *
 *     x        F32 or U8, (n, ...) with 2 to 4 dimensions: samples (...)
 *     y        class indices I64, I32 or U8, (n), each in [0, 2^24);
 *              or float targets F32, (n) or (n, k)
 *     x_test   optional, both or neither, shaped and typed as x and y
 *     y_test
 *
 * U8 x stays bytes in memory (normalised at batch time like IDX images).
 * The file is validated by sn_safetensors_open; the values are converted
 * through sn_safetensors_read_into (exact for U8 and the integer types in
 * range), so a U8 x briefly takes 4 bytes per value while it is read.
 */
#include "data/dataset_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sinapsi/safetensors.h"

/* What one split's tensors hold, to check the test split against training. */
typedef struct split_info {
    int x_bytes;   /* 1 when x is U8 */
    int y_classes; /* 1 when y holds class indices */
    int n_classes; /* largest class + 1 */
} split_info;

/* Tensor `name` as floats: *data (numel of the tensor), which the caller frees. */
static sn_status read_floats(const sn_safetensors *f, int i, const char *name, int64_t numel,
                             float **data) {
    *data = malloc((size_t)numel * sizeof(float));
    if (!*data)
        return sn_error(SN_ERR_NOMEM, "%s: cannot allocate %lld floats for '%s'",
                        sn_safetensors_path(f), (long long)numel, name);
    sn_status st = sn_safetensors_read_into(f, i, *data, (size_t)numel);
    if (st != SN_OK) {
        free(*data);
        *data = NULL;
    }
    return st;
}

/* A tensor of the file as its header describes it. */
typedef struct tensor_entry {
    int index;
    const char *dtype; /* "F32" */
    int ndim;
    const int64_t *dims; /* (ndim) */
} tensor_entry;

static sn_status find_tensor(const sn_safetensors *f, const char *name, tensor_entry *e) {
    e->index = sn_safetensors_find(f, name);
    if (e->index < 0)
        return sn_error(SN_ERR_FORMAT,
                        "%s: no tensor '%s' (a dataset file holds x, y and optionally x_test, "
                        "y_test)",
                        sn_safetensors_path(f), name);
    e->dtype = sn_safetensors_dtype(f, e->index);
    e->ndim = sn_safetensors_ndim(f, e->index);
    e->dims = sn_safetensors_dims(f, e->index);
    return SN_OK;
}

/* Reads the examples: *n of them, of shape *sample, as bytes or floats. */
static sn_status read_x(const sn_safetensors *f, const char *name, int64_t *n, sn_shape *sample,
                        uint8_t **x_u8, float **x_f32, split_info *info) {
    const char *path = sn_safetensors_path(f);
    tensor_entry e = {0};
    sn_status st = find_tensor(f, name, &e);
    if (st != SN_OK) return st;
    if (strcmp(e.dtype, "F32") != 0 && strcmp(e.dtype, "U8") != 0)
        return sn_error(SN_ERR_UNSUPPORTED, "%s: '%s' is %s; examples must be F32 or U8", path,
                        name, e.dtype);
    sn_shape shape;
    if (e.ndim < 2 || e.ndim > 4)
        return sn_error(SN_ERR_UNSUPPORTED,
                        "%s: '%s' has %d dimensions; examples need 2 to 4 (n, ...)", path, name,
                        e.ndim);
    if ((st = sn_safetensors_shape(f, e.index, &shape)) != SN_OK)
        return sn_error_prefix("%s: '%s': ", path, name);
    *n = shape.dim[0];
    sample->ndim = e.ndim - 1;
    memcpy(sample->dim, shape.dim + 1, (size_t)(e.ndim - 1) * sizeof(int64_t));
    int64_t numel = sn_shape_numel(&shape);
    float *values;
    if ((st = read_floats(f, e.index, name, numel, &values)) != SN_OK) return st;
    info->x_bytes = strcmp(e.dtype, "U8") == 0;
    if (info->x_bytes) {
        *x_u8 = malloc((size_t)numel);
        if (!*x_u8) {
            free(values);
            return sn_error(SN_ERR_NOMEM, "%s: cannot allocate %lld bytes for '%s'", path,
                            (long long)numel, name);
        }
        for (int64_t k = 0; k < numel; k++) (*x_u8)[k] = (uint8_t)values[k]; /* exact: 0..255 */
        free(values);
        return SN_OK;
    }
    int64_t bad = sn_first_non_finite(values, numel);
    if (bad >= 0) {
        free(values);
        return sn_error(SN_ERR_NUMERIC, "%s: '%s' element %lld is not finite", path, name,
                        (long long)bad);
    }
    *x_f32 = values;
    return SN_OK;
}

/* Reads n targets: class indices (target size 1) or float targets of width k. */
static sn_status read_y(const sn_safetensors *f, const char *name, int64_t n, int64_t *target_size,
                        float **y, split_info *info) {
    const char *path = sn_safetensors_path(f);
    tensor_entry e = {0};
    sn_status st = find_tensor(f, name, &e);
    if (st != SN_OK) return st;
    int classes =
        strcmp(e.dtype, "I64") == 0 || strcmp(e.dtype, "I32") == 0 || strcmp(e.dtype, "U8") == 0;
    if (!classes && strcmp(e.dtype, "F32") != 0)
        return sn_error(SN_ERR_UNSUPPORTED,
                        "%s: '%s' is %s; targets are class indices (I64, I32, U8) or F32", path,
                        name, e.dtype);
    if (e.ndim < 1 || e.ndim > (classes ? 1 : 2) || e.dims[0] != n ||
        (e.ndim == 2 && e.dims[1] < 1))
        return sn_error(SN_ERR_SHAPE, "%s: '%s' must have shape (%lld)%s to match %lld examples",
                        path, name, (long long)n, classes ? "" : " or (n, k)", (long long)n);
    *target_size = e.ndim == 2 ? e.dims[1] : 1;
    if ((st = read_floats(f, e.index, name, n * *target_size, y)) != SN_OK) return st;
    info->y_classes = classes;
    int64_t bad = -1;
    if (classes && (info->n_classes = sn_class_count(*y, n, &bad)) == 0)
        st = sn_error(SN_ERR_RANGE, "%s: %s[%lld] = %.0f is not a class index in [0, 2^24)", path,
                      name, (long long)bad, (double)(*y)[bad]);
    if (!classes && (bad = sn_first_non_finite(*y, n * *target_size)) >= 0)
        st = sn_error(SN_ERR_NUMERIC, "%s: '%s' element %lld is not finite", path, name,
                      (long long)bad);
    if (st != SN_OK) {
        free(*y);
        *y = NULL;
    }
    return st;
}

static sn_status load_split(const sn_safetensors *f, const char *x_name, const char *y_name,
                            int64_t limit, sn_dataset **out, split_info *info) {
    int64_t n = 0, target_size = 0;
    sn_shape sample = {0};
    uint8_t *x_u8 = NULL;
    float *x_f32 = NULL, *y = NULL;
    sn_status st = read_x(f, x_name, &n, &sample, &x_u8, &x_f32, info);
    if (st == SN_OK) st = read_y(f, y_name, n, &target_size, &y, info);
    if (st != SN_OK) {
        free(x_u8);
        free(x_f32);
        return st;
    }
    return sn_dataset_adopt(out, sn_safetensors_path(f), n, &sample, x_u8, x_f32, target_size, y,
                            info->n_classes, limit);
}

sn_status sn_load_safetensors(const char *path, const sn_data_opts *opts, sn_dataset **train,
                              sn_dataset **test) {
    sn_safetensors *f;
    sn_status st = sn_safetensors_open(&f, path);
    if (st != SN_OK) return st;
    int has_x_test = sn_safetensors_find(f, "x_test") >= 0;
    int has_y_test = sn_safetensors_find(f, "y_test") >= 0;
    split_info train_info = {0}, test_info = {0};
    if (has_x_test != has_y_test)
        st = sn_error(SN_ERR_FORMAT, "%s: '%s' without '%s' (a test split needs both)", path,
                      has_x_test ? "x_test" : "y_test", has_x_test ? "y_test" : "x_test");
    if (st == SN_OK) st = load_split(f, "x", "y", opts->limit, train, &train_info);
    if (st == SN_OK && test && has_x_test)
        st = load_split(f, "x_test", "y_test", opts->limit, test, &test_info);
    if (st == SN_OK && test && *test) {
        const sn_dataset *a = *train, *b = *test;
        if (!sn_shape_equal(&a->sample_shape, &b->sample_shape) ||
            train_info.x_bytes != test_info.x_bytes)
            st = sn_error(SN_ERR_FORMAT, "%s: 'x_test' examples differ from 'x' in shape or dtype",
                          path);
        else if (train_info.y_classes != test_info.y_classes || a->target_size != b->target_size)
            st = sn_error(SN_ERR_FORMAT,
                          "%s: 'y_test' targets differ from 'y' (class indices or floats, width)",
                          path);
        else {
            int n_classes = a->num_classes > b->num_classes ? a->num_classes : b->num_classes;
            (*train)->num_classes = (*test)->num_classes = n_classes;
        }
    }
    sn_safetensors_close(f);
    return st;
}
