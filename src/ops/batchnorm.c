/*
 * batch_norm as torch.nn.BatchNorm1d / BatchNorm2d (torch.nn.functional.batch_norm):
 *   x (N, C, S...) -> y (N, C, S...), per channel c over its n = N·prod(S) values
 *     y = (x - mean_c) · invstd_c · weight_c + bias_c,  invstd_c = 1 / sqrt(var_c + eps)
 * Inputs: 0 x, 1 weight (C), 2 bias (C) (both absent: affine=False),
 *         3 running_mean (C), 4 running_var (C), 5 num_batches_tracked (scalar)
 *         (all three buffers, or all absent: track_running_stats=False).
 *
 * Batch statistics (training mode, or no running statistics, as torch's
 * bn_training): mean and the biased variance (divided by n) of the batch,
 * summed in double in a fixed order. In training mode forward then updates the
 * buffers through io->state, as torch's _BatchNorm.forward and
 * batch_norm_cpu_update_stats_template:
 *     num_batches_tracked += 1
 *     f = momentum, or 1 / num_batches_tracked when momentum=None
 *     running_mean = (1 - f) running_mean + f mean
 *     running_var  = (1 - f) running_var  + f var · n / (n - 1)   (unbiased)
 * Evaluation with running statistics: mean = running_mean, var = running_var,
 * and nothing is written.
 *
 * The per-channel mean and invstd that forward used are kept in the work buffer
 * (2·C doubles) for backward. With x̂ = (x - mean) · invstd and g = dy · weight:
 *   dbias_c   += Σ dy
 *   dweight_c += Σ dy · x̂
 *   batch statistics (mean and var depend on x):
 *     dx += invstd · (g - Σg / n - x̂ · Σ(g · x̂) / n)
 *   running statistics (constants):
 *     dx += invstd · g
 * (Ioffe & Szegedy 2015, section 3; torch's batch_norm_backward_cpu_template.)
 */
#include "ops/op.h"

#include <math.h>
#include <stdint.h>

#include "ops/chunks.h"

enum { BN_X, BN_WEIGHT, BN_BIAS, BN_RUNNING_MEAN, BN_RUNNING_VAR, BN_BATCHES };

typedef struct bn_geometry {
    int64_t batch, channels, spatial; /* x is (batch, channels, spatial) */
    int64_t per_channel;              /* n = batch · spatial values per channel */
} bn_geometry;

static bn_geometry geometry_of(const sn_shape *x) {
    bn_geometry d = {x->dim[0], x->dim[1], 1, 0};
    for (int i = 2; i < x->ndim; i++) d.spatial *= x->dim[i];
    d.per_channel = d.batch * d.spatial;
    return d;
}

/* Element (b, c, s) of a (batch, channels, spatial) tensor. */
static size_t at(const bn_geometry *d, int64_t b, int64_t c, int64_t s) {
    return (size_t)((b * d->channels + c) * d->spatial + s);
}

static int has_running_stats(const sn_op_io *io) {
    return io->has_in[BN_RUNNING_MEAN];
}

/* torch's bn_training: batch statistics in training mode, and always when
 * there are no running statistics to use instead. */
static int uses_batch_stats(const sn_op_io *io) {
    return io->training || !has_running_stats(io);
}

/* A per-channel input, present, must be (C). */
static sn_status check_channel_vector(const sn_op_io *io, int slot, const char *what,
                                      int64_t channels) {
    const sn_shape *s = &io->in_shape[slot];
    if (!io->has_in[slot]) return SN_OK;
    if (s->ndim != 1 || s->dim[0] != channels) {
        char buf[64];
        return sn_error(SN_ERR_SHAPE, "batch_norm: %s is %s, expected (%lld), one per channel",
                        what, sn_shape_format(s, buf, sizeof buf), (long long)channels);
    }
    return SN_OK;
}

