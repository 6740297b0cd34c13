/* Table 2: per-fold C-indices (mean ± sample sd over folds, replicates averaged within a fold) and the
 * pooled out-of-fold test C with a stratified bootstrap over patients.
 *
 * Why stratified and fold-wise: a patient's out-of-fold risk comes from the model trained without its
 * fold, and models of different folds put risks on different scales, so concatenating risks across folds
 * and computing one C would compare incomparable numbers. The pooled statistic is instead the mean over
 * folds of Harrell's C on that fold's test patients (replicates averaged), and each bootstrap replicate
 * resamples patients with replacement within their test fold (fold sizes fixed), recomputing every fold's
 * C. The paired difference to Proposed uses the same resampled patients. Intervals: percentile and BCa as
 * R's boot (norm.inter order statistics), the acceleration from the stratified jackknife
 * L_i = (n_k - 1)(θ̂ - θ̂_(-i)), n_k the size of patient i's fold. */
#include "report/report.h"

#include <errno.h>
#include <stdarg.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "survival/bootstrap.h"
#include "survival/concordance.h"
#include "util/rng.h"


static const struct {
    const char *model, *label;
    int learned;
} row_defs[LR_TABLE2_ROWS] = {
    {"imagenet_resnet50", "ImageNet ResNet50", 1},
    {"radimagenet_resnet50", "RadImageNet ResNet50", 1},
    {"proposed", "Proposed", 1},
    {"no_fc", "No FC network", 1},
    {"no_scaler", "No size scaler", 1},
    {"mean_largest5", "Mean of largest 5", 1},
    {"whole_volume", "Whole volume", 1},
    {"total_volume", "Total lesion volume", 0},
    {"sum_diameters", "Sum of diameters (RECIST-like)", 0},
    {"lesion_count", "Lesion count", 0},
};
#define PROPOSED_ROW 2

lr_table2_options lr_table2_default_options(void)
{
    return (lr_table2_options){.replicates = 2000, .level = 0.95, .seed = 0};
}

void lr_results_test_fold(const lr_results *c, int *out)
{
    for (size_t p = 0; p < c->P; p++) {
        out[p] = -1;
        for (size_t j = 0; j < c->J && out[p] < 0; j++)
            if (c->job_status[j] == LR_JOB_STATUS_OK && c->job_pooled[j] && c->patient_role[j * c->P + p] == 2)
                out[p] = c->job_fold[j];
    }
}

/* ---- the pooled statistic ---- */

/* A table row by index: the model rows first (LR_TABLE2_ROWS), then the sweep's setting rows. */
static lr_table2_row *row_at(lr_table2 *t, size_t row)
{
    return row < LR_TABLE2_ROWS ? &t->rows[row] : &t->settings[row - LR_TABLE2_ROWS];
}
static const lr_table2_row *row_at_c(const lr_table2 *t, size_t row)
{
    return row < LR_TABLE2_ROWS ? &t->rows[row] : &t->settings[row - LR_TABLE2_ROWS];
}

/* The statistic is over (repeat, fold) units u = repeat * folds + fold: with one repeat, the folds. */
typedef struct {
    const lr_results *c;
    size_t units, rows;
    long *jobs;          /* [rows * units * replicates_max] ok jobs, -1 padded */
    size_t rep_max;
    size_t *start;       /* [units + 1]: the test patients of unit u are members[start[u]..start[u+1]) */
    double *work_time, *work_risk; /* [P] */
    int *work_event;
    double *unit_value;  /* [rows * units] each unit's C (replicates averaged) on the current patients */
} pool_ctx;

static long job_at(const pool_ctx *x, size_t row, size_t unit, size_t r)
{
    return x->jobs[(row * x->units + unit) * x->rep_max + r];
}

static int unit_has_jobs(const pool_ctx *x, size_t row, size_t unit) { return job_at(x, row, unit, 0) >= 0; }

/* Harrell's C of one job on the patients units[0..n). */
static int job_cindex(pool_ctx *x, long job, const size_t *units, size_t n, double *value, lr_err *err)
{
    const lr_results *c = x->c;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t p = units[i];
        double r = c->patient_risk[(size_t)job * c->P + p];
        if (!isfinite(r) || c->patient_role[(size_t)job * c->P + p] != 2) continue;
        x->work_time[m] = c->time_days[p];
        x->work_event[m] = c->event[p];
        x->work_risk[m] = r;
        m++;
    }
    lr_concordance conc;
    if (lr_harrell_cindex(m, x->work_time, x->work_event, x->work_risk, &conc, err)) return -1;
    *value = conc.cindex;
    return 0;
}

/* Unit u's C of a row on the patients units[0..n): the mean over the unit's ok replicates (NaN without). */
static int unit_statistic(pool_ctx *x, size_t row, size_t u, const size_t *units, size_t n, double *value, lr_err *err)
{
    double sum = 0.0;
    size_t reps = 0;
    for (size_t r = 0; r < x->rep_max; r++) {
        long j = job_at(x, row, u, r);
        if (j < 0) break;
        double cj;
        if (job_cindex(x, j, units, n, &cj, err)) return -1;
        sum += cj;
        reps++;
    }
    *value = reps ? sum / (double)reps : NAN;
    return 0;
}

