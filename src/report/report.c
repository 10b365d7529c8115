/*
 * sn_report_write: reads the run's log, draws every picture it can, and
 * writes index.html (sinapsi/report.h; the files: docs/report.md).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "report/page.h"
#include "report/raster.h"
#include "report/svg.h"
#include "sinapsi/report.h"

sn_report_opts sn_report_defaults(void) {
    sn_report_opts o;
    memset(&o, 0, sizeof o);
    o.max_misclassified = 32;
    return o;
}

/* dir/name into path, or an error when it does not fit. */
static sn_status join(char *path, size_t cap, const char *dir, const char *name) {
    if (snprintf(path, cap, "%s/%s", dir, name) >= (int)cap)
        return sn_error(SN_ERR_INVALID_ARG, "%s: the path is too long", dir);
    return SN_OK;
}

static sn_status make_dir(const char *path) {
    struct stat st;
    if (mkdir(path, 0777) == 0) return SN_OK;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return SN_OK;
    return sn_error(SN_ERR_IO, "%s: cannot create the report directory: %s", path, strerror(errno));
}

static sn_report_section *section(sn_report_page *p, const char *title) {
    sn_report_section *s = sn_report__section(p, title, "%s", "");
    if (!s) sn_error(SN_ERR_STATE, "report: too many sections");
    return s;
}

/* ---- curves from the log ---- */

/* One chart of per-epoch values: train and evaluation series. */
static sn_status epoch_chart(const char *dir, const char *file, const char *title,
                             const char *y_label, const sn_run_history *h, const double *x,
                             const double *train, const double *eval, sn_report_section *s) {
    char path[4096], eval_name[32];
    snprintf(eval_name, sizeof eval_name, "%s", h->eval_split[0] ? h->eval_split : "test");
    const sn_chart_series series[2] = {{"train", x, train, h->n_epochs},
                                       {eval_name, x, eval, h->n_epochs}};
    const sn_chart c = {title, "epoch", y_label, 0, series, h->eval_split[0] ? 2 : 1};
    sn_status st = join(path, sizeof path, dir, file);
    if (st == SN_OK) st = sn_svg__line_chart(path, &c);
    if (st == SN_OK) st = sn_report__figure(s, file, NULL);
    return st;
}

static int any_finite(const double *v, int n) {
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) return 1;
    return 0;
}

static sn_status draw_curves(const char *dir, const sn_run_history *h, sn_report_page *p) {
    sn_report_section *s = section(p, "Loss and accuracy per epoch");
    if (!s) return SN_ERR_STATE;
    if (!h->n_epochs) {
        snprintf(s->text, sizeof s->text, "The log holds no finished epoch.");
        return SN_OK;
    }
    const int n = h->n_epochs;
    double *v = malloc(sizeof *v * (size_t)n * 5); /* x, train/eval loss, train/eval accuracy */
    if (!v) return sn_error(SN_ERR_NOMEM, "report: out of memory");
    double *x = v, *train_loss = v + n, *eval_loss = v + 2 * n, *train_acc = v + 3 * n,
           *eval_acc = v + 4 * n;
    for (int i = 0; i < n; i++) {
        const sn_run_epoch *e = &h->epochs[i];
        x[i] = e->epoch;
        train_loss[i] = e->train_loss, eval_loss[i] = e->eval_loss;
        train_acc[i] = e->train_accuracy, eval_acc[i] = e->eval_accuracy;
    }
    snprintf(s->text, sizeof s->text,
             "Train values are running means over each epoch's minibatches (in training mode); "
             "%s values are measured after the epoch, in evaluation mode.",
             h->eval_split[0] ? h->eval_split : "No evaluation split: no");
    sn_status st = epoch_chart(dir, "loss.svg", "Loss", "loss", h, x, train_loss, eval_loss, s);
    if (st == SN_OK && (any_finite(train_acc, n) || any_finite(eval_acc, n)))
        st = epoch_chart(dir, "accuracy.svg", "Accuracy", "accuracy", h, x, train_acc, eval_acc, s);
    free(v);
    return st;
}

/* ---- health curves (docs/health.md) ---- */

typedef struct health_chart {
    int field;
    const char *file, *title, *y_label;
    int log_y;
} health_chart;

