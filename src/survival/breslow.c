#include "survival/breslow.h"

#include <math.h>
#include <stdlib.h>

#include "survival/sort_index.h"

void lr_baseline_free(lr_baseline *b)
{
    free(b->time);
    *b = (lr_baseline){0};
}

int lr_breslow_fit(size_t n, const double *time, const int *event, const double *eta, lr_ties ties,
                   lr_baseline *out, lr_err *err)
{
    *out = (lr_baseline){0};
    if (n == 0) return lr_fail(err, "Breslow baseline: no subjects");
    double shift = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(eta[i])) return lr_fail(err, "Breslow baseline: risk of subject %zu is not finite", i);
        shift = fmax(shift, eta[i]);
    }
    size_t *order = lr_malloc(n, sizeof *order, err);
    double *block = lr_malloc(2 * n, sizeof *block, err);
    double *scaled = lr_malloc(n, sizeof *scaled, err); /* [n] e^{η − shift} */
    if (!order || !block || !scaled || lr_sort_index(n, time, order, err) != 0) {
        free(order);
        free(block);
        free(scaled);
        return -1;
    }
    out->time = block;
    out->log_cumhaz = block + n;
    double risk_set = 0.0; /* Σ_{t_j >= s} scaled_j, built from the latest time down */
    for (size_t i = 0; i < n; i++) {
        scaled[i] = exp(eta[i] - shift);
        risk_set += scaled[i];
    }
    /* forward pass: increments relative to e^{−shift}; subtract each time's subjects after using them */
    double cum = 0.0;
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo + 1;
        while (hi < n && time[order[hi]] == time[order[lo]]) hi++;
        double d = 0.0, dead = 0.0, leaving = 0.0;
        for (size_t k = lo; k < hi; k++) {
            size_t i = order[k];
            leaving += scaled[i];
            if (event[i]) {
                d += 1.0;
                dead += scaled[i];
            }
        }
        if (d > 0.0) {
            if (ties == LR_TIES_EFRON)
                for (double k = 0.0; k < d; k += 1.0) cum += 1.0 / (risk_set - k / d * dead);
            else
                cum += d / risk_set;
            size_t k = out->n_times++;
            out->time[k] = time[order[lo]];
            out->log_cumhaz[k] = log(cum) - shift;
        }
        risk_set -= leaving;
        if (risk_set < 0.0) risk_set = 0.0; /* rounding at the end */
        lo = hi;
    }
    out->last_followup = time[order[n - 1]];
    free(order);
    free(scaled);
    return 0;
}

static int baseline_log_cumhaz(const lr_baseline *b, double t, double *log_h, lr_err *err)
{
    if (!(t >= 0.0)) return lr_fail(err, "baseline hazard at t = %g: t must be >= 0", t);
    if (t > b->last_followup)
        return lr_fail(err, "baseline hazard at t = %g: beyond the last follow-up time %g of the fitting data", t,
                       b->last_followup);
    size_t lo = 0, hi = b->n_times;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->time[mid] <= t) lo = mid + 1;
        else hi = mid;
    }
    *log_h = lo == 0 ? -INFINITY : b->log_cumhaz[lo - 1];
    return 0;
}

int lr_baseline_cumhaz(const lr_baseline *b, double t, double *cumhaz, lr_err *err)
{
    double log_h;
    if (baseline_log_cumhaz(b, t, &log_h, err) != 0) return -1;
    *cumhaz = exp(log_h);
    return 0;
}

int lr_baseline_surv(const lr_baseline *b, double t, size_t n_eta, const double *eta, double *surv, lr_err *err)
{
    double log_h;
    if (baseline_log_cumhaz(b, t, &log_h, err) != 0) return -1;
    for (size_t k = 0; k < n_eta; k++) surv[k] = exp(-exp(log_h + eta[k]));
    return 0;
}