static sn_status bn_infer(sn_op_io *io, size_t *work_size) {
    const sn_shape *x = &io->in_shape[BN_X];
    const sn_op_attr *a = io->attr;
    char buf[64];
    if (x->ndim < 2)
        return sn_error(SN_ERR_SHAPE, "batch_norm: x is %s, expected (N, C, ...)",
                        sn_shape_format(x, buf, sizeof buf));
    const int64_t channels = x->dim[1];
    if (io->has_in[BN_WEIGHT] != io->has_in[BN_BIAS])
        return sn_error(SN_ERR_INVALID_ARG,
                        "batch_norm: give weight and bias both (affine) or neither");
    const int n_stats =
        io->has_in[BN_RUNNING_MEAN] + io->has_in[BN_RUNNING_VAR] + io->has_in[BN_BATCHES];
    if (n_stats != 0 && n_stats != 3)
        return sn_error(SN_ERR_INVALID_ARG,
                        "batch_norm: give running_mean, running_var and num_batches_tracked "
                        "all three, or none");
    sn_status st = check_channel_vector(io, BN_WEIGHT, "weight", channels);
    if (st == SN_OK) st = check_channel_vector(io, BN_BIAS, "bias", channels);
    if (st == SN_OK) st = check_channel_vector(io, BN_RUNNING_MEAN, "running_mean", channels);
    if (st == SN_OK) st = check_channel_vector(io, BN_RUNNING_VAR, "running_var", channels);
    if (st != SN_OK) return st;
    if (io->has_in[BN_BATCHES] && sn_shape_numel(&io->in_shape[BN_BATCHES]) != 1)
        return sn_error(SN_ERR_SHAPE, "batch_norm: num_batches_tracked is %s, expected a scalar",
                        sn_shape_format(&io->in_shape[BN_BATCHES], buf, sizeof buf));
    if (!(a->eps >= 0.0f) || !isfinite(a->eps))
        return sn_error(SN_ERR_INVALID_ARG, "batch_norm: eps must be finite and >= 0, got %g",
                        (double)a->eps);
    if (a->momentum != SN_BATCH_NORM_CUMULATIVE && !(a->momentum >= 0.0f && a->momentum <= 1.0f))
        return sn_error(SN_ERR_INVALID_ARG,
                        "batch_norm: momentum must be between 0 and 1 (or None), got %g",
                        (double)a->momentum);
    io->out_shape = *x;
    *work_size = 2 * (size_t)channels * sizeof(double); /* mean (C), invstd (C) */
    return SN_OK;
}

/* The batch's mean and biased variance of channel c, two passes in double. */
static void channel_moments(const sn_op_io *io, const bn_geometry *d, int64_t c, double *mean,
                            double *var) {
    const float *x = io->in[BN_X];
    double sum = 0.0;
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t s = 0; s < d->spatial; s++) sum += x[at(d, b, c, s)];
    const double m = sum / (double)d->per_channel;
    double squares = 0.0;
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t s = 0; s < d->spatial; s++) {
            const double centred = x[at(d, b, c, s)] - m;
            squares += centred * centred;
        }
    *mean = m;
    *var = squares / (double)d->per_channel;
}

/* The factor f of this training step's running-statistics update, after
 * counting the step (see the top comment). */
static double begin_update(sn_op_io *io) {
    float *batches = io->state[BN_BATCHES];
    *batches += 1.0f; /* a float counts exactly up to 2^24 steps */
    return io->attr->momentum == SN_BATCH_NORM_CUMULATIVE ? 1.0 / (double)*batches
                                                          : (double)io->attr->momentum;
}

/* Forward and backward run over chunks of whole channels, about
 * SN_CHUNK_FLOATS values each (src/ops/chunks.h): a channel's sums are one
 * chunk's, in the fixed (batch, spatial) order, so any thread count gives the
 * same bits. */
typedef struct bn_job {
    sn_op_io *io;
    bn_geometry d;
    int batch_stats, update;
    double factor, unbiased; /* forward with update: the running-statistics step */
} bn_job;