static const health_chart health_charts[] = {
    {SN_HEALTH_GRAD_NORM, "health_grad_norm.svg", "Gradient norm per layer", "||grad W||", 1},
    {SN_HEALTH_INPUT_GRAD, "health_input_grad.svg", "Mean |gradient| reaching each layer's input",
     "mean |dL/dx|", 1},
    {SN_HEALTH_UPDATE_RATIO, "health_update_ratio.svg", "Update-to-weight ratio per layer",
     "||dW|| / ||W||", 1},
    {SN_HEALTH_SATURATED, "health_saturated.svg", "Saturated units (sigmoid, tanh)",
     "fraction saturated", 0},
    {SN_HEALTH_DEAD, "health_dead.svg", "Dead ReLUs", "fraction dead", 0},
};

static sn_status draw_one_health(const char *dir, const sn_run_history *h, const health_chart *hc,
                                 double *xy, sn_chart_series *series, char (*names)[80],
                                 sn_report_section *s) {
    int n_series = 0;
    /* xy: for each layer a row of n_health x values then n_health y values. */
    for (int l = 0; l < h->n_layers; l++) {
        double *x = xy + (size_t)l * 2 * h->n_health, *y = x + h->n_health;
        int n = 0, finite = 0;
        for (int i = 0; i < h->n_health; i++) {
            if (h->health[i].layer != l) continue;
            x[n] = (double)h->health[i].step;
            y[n] = h->health[i].value[hc->field];
            finite |= isfinite(y[n]);
            n++;
        }
        if (!finite) continue;
        snprintf(names[n_series], 80, "%d: %s", h->layers[l].module, h->layers[l].name);
        series[n_series] = (sn_chart_series){names[n_series], x, y, n};
        n_series++;
    }
    if (!n_series) return SN_OK; /* nothing of this kind was measured */
    char path[4096];
    const sn_chart c = {hc->title, "step", hc->y_label, hc->log_y, series, n_series};
    sn_status st = join(path, sizeof path, dir, hc->file);
    if (st == SN_OK) st = sn_svg__line_chart(path, &c);
    if (st == SN_OK) st = sn_report__figure(s, hc->file, NULL);
    return st;
}

static sn_status draw_health(const char *dir, const sn_run_history *h, sn_report_page *p) {
    if (!h->n_health) return SN_OK; /* health stats were off: no section */
    sn_report_section *s = section(p, "Training health per layer");
    if (!s) return SN_ERR_STATE;
    snprintf(s->text, sizeof s->text,
             "Measured every --health-every steps (docs/health.md). Layers are named by their "
             "module index. Gradients that shrink by orders of magnitude towards the first "
             "layers, or saturated and dead fractions near 1, mean those layers barely learn.");
    double *xy = malloc(sizeof *xy * 2 * (size_t)h->n_health * (size_t)h->n_layers);
    sn_chart_series *series = malloc(sizeof *series * (size_t)h->n_layers);
    char(*names)[80] = malloc(sizeof *names * (size_t)h->n_layers);
    sn_status st = xy && series && names ? SN_OK : sn_error(SN_ERR_NOMEM, "report: out of memory");
    const int n_charts = (int)(sizeof health_charts / sizeof health_charts[0]);
    for (int c = 0; c < n_charts && st == SN_OK; c++)
        st = draw_one_health(dir, h, &health_charts[c], xy, series, names, s);
    free(xy);
    free(series);
    free(names);
    return st;
}

/* ---- the model on the test split ---- */

/* One example as a grey image: (1, H, W), (H, W), or a square number of values. */
static int image_shape(const sn_shape *s, int *h, int *w) {
    if (s->ndim == 3 && s->dim[0] == 1)
        *h = (int)s->dim[1], *w = (int)s->dim[2];
    else if (s->ndim == 2)
        *h = (int)s->dim[0], *w = (int)s->dim[1];
    else if (s->ndim == 1 &&
             lround(sqrt((double)s->dim[0])) * lround(sqrt((double)s->dim[0])) == s->dim[0])
        *h = *w = (int)lround(sqrt((double)s->dim[0]));
    else
        return 0;
    return *h >= 2 && *w >= 2 && *h <= 1024 && *w <= 1024;
}

/* A tile mosaic written as a PNG. */
static sn_status write_mosaic(const char *path, const float *tiles, int n, int th, int tw, int cols,
                              int scale, sn_tile_scale how) {
    uint8_t *pixels;
    int width, height;
    sn_status st =
        sn_report__mosaic(tiles, n, th, tw, cols, scale, 2, how, &pixels, &width, &height);
    if (st == SN_OK) st = sn_report__png_write(path, width, height, 1, pixels);
    free(pixels);
    return st;
}

