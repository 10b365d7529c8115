/*
 * SGD with momentum, Nesterov and weight decay, as torch.optim.SGD (1.13,
 * _single_tensor_sgd), and the textbook velocity form.
 *   theta, grad, buf: (n), one loop over the parameter block.
 */
#include "optim/optim_internal.h"

void sn_sgd_update(sn_optim *o, float *theta, const float *grad, double lr_double) {
    const sn_optim_opts *p = &o->opts;
    /* torch applies Python-float scalars to float tensors as floats; 1 - dampening
     * is formed in double first, as in torch's Python code. */
    const float wd = (float)p->weight_decay, mu = (float)p->momentum;
    const float keep = (float)(1.0 - p->dampening), lr = (float)lr_double;
    const long n = (long)o->n;
    float *buf = o->state[0];
    const int first = o->steps == 1; /* torch: the buffer starts as a clone of d_p */
    if (p->momentum == 0.0) {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) theta[i] -= lr * (grad[i] + wd * theta[i]);
        return;
    }
    if (p->velocity_form) {
        /* v <- mu v - lr g; theta <- theta + v (v starts at 0). */
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) {
            float g = grad[i] + wd * theta[i];
            buf[i] = mu * buf[i] - lr * g;
            theta[i] += buf[i];
        }
        return;
    }
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        float g = grad[i] + wd * theta[i];
        buf[i] = first ? g : mu * buf[i] + keep * g;
        float d = p->nesterov ? g + mu * buf[i] : buf[i];
        theta[i] -= lr * d;
    }
}
