/* index.html: the run's settings and every picture, plain HTML with an inline
 * style sheet; no script, nothing fetched (page.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "report/page.h"
#include "report/svg.h"

sn_report_section *sn_report__section(sn_report_page *p, const char *title, const char *fmt, ...) {
    if (p->n_sections >= SN_REPORT_MAX_SECTIONS) return NULL;
    sn_report_section *s = &p->section[p->n_sections++];
    memset(s, 0, sizeof *s);
    snprintf(s->title, sizeof s->title, "%s", title);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->text, sizeof s->text, fmt, ap);
    va_end(ap);
    return s;
}

sn_status sn_report__figure(sn_report_section *s, const char *file, const char *caption) {
    if (s->n_figures == s->cap) {
        int cap = s->cap ? s->cap * 2 : 8;
        sn_report_figure *grown = realloc(s->figures, sizeof *grown * (size_t)cap);
        if (!grown) return sn_error(SN_ERR_NOMEM, "report: out of memory");
        s->figures = grown;
        s->cap = cap;
    }
    sn_report_figure *f = &s->figures[s->n_figures++];
    snprintf(f->file, sizeof f->file, "%s", file);
    snprintf(f->caption, sizeof f->caption, "%s", caption ? caption : "");
    return SN_OK;
}

void sn_report__page_free(sn_report_page *p) {
    for (int i = 0; i < p->n_sections; i++) free(p->section[i].figures);
    p->n_sections = 0;
}

static const char style[] =
    "body{font-family:sans-serif;margin:24px auto;max-width:1200px;color:#222}"
    "h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px}"
    "table.settings{border-collapse:collapse;font-size:13px}"
    "table.settings td{border:1px solid #ddd;padding:2px 8px}"
    "figure{display:inline-block;margin:6px;vertical-align:top;max-width:48%}"
    "figure img{max-width:100%}"
    "figure.small{width:96px;font-size:11px}figcaption{text-align:center}"
    "pre{background:#f6f6f6;padding:8px;font-size:12px}";

/* One settings value as text: strings as they are, numbers and the rest as JSON. */
static void write_value(FILE *f, const cJSON *v) {
    if (cJSON_IsString(v)) {
        sn_xml__escape(f, v->valuestring);
        return;
    }
    char *text = cJSON_PrintUnformatted(v);
    sn_xml__escape(f, text ? text : "?");
    cJSON_free(text);
}

static void write_summary(FILE *f, const sn_run_history *h) {
    if (!h->n_epochs) {
        fputs("<p>The log holds no finished epoch.</p>\n", f);
        return;
    }
    const sn_run_epoch *e = &h->epochs[h->n_epochs - 1];
    fprintf(f, "<p>%d epochs logged, %lld steps. Last epoch: train loss %.4f", h->n_epochs,
            (long long)e->step, e->train_loss);
    if (isfinite(e->train_accuracy)) fprintf(f, ", accuracy %.4f", e->train_accuracy);
    if (isfinite(e->eval_loss)) {
        fprintf(f, "; %s loss %.4f", h->eval_split, e->eval_loss);
        if (isfinite(e->eval_accuracy)) fprintf(f, ", accuracy %.4f", e->eval_accuracy);
    }
    fputs(".</p>\n", f);
}

static void write_settings(FILE *f, const sn_run_history *h) {
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(h->settings, "spec");
    if (cJSON_IsString(spec)) {
        fputs("<h2>Model</h2>\n<pre>", f);
        sn_xml__escape(f, spec->valuestring);
        fputs("</pre>\n", f);
    }
    fputs("<h2>Settings</h2>\n<table class=\"settings\">\n", f);
    const cJSON *item;
    cJSON_ArrayForEach(item, h->settings) {
        if (!item->string || !strcmp(item->string, "spec") || !strcmp(item->string, "type"))
            continue;
        fputs("<tr><td>", f);
        sn_xml__escape(f, item->string);
        fputs("</td><td>", f);
        write_value(f, item);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void write_section(FILE *f, const sn_report_section *s) {
    fputs("<h2>", f);
    sn_xml__escape(f, s->title);
    fputs("</h2>\n", f);
    if (s->text[0]) {
        fputs("<p>", f);
        sn_xml__escape(f, s->text);
        fputs("</p>\n", f);
    }
    for (int i = 0; i < s->n_figures; i++) {
        const sn_report_figure *fig = &s->figures[i];
        fprintf(f, "<figure%s><img src=\"", s->gallery ? " class=\"small\"" : "");
        sn_xml__escape(f, fig->file);
        fputs("\" alt=\"", f);
        sn_xml__escape(f, fig->caption[0] ? fig->caption : fig->file);
        fputs("\">", f);
        if (fig->caption[0]) {
            fputs("<figcaption>", f);
            sn_xml__escape(f, fig->caption);
            fputs("</figcaption>", f);
        }
        fputs("</figure>\n", f);
    }
}

sn_status sn_report__write_html(const char *dir, const sn_run_history *h, const sn_report_page *p) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/index.html", dir) >= (int)sizeof path)
        return sn_error(SN_ERR_INVALID_ARG, "%s: the path is too long", dir);
    FILE *f = fopen(path, "w");
    if (!f) return sn_error(SN_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>sinapsi training report</title>\n<style>%s</style>\n</head>\n<body>\n"
            "<h1>sinapsi training report</h1>\n",
            style);
    write_summary(f, h);
    for (int i = 0; i < p->n_sections; i++) write_section(f, &p->section[i]);
    write_settings(f, h);
    fputs("</body>\n</html>\n", f);
    int failed = ferror(f);
    if (fclose(f)) failed = 1;
    if (failed) return sn_error(SN_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return SN_OK;
}