static sn_status draw_misclassified(const char *dir, const sn_report_opts *o, const int32_t *pred,
                                    const float *labels, const char *const *names,
                                    sn_report_page *p) {
    sn_report_section *s = section(p, "Misclassified test examples");
    if (!s) return SN_ERR_STATE;
    const sn_shape *shape = sn_dataset_sample_shape(o->test);
    int h, w;
    if (!image_shape(shape, &h, &w)) {
        snprintf(s->text, sizeof s->text, "The examples are not images (shape of %d dims).",
                 shape->ndim);
        return SN_OK;
    }
    s->gallery = 1;
    const int64_t n = sn_dataset_count(o->test);
    const int scale = h < 96 ? (96 + h - 1) / h : 1;
    float *x = malloc(sizeof *x * (size_t)h * (size_t)w); /* (1, h, w) */
    if (!x) return sn_error(SN_ERR_NOMEM, "report: out of memory");
    char sub[4096], file[64], path[4096], caption[160];
    sn_status st = join(sub, sizeof sub, dir, "misclassified");
    if (st == SN_OK) st = make_dir(sub);
    int shown = 0;
    int64_t wrong = 0;
    for (int64_t i = 0; i < n && st == SN_OK; i++) {
        if (pred[i] == (int32_t)labels[i]) continue;
        wrong++;
        if (shown >= o->max_misclassified) continue;
        snprintf(file, sizeof file, "misclassified/%03d.png", shown);
        if ((st = join(path, sizeof path, dir, file)) != SN_OK ||
            (st = sn_dataset_batch(o->test, &i, 1, x, NULL)) != SN_OK ||
            (st = write_mosaic(path, x, 1, h, w, 1, scale, SN_TILE_MIN_MAX)) != SN_OK)
            break;
        snprintf(caption, sizeof caption, "#%lld: %s, predicted %s", (long long)i,
                 names[(int)labels[i]], names[pred[i]]);
        st = sn_report__figure(s, file, caption);
        shown++;
    }
    free(x);
    snprintf(s->text, sizeof s->text,
             "%lld of %lld test examples are misclassified; the first %d, in file order, each "
             "scaled from its darkest to its brightest value. Captions: index, true class, "
             "predicted class.",
             (long long)wrong, (long long)n, shown);
    return st;
}

static sn_status draw_confusion(const char *dir, const sn_report_opts *o, sn_report_page *p) {
    sn_report_section *s = section(p, "Confusion matrix");
    if (!s) return SN_ERR_STATE;
    if (!o->model || !o->test) {
        snprintf(s->text, sizeof s->text,
                 "No model or no test split was given: no confusion matrix and no "
                 "misclassified examples.");
        return SN_OK;
    }
    if (sn_dataset_num_classes(o->test) < 1) {
        snprintf(s->text, sizeof s->text, "The targets are not class labels.");
        return SN_OK;
    }
    sn_shape out;
    sn_status st = sn_model_output_shape(o->model, &out);
    if (st != SN_OK) return st;
    const int64_t width = sn_shape_numel(&out), n = sn_dataset_count(o->test);
    int k = sn_dataset_num_classes(o->test);
    if (width > k) k = (int)width;
    if (k < 2) k = 2;
    if (k > 1000) {
        snprintf(s->text, sizeof s->text, "%d classes are too many to draw.", k);
        return SN_OK;
    }
    if (o->class_names && o->n_class_names != k)
        return sn_error(SN_ERR_INVALID_ARG, "report: %d class names given for %d classes",
                        o->n_class_names, k);
    int32_t *pred = malloc(sizeof *pred * (size_t)n);
    float *labels = malloc(sizeof *labels * (size_t)n);
    int64_t *counts = malloc(sizeof *counts * (size_t)k * (size_t)k); /* (k, k) */
    char(*numbers)[12] = malloc(sizeof *numbers * (size_t)k);
    const char **names = malloc(sizeof *names * (size_t)k);
    if (!pred || !labels || !counts || !numbers || !names)
        st = sn_error(SN_ERR_NOMEM, "report: out of memory for %lld predictions", (long long)n);
    const char *source = "numbered: no class names are known";
    for (int c = 0; st == SN_OK && c < k; c++) {
        snprintf(numbers[c], sizeof numbers[c], "%d", c);
        names[c] = numbers[c];
        if (o->class_names) {
            names[c] = o->class_names[c], source = "as given";
        } else if (k == 10 && sn_report_is_fashion_mnist(o->test)) {
            names[c] = sn_report_fashion_mnist[c],
            source = "Fashion-MNIST's, recognised from the data";
        }
    }
    if (st == SN_OK) st = sn_report_predict(o->model, o->test, pred, labels);
    if (st == SN_OK) st = sn_report_confusion(pred, labels, n, k, counts);
    char path[4096];
    if (st == SN_OK) st = join(path, sizeof path, dir, "confusion.svg");
    if (st == SN_OK) st = sn_svg__confusion(path, counts, k, names);
    if (st == SN_OK) {
        int64_t correct = 0;
        for (int c = 0; c < k; c++) correct += counts[(int64_t)c * k + c];
        snprintf(s->text, sizeof s->text,
                 "The trained model in evaluation mode on the %lld examples of the %s split: %lld "
                 "correct (accuracy %.4f). Each cell is shaded by its share of the true class's "
                 "examples. Class names: %s.",
                 (long long)n, "test", (long long)correct, (double)correct / (double)n, source);
        st = sn_report__figure(s, "confusion.svg", NULL);
    }
    if (st == SN_OK) st = draw_misclassified(dir, o, pred, labels, names, p);
    free(pred);
    free(labels);
    free(counts);
    free(numbers);
    free(names);
    return st;
}

