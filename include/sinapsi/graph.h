/*
 * sinapsi/graph.h: the define-then-run computation graph and reverse-mode autodiff.
 *
 * A model is built once as a graph of nodes, then compiled, then run many times:
 *
 *     sn_graph *g = sn_graph_create(42);               // seed of the dropout stream
 *     int x  = sn_input(g, "x", 2, (int64_t[]){4, 2}); // (N=4, 2) fed each step
 *     int y  = sn_input(g, "y", 2, (int64_t[]){4, 1});
 *     int w1 = sn_param(g, "0.weight", 2, (int64_t[]){8, 2});   // (out, in), torch layout
 *     int b1 = sn_param(g, "0.bias", 1, (int64_t[]){8});
 *     int h  = sn_tanh(g, sn_linear(g, x, w1, b1));
 *     ...
 *     int loss = sn_mse(g, out, y, SN_REDUCTION_MEAN);
 *     if (sn_graph_compile(g) != SN_OK) puts(sn_last_error());
 *     memcpy(sn_graph_value(g, x), batch, sizeof batch);
 *     sn_graph_forward(g);                          // every node, in order
 *     sn_graph_zero_grad(g);
 *     sn_graph_backward(g, loss);                   // d loss / d every param
 *     float *grads = sn_graph_grads(g, &n);          // parallel to sn_graph_params
 *
 * Nodes are ints. Building never fails loudly: a bad argument records an error
 * in the graph, the builder returns SN_NONE, and every builder given SN_NONE
 * returns SN_NONE, so a chain of calls can be checked once, at compile. Node ids
 * are given in creation order, which is a topological order.
 *
 * sn_graph_compile infers and checks every shape (a mismatch is an error that
 * names the node, before any compute), places all parameters in one block and
 * their gradients in a parallel block, buffers (running statistics) in a block
 * of their own, and plans one arena for the values,
 * gradients and scratch of every other node. Forward and backward then run with
 * no allocation. Pointers returned by sn_graph_value/grad stay valid until the
 * graph is destroyed.
 *
 * The arena's plan (sn_graph_set_plan) is chosen before compile. The default,
 * SN_PLAN_KEEP_ALL, gives every node a value and gradient of its own, readable
 * after forward and backward. SN_PLAN_LEAN gives buffers whose lifetimes over
 * the step do not overlap the same memory, runs relu, dropout and the like in
 * place and reshape as a view, when no later reader can tell: only the nodes
 * marked with sn_graph_keep, the inputs, parameters and buffers keep readable
 * values (and gradients) after a run; the others' sn_graph_value/grad are NULL.
 * SN_PLAN_INFERENCE is lean with no gradient at all (no backward). Every plan
 * computes the same bits.
 */
#ifndef SINAPSI_GRAPH_H
#define SINAPSI_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "sinapsi/rng.h"
#include "sinapsi/status.h"
#include "sinapsi/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "No node": an absent optional input (a Linear without bias) or a failed build. */
#define SN_NONE (-1)

typedef struct sn_graph sn_graph;

/* Reductions of a loss over its elements, as PyTorch's reduction= argument. */
typedef enum sn_reduction {
    SN_REDUCTION_MEAN = 0, /* sum / number of terms (see each loss for the count) */
    SN_REDUCTION_SUM = 1
} sn_reduction;

/* Attributes of a node; each op reads only its own fields. */
typedef struct sn_op_attr {
    int kernel[2];         /* pooling window (kh, kw) */
    int stride[2];         /* conv/pool stride (sh, sw) */
    int padding[2];        /* conv/pool zero padding (ph, pw) */
    int count_include_pad; /* avgpool2d: divide by kh*kw even where padded (torch default 1) */
    float negative_slope;  /* leaky_relu */
    float p;               /* dropout probability of zeroing */
    sn_reduction reduction;
    sn_shape shape; /* reshape target; one dim may be -1 (inferred) */
    float momentum; /* batch_norm: weight of this batch in the running statistics,
                       or SN_BATCH_NORM_CUMULATIVE */
    float eps;      /* batch_norm: added to the variance */
} sn_op_attr;

/* batch_norm's momentum for torch's momentum=None: the running statistics are
 * the plain average over every batch seen (factor 1 / num_batches_tracked). */
#define SN_BATCH_NORM_CUMULATIVE (-1.0f)

