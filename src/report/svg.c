/* The SVG writer (svg.h). */
#include "report/svg.h"

#include <errno.h>
#include <string.h>

#include "core/error.h"

void sn_xml__escape(FILE *f, const char *text) {
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*p, f);
        }
    }
}

sn_status sn_svg__open(sn_svg *s, const char *path, int width, int height) {
    s->path = path;
    s->file = fopen(path, "w");
    if (!s->file) return sn_error(SN_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(s->file,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
            width, height, width, height, width, height);
    return SN_OK;
}

sn_status sn_svg__close(sn_svg *s) {
    fputs("</svg>\n", s->file);
    int failed = ferror(s->file);
    if (fclose(s->file)) failed = 1;
    s->file = NULL;
    if (failed) return sn_error(SN_ERR_IO, "%s: cannot write: %s", s->path, strerror(errno));
    return SN_OK;
}

void sn_svg__text(sn_svg *s, double x, double y, const char *anchor, int size, const char *text) {
    fprintf(s->file, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\">", x, y,
            anchor, size);
    sn_xml__escape(s->file, text);
    fputs("</text>\n", s->file);
}
