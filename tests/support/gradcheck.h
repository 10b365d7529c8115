/*
 * Central-difference gradient check over a compiled graph.
 *
 * The objective is J = sum_i r_i * out_i with fixed random weights r (so every
 * output element matters with a different weight). The analytic gradient of J
 * with respect to every parameter and every input that requires a gradient comes
 * from sn_graph_backward_from(out, r); the numeric one from
 *     dJ/dv ~ (J(v + h) - J(v - h)) / 2h
 * with J summed in double. An element passes when
 *     |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).
 * Kinks (ReLU at 0, max ties, step) are detected by comparing the estimate at h
 * and at h/2; such elements are skipped and counted. A tensor whose numeric
 * gradient is zero everywhere makes the check fail as vacuous, so that zeros
 * compared with zeros can never pass.
 */
#ifndef SN_TEST_GRADCHECK_H
#define SN_TEST_GRADCHECK_H

#include "sinapsi/graph.h"

typedef struct sn_gradcheck_opts {
    double h;           /* step (default 1e-2) */
    double rtol, atol;  /* default 1e-2, 1e-3 */
    int max_per_tensor; /* elements checked per tensor, spread evenly (default 256) */
    uint64_t seed;      /* seed of the weights r */
    int perturb_node;   /* negative control: this op node's backward is corrupted
                           (SN_NONE for the real check) */
    int perturb_zero;   /* with perturb_node: its backward adds nothing at all */
} sn_gradcheck_opts;

typedef struct sn_gradcheck_result {
    int checked;     /* elements compared */
    int significant; /* of which max(|a|,|n|) > atol */
    int skipped_kinks;
    int failed;
    int vacuous_tensors; /* tensors whose numeric gradient was all zero */
    double max_abs_err;
    char worst[160]; /* "0.weight[12]: analytic 0.31 numeric 0.29" */
} sn_gradcheck_result;

sn_gradcheck_opts sn_gradcheck_defaults(void);

/* Runs the check; returns 1 if it passed (no failure, nothing vacuous, at least
 * one significant element), 0 otherwise. The graph must be compiled. */
int sn_gradcheck(sn_graph *g, int out, const sn_gradcheck_opts *opts, sn_gradcheck_result *res);

#endif
