/* CSV of numbers into a float table (see csv.h for what is accepted). */
#include "io/csv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "sinapsi/tensor.h"

/* A longer token cannot be a float that anyone writes (FLT_MAX in full is
 * 39 digits); it is refused rather than copied. */
#define CSV_MAX_TOKEN 128

/* How much of a bad cell an error message quotes. */
#define CSV_QUOTE_CAP 32

typedef enum { CELL_OK, CELL_EMPTY, CELL_QUOTED, CELL_NOT_A_NUMBER, CELL_OUT_OF_RANGE } cell_result;

/* One line of the file, without its line end. */
typedef struct csv_line {
    char *text;
    size_t len;
    int64_t number; /* from 1 */
} csv_line;

typedef struct csv_reader {
    const char *path;
    FILE *fp;
    char *buf;
    size_t cap;
    int64_t line_number;
} csv_reader;

/* The next line into r->buf; returns 0 at the end of the file, -1 on error. */
static int next_line(csv_reader *r, csv_line *line) {
    errno = 0;
    ssize_t n = getline(&r->buf, &r->cap, r->fp);
    if (n < 0) {
        if (ferror(r->fp)) {
            sn_error(errno == ENOMEM ? SN_ERR_NOMEM : SN_ERR_IO,
                     "%s: read error after line %lld: %s", r->path, (long long)r->line_number,
                     strerror(errno));
            return -1;
        }
        return 0;
    }
    r->line_number++;
    size_t len = (size_t)n;
    if (len > 0 && r->buf[len - 1] == '\n') len--;
    if (len > 0 && r->buf[len - 1] == '\r') len--;
    r->buf[len] = '\0';
    char *text = r->buf;
    if (r->line_number == 1 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3; /* a UTF-8 byte-order mark, as spreadsheets write */
        len -= 3;
    }
    if (memchr(text, '\0', len)) {
        sn_error(SN_ERR_FORMAT, "%s:%lld: NUL byte (not a text file?)", r->path,
                 (long long)r->line_number);
        return -1;
    }
    line->text = text;
    line->len = len;
    line->number = r->line_number;
    return 1;
}

static int is_blank(char c) {
    return c == ' ' || c == '\t';
}

/* Parses the cell s[0..len) strictly: a decimal number (optional sign, digits,
 * point, exponent) that strtof consumes entirely and that fits a float. */
static cell_result parse_cell(const char *s, size_t len, float *value) {
    while (len > 0 && is_blank(*s)) s++, len--;
    while (len > 0 && is_blank(s[len - 1])) len--;
    if (len == 0) return CELL_EMPTY;
    if (memchr(s, '"', len)) return CELL_QUOTED;
    if (len >= CSV_MAX_TOKEN) return CELL_NOT_A_NUMBER;
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789+-.eE", s[i])) return CELL_NOT_A_NUMBER;
    char token[CSV_MAX_TOKEN];
    memcpy(token, s, len);
    token[len] = '\0';
    char *end;
    errno = 0;
    float v = strtof(token, &end);
    if (end != token + len) return CELL_NOT_A_NUMBER;
    /* Overflow gives HUGE_VALF; an underflow (ERANGE too) to a subnormal or zero is kept. */
    if (!isfinite(v)) return CELL_OUT_OF_RANGE;
    *value = v;
    return CELL_OK;
}

/* Number of comma-separated cells of a line. */
static int64_t count_cells(const csv_line *line) {
    int64_t n = 1;
    for (size_t i = 0; i < line->len; i++) n += line->text[i] == ',';
    return n;
}

/* Records the error for a cell that did not parse. */
static sn_status cell_error(const char *path, const csv_line *line, int64_t column,
                            const char *cell, size_t len, cell_result why) {
    char quoted[CSV_QUOTE_CAP + 4];
    size_t n = len < CSV_QUOTE_CAP ? len : CSV_QUOTE_CAP;
    for (size_t i = 0; i < n; i++) quoted[i] = (cell[i] >= 0x20 && cell[i] < 0x7F) ? cell[i] : '?';
    strcpy(quoted + n, len > n ? "..." : "");
    const char *what = why == CELL_EMPTY          ? "empty cell"
                       : why == CELL_QUOTED       ? "quoted fields are not supported"
                       : why == CELL_OUT_OF_RANGE ? "number out of float range"
                                                  : "not a number";
    return sn_error(SN_ERR_FORMAT, "%s:%lld:%lld: %s: '%s'", path, (long long)line->number,
                    (long long)column, what, quoted);
}

/* Parses the cells of a line into row (n_cols floats), or with row NULL only
 * checks them. With all_numbers non-NULL it only tells whether every cell is a
 * number (header detection), without an error. */
static sn_status parse_row(const char *path, const csv_line *line, int64_t n_cols, float *row,
                           int *all_numbers) {
    int64_t have = count_cells(line);
    if (!all_numbers && have != n_cols)
        return sn_error(SN_ERR_FORMAT, "%s:%lld: %lld columns, but the first row has %lld", path,
                        (long long)line->number, (long long)have, (long long)n_cols);
    const char *cell = line->text, *end = line->text + line->len;
    for (int64_t c = 0; c < have; c++) {
        const char *comma = memchr(cell, ',', (size_t)(end - cell));
        size_t len = (size_t)((comma ? comma : end) - cell);
        float v;
        cell_result r = parse_cell(cell, len, &v);
        if (r != CELL_OK) {
            if (all_numbers) *all_numbers = 0;
            if (!all_numbers) return cell_error(path, line, c + 1, cell, len, r);
            return SN_OK;
        }
        if (row) row[c] = v;
        cell = comma ? comma + 1 : end;
    }
    if (all_numbers) *all_numbers = 1;
    return SN_OK;
}

