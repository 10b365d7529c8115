/*
 * PyTorch golden tests: every op against torch autograd.
 *
 * tests/golden/gen.py writes one safetensors file per op and case (see
 * tests/golden/README.md): the inputs in0.., the output out, the backward seed
 * dout and the input gradients grad_in0.. that torch computed, with the op and
 * its attributes in __metadata__. For each file, in sorted order, this test
 * builds the same node with the public builders (weights and biases of linear,
 * conv2d and batch_norm as parameters, the inputs listed in the metadata
 * "buffers" as buffers, every other input as a graph input that asks for a
 * gradient where torch computed one), compiles, runs forward and compares out
 * and, for each buffer, its value after forward with inK_after (batch_norm's
 * running statistics after a training step), then backward_from(out, dout) and
 * compares every grad_inK. An element passes
 * when |got - want| <= atol + rtol * |want|, NaN never passes.
 *
 * One line per case gives the largest absolute difference; a table per op and
 * a summary line follow; the test fails listing every failing case. A file
 * whose op is unknown fails (a new op needs a builder here), and so does a
 * directory with fewer cases than expected or with no case of some op, so
 * that an empty or half-generated directory cannot pass. A negative control
 * checks that a perturbed output or gradient, and an unknown op, do fail.
 */
#include "support/test_support.h"
#include "support/temp_dir.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinapsi/safetensors.h"

#define GOLDEN_RTOL 1e-4
#define GOLDEN_ATOL 1e-5
/* gen.py writes this many files; fewer means a broken or partial directory. */
#define GOLDEN_MIN_CASES 81
#define MAX_INPUTS 6
#define MAX_CASES 1024

typedef struct case_result {
    int passed;
    double max_diff;  /* largest |got - want| over out and every gradient */
    char reason[320]; /* why it failed, empty when it passed */
    char op[32];      /* the op named in the file */
} case_result;

/* ---- attributes from __metadata__ ---- */

/* Parses "3,2" or "4,-1" into at most max integers; returns the count or -1. */
static int parse_ints(const char *text, int64_t *out, int max) {
    int n = 0;
    const char *p = text;
    while (p && *p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || n == max) return -1;
        out[n++] = v;
        if (*end == ',')
            end++;
        else if (*end)
            return -1;
        p = end;
    }
    return n;
}

/* The attribute key as exactly two ints ("3,2"); 0 and a reason if absent or bad. */
static int attr_pair(const sn_safetensors *f, const char *key, int out[2], case_result *r) {
    const char *text = sn_safetensors_metadata(f, key);
    int64_t v[2];
    if (!text || parse_ints(text, v, 2) != 2 || v[0] < 0 || v[1] < 0 || v[0] > 1000 ||
        v[1] > 1000) {
        snprintf(r->reason, sizeof r->reason, "metadata '%s' missing or not two sizes: %s", key,
                 text ? text : "(absent)");
        return 0;
    }
    out[0] = (int)v[0];
    out[1] = (int)v[1];
    return 1;
}

static int attr_reduction(const sn_safetensors *f, sn_reduction *out, case_result *r) {
    const char *text = sn_safetensors_metadata(f, "reduction");
    if (text && strcmp(text, "mean") == 0)
        *out = SN_REDUCTION_MEAN;
    else if (text && strcmp(text, "sum") == 0)
        *out = SN_REDUCTION_SUM;
    else {
        snprintf(r->reason, sizeof r->reason, "metadata 'reduction' is not mean or sum: %s",
                 text ? text : "(absent)");
        return 0;
    }
    return 1;
}

static int attr_float(const sn_safetensors *f, const char *key, float *out, case_result *r) {
    const char *text = sn_safetensors_metadata(f, key);
    char *end = NULL;
    if (text) *out = strtof(text, &end);
    if (!text || end == text || *end) {
        snprintf(r->reason, sizeof r->reason, "metadata '%s' is not a number: %s", key,
                 text ? text : "(absent)");
        return 0;
    }
    return 1;
}