static void bn_forward_channels(void *ctx, int64_t first, int64_t end) {
    const bn_job *job = ctx;
    const sn_op_io *io = job->io;
    const bn_geometry *d = &job->d;
    double *mean = io->work;             /* (C) the mean used, kept for backward */
    double *invstd = mean + d->channels; /* (C) 1 / sqrt(var + eps) used */
    const double eps = io->attr->eps, factor = job->factor, unbiased = job->unbiased;
    const float *weight = io->in[BN_WEIGHT], *bias = io->in[BN_BIAS];
    const float *x = io->in[BN_X];
    float *y = io->out;
    for (int64_t c = first; c < end; c++) {
        double m, v;
        if (job->batch_stats) {
            channel_moments(io, d, c, &m, &v);
        } else {
            m = io->in[BN_RUNNING_MEAN][c];
            v = io->in[BN_RUNNING_VAR][c];
        }
        if (job->update) {
            float *running_mean = io->state[BN_RUNNING_MEAN];
            float *running_var = io->state[BN_RUNNING_VAR];
            running_mean[c] = (float)((1.0 - factor) * running_mean[c] + factor * m);
            running_var[c] = (float)((1.0 - factor) * running_var[c] + factor * v * unbiased);
        }
        const double inv = 1.0 / sqrt(v + eps);
        mean[c] = m;
        invstd[c] = inv;
        /* In double, so that y is the correctly rounded normalisation. */
        const double scale = inv * (weight ? weight[c] : 1.0);
        const double shift = bias ? bias[c] : 0.0;
        for (int64_t b = 0; b < d->batch; b++)
            for (int64_t s = 0; s < d->spatial; s++) {
                const size_t i = at(d, b, c, s);
                y[i] = (float)((x[i] - m) * scale + shift);
            }
    }
}

static sn_status bn_forward(sn_op_io *io) {
    bn_job job = {io, geometry_of(&io->in_shape[BN_X]), uses_batch_stats(io), 0, 0.0, 0.0};
    const bn_geometry *d = &job.d;
    job.update = io->training && has_running_stats(io);
    if (job.batch_stats && d->per_channel < 2) {
        char buf[64];
        return sn_error(SN_ERR_SHAPE,
                        "batch_norm: expected more than 1 value per channel when training, got "
                        "input of shape %s (use a batch of 2 or more, or evaluation mode)",
                        sn_shape_format(&io->in_shape[BN_X], buf, sizeof buf));
    }
    if (job.update &&
        (!io->state[BN_RUNNING_MEAN] || !io->state[BN_RUNNING_VAR] || !io->state[BN_BATCHES]))
        return sn_error(SN_ERR_STATE, "batch_norm: the running statistics are not buffers");
    job.factor = job.update ? begin_update(io) : 0.0;
    job.unbiased = (double)d->per_channel / (double)(d->per_channel - 1);
    sn_parallel_items(d->channels, d->per_channel, io->workers, bn_forward_channels, &job);
    return SN_OK;
}

static void bn_backward_channels(void *ctx, int64_t first, int64_t end) {
    const bn_job *job = ctx;
    const sn_op_io *io = job->io;
    const bn_geometry *d = &job->d;
    const double *mean = io->work, *invstd = mean + d->channels; /* (C) each, from forward */
    const float *x = io->in[BN_X], *dy = io->dout, *weight = io->in[BN_WEIGHT];
    float *dx = io->din[BN_X], *dweight = io->din[BN_WEIGHT], *dbias = io->din[BN_BIAS];
    const double n = (double)d->per_channel;
    for (int64_t c = first; c < end; c++) {
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t b = 0; b < d->batch; b++)
            for (int64_t s = 0; s < d->spatial; s++) {
                const size_t i = at(d, b, c, s);
                sum_dy += dy[i];
                sum_dy_xhat += dy[i] * ((x[i] - mean[c]) * invstd[c]);
            }
        if (dbias) dbias[c] += (float)sum_dy;
        if (dweight) dweight[c] += (float)sum_dy_xhat;
        if (!dx) continue;
        const double gain = (weight ? weight[c] : 1.0) * invstd[c];
        /* With batch statistics, the mean and the variance move with x too. */
        const double mean_dy = job->batch_stats ? sum_dy / n : 0.0;
        const double mean_dy_xhat = job->batch_stats ? sum_dy_xhat / n : 0.0;
        for (int64_t b = 0; b < d->batch; b++)
            for (int64_t s = 0; s < d->spatial; s++) {
                const size_t i = at(d, b, c, s);
                const double xhat = (x[i] - mean[c]) * invstd[c];
                dx[i] += (float)(gain * (dy[i] - mean_dy - xhat * mean_dy_xhat));
            }
    }
}

static void bn_backward(sn_op_io *io) {
    bn_job job = {io, geometry_of(&io->in_shape[BN_X]), uses_batch_stats(io), 0, 0.0, 0.0};
    sn_parallel_items(job.d.channels, job.d.per_channel, io->workers, bn_backward_channels, &job);
}

/* Backward recomputes x-hat from x and the mean and invstd kept in work. */
const sn_op sn_op_batch_norm = {"batch_norm", bn_infer, bn_forward, bn_backward,
                                SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(BN_BIAS)};
