/*
 * bench_ops: per-op microbenchmarks for `make bench` (see docs/performance.md).
 *
 *   bench_ops [--threads T] [--smoke] [--gemm]
 *
 * --gemm runs section 2 only.
 * T sets sinapsi's pool (sn_set_threads; 0 = its default). OpenBLAS is
 * single-threaded, as the pool makes it (src/core/parallel.h).
 * 1. The machine's FP32 FMA peak, per core and for T threads: independent FMA
 *    chains in registers (AVX-512 or AVX2+FMA, whichever the build targets;
 *    "n/a" for a build without them, e.g. without -march=native), on T
 *    pthreads of this program (not the pool: a peak, not a kernel).
 * 2. The GEMM seam (sn_sgemm, src/backend/cpu/gemm.h; outside a chunk it cuts
 *    a large product into blocks on the pool's T threads; "route" says
 *    whether it picks the own kernel or CBLAS for the shape) against the own
 *    kernel (sn_sgemm_portable) and a direct cblas_sgemm with the same
 *    arguments, each on one thread and through the seam's cut on the pool
 *    (sn_sgemm_split), at every product the three benchmark models run at
 *    batch 64 (for each Linear and Conv2d its forward product, the input
 *    gradient and the weight gradient, shapes as src/ops/linear.c and
 *    src/ops/conv2d.c call them) and the Linear forward products at batch 256
 *    (inference in bench/run.py).
 * 3. Conv2d forward and backward, MaxPool2d forward and backward, through a
 *    one-op graph at the models' shapes. Backward = (forward + backward) -
 *    forward, since backward must follow a forward.
 * Each measurement repeats until it has run 0.2 s (once with --smoke, for
 * `make test`) and prints the best rate of 3 such runs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif
#ifdef SINAPSI_HAVE_CBLAS
#include <cblas.h>
#endif

#include "backend/cpu/gemm.h"
#include "core/parallel.h"
#include "sinapsi/sinapsi.h"

static int smoke;

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Seconds per call of fn(ctx): the best of 3 runs of >= 0.2 s each. */
static double seconds_per_call(void (*fn)(void *), void *ctx) {
    double best = 1e30;
    fn(ctx); /* warm caches and lazily allocated state */
    for (int r = 0; r < (smoke ? 1 : 3); r++) {
        int64_t calls = 0;
        double t0 = now_seconds(), t;
        do {
            fn(ctx);
            calls++;
            t = now_seconds() - t0;
        } while (!smoke && t < 0.2);
        if (t / (double)calls < best) best = t / (double)calls;
    }
    return best;
}

/* ---- 1. FMA peak ---- */

#if defined(__AVX512F__)
#define FMA_LANES 16
typedef __m512 fma_vec;
#define FMA_SET1 _mm512_set1_ps
#define FMA_FMADD _mm512_fmadd_ps
#define FMA_STORE _mm512_storeu_ps
#elif defined(__FMA__)
#define FMA_LANES 8
typedef __m256 fma_vec;
#define FMA_SET1 _mm256_set1_ps
#define FMA_FMADD _mm256_fmadd_ps
#define FMA_STORE _mm256_storeu_ps
#endif

#ifdef FMA_LANES
enum { FMA_CHAINS = 12, FMA_ITERS = 5000000, FMA_TRIES = 5 };

/* FMA_CHAINS independent accumulators hide the FMA latency (4 cycles, 2 ports
 * = 8 in flight at least). Returns a value so that nothing is optimised away. */
static float fma_chains(int64_t iters) {
    fma_vec acc[FMA_CHAINS], mul = FMA_SET1(0.999999f), add = FMA_SET1(1e-7f);
    for (int c = 0; c < FMA_CHAINS; c++) acc[c] = FMA_SET1((float)c);
    for (int64_t i = 0; i < iters; i++)
        for (int c = 0; c < FMA_CHAINS; c++) acc[c] = FMA_FMADD(acc[c], mul, add);
    float out[FMA_LANES], sum = 0;
    for (int c = 0; c < FMA_CHAINS; c++) {
        FMA_STORE(out, acc[c]);
        sum += out[0];
    }
    return sum;
}

typedef struct fma_job {
    int64_t iters;
    float result;
} fma_job;

static void *fma_thread(void *arg) {
    fma_job *j = arg;
    j->result = fma_chains(j->iters);
    return NULL;
}

