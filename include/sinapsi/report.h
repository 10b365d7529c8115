/*
 * sinapsi/report.h: a training run drawn as pictures in a directory.
 *
 *     sn_report_opts r = sn_report_defaults();
 *     r.log = "run.jsonl";       // the log sn_train wrote (opts.log)
 *     r.model = model;           // the trained model, or NULL
 *     r.test = test;             // the test split, or NULL
 *     if (sn_report_write("report", &r) != SN_OK) fail(sn_last_error());
 *     // report/index.html shows everything below, with the run's settings
 *
 * What is written (docs/report.md): loss.svg and accuracy.svg (per epoch,
 * train and test or validation) from the log; with a model and a test split,
 * confusion.svg (class names when known), misclassified/NNN.png (the first
 * misclassified test examples, upsampled; true and predicted labels are the
 * captions in index.html); filters.png, the first Conv2d's weights; and
 * health_*.svg, per-layer curves, when the log holds health lines
 * (docs/health.md). Pictures that cannot be drawn (no Conv2d, no class labels,
 * examples that are not images) are replaced by a note in index.html. No
 * JavaScript and nothing from the network.
 */
#ifndef SINAPSI_REPORT_H
#define SINAPSI_REPORT_H

#include <stdint.h>

#include "sinapsi/data.h"
#include "sinapsi/model.h"
#include "sinapsi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_report_opts {
    const char *log;                /* the run's JSON-lines log (required) */
    sn_model *model;                /* the trained model, compiled; or NULL */
    const sn_dataset *test;         /* the split to evaluate the model on; or NULL */
    const char *const *class_names; /* n_class_names names, or NULL: Fashion-MNIST's when
                                       recognised (sn_report_fashion_mnist), else numbers */
    int n_class_names;
    int max_misclassified; /* images in the misclassified grid (default 32) */
} sn_report_opts;

sn_report_opts sn_report_defaults(void);

/* Writes the report into dir (created if missing; files of an earlier report
 * are overwritten). Errors name the file. */
sn_status sn_report_write(const char *dir, const sn_report_opts *opts);

/* The predicted class of each of ds's examples, in evaluation mode (in chunks
 * through sn_model_forward): the arg-max of the outputs (the first of equal
 * maxima), or for one output 1 when it is at least the task's threshold
 * (sinapsi/train.h). predicted (n), labels (n) as stored (class indices). The
 * model must be compiled for ds's example shape. */
sn_status sn_report_predict(sn_model *m, const sn_dataset *ds, int32_t *predicted, float *labels);

/* counts (n_classes, n_classes): counts[true * n_classes + predicted] over n
 * examples. A label or prediction outside [0, n_classes) is SN_ERR_RANGE. */
sn_status sn_report_confusion(const int32_t *predicted, const float *labels, int64_t n,
                              int n_classes, int64_t *counts);

/* Fashion-MNIST's ten class names, in label order. */
extern const char *const sn_report_fashion_mnist[10];

/* 1 when ds looks like Fashion-MNIST: its source names it ("fashion" in the
 * path, any case), 10 classes, examples 1x28x28 or 784. */
int sn_report_is_fashion_mnist(const sn_dataset *ds);

#ifdef __cplusplus
}
#endif
#endif
