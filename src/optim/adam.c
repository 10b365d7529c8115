/*
 * Adam and AdamW as torch.optim.Adam / AdamW (1.13, _single_tensor_adam(w),
 * amsgrad=False):
 *   m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2
 *   theta <- theta - (lr / (1 - b1^t)) * m / (sqrt(s) / sqrt(1 - b2^t) + eps)
 * Adam adds wd*theta to g; AdamW first scales theta by (1 - lr wd).
 *   theta, grad, m, s: (n).
 */
#include "optim/optim_internal.h"

#include <math.h>

void sn_adam_update(sn_optim *o, float *theta, const float *grad, double lr) {
    const sn_optim_opts *p = &o->opts;
    /* Scalars as torch forms them: in Python doubles, rounded to float when
     * applied to a float tensor. */
    const float b1 = (float)p->beta1, b2 = (float)p->beta2, eps = (float)p->eps;
    const float one_minus_b1 = (float)(1.0 - p->beta1), one_minus_b2 = (float)(1.0 - p->beta2);
    const float wd = (float)p->weight_decay;
    const int decoupled = p->kind == SN_OPTIM_ADAMW;
    const long n = (long)o->n;
    float *m = o->state[0], *s = o->state[1];
    const double bc1 = 1.0 - pow(p->beta1, (double)o->steps);
    const double bc2 = 1.0 - pow(p->beta2, (double)o->steps);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = (float)(1.0 - lr * p->weight_decay); /* AdamW: param.mul_(1 - lr*wd) */
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
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