/* ---- life cycle ---- */

/* Creates an empty graph whose dropout stream is seeded by (seed, SN_STREAM_DROPOUT).
 * Returns NULL only when out of memory. The caller frees it with sn_graph_destroy. */
sn_graph *sn_graph_create(uint64_t seed);
void sn_graph_destroy(sn_graph *g);

/* ---- leaves ---- */

/* An input fed by the caller before each forward (data, targets). No gradient
 * unless sn_graph_set_requires_grad is called on it before compile. */
int sn_input(sn_graph *g, const char *name, int ndim, const int64_t *shape);

/* A trainable parameter: its value lives in the parameter block, its gradient in
 * the parallel gradient block. Values start at zero; initialise them after compile. */
int sn_param(sn_graph *g, const char *name, int ndim, const int64_t *shape);

/* A buffer: model state that is not trained, such as batch_norm's running
 * mean and variance. Its value lives in the buffer block (sn_graph_buffers),
 * it has no gradient, and the optimiser never sees it, but it is saved and
 * loaded with the parameters. An op may write the buffers it takes as inputs
 * during forward: batch_norm in training mode updates its running statistics.
 * Values start at zero; set them after compile (sn_model_init does). ndim 0
 * is a scalar (torch's num_batches_tracked). */
int sn_buffer(sn_graph *g, const char *name, int ndim, const int64_t *shape);

/* Asks for the gradient of an input too (gradient checks, saliency). Before compile. */
sn_status sn_graph_set_requires_grad(sn_graph *g, int node, int requires_grad);

/* ---- ops (each records a node; shapes are checked at compile) ---- */

/* y = x W^T + b. x (N, in), w (out, in) as torch.nn.Linear, b (out) or SN_NONE. */
int sn_linear(sn_graph *g, int x, int w, int b);
/* y = a + b with PyTorch broadcasting: shapes align from the right and each of b's
 * (or a's) dims is 1 or equal, e.g. (N,C,H,W) + (C,1,1) or (N,F) + (F). */
int sn_add(sn_graph *g, int a, int b);
/* 2-D convolution (cross-correlation, as torch.nn.Conv2d with dilation 1, groups 1).
 * x (N, C_in, H, W), w (C_out, C_in, kh, kw), b (C_out) or SN_NONE.
 * y (N, C_out, (H + 2ph - kh)/sh + 1, (W + 2pw - kw)/sw + 1). */
int sn_conv2d(sn_graph *g, int x, int w, int b, int sh, int sw, int ph, int pw);
/* Max pooling, padding with -inf (torch.nn.MaxPool2d, ceil_mode=False).
 * The gradient goes to the arg-max only; on ties to the first in row-major order. */
int sn_maxpool2d(sn_graph *g, int x, int kh, int kw, int sh, int sw, int ph, int pw);
/* Average pooling (torch.nn.AvgPool2d, ceil_mode=False); count_include_pad as torch. */
int sn_avgpool2d(sn_graph *g, int x, int kh, int kw, int sh, int sw, int ph, int pw,
                 int count_include_pad);
/* (N, ...) -> (N, prod(...)), as torch.flatten(x, 1). */
int sn_flatten(sn_graph *g, int x);
/* Same data, new shape; one dim may be -1. */
int sn_reshape(sn_graph *g, int x, int ndim, const int64_t *shape);
int sn_relu(sn_graph *g, int x);
int sn_leaky_relu(sn_graph *g, int x, float negative_slope);
int sn_sigmoid(sn_graph *g, int x);
int sn_tanh(sn_graph *g, int x);
/* Softmax and log-softmax along dim 1 (classes), max-subtracted for stability. */
int sn_softmax(sn_graph *g, int x);
int sn_log_softmax(sn_graph *g, int x);
/* Inverted dropout: in training, zero each element with probability p and scale
 * the rest by 1/(1-p), the mask drawn from the graph's dropout stream; identity
 * in evaluation mode. */