/* Every row's unit values on the patients units[] (start[] per unit) into x->unit_value. */
static int all_unit_values(pool_ctx *x, const size_t *units, const size_t *start, lr_err *err)
{
    for (size_t row = 0; row < x->rows; row++)
        for (size_t u = 0; u < x->units; u++)
            if (unit_statistic(x, row, u, units + start[u], start[u + 1] - start[u], &x->unit_value[row * x->units + u],
                               err))
                return -1;
    return 0;
}

/* Mean over the units in mask of the row's unit values. */
static double row_statistic(const pool_ctx *x, size_t row, const unsigned char *mask)
{
    double sum = 0.0;
    size_t used = 0;
    for (size_t u = 0; u < x->units; u++) {
        if (!mask[u]) continue;
        sum += x->unit_value[row * x->units + u];
        used++;
    }
    return used ? sum / (double)used : NAN;
}

void lr_report_intervals(double *t, size_t used, double estimate, const double *L, size_t n, double level,
                      double *pct_low, double *pct_high, double *bca_low, double *bca_high, double *se)
{
    *pct_low = *pct_high = *bca_low = *bca_high = *se = NAN;
    if (used < 2 || !isfinite(estimate)) return;
    gsl_sort(t, 1, used);
    *se = gsl_stats_sd(t, 1, used);
    double a_lo = (1.0 - level) / 2.0, a_hi = (1.0 + level) / 2.0;
    *pct_low = lr_boot_norm_inter(t, used, a_lo);
    *pct_high = lr_boot_norm_inter(t, used, a_hi);
    double below = 0.0;
    for (size_t b = 0; b < used; b++) below += t[b] < estimate;
    double z0 = gsl_cdf_ugaussian_Pinv(below / (double)used);
    if (!isfinite(z0)) return; /* every replicate on one side: BCa undefined */
    double s2 = 0.0, s3 = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(L[i])) continue;
        s2 += L[i] * L[i];
        s3 += L[i] * L[i] * L[i];
    }
    double accel = s2 > 0.0 ? s3 / (6.0 * pow(s2, 1.5)) : 0.0;
    double ends[2] = {a_lo, a_hi}, out[2];
    for (int e = 0; e < 2; e++) {
        double z = z0 + gsl_cdf_ugaussian_Pinv(ends[e]);
        out[e] = lr_boot_norm_inter(t, used, gsl_cdf_ugaussian_P(z0 + z / (1.0 - accel * z)));
    }
    *bca_low = out[0];
    *bca_high = out[1];
}

static int unit_has_any(const unsigned char *mask, size_t units)
{
    for (size_t u = 0; u < units; u++)
        if (mask[u]) return 1;
    return 0;
}

typedef struct {
    unsigned char *mask;      /* [rows * units] units the row has */
    unsigned char *diff_mask; /* [rows * units] units both the row and Proposed have */
} row_masks;

/* A row's statistic and its difference to Proposed from the current unit values. */
static void row_stats(const pool_ctx *x, const row_masks *mk, size_t row, double *stat, double *diff)
{
    const unsigned char *m = mk->mask + row * x->units, *dm = mk->diff_mask + row * x->units;
    *stat = *diff = NAN;
    if (!unit_has_any(m, x->units)) return;
    *stat = row_statistic(x, row, m);
    if (row != PROPOSED_ROW && unit_has_any(dm, x->units))
        *diff = row_statistic(x, row, dm) - row_statistic(x, PROPOSED_ROW, dm);
}

/* Bootstrap and jackknife of every row's pooled C and difference to Proposed, sharing the draws: each draw
 * resamples the test patients of every (repeat, fold) unit within that unit. */
