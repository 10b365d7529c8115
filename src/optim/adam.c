/*
 * Adam and AdamW as torch.optim.Adam / AdamW (1.13, _single_tensor_adam(w),
 * amsgrad=False):
 *   m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2
 *   theta <- theta - (lr / (1 - b1^t)) * m / (sqrt(s) / sqrt(1 - b2^t) + eps)
 * Adam adds wd*theta to g; AdamW first scales theta by (1 - lr wd).
 *   theta, grad, m, s: (n), one loop cut into spans that the pool's threads
 *   take (src/ops/chunks.h); every element is updated alone, so any thread
 *   count gives the same bits.
 */
#include "optim/optim_internal.h"

#include <math.h>

#include "ops/chunks.h"
#include "sinapsi/threads.h"

typedef struct adam_job {
    float *theta, *m, *s;
    const float *grad;
    float b1, b2, one_minus_b1, one_minus_b2, wd, step_size, bc2_sqrt, eps, decay;
    int decoupled;
} adam_job;

static void adam_span(void *ctx, int64_t begin, int64_t end) {
    const adam_job *j = ctx;
    float *restrict theta = j->theta, *restrict m = j->m, *restrict s = j->s;
    const float *restrict grad = j->grad;
    const float b1 = j->b1, b2 = j->b2, one_minus_b1 = j->one_minus_b1;
    const float one_minus_b2 = j->one_minus_b2, wd = j->wd, step_size = j->step_size;
    const float bc2_sqrt = j->bc2_sqrt, eps = j->eps, decay = j->decay;
    const int decoupled = j->decoupled;
    for (int64_t i = begin; i < end; i++) {
        float g = grad[i];
        if (decoupled)
            theta[i] *= decay;
        else
            g += wd * theta[i];
        m[i] = m[i] * b1 + one_minus_b1 * g;
        s[i] = s[i] * b2 + one_minus_b2 * g * g;
        float denom = sqrtf(s[i]) / bc2_sqrt + eps;
        theta[i] -= step_size * (m[i] / denom);
    }
}

void sn_adam_update(sn_optim *o, float *theta, const float *grad, double lr) {
    const sn_optim_opts *p = &o->opts;
    /* Scalars as torch forms them: in Python doubles, rounded to float when
     * applied to a float tensor. */
    const double bc1 = 1.0 - pow(p->beta1, (double)o->steps);
    const double bc2 = 1.0 - pow(p->beta2, (double)o->steps);
    adam_job j = {.theta = theta,
                  .m = o->state[0],
                  .s = o->state[1],
                  .grad = grad,
                  .b1 = (float)p->beta1,
                  .b2 = (float)p->beta2,
                  .one_minus_b1 = (float)(1.0 - p->beta1),
                  .one_minus_b2 = (float)(1.0 - p->beta2),
                  .wd = (float)p->weight_decay,
                  .step_size = (float)(lr / bc1),
                  .bc2_sqrt = (float)sqrt(bc2),
                  .eps = (float)p->eps,
                  .decay = (float)(1.0 - lr * p->weight_decay), /* AdamW: param.mul_(1 - lr*wd) */
                  .decoupled = p->kind == SN_OPTIM_ADAMW};
    sn_parallel_items((int64_t)o->n, 1, sn_get_threads(), adam_span, &j);
}