/* ---- the ops: how to build each from a golden file ---- */

/* Builds the node from its leaves in[0..n_in-1]; returns the node id, or
 * SN_NONE with r->reason set for a bad attribute (a failing builder returns
 * SN_NONE too, and compile then says why). */
typedef int (*golden_build)(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                            case_result *r);

typedef struct golden_op {
    const char *name;
    int min_in, max_in;
    int weights_are_params; /* inputs 1.. are a layer's weight and bias */
    golden_build build;
} golden_op;

/* The indices listed in metadata "buffers" ("3,4,5", or empty): is_buffer[k]. */
static int attr_buffers(const sn_safetensors *f, int is_buffer[MAX_INPUTS], case_result *r) {
    const char *text = sn_safetensors_metadata(f, "buffers");
    int64_t v[MAX_INPUTS];
    const int n = text ? parse_ints(text, v, MAX_INPUTS) : 0;
    int ok = n >= 0;
    for (int k = 0; k < MAX_INPUTS; k++) is_buffer[k] = 0;
    for (int i = 0; i < n && ok; i++) {
        ok = v[i] >= 0 && v[i] < MAX_INPUTS;
        if (ok) is_buffer[v[i]] = 1;
    }
    if (!ok)
        snprintf(r->reason, sizeof r->reason, "metadata 'buffers' is not a list of inputs: %s",
                 text);
    return ok;
}

/* A 0/1 flag of the metadata. */
static int attr_flag(const sn_safetensors *f, const char *key, int *out, case_result *r) {
    const char *text = sn_safetensors_metadata(f, key);
    if (!text || (strcmp(text, "0") != 0 && strcmp(text, "1") != 0)) {
        snprintf(r->reason, sizeof r->reason, "metadata '%s' is not 0 or 1: %s", key,
                 text ? text : "(absent)");
        return 0;
    }
    *out = text[0] == '1';
    return 1;
}

static int build_linear(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                        case_result *r) {
    (void)f, (void)r;
    return sn_linear(g, in[0], in[1], n_in > 2 ? in[2] : SN_NONE);
}

static int build_add(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                     case_result *r) {
    (void)n_in, (void)f, (void)r;
    return sn_add(g, in[0], in[1]);
}

static int build_conv2d(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                        case_result *r) {
    int stride[2], padding[2];
    if (!attr_pair(f, "stride", stride, r) || !attr_pair(f, "padding", padding, r)) return SN_NONE;
    return sn_conv2d(g, in[0], in[1], n_in > 2 ? in[2] : SN_NONE, stride[0], stride[1], padding[0],
                     padding[1]);
}

/* Reads kernel, stride and padding of a pooling case. */
static int pool_attrs(const sn_safetensors *f, int kernel[2], int stride[2], int padding[2],
                      case_result *r) {
    return attr_pair(f, "kernel", kernel, r) && attr_pair(f, "stride", stride, r) &&
           attr_pair(f, "padding", padding, r);
}

static int build_maxpool2d(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                           case_result *r) {
    (void)n_in;
    int k[2], s[2], p[2];
    if (!pool_attrs(f, k, s, p, r)) return SN_NONE;
    return sn_maxpool2d(g, in[0], k[0], k[1], s[0], s[1], p[0], p[1]);
}

static int build_avgpool2d(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                           case_result *r) {
    (void)n_in;
    int k[2], s[2], p[2];
    const char *include = sn_safetensors_metadata(f, "count_include_pad");
    if (!pool_attrs(f, k, s, p, r)) return SN_NONE;
    if (!include || (strcmp(include, "0") != 0 && strcmp(include, "1") != 0)) {
        snprintf(r->reason, sizeof r->reason, "metadata 'count_include_pad' is not 0 or 1");
        return SN_NONE;
    }
    return sn_avgpool2d(g, in[0], k[0], k[1], s[0], s[1], p[0], p[1], include[0] == '1');
}