static int pooled_bootstrap(pool_ctx *x, const row_masks *mk, const size_t *members, const lr_table2_options *opt,
                            lr_table2 *t, lr_err *err)
{
    size_t U = x->units, n = x->start[U], B = opt->replicates, R = x->rows;
    double *reps = lr_malloc(2 * R * B, sizeof *reps, err);           /* [2][R][B] stat, diff */
    double *jack = lr_malloc(2 * R * (n ? n : 1), sizeof *jack, err); /* [2][R][n] influence values */
    double *base = lr_malloc(R * U, sizeof *base, err);               /* [R][U] unit values on the data */
    size_t *units = lr_malloc(n ? n : 1, sizeof *units, err);
    double *est = lr_malloc(R, sizeof *est, err), *est_diff = lr_malloc(R, sizeof *est_diff, err);
    gsl_rng *rng = lr_rng_stream(opt->seed, "report-table2-bootstrap", 0, 0, 0);
    int rc = -1;
    if (!reps || !jack || !base || !units || !est || !est_diff || !rng) {
        if (!rng) lr_fail(err, "out of memory for the RNG");
        goto done;
    }
    if (all_unit_values(x, members, x->start, err)) goto done;
    memcpy(base, x->unit_value, R * U * sizeof *base);
    for (size_t row = 0; row < R; row++) row_stats(x, mk, row, &est[row], &est_diff[row]);
    for (size_t b = 0; b < B; b++) {
        for (size_t u = 0; u < U; u++) {
            size_t nk = x->start[u + 1] - x->start[u];
            for (size_t i = 0; i < nk; i++) units[x->start[u] + i] = members[x->start[u] + gsl_rng_uniform_int(rng, nk)];
        }
        if (all_unit_values(x, units, x->start, err)) goto done;
        for (size_t row = 0; row < R; row++) row_stats(x, mk, row, &reps[row * B + b], &reps[(R + row) * B + b]);
    }
    /* stratified jackknife: leave test patient i out of its unit (the other units keep their values) */
    memcpy(x->unit_value, base, R * U * sizeof *base);
    for (size_t u = 0; u < U; u++) {
        size_t nk = x->start[u + 1] - x->start[u];
        for (size_t i = x->start[u]; i < x->start[u + 1]; i++) {
            size_t m = 0;
            for (size_t q = x->start[u]; q < x->start[u + 1]; q++)
                if (q != i) units[m++] = members[q];
            for (size_t row = 0; row < R; row++)
                if (unit_statistic(x, row, u, units, m, &x->unit_value[row * U + u], err)) goto done;
            for (size_t row = 0; row < R; row++) {
                double s, d;
                row_stats(x, mk, row, &s, &d);
                jack[row * n + i] = ((double)nk - 1.0) * (est[row] - s);
                jack[(R + row) * n + i] = ((double)nk - 1.0) * (est_diff[row] - d);
            }
            for (size_t row = 0; row < R; row++) x->unit_value[row * U + u] = base[row * U + u];
        }
    }
    for (size_t row = 0; row < R; row++) {
        lr_table2_row *w = row_at(t, row);
        for (int which = 0; which < 2; which++) {
            double *tb = &reps[(which * R + row) * B];
            size_t used = 0;
            for (size_t b = 0; b < B; b++)
                if (isfinite(tb[b])) tb[used++] = tb[b];
            const double *L = &jack[(which * R + row) * n];
            if (which == 0) {
                w->pooled = est[row];
                lr_report_intervals(tb, used, est[row], L, n, opt->level, &w->pct_low, &w->pct_high, &w->bca_low, &w->bca_high,
                          &w->boot_se);
            } else {
                double se;
                w->diff = est_diff[row];
                lr_report_intervals(tb, used, est_diff[row], L, n, opt->level, &w->diff_pct_low, &w->diff_pct_high,
                          &w->diff_low, &w->diff_high, &se);
            }
        }
    }
    rc = 0;
done:
    free(reps);
    free(jack);
    free(base);
    free(units);
    free(est);
    free(est_diff);
    if (rng) gsl_rng_free(rng);
    return rc;
}

