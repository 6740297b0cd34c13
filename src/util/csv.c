#include "util/csv.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/parse.h"

/* Growable array of owned strings. */
typedef struct {
    char **items;
    size_t len, cap;
} string_list;

static int string_list_push(string_list *list, char *s)
{
    if (list->len == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 64;
        char **items = realloc(list->items, cap * sizeof *items);
        if (!items) return -1;
        list->items = items;
        list->cap = cap;
    }
    list->items[list->len++] = s;
    return 0;
}

static void string_list_free(string_list *list)
{
    for (size_t i = 0; i < list->len; i++) free(list->items[i]);
    free(list->items);
    *list = (string_list){0};
}

/* State shared by the libcsv callbacks; the first error wins and later callbacks do nothing. */
typedef struct {
    lr_csv *table;
    string_list row;     /* fields of the row being read */
    string_list cells;   /* all data cells so far */
    size_t *row_line;
    size_t row_line_cap;
    size_t line;         /* physical line being fed to the parser */
    int failed;
    lr_err *err;
} reader_state;

static void on_field(void *data, size_t len, void *ctx)
{
    reader_state *st = ctx;
    if (st->failed) return;
    char *s = malloc(len + 1);
    if (!s || string_list_push(&st->row, s) != 0) {
        free(s);
        st->failed = 1;
        lr_fail(st->err, "%s: out of memory", st->table->path);
        return;
    }
    if (len) memcpy(s, data, len);
    s[len] = '\0';
}

static void on_header(reader_state *st)
{
    lr_csv *t = st->table;
    for (size_t i = 0; i < st->row.len; i++) {
        if (!st->row.items[i][0]) {
            st->failed = 1;
            lr_fail(st->err, "%s:%zu: header column %zu is empty", t->path, st->line, i + 1);
            return;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(st->row.items[i], st->row.items[j])) {
                st->failed = 1;
                lr_fail(st->err, "%s:%zu: header names column '%s' twice (columns %zu and %zu)", t->path,
                        st->line, st->row.items[i], j + 1, i + 1);
                return;
            }
    }
    t->header = st->row.items;
    t->n_cols = st->row.len;
    st->row = (string_list){0};
}

static void on_row(int terminator, void *ctx)
{
    reader_state *st = ctx;
    if (st->failed) return;
    lr_csv *t = st->table;
    if (!t->header) {
        on_header(st);
        return;
    }
    if (st->row.len != t->n_cols) {
        st->failed = 1;
        lr_fail(st->err, "%s:%zu: row has %zu fields, the header has %zu", t->path, st->line, st->row.len,
                t->n_cols);
        return;
    }
    if (t->n_rows == st->row_line_cap) {
        size_t cap = st->row_line_cap ? 2 * st->row_line_cap : 64;
        size_t *lines = realloc(st->row_line, cap * sizeof *lines);
        if (!lines) goto oom;
        st->row_line = lines;
        st->row_line_cap = cap;
    }
    for (size_t i = 0; i < st->row.len; i++) {
        if (string_list_push(&st->cells, st->row.items[i]) != 0) goto oom;
        st->row.items[i] = NULL;
    }
    st->row.len = 0;
    st->row_line[t->n_rows++] = st->line;
    return;
oom:
    st->failed = 1;
    lr_fail(st->err, "%s: out of memory", t->path);
}

void lr_csv_free(lr_csv *table)
{
    if (!table) return;
    for (size_t i = 0; i < table->n_cols; i++) free(table->header[i]);
    if (table->cells)
        for (size_t i = 0; i < table->n_rows * table->n_cols; i++) free(table->cells[i]);
    free(table->header);
    free(table->cells);
    free(table->row_line);
    free(table->path);
    free(table);
}

