#include "survival/km.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "survival/sort_index.h"

void lr_km_free(lr_km *km)
{
    free(km->time);
    *km = (lr_km){0};
}

int lr_km_fit(size_t n, const double *time, const int *event, lr_km *km, lr_err *err)
{
    *km = (lr_km){.n = n};
    size_t *order = lr_malloc(n ? n : 1, sizeof *order, err); /* [n] ascending time */
    double *block = lr_malloc(5 * (n ? n : 1), sizeof *block, err);
    if (!order || !block || lr_sort_index(n, time, order, err) != 0) {
        free(order);
        free(block);
        return -1;
    }
    km->time = block;
    km->surv = block + n;
    km->greenwood = block + 2 * n;
    km->n_risk = block + 3 * n;
    km->n_event = block + 4 * n;
    double S = 1.0, gw = 0.0;
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo + 1;
        while (hi < n && time[order[hi]] == time[order[lo]]) hi++;
        double d = 0.0, at_risk = (double)(n - lo);
        for (size_t k = lo; k < hi; k++) d += event[order[k]] != 0;
        if (d > 0.0) {
            S *= 1.0 - d / at_risk;
            gw += d < at_risk ? d / (at_risk * (at_risk - d)) : INFINITY;
            size_t k = km->n_times++;
            km->time[k] = time[order[lo]];
            km->surv[k] = S;
            km->greenwood[k] = gw;
            km->n_risk[k] = at_risk;
            km->n_event[k] = d;
            km->events += (size_t)d;
        }
        lo = hi;
    }
    km->last_followup = n ? time[order[n - 1]] : 0.0;
    free(order);
    return 0;
}

/* Index of the last event time <= t, or -1 when t precedes every event time. */
static long km_index(const lr_km *km, double t)
{
    size_t lo = 0, hi = km->n_times;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (km->time[mid] <= t) lo = mid + 1;
        else hi = mid;
    }
    return (long)lo - 1;
}

int lr_km_at(const lr_km *km, double t, double *surv, double *se, lr_err *err)
{
    if (!(t >= 0.0)) return lr_fail(err, "Kaplan-Meier at t = %g: t must be >= 0", t);
    if (t > km->last_followup)
        return lr_fail(err, "Kaplan-Meier at t = %g: beyond the last follow-up time %g", t, km->last_followup);
    long k = km_index(km, t);
    if (k < 0) {
        *surv = 1.0;
        *se = 0.0;
        return 0;
    }
    *surv = km->surv[k];
    *se = km->surv[k] > 0.0 ? km->surv[k] * sqrt(km->greenwood[k]) : NAN;
    return 0;
}

void lr_km_ci_log(double surv, double se, double level, double *lower, double *upper)
{
    if (!(surv > 0.0) || !isfinite(se)) {
        *lower = *upper = NAN;
        return;
    }
    double z = gsl_cdf_ugaussian_Pinv(0.5 + level / 2.0), width = z * se / surv;
    *lower = surv * exp(-width);
    *upper = fmin(1.0, surv * exp(width));
}

double lr_km_median(const lr_km *km)
{
    const double tol = 1e-8; /* survival's quantile.survfit uses sqrt(.Machine$double.eps) */
    for (size_t k = 0; k < km->n_times; k++) {
        if (km->surv[k] > 0.5 + tol) continue;
        if (fabs(km->surv[k] - 0.5) <= tol) /* flat at exactly 1/2: midpoint to the next drop */
            return 0.5 * (km->time[k] + (k + 1 < km->n_times ? km->time[k + 1] : km->last_followup));
        return km->time[k];
    }
    return NAN;
}

int lr_logrank(size_t n, const double *time, const int *event, const size_t *group, size_t n_groups,
               lr_logrank_result *out, lr_err *err)
{
    *out = (lr_logrank_result){NAN, NAN, n_groups ? n_groups - 1 : 0};
    if (n_groups < 2) return lr_fail(err, "log-rank: need at least 2 groups, got %zu", n_groups);
    size_t G = n_groups, m = G - 1;
    size_t *order = lr_malloc(n, sizeof *order, err);
    double *at_risk = lr_calloc(G, sizeof *at_risk, err);  /* [G] currently at risk */
    double *deaths = lr_calloc(G, sizeof *deaths, err);    /* [G] at this time */
    double *o_minus_e = lr_calloc(G, sizeof *o_minus_e, err);
    double *V = lr_calloc(m * m, sizeof *V, err);          /* [m][m] */
    int rc = -1;
    if (!order || !at_risk || !deaths || !o_minus_e || !V || lr_sort_index(n, time, order, err) != 0) goto done;
    for (size_t i = 0; i < n; i++) {
        if (group[i] >= G) {
            lr_fail(err, "log-rank: group %zu of subject %zu out of range", group[i], i);
            goto done;
        }
        at_risk[group[i]] += 1.0;
    }
    for (size_t g = 0; g < G; g++)
        if (at_risk[g] == 0.0) {
            lr_fail(err, "log-rank: group %zu is empty", g);
            goto done;
        }
    double total = (double)n;
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo + 1;
        while (hi < n && time[order[hi]] == time[order[lo]]) hi++;
        double d = 0.0;
        memset(deaths, 0, G * sizeof *deaths);
        for (size_t k = lo; k < hi; k++)
            if (event[order[k]]) {
                deaths[group[order[k]]] += 1.0;
                d += 1.0;
            }
        if (d > 0.0) {
            double shrink = total > 1.0 ? d * (total - d) / (total * total * (total - 1.0)) : 0.0;
            for (size_t a = 0; a < G; a++) o_minus_e[a] += deaths[a] - d * at_risk[a] / total;
            for (size_t a = 0; a < m; a++)
                for (size_t b = 0; b < m; b++)
                    V[a * m + b] += shrink * ((a == b ? at_risk[a] * total : 0.0) - at_risk[a] * at_risk[b]);
        }
        for (size_t k = lo; k < hi; k++) at_risk[group[order[k]]] -= 1.0;
        total -= (double)(hi - lo);
        lo = hi;
    }
    /* chisq = zᵀ V⁻¹ z by Cholesky (V is positive definite unless a group has no subject at risk at any
     * event time, which survdiff handles with a generalised inverse: reported as an error here). */
    gsl_matrix_view Vm = gsl_matrix_view_array(V, m, m);
    gsl_vector_view z = gsl_vector_view_array(o_minus_e, m);
    gsl_vector *x = gsl_vector_alloc(m);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int status = x ? gsl_linalg_cholesky_decomp1(&Vm.matrix) : GSL_ENOMEM;
    if (!status) status = gsl_linalg_cholesky_solve(&Vm.matrix, &z.vector, x);
    gsl_set_error_handler(old);
    if (status) {
        lr_fail(err, "log-rank: variance matrix is singular (a group has no subject at risk at any event time)");
        gsl_vector_free(x);
        goto done;
    }
    double chisq = 0.0;
    for (size_t a = 0; a < m; a++) chisq += o_minus_e[a] * gsl_vector_get(x, a);
    gsl_vector_free(x);
    out->chisq = chisq;
    out->p = gsl_cdf_chisq_Q(chisq, (double)m);
    rc = 0;
done:
    free(order);
    free(at_risk);
    free(deaths);
    free(o_minus_e);
    free(V);
    return rc;
}