static int build_flatten(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                         case_result *r) {
    (void)n_in, (void)f, (void)r;
    return sn_flatten(g, in[0]);
}

static int build_reshape(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                         case_result *r) {
    (void)n_in;
    const char *text = sn_safetensors_metadata(f, "shape");
    int64_t shape[SN_MAX_DIMS];
    int ndim = text ? parse_ints(text, shape, SN_MAX_DIMS) : -1;
    if (ndim < 0) {
        snprintf(r->reason, sizeof r->reason, "metadata 'shape' missing or malformed");
        return SN_NONE;
    }
    return sn_reshape(g, in[0], ndim, shape);
}

static int build_leaky_relu(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                            case_result *r) {
    (void)n_in;
    float slope;
    if (!attr_float(f, "negative_slope", &slope, r)) return SN_NONE;
    return sn_leaky_relu(g, in[0], slope);
}

/* Ops of one input and no attribute share one builder, keyed by the op. */
static int build_unary(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                       case_result *r) {
    (void)n_in, (void)r;
    const char *op = sn_safetensors_metadata(f, "op");
    if (strcmp(op, "relu") == 0) return sn_relu(g, in[0]);
    if (strcmp(op, "sigmoid") == 0) return sn_sigmoid(g, in[0]);
    if (strcmp(op, "tanh") == 0) return sn_tanh(g, in[0]);
    if (strcmp(op, "softmax") == 0) return sn_softmax(g, in[0]);
    return sn_log_softmax(g, in[0]);
}

/* batch_norm: x, then weight and bias when "affine", then the three running
 * statistics when "track_running_stats"; the mode is the file's "training". */
static int build_batch_norm(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                            case_result *r) {
    int affine, track, training;
    float momentum = SN_BATCH_NORM_CUMULATIVE, eps;
    const char *momentum_text = sn_safetensors_metadata(f, "momentum");
    if (!attr_flag(f, "affine", &affine, r) || !attr_flag(f, "track_running_stats", &track, r) ||
        !attr_flag(f, "training", &training, r) || !attr_float(f, "eps", &eps, r))
        return SN_NONE;
    if (!momentum_text || strcmp(momentum_text, "None") != 0)
        if (!attr_float(f, "momentum", &momentum, r)) return SN_NONE;
    if (n_in != 1 + 2 * affine + 3 * track) {
        snprintf(r->reason, sizeof r->reason, "%d inputs, expected %d for affine %d, stats %d",
                 n_in, 1 + 2 * affine + 3 * track, affine, track);
        return SN_NONE;
    }
    const int w = affine ? in[1] : SN_NONE, b = affine ? in[2] : SN_NONE;
    const int *stats = in + 1 + 2 * affine;
    sn_graph_set_training(g, training);
    return sn_batch_norm(g, in[0], w, b, track ? stats[0] : SN_NONE, track ? stats[1] : SN_NONE,
                         track ? stats[2] : SN_NONE, momentum, eps);
}

/* Losses: (prediction, target) and a reduction. */
static int build_loss(sn_graph *g, const int *in, int n_in, const sn_safetensors *f,
                      case_result *r) {
    (void)n_in;
    sn_reduction red;
    if (!attr_reduction(f, &red, r)) return SN_NONE;
    const char *op = sn_safetensors_metadata(f, "op");
    if (strcmp(op, "mse") == 0) return sn_mse(g, in[0], in[1], red);
    if (strcmp(op, "bce") == 0) return sn_bce(g, in[0], in[1], red);
    if (strcmp(op, "bce_with_logits") == 0) return sn_bce_with_logits(g, in[0], in[1], red);
    if (strcmp(op, "nll") == 0) return sn_nll(g, in[0], in[1], red);
    return sn_cross_entropy(g, in[0], in[1], red);
}

