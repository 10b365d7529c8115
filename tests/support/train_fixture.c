/* Small training set-ups for the trainer's tests (see train_fixture.h). */
#include "support/train_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/temp_dir.h"
#include "support/test_support.h"

sn_dataset *sn_fixture_blobs(int64_t n, uint64_t seed) {
    float *x = malloc(sizeof *x * (size_t)(n * SN_FIXTURE_FEATURES)); /* (n, 16) */
    float *y = malloc(sizeof *y * (size_t)n);                         /* (n) */
    assert_non_null(x);
    assert_non_null(y);
    sn_rng rng;
    sn_rng_seed(&rng, seed, 100);
    for (int64_t i = 0; i < n; i++) {
        float *row = x + i * SN_FIXTURE_FEATURES;
        double score[SN_FIXTURE_CLASSES] = {0};
        for (int f = 0; f < SN_FIXTURE_FEATURES; f++) {
            row[f] = (float)sn_rng_normal(&rng);
            /* Class c scores the features f with f % 3 == c, with alternating signs. */
            score[f % SN_FIXTURE_CLASSES] += (f & 1 ? -1.0 : 1.0) * row[f];
        }
        int best = 0;
        for (int c = 1; c < SN_FIXTURE_CLASSES; c++)
            if (score[c] > score[best]) best = c;
        y[i] = (float)best;
    }
    sn_shape shape;
    SN_ASSERT_OK(sn_shape_make(&shape, 1, (int64_t[]){SN_FIXTURE_FEATURES}));
    sn_dataset *ds = NULL;
    SN_ASSERT_OK(sn_dataset_from_arrays(&ds, n, &shape, x, 1, y, SN_FIXTURE_CLASSES));
    free(x);
    free(y);
    return ds;
}

static sn_model *fixture_mlp(int dropout, int batchnorm) {
    sn_module modules[6];
    int n = 0;
    modules[n++] = sn_module_linear(SN_FIXTURE_FEATURES, 12, 1);
    if (batchnorm) modules[n++] = sn_module_batchnorm(SN_MOD_BATCHNORM1D, 12);
    modules[n++] = sn_module_plain(SN_MOD_RELU);
    if (dropout) modules[n++] = sn_module_dropout(0.25f);
    modules[n++] = sn_module_linear(12, SN_FIXTURE_CLASSES, 1);
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_create(&m, modules, n));
    return m;
}

sn_model *sn_fixture_mlp(int dropout) {
    return fixture_mlp(dropout, 0);
}

sn_model *sn_fixture_mlp_batchnorm(void) {
    return fixture_mlp(1, 1);
}

float *sn_fixture_buffers(sn_model *m, size_t *n) {
    const float *buffers = sn_graph_buffers(sn_model_graph(m), n);
    assert_non_null(buffers);
    float *copy = malloc(*n * sizeof *copy);
    assert_non_null(copy);
    memcpy(copy, buffers, *n * sizeof *copy);
    return copy;
}

sn_train_opts sn_fixture_opts(void) {
    sn_train_opts o = sn_train_defaults();
    o.epochs = 3;
    o.batch = 8;
    o.optim.lr = 0.05;
    o.optim.momentum = 0.9;
    o.seed = 7;
    o.progress = SN_PROGRESS_NONE;
    return o;
}

float *sn_fixture_params(sn_model *m, size_t *n) {
    const float *params = sn_graph_params(sn_model_graph(m), n);
    assert_non_null(params);
    float *copy = malloc(sizeof *copy * *n);
    assert_non_null(copy);
    memcpy(copy, params, sizeof *copy * *n);
    return copy;
}

unsigned char *sn_fixture_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *bytes = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (bytes = malloc((size_t)size + 1))) {
        if (fread(bytes, 1, (size_t)size, f) != (size_t)size) {
            free(bytes);
            bytes = NULL;
        }
    }
    fclose(f);
    if (bytes) *len = (size_t)size;
    return bytes;
}

int sn_fixture_same_file(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    unsigned char *x = sn_fixture_read_file(a, &la), *y = sn_fixture_read_file(b, &lb);
    const int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

char *sn_fixture_train_captured(const sn_train_opts *o, int with_test, int fd) {
    char path[512];
    snprintf(path, sizeof path, "%s", sn_temp_path("captured.txt"));
    sn_dataset *ds = sn_fixture_blobs(20, 1), *test = with_test ? sn_fixture_blobs(10, 2) : NULL;
    sn_model *m = sn_fixture_mlp(0);
    fflush(NULL);
    const int saved = dup(fd);
    FILE *capture = fopen(path, "w");
    assert_non_null(capture);
    dup2(fileno(capture), fd);
    const sn_status st = sn_train(m, ds, test, o, NULL);
    fflush(NULL);
    dup2(saved, fd);
    close(saved);
    fclose(capture);
    SN_ASSERT_OK(st);
    size_t len = 0;
    char *text = (char *)sn_fixture_read_file(path, &len);
    assert_non_null(text);
    text[len] = '\0';
    sn_model_destroy(m);
    sn_dataset_destroy(ds);
    sn_dataset_destroy(test);
    return text;
}
