/* Interpretation statistics of the paper's §6: kernel densities for the violins, the test lesions of a
 * split, and the growing-vs-shrinking mixed model. */
#include "report/report.h"

#include <errno.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "survival/lmm.h"

/* Debian's GSL 2.7 has no kernel density estimator (gsl_kde arrived later), so the Gaussian KDE is here. */
double lr_silverman_bandwidth(const double *sorted, size_t n)
{
    if (n < 2) return 1e-3 * (n ? fabs(sorted[0]) + 1.0 : 1.0);
    double sd = gsl_stats_sd(sorted, 1, n);
    double iqr = gsl_stats_quantile_from_sorted_data(sorted, 1, n, 0.75) -
                 gsl_stats_quantile_from_sorted_data(sorted, 1, n, 0.25);
    double spread = sd;
    if (iqr > 0.0 && iqr / 1.34 < spread) spread = iqr / 1.34;
    if (!(spread > 0.0)) return 1e-3 * (fabs(gsl_stats_mean(sorted, 1, n)) + 1.0);
    return 0.9 * spread * pow((double)n, -0.2);
}

void lr_gaussian_kde(const double *data, size_t n, double h, const double *x, size_t m, double *out)
{
    const double norm = 1.0 / ((double)n * h * sqrt(2.0 * M_PI));
    for (size_t i = 0; i < m; i++) {
        double sum = 0.0;
        for (size_t k = 0; k < n; k++) {
            double u = (x[i] - data[k]) / h;
            sum += exp(-0.5 * u * u);
        }
        out[i] = sum * norm;
    }
}

/* Mean and sample sd (GSL) of job j's finite risks over the test lesions of its fold; buf [L] is scratch. */
static void test_risk_moments(const lr_results *c, size_t j, double *buf, double *mean, double *sd)
{
    size_t n = 0;
    for (size_t l = 0; l < c->L; l++) {
        int32_t a = c->lesion_annotation[l];
        double r = c->lesion_risk[j * c->L + l];
        if (a >= 0 && c->patient_role[j * c->P + (size_t)c->ann_patient[a]] == 2 && isfinite(r)) buf[n++] = r;
    }
    *mean = n ? gsl_stats_mean(buf, 1, n) : NAN;
    double v = n > 1 ? gsl_stats_sd_m(buf, 1, n, *mean) : NAN;
    *sd = v > 0 ? v : NAN;
}

int lr_test_lesions(const lr_results *c, const char *model, int fold, lr_lesion_set *s, lr_err *err)
{
    memset(s, 0, sizeof *s);
    s->job = -1;
    size_t L = c->L ? c->L : 1;
    s->lesion = lr_malloc(L, sizeof *s->lesion, err);
    s->risk = lr_malloc(L, sizeof *s->risk, err);
    s->lesion_job = lr_malloc(L, sizeof *s->lesion_job, err);
    s->by_lesion = lr_malloc(L, sizeof *s->by_lesion, err);
    long *reps = lr_malloc(c->J ? c->J : 1, sizeof *reps, err);
    double *mean = lr_malloc(c->J ? c->J : 1, sizeof *mean, err), *sd = lr_malloc(c->J ? c->J : 1, sizeof *sd, err);
    double *buf = lr_malloc(L, sizeof *buf, err);
    if (!s->lesion || !s->risk || !s->lesion_job || !s->by_lesion || !reps || !mean || !sd || !buf) {
        free(reps), free(mean), free(sd), free(buf);
        lr_lesion_set_free(s);
        return -1;
    }
    for (size_t l = 0; l < c->L; l++) s->by_lesion[l] = NAN;
    for (long k = 0; k < c->folds; k++) {
        if (fold >= 0 && k != fold) continue;
        /* the fold's ok replicates, lowest replicate first (it stands for the fold: lesion_used, figures) */
        size_t R = lr_results_fold_jobs(c, model, (int)k, reps);
        if (!R) continue;
        if (s->job < 0) s->job = reps[0];
        if (R > (size_t)s->replicates) s->replicates = (int)R;
        if (R > 1)
            for (size_t q = 0; q < R; q++) test_risk_moments(c, (size_t)reps[q], buf, &mean[q], &sd[q]);
        size_t j0 = (size_t)reps[0];
        for (size_t l = 0; l < c->L; l++) {
            int32_t a = c->lesion_annotation[l];
            if (a < 0 || c->patient_role[j0 * c->P + (size_t)c->ann_patient[a]] != 2) continue;
            double r = c->lesion_risk[j0 * c->L + l];
            if (R > 1) { /* the replicates' mean standardized risk */
                double sum = 0;
                size_t n = 0;
                for (size_t q = 0; q < R; q++) {
                    double v = c->lesion_risk[(size_t)reps[q] * c->L + l];
                    if (isfinite(v) && isfinite(sd[q])) sum += (v - mean[q]) / sd[q], n++;
                }
                r = n ? sum / (double)n : NAN;
            }
            if (!isfinite(r)) continue;
            s->lesion[s->n] = l;
            s->risk[s->n] = r;
            s->lesion_job[s->n] = (long)j0;
            s->by_lesion[l] = r;
            s->n++;
        }
    }
    free(reps), free(mean), free(sd), free(buf);
    if (s->job < 0) {
        lr_lesion_set_free(s);
        if (fold >= 0) return lr_fail(err, "no ok job of model '%s' at fold %d", model, fold);
        return lr_fail(err, "no ok job of model '%s'", model);
    }
    return 0;
}