static void append(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

/* The jobs of a row: its model's; with a sweep, a setting row's setting, or the model row's selected one. */
static int row_takes_job(const lr_results *c, const lr_table2_row *w, size_t j)
{
    if (strcmp(c->job_model[j], w->model)) return 0;
    return w->setting < 0 ? c->job_selected[j] : c->job_setting[j] == w->setting;
}

/* Job bookkeeping and unit means of one row (model, label and learned set); fills the row's ok jobs into
 * x->jobs. */
static int summarise_row(const lr_results *c, pool_ctx *x, size_t row, lr_table2_row *w, lr_err *err)
{
    size_t U = x->units;
    for (int s = 0; s < 3; s++) w->mean[s] = w->sd[s] = NAN;
    w->pooled = w->pct_low = w->pct_high = w->bca_low = w->bca_high = w->boot_se = NAN;
    w->diff = w->diff_low = w->diff_high = w->diff_pct_low = w->diff_pct_high = NAN;
    double *sum = lr_calloc(3 * U, sizeof *sum, err), *vals = lr_malloc(3 * U, sizeof *vals, err);
    size_t *count = lr_calloc(U, sizeof *count, err);
    if (!sum || !vals || !count) {
        free(sum), free(vals), free(count);
        return -1;
    }
    for (size_t j = 0; j < c->J; j++) {
        if (!row_takes_job(c, w, j)) continue;
        w->present = 1;
        w->n_jobs++;
        if (c->job_status[j] != LR_JOB_STATUS_OK) {
            char rep[32] = "";
            if (c->repeats > 1) snprintf(rep, sizeof rep, "repeat %d ", c->job_repeat[j]);
            if (c->job_status[j] == LR_JOB_STATUS_MISSING) w->n_missing++;
            else w->n_failed++;
            append(w->problems, sizeof w->problems, "%s%sfold %d rep %d %s%s%.80s%s", w->problems[0] ? "; " : "", rep,
                   c->job_fold[j], c->job_replicate[j], lr_job_status_name(c->job_status[j]),
                   c->job_error[j][0] ? " (" : "", c->job_error[j], c->job_error[j][0] ? ")" : "");
            continue;
        }
        w->n_ok++;
        if (!w->weights[0]) {
            snprintf(w->weights, sizeof w->weights, "%s", c->job_weights_source[j]);
            w->starred = !strcmp(c->job_selection[j], "best_valid");
        }
        size_t u = LR_RESULTS_UNIT(c, j);
        if (count[u] < x->rep_max) x->jobs[(row * U + u) * x->rep_max + count[u]] = (long)j;
        for (int s = 0; s < 3; s++) sum[u * 3 + s] += c->job_cindex[j * 3 + s];
        count[u]++;
    }
    for (size_t u = 0; u < U; u++) {
        for (int s = 0; s < 3; s++) {
            w->fold_c[u][s] = count[u] ? sum[u * 3 + s] / (double)count[u] : NAN;
            if (count[u]) vals[s * U + (size_t)w->n_folds] = w->fold_c[u][s];
        }
        if (count[u]) w->n_folds++;
    }
    for (int s = 0; s < 3; s++) {
        if (w->n_folds >= 1) w->mean[s] = gsl_stats_mean(vals + s * U, 1, (size_t)w->n_folds);
        if (w->n_folds >= 2) w->sd[s] = gsl_stats_sd(vals + s * U, 1, (size_t)w->n_folds);
    }
    free(sum), free(vals), free(count);
    return 0;
}

/* "train.lr=0.0001, cnn.width=32" */
static void setting_text(const lr_results *c, int s, char *buf, size_t n)
{
    buf[0] = '\0';
    for (size_t k = 0; k < c->n_sweep_keys; k++)
        append(buf, n, "%s%s=%g", k ? ", " : "", c->sweep_key[k], c->sweep_values[(size_t)s * c->n_sweep_keys + k]);
}

static int model_is_swept(const lr_results *c, const char *model)
{
    for (size_t j = 0; j < c->J; j++)
        if (c->job_setting[j] >= 0 && !strcmp(c->job_model[j], model)) return 1;
    return 0;
}

/* The rows: the model rows in the paper's order (a swept model's row is its nested selection), and with a
 * sweep one row per (swept model, setting). */
static int make_rows(const lr_results *c, lr_table2 *t, lr_err *err)
{
    size_t n_swept = 0;
    for (size_t row = 0; row < LR_TABLE2_ROWS; row++) {
        lr_table2_row *w = &t->rows[row];
        w->model = row_defs[row].model;
        w->label = row_defs[row].label;
        w->learned = row_defs[row].learned;
        w->setting = -1;
        int swept = model_is_swept(c, w->model);
        snprintf(w->shown, sizeof w->shown, "%s%s", w->label, swept ? " [selected]" : "");
        n_swept += (size_t)swept;
    }
    if (!n_swept) return 0;
    t->settings = lr_calloc(n_swept * c->n_settings, sizeof *t->settings, err);
    if (!t->settings) return -1;
    for (size_t row = 0; row < LR_TABLE2_ROWS; row++) {
        if (!model_is_swept(c, t->rows[row].model)) continue;
        for (size_t s = 0; s < c->n_settings; s++) {
            lr_table2_row *w = &t->settings[t->n_settings++];
            w->model = t->rows[row].model;
            w->label = t->rows[row].label;
            w->learned = t->rows[row].learned;
            w->setting = (int)s;
            char text[200];
            setting_text(c, (int)s, text, sizeof text);
            snprintf(w->shown, sizeof w->shown, "%s [%s]", w->label, text);
        }
    }
    return 0;
}

/* Per swept model row and (repeat, fold) unit: the selected setting, its validation and test C. */
static int make_selection(const lr_results *c, lr_table2 *t, lr_err *err)
{
    size_t n = 0;
    for (size_t row = 0; row < LR_TABLE2_ROWS; row++) n += model_is_swept(c, t->rows[row].model) ? t->units : 0;
    if (!n) return 0;
    t->selection = lr_calloc(n, sizeof *t->selection, err);
    if (!t->selection) return -1;
    for (size_t row = 0; row < LR_TABLE2_ROWS; row++) {
        const lr_table2_row *w = &t->rows[row];
        if (!model_is_swept(c, w->model)) continue;
        for (size_t u = 0; u < t->units; u++) {
            lr_table2_selection *sel = &t->selection[t->n_selection++];
            sel->model = w->model;
            sel->repeat = (int)(u / t->folds), sel->fold = (int)(u % t->folds);
            sel->setting = -1;
            double sum = 0;
            size_t m = 0;
            for (size_t j = 0; j < c->J; j++) {
                if (strcmp(c->job_model[j], w->model) || LR_RESULTS_UNIT(c, j) != u || c->job_setting[j] < 0) continue;
                sel->setting = c->job_unit_selected[j];
                if (c->job_selected[j] && c->job_status[j] == LR_JOB_STATUS_OK) sum += c->job_cindex[j * 3 + 1], m++;
            }
            sel->valid_c = m ? sum / (double)m : NAN;
            if (sel->setting >= 0) setting_text(c, sel->setting, sel->values, sizeof sel->values);
            sel->test_c = w->fold_c[u][2];
        }
    }
    return 0;
}

/* The test patients of every (repeat, fold) unit: members[start[u]..start[u+1]) are the patients that an
 * ok job of unit u has in its test part. */
static int unit_members(const lr_results *c, size_t U, size_t *members, size_t *start, lr_err *err)
{
    unsigned char *in = lr_calloc(U * (c->P ? c->P : 1), 1, err);
    if (!in) return -1;
    for (size_t j = 0; j < c->J; j++) {
        if (c->job_status[j] != LR_JOB_STATUS_OK) continue;
        size_t u = LR_RESULTS_UNIT(c, j);
        for (size_t p = 0; p < c->P; p++) in[u * c->P + p] |= c->patient_role[j * c->P + p] == 2;
    }
    size_t n = 0;
    for (size_t u = 0; u < U; u++) {
        start[u] = n;
        for (size_t p = 0; p < c->P; p++)
            if (in[u * c->P + p]) members[n++] = p;
    }
    start[U] = n;
    free(in);
    return 0;
}

int lr_table2_compute(const lr_results *c, const lr_table2_options *opt, lr_table2 *t, lr_err *err)
{
    memset(t, 0, sizeof *t);
    t->opt = *opt;
    t->folds = (size_t)c->folds;
    t->repeats = (size_t)c->repeats;
    t->units = t->folds * t->repeats;
    t->oracle_cindex = c->oracle_cindex;
    t->annotated_truth_cindex = c->annotated_truth_cindex;
    if (t->units > LR_CAMPAIGN_MAX_CV_UNITS)
        return lr_fail(err, "%s: %zu repeats x %zu folds, the report handles at most %d", c->path, t->repeats, t->folds,
                       LR_CAMPAIGN_MAX_CV_UNITS);
    if (make_rows(c, t, err)) return -1;
    size_t U = t->units, R = LR_TABLE2_ROWS + t->n_settings, P = c->P ? c->P : 1;
    pool_ctx x = {.c = c, .units = U, .rows = R, .rep_max = (size_t)c->replicates};
    for (size_t j = 0; j < c->J; j++)
        if ((size_t)c->job_replicate[j] + 1 > x.rep_max) x.rep_max = (size_t)c->job_replicate[j] + 1;
    size_t n_slots = R * U * x.rep_max;
    size_t *members = lr_malloc(P * t->repeats, sizeof *members, err);
    row_masks mk = {.mask = lr_calloc(R * U, 1, err), .diff_mask = lr_calloc(R * U, 1, err)};
    x.start = lr_malloc(U + 1, sizeof *x.start, err);
    x.jobs = lr_malloc(n_slots, sizeof *x.jobs, err);
    x.unit_value = lr_malloc(R * U, sizeof *x.unit_value, err);
    x.work_time = lr_malloc(P, sizeof *x.work_time, err);
    x.work_risk = lr_malloc(P, sizeof *x.work_risk, err);
    x.work_event = lr_malloc(P, sizeof *x.work_event, err);
    int rc = -1;
    if (!members || !mk.mask || !mk.diff_mask || !x.start || !x.jobs || !x.unit_value || !x.work_time ||
        !x.work_risk || !x.work_event)
        goto done;
    for (size_t i = 0; i < n_slots; i++) x.jobs[i] = -1;
    for (size_t j = 0; j < c->J; j++) {
        int known = 0;
        for (size_t row = 0; row < LR_TABLE2_ROWS; row++) known |= !strcmp(c->job_model[j], row_defs[row].model);
        t->n_unknown_models += !known;
    }
    for (size_t row = 0; row < R; row++) {
        if (summarise_row(c, &x, row, row_at(t, row), err)) goto done;
        for (size_t u = 0; u < U; u++) mk.mask[row * U + u] = (unsigned char)unit_has_jobs(&x, row, u);
    }
    for (size_t row = 0; row < R; row++)
        for (size_t u = 0; u < U; u++) {
            mk.diff_mask[row * U + u] = mk.mask[row * U + u] && mk.mask[PROPOSED_ROW * U + u];
            row_at(t, row)->diff_folds += mk.diff_mask[row * U + u];
        }
    if (make_selection(c, t, err)) goto done;
    if (unit_members(c, U, members, x.start, err)) goto done;
    size_t n = x.start[U];
    t->n_test_entries = n;
    {
        unsigned char *seen = lr_calloc(P, 1, err);
        if (!seen) goto done;
        for (size_t i = 0; i < n; i++) t->n_test_patients += !seen[members[i]]++;
        free(seen);
    }
    if (n >= 2 && opt->replicates >= 2 && pooled_bootstrap(&x, &mk, members, opt, t, err)) goto done;
    rc = 0;
done:
    free(members);
    free(mk.mask);
    free(mk.diff_mask);
    free(x.start);
    free(x.jobs);
    free(x.unit_value);
    free(x.work_time);
    free(x.work_risk);
    free(x.work_event);
    if (rc) lr_table2_free(t);
    return rc;
}

void lr_table2_free(lr_table2 *t)
{
    free(t->settings);
    free(t->selection);
    t->settings = NULL;
    t->selection = NULL;
    t->n_settings = t->n_selection = 0;
}

/* ---- writers ---- */

/* Rows in the order the tables show them: each model's setting rows (a sweep) just before its own row. */
static size_t display_order(const lr_table2 *t, size_t *order)
{
    size_t n = 0;
    for (size_t row = 0; row < LR_TABLE2_ROWS; row++) {
        for (size_t s = 0; s < t->n_settings; s++)
            if (!strcmp(t->settings[s].model, t->rows[row].model)) order[n++] = LR_TABLE2_ROWS + s;
        order[n++] = row;
    }
    return n;
}

/* "4-fold cross-validation" or "4-fold cross-validation repeated 3 times (3 stratified splits)" */
static void cv_text(char *buf, size_t size, const lr_table2 *t)
{
    if (t->repeats > 1)
        snprintf(buf, size, "%zu-fold cross-validation repeated %zu times (%zu stratified splits, %zu (repeat, fold) "
                 "units)", t->folds, t->repeats, t->repeats, t->units);
    else snprintf(buf, size, "%zu-fold cross-validation", t->folds);
}

static const char *fmt_num(char *buf, size_t size, double v, int digits)
{
    if (isfinite(v)) snprintf(buf, size, "%.*f", digits, v);
    else snprintf(buf, size, "NA");
    return buf;
}

static const char *checkpoint_text(const lr_table2_row *w)
{
    if (!w->n_ok) return "";
    if (!w->learned) return "no training";
    return w->starred ? "best validation" : "last epoch";
}

static const char *weights_text(const lr_table2_row *w)
{
    if (!w->n_ok) return "";
    return w->learned ? w->weights : "none (size only)";
}

/* "0.662 ± 0.020" (pm = the separator) */
static void mean_sd(char *buf, size_t size, const lr_table2_row *w, int s, const char *pm)
{
    if (!isfinite(w->mean[s])) snprintf(buf, size, "—");
    else if (!isfinite(w->sd[s])) snprintf(buf, size, "%.3f (1 fold)", w->mean[s]);
    else snprintf(buf, size, "%.3f%s%.3f", w->mean[s], pm, w->sd[s]);
}

static void interval_text(char *buf, size_t size, double est, double lo, double hi, int sign)
{
    if (!isfinite(est)) snprintf(buf, size, "—");
    else if (!isfinite(lo) || !isfinite(hi)) snprintf(buf, size, sign ? "%+.3f [NA]" : "%.3f [NA]", est);
    else snprintf(buf, size, sign ? "%+.3f [%+.3f, %+.3f]" : "%.3f [%.3f, %.3f]", est, lo, hi);
}

static void jobs_text(char *buf, size_t size, const lr_table2_row *w)
{
    if (!w->present) snprintf(buf, size, "not in campaign");
    else if (w->n_ok == w->n_jobs) snprintf(buf, size, "%zu/%zu ok", w->n_ok, w->n_jobs);
    else snprintf(buf, size, "%zu/%zu ok (%zu failed, %zu missing)", w->n_ok, w->n_jobs, w->n_failed, w->n_missing);
}

static FILE *open_out(const char *dir, const char *name, lr_err *err)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) lr_fail(err, "%s: cannot write: %s", path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *dir, const char *name, lr_err *err)
{
    if (fclose(f) != 0) return lr_fail(err, "%s/%s: write failed: %s", dir, name, strerror(errno));
    return 0;
}

