/*
 * How a model's outputs meet a dataset's targets (sinapsi/train.h): the
 * default loss, the checks that the loss fits the outputs and the targets,
 * one-hot targets, and counting correct predictions. Shared by the trainer and
 * `sinapsi eval`, so that both pick the same loss and count the same way.
 */
#include <string.h>

#include "core/error.h"
#include "sinapsi/train.h"

/* The last module that changes values (a trailing Dropout or Identity does not). */
static sn_module_kind last_kind(const sn_model *m) {
    for (int i = sn_model_module_count(m) - 1; i >= 0; i--) {
        sn_module_kind kind = sn_model_module(m, i)->kind;
        if (kind != SN_MOD_DROPOUT && kind != SN_MOD_IDENTITY) return kind;
    }
    return SN_MOD_IDENTITY;
}

/* The loss a PyTorch user would pair with this output layer and these targets. */
static sn_status default_loss(sn_module_kind last, const sn_task *t, sn_loss_kind *loss) {
    if (!t->n_classes)
        *loss = SN_LOSS_MSE;
    else if (last == SN_MOD_LOG_SOFTMAX)
        *loss = SN_LOSS_NLL;
    else if (last == SN_MOD_SOFTMAX)
        return sn_error(SN_ERR_INVALID_ARG,
                        "the model ends with Softmax, whose probabilities no default loss takes "
                        "(cross_entropy wants logits, nll LogSoftmax): choose a loss");
    else if (t->out_width == 1)
        *loss = last == SN_MOD_SIGMOID ? SN_LOSS_BCE
                : last == SN_MOD_STEP  ? SN_LOSS_MSE
                                       : SN_LOSS_BCE_WITH_LOGITS;
    else
        *loss = last == SN_MOD_SIGMOID ? SN_LOSS_BCE : SN_LOSS_CROSS_ENTROPY;
    return SN_OK;
}

/* Checks that the loss can compare these outputs with these targets. */
static sn_status check_task(const char *data, const sn_shape *out, sn_task *t) {
    const char *loss = sn_loss_name(t->loss);
    const int class_loss = t->loss == SN_LOSS_CROSS_ENTROPY || t->loss == SN_LOSS_NLL;
    if (!t->n_classes) {
        if (class_loss)
            return sn_error(SN_ERR_INVALID_ARG,
                            "%s: %s needs class labels, but the targets are float values", data,
                            loss);
        if (t->target_size != t->out_width)
            return sn_error(SN_ERR_SHAPE,
                            "%s: targets of %lld values, but the model gives %lld per example",
                            data, (long long)t->target_size, (long long)t->out_width);
        return SN_OK;
    }
    if (out->ndim != 1)
        return sn_error(SN_ERR_SHAPE,
                        "class labels need outputs (batch, classes), but one output of the "
                        "model has %d dimensions",
                        out->ndim);
    if (t->out_width == 1) {
        if (t->loss != SN_LOSS_MSE && t->n_classes > 2)
            return sn_error(SN_ERR_SHAPE,
                            "%s: %d classes, but the model has one output and %s needs labels 0 "
                            "or 1",
                            data, t->n_classes, loss);
        if (class_loss)
            return sn_error(SN_ERR_SHAPE, "%s needs one output per class, and the model has one",
                            loss);
        return SN_OK;
    }
    if (t->n_classes > t->out_width)
        return sn_error(SN_ERR_SHAPE, "%s: labels up to %d, but the model has %lld outputs", data,
                        t->n_classes - 1, (long long)t->out_width);
    t->one_hot = !class_loss;
    return SN_OK;
}

sn_status sn_task_make(const sn_model *m, const sn_dataset *ds, sn_loss_kind loss, sn_task *out) {
    if (!m || !ds || !out) return sn_error(SN_ERR_INVALID_ARG, "task: NULL argument");
    sn_shape shape;
    sn_status st = sn_model_output_shape(m, &shape);
    if (st != SN_OK) return st;
    const sn_module_kind last = last_kind(m);
    sn_task t;
    memset(&t, 0, sizeof t);
    t.loss = loss;
    t.n_classes = sn_dataset_num_classes(ds);
    t.target_size = sn_dataset_target_size(ds);
    t.out_width = sn_shape_numel(&shape);
    /* One output: a probability (Sigmoid) or a step is class 1 from 0.5, a
     * logit from 0. */
    t.threshold = last == SN_MOD_SIGMOID || last == SN_MOD_STEP ? 0.5f : 0.0f;
    if (t.loss == SN_LOSS_NONE && (st = default_loss(last, &t, &t.loss)) != SN_OK) return st;
    if ((st = check_task(sn_dataset_source(ds), &shape, &t)) != SN_OK) return st;
    *out = t;
    return SN_OK;
}

sn_status sn_task_targets(const sn_task *t, const float *labels, int64_t k, float *target) {
    if (!t->one_hot) {
        memcpy(target, labels, sizeof(float) * (size_t)(k * t->target_size));
        return SN_OK;
    }
    memset(target, 0, sizeof(float) * (size_t)(k * t->out_width));
    for (int64_t i = 0; i < k; i++) {
        /* A label from data is not trusted to index the row. */
        if (!(labels[i] >= 0.0f && labels[i] < (float)t->out_width))
            return sn_error(SN_ERR_RANGE, "label %g of example %lld is outside [0, %lld)",
                            (double)labels[i], (long long)i, (long long)t->out_width);
        target[i * t->out_width + (int64_t)labels[i]] = 1.0f;
    }
    return SN_OK;
}

int64_t sn_task_correct(const sn_task *t, const float *out, const float *labels, int64_t k) {
    int64_t correct = 0;
    for (int64_t i = 0; i < k; i++) {
        const float *row = out + i * t->out_width;
        int64_t predicted = 0;
        if (t->out_width == 1) {
            predicted = row[0] >= t->threshold;
        } else {
            /* torch.argmax: the first of equal maxima. */
            for (int64_t c = 1; c < t->out_width; c++)
                if (row[c] > row[predicted]) predicted = c;
        }
        correct += predicted == (int64_t)labels[i];
    }
    return correct;
}