static const golden_op golden_ops[] = {
    {"linear", 2, 3, 1, build_linear},
    {"add", 2, 2, 0, build_add},
    {"conv2d", 2, 3, 1, build_conv2d},
    {"maxpool2d", 1, 1, 0, build_maxpool2d},
    {"avgpool2d", 1, 1, 0, build_avgpool2d},
    {"flatten", 1, 1, 0, build_flatten},
    {"reshape", 1, 1, 0, build_reshape},
    {"relu", 1, 1, 0, build_unary},
    {"leaky_relu", 1, 1, 0, build_leaky_relu},
    {"sigmoid", 1, 1, 0, build_unary},
    {"tanh", 1, 1, 0, build_unary},
    {"softmax", 1, 1, 0, build_unary},
    {"log_softmax", 1, 1, 0, build_unary},
    {"mse", 2, 2, 0, build_loss},
    {"bce", 2, 2, 0, build_loss},
    {"bce_with_logits", 2, 2, 0, build_loss},
    {"nll", 2, 2, 0, build_loss},
    {"cross_entropy", 2, 2, 0, build_loss},
    {"batch_norm", 1, 6, 1, build_batch_norm},
};
enum { N_GOLDEN_OPS = sizeof golden_ops / sizeof golden_ops[0] };

static const golden_op *find_op(const char *name) {
    for (int i = 0; i < N_GOLDEN_OPS; i++)
        if (strcmp(golden_ops[i].name, name) == 0) return &golden_ops[i];
    return NULL;
}

/* ---- running one case ---- */

/* Compares got with want element by element; records the largest difference
 * and, on the first failure of the case, where it was. */
static void compare(const char *what, const float *got, const sn_tensor *want, case_result *r) {
    int64_t n = sn_tensor_numel(want);
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want->data[i], diff = fabs(g - w);
        int ok = diff <= GOLDEN_ATOL + GOLDEN_RTOL * fabs(w) || (isinf(w) && g == w);
        if (isfinite(diff) && diff > r->max_diff) r->max_diff = diff;
        if (!ok) {
            if (!isfinite(diff)) r->max_diff = INFINITY;
            if (r->passed) {
                snprintf(r->reason, sizeof r->reason, "%s[%lld]: got %.9g, expected %.9g", what,
                         (long long)i, g, w);
                r->passed = 0;
            }
        }
    }
}

/* Records a failure whose reason is sn_last_error() after a prefix; returns 0. */
static int fail_with_error(case_result *r, const char *stage) {
    snprintf(r->reason, sizeof r->reason, "%s: %s", stage, sn_last_error());
    r->passed = 0;
    return 0;
}

typedef struct golden_tensors {
    int n_in;
    sn_tensor *in[MAX_INPUTS], *grad[MAX_INPUTS]; /* grad[k] NULL: no gradient */
    sn_tensor *after[MAX_INPUTS];                 /* a buffer's value after forward, or NULL */
    sn_tensor *out, *dout;
} golden_tensors;

static void free_tensors(golden_tensors *t) {
    for (int k = 0; k < MAX_INPUTS; k++) {
        sn_tensor_destroy(t->in[k]);
        sn_tensor_destroy(t->grad[k]);
        sn_tensor_destroy(t->after[k]);
    }
    sn_tensor_destroy(t->out);
    sn_tensor_destroy(t->dout);
}