/* First pass: the number of non-empty lines and cells per line, with every
 * line after the first (which may be a header) checked as the second pass will
 * read it (the first too unless it may be a header, which then cannot
 * hold data), so that nothing is allocated for a file that will be refused, and
 * the table has at most one cell per two bytes of file (a digit and a
 * separator): at most twice the file size in floats. An empty line may only be followed by more
 * empty lines. Lines past limit + 1 (a possible header) are counted, not checked. */
static sn_status count_lines(csv_reader *r, int header, int64_t limit, int64_t *n_lines,
                             int64_t *n_cols) {
    int64_t n = 0, first_empty = 0;
    csv_line line;
    int got;
    while ((got = next_line(r, &line)) > 0) {
        if (line.len == 0) {
            if (!first_empty) first_empty = line.number;
            continue;
        }
        if (first_empty)
            return sn_error(SN_ERR_FORMAT,
                            "%s:%lld: empty line before more data (line %lld); empty lines "
                            "are allowed only at the end",
                            r->path, (long long)first_empty, (long long)line.number);
        if (n == 0) *n_cols = count_cells(&line);
        /* The first line is checked only when it cannot be a header. */
        if ((n > 0 || header == 0) && (limit == 0 || n <= limit)) {
            sn_status st = parse_row(r->path, &line, *n_cols, NULL, NULL);
            if (st != SN_OK) return st;
        }
        n++;
    }
    if (got < 0) return sn_last_status();
    *n_lines = n;
    return SN_OK;
}

static sn_status read_table(csv_reader *r, int header, int64_t limit, sn_csv_table *t) {
    int64_t n_lines = 0, n_cols = 0;
    sn_status st = count_lines(r, header, limit, &n_lines, &n_cols);
    if (st != SN_OK) return st;
    if (n_lines == 0) return sn_error(SN_ERR_FORMAT, "%s: no rows", r->path);
    if (fseek(r->fp, 0, SEEK_SET) != 0)
        return sn_error(SN_ERR_IO, "%s: cannot rewind: %s", r->path, strerror(errno));
    r->line_number = 0;

    csv_line line;
    if (next_line(r, &line) <= 0) return sn_error(SN_ERR_IO, "%s: changed while reading", r->path);
    t->n_cols = n_cols;
    if (header < 0) {
        int all_numbers;
        parse_row(r->path, &line, t->n_cols, NULL, &all_numbers);
        header = !all_numbers;
    }
    t->has_header = header;
    t->n_rows = n_lines - header;
    if (limit > 0 && t->n_rows > limit) t->n_rows = limit;
    if (t->n_rows == 0) return sn_error(SN_ERR_FORMAT, "%s: a header row and no data", r->path);
    t->first_line = header ? 2 : 1;

    int64_t n_cells;
    if (sn_mul_checked(t->n_rows, t->n_cols, SN_MAX_NUMEL, &n_cells) != SN_OK)
        return sn_error(SN_ERR_NOMEM, "%s: %lld rows of %lld columns are too many", r->path,
                        (long long)t->n_rows, (long long)t->n_cols);
    t->cells = malloc((size_t)n_cells * sizeof(float));
    if (!t->cells)
        return sn_error(SN_ERR_NOMEM, "%s: cannot allocate %lld floats", r->path,
                        (long long)n_cells);
    for (int64_t row = 0; row < t->n_rows; row++) {
        if (row > 0 || header) {
            int got = next_line(r, &line);
            if (got < 0) return sn_last_status();
            if (got == 0 || line.len == 0)
                return sn_error(SN_ERR_IO, "%s: changed while reading", r->path);
        }
        st = parse_row(r->path, &line, t->n_cols, t->cells + row * t->n_cols, NULL);
        if (st != SN_OK) return st;
    }
    return SN_OK;
}

sn_status sn_csv_read(const char *path, int header, int64_t limit, sn_csv_table *out) {
    if (!path || !out) return sn_error(SN_ERR_INVALID_ARG, "sn_csv_read: NULL argument");
    memset(out, 0, sizeof *out);
    if (header < -1 || header > 1 || limit < 0)
        return sn_error(SN_ERR_INVALID_ARG, "sn_csv_read: header %d or limit %lld out of range",
                        header, (long long)limit);
    csv_reader r = {.path = path};
    r.fp = fopen(path, "rb");
    if (!r.fp) return sn_error(SN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat info;
    sn_status st = SN_OK;
    if (fstat(fileno(r.fp), &info) != 0 || !S_ISREG(info.st_mode))
        st = sn_error(SN_ERR_IO, "%s: not a regular file", path);
    if (st == SN_OK) st = read_table(&r, header, limit, out);
    free(r.buf);
    fclose(r.fp);
    if (st != SN_OK) sn_csv_free(out);
    return st;
}

void sn_csv_free(sn_csv_table *t) {
    if (!t) return;
    free(t->cells);
    memset(t, 0, sizeof *t);
}
