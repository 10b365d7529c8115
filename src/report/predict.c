/* Predicted classes and the confusion matrix (sinapsi/report.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sinapsi/report.h"
#include "sinapsi/train.h"

const char *const sn_report_fashion_mnist[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};

int sn_report_is_fashion_mnist(const sn_dataset *ds) {
    if (!ds || sn_dataset_num_classes(ds) != 10) return 0;
    if (sn_shape_numel(sn_dataset_sample_shape(ds)) != 28 * 28) return 0;
    const char *source = sn_dataset_source(ds);
    for (const char *p = source ? source : ""; *p; p++)
        if (!strncmp(p, "fashion", 7) || !strncmp(p, "Fashion", 7) || !strncmp(p, "FASHION", 7))
            return 1;
    return 0;
}

/* Examples per sn_model_forward call: bounds the two chunk buffers. */
enum { CHUNK = 256 };

sn_status sn_report_predict(sn_model *m, const sn_dataset *ds, int32_t *predicted, float *labels) {
    if (!m || !ds || !predicted || !labels)
        return sn_error(SN_ERR_INVALID_ARG, "predict: NULL argument");
    const char *source = sn_dataset_source(ds);
    if (sn_dataset_num_classes(ds) < 1 || sn_dataset_target_size(ds) != 1)
        return sn_error(SN_ERR_INVALID_ARG, "%s: targets are not class labels", source);
    /* The task gives the one-output threshold and checks the labels fit the
     * outputs; mse is the loss every output width accepts. */
    sn_task t;
    sn_status st = sn_task_make(m, ds, SN_LOSS_MSE, &t);
    if (st != SN_OK) return st;
    const int64_t sample = sn_shape_numel(sn_dataset_sample_shape(ds));
    if (sample != sn_shape_numel(sn_model_sample_shape(m)))
        return sn_error(SN_ERR_SHAPE, "%s: examples of %lld values, but the model takes %lld",
                        source, (long long)sample,
                        (long long)sn_shape_numel(sn_model_sample_shape(m)));
    float *x = malloc(sizeof *x * (size_t)(CHUNK * sample));      /* (CHUNK, sample...) */
    float *y = malloc(sizeof *y * (size_t)(CHUNK * t.out_width)); /* (CHUNK, out_width) */
    int64_t *idx = malloc(sizeof *idx * CHUNK);
    if (!x || !y || !idx) st = sn_error(SN_ERR_NOMEM, "predict: out of memory");
    const int64_t n = sn_dataset_count(ds);
    for (int64_t first = 0; st == SN_OK && first < n; first += CHUNK) {
        const int64_t k = n - first < CHUNK ? n - first : CHUNK;
        for (int64_t i = 0; i < k; i++) idx[i] = first + i;
        if ((st = sn_dataset_batch(ds, idx, k, x, labels + first)) != SN_OK ||
            (st = sn_model_forward(m, x, k, y)) != SN_OK)
            break;
        for (int64_t i = 0; i < k; i++) {
            const float *row = y + i * t.out_width;
            int32_t c = 0;
            if (t.out_width == 1) {
                c = row[0] >= t.threshold;
            } else {
                /* torch.argmax: the first of equal maxima. */
                for (int32_t j = 1; j < t.out_width; j++)
                    if (row[j] > row[c]) c = j;
            }
            predicted[first + i] = c;
        }
    }
    free(x);
    free(y);
    free(idx);
    return st;
}

sn_status sn_report_confusion(const int32_t *predicted, const float *labels, int64_t n,
                              int n_classes, int64_t *counts) {
    if (n_classes < 1 || n_classes > 100000)
        return sn_error(SN_ERR_INVALID_ARG, "confusion: %d classes", n_classes);
    memset(counts, 0, sizeof *counts * (size_t)n_classes * (size_t)n_classes);
    for (int64_t i = 0; i < n; i++) {
        /* Labels come from data: checked before they index. */
        if (!(labels[i] >= 0.0f && labels[i] < (float)n_classes) || predicted[i] < 0 ||
            predicted[i] >= n_classes)
            return sn_error(SN_ERR_RANGE,
                            "confusion: example %lld: label %g or prediction %d outside [0, %d)",
                            (long long)i, (double)labels[i], predicted[i], n_classes);
        counts[(int64_t)labels[i] * n_classes + predicted[i]]++;
    }
    return SN_OK;
}
