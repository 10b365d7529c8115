/*
 * bench_conv_gemm: the three products of src/backend/cpu/conv_gemm.h at the
 * benchmark models' convolution shapes (and a few larger ones): the blocked
 * kernels (conv_gemm_blocked.h) against the same products through sn_sgemm
 * (the first version of conv_gemm.c, copied below as the baseline). A '*'
 * marks the one that conv_gemm.h takes at that shape in this build.
 *
 *   bench_conv_gemm [--smoke] [--best] [--images N] [--layers]
 *
 * Then (only this with --layers), per convolution layer of the models (N
 * images per call, one thread), the direct convolution of
 * src/backend/cpu/conv_direct.h against the im2col path conv2d.c takes
 * otherwise, counting the im2col (forward, dW) and the col2im (dx) in the
 * time: GFLOP/s of 2 * C_out * K * OH*OW per image. The direct dW and dx take
 * the N images in one call, as conv2d's backward chunks do (4 at batch 64).
 * A '*' marks the path conv2d.c takes at that shape in this build.
 *
 * One thread (the products run inside a pool chunk); P = N images' output
 * pixels (N = 1 by default). Prints GFLOP/s (2 * C_out * K * P per call):
 * the median of 101 runs of >= 1 ms each (--best: the fastest run, less
 * sensitive to other processes on a shared machine; one call with --smoke).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/conv_direct.h"
#include "backend/cpu/conv_gemm.h"
#include "backend/cpu/conv_gemm_blocked.h"
#include "backend/cpu/im2col.h"
#include "backend/cpu/gemm.h"
#include "sinapsi/sinapsi.h"

static int smoke, best;

/* ---- the baseline: conv_gemm.c as first written, through sn_sgemm ---- */

static void base_forward(int c_out, int k, int p, const float *w, const float *col, int ld_col,
                         const float *bias, float *y, int ld_y) {
    if (bias)
        for (int o = 0; o < c_out; o++)
            for (int j = 0; j < p; j++) y[(long)o * ld_y + j] = bias[o];
    sn_sgemm(0, 0, c_out, p, k, 1.0f, w, k, col, ld_col, bias ? 1.0f : 0.0f, y, ld_y);
}

static void base_weight_grad(int c_out, int k, int p, const float *dy, int ld_y, const float *col,
                             int ld_col, float *dw) {
    sn_sgemm(0, 1, c_out, k, p, 1.0f, dy, ld_y, col, ld_col, 1.0f, dw, k);
}

static void base_input_grad(int c_out, int k, int p, const float *w, const float *dy, int ld_y,
                            float *dcol, int ld_col) {
    sn_sgemm(1, 0, k, p, c_out, 1.0f, w, k, dy, ld_y, 0.0f, dcol, ld_col);
}

/* ---- timing ---- */

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct shape {
    const char *what;
    int c_out, k, p; /* p per image */
} shape;

typedef struct run {
    int c_out, k, p, variant; /* variant: 0 blocked kernel, 1 sn_sgemm baseline */
    const float *w, *bias, *col, *dy;
    float *y, *dw, *dcol;
} run;

typedef void (*run_fn)(const run *r);

/* ---- the direct convolution against im2col, per image ---- */

typedef struct layer {
    const char *what;
    int c_in, c_out, h, w, kh, kw, pad;
} layer;

static const layer layers[] = {
    {"lenet conv1 (1,6,5,p2)", 1, 6, 28, 28, 5, 5, 2},
    {"lenet conv2 (6,16,5)", 6, 16, 14, 14, 5, 5, 0},
    {"cnn2 conv1 (1,32,3)", 1, 32, 28, 28, 3, 3, 0},
    {"cnn2 conv2 (32,64,3)", 32, 64, 26, 26, 3, 3, 0},
};

typedef struct conv_case {
    sn_im2col_geometry g;
    int c_out, k, p, direct; /* direct: 0 im2col path, 1 conv_direct.h */
    int images;              /* per call: x, dy, y, dx hold that many */
    const float *x, *w, *bias, *dy;
    float *y, *dw, *dx, *scratch; /* scratch: (K, P) and the direct path's */
} conv_case;

typedef void (*conv_fn)(const conv_case *c);

static size_t in_image(const conv_case *c) {
    return (size_t)c->g.channels * c->g.height * c->g.width;
}

static size_t out_image(const conv_case *c) {
    return (size_t)c->c_out * c->p;
}

/* Image by image, as conv2d's forward. */
static void conv_forward(const conv_case *c) {
    for (int n = 0; n < c->images; n++) {
        const float *x = c->x + n * in_image(c);
        float *y = c->y + n * out_image(c);
        if (c->direct) {
            sn_conv_direct_forward(&c->g, c->c_out, x, c->w, c->bias, y, c->scratch);
            continue;
        }
        sn_im2col(&c->g, x, c->scratch);
        sn_conv_gemm_forward(c->c_out, c->k, c->p, c->w, c->scratch, c->p, c->bias, y, c->p);
    }
}

