#include "survival/calibration.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "survival/breslow.h"
#include "survival/cox.h"
#include "survival/km.h"
#include "survival/sort_index.h"

void lr_calibration_free(lr_calibration *c)
{
    free(c->bin_n);
    free(c->pred);
    *c = (lr_calibration){0};
}

static double cube_plus(double v)
{
    return v > 0.0 ? v * v * v : 0.0;
}

void lr_rcs3_basis(double x, const double knots[3], double basis[2])
{
    double k1 = knots[0], k2 = knots[1], k3 = knots[2];
    basis[0] = x;
    basis[1] = (cube_plus(x - k1) + ((k2 - k1) * cube_plus(x - k3) - (k3 - k1) * cube_plus(x - k2)) / (k3 - k2)) /
               ((k3 - k1) * (k3 - k1));
}

/* Per-group mean predicted and Kaplan–Meier observed survival at t. */
static int calibration_groups(size_t n, const double *time, const int *event, const double *surv, double t,
                              double level, lr_calibration *c, lr_err *err)
{
    size_t *order = lr_malloc(n, sizeof *order, err);
    double *g_time = lr_malloc(n, sizeof *g_time, err);
    int *g_event = lr_malloc(n, sizeof *g_event, err);
    int rc = -1;
    if (!order || !g_time || !g_event || lr_sort_index(n, surv, order, err) != 0) goto done;
    for (size_t k = 0; k < c->bins; k++) {
        size_t lo = (k * n + c->bins - 1) / c->bins, hi = ((k + 1) * n + c->bins - 1) / c->bins, m = 0;
        double sum = 0.0;
        for (size_t r = lo; r < hi; r++) {
            size_t i = order[r];
            sum += surv[i];
            g_time[m] = time[i];
            g_event[m++] = event[i];
        }
        c->bin_n[k] = m;
        c->pred[k] = sum / (double)m;
        lr_km km;
        if (lr_km_fit(m, g_time, g_event, &km, err) != 0) {
            lr_km_free(&km);
            goto done;
        }
        if (t <= km.last_followup) {
            lr_km_at(&km, t, &c->obs[k], &c->obs_se[k], err);
            lr_km_ci_log(c->obs[k], c->obs_se[k], level, &c->obs_lower[k], &c->obs_upper[k]);
        } else {
            c->obs[k] = c->obs_se[k] = c->obs_lower[k] = c->obs_upper[k] = NAN;
        }
        lr_km_free(&km);
    }
    rc = 0;
done:
    free(order);
    free(g_time);
    free(g_event);
    return rc;
}

/* Cox fit of the p columns of X, then S_obs,i(t) = exp(−H₀(t) e^{x_iᵀβ}) for every subject. */
static int cox_observed(size_t n, size_t p, const double *time, const int *event, const double *X, double t,
                        lr_cox_fit *fit, double *eta, double *log_cumhaz0, double *obs, lr_err *err)
{
    if (lr_cox_fit_model(n, p, time, event, X, LR_TIES_EFRON, fit, err) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        eta[i] = 0.0;
        for (size_t j = 0; j < p; j++) eta[i] += X[i * p + j] * fit->beta[j];
    }
    lr_baseline base;
    double H0;
    int rc = lr_breslow_fit(n, time, event, eta, LR_TIES_EFRON, &base, err);
    if (rc == 0) rc = lr_baseline_cumhaz(&base, t, &H0, err);
    if (rc == 0 && obs) rc = lr_baseline_surv(&base, t, n, eta, obs, err);
    lr_baseline_free(&base);
    if (rc == 0) *log_cumhaz0 = log(H0);
    return rc;
}

/* t within follow-up, an event at or before t, 0 < S < 1. */
static int check_input(size_t n, const double *time, const int *event, const double *surv, double t, lr_err *err)
{
    double last = 0.0;
    size_t events_before = 0;
    for (size_t i = 0; i < n; i++) {
        last = fmax(last, time[i]);
        events_before += event[i] && time[i] <= t;
        if (!(surv[i] > 0.0 && surv[i] < 1.0))
            return lr_fail(err, "calibration: predicted survival of subject %zu is %g; the log-log scale needs 0 < S < 1",
                           i + 1, surv[i]);
    }
    if (!(t > 0.0) || t > last)
        return lr_fail(err, "calibration at t = %g: t must be in (0, last follow-up %g]", t, last);
    if (!events_before) return lr_fail(err, "calibration at t = %g: no event at or before t", t);
    return 0;
}