/* The first Conv2d's weight (C_out, C_in, kh, kw): one tile per (out, in) pair. */
static sn_status draw_filters(const char *dir, const sn_report_opts *o, sn_report_page *p) {
    if (!o->model) return SN_OK;
    sn_report_section *s = section(p, "First convolution's filters");
    if (!s) return SN_ERR_STATE;
    int conv = -1;
    for (int i = 0; i < sn_model_module_count(o->model) && conv < 0; i++)
        if (sn_model_module(o->model, i)->kind == SN_MOD_CONV2D) conv = i;
    if (conv < 0) {
        snprintf(s->text, sizeof s->text, "The model has no Conv2d layer.");
        return SN_OK;
    }
    char name[32];
    snprintf(name, sizeof name, "%d.weight", conv);
    sn_graph *g = sn_model_graph(o->model);
    int node = -1;
    for (int i = 0; g && i < sn_graph_param_count(g) && node < 0; i++)
        if (!strcmp(sn_graph_node_name(g, sn_graph_param_node(g, i)), name))
            node = sn_graph_param_node(g, i);
    const sn_shape *w = node >= 0 ? sn_graph_shape(g, node) : NULL;
    if (!w || w->ndim != 4)
        return sn_error(SN_ERR_STATE, "report: the model has no parameter %s (compile it first)",
                        name);
    const int c_out = (int)w->dim[0], c_in = (int)w->dim[1], kh = (int)w->dim[2],
              kw = (int)w->dim[3];
    const int tiles = c_out * c_in, cols = c_in > 1 ? c_in : (c_out < 16 ? c_out : 16);
    const int scale = kh < 64 ? (64 + kh - 1) / kh : 1;
    char path[4096];
    sn_status st = join(path, sizeof path, dir, "filters.png");
    if (st == SN_OK)
        st = write_mosaic(path, sn_graph_value(g, node), tiles, kh, kw, cols, scale,
                          SN_TILE_SYMMETRIC);
    if (st != SN_OK) return st;
    const sn_module *m = sn_model_module(o->model, conv);
    snprintf(s->text, sizeof s->text,
             "Module %d, Conv2d(%d, %d, kernel_size=(%d, %d)): %d filters%s, each %dx%d upsampled "
             "%d times and scaled on its own: mid-grey is 0, white the largest positive weight, "
             "black the largest negative one.",
             conv, m->in_channels, m->out_channels, kh, kw, c_out,
             c_in > 1 ? " (a row per filter, a column per input channel)" : "", kh, kw, scale);
    return sn_report__figure(s, "filters.png", NULL);
}

sn_status sn_report_write(const char *dir, const sn_report_opts *o) {
    if (!dir || !o || !o->log) return sn_error(SN_ERR_INVALID_ARG, "report: NULL argument");
    if (o->max_misclassified < 0 || o->max_misclassified > 10000)
        return sn_error(SN_ERR_INVALID_ARG, "report: max_misclassified %d is outside [0, 10000]",
                        o->max_misclassified);
    sn_run_history h;
    sn_status st = sn_run_history__read(o->log, &h);
    if (st != SN_OK) return st;
    sn_report_page page = {.n_sections = 0};
    if ((st = make_dir(dir)) == SN_OK && (st = draw_curves(dir, &h, &page)) == SN_OK &&
        (st = draw_health(dir, &h, &page)) == SN_OK &&
        (st = draw_confusion(dir, o, &page)) == SN_OK &&
        (st = draw_filters(dir, o, &page)) == SN_OK)
        st = sn_report__write_html(dir, &h, &page);
    sn_report__page_free(&page);
    sn_run_history__free(&h);
    return st;
}