/* The direct path takes the images in one call, as conv2d's backward chunks. */
static void conv_weight_grad(const conv_case *c) {
    if (c->direct) {
        sn_conv_direct_weight_grad(&c->g, c->c_out, c->images, c->x, c->dy, c->dw, c->scratch);
        return;
    }
    for (int n = 0; n < c->images; n++) {
        sn_im2col(&c->g, c->x + n * in_image(c), c->scratch);
        sn_conv_gemm_weight_grad(c->c_out, c->k, c->p, c->dy + n * out_image(c), c->p, c->scratch,
                                 c->p, c->dw);
    }
}

static void conv_input_grad(const conv_case *c) {
    if (c->direct) {
        sn_conv_direct_input_grad(&c->g, c->c_out, c->images, c->w, c->dy, c->dx, c->scratch);
        return;
    }
    for (int n = 0; n < c->images; n++) {
        const float *dy = c->dy + n * out_image(c);
        float *dx = c->dx + n * in_image(c);
        sn_conv_gemm_input_grad(c->c_out, c->k, c->p, c->w, dy, c->p, c->scratch, c->p);
        sn_col2im_add(&c->g, c->scratch, dx);
    }
}

static void run_forward(const run *r) {
    (r->variant ? base_forward : sn_conv_gemm_blocked_forward)(r->c_out, r->k, r->p, r->w, r->col,
                                                               r->p, r->bias, r->y, r->p);
}

static void run_weight_grad(const run *r) {
    (r->variant ? base_weight_grad : sn_conv_gemm_blocked_weight_grad)(r->c_out, r->k, r->p, r->dy,
                                                                       r->p, r->col, r->p, r->dw);
}

static void run_input_grad(const run *r) {
    (r->variant ? base_input_grad : sn_conv_gemm_blocked_input_grad)(r->c_out, r->k, r->p, r->w,
                                                                     r->dy, r->p, r->dcol, r->p);
}

/* Seconds per call of fn(r) (a run_fn or a conv_fn): the median (or the
 * best) of 101 runs of >= 1 ms. */
static double seconds_per_call_of(void (*call)(const void *fn, const void *r), const void *fn,
                                  const void *r) {
    enum { RUNS = 101 };
    double t[RUNS];
    call(fn, r); /* warm the caches */
    const int runs = smoke ? 1 : RUNS;
    for (int i = 0; i < runs; i++) {
        long calls = 0;
        double t0 = now_seconds(), dt;
        do {
            call(fn, r);
            calls++;
            dt = now_seconds() - t0;
        } while (!smoke && dt < 0.001);
        t[i] = dt / (double)calls;
    }
    qsort(t, (size_t)runs, sizeof t[0], compare_doubles);
    return t[best ? 0 : runs / 2];
}

typedef struct run_thunk {
    run_fn fn;
} run_thunk;

typedef struct conv_thunk {
    conv_fn fn;
} conv_thunk;

static void call_run(const void *fn, const void *r) {
    ((const run_thunk *)fn)->fn(r);
}

static void call_conv(const void *fn, const void *c) {
    ((const conv_thunk *)fn)->fn(c);
}

static double seconds_per_call(run_fn fn, const run *r) {
    const run_thunk th = {fn};
    return seconds_per_call_of(call_run, &th, r);
}

