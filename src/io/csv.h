/*
 * Private CSV reader: a file of numbers, one row per line, comma-separated,
 * read into a float table. The dataset loader (src/data/load_csv.c) decides
 * which column holds the label.
 *
 * Accepted: an optional header row (forced, or detected as a first row with
 * a cell that is not a number), LF or CRLF line ends, a UTF-8 byte-order mark,
 * spaces or tabs around a cell, empty lines at the end. Refused with an error
 * that names path:line:column and the cell: a cell that is not a decimal number
 * (strtof must consume the whole token; "nan", "inf" and hex floats are refused
 * too), an empty cell, a value beyond float range, a quoted field, a row whose
 * column count differs from the first row's, an empty line followed by more
 * data, a NUL byte. Memory is the table itself: rows x columns floats, at most
 * twice the file size in bytes (every cell takes at least one digit and one
 * separator), read in two passes over the file (count the rows, then parse).
 */
#ifndef SN_IO_CSV_H
#define SN_IO_CSV_H

#include <stdint.h>

#include "sinapsi/status.h"

typedef struct sn_csv_table {
    int64_t n_rows;     /* data rows kept (the header and rows past the limit are not) */
    int64_t n_cols;     /* columns of every row */
    float *cells;       /* (n_rows, n_cols) row-major, owned: free with sn_csv_free */
    int has_header;     /* 1 if the first line was taken as a header */
    int64_t first_line; /* line number (from 1) of the first data row, for messages */
} sn_csv_table;

/* Reads path into *out. header: 1 = the first row is a header, 0 = no header,
 * -1 = detect. limit: keep only the first `limit` data rows (0 = all); rows
 * after them are not parsed. On failure *out is zeroed and owns nothing. */
sn_status sn_csv_read(const char *path, int header, int64_t limit, sn_csv_table *out);

/* Frees the table's cells and zeroes it; a zeroed table is allowed. */
void sn_csv_free(sn_csv_table *t);

#endif
