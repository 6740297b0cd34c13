#include "report/prognosis.h"

#include <errno.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "survival/brier.h"
#include "survival/calibration.h"
#include "survival/cox.h"
#include "survival/ipcw.h"
#include "survival/km.h"
#include "util/rng.h"

#define MAX_FOLDS 64
#define R LR_TABLE2_ROWS

/* ---- per-patient inputs: replicate means of each row's out-of-fold risk and S on the grid ---- */

typedef struct {
    const lr_results *c;
    const lr_prognosis *p;
    size_t folds, n, G;
    size_t *members;               /* [n] out-of-fold patients by fold: members[start[k]..start[k+1]) */
    size_t start[MAX_FOLDS + 1];
    int *fold_of;                  /* [P] test fold, -1 none */
    double *risk;                  /* [R*P] NaN when the row has no ok job for the patient's fold */
    double *surv;                  /* [R*P*G] */
    double *train_median;          /* [R*folds] median training risk (replicate means) */
    unsigned char has[R][MAX_FOLDS];           /* the row has values for the fold */
    unsigned char valid[R][MAX_FOLDS][64];     /* ... and S at grid point g (g < 64) for all its patients */
    size_t g_h[LR_PROG_MAX_HORIZONS], g_tau;   /* grid index of each horizon and of tau */
    size_t proposed;                           /* row index of Proposed */
    /* scratch [n] (or [n*G]) */
    double *t, *x, *s;
    int *e;
} prog_ctx;