static float *random_floats(sn_rng *rng, size_t n) {
    float *v = malloc(n * sizeof *v);
    if (!v) {
        fprintf(stderr, "bench_conv_gemm: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) v[i] = 2.0f * sn_rng_uniform(rng) - 1.0f;
    return v;
}

static void bench_layers(sn_rng *rng, int images) {
    printf(
        "\nconvolution, %d image(s) per call, 1 thread: GFLOP/s (2*C_out*K*OH*OW), the im2col path "
        "(im2col/col2im included) vs conv_direct.h\n",
        images);
    printf("%-26s %5s %5s %6s | %9s %9s | %9s %9s | %9s %9s\n", "layer", "C_out", "K", "P", "fwd",
           "direct", "dW", "direct", "dx", "direct");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const layer *ly = &layers[l];
        conv_case c;
        memset(&c, 0, sizeof c);
        c.g = (sn_im2col_geometry){1, ly->c_in, ly->h,   ly->w,   ly->kh, ly->kw,
                                   1, 1,        ly->pad, ly->pad, 0,      0};
        c.g.out_h = ly->h + 2 * ly->pad - ly->kh + 1;
        c.g.out_w = ly->w + 2 * ly->pad - ly->kw + 1;
        c.c_out = ly->c_out;
        c.images = images;
        c.k = ly->c_in * ly->kh * ly->kw;
        c.p = c.g.out_h * c.g.out_w;
        const int route = sn_conv_direct_route(&c.g, c.c_out);
        const int64_t direct_scratch = sn_conv_direct_scratch(
            &c.g, c.c_out,
            SN_CONV_DIRECT_FORWARD | SN_CONV_DIRECT_WEIGHT_GRAD | SN_CONV_DIRECT_INPUT_GRAD);
        const size_t scratch = (size_t)c.k * (size_t)c.p > (size_t)direct_scratch
                                   ? (size_t)c.k * (size_t)c.p
                                   : (size_t)direct_scratch;
        const size_t nx = (size_t)images * ly->c_in * ly->h * ly->w, nw = (size_t)c.c_out * c.k,
                     ny = (size_t)images * c.c_out * c.p;
        c.x = random_floats(rng, nx);
        c.w = random_floats(rng, nw);
        c.bias = random_floats(rng, (size_t)c.c_out);
        c.dy = random_floats(rng, ny);
        c.y = random_floats(rng, ny);
        c.dw = random_floats(rng, nw);
        c.dx = random_floats(rng, nx);
        c.scratch = random_floats(rng, scratch);
        const double flops = 2.0 * c.c_out * c.k * c.p * images;
        const conv_thunk fns[3] = {{conv_forward}, {conv_weight_grad}, {conv_input_grad}};
        const int masks[3] = {SN_CONV_DIRECT_FORWARD, SN_CONV_DIRECT_WEIGHT_GRAD,
                              SN_CONV_DIRECT_INPUT_GRAD};
        printf("%-26s %5d %5d %6d", ly->what, c.c_out, c.k, c.p);
        for (int f = 0; f < 3; f++) {
            printf(" |");
            for (int v = 0; v < 2; v++) {
                c.direct = v;
                printf(" %8.1f%c", flops / seconds_per_call_of(call_conv, &fns[f], &c) / 1e9,
                       v == !!(route & masks[f]) ? '*' : ' ');
            }
        }
        printf("\n");
        fflush(stdout);
        free((void *)c.x), free((void *)c.w), free((void *)c.bias), free((void *)c.dy);
        free(c.y), free(c.dw), free(c.dx), free(c.scratch);
    }
}

static const shape shapes[] = {
    {"lenet conv1 (1,6,5,p2)", 6, 25, 784},     {"lenet conv2 (6,16,5)", 16, 150, 100},
    {"cnn2 conv1 (1,32,3)", 32, 9, 676},        {"cnn2 conv2 (32,64,3)", 64, 288, 576},
    {"larger (64,128,3) 12x12", 128, 576, 144}, {"larger (128,256,3) 14x14", 256, 1152, 196},
    {"larger (16,32,5) 56x56", 32, 400, 3136},
};

int main(int argc, char **argv) {
    int images = 1, layers_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0)
            smoke = 1;
        else if (strcmp(argv[i], "--best") == 0)
            best = 1;
        else if (strcmp(argv[i], "--layers") == 0)
            layers_only = 1;
        else if (strcmp(argv[i], "--images") == 0 && i + 1 < argc)
            images = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_conv_gemm [--smoke] [--best] [--images N] [--layers]\n");
            return 2;
        }
    }
    if (images < 1) images = 1;
    sn_set_threads(1);
    printf("conv_gemm, 1 thread, %d image(s) per call: GFLOP/s (2*C_out*K*P per call, %s of 101), "
           "blocked kernels vs sn_sgemm (%s)\n",
           images, best ? "best" : "median", sn_sgemm_backend());
    printf("%-26s %5s %5s %6s | %9s %9s | %9s %9s | %9s %9s\n", "shape", "C_out", "K", "P", "fwd",
           "sgemm", "dW", "sgemm", "dcol", "sgemm");
    sn_rng rng;
    sn_rng_seed(&rng, 3, 0);
    for (size_t s = 0; !layers_only && s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *sh = &shapes[s];
        run r = {sh->c_out, sh->k, sh->p * images, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
        const size_t nw = (size_t)r.c_out * r.k, ncol = (size_t)r.k * r.p,
                     ny = (size_t)r.c_out * r.p;
        r.w = random_floats(&rng, nw);
        r.bias = random_floats(&rng, (size_t)r.c_out);
        r.col = random_floats(&rng, ncol);
        r.dy = random_floats(&rng, ny);
        r.y = random_floats(&rng, ny);
        r.dw = random_floats(&rng, nw);
        r.dcol = random_floats(&rng, ncol);
        const double flops = 2.0 * r.c_out * r.k * r.p;
        const run_fn fns[3] = {run_forward, run_weight_grad, run_input_grad};
        const sn_conv_product products[3] = {SN_CONV_FORWARD, SN_CONV_WEIGHT_GRAD,
                                             SN_CONV_INPUT_GRAD};
        printf("%-26s %5d %5d %6d", sh->what, r.c_out, r.k, r.p);
        for (int f = 0; f < 3; f++) {
            const int chosen = sn_conv_gemm_route(products[f], r.c_out, r.k, r.p) ? 0 : 1;
            printf(" |");
            for (int v = 0; v < 2; v++) {
                r.variant = v;
                printf(" %8.1f%c", flops / seconds_per_call(fns[f], &r) / 1e9,
                       v == chosen ? '*' : ' ');
            }
        }
        printf("\n");
        fflush(stdout);
        free((void *)r.w), free((void *)r.bias), free((void *)r.col), free((void *)r.dy);
        free(r.y), free(r.dw), free(r.dcol);
    }
    bench_layers(&rng, images);
    return 0;
}