static int write_md(const lr_table2 *t, const char *dir, lr_err *err)
{
    FILE *f = open_out(dir, "table2.md", err);
    if (!f) return -1;
    int pct = (int)lround(100.0 * t->opt.level);
    fprintf(f, "| Model | Checkpoint | Weights | Train | Valid | Test | Pooled test C [%d %% BCa] | "
               "Δ C vs Proposed [%d %% BCa] | Jobs |\n|---|---|---|---|---|---|---|---|---|\n", pct, pct);
    size_t order[LR_TABLE2_ROWS + t->n_settings], n_rows = display_order(t, order);
    for (size_t i = 0; i < n_rows; i++) {
        size_t row = order[i];
        const lr_table2_row *w = row_at_c(t, row);
        char m[3][64], pooled[96], diff[96], jobs[128];
        for (int s = 0; s < 3; s++) mean_sd(m[s], sizeof m[s], w, s, " ± ");
        interval_text(pooled, sizeof pooled, w->pooled, w->bca_low, w->bca_high, 0);
        if (row == PROPOSED_ROW) snprintf(diff, sizeof diff, "(reference)");
        else interval_text(diff, sizeof diff, w->diff, w->diff_low, w->diff_high, 1);
        jobs_text(jobs, sizeof jobs, w);
        fprintf(f, "| %s%s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w->shown, w->starred ? "*" : "",
                checkpoint_text(w), weights_text(w), m[0], m[1], m[2], pooled, diff, jobs);
    }
    char cv[200];
    cv_text(cv, sizeof cv, t);
    const char *fold = t->repeats > 1 ? "(repeat, fold) unit" : "fold";
    fprintf(f, "\nC-index (Harrell) from %s. Train / Valid / Test: mean ± sample standard deviation (n − 1) over "
               "%ss of each %s's C under the model's checkpoint rule, replicates averaged within a %s. *: the "
               "best-validation checkpoint was evaluated; other learned rows use the last epoch.\n\n",
            cv, fold, fold, fold);
    fprintf(f, "Pooled test C: every patient's risk comes from the fold in which it was a test patient (%zu "
               "patients%s). Risks of different folds come from different models and are on different scales, so "
               "they are not concatenated: the pooled C is the mean over %ss of that %s's test C, and its "
               "%d %% BCa interval comes from a stratified bootstrap (%zu replicates) that resamples patients "
               "with replacement within their test %s. Δ C vs Proposed is the paired difference on the same "
               "resampled patients, over the %ss both models have.\n",
            t->n_test_patients, t->repeats > 1 ? ", each once per repeat" : "", fold, fold, pct, t->opt.replicates,
            fold, fold);
    if (t->n_settings)
        fprintf(f, "\nSweep (nested selection): a row `[key=value, ...]` is one setting of the sweep, trained on "
                   "every %s; the `[selected]` row takes, in each %s, the setting whose jobs have the best "
                   "validation C (mean over replicates; ties: the lowest setting number) and reports that "
                   "setting's test C there — the selection never sees the test patients. Its interval and its "
                   "difference to Proposed come from the same bootstrap as every row, with the selection fixed. "
                   "The setting selected per %s: selection.csv.\n",
                fold, fold, fold);
    if (t->repeats > 1)
        fprintf(f, "\nWith repeats, each draw resamples every (repeat, fold) unit independently although the "
                   "repeats reuse the same patients, so the interval treats the repeats as independent samples: it "
                   "is narrower than a bootstrap of the cohort would give and describes the mean over splits.\n");
    if (isfinite(t->oracle_cindex))
        fprintf(f, "\nOracle C (the cohort's true patient log-hazard, all patients): %.3f — it uses every true "
                   "lesion, annotated or not, and the treatment arm, so no model of the annotated lesions reaches "
                   "it.\n", t->oracle_cindex);
    if (isfinite(t->annotated_truth_cindex))
        fprintf(f, "\nAnnotated-truth C (the reachable ceiling): %.3f — the true log-hazard computed from the lesions "
                   "the readers annotated (their measured volumes, the true lesion hazards), averaged over readers as "
                   "the model's risk is: what a perfect lesion model could reach.\n", t->annotated_truth_cindex);
    int any = 0;
    for (size_t i = 0; i < n_rows; i++) {
        const lr_table2_row *w = row_at_c(t, order[i]);
        if (!w->problems[0] && w->present) continue;
        if (!any++) fprintf(f, "\nIncomplete rows:\n\n");
        if (!w->present) fprintf(f, "- %s: no job of model `%s` in the campaign.\n", w->shown, w->model);
        else fprintf(f, "- %s: %s (computed from the %d %s(s) with an ok job).\n", w->shown, w->problems, w->n_folds,
                     fold);
    }
    if (t->n_unknown_models) fprintf(f, "\n%zu jobs of models that are not Table 2 rows were ignored.\n",
                                     t->n_unknown_models);
    return close_out(f, dir, "table2.md", err);
}

