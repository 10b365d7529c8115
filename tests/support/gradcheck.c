#include "support/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"

sn_gradcheck_opts sn_gradcheck_defaults(void) {
    sn_gradcheck_opts o = {.h = 1e-2,
                           .rtol = 1e-2,
                           .atol = 1e-3,
                           .max_per_tensor = 256,
                           .seed = 1234,
                           .perturb_node = SN_NONE};
    return o;
}

/* ---- negative control: a backward that is right except for one element ---- */

static const sn_op *perturbed_original; /* the op whose backward is wrapped */

/* The other negative control: a backward that forgets to accumulate anything. */
static void dropped_backward(sn_op_io *io) {
    (void)io;
}

/* Runs the real backward, then corrupts the largest-magnitude element of each
 * input gradient it produced by 10% plus a small constant: the kind of slip
 * (one wrong index, one missing term) the check exists to catch. */
static void perturbed_backward(sn_op_io *io) {
    float *before[SN_OP_MAX_IN] = {0};
    size_t numel[SN_OP_MAX_IN] = {0};
    for (int i = 0; i < io->n_in; i++) {
        if (!io->din[i]) continue;
        numel[i] = (size_t)sn_shape_numel(&io->in_shape[i]);
        before[i] = malloc(numel[i] * sizeof(float));
        if (before[i]) memcpy(before[i], io->din[i], numel[i] * sizeof(float));
    }
    perturbed_original->backward(io);
    for (int i = 0; i < io->n_in; i++) {
        if (!before[i]) continue;
        size_t arg = 0;
        float best = -1.0f;
        for (size_t k = 0; k < numel[i]; k++) {
            float contribution = fabsf(io->din[i][k] - before[i][k]);
            if (contribution > best) best = contribution, arg = k;
        }
        io->din[i][arg] += 0.1f * (io->din[i][arg] - before[i][arg]) + 0.01f;
        free(before[i]);
    }
}

/* ---- the check ---- */

/* J = sum r_i out_i in double, after a forward with the dropout stream reset so
 * that every evaluation sees the same mask. */
static double objective(sn_graph *g, int out, const float *r, size_t n, const sn_rng *rng0) {
    *sn_graph_rng(g) = *rng0;
    if (sn_graph_forward(g) != SN_OK) return NAN;
    const float *y = sn_graph_value(g, out);
    double j = 0;
    for (size_t i = 0; i < n; i++) j += (double)r[i] * (double)y[i];
    return j;
}

static double central(sn_graph *g, int out, const float *r, size_t n, const sn_rng *rng0, float *v,
                      double h) {
    const float saved = *v;
    *v = (float)(saved + h);
    double hi = objective(g, out, r, n, rng0);
    *v = (float)(saved - h);
    double lo = objective(g, out, r, n, rng0);
    /* The step actually taken in float, not the nominal h. */
    double step = (double)(float)(saved + h) - (double)(float)(saved - h);
    *v = saved;
    return (hi - lo) / step;
}

int sn_gradcheck(sn_graph *g, int out, const sn_gradcheck_opts *opts, sn_gradcheck_result *res) {
    sn_gradcheck_opts o = opts ? *opts : sn_gradcheck_defaults();
    memset(res, 0, sizeof *res);
    const sn_shape *out_shape = sn_graph_shape(g, out);
    if (!out_shape) {
        snprintf(res->worst, sizeof res->worst, "output node %d has no shape", out);
        return 0;
    }
    size_t n_out = (size_t)sn_shape_numel(out_shape);
    float *r = malloc(n_out * sizeof(float));
    float *analytic = NULL;
    sn_rng rng;
    sn_rng_seed(&rng, o.seed, 99);
    for (size_t i = 0; i < n_out; i++) r[i] = 2.0f * sn_rng_uniform(&rng) - 1.0f;
    const sn_rng rng0 = *sn_graph_rng(g);

    /* Analytic gradient, with the op under test optionally corrupted. */
    sn_node *victim = o.perturb_node != SN_NONE ? sn_graph_node_at(g, o.perturb_node) : NULL;
    const sn_op *saved_op = victim ? victim->op : NULL;
    sn_op wrapped;
    if (victim) {
        perturbed_original = victim->op;
        wrapped = *victim->op;
        wrapped.backward = o.perturb_zero ? dropped_backward : perturbed_backward;
        victim->op = &wrapped;
    }
    *sn_graph_rng(g) = rng0;
    int ok = sn_graph_forward(g) == SN_OK;
    sn_graph_zero_grad(g);
    ok = ok && sn_graph_backward_from(g, out, r) == SN_OK;
    if (victim) victim->op = saved_op;
    if (!ok) {
        snprintf(res->worst, sizeof res->worst, "forward/backward failed: %s", sn_last_error());
        free(r);
        return 0;
    }

    for (int id = 0; id < sn_graph_node_count(g); id++) {
        float *grad = sn_graph_grad(g, id);
        sn_node *n = sn_graph_node_at(g, id);
        if (!grad || n->kind == SN_NODE_OP) continue; /* leaves only: params, inputs */
        size_t numel = (size_t)sn_shape_numel(&n->shape);
        free(analytic);
        analytic = malloc(numel * sizeof(float));
        memcpy(analytic, grad, numel * sizeof(float));
        float *value = sn_graph_value(g, id);
        size_t stride = numel > (size_t)o.max_per_tensor ? numel / (size_t)o.max_per_tensor : 1;
        int tensor_significant = 0;
        for (size_t k = 0; k < numel; k += stride) {
            double num = central(g, out, r, n_out, &rng0, &value[k], o.h);
            double num_half = central(g, out, r, n_out, &rng0, &value[k], o.h / 2);
            double a = analytic[k];
            double scale = fmax(fabs(a), fabs(num));
            /* A kink between v-h and v+h makes the two estimates disagree. */
            if (fabs(num - num_half) > o.atol + o.rtol * fmax(fabs(num), fabs(num_half))) {
                res->skipped_kinks++;
                continue;
            }
            res->checked++;
            if (fabs(num) > o.atol) tensor_significant = 1;
            if (scale > o.atol) res->significant++;
            double err = fabs(a - num);
            if (err > res->max_abs_err || !(err == err)) {
                res->max_abs_err = err;
            }
            if (!(err <= o.atol + o.rtol * scale)) {
                if (res->failed == 0)
                    snprintf(res->worst, sizeof res->worst, "%s[%zu]: analytic %.6g numeric %.6g",
                             n->name, k, a, num);
                res->failed++;
            }
        }
        if (!tensor_significant) res->vacuous_tensors++;
    }
    free(analytic);
    free(r);
    /* Restore the state the caller had. */
    *sn_graph_rng(g) = rng0;
    return res->failed == 0 && res->vacuous_tensors == 0 && res->significant > 0 &&
           res->skipped_kinks <= res->checked / 4;
}