static void ctx_free(prog_ctx *x)
{
    free(x->members);
    free(x->fold_of);
    free(x->risk);
    free(x->surv);
    free(x->train_median);
    free(x->t);
    free(x->x);
    free(x->s);
    free(x->e);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Replicate means of risk and S for row `row`, and the fold-training medians. */
static int fill_row(prog_ctx *x, size_t row, const char *model, lr_err *err)
{
    const lr_results *c = x->c;
    size_t P = c->P, G = x->G;
    double *count = lr_calloc(P, sizeof *count, err), *train_sum = lr_calloc(P, sizeof *train_sum, err);
    double *train_n = lr_calloc(P, sizeof *train_n, err), *vals = lr_malloc(P, sizeof *vals, err);
    int rc = -1;
    if (!count || !train_sum || !train_n || !vals) goto done;
    double *risk = x->risk + row * P, *surv = x->surv + row * P * G;
    for (size_t p = 0; p < P; p++) risk[p] = 0.0;
    for (size_t i = 0; i < P * G; i++) surv[i] = 0.0;
    for (size_t k = 0; k < x->folds; k++) {
        memset(train_sum, 0, P * sizeof *train_sum);
        memset(train_n, 0, P * sizeof *train_n);
        for (size_t j = 0; j < c->J; j++) {
            if (c->job_status[j] != LR_JOB_STATUS_OK || !c->job_pooled[j] || (size_t)c->job_fold[j] != k ||
                strcmp(c->job_model[j], model))
                continue;
            for (size_t p = 0; p < P; p++) {
                double r = c->patient_risk[j * P + p];
                int role = c->patient_role[j * P + p];
                if (!isfinite(r)) continue;
                if (role == 0) {
                    train_sum[p] += r;
                    train_n[p] += 1.0;
                } else if (role == 2 && x->fold_of[p] == (int)k) {
                    risk[p] += r;
                    for (size_t g = 0; g < G; g++) surv[p * G + g] += c->patient_surv[(j * P + p) * G + g];
                    count[p] += 1.0;
                }
            }
        }
        size_t m = 0;
        for (size_t p = 0; p < P; p++)
            if (train_n[p] > 0.0) vals[m++] = train_sum[p] / train_n[p];
        qsort(vals, m, sizeof *vals, compare_double);
        x->train_median[row * x->folds + k] = m ? gsl_stats_median_from_sorted_data(vals, 1, m) : NAN;
    }
    for (size_t p = 0; p < P; p++) {
        if (count[p] > 0.0) {
            risk[p] /= count[p];
            for (size_t g = 0; g < G; g++) surv[p * G + g] /= count[p]; /* NaN stays NaN */
        } else {
            risk[p] = NAN;
            for (size_t g = 0; g < G; g++) surv[p * G + g] = NAN;
        }
    }
    /* a patient without a risk (no annotation) is skipped, as in Table 2; a fold counts when it has any */
    for (size_t k = 0; k < x->folds; k++) {
        int has = 0;
        for (size_t q = x->start[k]; q < x->start[k + 1]; q++) has |= isfinite(risk[x->members[q]]);
        x->has[row][k] = (unsigned char)has;
        for (size_t g = 0; g < G && g < 64; g++) {
            int ok = has;
            for (size_t q = x->start[k]; q < x->start[k + 1] && ok; q++) {
                size_t pt = x->members[q];
                ok = !isfinite(risk[pt]) || isfinite(surv[pt * G + g]);
            }
            x->valid[row][k][g] = (unsigned char)ok;
        }
    }
    rc = 0;
done:
    free(count);
    free(train_sum);
    free(train_n);
    free(vals);
    return rc;
}

/* ---- the statistics on a multiset of patients ---- */

/* Gathers units of the folds in mask (and valid at grid g when g >= 0) into x->t, x->e, x->x (risk) and
 * x->s (S at g). Returns the count. */
static size_t gather(prog_ctx *x, size_t row, const unsigned char *mask, long g, const size_t *units,
                     const size_t *start, size_t fold_only, int one_fold)
{
    const lr_results *c = x->c;
    size_t m = 0, P = c->P;
    for (size_t k = 0; k < x->folds; k++) {
        if (one_fold && k != fold_only) continue;
        if (!mask[k] || (g >= 0 && !x->valid[row][k][g])) continue;
        for (size_t q = start[k]; q < start[k + 1]; q++) {
            size_t p = units[q];
            if (!isfinite(x->risk[row * P + p])) continue;
            x->t[m] = c->time_days[p];
            x->e[m] = c->event[p];
            x->x[m] = x->risk[row * P + p];
            x->s[m] = g >= 0 ? x->surv[(row * P + p) * x->G + (size_t)g] : NAN;
            m++;
        }
    }
    return m;
}

/* Mean over the folds in mask of Uno's C(tau) (auc_t < 0) or AUC(auc_t). */
static double fold_mean_discrimination(prog_ctx *x, size_t row, const unsigned char *mask, const size_t *units,
                                       const size_t *start, double auc_t)
{
    double sum = 0.0;
    size_t used = 0;
    lr_err err;
    for (size_t k = 0; k < x->folds; k++) {
        if (!mask[k]) continue;
        size_t m = gather(x, row, mask, -1, units, start, k, 1);
        double v = NAN;
        if (auc_t < 0.0) {
            lr_uno_result u;
            if (lr_uno_cindex(m, x->t, x->e, x->x, x->p->tau, &u, &err) == 0) v = u.cindex;
        } else if (lr_auc_cd(m, x->t, x->e, x->x, 1, &auc_t, &v, &err) != 0) {
            v = NAN;
        }
        if (!isfinite(v)) return NAN; /* a fold without cases or controls: no pooled value */
        sum += v;
        used++;
    }
    return used ? sum / (double)used : NAN;
}

/* out[M]: every metric of `row` on the resampled patients. */
static void row_metrics(prog_ctx *x, size_t row, const unsigned char *mask, const size_t *units,
                        const size_t *start, double *out)
{
    const lr_prognosis *p = x->p;
    lr_err err;
    for (size_t i = 0; i < p->M; i++) {
        const lr_prog_metric *m = &p->metric[i];
        double t = p->horizons[m->horizon], v = NAN;
        switch (m->kind) {
        case LR_PM_UNO: v = fold_mean_discrimination(x, row, mask, units, start, -1.0); break;
        case LR_PM_AUC: v = fold_mean_discrimination(x, row, mask, units, start, t); break;
        case LR_PM_BRIER:
        case LR_PM_IPA: {
            size_t n = gather(x, row, mask, (long)x->g_h[m->horizon], units, start, 0, 0);
            lr_brier_result b;
            if (n >= 2 && lr_brier(n, x->t, x->e, x->s, t, &b, &err) == 0 && b.events_before > 0)
                v = m->kind == LR_PM_BRIER ? b.brier : b.ipa;
            break;
        }
        case LR_PM_SLOPE: {
            size_t n = gather(x, row, mask, (long)x->g_h[m->horizon], units, start, 0, 0);
            double slope, se, intercept;
            if (n >= 3 && lr_calibration_slope(n, x->t, x->e, x->s, t, &slope, &se, &intercept, &err) == 0) v = slope;
            break;
        }
        case LR_PM_IBS: {
            /* folds valid on the whole grid to tau */
            unsigned char ibs_mask[MAX_FOLDS];
            for (size_t k = 0; k < x->folds; k++) {
                ibs_mask[k] = mask[k];
                for (size_t g = 0; g <= x->g_tau && ibs_mask[k]; g++) ibs_mask[k] = x->valid[row][k][g];
            }
            size_t n = 0;
            for (size_t g = 0; g <= x->g_tau; g++) {
                n = gather(x, row, ibs_mask, (long)g, units, start, 0, 0);
                memcpy(x->s + x->n + g * n, x->s, n * sizeof *x->s); /* row g of the [G][n] block */
            }
            lr_ibs_result r;
            if (n >= 2 && lr_ibs(n, x->t, x->e, x->g_tau + 1, x->c->grid_days, x->s + x->n, &r, &err) == 0) v = r.ibs;
            break;
        }
        }
        out[i] = v;
    }
}

/* ---- bootstrap ---- */

static int masks_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    return !memcmp(a, b, n);
}

