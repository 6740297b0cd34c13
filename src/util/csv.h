/* CSV tables (libcsv): a header row naming the columns, then data rows, read whole into memory.
 * Columns are found by name; numeric parsing reports "FILE:LINE: column 'NAME' (column K): ..." so a
 * user can fix the file. Blank lines are skipped; every data row must have as many fields as the header.
 * A UTF-8 byte-order mark before the header is ignored. */
#ifndef LR_UTIL_CSV_H
#define LR_UTIL_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "util/err.h"

typedef struct {
    char *path;        /* as given, for messages */
    size_t n_cols;     /* header fields */
    size_t n_rows;     /* data rows (header excluded) */
    char **header;     /* [n_cols] */
    char **cells;      /* [n_rows * n_cols], row-major, NUL-terminated, surrounding spaces trimmed */
    size_t *row_line;  /* [n_rows] 1-based physical line on which each data row ends */
} lr_csv;

/* Reads the file; an empty file, a file without data rows, duplicate or empty header names and ragged
 * rows are errors. On success *out owns everything; free with lr_csv_free. */
int lr_csv_read(const char *path, lr_csv **out, lr_err *err);
void lr_csv_free(lr_csv *table);

/* Index of the column called `name`, or -1 with err set ("FILE: no column 'NAME' (columns: a, b, c)"). */
long lr_csv_column(const lr_csv *table, const char *name, lr_err *err);
static inline const char *lr_csv_cell(const lr_csv *table, size_t row, size_t col)
{
    return table->cells[row * table->n_cols + col];
}

/* out[n_rows] = the column parsed as finite doubles (no NaN, no Inf, no empty cells). */
/* Rows grouped by the labels of column `name`: group[r] = index of row r's label among the sorted distinct
 * labels, labels[g] (NULL: not wanted; else room for n_rows) points at group g's label in the table. An empty
 * label is an error naming the file, line and column. */
int lr_csv_column_groups(const lr_csv *table, const char *name, size_t *group, const char **labels,
                         size_t *n_groups, lr_err *err);
int lr_csv_column_double(const lr_csv *table, const char *name, double *out, lr_err *err);
/* out[n_rows] = the column as 0/1 integers ("0", "1", also "0.0"/"1.0"); anything else is an error. */
int lr_csv_column_binary(const lr_csv *table, const char *name, int *out, lr_err *err);

/* Writes one text field, quoted as CSV needs it (libcsv's csv_fwrite: double quotes doubled). */
int lr_csv_write_field(FILE *f, const char *text);

#endif