void lr_lesion_set_free(lr_lesion_set *s)
{
    free(s->lesion);
    free(s->risk);
    free(s->lesion_job);
    free(s->by_lesion);
    memset(s, 0, sizeof *s);
    s->job = -1;
}

static double median_of(double *v, size_t n)
{
    if (!n) return NAN;
    gsl_sort(v, 1, n);
    return gsl_stats_median_from_sorted_data(v, 1, n);
}

/* The nested growth model (lr_growth_result.nested): rows that entered the risk, lesions by key. Growing is
 * a property of the lesion, not of one reader's measurement: a lesion grows when the mean of its readers'
 * follow-up volumes exceeds the mean of their baseline volumes. With the readers' own growing labels the
 * fixed effect would be identified mostly from readers disagreeing about one lesion (a contrast of
 * measurement noise, against a risk that barely differs between the readers' patches): on the synthetic
 * truth, the true lesion log-hazard as the response then gives beta = 0, p = 0.5 in every fold, against
 * p < 1e-12 with the lesion's growing. */
static int growth_nested(const lr_results *c, const lr_lesion_set *s, const char *csv_path, lr_growth_result *g,
                         lr_err *err)
{
    size_t n = s->n ? s->n : 1, N = 0, n_grow = 0, n_shrink = 0;
    double *y = lr_malloc(n, sizeof *y, err), *X = lr_malloc(2 * n, sizeof *X, err); /* [N], [N, 2] */
    size_t *group = lr_malloc(n, sizeof *group, err), *lesion = lr_malloc(n, sizeof *lesion, err);
    size_t *patient = lr_malloc(n, sizeof *patient, err), *key_of = lr_malloc(n, sizeof *key_of, err);
    double *sum_v = lr_calloc(2 * n, sizeof *sum_v, err); /* per lesion: baseline and follow-up volume sums */
    long *dense = lr_malloc(c->P ? c->P : 1, sizeof *dense, err);
    FILE *f = NULL;
    lr_lmm_fit fit;
    memset(&fit, 0, sizeof fit);
    int rc = -1;
    if (!y || !X || !group || !lesion || !patient || !key_of || !sum_v || !dense) goto done;
    for (size_t p = 0; p < c->P; p++) dense[p] = -1;
    size_t n_lesions = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t l = s->lesion[i];
        double v0 = c->lesion_volume_mm3[l], v1 = c->lesion_volume_followup_mm3[l];
        if (isnan(v1)) continue;
        if (!c->lesion_used[(size_t)s->lesion_job[i] * c->L + l]) {
            g->nested.n_unused++;
            continue;
        }
        size_t p = (size_t)c->ann_patient[c->lesion_annotation[l]];
        if (dense[p] < 0) dense[p] = (long)g->nested.n_patients++;
        /* the lesion: (patient, key); a row without a key is a lesion of its own */
        int32_t key = c->lesion_key[l];
        size_t k = 0;
        if (key >= 0)
            while (k < N && !(patient[k] == p && c->lesion_key[s->lesion[key_of[k]]] == key)) k++;
        else
            k = N;
        lesion[N] = k < N ? lesion[k] : n_lesions++;
        key_of[N] = i;
        y[N] = s->risk[i];
        X[2 * N] = 1.0;
        sum_v[2 * lesion[N]] += v0;
        sum_v[2 * lesion[N] + 1] += v1;
        group[N] = (size_t)dense[p];
        patient[N] = p;
        N++;
    }
    for (size_t i = 0; i < N; i++) {
        int growing = sum_v[2 * lesion[i] + 1] > sum_v[2 * lesion[i]]; /* vanished (v1 = 0) shrinks */
        X[2 * i + 1] = growing;
        n_grow += growing;
        n_shrink += !growing;
    }
    g->nested.n_obs = N;
    g->nested.n_lesions = n_lesions;
    if (csv_path) {
        if (!(f = fopen(csv_path, "w"))) {
            lr_fail(err, "%s: cannot write: %s", csv_path, strerror(errno));
            goto done;
        }
        fprintf(f, "risk,growing,patient,lesion\n");
        for (size_t i = 0; i < N; i++) fprintf(f, "%.9g,%d,%zu,%zu\n", y[i], (int)X[2 * i + 1], patient[i], lesion[i]);
        int bad = fclose(f) != 0;
        f = NULL;
        if (bad) {
            lr_fail(err, "%s: write failed", csv_path);
            goto done;
        }
    }
    if (n_grow == 0 || n_shrink == 0 || g->nested.n_patients < 2 || n_lesions < 2) {
        rc = 0;
        goto done;
    }
    lr_lmm_data data = {.n_obs = N, .n_fixed = 2, .n_groups = g->nested.n_patients, .y = y, .X = X, .group = group,
                        .n_nested = n_lesions, .nested = lesion};
    if (lr_lmm_fit_model(&data, 1, &fit, err)) goto done;
    g->nested.fitted = 1;
    g->nested.intercept = fit.beta[0];
    g->nested.beta = fit.beta[1];
    g->nested.se = fit.se[1];
    g->nested.t = fit.tstat[1];
    g->nested.df = fit.df_satterthwaite[1];
    g->nested.p_two_sided = fit.p_satterthwaite[1];
    g->nested.p_one_sided = fit.p_one_sided_satterthwaite[1];
    g->nested.tau2 = fit.tau2;
    g->nested.tau2_lesion = fit.tau2_nested;
    g->nested.sigma2 = fit.sigma2;
    g->nested.singular = fit.singular;
    rc = 0;