int sn_dropout(sn_graph *g, int x, float p);
/* Batch normalisation over dim 1 (channels), as torch.nn.BatchNorm1d/2d:
 *     y = (x - mean) / sqrt(var + eps) * weight + bias
 * x (N, C, ...) (BatchNorm1d: (N, C) or (N, C, L); BatchNorm2d: (N, C, H, W)),
 * mean and var per channel over the other dims. weight and bias (C), or both
 * SN_NONE (affine=False). running_mean, running_var (C) and num_batches_tracked
 * (a scalar holding the count, as a float) are buffers (sn_buffer), or all
 * three SN_NONE (track_running_stats=False: batch statistics in both modes).
 * Training mode (or no running statistics): mean and the biased var of the
 * batch; forward then also updates the buffers, as torch:
 *     num_batches_tracked += 1
 *     f = momentum, or 1 / num_batches_tracked for SN_BATCH_NORM_CUMULATIVE
 *     running_mean = (1 - f) running_mean + f mean
 *     running_var  = (1 - f) running_var  + f var · n / (n - 1)   (unbiased)
 * with n = N · (product of the dims after C); n = 1 fails at forward, as torch
 * ("Expected more than 1 value per channel when training").
 * Evaluation mode with running statistics: mean = running_mean, var = running_var. */
int sn_batch_norm(sn_graph *g, int x, int weight, int bias, int running_mean, int running_var,
                  int num_batches_tracked, float momentum, float eps);
/* Heaviside step of the perceptron: 1 where x >= 0, else 0. No gradient flows. */
int sn_step(sn_graph *g, int x);

/* ---- losses: scalar outputs ---- */

/* mean or sum of (x - y)^2, as torch.nn.MSELoss. */
int sn_mse(sn_graph *g, int x, int y, sn_reduction r);
/* -(y log p + (1-y) log(1-p)), logs clamped at -100, as torch.nn.BCELoss. */
int sn_bce(sn_graph *g, int p, int y, sn_reduction r);
/* The stable form max(x,0) - x y + log(1 + exp(-|x|)), as torch.nn.BCEWithLogitsLoss. */
int sn_bce_with_logits(sn_graph *g, int x, int y, sn_reduction r);
/* -logp[n, target[n]]; logp (N, C), target (N) holding class indices as floats.
 * Mean divides by N. As torch.nn.NLLLoss without weights. */
int sn_nll(sn_graph *g, int logp, int target, sn_reduction r);
/* nll(log_softmax(x), target) fused, as torch.nn.CrossEntropyLoss. */
int sn_cross_entropy(sn_graph *g, int x, int target, sn_reduction r);

/* ---- compile and run ---- */

/* How compile lays out the arena (see the top of this file). */
typedef enum sn_graph_plan {
    SN_PLAN_KEEP_ALL = 0, /* every value and gradient alone, readable after a run */
    SN_PLAN_LEAN = 1,     /* shared by lifetime; kept nodes, inputs, params readable.
                             One backward per forward: a second fails (SN_ERR_STATE),
                             the values it would read being reused by the first */
    SN_PLAN_INFERENCE = 2 /* lean, and no gradient buffers: backward fails, and
                             sn_graph_grads is NULL, set_requires_grad ignored */
} sn_graph_plan;

/* Chooses the plan; before compile. */
sn_status sn_graph_set_plan(sn_graph *g, sn_graph_plan plan);
/* Keeps a node's value and gradient valid, in buffers of their own, after
 * forward and backward under a lean plan (a no-op under SN_PLAN_KEEP_ALL).
 * Before compile. Inputs, parameters and buffers are always kept. */
sn_status sn_graph_keep(sn_graph *g, int node);
/* 1 when the node's value (and gradient) can be read after a run: kept,
 * an input, a parameter or a buffer, or any node under SN_PLAN_KEEP_ALL. */
int sn_graph_is_kept(const sn_graph *g, int node);

/* Infers shapes, lays out parameters and the arena. Returns the first error of
 * building or inference, naming the node. Call once, before any run. */
sn_status sn_graph_compile(sn_graph *g);

/* Runs the compiled graph on a smaller batch: every input's dim 0 becomes n
 * (1 <= n <= the batch it was compiled with) and shapes are inferred again; no
 * memory is allocated. A mean loss then averages over n. Fails, leaving the
 * batch unchanged, if the inputs do not share dim 0 or an op cannot take n (a
 * reshape to a fixed size). Values of the inputs must be refilled for n rows. */
sn_status sn_graph_set_batch(sn_graph *g, int64_t n);

/* The current batch (dim 0 of the inputs), 0 if they do not share one. */
int64_t sn_graph_batch(const sn_graph *g);

