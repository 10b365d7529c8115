/*
 * The principal components that the Hebbian rules should find, computed
 * directly: the covariance C = (1/n) Σ (x - mean)(x - mean)ᵀ of a dataset, then
 * power iteration v <- Cv / ||Cv|| for the top eigenvector, deflation
 * C <- C - λ v vᵀ, and again for the next one (Golub & Van Loan, §7.3.1).
 *
 * C is summed in double over chunks; each chunk's Xcᵀ Xc (d, d) goes through
 * the GEMM seam in float (sums of at most LEARN_CHUNK products), so that the
 * 60,000 Fashion-MNIST images take a second, not the minutes of a scalar loop.
 */
#include "sinapsi/learn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "core/error.h"
#include "optim/learn_internal.h"

/* The covariance (d, d) in double and one chunk's in float take 12·d² bytes: 7.4 MB for
 * 784 features, 201 MB at this limit. */
#define PCA_MAX_FEATURES 4096

typedef struct covariance_run {
    int64_t d;
    const double *mean; /* (d) */
    float *centred;     /* (LEARN_CHUNK, d) */
    float *gram;        /* (d, d) one chunk's Xcᵀ Xc */
    double *cov;        /* (d, d) the running sum */
} covariance_run;

static sn_status gram_chunk(const float *x, const float *y, int64_t count, void *user) {
    covariance_run *c = user;
    const int64_t d = c->d;
    (void)y;
    for (int64_t r = 0; r < count; r++)
        for (int64_t i = 0; i < d; i++)
            c->centred[r * d + i] = (float)((double)x[r * d + i] - c->mean[i]);
    /* gram (d, d) = centredᵀ (d, count) · centred (count, d) */
    sn_sgemm(1, 0, (int)d, (int)d, (int)count, 1.0f, c->centred, (int)d, c->centred, (int)d, 0.0f,
             c->gram, (int)d);
    for (int64_t i = 0; i < d * d; i++) c->cov[i] += c->gram[i];
    return SN_OK;
}

/* Power iteration on cov (d, d) from v (d, a unit vector); returns vᵀCv. */
static double power_iteration(const double *cov, int64_t d, int max_iterations, double *v,
                              double *next) {
    double lambda = 0.0;
    for (int it = 0; it < max_iterations; it++) {
        double norm = 0.0;
        for (int64_t i = 0; i < d; i++) {
            double s = 0.0;
            for (int64_t j = 0; j < d; j++) s += cov[i * d + j] * v[j];
            next[i] = s;
            norm += s * s;
        }
        norm = sqrt(norm);
        if (norm == 0.0) return 0.0; /* v is in the null space: no variance left */
        double change = 0.0;
        for (int64_t i = 0; i < d; i++) {
            next[i] /= norm;
            change += (next[i] - v[i]) * (next[i] - v[i]);
            v[i] = next[i];
        }
        lambda = norm; /* ||Cv|| -> λ as v -> the eigenvector */
        if (sqrt(change) < 1e-12) break;
    }
    return lambda;
}

sn_status sn_principal_components(const sn_dataset *ds, int k, int max_iterations,
                                  double *components, double *variances) {
    int64_t d;
    sn_status st = sn_learn_features(ds, "principal components", &d);
    if (st != SN_OK) return st;
    if (!components || !variances || k < 1 || k > d || max_iterations < 1)
        return sn_error(
            SN_ERR_INVALID_ARG, "principal components: k = %d (1..%lld), %d iterations, outputs %s",
            k, (long long)d, max_iterations, components && variances ? "given" : "missing");
    if (d > PCA_MAX_FEATURES)
        return sn_error(SN_ERR_UNSUPPORTED,
                        "principal components: %s has %lld features; the covariance is kept for "
                        "at most %d",
                        sn_dataset_source(ds), (long long)d, PCA_MAX_FEATURES);
    const int64_t n = sn_dataset_count(ds);
    covariance_run c = {.d = d};
    int64_t *order = malloc(sizeof *order * (size_t)n);
    double *mean = calloc((size_t)d, sizeof *mean), *next = malloc(sizeof *next * (size_t)d);
    c.centred = malloc(sizeof *c.centred * (size_t)(LEARN_CHUNK * d));
    c.gram = malloc(sizeof *c.gram * (size_t)(d * d));
    c.cov = calloc((size_t)(d * d), sizeof *c.cov);
    if (!order || !mean || !next || !c.centred || !c.gram || !c.cov) {
        st = sn_error(SN_ERR_NOMEM, "principal components: out of memory for %lld features",
                      (long long)d);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) order[i] = i;
    if ((st = sn_learn_mean(ds, d, mean)) != SN_OK) goto done;
    c.mean = mean;
    if ((st = sn_learn_each_chunk(ds, d, order, n, gram_chunk, &c)) != SN_OK) goto done;
    for (int64_t i = 0; i < d * d; i++) c.cov[i] /= (double)n;

    /* A fixed start with a part along every axis, so no component is missed. */
    sn_rng rng;
    sn_rng_seed(&rng, 0, SN_STREAM_INIT);
    for (int comp = 0; comp < k; comp++) {
        double *v = components + comp * d, norm = 0.0;
        for (int64_t i = 0; i < d; i++) {
            v[i] = 1.0 + sn_rng_uniform_double(&rng);
            norm += v[i] * v[i];
        }
        for (int64_t i = 0; i < d; i++) v[i] /= sqrt(norm);
        const double lambda = power_iteration(c.cov, d, max_iterations, v, next);
        variances[comp] = lambda;
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < d; j++) c.cov[i * d + j] -= lambda * v[i] * v[j];
    }

done:
    free(order);
    free(mean);
    free(next);
    free(c.centred);
    free(c.gram);
    free(c.cov);
    return st;
}
