/* Line charts as SVG (svg.h): loss and accuracy per epoch, health per step. */
#include <math.h>
#include <stdio.h>

#include "report/svg.h"

enum { WIDTH = 640, HEIGHT = 360, LEFT = 70, RIGHT = 170, TOP = 36, BOTTOM = 50 };

/* Ten distinguishable colours (matplotlib's tab10). */
static const char *const colours[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static int drawable(const sn_chart *c, double y) {
    return isfinite(y) && (!c->log_y || y > 0);
}

/* The axis value of y: itself, or its decimal logarithm on a log axis. */
static double axis_y(const sn_chart *c, double y) {
    return c->log_y ? log10(y) : y;
}

/* A tick step of 1, 2 or 5 times a power of ten giving about `want` ticks. */
static double nice_step(double range, int want) {
    double raw = range / want, power = pow(10.0, floor(log10(raw))), f = raw / power;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * power;
}

/* Widens [*lo, *hi] when it is empty, so that a constant series is drawn. */
static void widen(double *lo, double *hi, double by) {
    if (*hi - *lo < 1e-12 * (fabs(*lo) + fabs(*hi)) || *hi <= *lo) {
        *lo -= by;
        *hi += by;
    }
}

sn_status sn_svg__line_chart(const char *path, const sn_chart *c) {
    double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
    for (int s = 0; s < c->n_series; s++)
        for (int i = 0; i < c->series[s].n; i++) {
            double x = c->series[s].x[i], y = c->series[s].y[i];
            if (!isfinite(x) || !drawable(c, y)) continue;
            x_lo = fmin(x_lo, x), x_hi = fmax(x_hi, x);
            y_lo = fmin(y_lo, axis_y(c, y)), y_hi = fmax(y_hi, axis_y(c, y));
        }
    const int empty = !(x_lo <= x_hi);
    if (empty) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
    widen(&x_lo, &x_hi, 0.5);
    widen(&y_lo, &y_hi, c->log_y ? 0.5 : fmax(fabs(y_lo) * 0.1, 0.05));
    if (c->log_y) y_lo = floor(y_lo), y_hi = ceil(y_hi); /* whole decades */

    sn_svg svg;
    sn_status st = sn_svg__open(&svg, path, WIDTH, HEIGHT);
    if (st != SN_OK) return st;
    FILE *f = svg.file;
    const double pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;
#define PX(x) (LEFT + ((x)-x_lo) / (x_hi - x_lo) * pw)
#define PY(v) (TOP + ph - ((v)-y_lo) / (y_hi - y_lo) * ph)
    sn_svg__text(&svg, LEFT + pw / 2, 22, "middle", 15, c->title);
    char label[64];
    /* y ticks and grid lines */
    double y_step = c->log_y ? 1.0 : nice_step(y_hi - y_lo, 5);
    for (double v = ceil(y_lo / y_step) * y_step; v <= y_hi + 1e-9 * y_step; v += y_step) {
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT,
                PY(v), LEFT + pw, PY(v));
        if (c->log_y)
            snprintf(label, sizeof label, "1e%d", (int)lrint(v));
        else
            snprintf(label, sizeof label, "%g", fabs(v) < 1e-9 * y_step ? 0.0 : v);
        sn_svg__text(&svg, LEFT - 6, PY(v) + 4, "end", 11, label);
    }
    double x_step = nice_step(x_hi - x_lo, 6);
    if (x_step < 1 && x_hi - x_lo >= 1) x_step = 1; /* epochs and steps are whole */
    for (double v = ceil(x_lo / x_step) * x_step; v <= x_hi + 1e-9 * x_step; v += x_step) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
                PX(v), TOP + ph, PX(v), TOP + ph + 4);
        snprintf(label, sizeof label, "%g", v);
        sn_svg__text(&svg, PX(v), TOP + ph + 17, "middle", 11, label);
    }
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#333\"/>\n",
            LEFT, TOP, pw, ph);
    sn_svg__text(&svg, LEFT + pw / 2, HEIGHT - 12, "middle", 12, c->x_label);
    fprintf(f, "<g transform=\"translate(16 %.1f) rotate(-90)\">", TOP + ph / 2);
    sn_svg__text(&svg, 0, 0, "middle", 12, c->y_label);
    fputs("</g>\n", f);
    if (empty) sn_svg__text(&svg, LEFT + pw / 2, TOP + ph / 2, "middle", 14, "no data");

    for (int s = 0; s < c->n_series; s++) {
        const sn_chart_series *se = &c->series[s];
        const char *colour = colours[s % 10];
        /* One path; a point that cannot be drawn starts a new piece (M). */
        int pen_down = 0, points = 0;
        fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"", colour);
        for (int i = 0; i < se->n; i++) {
            if (!isfinite(se->x[i]) || !drawable(c, se->y[i])) {
                pen_down = 0;
                continue;
            }
            fprintf(f, "%c%.2f %.2f ", pen_down ? 'L' : 'M', PX(se->x[i]), PY(axis_y(c, se->y[i])));
            pen_down = 1;
            points++;
        }
        fputs("\"/>\n", f);
        /* Dots too, so that a single epoch is visible. */
        if (points <= 40)
            for (int i = 0; i < se->n; i++)
                if (isfinite(se->x[i]) && drawable(c, se->y[i]))
                    fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                            PX(se->x[i]), PY(axis_y(c, se->y[i])), colour);
        const double ly = TOP + 10 + s * 18;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"3\"/>\n",
                LEFT + pw + 12, ly, LEFT + pw + 32, ly, colour);
        sn_svg__text(&svg, LEFT + pw + 38, ly + 4, "start", 11, se->name);
    }
#undef PX
#undef PY
    return sn_svg__close(&svg);
}