/* Training mode (dropout active) or evaluation mode; training is the default. */
void sn_graph_set_training(sn_graph *g, int training);

/* Runs every node in creation order. Fails (SN_ERR_RANGE) on bad data such as a
 * class label outside [0, C). */
sn_status sn_graph_forward(sn_graph *g);

/* Sets every parameter gradient (and requested input gradient) to zero. */
void sn_graph_zero_grad(sn_graph *g);

/* How backward treats parameter gradients. SN_GRAD_ACCUMULATE, the default,
 * adds into them, as torch's backward does: several backward calls sum until
 * sn_graph_zero_grad. SN_GRAD_SET writes them: after each backward they hold
 * that pass's gradients, bit for bit what sn_graph_zero_grad and then
 * backward give, and zeros for parameters it does not reach, without the
 * pass that clears 4 bytes per parameter first (as torch's
 * zero_grad(set_to_none=True) before backward; ops that support it write
 * their weight gradients with beta = 0). Gradients of inputs always
 * accumulate. After compile; SN_ERR_STATE before, SN_ERR_INVALID_ARG for
 * another value. */
typedef enum sn_grad_mode { SN_GRAD_ACCUMULATE = 0, SN_GRAD_SET = 1 } sn_grad_mode;
sn_status sn_graph_set_grad_mode(sn_graph *g, sn_grad_mode mode);

/* Back-propagates from a scalar node (seed 1), ADDING into parameter gradients
 * (or writing them, under SN_GRAD_SET). Must follow sn_graph_forward. */
sn_status sn_graph_backward(sn_graph *g, int loss);

/* As sn_graph_backward but from any node, with seed = d(objective)/d(node), a
 * buffer of that node's element count. Used by gradient checks. */
sn_status sn_graph_backward_from(sn_graph *g, int node, const float *seed);

/* ---- access (after compile) ---- */

/* Value / gradient buffer of a node, NULL if the node has none (a gradient of a
 * node that needs none; a node not kept under a lean plan) or the graph is not
 * compiled. Owned by the graph. */
float *sn_graph_value(sn_graph *g, int node);
float *sn_graph_grad(sn_graph *g, int node);
/* Shape of a node (after compile), or NULL. */
const sn_shape *sn_graph_shape(const sn_graph *g, int node);
/* Name given to an input, a parameter or a buffer, the op name otherwise ("conv2d"). */
const char *sn_graph_node_name(const sn_graph *g, int node);
int sn_graph_node_count(const sn_graph *g);

/* ---- profiling ----
 * Per-node wall time, as a first look at where a step goes (the PyTorch
 * profiler's per-op table, without the tracing). Off by default: each op's
 * forward and backward are then timed with no clock read at all. */

/* Turns timing on (1) or off (0), after compile; either way the totals
 * start again from 0. */
sn_status sn_graph_set_profiling(sn_graph *g, int on);
/* Seconds spent in a node's forward and backward since profiling was turned
 * on, and how many of each ran (any pointer may be NULL). Leaves read 0. */
sn_status sn_graph_node_time(const sn_graph *g, int node, double *forward_s, double *backward_s,
                             int64_t *forward_calls, int64_t *backward_calls);

/* The parameter block and the parallel gradient block (*count floats each). */
float *sn_graph_params(sn_graph *g, size_t *count);
float *sn_graph_grads(sn_graph *g, size_t *count);
/* Parameters in creation order: index 0..n-1 -> node id. */
int sn_graph_param_count(const sn_graph *g);
int sn_graph_param_node(const sn_graph *g, int index);

/* The buffer block (*count floats): every buffer, back to back in creation
 * order. No gradient block goes with it. Checkpoints save and restore it
 * whole, as the parameter block. */
float *sn_graph_buffers(sn_graph *g, size_t *count);
/* Buffers in creation order: index 0..n-1 -> node id. */
int sn_graph_buffer_count(const sn_graph *g);
int sn_graph_buffer_node(const sn_graph *g, int index);

/* The dropout stream; save/restore its state by copying the struct. */
sn_rng *sn_graph_rng(sn_graph *g);

/* Bytes of the arena (values, gradients, scratch of all nodes but parameters
 * and buffers), as planned: shared space counted once. */
size_t sn_graph_arena_bytes(const sn_graph *g);

#ifdef __cplusplus
}
#endif
#endif
