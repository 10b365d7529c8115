/* What index.html shows: sections of figures, or a note where a picture
 * could not be drawn. report.c fills it; html.c writes it. */
#ifndef SN_REPORT_PAGE_H
#define SN_REPORT_PAGE_H

#include "report/run_history.h"
#include "sinapsi/status.h"

typedef struct sn_report_figure {
    char file[64];     /* relative to the report's directory */
    char caption[160]; /* under the picture, or "" */
} sn_report_figure;

enum { SN_REPORT_MAX_SECTIONS = 12 };

typedef struct sn_report_section {
    char title[64];
    char text[512]; /* a paragraph above the figures: how to read them, or why there are none */
    sn_report_figure *figures;
    int n_figures, cap;
    int gallery; /* 1: small figures side by side (the misclassified examples) */
} sn_report_section;

typedef struct sn_report_page {
    sn_report_section section[SN_REPORT_MAX_SECTIONS];
    int n_sections;
} sn_report_page;

/* A new section (title, paragraph as printf); NULL when the page already has
 * SN_REPORT_MAX_SECTIONS. */
sn_report_section *sn_report__section(sn_report_page *p, const char *title, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Adds a figure to s; SN_ERR_NOMEM on failure. */
sn_status sn_report__figure(sn_report_section *s, const char *file, const char *caption);
void sn_report__page_free(sn_report_page *p);

/* Writes dir/index.html: the run's settings from h, then the page's sections. */
sn_status sn_report__write_html(const char *dir, const sn_run_history *h, const sn_report_page *p);

#endif
