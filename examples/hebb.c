/*
 * Hebbian learning through the C API, on the first 10,000 Fashion-MNIST
 * training images (pixels in [0, 1], centred by the learner):
 *
 *   - Oja's rule learns one unit w; it should end as the first principal
 *     component (unit norm, |cosine| near 1 with the component computed by
 *     power iteration);
 *   - Sanger's rule learns the first three components, one per unit;
 *   - the plain Hebb rule's norm grows every epoch, without bound.
 *
 * Exits 0 only if every |cosine| is at least 0.99, so the test suite runs it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sinapsi/sinapsi.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define D 784

static void print_norms(const sn_hebb_epoch *e, void *user) {
    (void)user;
    printf("  epoch %d, lr %.3g: |w|", e->epoch, e->lr);
    for (int j = 0; j < e->components; j++) printf(" %.4g", e->norm[j]);
    printf("\n");
}

/* Prints and returns the smallest |cosine| of unit j with component j. */
static double compare(const sn_hebb *h, const double *pc) {
    double worst = 1.0;
    for (int j = 0; j < sn_hebb_components(h); j++) {
        const float *w = sn_hebb_weights(h) + j * D;
        double dot = 0.0, norm = 0.0;
        for (int i = 0; i < D; i++) {
            dot += w[i] * pc[j * D + i];
            norm += (double)w[i] * w[i];
        }
        const double cosine = fabs(dot) / sqrt(norm);
        printf("  unit %d: |cosine| %.5f with component %d, |w| %.5f\n", j + 1, cosine, j + 1,
               sqrt(norm));
        if (cosine < worst) worst = cosine;
    }
    return worst;
}

int main(void) {
    sn_dataset *train;
    sn_data_opts data = sn_data_defaults();
    data.limit = 10000;
    if (sn_dataset_load(FASHION_DIR, &data, &train, NULL) != SN_OK) {
        fprintf(stderr, "%s\n", sn_last_error());
        return 1;
    }
    double *pc = malloc(sizeof *pc * 3 * D), variance[3];
    if (!pc || sn_principal_components(train, 3, 10000, pc, variance) != SN_OK) return 1;
    printf("variances along the first three components: %.3f %.3f %.3f\n", variance[0], variance[1],
           variance[2]);

    double worst = 1.0;
    const sn_hebb_rule rules[] = {SN_HEBB_OJA, SN_HEBB_SANGER, SN_HEBB_PLAIN};
    for (int r = 0; r < 3; r++) {
        sn_hebb_opts o = sn_hebb_defaults(); /* lr 1e-3 / (1 + epoch) */
        o.rule = rules[r];
        o.components = rules[r] == SN_HEBB_SANGER ? 3 : 1;
        o.max_epochs = rules[r] == SN_HEBB_PLAIN ? 3 : 5;
        if (rules[r] == SN_HEBB_PLAIN) {
            o.lr = 1e-5; /* small, or it overflows within a few epochs */
            o.lr_decay = 0.0;
        }
        o.on_epoch = print_norms;
        printf("%s:\n", sn_hebb_rule_name(o.rule));
        sn_hebb *h;
        if (sn_hebb_train(&h, train, &o) != SN_OK) {
            fprintf(stderr, "%s\n", sn_last_error());
            return 1;
        }
        const double cosine = compare(h, pc);
        if (rules[r] != SN_HEBB_PLAIN && cosine < worst) worst = cosine;
        sn_hebb_destroy(h);
    }
    free(pc);
    sn_dataset_destroy(train);
    printf("%s: smallest |cosine| of Oja and Sanger %.5f\n", worst >= 0.99 ? "ok" : "FAILED",
           worst);
    return worst >= 0.99 ? 0 : 1;
}
