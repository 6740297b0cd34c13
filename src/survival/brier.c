#include "survival/brier.h"

#include <math.h>
#include <stdlib.h>

#include "survival/ipcw.h"
#include "survival/km.h"
#include "survival/sort_index.h"

/* The censoring Kaplan–Meier as prodlim(reverse = TRUE) builds it for riskRegression and pec: at a time
 * with deaths and censorings the deaths leave the risk set first, factor 1 − c/(n(>= s) − d). (survfit's
 * reverse KM keeps the deaths at risk; on R's lung the Brier score moves by 2e-4 between the two.) */
typedef struct {
    size_t n_times;
    double *time, *G; /* [n_times] distinct censoring times, G at and after each (one allocation) */
} censoring_curve;

static int censoring_curve_fit(size_t n, const double *time, const int *event, censoring_curve *c, lr_err *err)
{
    *c = (censoring_curve){0};
    size_t *order = lr_malloc(n, sizeof *order, err);
    c->time = lr_malloc(2 * n, sizeof *c->time, err);
    if (!order || !c->time || lr_sort_index(n, time, order, err) != 0) {
        free(order);
        return -1;
    }
    c->G = c->time + n;
    double G = 1.0;
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo + 1;
        while (hi < n && time[order[hi]] == time[order[lo]]) hi++;
        double deaths = 0.0, censored = 0.0;
        for (size_t k = lo; k < hi; k++) {
            if (event[order[k]]) deaths += 1.0;
            else censored += 1.0;
        }
        double at_risk = (double)(n - lo) - deaths;
        if (censored > 0.0 && at_risk > 0.0) {
            G *= (at_risk - censored) / at_risk;
            c->time[c->n_times] = time[order[lo]];
            c->G[c->n_times++] = G;
        }
        lo = hi;
    }
    free(order);
    return 0;
}

static double censoring_curve_at(const censoring_curve *c, double t)
{
    size_t lo = 0, hi = c->n_times;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->time[mid] <= t) lo = mid + 1;
        else hi = mid;
    }
    return lo == 0 ? 1.0 : c->G[lo - 1];
}

/* Brier scores of the model and of the KM null model at t, given G(T_i−) for every subject. */
static int brier_with_weights(size_t n, const double *time, const int *event, const double *surv, double t,
                              const double *G_left, const lr_km *data_km, const censoring_curve *cens,
                              lr_brier_result *out, lr_err *err)
{
    *out = (lr_brier_result){NAN, NAN, NAN, NAN, NAN, 0};
    double se;
    if (lr_km_at(data_km, t, &out->km_surv, &se, err) != 0) return -1;
    out->censoring_surv = censoring_curve_at(cens, t);
    double sum = 0.0, sum_km = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!(surv[i] >= 0.0 && surv[i] <= 1.0))
            return lr_fail(err, "Brier score: predicted survival of subject %zu is %g, not a probability in [0, 1]",
                           i + 1, surv[i]);
        if (time[i] <= t && event[i]) {
            out->events_before++;
            double w = 1.0 / G_left[i];
            sum += w * surv[i] * surv[i];
            sum_km += w * out->km_surv * out->km_surv;
        } else if (time[i] > t) {
            if (!(out->censoring_surv > 0.0))
                return lr_fail(err, "Brier score at t = %g: every subject still at risk would have infinite weight "
                                    "(censoring survival G(t) = 0)", t);
            double w = 1.0 / out->censoring_surv;
            sum += w * (1.0 - surv[i]) * (1.0 - surv[i]);
            sum_km += w * (1.0 - out->km_surv) * (1.0 - out->km_surv);
        }
    }
    out->brier = sum / (double)n;
    out->brier_km = sum_km / (double)n;
    out->ipa = out->brier_km > 0.0 ? 1.0 - out->brier / out->brier_km : NAN;
    return 0;
}

typedef struct {
    double *G_left; /* [n] G(T_i−) */
    lr_km data_km;
    censoring_curve cens;
} brier_setup;

static void brier_setup_free(brier_setup *s)
{
    free(s->G_left);
    lr_km_free(&s->data_km);
    free(s->cens.time);
}

static int brier_setup_init(size_t n, const double *time, const int *event, brier_setup *s, lr_err *err)
{
    *s = (brier_setup){0};
    if (n == 0) return lr_fail(err, "Brier score: no subjects");
    s->G_left = lr_malloc(n, sizeof *s->G_left, err);
    if (!s->G_left) return -1;
    if (lr_censoring_km_left(n, time, event, 1, s->G_left, err) != 0) return -1;
    if (lr_km_fit(n, time, event, &s->data_km, err) != 0) return -1;
    return censoring_curve_fit(n, time, event, &s->cens, err);
}

int lr_brier(size_t n, const double *time, const int *event, const double *surv, double t, lr_brier_result *out,
             lr_err *err)
{
    brier_setup s;
    int rc = brier_setup_init(n, time, event, &s, err);
    if (rc == 0) rc = brier_with_weights(n, time, event, surv, t, s.G_left, &s.data_km, &s.cens, out, err);
    brier_setup_free(&s);
    return rc;
}

int lr_ibs(size_t n, const double *time, const int *event, size_t n_times, const double *times,
           const double *surv, lr_ibs_result *out, lr_err *err)
{
    *out = (lr_ibs_result){NAN, NAN, NAN};
    if (n_times == 0) return lr_fail(err, "integrated Brier score: empty time grid");
    for (size_t k = 0; k < n_times; k++)
        if (!(times[k] > 0.0) || (k > 0 && !(times[k] > times[k - 1])))
            return lr_fail(err, "integrated Brier score: grid times must be positive and strictly increasing "
                                "(time %zu is %g)", k + 1, times[k]);
    double tau = times[n_times - 1];
    brier_setup s;
    int rc = brier_setup_init(n, time, event, &s, err);
    double area = 0.0, area_km = 0.0;
    for (size_t k = 0; rc == 0 && k < n_times; k++) {
        lr_brier_result b;
        rc = brier_with_weights(n, time, event, surv + k * n, times[k], s.G_left, &s.data_km, &s.cens, &b, err);
        if (rc) break;
        double width = (k + 1 < n_times ? times[k + 1] : tau) - times[k]; /* 0 for the last */
        area += width * b.brier;
        area_km += width * b.brier_km;
    }
    brier_setup_free(&s);
    if (rc) return -1;
    out->tau = tau;
    out->ibs = area / tau;
    out->ibs_km = area_km / tau;
    return 0;
}