/* stat[R][M] and diff[R][M] on the given patients. */
static void all_metrics(prog_ctx *x, const size_t *units, const size_t *start, double *stat, double *diff)
{
    size_t M = x->p->M, P0 = x->proposed;
    double tmp_a[LR_PROG_MAX_METRICS], tmp_b[LR_PROG_MAX_METRICS];
    for (size_t row = 0; row < R; row++) {
        for (size_t i = 0; i < M; i++) stat[row * M + i] = diff[row * M + i] = NAN;
        if (!x->p->rows[row].present) continue;
        row_metrics(x, row, x->has[row], units, start, stat + row * M);
    }
    for (size_t row = 0; row < R; row++) {
        if (row == P0 || !x->p->rows[row].present || !x->p->rows[P0].present) continue;
        if (masks_equal(x->has[row], x->has[P0], x->folds)) {
            for (size_t i = 0; i < M; i++) diff[row * M + i] = stat[row * M + i] - stat[P0 * M + i];
            continue;
        }
        unsigned char both[MAX_FOLDS];
        int any = 0;
        for (size_t k = 0; k < x->folds; k++) any |= both[k] = x->has[row][k] && x->has[P0][k];
        if (!any) continue;
        row_metrics(x, row, both, units, start, tmp_a);
        row_metrics(x, P0, both, units, start, tmp_b);
        for (size_t i = 0; i < M; i++) diff[row * M + i] = tmp_a[i] - tmp_b[i];
    }
}

static int bootstrap(prog_ctx *x, lr_prognosis *p, uint64_t seed, lr_err *err)
{
    size_t n = x->n, B = p->replicates, M = p->M, RM = R * M;
    double *est = lr_malloc(2 * RM, sizeof *est, err);            /* [2][R][M] */
    double *reps = lr_malloc(2 * RM * (B ? B : 1), sizeof *reps, err); /* [2][R][M][B] */
    double *jack = lr_malloc(2 * RM * (n ? n : 1), sizeof *jack, err); /* [2][R][M][n] */
    double *cur = lr_malloc(2 * RM, sizeof *cur, err);
    size_t *units = lr_malloc(n ? n : 1, sizeof *units, err);
    gsl_rng *rng = lr_rng_stream(seed, "report-prognosis-bootstrap", 0, 0, 0);
    int rc = -1;
    if (!est || !reps || !jack || !cur || !units || !rng) {
        if (!rng) lr_fail(err, "out of memory for the RNG");
        goto done;
    }
    all_metrics(x, x->members, x->start, est, est + RM);
    for (size_t b = 0; b < B; b++) {
        for (size_t k = 0; k < x->folds; k++) {
            size_t nk = x->start[k + 1] - x->start[k];
            for (size_t i = 0; i < nk; i++)
                units[x->start[k] + i] = x->members[x->start[k] + gsl_rng_uniform_int(rng, nk)];
        }
        all_metrics(x, units, x->start, cur, cur + RM);
        for (size_t i = 0; i < 2 * RM; i++) reps[i * B + b] = cur[i];
    }
    if (B >= 2) { /* stratified jackknife for the BCa acceleration, as Table 2 */
        size_t start[MAX_FOLDS + 1];
        for (size_t i = 0; i < n; i++) {
            size_t m = 0, k_i = 0;
            for (size_t k = 0; k < x->folds; k++) {
                start[k] = m;
                for (size_t q = x->start[k]; q < x->start[k + 1]; q++) {
                    if (q == i) k_i = k;
                    else units[m++] = x->members[q];
                }
            }
            start[x->folds] = m;
            double nk = (double)(x->start[k_i + 1] - x->start[k_i]);
            all_metrics(x, units, start, cur, cur + RM);
            for (size_t v = 0; v < 2 * RM; v++) jack[v * n + i] = (nk - 1.0) * (est[v] - cur[v]);
        }
    }
    for (size_t row = 0; row < R; row++)
        for (size_t i = 0; i < M; i++) {
            lr_prog_cell *cell = &p->rows[row].cell[i];
            for (int which = 0; which < 2; which++) {
                size_t v = which * RM + row * M + i;
                double *tb = reps + v * B, lo = NAN, hi = NAN, pl, ph, se;
                size_t used = 0;
                for (size_t b = 0; b < B; b++)
                    if (isfinite(tb[b])) tb[used++] = tb[b];
                if (B >= 2) lr_report_intervals(tb, used, est[v], jack + v * n, n, p->level, &pl, &ph, &lo, &hi, &se);
                if (which == 0) *cell = (lr_prog_cell){est[v], lo, hi, NAN, NAN, NAN};
                else {
                    cell->diff = est[v];
                    cell->diff_low = lo;
                    cell->diff_high = hi;
                }
            }
        }
    rc = 0;
done:
    free(est);
    free(reps);
    free(jack);
    free(cur);
    free(units);
    if (rng) gsl_rng_free(rng);
    return rc;
}

/* ---- risk groups ---- */

/* group[m] for the gathered out-of-fold patients of row: 1 when risk > the fold's training median. */
static size_t risk_groups(prog_ctx *x, size_t row, size_t *group, double *time, int *event)
{
    size_t m = 0, P = x->c->P;
    for (size_t k = 0; k < x->folds; k++) {
        if (!x->has[row][k]) continue;
        double med = x->train_median[row * x->folds + k];
        for (size_t q = x->start[k]; q < x->start[k + 1]; q++) {
            size_t pt = x->members[q];
            if (!isfinite(med) || !isfinite(x->risk[row * P + pt])) continue;
            group[m] = x->risk[row * P + pt] > med;
            time[m] = x->c->time_days[pt];
            event[m] = x->c->event[pt];
            m++;
        }
    }
    return m;
}