/* Reads in0.., out, dout and grad_in0..; 0 with a reason when one is missing. */
static int read_tensors(const sn_safetensors *f, golden_tensors *t, case_result *r) {
    char name[32];
    for (int k = 0; k < MAX_INPUTS; k++) {
        snprintf(name, sizeof name, "in%d", k);
        if (sn_safetensors_find(f, name) < 0) break;
        if (sn_safetensors_read(f, name, &t->in[k]) != SN_OK) return fail_with_error(r, name);
        t->n_in = k + 1;
        snprintf(name, sizeof name, "grad_in%d", k);
        if (sn_safetensors_find(f, name) >= 0 && sn_safetensors_read(f, name, &t->grad[k]) != SN_OK)
            return fail_with_error(r, name);
        snprintf(name, sizeof name, "in%d_after", k);
        if (sn_safetensors_find(f, name) >= 0 &&
            sn_safetensors_read(f, name, &t->after[k]) != SN_OK)
            return fail_with_error(r, name);
    }
    if (sn_safetensors_read(f, "out", &t->out) != SN_OK) return fail_with_error(r, "out");
    if (sn_safetensors_read(f, "dout", &t->dout) != SN_OK) return fail_with_error(r, "dout");
    if (!sn_shape_equal(&t->out->shape, &t->dout->shape)) {
        snprintf(r->reason, sizeof r->reason, "dout and out differ in shape");
        return 0;
    }
    return 1;
}

/* Builds, runs and compares one case, given its open file and tensors. */
static void run_graph(const sn_safetensors *f, const golden_op *op, const golden_tensors *t,
                      case_result *r) {
    sn_graph *g = sn_graph_create(0);
    if (!g) {
        fail_with_error(r, "graph");
        return;
    }
    int leaf[MAX_INPUTS], is_buffer[MAX_INPUTS];
    char name[32];
    if (!attr_buffers(f, is_buffer, r)) {
        r->passed = 0;
        sn_graph_destroy(g);
        return;
    }
    for (int k = 0; k < t->n_in; k++) {
        snprintf(name, sizeof name, "in%d", k);
        const sn_shape *s = &t->in[k]->shape;
        if (is_buffer[k]) {
            leaf[k] = sn_buffer(g, name, s->ndim, s->dim);
        } else if (op->weights_are_params && k > 0) {
            leaf[k] = sn_param(g, name, s->ndim, s->dim);
        } else {
            leaf[k] = sn_input(g, name, s->ndim, s->dim);
            if (t->grad[k]) sn_graph_set_requires_grad(g, leaf[k], 1);
        }
    }
    int out = op->build(g, leaf, t->n_in, f, r);
    if (r->reason[0]) {
        r->passed = 0;
    } else if (sn_graph_compile(g) != SN_OK) {
        fail_with_error(r, "compile");
    } else if (!sn_shape_equal(sn_graph_shape(g, out), &t->out->shape)) {
        char got[64], want[64];
        snprintf(r->reason, sizeof r->reason, "output shape %s, expected %s",
                 sn_shape_format(sn_graph_shape(g, out), got, sizeof got),
                 sn_shape_format(&t->out->shape, want, sizeof want));
        r->passed = 0;
    } else {
        for (int k = 0; k < t->n_in; k++)
            memcpy(sn_graph_value(g, leaf[k]), t->in[k]->data,
                   (size_t)sn_tensor_numel(t->in[k]) * sizeof(float));
        if (sn_graph_forward(g) != SN_OK) {
            fail_with_error(r, "forward");
        } else {
            compare("out", sn_graph_value(g, out), t->out, r);
            for (int k = 0; k < t->n_in; k++) {
                if (!t->after[k]) continue;
                snprintf(name, sizeof name, "in%d_after", k);
                if (!is_buffer[k]) {
                    snprintf(r->reason, sizeof r->reason, "%s: in%d is not a buffer", name, k);
                    r->passed = 0;
                } else {
                    compare(name, sn_graph_value(g, leaf[k]), t->after[k], r);
                }
            }
            sn_graph_zero_grad(g);
            if (sn_graph_backward_from(g, out, t->dout->data) != SN_OK)
                fail_with_error(r, "backward");
            for (int k = 0; k < t->n_in && r->passed; k++) {
                if (!t->grad[k]) continue;
                snprintf(name, sizeof name, "grad_in%d", k);
                const float *grad = sn_graph_grad(g, leaf[k]);
                if (!grad) {
                    snprintf(r->reason, sizeof r->reason, "%s: the graph has no gradient", name);
                    r->passed = 0;
                } else {
                    compare(name, grad, t->grad[k], r);
                }
            }
        }
    }
    sn_graph_destroy(g);
}

