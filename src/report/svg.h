/* SVG files for the report: a writer with escaped text, line charts, and the
 * confusion matrix as a heat map. */
#ifndef SN_REPORT_SVG_H
#define SN_REPORT_SVG_H

#include <stdint.h>
#include <stdio.h>

#include "sinapsi/status.h"

/* ---- the writer ---- */

typedef struct sn_svg {
    FILE *file;
    const char *path;
} sn_svg;

/* Opens path and writes the <svg> element of width x height. */
sn_status sn_svg__open(sn_svg *s, const char *path, int width, int height);
/* Writes the closing tag and closes; an error if anything failed to write. */
sn_status sn_svg__close(sn_svg *s);
/* <text> at (x, y); anchor "start", "middle" or "end"; text escaped. */
void sn_svg__text(sn_svg *s, double x, double y, const char *anchor, int size, const char *text);
/* Writes text with &, <, >, " escaped (XML and HTML alike). */
void sn_xml__escape(FILE *f, const char *text);

/* ---- line charts ---- */

typedef struct sn_chart_series {
    const char *name;
    const double *x, *y; /* (n); a non-finite y (or y <= 0 on a log axis) breaks the line */
    int n;
} sn_chart_series;

typedef struct sn_chart {
    const char *title, *x_label, *y_label;
    int log_y; /* 1: logarithmic y axis */
    const sn_chart_series *series;
    int n_series;
} sn_chart;

/* A 640x360 line chart with axes, ticks, a legend and one colour per series
 * (a cycle of ten). A chart without any drawable point still gets its axes
 * and the words "no data". */
sn_status sn_svg__line_chart(const char *path, const sn_chart *c);

/* ---- the confusion matrix ---- */

/* counts (k, k): rows true classes, columns predicted ones; names (k). Each cell
 * shows its count, shaded by its share of the row (the class's examples). */
sn_status sn_svg__confusion(const char *path, const int64_t *counts, int k,
                            const char *const *names);

#endif