static void row_risk_groups(prog_ctx *x, size_t row, lr_prog_row *w)
{
    size_t n = x->n, *group = malloc((n ? n : 1) * sizeof *group);
    double *time = malloc((n ? n : 1) * sizeof *time), *cov = malloc((n ? n : 1) * sizeof *cov);
    int *event = malloc((n ? n : 1) * sizeof *event);
    w->logrank_chisq = w->logrank_p = w->hr = w->hr_low = w->hr_high = NAN;
    if (group && time && cov && event) {
        size_t m = risk_groups(x, row, group, time, event);
        for (size_t i = 0; i < m; i++) {
            w->n_high += group[i];
            cov[i] = (double)group[i];
        }
        w->n_low = m - w->n_high;
        lr_err err;
        lr_logrank_result lrk;
        if (w->n_high && w->n_low && lr_logrank(m, time, event, group, 2, &lrk, &err) == 0) {
            w->logrank_chisq = lrk.chisq;
            w->logrank_p = lrk.p;
        }
        lr_cox_fit fit;
        if (w->n_high && w->n_low && lr_cox_fit_model(m, 1, time, event, cov, LR_TIES_EFRON, &fit, &err) == 0) {
            double z = gsl_cdf_ugaussian_Pinv(0.5 + x->p->level / 2.0);
            w->hr = exp(fit.beta[0]);
            w->hr_low = exp(fit.beta[0] - z * fit.se[0]);
            w->hr_high = exp(fit.beta[0] + z * fit.se[0]);
        }
        lr_cox_fit_free(&fit);
    }
    free(group);
    free(time);
    free(cov);
    free(event);
}

/* ---- set-up ---- */

static void define_metrics(lr_prognosis *p)
{
    size_t M = 0;
    double tau = p->tau;
#define ADD(k, h, keyfmt, labelfmt, value)                                                          \
    do {                                                                                           \
        lr_prog_metric *m = &p->metric[M++];                                                       \
        m->kind = (k);                                                                             \
        m->horizon = (h);                                                                          \
        snprintf(m->key, sizeof m->key, keyfmt, value);                                            \
        snprintf(m->label, sizeof m->label, labelfmt, value);                                      \
    } while (0)
    ADD(LR_PM_UNO, p->H - 1, "uno_c_%.0f", "Uno C(%.0f d)", tau);
    for (size_t h = 0; h < p->H; h++) ADD(LR_PM_AUC, h, "auc_%.0f", "AUC(%.0f d)", p->horizons[h]);
    for (size_t h = 0; h < p->H; h++) {
        ADD(LR_PM_BRIER, h, "brier_%.0f", "Brier (%.0f d)", p->horizons[h]);
        ADD(LR_PM_IPA, h, "ipa_%.0f", "IPA (%.0f d)", p->horizons[h]);
    }
    ADD(LR_PM_IBS, p->H - 1, "ibs_%.0f", "IBS (0–%.0f d)", tau);
    for (size_t h = 0; h < p->H; h++) ADD(LR_PM_SLOPE, h, "slope_%.0f", "Calibration slope (%.0f d)", p->horizons[h]);
#undef ADD
    p->M = M;
}

static int ctx_init(prog_ctx *x, const lr_results *c, lr_prognosis *p, const lr_table2 *t, lr_err *err)
{
    memset(x, 0, sizeof *x);
    x->c = c;
    x->p = p;
    x->folds = (size_t)c->folds;
    x->G = c->G;
    size_t P = c->P, G = c->G, n_cap = P ? P : 1;
    if (x->folds > MAX_FOLDS) return lr_fail(err, "%s: %zu folds, the prognosis tables handle at most %d", c->path,
                                             x->folds, MAX_FOLDS);
    if (G > 64) return lr_fail(err, "%s: /survival/grid_days has %zu times (at most 64)", c->path, G);
    x->members = lr_malloc(n_cap, sizeof *x->members, err);
    x->fold_of = lr_malloc(n_cap, sizeof *x->fold_of, err);
    x->risk = lr_malloc(R * n_cap, sizeof *x->risk, err);
    x->surv = lr_malloc(R * n_cap * (G ? G : 1), sizeof *x->surv, err);
    x->train_median = lr_malloc(R * x->folds, sizeof *x->train_median, err);
    x->t = lr_malloc(n_cap, sizeof *x->t, err);
    x->x = lr_malloc(n_cap, sizeof *x->x, err);
    x->e = lr_malloc(n_cap, sizeof *x->e, err);
    x->s = lr_malloc(n_cap * (G + 1), sizeof *x->s, err); /* [n] gather buffer + [G][n] IBS block */
    if (!x->members || !x->fold_of || !x->risk || !x->surv || !x->train_median || !x->t || !x->x || !x->e || !x->s)
        return -1;
    lr_results_test_fold(c, x->fold_of);
    size_t n = 0;
    for (size_t k = 0; k < x->folds; k++) {
        x->start[k] = n;
        for (size_t q = 0; q < P; q++)
            if (x->fold_of[q] == (int)k) x->members[n++] = q;
    }
    x->start[x->folds] = n;
    x->n = n;
    for (size_t h = 0; h < p->H; h++) {
        size_t g = 0;
        while (g < G && c->grid_days[g] != p->horizons[h]) g++;
        x->g_h[h] = g;
    }
    x->g_tau = x->g_h[p->H - 1];
    x->proposed = 2;
    for (size_t row = 0; row < R; row++) {
        if (!strcmp(t->rows[row].model, "proposed")) x->proposed = row;
        if (fill_row(x, row, t->rows[row].model, err) != 0) return -1;
        int any = 0;
        for (size_t k = 0; k < x->folds; k++) any |= x->has[row][k];
        p->rows[row].present = any;
        for (size_t h = 0; h < p->H; h++)
            for (size_t k = 0; k < x->folds; k++) p->folds_left_out[h] += x->has[row][k] && !x->valid[row][k][x->g_h[h]];
    }
    return 0;
}

