/*
 * A CSV dataset: one example per row, the label in column opts->csv_label_col
 * (0 by default, -1 for the last), every other column a feature. Samples have
 * shape (features) and are floats. When every label is an integer in
 * [0, 2^24) they are class indices (num_classes = the largest + 1, over the
 * rows read); otherwise they are float targets (target_size 1, num_classes 0).
 */
#include "data/dataset_internal.h"

#include <stdlib.h>

#include "core/error.h"
#include "io/csv.h"

sn_status sn_load_csv(const char *path, const sn_data_opts *opts, sn_dataset **train) {
    sn_csv_table t;
    sn_status st = sn_csv_read(path, opts->csv_header, opts->limit, &t);
    if (st != SN_OK) return st;
    int64_t cols = t.n_cols, label = opts->csv_label_col < 0 ? cols - 1 : opts->csv_label_col;
    if (cols < 2 || label >= cols) {
        sn_csv_free(&t);
        return sn_error(SN_ERR_INVALID_ARG,
                        "%s: label column %lld with %lld column%s: a CSV dataset needs a label "
                        "column and at least one feature",
                        path, (long long)label, (long long)cols, cols == 1 ? "" : "s");
    }
    float *y = malloc((size_t)t.n_rows * sizeof(float));
    if (!y) {
        sn_csv_free(&t);
        return sn_error(SN_ERR_NOMEM, "%s: out of memory", path);
    }
    /* Take the labels out and close the gap in place: row r's features move to
     * r * (cols - 1), never past where they are read from. */
    float *cells = t.cells;
    int64_t w = 0;
    for (int64_t r = 0; r < t.n_rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            float v = cells[r * cols + c];
            if (c == label)
                y[r] = v;
            else
                cells[w++] = v;
        }
    float *features = realloc(cells, (size_t)w * sizeof(float));
    if (!features) features = cells;
    int n_classes = sn_class_count(y, t.n_rows, NULL);
    sn_shape sample = {1, {cols - 1}};
    return sn_dataset_adopt(train, path, t.n_rows, &sample, NULL, features, 1, y, n_classes, 0);
}