/* GFLOP/s of `threads` threads running the chains at once (2 FLOPs per lane):
 * threads - 1 pthreads plus this one. 0 if a thread cannot be created. */
static double fma_peak(int threads) {
    enum { MAX_FMA_THREADS = SN_MAX_THREADS };
    pthread_t tid[MAX_FMA_THREADS];
    fma_job job[MAX_FMA_THREADS];
    if (threads < 1 || threads > MAX_FMA_THREADS) return 0;
    int64_t iters = smoke ? 1000 : FMA_ITERS;
    int started = 0, ok = 1;
    double t0 = now_seconds();
    for (int i = 1; i < threads; i++, started++) {
        job[i] = (fma_job){iters, 0};
        if (pthread_create(&tid[i], NULL, fma_thread, &job[i]) != 0) {
            ok = 0;
            break;
        }
    }
    job[0] = (fma_job){iters, 0};
    fma_thread(&job[0]);
    for (int i = 1; i <= started; i++) pthread_join(tid[i], NULL);
    double t = now_seconds() - t0;
    volatile float sink = 0; /* the results, so that nothing is optimised away */
    for (int i = 0; i <= started; i++) sink += job[i].result;
    (void)sink;
    return ok ? 2.0 * FMA_LANES * FMA_CHAINS * (double)iters * threads / t / 1e9 : 0;
}

/* A peak is the best the machine does: the best of FMA_TRIES runs, since a
 * single run on this VM can lose a third of a core to the host (one measured
 * 338 GFLOP/s on two threads in a section where GEMMs reached 436). */
static double best_fma_peak(int threads) {
    double best = 0;
    for (int i = 0; i < (smoke ? 1 : FMA_TRIES); i++) {
        const double g = fma_peak(threads);
        if (g > best) best = g;
    }
    return best;
}
#endif

static void bench_fma(int threads) {
#ifdef FMA_LANES
    printf("FMA peak (%d-lane FP32 FMA, best of %d): 1 thread %.1f GFLOP/s, %d threads %.1f "
           "GFLOP/s\n",
           FMA_LANES, smoke ? 1 : FMA_TRIES, best_fma_peak(1), threads, best_fma_peak(threads));
#else
    (void)threads;
    printf("FMA peak: n/a (build without AVX2/AVX-512 flags)\n");
#endif
}

/* ---- 2. GEMM seam vs cblas_sgemm ---- */

typedef struct gemm_case {
    const char *what;
    int ta, tb, m, n, k;
} gemm_case;

/* Row-major, as the ops call sn_sgemm (batch 64; P = output pixels per image):
 *   Linear(in, out)  fwd  (0,1) m=64  n=out k=in
 *                    dx   (0,0) m=64  n=in  k=out
 *                    dW   (1,0) m=out n=in  k=64
 *   Conv2d           fwd  (0,0) m=C_out  n=64*P  k=K      (K = C_in*kh*kw)
 *                    dW   (0,1) m=C_out  n=K     k=64*P
 *                    dcol (1,0) m=K      n=64*P  k=C_out */