int lr_prognosis_compute(const lr_results *c, const lr_table2 *t, lr_prognosis *p, lr_err *err)
{
    memset(p, 0, sizeof *p);
    if (!c->has_survival) return lr_fail(err, "%s: no /survival datasets (merged before issue 13?)", c->path);
    if (c->H < 1 || c->H > LR_PROG_MAX_HORIZONS)
        return lr_fail(err, "%s: /survival/horizons_days has %zu horizons (1 to %d supported)", c->path, c->H,
                       LR_PROG_MAX_HORIZONS);
    p->H = c->H;
    memcpy(p->horizons, c->horizons_days, c->H * sizeof *c->horizons_days);
    p->tau = p->horizons[p->H - 1];
    p->replicates = t->opt.replicates;
    p->level = t->opt.level;
    define_metrics(p);
    for (size_t row = 0; row < R; row++) {
        p->rows[row].model = t->rows[row].model;
        p->rows[row].label = t->rows[row].label;
    }
    prog_ctx x;
    int rc = ctx_init(&x, c, p, t, err);
    p->n_test = x.n;
    if (rc == 0) rc = bootstrap(&x, p, t->opt.seed, err);
    for (size_t row = 0; rc == 0 && row < R; row++)
        if (p->rows[row].present) row_risk_groups(&x, row, &p->rows[row]);
    ctx_free(&x);
    return rc;
}

double lr_net_benefit(size_t n, const double *time, const int *event, const double *surv, double t, double pt,
                      lr_err *err)
{
    double *tt = lr_malloc(n ? n : 1, sizeof *tt, err);
    int *te = lr_malloc(n ? n : 1, sizeof *te, err);
    double nb = NAN;
    if (!tt || !te) goto done;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!surv || 1.0 - surv[i] >= pt) {
            tt[m] = time[i];
            te[m++] = event[i];
        }
    if (m == 0) {
        nb = 0.0; /* nobody treated */
        goto done;
    }
    lr_km km;
    double s, se;
    if (lr_km_fit(m, tt, te, &km, err) == 0 && t <= km.last_followup && lr_km_at(&km, t, &s, &se, err) == 0) {
        double treated = (double)m / (double)n;
        nb = treated * (1.0 - s) - treated * s * pt / (1.0 - pt);
    }
    lr_km_free(&km);
done:
    free(tt);
    free(te);
    return nb;
}

/* ---- writers ---- */

static FILE *open_in(const char *dir, const char *name, lr_err *err)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) lr_fail(err, "%s: cannot write: %s", path, strerror(errno));
    return f;
}

static int close_in(FILE *f, const char *dir, const char *name, lr_err *err)
{
    if (fclose(f) != 0) return lr_fail(err, "%s/%s: write failed: %s", dir, name, strerror(errno));
    return 0;
}

static void cell_text(char *buf, size_t size, double est, double lo, double hi, int sign, int digits)
{
    if (!isfinite(est)) snprintf(buf, size, "NA");
    else if (!isfinite(lo) || !isfinite(hi)) snprintf(buf, size, sign ? "%+.*f" : "%.*f", digits, est);
    else if (sign) snprintf(buf, size, "%+.*f [%+.*f, %+.*f]", digits, est, digits, lo, digits, hi);
    else snprintf(buf, size, "%.*f [%.*f, %.*f]", digits, est, digits, lo, digits, hi);
}

static void fmt_p(char *buf, size_t size, double p)
{
    if (!isfinite(p)) snprintf(buf, size, "NA");
    else if (p < 1e-4) snprintf(buf, size, "%.1e", p);
    else snprintf(buf, size, "%.4f", p);
}