done:
    if (f) fclose(f);
    lr_lmm_fit_free(&fit);
    free(y);
    free(X);
    free(group);
    free(lesion);
    free(patient);
    free(key_of);
    free(sum_v);
    free(dense);
    return rc;
}

int lr_growth_test(const lr_results *c, const lr_lesion_set *s, const char *csv_path, const char *nested_csv_path,
                   lr_growth_result *g, lr_err *err)
{
    memset(g, 0, sizeof *g);
    g->beta = g->se = g->df = g->t = g->p_one_sided = g->p_two_sided = NAN;
    g->df_containment = g->p_one_sided_containment = g->intercept = g->tau2 = g->sigma2 = NAN;
    g->median_growing = g->median_shrinking = NAN;
    g->nested.beta = g->nested.se = g->nested.df = g->nested.t = g->nested.p_one_sided = NAN;
    g->nested.p_two_sided = g->nested.intercept = g->nested.tau2 = g->nested.tau2_lesion = g->nested.sigma2 = NAN;
    if (c->lesion_key && growth_nested(c, s, nested_csv_path, g, err)) return -1;
    size_t n = s->n;
    double *y = lr_malloc(n ? n : 1, sizeof *y, err);          /* [N] risk */
    double *X = lr_malloc(2 * (n ? n : 1), sizeof *X, err);    /* [N, 2] intercept, growing */
    size_t *group = lr_malloc(n ? n : 1, sizeof *group, err);  /* [N] patient -> dense group */
    long *dense = lr_malloc(c->P ? c->P : 1, sizeof *dense, err); /* [P] */
    double *grow = lr_malloc(n ? n : 1, sizeof *grow, err), *shrink = lr_malloc(n ? n : 1, sizeof *shrink, err);
    size_t *patient = lr_malloc(n ? n : 1, sizeof *patient, err);
    FILE *f = NULL;
    lr_lmm_fit fit;
    memset(&fit, 0, sizeof fit);
    int rc = -1;
    if (!y || !X || !group || !dense || !grow || !shrink || !patient) goto done;
    for (size_t p = 0; p < c->P; p++) dense[p] = -1;
    size_t N = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = s->lesion[i];
        double v0 = c->lesion_volume_mm3[l], v1 = c->lesion_volume_followup_mm3[l];
        if (isnan(v1)) {
            g->n_no_followup++;
            continue;
        }
        int growing = v1 > v0; /* vanished (v1 = 0) counts as shrinking */
        size_t p = (size_t)c->ann_patient[c->lesion_annotation[l]];
        if (dense[p] < 0) dense[p] = (long)g->n_patients++;
        y[N] = s->risk[i];
        X[2 * N] = 1.0;
        X[2 * N + 1] = growing;
        group[N] = (size_t)dense[p];
        patient[N] = p;
        if (growing) grow[g->n_growing++] = y[N];
        else shrink[g->n_shrinking++] = y[N];
        g->n_vanished += v1 == 0.0;
        N++;
    }
    g->n_obs = N;
    if (csv_path) {
        f = fopen(csv_path, "w");
        if (!f) {
            lr_fail(err, "%s: cannot write: %s", csv_path, strerror(errno));
            goto done;
        }
        fprintf(f, "risk,growing,patient\n");
        for (size_t i = 0; i < N; i++) fprintf(f, "%.9g,%d,%zu\n", y[i], (int)X[2 * i + 1], patient[i]);
        if (fclose(f) != 0) {
            f = NULL;
            lr_fail(err, "%s: write failed", csv_path);
            goto done;
        }
        f = NULL;
    }
    g->median_growing = median_of(grow, g->n_growing);
    g->median_shrinking = median_of(shrink, g->n_shrinking);
    if (g->n_growing == 0 || g->n_shrinking == 0 || g->n_patients < 2) {
        rc = 0; /* nothing to test: the caller reports the counts */
        goto done;
    }
    lr_lmm_data data = {.n_obs = N, .n_fixed = 2, .n_groups = g->n_patients, .y = y, .X = X, .group = group};
    if (lr_lmm_fit_model(&data, 1, &fit, err)) goto done;
    g->intercept = fit.beta[0];
    g->beta = fit.beta[1];
    g->se = fit.se[1];
    g->t = fit.tstat[1];
    g->df = fit.df_satterthwaite[1];
    g->p_two_sided = fit.p_satterthwaite[1];
    g->p_one_sided = fit.p_one_sided_satterthwaite[1];
    g->df_containment = fit.df_containment[1];
    g->p_one_sided_containment = fit.p_one_sided_containment[1];
    g->tau2 = fit.tau2;
    g->sigma2 = fit.sigma2;
    g->singular = fit.singular;
    rc = 0;
done:
    if (f) fclose(f);
    lr_lmm_fit_free(&fit);
    free(y);
    free(X);
    free(group);
    free(dense);
    free(grow);
    free(shrink);
    free(patient);
    return rc;
}
