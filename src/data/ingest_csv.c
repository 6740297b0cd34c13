/* Ingest inputs given as CSV (via util/csv, libcsv): the clinical table and the organ legend. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/ingest.h"
#include "data/synth.h"
#include "util/csv.h"
#include "util/parse.h"

void lr_clinical_free(lr_clinical_row *rows, size_t n)
{
    if (!rows) return;
    for (size_t p = 0; p < n; p++) free(rows[p].id);
    free(rows);
}

/* Value checks of one row; the message goes to row->error so the patient can be skipped. */
static void check_row(const lr_csv *t, size_t r, const long col[4], lr_clinical_row *row)
{
    const char *time = lr_csv_cell(t, r, (size_t)col[1]), *event = lr_csv_cell(t, r, (size_t)col[2]),
               *arm = lr_csv_cell(t, r, (size_t)col[3]);
    size_t line = t->row_line[r];
    double v;
    if (lr_parse_double(time, &v) || v <= 0)
        snprintf(row->error, sizeof row->error, "%s:%zu: patient %s: time_days '%s': expected a number > 0",
                 t->path, line, row->id, time);
    else row->time_days = v;
    if (row->error[0]) return;
    if (lr_parse_double(event, &v) || (v != 0 && v != 1))
        snprintf(row->error, sizeof row->error, "%s:%zu: patient %s: event '%s': expected 0 (censored) or 1 (death)",
                 t->path, line, row->id, event);
    else row->event = (int8_t)v;
    if (row->error[0]) return;
    if (lr_parse_double(arm, &v) || v != floor(v) || v < -32768 || v > 32767)
        snprintf(row->error, sizeof row->error, "%s:%zu: patient %s: arm '%s': expected an integer code", t->path,
                 line, row->id, arm);
    else row->arm = (int16_t)v;
}

static int valid_id(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (*s == '/' || *s == '\\') return 0;
    return 1;
}

int lr_clinical_read(const char *path, lr_clinical_row **rows_out, size_t *n_out, lr_err *err)
{
    static const char *const names[4] = {"patient_id", "time_days", "event", "arm"};
    lr_csv *t = NULL;
    lr_clinical_row *rows = NULL;
    *rows_out = NULL;
    *n_out = 0;
    if (lr_csv_read(path, &t, err)) return -1;
    long col[4];
    for (int c = 0; c < 4; c++)
        if ((col[c] = lr_csv_column(t, names[c], err)) < 0) goto fail;
    rows = lr_calloc(t->n_rows, sizeof *rows, err);
    if (!rows) goto fail;
    for (size_t r = 0; r < t->n_rows; r++) {
        const char *id = lr_csv_cell(t, r, (size_t)col[0]);
        if (!valid_id(id)) {
            lr_fail(err, "%s:%zu: patient_id '%s': expected a non-empty name without '/' (the study directory name)",
                    path, t->row_line[r], id);
            goto fail;
        }
        for (size_t q = 0; q < r; q++)
            if (!strcmp(rows[q].id, id)) {
                lr_fail(err, "%s:%zu: patient_id '%s' appears twice (first on line %zu)", path, t->row_line[r], id,
                        t->row_line[q]);
                goto fail;
            }
        if (!(rows[r].id = strdup(id))) {
            lr_fail(err, "out of memory");
            goto fail;
        }
        check_row(t, r, col, &rows[r]);
    }
    *rows_out = rows;
    *n_out = t->n_rows;
    lr_csv_free(t);
    return 0;
fail:
    lr_clinical_free(rows, t ? t->n_rows : 0);
    lr_csv_free(t);
    return -1;
}

/* ---- organ table ---- */

void lr_organ_table_free(lr_organ_table *t)
{
    for (size_t k = 0; k < t->n_names; k++) free(t->names[k]);
    memset(t, 0, sizeof *t);
}

static long find_name(const lr_organ_table *t, const char *name)
{
    for (size_t k = 0; k < t->n_names; k++)
        if (!strcmp(t->names[k], name)) return (long)k;
    return -1;
}

static int add_name(lr_organ_table *t, const char *name, lr_err *err)
{
    long k = find_name(t, name);
    if (k >= 0) return (int)k;
    if (t->n_names == LR_INGEST_MAX_ORGANS) return lr_fail(err, "more than %d organ names", LR_INGEST_MAX_ORGANS);
    if (!(t->names[t->n_names] = strdup(name))) return lr_fail(err, "out of memory");
    return (int)t->n_names++;
}

int lr_organ_table_default(lr_organ_table *t, lr_err *err)
{
    memset(t, 0, sizeof *t);
    for (int k = 0; k < N_SYNTH_ORGANS; k++) {
        if (add_name(t, lr_synth_organ_names[k], err) < 0) goto fail;
        t->label[k] = k + 1;
        t->index[k] = (int16_t)k;
    }
    t->n_labels = N_SYNTH_ORGANS;
    t->other = ORGAN_OTHER;
    return 0;
fail:
    lr_organ_table_free(t);
    return -1;
}

int lr_organ_table_read(const char *path, lr_organ_table *t, lr_err *err)
{
    lr_csv *csv = NULL;
    if (lr_organ_table_default(t, err)) return -1;
    t->n_labels = 0; /* the legend replaces the default labels, keeps the default names first */
    if (lr_csv_read(path, &csv, err)) goto fail;
    long cl = lr_csv_column(csv, "label", err), cn = lr_csv_column(csv, "name", err);
    if (cl < 0 || cn < 0) goto fail;
    for (size_t r = 0; r < csv->n_rows; r++) {
        const char *ls = lr_csv_cell(csv, r, (size_t)cl), *name = lr_csv_cell(csv, r, (size_t)cn);
        double v;
        if (lr_parse_double(ls, &v) || v < 1 || v != floor(v) || v > INT32_MAX) {
            lr_fail(err, "%s:%zu: label '%s': expected a positive integer (0 is background)", path, csv->row_line[r], ls);
            goto fail;
        }
        if (!*name) {
            lr_fail(err, "%s:%zu: empty organ name", path, csv->row_line[r]);
            goto fail;
        }
        for (size_t q = 0; q < t->n_labels; q++)
            if (t->label[q] == (int32_t)v) {
                lr_fail(err, "%s:%zu: label %s listed twice", path, csv->row_line[r], ls);
                goto fail;
            }
        if (t->n_labels == LR_INGEST_MAX_ORGANS) {
            lr_fail(err, "%s: more than %d labels", path, LR_INGEST_MAX_ORGANS);
            goto fail;
        }
        int k = add_name(t, name, err);
        if (k < 0) goto fail;
        t->label[t->n_labels] = (int32_t)v;
        t->index[t->n_labels++] = (int16_t)k;
    }
    lr_csv_free(csv);
    return 0;
fail:
    lr_csv_free(csv);
    lr_organ_table_free(t);
    return lr_fail_ctx(err, "organ legend");
}