static void csv_text(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int write_csv(const lr_table2 *t, const char *dir, lr_err *err)
{
    FILE *f = open_out(dir, "table2.csv", err);
    if (!f) return -1;
    fprintf(f, "model,label,%scheckpoint,weights,jobs,ok,failed,missing,folds,train_mean,train_sd,valid_mean,"
               "valid_sd,test_mean,test_sd,pooled_test_c,pooled_bca_low,pooled_bca_high,pooled_pct_low,"
               "pooled_pct_high,pooled_boot_se,diff_vs_proposed,diff_bca_low,diff_bca_high,diff_pct_low,"
               "diff_pct_high,diff_folds,problems\n", t->n_settings ? "setting," : "");
    char b[64];
    size_t order[LR_TABLE2_ROWS + t->n_settings], n_rows = display_order(t, order);
    for (size_t i = 0; i < n_rows; i++) {
        const lr_table2_row *w = row_at_c(t, order[i]);
        fprintf(f, "%s,", w->model);
        csv_text(f, w->shown);
        if (t->n_settings) fprintf(f, ",%d", w->setting); /* a sweep: -1 the selected row, else the setting */
        fputc(',', f);
        csv_text(f, checkpoint_text(w));
        fputc(',', f);
        csv_text(f, weights_text(w));
        fprintf(f, ",%zu,%zu,%zu,%zu,%d", w->n_jobs, w->n_ok, w->n_failed, w->n_missing, w->n_folds);
        for (int s = 0; s < 3; s++) {
            fprintf(f, ",%s", fmt_num(b, sizeof b, w->mean[s], 6));
            fprintf(f, ",%s", fmt_num(b, sizeof b, w->sd[s], 6));
        }
        const double v[] = {w->pooled, w->bca_low, w->bca_high, w->pct_low, w->pct_high, w->boot_se,
                            w->diff, w->diff_low, w->diff_high, w->diff_pct_low, w->diff_pct_high};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) fprintf(f, ",%s", fmt_num(b, sizeof b, v[i], 6));
        fprintf(f, ",%d,", w->diff_folds);
        csv_text(f, w->present ? w->problems : "not in campaign");
        fputc('\n', f);
    }
    return close_out(f, dir, "table2.csv", err);
}

