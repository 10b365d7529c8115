/*
 * SGD with momentum, Nesterov and weight decay, as torch.optim.SGD (1.13,
 * _single_tensor_sgd), and the textbook velocity form.
 *   theta, grad, buf: (n), one loop over the parameter block, cut into spans
 *   that the pool's threads take (src/ops/chunks.h); every element is updated
 *   alone, so any thread count gives the same bits.
 */
#include "optim/optim_internal.h"

#include "ops/chunks.h"
#include "sinapsi/threads.h"

typedef enum sgd_form { SGD_PLAIN, SGD_VELOCITY, SGD_MOMENTUM } sgd_form;

typedef struct sgd_job {
    float *theta, *buf;
    const float *grad;
    sgd_form form;
    float wd, mu, keep, lr;
    int first, nesterov;
} sgd_job;

static void sgd_span(void *ctx, int64_t begin, int64_t end) {
    const sgd_job *j = ctx;
    float *restrict theta = j->theta, *restrict buf = j->buf;
    const float *restrict grad = j->grad;
    const float wd = j->wd, mu = j->mu, keep = j->keep, lr = j->lr;
    const int first = j->first, nesterov = j->nesterov;
    switch (j->form) {
    case SGD_PLAIN:
        for (int64_t i = begin; i < end; i++) theta[i] -= lr * (grad[i] + wd * theta[i]);
        break;
    case SGD_VELOCITY:
        /* v <- mu v - lr g; theta <- theta + v (v starts at 0). */
        for (int64_t i = begin; i < end; i++) {
            float g = grad[i] + wd * theta[i];
            buf[i] = mu * buf[i] - lr * g;
            theta[i] += buf[i];
        }
        break;
    case SGD_MOMENTUM:
        for (int64_t i = begin; i < end; i++) {
            float g = grad[i] + wd * theta[i];
            buf[i] = first ? g : mu * buf[i] + keep * g;
            float d = nesterov ? g + mu * buf[i] : buf[i];
            theta[i] -= lr * d;
        }
        break;
    }
}

void sn_sgd_update(sn_optim *o, float *theta, const float *grad, double lr_double) {
    const sn_optim_opts *p = &o->opts;
    /* torch applies Python-float scalars to float tensors as floats; 1 - dampening
     * is formed in double first, as in torch's Python code. */
    sgd_job j = {.theta = theta,
                 .buf = o->state[0],
                 .grad = grad,
                 .form = p->momentum == 0.0 ? SGD_PLAIN
                         : p->velocity_form ? SGD_VELOCITY
                                            : SGD_MOMENTUM,
                 .wd = (float)p->weight_decay,
                 .mu = (float)p->momentum,
                 .keep = (float)(1.0 - p->dampening),
                 .lr = (float)lr_double,
                 .first = o->steps == 1, /* torch: the buffer starts as a clone of d_p */
                 .nesterov = p->nesterov};
    sn_parallel_items((int64_t)o->n, 1, sn_get_threads(), sgd_span, &j);
}