static int write_tables(const lr_prognosis *p, const char *dir, lr_err *err)
{
    FILE *f = open_in(dir, "prognosis.md", err);
    if (!f) return -1;
    int pct = (int)lround(100.0 * p->level);
    char buf[128];
    for (int table = 0; table < 2; table++) {
        fprintf(f, table == 0 ? "**Estimates [%d %% BCa]**\n\n| Model |" : "\n**Paired difference vs Proposed [%d %% BCa]**\n\n| Model |", pct);
        for (size_t i = 0; i < p->M; i++) fprintf(f, " %s |", p->metric[i].label);
        fprintf(f, "\n|---|");
        for (size_t i = 0; i < p->M; i++) fprintf(f, "---|");
        fprintf(f, "\n");
        for (size_t row = 0; row < R; row++) {
            const lr_prog_row *w = &p->rows[row];
            fprintf(f, "| %s |", w->label);
            for (size_t i = 0; i < p->M; i++) {
                const lr_prog_cell *c = &w->cell[i];
                if (!w->present) snprintf(buf, sizeof buf, "—");
                else if (table == 0) cell_text(buf, sizeof buf, c->est, c->low, c->high, 0, 3);
                else if (!strcmp(w->model, "proposed")) snprintf(buf, sizeof buf, "(reference)");
                else cell_text(buf, sizeof buf, c->diff, c->diff_low, c->diff_high, 1, 3);
                fprintf(f, " %s |", buf);
            }
            fprintf(f, "\n");
        }
    }
    fprintf(f, "\n**Risk groups** (out-of-fold patients split at their fold's training median risk)\n\n"
               "| Model | High / low | Log-rank χ² | p | HR high vs low [%d %% CI] |\n|---|---|---|---|---|\n", pct);
    for (size_t row = 0; row < R; row++) {
        const lr_prog_row *w = &p->rows[row];
        if (!w->present) {
            fprintf(f, "| %s | — | — | — | — |\n", w->label);
            continue;
        }
        char pv[32], hr[96];
        fmt_p(pv, sizeof pv, w->logrank_p);
        cell_text(hr, sizeof hr, w->hr, w->hr_low, w->hr_high, 0, 2);
        fprintf(f, "| %s | %zu / %zu | %.2f | %s | %s |\n", w->label, w->n_high, w->n_low, w->logrank_chisq, pv, hr);
    }
    fprintf(f, "\n%zu out-of-fold patients; %zu bootstrap replicates resampling patients within their test fold "
               "(the Table 2 scheme), BCa intervals with the stratified jackknife; differences use the same "
               "resampled patients. Uno's C(τ = %.0f d) and AUC(t) (cumulative cases, dynamic controls, "
               "IPCW) are means over folds of each fold's value (risks of different folds are on different "
               "scales). Brier (IPCW, Kaplan–Meier censoring weights), IPA = 1 − Brier/Brier(Kaplan–Meier), "
               "IBS (0–τ, 30-day grid, pec's step rule) and the calibration slope (Cox regression on "
               "log(−log S(t)); 1 = ideal) use the survival probabilities S(t | risk) = exp(−H₀(t) e^(β·risk)) "
               "with H₀ the Breslow baseline of each fold's training patients, pooled over all out-of-fold "
               "patients; β = 1 for the learned models (their risk is a log-hazard) and, for the size baselines "
               "(a volume, a diameter sum, a count), the Cox coefficient of the score on the fold's training "
               "patients. Replicates are averaged per patient. NA: not computable (e.g. no case before t in a fold).\n",
            p->n_test, p->replicates, p->tau);
    for (size_t h = 0; h < p->H; h++)
        if (p->folds_left_out[h])
            fprintf(f, "\nAt %.0f d, %zu (model, fold) pairs have no survival probability (the fold's training "
                       "follow-up ends earlier) and are left out of the pooled metrics at that horizon.\n",
                    p->horizons[h], p->folds_left_out[h]);
    if (close_in(f, dir, "prognosis.md", err)) return -1;

    f = open_in(dir, "prognosis.csv", err);
    if (!f) return -1;
    fprintf(f, "model,metric,horizon_days,estimate,bca_low,bca_high,diff_vs_proposed,diff_bca_low,diff_bca_high\n");
    for (size_t row = 0; row < R; row++)
        for (size_t i = 0; i < p->M; i++) {
            const lr_prog_cell *c = &p->rows[row].cell[i];
            fprintf(f, "%s,%s,%.0f,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g\n", p->rows[row].model, p->metric[i].key,
                    p->horizons[p->metric[i].horizon], c->est, c->low, c->high, c->diff, c->diff_low, c->diff_high);
        }
    for (size_t row = 0; row < R; row++) {
        const lr_prog_row *w = &p->rows[row];
        fprintf(f, "%s,logrank_p,%.0f,%.10g,nan,nan,nan,nan,nan\n", w->model, p->tau, w->logrank_p);
        fprintf(f, "%s,hr_high_vs_low,%.0f,%.10g,%.10g,%.10g,nan,nan,nan\n", w->model, p->tau, w->hr, w->hr_low,
                w->hr_high);
    }
    return close_in(f, dir, "prognosis.csv", err);
}

/* Models drawn in the figures: Proposed and the size baselines. */
static int figure_row(const char *model)
{
    return !strcmp(model, "proposed") || !strcmp(model, "total_volume") || !strcmp(model, "sum_diameters") ||
           !strcmp(model, "lesion_count");
}