static const gemm_case gemm_cases[] = {
    {"mlp Linear(784,256) fwd", 0, 1, 64, 256, 784},
    {"mlp Linear(784,256) dW", 1, 0, 256, 784, 64},
    {"mlp Linear(256,128) fwd", 0, 1, 64, 128, 256},
    {"mlp Linear(256,128) dx", 0, 0, 64, 256, 128},
    {"mlp Linear(256,128) dW", 1, 0, 128, 256, 64},
    {"mlp Linear(128,10) fwd", 0, 1, 64, 10, 128},
    {"mlp Linear(128,10) dx", 0, 0, 64, 128, 10},
    {"mlp Linear(128,10) dW", 1, 0, 10, 128, 64},
    {"lenet Conv2d(1,6,5,p2) fwd", 0, 0, 6, 64 * 784, 25},
    {"lenet Conv2d(1,6,5,p2) dW", 0, 1, 6, 25, 64 * 784},
    {"lenet Conv2d(6,16,5) fwd", 0, 0, 16, 64 * 100, 150},
    {"lenet Conv2d(6,16,5) dW", 0, 1, 16, 150, 64 * 100},
    {"lenet Conv2d(6,16,5) dcol", 1, 0, 150, 64 * 100, 16},
    {"lenet Linear(400,120) fwd", 0, 1, 64, 120, 400},
    {"lenet Linear(400,120) dx", 0, 0, 64, 400, 120},
    {"lenet Linear(400,120) dW", 1, 0, 120, 400, 64},
    {"lenet Linear(120,84) fwd", 0, 1, 64, 84, 120},
    {"lenet Linear(84,10) fwd", 0, 1, 64, 10, 84},
    {"cnn2 Conv2d(1,32,3) fwd", 0, 0, 32, 64 * 676, 9},
    {"cnn2 Conv2d(1,32,3) dW", 0, 1, 32, 9, 64 * 676},
    {"cnn2 Conv2d(32,64,3) fwd", 0, 0, 64, 64 * 576, 288},
    {"cnn2 Conv2d(32,64,3) dW", 0, 1, 64, 288, 64 * 576},
    {"cnn2 Conv2d(32,64,3) dcol", 1, 0, 288, 64 * 576, 64},
    {"cnn2 Linear(9216,128) fwd", 0, 1, 64, 128, 9216},
    {"cnn2 Linear(9216,128) dx", 0, 0, 64, 9216, 128},
    {"cnn2 Linear(9216,128) dW", 1, 0, 128, 9216, 64},
    {"lenet Linear(120,84) dx", 0, 0, 64, 120, 84},
    {"lenet Linear(120,84) dW", 1, 0, 84, 120, 64},
    {"lenet Linear(84,10) dx", 0, 0, 64, 84, 10},
    {"lenet Linear(84,10) dW", 1, 0, 10, 84, 64},
    /* Inference at batch 256 (bench/run.py): the forward products. */
    {"mlp Linear(784,256) fwd b256", 0, 1, 256, 256, 784},
    {"mlp Linear(256,128) fwd b256", 0, 1, 256, 128, 256},
    {"mlp Linear(128,10) fwd b256", 0, 1, 256, 10, 128},
    {"lenet Linear(400,120) fwd b256", 0, 1, 256, 120, 400},
    {"lenet Linear(120,84) fwd b256", 0, 1, 256, 84, 120},
    {"lenet Linear(84,10) fwd b256", 0, 1, 256, 10, 84},
    {"cnn2 Linear(9216,128) fwd b256", 0, 1, 256, 128, 9216},
};

typedef struct gemm_run {
    const gemm_case *c;
    const float *a, *b;
    float *out;
} gemm_run;

static void gemm_shape(const gemm_case *c, int *lda, int *ldb) {
    *lda = c->ta ? c->m : c->k; /* A is (m,k) or stored (k,m) */
    *ldb = c->tb ? c->k : c->n; /* B is (k,n) or stored (n,k) */
}

static void run_seam(void *ctx) {
    const gemm_run *r = ctx;
    int lda, ldb;
    gemm_shape(r->c, &lda, &ldb);
    sn_sgemm(r->c->ta, r->c->tb, r->c->m, r->c->n, r->c->k, 1.0f, r->a, lda, r->b, ldb, 0.0f,
             r->out, r->c->n);
}

/* The product by `one` on this thread (pool = 0) or through the seam's cut on
 * the pool (pool = 1). */
static void run_with(const gemm_run *r, sn_sgemm_fn one, int pool) {
    int lda, ldb;
    gemm_shape(r->c, &lda, &ldb);
    if (pool)
        sn_sgemm_split(one, r->c->ta, r->c->tb, r->c->m, r->c->n, r->c->k, 1.0f, r->a, lda, r->b,
                       ldb, 0.0f, r->out, r->c->n);
    else
        one(r->c->ta, r->c->tb, r->c->m, r->c->n, r->c->k, 1.0f, r->a, lda, r->b, ldb, 0.0f, r->out,
            r->c->n);
}

static void run_own(void *ctx) {
    run_with(ctx, sn_sgemm_portable, 0);
}

static void run_own_pool(void *ctx) {
    run_with(ctx, sn_sgemm_portable, 1);
}

