/* The confusion matrix as an SVG heat map (svg.h). */
#include <math.h>
#include <stdio.h>

#include "report/svg.h"

sn_status sn_svg__confusion(const char *path, const int64_t *counts, int k,
                            const char *const *names) {
    const int cell = k <= 10 ? 48 : k <= 30 ? 24 : 12, left = 130, top = 40, bottom = 120;
    /* Wide enough for the title (about 8 px a character at 15 px) when the
     * matrix itself is narrow (two or three classes). */
    const int matrix_width = left + k * cell + 20, title_width = 470;
    const int width = matrix_width > title_width ? matrix_width : title_width;
    const int height = top + k * cell + bottom;
    sn_svg svg;
    sn_status st = sn_svg__open(&svg, path, width, height);
    if (st != SN_OK) return st;
    FILE *f = svg.file;
    const double title_x = matrix_width > title_width ? left + k * cell / 2.0 : width / 2.0;
    sn_svg__text(&svg, title_x, 24, "middle", 15,
                 "Confusion matrix (rows: true class, columns: predicted)");
    char label[32];
    for (int t = 0; t < k; t++) {
        int64_t row = 0;
        for (int p = 0; p < k; p++) row += counts[(int64_t)t * k + p];
        for (int p = 0; p < k; p++) {
            const int64_t n = counts[(int64_t)t * k + p];
            const double share = row ? (double)n / (double)row : 0.0;
            /* White to dark blue by the share of the true class's examples. */
            const int r = (int)lround(255 - share * (255 - 8)),
                      g = (int)lround(255 - share * (255 - 48)),
                      b = (int)lround(255 - share * (255 - 107));
            fprintf(f,
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" "
                    "stroke=\"#ccc\"/>\n",
                    left + p * cell, top + t * cell, cell, cell, r, g, b);
            if (cell >= 24) {
                snprintf(label, sizeof label, "%lld", (long long)n);
                fprintf(f, "<g fill=\"%s\">", share > 0.5 ? "white" : "black");
                sn_svg__text(&svg, left + p * cell + cell / 2.0, top + t * cell + cell / 2.0 + 4,
                             "middle", cell >= 48 ? 12 : 9, label);
                fputs("</g>\n", f);
            }
        }
        sn_svg__text(&svg, left - 6, top + t * cell + cell / 2.0 + 4, "end", 11, names[t]);
        /* Column names, turned to fit under narrow columns. */
        fprintf(f, "<g transform=\"translate(%.1f %d) rotate(-45)\">",
                left + t * cell + cell / 2.0 + 4, top + k * cell + 10);
        sn_svg__text(&svg, 0, 0, "end", 11, names[t]);
        fputs("</g>\n", f);
    }
    return sn_svg__close(&svg);
}
