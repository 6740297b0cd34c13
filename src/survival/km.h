/* Kaplan–Meier survival, Greenwood standard errors, median survival and the log-rank test, with R's
 * conventions (survival::survfit, summary.survfit, print.survfit, survdiff):
 *  - S(t) is right-continuous: S(t) = Π_{event times s <= t} (1 − d(s)/n(s)), n(s) = #{time >= s};
 *  - se(t) = S(t)·sqrt(Σ_{s <= t} d/(n(n−d))) (Greenwood), = summary(survfit)$std.err; NaN once S = 0;
 *  - the median is the first event time with S <= 1/2; when S equals 1/2 (within 1e-8, survival's
 *    quantile tolerance is sqrt(.Machine$double.eps)) on a flat stretch it is the midpoint of that time
 *    and the next event time (the last follow-up time if none); NaN when S never reaches 1/2;
 *  - the log-rank statistic is (O−E)ᵀ V⁻¹ (O−E) over the first G−1 groups, df = G − 1 (survdiff, rho = 0).
 * Asking for S(t) beyond the last follow-up time is an error (survfit would extrapolate silently). */
#ifndef LR_SURVIVAL_KM_H
#define LR_SURVIVAL_KM_H

#include <stddef.h>

#include "util/err.h"

typedef struct {
    size_t n, events;        /* subjects, observed events */
    size_t n_times;          /* distinct event times */
    double *time;            /* [n_times] ascending, one allocation with the arrays below */
    double *surv;            /* [n_times] S at and after time[k] */
    double *greenwood;       /* [n_times] Σ_{s <= time[k]} d/(n(n−d)) (Inf once d = n) */
    double *n_risk, *n_event;/* [n_times] */
    double last_followup;    /* largest observed time (event or censored) */
} lr_km;

/* Fits the curve; km must be freed with lr_km_free (also after failure). n may be 0 (S = 1). */
int lr_km_fit(size_t n, const double *time, const int *event, lr_km *km, lr_err *err);
void lr_km_free(lr_km *km);

/* S(t) and its Greenwood standard error. Fails (err names t and the last follow-up) when t is beyond
 * the last follow-up time or negative. */
int lr_km_at(const lr_km *km, double t, double *surv, double *se, lr_err *err);
/* Log-scale ("log", survfit's default conf.type) interval exp(log S ± z·se/S), upper capped at 1. */
void lr_km_ci_log(double surv, double se, double level, double *lower, double *upper);
/* print.survfit's median, NaN when S never reaches 1/2. */
double lr_km_median(const lr_km *km);

typedef struct {
    double chisq, p;
    size_t df;
} lr_logrank_result;

/* group[i] in 0..n_groups-1, every group non-empty, n_groups >= 2. */
int lr_logrank(size_t n, const double *time, const int *event, const size_t *group, size_t n_groups,
               lr_logrank_result *out, lr_err *err);

#endif