static void tex_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '~') fputs("\\textasciitilde{}", f);
        else if (*s == '^') fputs("\\textasciicircum{}", f);
        else if (*s == '\\') fputs("\\textbackslash{}", f);
        else {
            if (strchr("&%$#_{}", *s)) fputc('\\', f);
            fputc(*s, f);
        }
    }
}

static int write_tex(const lr_table2 *t, const char *dir, lr_err *err)
{
    FILE *f = open_out(dir, "table2.tex", err);
    if (!f) return -1;
    int pct = (int)lround(100.0 * t->opt.level);
    fprintf(f, "%% Table 2 (lesionrank report); needs \\usepackage{booktabs}\n"
               "\\begin{table}[t]\n\\centering\n\\small\n\\begin{tabular}{lllll}\n\\toprule\n"
               "Model & Train & Valid & Test & Pooled test C [%d\\,\\%% BCa] \\\\\n\\midrule\n", pct);
    size_t order[LR_TABLE2_ROWS + t->n_settings], n_rows = display_order(t, order);
    for (size_t i = 0; i < n_rows; i++) {
        size_t row = order[i];
        const lr_table2_row *w = row_at_c(t, row);
        if (row == 7) fprintf(f, "\\midrule\n");
        char m[3][64], pooled[96];
        for (int s = 0; s < 3; s++) mean_sd(m[s], sizeof m[s], w, s, "$\\pm$");
        interval_text(pooled, sizeof pooled, w->pooled, w->bca_low, w->bca_high, 0);
        tex_text(f, w->shown);
        fprintf(f, "%s%s & %s & %s & %s & %s \\\\\n", w->starred ? "$^*$" : "", w->n_ok < w->n_jobs || !w->present
                                                                                  ? "$^\\dagger$" : "",
                m[0], m[1], m[2], pooled);
    }
    char cv[200];
    cv_text(cv, sizeof cv, t);
    fprintf(f, "\\bottomrule\n\\end{tabular}\n\\caption{Model C-indices from %s (mean "
               "$\\pm$ sample sd over %s). For the starred models, the best validation checkpoint was chosen for "
               "evaluation; for the other learned models, the last checkpoint. Pooled test C: mean of the per-fold "
               "test C with a stratified patient bootstrap BCa interval. $^\\dagger$: incomplete (failed or missing "
               "jobs, see table2.md).",
            cv, t->repeats > 1 ? "repeats $\\times$ folds" : "folds");
    if (isfinite(t->oracle_cindex)) fprintf(f, " Oracle C (true log-hazard, all lesions): %.3f.", t->oracle_cindex);
    if (isfinite(t->annotated_truth_cindex))
        fprintf(f, " Reachable ceiling (truth from the annotated lesions): %.3f.", t->annotated_truth_cindex);
    /* provenance of pretrained rows, so "ImageNet ResNet50" never stands for weights it does not have */
    for (size_t row = 0; row < LR_TABLE2_ROWS; row++) {
        const lr_table2_row *w = &t->rows[row];
        const char *src = weights_text(w);
        if (!w->learned || !src[0] || !strncmp(src, "random init", 11)) continue;
        fputc(' ', f);
        tex_text(f, w->label);
        fputs(" weights: ", f);
        tex_text(f, src);
        fputc('.', f);
    }
    fprintf(f, "}\n\\label{tab:cindex}\n\\end{table}\n");
    return close_out(f, dir, "table2.tex", err);
}

static int write_selection(const lr_table2 *t, const char *dir, lr_err *err)
{
    if (!t->n_selection) return 0;
    FILE *f = open_out(dir, "selection.csv", err);
    if (!f) return -1;
    fprintf(f, "model,repeat,fold,setting,values,valid_c,test_c\n");
    char b[2][64];
    for (size_t i = 0; i < t->n_selection; i++) {
        const lr_table2_selection *s = &t->selection[i];
        fprintf(f, "%s,%d,%d,%d,", s->model, s->repeat, s->fold, s->setting);
        csv_text(f, s->values);
        fprintf(f, ",%s,%s\n", fmt_num(b[0], sizeof b[0], s->valid_c, 10), fmt_num(b[1], sizeof b[1], s->test_c, 10));
    }
    return close_out(f, dir, "selection.csv", err);
}

int lr_table2_write(const lr_table2 *t, const char *dir, lr_err *err)
{
    if (write_md(t, dir, err) || write_csv(t, dir, err) || write_tex(t, dir, err) || write_selection(t, dir, err))
        return -1;
    return 0;
}
