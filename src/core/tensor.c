#include "sinapsi/tensor.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

sn_status sn_mul_checked(int64_t a, int64_t b, int64_t limit, int64_t *out) {
    if (a < 0 || b < 0)
        return sn_error(SN_ERR_INVALID_ARG, "negative size %lld x %lld", (long long)a,
                        (long long)b);
    if (a != 0 && b > limit / a)
        return sn_error(SN_ERR_NOMEM, "size %lld x %lld exceeds the limit %lld", (long long)a,
                        (long long)b, (long long)limit);
    *out = a * b;
    return SN_OK;
}

sn_status sn_shape_check(const sn_shape *s) {
    if (!s) return sn_error(SN_ERR_INVALID_ARG, "shape is NULL");
    if (s->ndim < 0 || s->ndim > SN_MAX_DIMS)
        return sn_error(SN_ERR_SHAPE, "a tensor has 0 to %d dimensions, not %d", SN_MAX_DIMS,
                        s->ndim);
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dim[i] < 1)
            return sn_error(SN_ERR_SHAPE, "dimension %d has size %lld (must be >= 1)", i,
                            (long long)s->dim[i]);
        if (sn_mul_checked(n, s->dim[i], SN_MAX_NUMEL, &n) != SN_OK)
            return sn_error(SN_ERR_SHAPE, "shape has more than 2^40 elements");
    }
    return SN_OK;
}

sn_status sn_shape_make(sn_shape *out, int ndim, const int64_t *dims) {
    if (!out || (ndim > 0 && !dims)) return sn_error(SN_ERR_INVALID_ARG, "shape: NULL argument");
    sn_shape s = {0};
    s.ndim = ndim;
    for (int i = 0; i < ndim && i < SN_MAX_DIMS; i++) s.dim[i] = dims[i];
    sn_status st = sn_shape_check(&s);
    if (st != SN_OK) return st;
    *out = s;
    return SN_OK;
}

int64_t sn_shape_numel(const sn_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->dim[i];
    return n;
}

int sn_shape_equal(const sn_shape *a, const sn_shape *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i]) return 0;
    return 1;
}

char *sn_shape_format(const sn_shape *s, char *buf, size_t cap) {
    size_t used = 0;
    if (cap == 0) return buf;
    buf[0] = '\0';
    int n = snprintf(buf, cap, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < s->ndim && used < cap; i++) {
        n = snprintf(buf + used, cap - used, i ? ", %lld" : "%lld", (long long)s->dim[i]);
        if (n > 0) used += (size_t)n;
    }
    if (used < cap) snprintf(buf + used, cap - used, "]");
    return buf;
}

sn_status sn_tensor_create(sn_tensor **out, int ndim, const int64_t *dims) {
    if (!out) return sn_error(SN_ERR_INVALID_ARG, "sn_tensor_create: out is NULL");
    *out = NULL;
    sn_shape s;
    sn_status st = sn_shape_make(&s, ndim, dims);
    if (st != SN_OK) return st;
    sn_tensor *t = malloc(sizeof *t);
    if (!t) return sn_error(SN_ERR_NOMEM, "tensor: out of memory");
    t->shape = s;
    t->data = calloc((size_t)sn_shape_numel(&s), sizeof(float));
    if (!t->data) {
        free(t);
        return sn_error(SN_ERR_NOMEM, "tensor: cannot allocate %lld floats",
                        (long long)sn_shape_numel(&s));
    }
    *out = t;
    return SN_OK;
}

void sn_tensor_destroy(sn_tensor *t) {
    if (!t) return;
    free(t->data);
    free(t);
}

int64_t sn_tensor_numel(const sn_tensor *t) {
    return sn_shape_numel(&t->shape);
}
