/*
 * Training health in words (docs/health.md): the per-epoch table and the
 * warnings about vanishing gradients, saturated and dead units.
 */
#include <math.h>
#include <stdio.h>

#include "train/health.h"

/* The first and last rows with a weight, or -1. */
static void weighted_ends(const sn_health *r, int *first, int *last) {
    *first = *last = -1;
    for (int l = 0; l < r->n_layers; l++)
        if (!isnan(r->layers[l].weight_norm)) {
            if (*first < 0) *first = l;
            *last = l;
        }
}

void sn_health__warnings(const sn_health *r, sn_health_emit emit, void *ctx) {
    char line[320];
    int first, last;
    weighted_ends(r, &first, &last);
    if (r->vanish_ratio > SN_HEALTH_VANISH_FACTOR) {
        const sn_layer_health *a = &r->layers[last], *b = &r->layers[first];
        snprintf(line, sizeof line,
                 "gradients shrink %.0fx from module %d %s to module %d %s (|grad W| %.3g -> "
                 "%.3g); the first layers barely learn: try ReLU or BatchNorm",
                 r->vanish_ratio, a->module, a->kind_name, b->module, b->kind_name, a->grad_norm,
                 b->grad_norm);
        emit(line, ctx);
    }
    for (int l = 0; l < r->n_layers; l++) {
        const sn_layer_health *x = &r->layers[l];
        if (x->saturated > SN_HEALTH_MOST) {
            snprintf(line, sizeof line,
                     "module %d %s: %.0f%% of units saturated — gradients through it vanish; "
                     "try ReLU or BatchNorm",
                     x->module, x->kind_name, 100.0 * x->saturated);
            emit(line, ctx);
        } else if (x->dead > SN_HEALTH_MOST) {
            snprintf(line, sizeof line,
                     "module %d %s: %.0f%% of units dead (zero for the whole batch) — they no "
                     "longer learn; try a lower learning rate, LeakyReLU or BatchNorm",
                     x->module, x->kind_name, 100.0 * x->dead);
            emit(line, ctx);
        }
    }
}

/* A number in a column of `width`, or "-" when it does not apply. */
static void cell(FILE *out, int width, const char *format, double v) {
    char text[32] = "-";
    if (!isnan(v)) snprintf(text, sizeof text, format, v);
    fprintf(out, "%*s", width, text);
}

static void print_warning(const char *line, void *out) {
    fprintf(out, "  warning: %s\n", line);
}

void sn_health__print(FILE *out, const sn_health *r, int every) {
    fprintf(out, "health, epoch %d (means of %d samples, every %d steps):\n", r->epoch, r->samples,
            every);
    fprintf(out, "  module  layer      %10s%11s%10s%11s%11s%8s\n", "|W|", "|grad W|", "update",
            "in |grad|", "saturated", "dead");
    for (int l = 0; l < r->n_layers; l++) {
        const sn_layer_health *x = &r->layers[l];
        fprintf(out, "  %6d  %-11s", x->module, x->kind_name);
        cell(out, 10, "%.4g", x->weight_norm);
        cell(out, 11, "%.3g", x->grad_norm);
        cell(out, 10, "%.2g", x->update_ratio);
        cell(out, 11, "%.3g", x->input_grad_mean_abs);
        cell(out, 11, "%.1f%%", 100.0 * x->saturated);
        cell(out, 8, "%.1f%%", 100.0 * x->dead);
        fputc('\n', out);
    }
    if (r->first_nonfinite >= 0)
        fprintf(out, "  warning: module %d is the first with a non-finite output\n",
                r->first_nonfinite);
    sn_health__warnings(r, print_warning, out);
}