int lr_calibration_slope(size_t n, const double *time, const int *event, const double *surv, double t,
                         double *slope, double *slope_se, double *intercept, lr_err *err)
{
    *slope = *slope_se = *intercept = NAN;
    if (check_input(n, time, event, surv, t, err) != 0) return -1;
    double *cll = lr_malloc(n, sizeof *cll, err), *eta = lr_malloc(n, sizeof *eta, err);
    lr_cox_fit fit = {0};
    int rc = -1;
    if (!cll || !eta) goto done;
    for (size_t i = 0; i < n; i++) cll[i] = log(-log(surv[i]));
    double log_h0;
    if (cox_observed(n, 1, time, event, cll, t, &fit, eta, &log_h0, NULL, err) != 0) goto done;
    *slope = fit.beta[0];
    *slope_se = fit.se[0];
    *intercept = log_h0;
    rc = 0;
done:
    lr_cox_fit_free(&fit);
    free(cll);
    free(eta);
    return rc;
}

int lr_calibration_at(size_t n, const double *time, const int *event, const double *surv, double t, size_t bins,
                      double level, lr_calibration *out, double *smooth_obs, lr_err *err)
{
    *out = (lr_calibration){.bins = bins};
    if (bins < 1 || n < 2 * bins)
        return lr_fail(err, "calibration: %zu patients cannot fill %zu groups of at least 2", n, bins);
    if (check_input(n, time, event, surv, t, err) != 0) return -1;
    out->bin_n = lr_calloc(bins, sizeof *out->bin_n, err);
    out->pred = lr_calloc(5 * bins, sizeof *out->pred, err);
    double *X = lr_malloc(2 * n, sizeof *X, err), *eta = lr_malloc(n, sizeof *eta, err);
    double *obs = lr_malloc(n, sizeof *obs, err), *cll = lr_malloc(n, sizeof *cll, err);
    lr_cox_fit fit = {0};
    int rc = -1;
    if (!out->bin_n || !out->pred || !X || !eta || !obs || !cll) goto done;
    out->obs = out->pred + bins;
    out->obs_se = out->pred + 2 * bins;
    out->obs_lower = out->pred + 3 * bins;
    out->obs_upper = out->pred + 4 * bins;
    LR_TRY(calibration_groups(n, time, event, surv, t, level, out, err));

    LR_TRY(lr_calibration_slope(n, time, event, surv, t, &out->slope, &out->slope_se, &out->intercept, err));
    for (size_t i = 0; i < n; i++) cll[i] = log(-log(surv[i]));
    double log_h0;

    memcpy(obs, cll, n * sizeof *obs); /* sorted copy for the knots */
    gsl_sort(obs, 1, n);
    static const double knot_p[3] = {0.1, 0.5, 0.9};
    for (int k = 0; k < 3; k++) out->knots[k] = gsl_stats_quantile_from_sorted_data(obs, 1, n, knot_p[k]);
    if (!(out->knots[0] < out->knots[1] && out->knots[1] < out->knots[2])) {
        lr_fail(err, "calibration: predictions have too few distinct values for a 3-knot spline (knots %g, %g, %g)",
                out->knots[0], out->knots[1], out->knots[2]);
        goto done;
    }
    for (size_t i = 0; i < n; i++) lr_rcs3_basis(cll[i], out->knots, X + 2 * i);
    LR_TRY(cox_observed(n, 2, time, event, X, t, &fit, eta, &log_h0, obs, err));
    for (size_t i = 0; i < n; i++) {
        if (smooth_obs) smooth_obs[i] = obs[i];
        cll[i] = fabs(surv[i] - obs[i]); /* reuse: absolute calibration errors */
    }
    out->ici = gsl_stats_mean(cll, 1, n);
    gsl_sort(cll, 1, n);
    out->e50 = gsl_stats_quantile_from_sorted_data(cll, 1, n, 0.5);
    out->e90 = gsl_stats_quantile_from_sorted_data(cll, 1, n, 0.9);
    rc = 0;
fail:
done:
    lr_cox_fit_free(&fit);
    free(X);
    free(eta);
    free(obs);
    free(cll);
    if (rc) lr_calibration_free(out);
    return rc;
}
