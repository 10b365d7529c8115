/*
 * sn_evaluate: a model's loss and accuracy over a whole dataset, in
 * evaluation mode (sinapsi/train.h).
 *
 * The loss is PyTorch's reduction='mean' over the whole set: the per-batch
 * sums are added up and divided by the examples (cross_entropy, nll) or by the
 * target elements (bce, bce_with_logits, mse), as torch's mean does
 * (https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html). A graph
 * compiled with reduction mean gives per-batch means, which are scaled back to
 * sums by their term count first.
 */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "nn/model_internal.h"
#include "sinapsi/train.h"
#include "train/clock.h"

/* Terms a loss averages over per example: one for class losses, one per output
 * element for the element-wise ones. */
static double terms_per_example(const sn_task *t) {
    return t->loss == SN_LOSS_CROSS_ENTROPY || t->loss == SN_LOSS_NLL ? 1.0 : (double)t->out_width;
}

sn_status sn_evaluate(sn_model *m, const sn_dataset *ds, const sn_task *t, sn_eval_result *out) {
    if (!m || !ds || !t || !out) return sn_error(SN_ERR_INVALID_ARG, "evaluate: NULL argument");
    sn_graph *g = sn_model_graph(m);
    if (!g || sn_model_loss_node(m) == SN_NONE || m->opts.loss != t->loss)
        return sn_error(SN_ERR_STATE, "evaluate: compile the model with the %s loss first",
                        sn_loss_name(t->loss));
    const int64_t n = sn_dataset_count(ds), batch = m->opts.batch;
    if (n < 1)
        return sn_error(SN_ERR_INVALID_ARG, "%s: no examples to evaluate", sn_dataset_source(ds));
    const int64_t previous_batch = sn_graph_batch(g);
    int64_t *idx = malloc(sizeof *idx * (size_t)batch);
    float *labels = malloc(sizeof *labels * (size_t)(batch * t->target_size)); /* (batch, ts) */
    sn_status st = SN_OK;
    if (!idx || !labels) {
        st =
            sn_error(SN_ERR_NOMEM, "evaluate: out of memory for a batch of %lld", (long long)batch);
        goto done;
    }
    const double per_example = terms_per_example(t);
    const int mean = m->opts.reduction == SN_REDUCTION_MEAN;
    sn_graph_set_training(g, 0);
    double loss_sum = 0.0;
    const double start = sn_train__now();
    out->correct = 0;
    for (int64_t first = 0; first < n && st == SN_OK; first += batch) {
        const int64_t k = n - first < batch ? n - first : batch;
        for (int64_t i = 0; i < k; i++) idx[i] = first + i;
        if ((st = sn_graph_set_batch(g, k)) != SN_OK) break;
        float *x = sn_graph_value(g, sn_model_input_node(m));       /* (k, sample...) */
        float *target = sn_graph_value(g, sn_model_target_node(m)); /* (k, loss target) */
        if ((st = sn_dataset_batch(ds, idx, k, x, labels)) != SN_OK) break;
        if ((st = sn_task_targets(t, labels, k, target)) != SN_OK) {
            sn_error_prefix("%s: examples %lld to %lld: ", sn_dataset_source(ds), (long long)first,
                            (long long)(first + k - 1));
            break;
        }
        if ((st = sn_graph_forward(g)) != SN_OK) break;
        const double value = sn_graph_value(g, sn_model_loss_node(m))[0];
        loss_sum += mean ? value * (double)k * per_example : value;
        if (t->n_classes)
            out->correct +=
                sn_task_correct(t, sn_graph_value(g, sn_model_output_node(m)), labels, k);
    }
    if (st == SN_OK) {
        out->seconds = sn_train__now() - start;
        out->n = n;
        out->loss = loss_sum / ((double)n * per_example);
        out->accuracy = t->n_classes ? (double)out->correct / (double)n : NAN;
    }
    if (previous_batch > 0 && previous_batch != sn_graph_batch(g)) {
        /* Put the graph back as it was; the batch was valid before, so this holds. */
        sn_status restore = sn_graph_set_batch(g, previous_batch);
        if (st == SN_OK) st = restore;
    }
done:
    free(idx);
    free(labels);
    return st;
}