#ifdef SINAPSI_HAVE_CBLAS
static void direct_cblas(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void run_cblas(void *ctx) {
    run_with(ctx, direct_cblas, 0);
}

static void run_cblas_pool(void *ctx) {
    run_with(ctx, direct_cblas, 1);
}
#endif

static float *random_floats(size_t n) {
    float *p = malloc(n * sizeof *p);
    if (!p) return NULL;
    sn_rng rng;
    sn_rng_seed(&rng, 7, SN_STREAM_INIT);
    for (size_t i = 0; i < n; i++) p[i] = (float)(sn_rng_u64(&rng) >> 40) / 16777216.0f - 0.5f;
    return p;
}

static int bench_gemm(void) {
    const int t = sn_get_threads();
    printf("\nGEMM: sn_sgemm (%s, %d threads; route: own kernel or cblas) vs the own kernel\n"
           "(sn_sgemm_portable) and direct cblas_sgemm, on 1 thread and through the seam's cut\n"
           "on the pool (%dt), GFLOP/s (2mnk per call)\n",
           sn_sgemm_backend(), t, t);
    printf("%-30s %-3s %5s %5s %5s %5s %7s %7s %7s %7s %7s\n", "product", "op", "m", "n", "k",
           "route", "seam", "own 1t", "cblas1t", "own Tt", "cblasTt");
    for (size_t i = 0; i < sizeof gemm_cases / sizeof gemm_cases[0]; i++) {
        const gemm_case *c = &gemm_cases[i];
        gemm_run r = {c, random_floats((size_t)c->m * c->k), random_floats((size_t)c->k * c->n),
                      random_floats((size_t)c->m * c->n)};
        if (!r.a || !r.b || !r.out) {
            free((void *)r.a), free((void *)r.b), free(r.out);
            fprintf(stderr, "bench_ops: out of memory\n");
            return 0;
        }
        double flops = 2.0 * c->m * c->n * c->k;
        double seam = flops / seconds_per_call(run_seam, &r) / 1e9;
        double own = flops / seconds_per_call(run_own, &r) / 1e9;
        double own_pool = flops / seconds_per_call(run_own_pool, &r) / 1e9;
        char op[4] = {c->ta ? 'T' : 'N', c->tb ? 'T' : 'N', 0};
        const char *route = sn_sgemm_own_route(c->ta, c->tb, c->m, c->n, c->k) ? "own" : "cblas";
#ifdef SINAPSI_HAVE_CBLAS
        double direct = flops / seconds_per_call(run_cblas, &r) / 1e9;
        double direct_pool = flops / seconds_per_call(run_cblas_pool, &r) / 1e9;
        printf("%-30s %-3s %5d %5d %5d %5s %7.1f %7.1f %7.1f %7.1f %7.1f\n", c->what, op, c->m,
               c->n, c->k, route, seam, own, direct, own_pool, direct_pool);
#else
        printf("%-30s %-3s %5d %5d %5d %5s %7.1f %7.1f %7s %7.1f %7s\n", c->what, op, c->m, c->n,
               c->k, route, seam, own, "n/a", own_pool, "n/a");
#endif
        free((void *)r.a), free((void *)r.b), free(r.out);
    }
    return 1;
}

/* ---- 3. Conv2d and MaxPool2d through one-op graphs ---- */

typedef struct op_case {
    const char *what;
    int conv; /* 1 = Conv2d(c, c_out, k, padding=pad), 0 = MaxPool2d(k) */
    int c, h, w, c_out, k, pad;
} op_case;

static const op_case op_cases[] = {
    {"lenet Conv2d(1,6,5,p2)", 1, 1, 28, 28, 6, 5, 2},
    {"lenet Conv2d(6,16,5)", 1, 6, 14, 14, 16, 5, 0},
    {"cnn2 Conv2d(1,32,3)", 1, 1, 28, 28, 32, 3, 0},
    {"cnn2 Conv2d(32,64,3)", 1, 32, 26, 26, 64, 3, 0},
    {"lenet MaxPool2d(2) 6x28x28", 0, 6, 28, 28, 0, 2, 0},
    {"lenet MaxPool2d(2) 16x10x10", 0, 16, 10, 10, 0, 2, 0},
    {"cnn2 MaxPool2d(2) 64x24x24", 0, 64, 24, 24, 0, 2, 0},
};

typedef struct op_run {
    sn_graph *g;
    int out;
    const float *seed;
} op_run;

static void run_forward(void *ctx) {
    op_run *r = ctx;
    sn_graph_forward(r->g);
}

static void run_forward_backward(void *ctx) {
    op_run *r = ctx;
    sn_graph_forward(r->g);
    sn_graph_zero_grad(r->g);
    sn_graph_backward_from(r->g, r->out, r->seed);
}

/* A graph of one op on a (64, c, h, w) input that wants its gradient, with
 * random input and weights. */
static sn_graph *op_graph(const op_case *oc, int *out) {
    sn_graph *g = sn_graph_create(1);
    if (!g) return NULL;
    int x = sn_input(g, "x", 4, (int64_t[]){64, oc->c, oc->h, oc->w});
    sn_graph_set_requires_grad(g, x, 1);
    if (oc->conv) {
        int w = sn_param(g, "w", 4, (int64_t[]){oc->c_out, oc->c, oc->k, oc->k});
        int b = sn_param(g, "b", 1, (int64_t[]){oc->c_out});
        *out = sn_conv2d(g, x, w, b, 1, 1, oc->pad, oc->pad);
    } else {
        *out = sn_maxpool2d(g, x, oc->k, oc->k, oc->k, oc->k, 0, 0);
    }
    if (sn_graph_compile(g) != SN_OK) {
        sn_graph_destroy(g);
        return NULL;
    }
    size_t n_params, n_x = (size_t)64 * oc->c * oc->h * oc->w;
    float *params = sn_graph_params(g, &n_params), *fill = random_floats(n_x);
    if (!fill) {
        sn_graph_destroy(g);
        return NULL;
    }
    memcpy(sn_graph_value(g, x), fill, n_x * sizeof *fill);
    if (n_params) memcpy(params, fill, (n_params < n_x ? n_params : n_x) * sizeof *fill);
    free(fill);
    return g;
}

static int bench_conv_pool(void) {
    printf("\nConv2d / MaxPool2d at batch 64 (one-op graph): ms per call, GFLOP/s "
           "(Conv2d: forward FLOPs of sn_model_layer_info, backward counted as 2x)\n");
    printf("%-30s %10s %10s %10s %10s\n", "op", "fwd ms", "bwd ms", "fwd GF/s", "bwd GF/s");
    for (size_t i = 0; i < sizeof op_cases / sizeof op_cases[0]; i++) {
        const op_case *oc = &op_cases[i];
        op_run r = {0};
        r.g = op_graph(oc, &r.out);
        float *seed = NULL;
        size_t n_out = 0;
        if (r.g) {
            const sn_shape *s = sn_graph_shape(r.g, r.out);
            n_out = (size_t)s->dim[0] * s->dim[1] * s->dim[2] * s->dim[3];
            seed = random_floats(n_out);
        }
        if (!r.g || !seed) {
            fprintf(stderr, "bench_ops: %s: %s\n", oc->what, sn_last_error());
            sn_graph_destroy(r.g);
            free(seed);
            return 0;
        }
        r.seed = seed;
        double fwd = seconds_per_call(run_forward, &r);
        double bwd = seconds_per_call(run_forward_backward, &r) - fwd;
        if (bwd < 0) bwd = 0; /* noise when backward is tiny */
        if (oc->conv) {
            double flops = 2.0 * oc->c * oc->k * oc->k * (double)n_out;
            printf("%-30s %10.3f %10.3f %10.1f %10.1f\n", oc->what, fwd * 1e3, bwd * 1e3,
                   flops / fwd / 1e9, bwd > 0 ? 2 * flops / bwd / 1e9 : 0.0);
        } else {
            printf("%-30s %10.3f %10.3f %10s %10s\n", oc->what, fwd * 1e3, bwd * 1e3, "-", "-");
        }
        sn_graph_destroy(r.g);
        free(seed);
    }
    return 1;
}

int main(int argc, char **argv) {
    int threads = 0, gemm_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0)
            smoke = 1;
        else if (strcmp(argv[i], "--gemm") == 0)
            gemm_only = 1;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else
            return fprintf(stderr, "usage: bench_ops [--threads T] [--smoke] [--gemm]\n"), 2;
    }
    /* Also makes OpenBLAS single-threaded (sn_parallel_init), before the
     * first direct cblas_sgemm. */
    if (sn_set_threads(threads) != SN_OK) {
        fprintf(stderr, "bench_ops: %s\n", sn_last_error());
        return 2;
    }
    sn_parallel_init();
    threads = sn_get_threads();
    printf("bench_ops: %d threads\n", threads);
#if defined(SINAPSI_HAVE_CBLAS) && defined(OPENBLAS_CONFIG_H)
    printf("OpenBLAS: core %s, config %s, %d thread(s)\n", openblas_get_corename(),
           openblas_get_config(), openblas_get_num_threads());
#endif
    if (gemm_only) return bench_gemm() ? 0 : 1;
    bench_fma(threads);
    if (!bench_gemm() || !bench_conv_pool()) return 1;
    return 0;
}
