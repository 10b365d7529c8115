/*
 * bench_model: training or inference throughput of one model spec on
 * Fashion-MNIST through the public C API, for `make bench` (bench/run.py).
 * bench/torch_model.py is its PyTorch twin and measures the same thing.
 *
 *   bench_model --spec models/lenet5.txt --mode train|infer [--steps N]
 *               [--batch B] [--threads T] [--data DIR] [--warmup W] [--smoke]
 *               [--profile]
 *
 * Timed: for each minibatch, the copy of the uint8 pixels into the float
 * input with the per-batch /255 normalisation (sn_dataset_batch), and then
 *   train: forward (training mode, cross-entropy), backward writing the
 *          gradients (SN_GRAD_SET, as zero_grad(set_to_none=True) + backward),
 *          SGD step (momentum 0.9, lr 0.01);
 *   infer: forward in evaluation mode, no loss.
 * Not timed: loading the dataset, building and compiling the model, W warmup
 * minibatches. The full training split is loaded (uint8, as sn_dataset_load
 * keeps it), so the peak RSS printed is that of training on the full
 * Fashion-MNIST; the graph allocates nothing per step, so it does not grow
 * with the number of steps.
 *
 * Prints one line of key=value pairs: img_per_s, images, seconds,
 * flops_per_img (forward, from sn_model_layer_info; a multiply-add counts 2),
 * maxrss_kib (getrusage ru_maxrss of this process), threads (sinapsi's pool,
 * sn_get_threads), gemm, blas_core, blas_threads (OpenBLAS's own count, which
 * the pool sets to 1: the chunks are the parallelism).
 * --profile: also print to stderr each op node's share of the timed steps,
 * forward and backward (sn_graph_node_time), and the time outside the nodes
 * (the batch copy, zero_grad, the optimiser step).
 * --smoke: 2 minibatches of 4 examples from a 64-image subset, for `make
 * test`, so that the program cannot rot; the numbers mean nothing then.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifdef SINAPSI_HAVE_CBLAS
#include <cblas.h>
#endif

#include "backend/cpu/gemm.h"
#include "sinapsi/sinapsi.h"

typedef struct bench_args {
    const char *spec, *data;
    int train;
    int64_t steps, batch, warmup;
    int threads, smoke, profile;
} bench_args;

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int parse_args(int argc, char **argv, bench_args *a) {
    *a = (bench_args){.spec = "models/lenet5.txt",
                      .data = "/usr/share/datasets/fashion-mnist",
                      .train = 1,
                      .steps = 100,
                      .batch = 0,
                      .warmup = 5,
                      .threads = 0};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(k, "--smoke") == 0 || strcmp(k, "--profile") == 0) {
            *(strcmp(k, "--smoke") == 0 ? &a->smoke : &a->profile) = 1;
            continue;
        }
        if (!v) return fprintf(stderr, "bench_model: %s needs a value\n", k), 0;
        i++;
        if (strcmp(k, "--spec") == 0)
            a->spec = v;
        else if (strcmp(k, "--data") == 0)
            a->data = v;
        else if (strcmp(k, "--mode") == 0 && strcmp(v, "train") == 0)
            a->train = 1;
        else if (strcmp(k, "--mode") == 0 && strcmp(v, "infer") == 0)
            a->train = 0;
        else if (strcmp(k, "--steps") == 0)
            a->steps = atoll(v);
        else if (strcmp(k, "--batch") == 0)
            a->batch = atoll(v);
        else if (strcmp(k, "--warmup") == 0)
            a->warmup = atoll(v);
        else if (strcmp(k, "--threads") == 0)
            a->threads = atoi(v);
        else
            return fprintf(stderr, "bench_model: unknown option %s %s\n", k, v), 0;
    }
    if (a->batch == 0) a->batch = a->train ? 64 : 256; /* the batch sizes */
    if (a->smoke) a->steps = 2, a->batch = 4, a->warmup = 1;
    if (a->steps < 1 || a->batch < 1 || a->warmup < 0)
        return fprintf(stderr, "bench_model: steps and batch must be >= 1\n"), 0;
    return 1;
}

static const char *blas_core(void) {
#if defined(SINAPSI_HAVE_CBLAS) && defined(OPENBLAS_CONFIG_H)
    return openblas_get_corename();
#else
    return "none";
#endif
}

static int blas_threads(void) {
#if defined(SINAPSI_HAVE_CBLAS) && defined(OPENBLAS_CONFIG_H)
    return openblas_get_num_threads();
#else
    return 0;
#endif
}

/* Forward FLOPs of one example, summed over the modules (the convention of
 * sinapsi info; see sn_model_layer_info in model.h). */
static int64_t forward_flops(const sn_model *m) {
    int64_t total = 0;
    for (int i = 0; i < sn_model_module_count(m); i++) {
        sn_layer_info info;
        if (sn_model_layer_info(m, i, &info) == SN_OK) total += info.flops;
    }
    return total;
}

/* One timed minibatch: examples order[first .. first+batch) of the dataset. */
static sn_status run_batch(const bench_args *a, sn_model *m, sn_optim *opt, const sn_dataset *ds,
                           const int64_t *order) {
    sn_graph *g = sn_model_graph(m);
    float *x = sn_graph_value(g, sn_model_input_node(m)); /* (batch, 1, 28, 28) */
    float *y = a->train ? sn_graph_value(g, sn_model_target_node(m)) : NULL; /* (batch) */
    sn_status s = sn_dataset_batch(ds, order, a->batch, x, y);
    if (s == SN_OK) s = sn_graph_forward(g);
    if (s != SN_OK || !a->train) return s;
    s = sn_graph_backward(g, sn_model_loss_node(m)); /* SN_GRAD_SET: no zero_grad needed */
    if (s != SN_OK) return s;
    size_t n_params;
    float *params = sn_graph_params(g, &n_params);
    return sn_optim_step(opt, params, sn_graph_grads(g, &n_params), 0.01);
}

