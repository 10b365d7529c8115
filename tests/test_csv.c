/*
 * CSV datasets through sn_dataset_load: header detection and forcing, the
 * label column first, last or elsewhere, CRLF, class indices against float
 * targets, the row limit; and refusals, each with a message naming
 * file:line:column and the cell: non-numbers (also nan, inf, hex), empty and
 * quoted cells, floats out of range, ragged rows, empty lines before data,
 * NUL bytes, files with no data.
 */
#include "support/test_support.h"
#include "support/temp_dir.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/csv.h"

/* Writes n bytes of text (strlen when n is 0) to name in the temporary
 * directory; returns the path (static buffer). */
static const char *write_text(const char *name, const char *text, size_t n) {
    const char *path = sn_temp_path(name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (n == 0) n = strlen(text);
    assert_int_equal(fwrite(text, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
    return path;
}

/* Loads text as a CSV dataset with header mode and label column. */
static sn_dataset *load_text(const char *text, int header, int label_col) {
    const char *path = write_text("data.csv", text, 0);
    sn_data_opts o = sn_data_defaults();
    o.csv_header = header;
    o.csv_label_col = label_col;
    sn_dataset *train, *test = (sn_dataset *)&test;
    SN_ASSERT_OK(sn_dataset_load(path, &o, &train, &test));
    assert_null(test); /* a CSV has no test split */
    assert_string_equal(sn_dataset_source(train), path);
    return train;
}

/* All of ds: x (count, features) and y (count). */
static void check_contents(const sn_dataset *ds, int64_t count, int64_t features,
                           const float *x_expected, const float *y_expected) {
    assert_int_equal(sn_dataset_count(ds), count);
    const sn_shape *s = sn_dataset_sample_shape(ds);
    assert_int_equal(s->ndim, 1);
    assert_int_equal(s->dim[0], features);
    assert_int_equal(sn_dataset_target_size(ds), 1);
    int64_t order[16];
    float x[64], y[16];
    assert_true(count <= 16 && count * features <= 64);
    for (int64_t i = 0; i < count; i++) order[i] = i;
    SN_ASSERT_OK(sn_dataset_batch(ds, order, count, x, y));
    for (int64_t i = 0; i < count * features; i++)
        if (x[i] != x_expected[i])
            fail_msg("x[%lld] = %g, expected %g", (long long)i, x[i], x_expected[i]);
    for (int64_t i = 0; i < count; i++)
        if (y[i] != y_expected[i])
            fail_msg("y[%lld] = %g, expected %g", (long long)i, y[i], y_expected[i]);
}

static void test_header_detected(void **state) {
    (void)state;
    sn_dataset *ds = load_text("label,a,b\n1,2,3\n0,4.5,-6e-1\n", -1, 0);
    check_contents(ds, 2, 2, (float[]){2, 3, 4.5f, -0.6f}, (float[]){1, 0});
    assert_int_equal(sn_dataset_num_classes(ds), 2);
    sn_dataset_destroy(ds);
    /* no header: the first row is data */
    ds = load_text("1,2,3\n0,4,5\n", -1, 0);
    check_contents(ds, 2, 2, (float[]){2, 3, 4, 5}, (float[]){1, 0});
    sn_dataset_destroy(ds);
    /* a numeric header is data unless forced */
    ds = load_text("0,1,2\n3,4,5\n", 1, 0);
    check_contents(ds, 1, 2, (float[]){4, 5}, (float[]){3});
    assert_int_equal(sn_dataset_num_classes(ds), 4);
    sn_dataset_destroy(ds);
}

static void test_label_column(void **state) {
    (void)state;
    sn_dataset *ds = load_text("x1,x2,y\n0.5,1.5,2\n2.5,3.5,0\n", -1, -1);
    check_contents(ds, 2, 2, (float[]){0.5f, 1.5f, 2.5f, 3.5f}, (float[]){2, 0});
    assert_int_equal(sn_dataset_num_classes(ds), 3);
    sn_dataset_destroy(ds);
    ds = load_text("10,1,20\n30,0,40\n50,1,60\n", 0, 1);
    check_contents(ds, 3, 2, (float[]){10, 20, 30, 40, 50, 60}, (float[]){1, 0, 1});
    sn_dataset_destroy(ds);
}

static void test_crlf_bom_spaces_and_trailing_empty_lines(void **state) {
    (void)state;
    sn_dataset *ds = load_text("\xEF\xBB\xBFy,a\r\n1, 2.25\r\n0,\t-3 \r\n\r\n\n", -1, 0);
    check_contents(ds, 2, 1, (float[]){2.25f, -3}, (float[]){1, 0});
    sn_dataset_destroy(ds);
    /* no newline at the end of the file */
    ds = load_text("1,2\n3,4", 0, 0);
    check_contents(ds, 2, 1, (float[]){2, 4}, (float[]){1, 3});
    sn_dataset_destroy(ds);
}

static void test_float_targets(void **state) {
    (void)state;
    /* one non-integer label makes them all float targets */
    sn_dataset *ds = load_text("y,a\n1,2\n0.5,3\n", -1, 0);
    check_contents(ds, 2, 1, (float[]){2, 3}, (float[]){1, 0.5f});
    assert_int_equal(sn_dataset_num_classes(ds), 0);
    sn_dataset_destroy(ds);
    /* so does a negative one */
    ds = load_text("-1,2\n3,4\n", -1, 0);
    assert_int_equal(sn_dataset_num_classes(ds), 0);
    sn_dataset_destroy(ds);
    /* float data is not normalised by default */
    ds = load_text("0,300\n1,-7\n", -1, 0);
    check_contents(ds, 2, 1, (float[]){300, -7}, (float[]){0, 1});
    sn_dataset_destroy(ds);
}

static void test_limit(void **state) {
    (void)state;
    const char *path = write_text("limit.csv", "h,a\n1,2\n3,4\n5,6\nbroken,row,ignored\n", 0);
    sn_data_opts o = sn_data_defaults();
    o.limit = 3;
    sn_dataset *train;
    SN_ASSERT_OK(sn_dataset_load(path, &o, &train, NULL));
    check_contents(train, 3, 1, (float[]){2, 4, 6}, (float[]){1, 3, 5});
    sn_dataset_destroy(train);
    o.limit = 4; /* now the broken row is read */
    assert_int_equal(sn_dataset_load(path, &o, &train, NULL), SN_ERR_FORMAT);
    assert_null(train);
}

/* Loading text must fail with status and a message that contains reason. */
static void expect_refused(const char *name, const char *text, size_t n, int header, int label_col,
                           sn_status status, const char *reason) {
    const char *path = write_text(name, text, n);
    sn_data_opts o = sn_data_defaults();
    o.csv_header = header;
    o.csv_label_col = label_col;
    sn_dataset *train = (sn_dataset *)&train;
    sn_status st = sn_dataset_load(path, &o, &train, NULL);
    const char *message = sn_last_error();
    if (st == SN_OK) fail_msg("%s was accepted; expected: %s", name, reason);
    assert_null(train);
    if (!strstr(message, path)) fail_msg("message does not name %s: %s", path, message);
    if (!strstr(message, reason)) fail_msg("message lacks '%s': %s", reason, message);
    if (st != status)
        fail_msg("status %s, expected %s (%s)", sn_status_string(st), sn_status_string(status),
                 message);
}

static void test_refuse_bad_cells(void **state) {
    (void)state;
    expect_refused("word.csv", "1,2,3\n0,abc,6\n", 0, -1, 0, SN_ERR_FORMAT,
                   "word.csv:2:2: not a number: 'abc'");
    expect_refused("header0.csv", "y,a\n1,2\n", 0, 0, 0, SN_ERR_FORMAT,
                   "header0.csv:1:1: not a number: 'y'");
    expect_refused("nan.csv", "1,2\n1,nan\n", 0, 0, 0, SN_ERR_FORMAT, ":2:2: not a number: 'nan'");
    expect_refused("inf.csv", "1,-inf\n", 0, 0, 0, SN_ERR_FORMAT, ":1:2: not a number: '-inf'");
    expect_refused("hex.csv", "1,0x10\n", 0, 0, 0, SN_ERR_FORMAT, ":1:2: not a number: '0x10'");
    expect_refused("twodots.csv", "1,1.2.3\n", 0, 0, 0, SN_ERR_FORMAT, "not a number: '1.2.3'");
    expect_refused("inner_space.csv", "1,2 3\n", 0, 0, 0, SN_ERR_FORMAT, "not a number: '2 3'");
    expect_refused("huge.csv", "1,2\n0,1e39\n", 0, -1, 0, SN_ERR_FORMAT,
                   ":2:2: number out of float range: '1e39'");
    expect_refused("empty_cell.csv", "1,2,3\n0,,3\n", 0, -1, 0, SN_ERR_FORMAT, ":2:2: empty cell");
    expect_refused("quoted.csv", "1,\"2\"\n", 0, 0, 0, SN_ERR_FORMAT,
                   ":1:2: quoted fields are not supported: '\"2\"'");
    /* a long cell is quoted up to 32 characters */
    char text[256] = "1,";
    for (int i = 0; i < 100; i++) strcat(text, "x");
    strcat(text, "\n");
    expect_refused("long.csv", text, 0, 0, 0, SN_ERR_FORMAT,
                   ":1:2: not a number: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
}

static void test_refuse_bad_structure(void **state) {
    (void)state;
    expect_refused("ragged.csv", "a,b,c\n1,2,3\n4,5\n", 0, -1, 0, SN_ERR_FORMAT,
                   "ragged.csv:3: 2 columns, but the first row has 3");
    expect_refused("wide.csv", "1,2\n4,5,6\n", 0, -1, 0, SN_ERR_FORMAT,
                   ":2: 3 columns, but the first row has 2");
    expect_refused("gap.csv", "1,2\n\n3,4\n", 0, -1, 0, SN_ERR_FORMAT,
                   "gap.csv:2: empty line before more data (line 3)");
    expect_refused("empty.csv", "", 0, -1, 0, SN_ERR_FORMAT, "no rows");
    expect_refused("blank.csv", "\n\r\n", 0, -1, 0, SN_ERR_FORMAT, "no rows");
    expect_refused("header_only.csv", "y,a\n", 0, -1, 0, SN_ERR_FORMAT, "a header row and no data");
    expect_refused("nul.csv", "1,2\n3,\0004\n", 8, -1, 0, SN_ERR_FORMAT, "nul.csv:2: NUL byte");
    expect_refused("one_column.csv", "1\n2\n", 0, -1, 0, SN_ERR_INVALID_ARG,
                   "needs a label column and at least one feature");
    expect_refused("label_col.csv", "1,2\n", 0, -1, 2, SN_ERR_INVALID_ARG, "label column 2");
    expect_refused("binary.bin", "1,2\n", 0, -1, 0, SN_ERR_FORMAT, "not a dataset sinapsi reads");
}

/* The private reader: rows, columns, header flag and first data line. */
static void test_table_reader(void **state) {
    (void)state;
    const char *path = write_text("table.csv", "p,q,r\n1,2,3\n4,5,6\n", 0);
    sn_csv_table t;
    SN_ASSERT_OK(sn_csv_read(path, -1, 0, &t));
    assert_int_equal(t.n_rows, 2);
    assert_int_equal(t.n_cols, 3);
    assert_int_equal(t.has_header, 1);
    assert_int_equal(t.first_line, 2);
    for (int i = 0; i < 6; i++) assert_true(t.cells[i] == (float)(i + 1));
    sn_csv_free(&t);
    assert_null(t.cells);
    assert_int_equal(sn_csv_read(path, 2, 0, &t), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_csv_read(path, 0, -1, &t), SN_ERR_INVALID_ARG);
    path = write_text("table_absent.csv", "", 0);
    unlink(path);
    assert_int_equal(sn_csv_read(path, -1, 0, &t), SN_ERR_IO);
    assert_non_null(strstr(sn_last_error(), "table_absent.csv: cannot open"));
    assert_null(t.cells);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_detected),
        cmocka_unit_test(test_label_column),
        cmocka_unit_test(test_crlf_bom_spaces_and_trailing_empty_lines),
        cmocka_unit_test(test_float_targets),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_refuse_bad_cells),
        cmocka_unit_test(test_refuse_bad_structure),
        cmocka_unit_test(test_table_reader),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}