static void run_case(const char *path, case_result *r) {
    memset(r, 0, sizeof *r);
    r->passed = 1;
    sn_safetensors *f;
    if (sn_safetensors_open(&f, path) != SN_OK) {
        fail_with_error(r, "open");
        return;
    }
    const char *op_name = sn_safetensors_metadata(f, "op");
    snprintf(r->op, sizeof r->op, "%s", op_name ? op_name : "?");
    const golden_op *op = op_name ? find_op(op_name) : NULL;
    golden_tensors t = {0};
    if (!op) {
        snprintf(r->reason, sizeof r->reason, "unknown op '%s': add a builder to test_op_golden.c",
                 r->op);
        r->passed = 0;
    } else if (read_tensors(f, &t, r)) {
        if (t.n_in < op->min_in || t.n_in > op->max_in) {
            snprintf(r->reason, sizeof r->reason, "%d inputs, %s takes %d to %d", t.n_in, op->name,
                     op->min_in, op->max_in);
            r->passed = 0;
        } else {
            run_graph(f, op, &t, r);
        }
    } else {
        r->passed = 0;
    }
    free_tensors(&t);
    sn_safetensors_close(f);
}

/* ---- the whole directory ---- */

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.safetensors names in dir, sorted; the caller frees each and the array. */
static int list_goldens(const char *dir, char ***out) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = calloc(MAX_CASES, sizeof *names);
    int n = 0;
    struct dirent *de;
    while (names && (de = readdir(d)) != NULL && n < MAX_CASES) {
        size_t len = strlen(de->d_name), suffix = strlen(".safetensors");
        if (len > suffix && strcmp(de->d_name + len - suffix, ".safetensors") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (names) qsort(names, (size_t)n, sizeof *names, compare_names);
    *out = names;
    return names ? n : -1;
}

static void test_goldens(void **state) {
    (void)state;
    char **names;
    int n = list_goldens(SN_GOLDEN_DIR, &names);
    if (n < 0) fail_msg("cannot list %s", SN_GOLDEN_DIR);

    struct {
        int cases, passed;
        double max_diff;
    } per_op[N_GOLDEN_OPS] = {{0}};
    int passed = 0;
    double worst = 0;
    const char *worst_case = "-";
    static char failures[16384];
    size_t used = 0;
    failures[0] = '\0';

    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", SN_GOLDEN_DIR, names[i]);
        case_result r;
        run_case(path, &r);
        printf("%-52s %s max|diff| %.3g%s%s\n", names[i], r.passed ? "ok  " : "FAIL", r.max_diff,
               r.passed ? "" : "  ", r.reason);
        const golden_op *op = find_op(r.op);
        if (op) {
            int k = (int)(op - golden_ops);
            per_op[k].cases++;
            per_op[k].passed += r.passed;
            if (r.max_diff > per_op[k].max_diff) per_op[k].max_diff = r.max_diff;
        }
        if (r.passed) {
            passed++;
            if (r.max_diff >= worst) {
                worst = r.max_diff;
                worst_case = names[i];
            }
        } else if (used < sizeof failures) {
            used += (size_t)snprintf(failures + used, sizeof failures - used, "\n  %s: %s",
                                     names[i], r.reason);
        }
    }

    printf("\n%-16s %6s %6s  %s\n", "op", "cases", "pass", "largest |diff|");
    int missing_ops = 0;
    for (int k = 0; k < N_GOLDEN_OPS; k++) {
        printf("%-16s %6d %6d  %.3g\n", golden_ops[k].name, per_op[k].cases, per_op[k].passed,
               per_op[k].max_diff);
        if (per_op[k].cases == 0) {
            missing_ops++;
            if (used < sizeof failures)
                used += (size_t)snprintf(failures + used, sizeof failures - used,
                                         "\n  no golden case for op %s", golden_ops[k].name);
        }
    }
    printf("golden: %d of %d cases pass (rtol %g, atol %g); largest difference among passing "
           "cases %.3g (%s)\n",
           passed, n, GOLDEN_RTOL, GOLDEN_ATOL, worst, worst_case);
    fflush(stdout);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);

    if (n < GOLDEN_MIN_CASES)
        fail_msg("%s holds %d golden files, expected at least %d: regenerate with `make golden`",
                 SN_GOLDEN_DIR, n, GOLDEN_MIN_CASES);
    if (passed < n || missing_ops)
        fail_msg("%d of %d golden cases fail, %d ops have no case:%s", n - passed, n, missing_ops,
                 failures);
}

