/*
 * sinapsi/optim.h: optimisers over the parameter block, learning-rate
 * schedules, gradient clipping.
 *
 * An optimiser updates the whole parameter block of a graph in one loop,
 * keeping its per-parameter state (momentum, Adam's moments) in blocks parallel
 * to it. The updates follow torch.optim (1.13) exactly:
 *
 *   SGD   g <- grad + wd*theta;  b <- mu*b + (1-dampening)*g  (b = g at step 1);
 *         g <- g + mu*b (Nesterov) or g <- b;  theta <- theta - lr*g
 *   SGD, velocity form (the course's): v <- alpha*v - lr*g; theta <- theta + v.
 *         For a constant lr it equals torch's form (v = -lr*b); with a schedule
 *         the two differ in when the rate applies.
 *   Adam  g <- grad + wd*theta; m <- b1*m + (1-b1)*g; s <- b2*s + (1-b2)*g^2;
 *         theta <- theta - lr/(1-b1^t) * m / (sqrt(s)/sqrt(1-b2^t) + eps)
 *   AdamW as Adam with g <- grad, after theta <- theta*(1 - lr*wd) (decoupled).
 *
 *     sn_optim_opts o = sn_optim_defaults(SN_OPTIM_SGD);
 *     o.lr = 0.1f; o.momentum = 0.9f;
 *     sn_optim *opt;
 *     sn_optim_create(&opt, &o, n_params);
 *     ... forward, zero_grad, backward ...
 *     sn_optim_step(opt, params, grads, sn_schedule_lr(&sched, step, epoch));
 */
#ifndef SINAPSI_OPTIM_H
#define SINAPSI_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "sinapsi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sn_optim_kind { SN_OPTIM_SGD, SN_OPTIM_ADAM, SN_OPTIM_ADAMW } sn_optim_kind;

typedef struct sn_optim_opts {
    sn_optim_kind kind;
    double lr;           /* base learning rate (the schedule scales it) */
    double weight_decay; /* L2 for SGD and Adam, decoupled for AdamW */
    /* SGD */
    double momentum; /* 0 = plain SGD */
    double dampening;
    int nesterov;      /* needs momentum > 0 and dampening 0, as torch */
    int velocity_form; /* 1 = the textbook v <- alpha v - lr g form */
    /* Adam, AdamW */
    double beta1, beta2, eps;
} sn_optim_opts;
/* Hyperparameters are doubles, as torch's Python floats: scalars derived from
 * them (1 - beta2, lr / (1 - beta1^t)) are computed in double and rounded to
 * float once, where torch does, so that updates match torch's bit for bit. */

/* torch's defaults: SGD lr 0.01 (torch requires one; 0.01 is the usual), no momentum,
 * no decay; Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, decay 0; AdamW as Adam
 * with decay 0.01. */
sn_optim_opts sn_optim_defaults(sn_optim_kind kind);

/* "sgd", "adam", "adamw" -> kind; SN_ERR_INVALID_ARG otherwise. */
sn_status sn_optim_parse(const char *name, sn_optim_kind *out);
const char *sn_optim_name(sn_optim_kind kind);

typedef struct sn_optim sn_optim;

/* Checks the options (lr > 0 and finite, 0 <= momentum, dampening < 1 ...) and
 * allocates state for n_params floats. The caller destroys it. */
sn_status sn_optim_create(sn_optim **out, const sn_optim_opts *opts, size_t n_params);
void sn_optim_destroy(sn_optim *opt);

/* One update of params (n_params floats) from grads, with learning rate lr
 * (the schedule's value for this step). */
sn_status sn_optim_step(sn_optim *opt, float *params, const float *grads, double lr);

/* The state, for checkpoints: number of steps taken, and the state blocks
 * (momentum for SGD; first and second moments for Adam/AdamW), each n_params
 * floats, NULL where the optimiser has none. Writable, for restoring. */
int64_t sn_optim_steps(const sn_optim *opt);
void sn_optim_set_steps(sn_optim *opt, int64_t steps);
float *sn_optim_state(sn_optim *opt, int index); /* index 0 or 1 */
const sn_optim_opts *sn_optim_options(const sn_optim *opt);

/* ---- gradient clipping ---- */

/* torch.nn.utils.clip_grad_norm_: total = ||grads||_2 (summed in double); if
 * total > max_norm, grads *= max_norm / (total + 1e-6). Returns total (which may
 * be inf or NaN: the caller decides what to do). */
double sn_clip_grad_norm(float *grads, size_t n, double max_norm);

/* ---- learning-rate schedules ---- */

typedef enum sn_schedule_kind {
    SN_SCHEDULE_CONSTANT,
    SN_SCHEDULE_STEP,  /* torch StepLR: lr * gamma^floor(epoch / step_size) */
    SN_SCHEDULE_COSINE /* torch CosineAnnealingLR over total_epochs, per epoch:
                          eta_min + (lr - eta_min) (1 + cos(pi epoch / total)) / 2,
                          periodic past total as torch's */
} sn_schedule_kind;

typedef struct sn_schedule {
    sn_schedule_kind kind;
    double base_lr;
    int step_size;        /* STEP: epochs between decays (default 1) */
    double gamma;         /* STEP: factor (default 0.1) */
    int total_epochs;     /* COSINE: T_max */
    double eta_min;       /* COSINE: floor (default 0) */
    int64_t warmup_steps; /* linear warm-up over the first steps (torch LinearLR with
                             start_factor 1/warmup_steps), 0 = none; multiplies the above */
} sn_schedule;

sn_schedule sn_schedule_constant(double base_lr);
sn_status sn_schedule_parse(const char *name, sn_schedule_kind *out);
const char *sn_schedule_name(sn_schedule_kind kind);

/* The learning rate at global step `step` (0-based) within epoch `epoch` (0-based). */
double sn_schedule_lr(const sn_schedule *s, int64_t step, int epoch);

#ifdef __cplusplus
}
#endif
#endif