/* The --profile table: per op node, microseconds per step forward and
 * backward and the share of the timed seconds. */
static void print_profile(const bench_args *a, sn_graph *g, double seconds) {
    double in_nodes = 0;
    fprintf(stderr, "%4s %-12s %10s %10s %7s\n", "node", "op", "fwd us", "bwd us", "share");
    for (int id = 0; id < sn_graph_node_count(g); id++) {
        double f = 0, b = 0;
        int64_t calls = 0;
        if (sn_graph_node_time(g, id, &f, &b, &calls, NULL) != SN_OK || calls == 0) continue;
        in_nodes += f + b;
        fprintf(stderr, "%4d %-12s %10.1f %10.1f %6.1f%%\n", id, sn_graph_node_name(g, id),
                1e6 * f / (double)a->steps, 1e6 * b / (double)a->steps, 100 * (f + b) / seconds);
    }
    fprintf(stderr, "     %-12s %21.1f %6.1f%%\n", "(outside)",
            1e6 * (seconds - in_nodes) / (double)a->steps, 100 * (seconds - in_nodes) / seconds);
}

static int run(const bench_args *a) {
    sn_dataset *train = NULL;
    sn_model *m = NULL;
    sn_optim *opt = NULL;
    int64_t *order = NULL;
    int ok = 0;
    sn_data_opts dopts = sn_data_defaults(); /* uint8 kept, /255 per batch */
    if (a->smoke) dopts.limit = 64;
    if (sn_dataset_load(a->data, &dopts, &train, NULL) != SN_OK) goto done;
    if (sn_model_from_spec_file(&m, a->spec) != SN_OK) goto done;
    sn_model_compile_opts copts = sn_model_compile_defaults();
    copts.batch = a->batch;
    copts.sample_shape = *sn_dataset_sample_shape(train);
    copts.loss = a->train ? SN_LOSS_CROSS_ENTROPY : SN_LOSS_NONE;
    copts.seed = 1;
    copts.plan = a->train ? SN_PLAN_LEAN : SN_PLAN_INFERENCE; /* no gradients to infer */
    if (sn_model_compile(m, &copts) != SN_OK) goto done;
    if (sn_model_init(m, 1, SN_INIT_TORCH_DEFAULT) != SN_OK) goto done;
    sn_graph_set_training(sn_model_graph(m), a->train);
    if (a->train && sn_graph_set_grad_mode(sn_model_graph(m), SN_GRAD_SET) != SN_OK) goto done;
    if (a->train) {
        sn_optim_opts oo = sn_optim_defaults(SN_OPTIM_SGD);
        oo.momentum = 0.9;
        size_t n_params;
        sn_graph_params(sn_model_graph(m), &n_params);
        if (sn_optim_create(&opt, &oo, n_params) != SN_OK) goto done;
    }
    /* Training draws a shuffled epoch order, inference reads in order. */
    int64_t count = sn_dataset_count(train);
    order = malloc((size_t)count * sizeof *order);
    if (!order) goto done;
    sn_rng rng;
    sn_rng_seed(&rng, 1, SN_STREAM_SHUFFLE);
    if (a->train)
        sn_shuffle_indices(order, count, &rng);
    else
        for (int64_t i = 0; i < count; i++) order[i] = i;
    int64_t per_epoch = count / a->batch, step = 0;
    if (per_epoch < 1) {
        fprintf(stderr, "bench_model: %lld examples, fewer than a batch\n", (long long)count);
        goto done;
    }
    double t0 = 0;
    for (int64_t i = 0; i < a->warmup + a->steps; i++, step = (step + 1) % per_epoch) {
        if (i == a->warmup) {
            if (a->profile && sn_graph_set_profiling(sn_model_graph(m), 1) != SN_OK) goto done;
            t0 = now_seconds();
        }
        if (run_batch(a, m, opt, train, order + step * a->batch) != SN_OK) goto done;
    }
    double seconds = now_seconds() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("img_per_s=%.1f images=%lld seconds=%.4f flops_per_img=%lld maxrss_kib=%ld "
           "threads=%d gemm=%s blas_core=%s blas_threads=%d\n",
           (double)(a->steps * a->batch) / seconds, (long long)(a->steps * a->batch), seconds,
           (long long)forward_flops(m), ru.ru_maxrss, sn_get_threads(), sn_sgemm_backend(),
           blas_core(), blas_threads());
    if (a->profile) print_profile(a, sn_model_graph(m), seconds);
    ok = 1;
done:
    if (!ok) fprintf(stderr, "bench_model: %s\n", sn_last_error());
    free(order);
    sn_optim_destroy(opt);
    sn_model_destroy(m);
    sn_dataset_destroy(train);
    return ok;
}

int main(int argc, char **argv) {
    bench_args a;
    if (!parse_args(argc, argv, &a)) return 2;
    /* Before compiling: a graph sizes its per-thread scratch for the count in
     * use then (sinapsi/threads.h). 0 keeps the default (SINAPSI_NUM_THREADS,
     * else OMP_NUM_THREADS, else all CPUs), as sn_train does. */
    if (sn_set_threads(a.threads) != SN_OK) {
        fprintf(stderr, "bench_model: %s\n", sn_last_error());
        return 2;
    }
    return run(&a) ? 0 : 1;
}