static int write_figure_data(prog_ctx *x, const lr_prognosis *p, const char *dir, lr_err *err)
{
    char name[256];
    const lr_results *c = x->c;
    size_t P = c->P, G = x->G;
    /* patient-level predictions: every number of the tables can be recomputed from this file */
    snprintf(name, sizeof name, "data/prognosis_patients.csv");
    FILE *f = open_in(dir, name, err);
    if (!f) return -1;
    fprintf(f, "model,patient,fold,time,event,risk,train_median,high_risk");
    for (size_t g = 0; g < G; g++) fprintf(f, ",s%.0f", c->grid_days[g]);
    fprintf(f, "\n");
    for (size_t row = 0; row < R; row++) {
        if (!p->rows[row].present) continue;
        for (size_t k = 0; k < x->folds; k++) {
            if (!x->has[row][k]) continue;
            double med = x->train_median[row * x->folds + k];
            for (size_t q = x->start[k]; q < x->start[k + 1]; q++) {
                size_t pt = x->members[q];
                double r = x->risk[row * P + pt];
                if (!isfinite(r)) continue;
                fprintf(f, "%s,%zu,%zu,%.17g,%d,%.17g,%.17g,%d", p->rows[row].model, pt, k, c->time_days[pt],
                        c->event[pt], r, med, r > med);
                for (size_t g = 0; g < G; g++) fprintf(f, ",%.17g", x->surv[(row * P + pt) * G + g]);
                fprintf(f, "\n");
            }
        }
    }
    if (close_in(f, dir, name, err)) return -1;

    lr_err e2;
    /* calibration: 5 groups per model and horizon */
    f = open_in(dir, "data/calibration.csv", err);
    if (!f) return -1;
    fprintf(f, "model,horizon_days,bin,n,pred,obs,obs_lower,obs_upper,slope,ici\n");
    for (size_t row = 0; row < R; row++) {
        if (!p->rows[row].present || !figure_row(p->rows[row].model)) continue;
        for (size_t h = 0; h < p->H; h++) {
            size_t n = gather(x, row, x->has[row], (long)x->g_h[h], x->members, x->start, 0, 0);
            lr_calibration cal;
            if (lr_calibration_at(n, x->t, x->e, x->s, p->horizons[h], 5, p->level, &cal, NULL, &e2) != 0) continue;
            for (size_t b = 0; b < cal.bins; b++)
                fprintf(f, "%s,%.0f,%zu,%zu,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g\n", p->rows[row].model, p->horizons[h],
                        b + 1, cal.bin_n[b], cal.pred[b], cal.obs[b], cal.obs_lower[b], cal.obs_upper[b], cal.slope,
                        cal.ici);
            lr_calibration_free(&cal);
        }
    }
    if (close_in(f, dir, "data/calibration.csv", err)) return -1;

    /* Kaplan–Meier of the risk groups */
    f = open_in(dir, "data/km_risk_groups.csv", err);
    if (!f) return -1;
    fprintf(f, "model,group,time,surv,lower,upper,n_risk\n");
    size_t *group = lr_malloc(x->n ? x->n : 1, sizeof *group, err);
    double *gt = lr_malloc(x->n ? x->n : 1, sizeof *gt, err), *tt = lr_malloc(x->n ? x->n : 1, sizeof *tt, err);
    int *ge = lr_malloc(x->n ? x->n : 1, sizeof *ge, err), *te = lr_malloc(x->n ? x->n : 1, sizeof *te, err);
    int rc = -1;
    if (!group || !gt || !tt || !ge || !te) goto km_done;
    for (size_t row = 0; row < R; row++) {
        if (!p->rows[row].present || !figure_row(p->rows[row].model)) continue;
        size_t m = risk_groups(x, row, group, gt, ge);
        for (int g = 0; g < 2; g++) {
            size_t mg = 0;
            for (size_t i = 0; i < m; i++)
                if ((int)group[i] == g) {
                    tt[mg] = gt[i];
                    te[mg++] = ge[i];
                }
            lr_km km;
            if (lr_km_fit(mg, tt, te, &km, &e2) != 0) {
                lr_km_free(&km);
                continue;
            }
            const char *label = g ? "high" : "low";
            fprintf(f, "%s,%s,0,1,1,1,%zu\n", p->rows[row].model, label, mg);
            for (size_t k = 0; k < km.n_times; k++) {
                double se = km.surv[k] > 0.0 ? km.surv[k] * sqrt(km.greenwood[k]) : NAN, lo, hi;
                lr_km_ci_log(km.surv[k], se, p->level, &lo, &hi);
                fprintf(f, "%s,%s,%.10g,%.10g,%.10g,%.10g,%.0f\n", p->rows[row].model, label, km.time[k], km.surv[k],
                        lo, hi, km.n_risk[k]);
            }
            fprintf(f, "%s,%s,%.10g,%.10g,nan,nan,0\n", p->rows[row].model, label, km.last_followup,
                    km.n_times ? km.surv[km.n_times - 1] : 1.0);
            lr_km_free(&km);
        }
    }
    rc = 0;
km_done:
    free(group);
    free(gt);
    free(tt);
    free(ge);
    free(te);
    if (close_in(f, dir, "data/km_risk_groups.csv", err) || rc) return -1;

    /* td-AUC over the grid (fold means) */
    f = open_in(dir, "data/td_auc.csv", err);
    if (!f) return -1;
    fprintf(f, "model,time_days,auc\n");
    for (size_t row = 0; row < R; row++) {
        if (!p->rows[row].present || !figure_row(p->rows[row].model)) continue;
        for (size_t g = 0; g < G; g++)
            fprintf(f, "%s,%.0f,%.10g\n", p->rows[row].model, c->grid_days[g],
                    fold_mean_discrimination(x, row, x->has[row], x->members, x->start, c->grid_days[g]));
    }
    if (close_in(f, dir, "data/td_auc.csv", err)) return -1;

    /* decision curve at the first horizon */
    f = open_in(dir, "data/decision_curve.csv", err);
    if (!f) return -1;
    double t0 = p->horizons[0];
    fprintf(f, "model,threshold,net_benefit\n");
    for (size_t row = 0; row < R; row++) {
        if (!p->rows[row].present || !figure_row(p->rows[row].model)) continue;
        size_t n = gather(x, row, x->has[row], (long)x->g_h[0], x->members, x->start, 0, 0);
        for (int k = 1; k < 100; k++) {
            double pt = k / 100.0;
            fprintf(f, "%s,%.2f,%.10g\n", p->rows[row].model, pt, lr_net_benefit(n, x->t, x->e, x->s, t0, pt, &e2));
        }
    }
    { /* treat all / none on every out-of-fold patient */
        size_t n = 0;
        for (size_t q = 0; q < x->n; q++) {
            x->t[n] = c->time_days[x->members[q]];
            x->e[n++] = c->event[x->members[q]];
        }
        for (int k = 1; k < 100; k++) /* one block per series: gnuplot joins consecutive rows only */
            fprintf(f, "treat_all,%.2f,%.10g\n", k / 100.0, lr_net_benefit(n, x->t, x->e, NULL, t0, k / 100.0, &e2));
        for (int k = 1; k < 100; k++) fprintf(f, "treat_none,%.2f,0\n", k / 100.0);
    }
    return close_in(f, dir, "data/decision_curve.csv", err);
}