int lr_csv_read(const char *path, lr_csv **out, lr_err *err)
{
    *out = NULL;
    lr_csv *t = lr_calloc(1, sizeof *t, err);
    if (!t) return -1;
    reader_state st = {.table = t, .err = err};
    struct csv_parser parser;
    int parser_ready = 0;
    char *line = NULL;
    size_t line_cap = 0;
    FILE *f = NULL;
    t->path = strdup(path);
    if (!t->path) {
        lr_fail(err, "out of memory");
        goto fail;
    }
    f = fopen(path, "rb");
    if (!f) {
        lr_fail(err, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        lr_fail(err, "%s: cannot initialise the CSV parser", path);
        goto fail;
    }
    parser_ready = 1;
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        st.line++;
        /* a UTF-8 byte-order mark (Excel's "CSV UTF-8") would become part of the first column's name */
        size_t skip = st.line == 1 && len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3) ? 3 : 0;
        if (csv_parse(&parser, line + skip, (size_t)len - skip, on_field, on_row, &st) != (size_t)len - skip) {
            lr_fail(err, "%s:%zu: malformed CSV: %s", path, st.line, csv_strerror(csv_error(&parser)));
            goto fail;
        }
        if (st.failed) goto fail;
    }
    if (ferror(f)) {
        lr_fail(err, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    if (csv_fini(&parser, on_field, on_row, &st) != 0) {
        lr_fail(err, "%s:%zu: malformed CSV: %s", path, st.line, csv_strerror(csv_error(&parser)));
        goto fail;
    }
    if (st.failed) goto fail;
    if (!t->header) {
        lr_fail(err, "%s: empty file (no header row)", path);
        goto fail;
    }
    if (t->n_rows == 0) {
        lr_fail(err, "%s: no data rows after the header", path);
        goto fail;
    }
    t->cells = st.cells.items;
    t->row_line = st.row_line;
    st.cells = (string_list){0};
    st.row_line = NULL;
    csv_free(&parser);
    free(line);
    fclose(f);
    string_list_free(&st.row);
    *out = t;
    return 0;
fail:
    if (parser_ready) csv_free(&parser);
    free(line);
    if (f) fclose(f);
    string_list_free(&st.row);
    string_list_free(&st.cells);
    free(st.row_line);
    t->n_rows = 0; /* cells were not handed over */
    lr_csv_free(t);
    return -1;
}

long lr_csv_column(const lr_csv *table, const char *name, lr_err *err)
{
    for (size_t i = 0; i < table->n_cols; i++)
        if (!strcmp(table->header[i], name)) return (long)i;
    char names[512];
    size_t k = 0;
    names[0] = '\0';
    for (size_t i = 0; i < table->n_cols && k + 1 < sizeof names; i++) {
        int w = snprintf(names + k, sizeof names - k, "%s%s", i ? ", " : "", table->header[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
    lr_fail(err, "%s:1: no column '%s' (columns: %s)", table->path, name, names);
    return -1;
}

int lr_csv_column_double(const lr_csv *table, const char *name, double *out, lr_err *err)
{
    long col = lr_csv_column(table, name, err);
    if (col < 0) return -1;
    for (size_t r = 0; r < table->n_rows; r++) {
        const char *s = lr_csv_cell(table, r, (size_t)col);
        double v;
        if (lr_parse_double(s, &v))
            return lr_fail(err, "%s:%zu: column '%s' (column %ld): '%s' is not a finite number", table->path,
                           table->row_line[r], name, col + 1, s);
        out[r] = v;
    }
    return 0;
}

int lr_csv_column_binary(const lr_csv *table, const char *name, int *out, lr_err *err)
{
    long col = lr_csv_column(table, name, err);
    if (col < 0) return -1;
    for (size_t r = 0; r < table->n_rows; r++) {
        const char *s = lr_csv_cell(table, r, (size_t)col);
        double v;
        if (lr_parse_double(s, &v) || (v != 0.0 && v != 1.0))
            return lr_fail(err, "%s:%zu: column '%s' (column %ld): '%s' is not 0 or 1", table->path,
                           table->row_line[r], name, col + 1, s);
        out[r] = (int)v;
    }
    return 0;
}

typedef struct {
    const char *label;
    size_t row;
} labelled_row;

static int compare_labelled_rows(const void *a, const void *b)
{
    const labelled_row *x = a, *y = b;
    int c = strcmp(x->label, y->label);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

int lr_csv_column_groups(const lr_csv *table, const char *name, size_t *group, const char **labels,
                         size_t *n_groups, lr_err *err)
{
    long col = lr_csv_column(table, name, err);
    if (col < 0) return -1;
    size_t n = table->n_rows;
    labelled_row *rows = lr_malloc(n ? n : 1, sizeof *rows, err);
    if (!rows) return -1;
    for (size_t r = 0; r < n; r++) {
        rows[r] = (labelled_row){lr_csv_cell(table, r, (size_t)col), r};
        if (!rows[r].label[0]) {
            free(rows);
            return lr_fail(err, "%s:%zu: column '%s' (column %ld): empty group label", table->path,
                           table->row_line[r], name, col + 1);
        }
    }
    qsort(rows, n, sizeof *rows, compare_labelled_rows);
    size_t g = 0;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && strcmp(rows[k].label, rows[k - 1].label) != 0) g++;
        group[rows[k].row] = g;
        if (labels) labels[g] = rows[k].label;
    }
    *n_groups = n ? g + 1 : 0;
    free(rows);
    return 0;
}

int lr_csv_write_field(FILE *f, const char *text)
{
    return csv_fwrite(f, text, strlen(text)) == 0 ? 0 : -1;
}
