/* Brier score at a horizon t with inverse probability of censoring weights, its Kaplan–Meier null model
 * and the index of prediction accuracy, = riskRegression::Score(list(model), Surv(time, event) ~ 1,
 * metrics = "brier", cens.model = "marginal", times = t, null.model = TRUE):
 *   BS(t) = (1/n) Σ_i w_i (y_i − F_i)²,  y_i = 1{T_i <= t, event},  F_i = 1 − S_i(t),
 *   w_i = 1/G(T_i−) for y_i = 1, 1/G(t) for T_i > t, 0 for subjects censored at or before t,
 * G the Kaplan–Meier of the censoring distribution as prodlim(reverse = TRUE) builds it (deaths leave the
 * risk set before the censorings at a tied time; survfit(Surv(time, 1 − event) ~ 1) does not). The null model
 * predicts S_i = KM(t) of the same data for everyone; IPA = 1 − BS/BS_km.
 *
 * The integrated Brier score over a grid 0 < t_1 < … < t_m = τ, = pec::ibs of pec(list(S), Surv(time,
 * event) ~ 1, times = c(0, grid), exact = FALSE, cens.model = "marginal"): pec's Dint integrates the Brier
 * curve as a right-continuous step function on [0, τ), so IBS = (1/τ) Σ_{k<m} (t_{k+1} − t_k) BS(t_k)
 * (BS(0) = 0 since S(0) = 1; BS(τ) itself does not enter). Use a fine grid for a good integral.
 *
 * Errors: t beyond the last follow-up time, t < 0, G(t) = 0 while subjects are still at risk, a
 * predicted probability outside [0, 1] or NaN. With no event at or before t, BS_km = 0 and IPA is NaN
 * (`events_before` says so; the stats verb turns it into an error). */
#ifndef LR_SURVIVAL_BRIER_H
#define LR_SURVIVAL_BRIER_H

#include <stddef.h>

#include "util/err.h"

typedef struct {
    double brier, brier_km, ipa; /* ipa NaN when brier_km = 0 */
    double km_surv;              /* KM(t), the null model's prediction */
    double censoring_surv;       /* G(t) */
    size_t events_before;        /* events at or before t */
} lr_brier_result;

/* surv[n] = predicted S_i(t). */
int lr_brier(size_t n, const double *time, const int *event, const double *surv, double t, lr_brier_result *out,
             lr_err *err);

typedef struct {
    double ibs, ibs_km, tau;
} lr_ibs_result;

/* surv[n_times*n]: row k holds every subject's S(times[k]); times strictly increasing and > 0; τ is the
 * last grid time. */
int lr_ibs(size_t n, const double *time, const int *event, size_t n_times, const double *times,
           const double *surv, lr_ibs_result *out, lr_err *err);

#endif