static int draw(lr_plotter *pl, const lr_prognosis *p, lr_err *err)
{
    char hz[256] = "", names[512] = "", labels[512] = "", colours[512] = "", v[6][700];
    for (size_t h = 0; h < p->H; h++)
        snprintf(hz + strlen(hz), sizeof hz - strlen(hz), "%s%.0f", h ? " " : "", p->horizons[h]);
    const lr_prog_row *prop = NULL;
    size_t n = 0;
    for (size_t row = 0; row < R; row++) {
        const lr_prog_row *w = &p->rows[row];
        if (!strcmp(w->model, "proposed")) prop = w;
        if (!w->present || !figure_row(w->model)) continue;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", n ? " " : "", w->model);
        snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%s%s", n ? " " : "", w->model);
        snprintf(colours + strlen(colours), sizeof colours - strlen(colours), "%s#%06x", n ? " " : "",
                 lr_model_colour(w->model));
        n++;
    }
    if (!n) return 0;
    char pv[32] = "NA";
    if (prop) fmt_p(pv, sizeof pv, prop->logrank_p);
    snprintf(v[0], sizeof v[0], "models='%s'", names);
    snprintf(v[1], sizeof v[1], "colors='%s'", colours);
    snprintf(v[2], sizeof v[2], "horizons='%s'", hz);
    snprintf(v[3], sizeof v[3], "labels='%s'", labels);
    snprintf(v[4], sizeof v[4], "subtitle='Proposed: log-rank p = %s, HR high vs low = %.2f [%.2f, %.2f]'", pv,
             prop ? prop->hr : NAN, prop ? prop->hr_low : NAN, prop ? prop->hr_high : NAN);
    snprintf(v[5], sizeof v[5], "horizon='%.0f'", p->horizons[0]);
    const char *cal[] = {v[0], v[1], v[2]}, *km[] = {v[0], v[3], v[4]}, *auc[] = {v[0], v[1]},
               *dca[] = {v[0], v[1], v[5]};
    if (lr_plot(pl, "prog_calibration", "prognosis_calibration", cal, 3, err)) return -1;
    if (lr_plot(pl, "prog_km", "prognosis_km_risk_groups", km, 3, err)) return -1;
    if (lr_plot(pl, "prog_td_auc", "prognosis_td_auc", auc, 2, err)) return -1;
    return lr_plot(pl, "prog_decision", "prognosis_decision_curve", dca, 3, err);
}

int lr_prognosis_write(const lr_results *c, const lr_prognosis *p, lr_plotter *pl, const char *dir, lr_err *err)
{
    if (write_tables(p, dir, err)) return -1;
    prog_ctx x;
    lr_table2 rows_only; /* ctx_init wants the row names; recompute the per-patient inputs */
    memset(&rows_only, 0, sizeof rows_only);
    for (size_t row = 0; row < R; row++) {
        rows_only.rows[row].model = p->rows[row].model;
        rows_only.rows[row].label = p->rows[row].label;
    }
    lr_prognosis copy = *p;
    memset(copy.folds_left_out, 0, sizeof copy.folds_left_out);
    int rc = ctx_init(&x, c, &copy, &rows_only, err);
    if (rc == 0) rc = write_figure_data(&x, &copy, dir, err);
    ctx_free(&x);
    if (rc == 0) rc = draw(pl, p, err);
    return rc;
}