/* ---- negative controls: the comparison must be able to fail ---- */

/* Copies the golden src to dst, adding delta to element 0 of the tensor called
 * perturb (if any) and replacing the op in the metadata by op (if not NULL). */
static void copy_golden(const char *src, const char *dst, const char *perturb, float delta,
                        const char *op) {
    sn_safetensors *f;
    SN_ASSERT_OK(sn_safetensors_open(&f, src));
    int n = sn_safetensors_count(f), n_meta = sn_safetensors_metadata_count(f);
    const char *names[16], *keys[16], *values[16];
    sn_tensor *tensors[16];
    assert_true(n <= 16 && n_meta <= 16);
    for (int i = 0; i < n; i++) {
        names[i] = sn_safetensors_name(f, i);
        SN_ASSERT_OK(sn_safetensors_read(f, names[i], &tensors[i]));
        if (perturb && strcmp(names[i], perturb) == 0) tensors[i]->data[0] += delta;
    }
    for (int i = 0; i < n_meta; i++) {
        keys[i] = sn_safetensors_metadata_key(f, i);
        values[i] = sn_safetensors_metadata_value(f, i);
        if (op && strcmp(keys[i], "op") == 0) values[i] = op;
    }
    SN_ASSERT_OK(sn_safetensors_write(dst, n, names, (const sn_tensor *const *)tensors, n_meta,
                                      keys, values));
    for (int i = 0; i < n; i++) sn_tensor_destroy(tensors[i]);
    sn_safetensors_close(f);
}

static void test_negative_controls(void **state) {
    (void)state;
    const char *src = SN_GOLDEN_DIR "/linear_n5_in7_out3.safetensors";
    const char *path = sn_temp_path("case.safetensors");
    case_result r;

    /* The unchanged copy passes: failures below come from the perturbation. */
    copy_golden(src, path, NULL, 0, NULL);
    run_case(path, &r);
    if (!r.passed) fail_msg("unperturbed copy fails: %s", r.reason);

    copy_golden(src, path, "out", 1e-3f, NULL);
    run_case(path, &r);
    assert_false(r.passed);
    assert_non_null(strstr(r.reason, "out[0]"));

    copy_golden(src, path, "grad_in1", 1e-3f, NULL);
    run_case(path, &r);
    assert_false(r.passed);
    assert_non_null(strstr(r.reason, "grad_in1[0]"));

    /* A running statistic one step off must show too. */
    const char *bn = SN_GOLDEN_DIR "/batch_norm2d_2x3x4x5_train.safetensors";
    copy_golden(bn, path, NULL, 0, NULL);
    run_case(path, &r);
    if (!r.passed) fail_msg("unperturbed batch_norm copy fails: %s", r.reason);
    copy_golden(bn, path, "in4_after", 1e-3f, NULL);
    run_case(path, &r);
    assert_false(r.passed);
    assert_non_null(strstr(r.reason, "in4_after[0]"));

    copy_golden(src, path, NULL, 0, "frobnicate");
    run_case(path, &r);
    assert_false(r.passed);
    assert_non_null(strstr(r.reason, "unknown op 'frobnicate'"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negative_controls),
        cmocka_unit_test(test_goldens),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}
