/* Inverse-probability-of-censoring-weighted discrimination: Uno's C and cumulative/dynamic AUC(t).
 *
 * Uno's C — exactly R's survival::concordance(Surv(time, event) ~ risk, timewt = "n/G2", ymax = tau)
 * (survival >= 3.0; the classic survC1::Est.Cval is not packaged for Debian): Harrell's pairs (earlier
 * time an event; an event tied in time with a censored subject comparable; tied event times not
 * comparable; tied risks ½), each pair weighted by 1/G(t_i-)² where t_i is the earlier (event) time, and
 * events after tau get weight 0. G is the Kaplan–Meier of the censoring distribution with deaths
 * preceding censorings at tied times (survival's fastkm1): at a censoring time t the factor is
 * 1 − c(t)/(n(≥t) − d(t)); G(t-) is the value just before t.
 *
 * AUC(t) — cumulative cases (T_i ≤ t, event) against dynamic controls (T_j > t), IPCW as Uno et al.
 * (2007) / Hung & Chiang (2010) / timeROC's "marginal" weights:
 *   AUC(t) = Σ_i Σ_j w_i [1(η_i > η_j) + ½ 1(η_i = η_j)] / Σ_i Σ_j w_i,  w_i = 1/G(T_i-),
 * where G is the ordinary reverse Kaplan–Meier, survfit(Surv(time, 1 - event) ~ 1) (the controls' common
 * weight 1/G(t) cancels). NaN when there is no case or no control. Both O(n log n). */
#ifndef LR_SURVIVAL_IPCW_H
#define LR_SURVIVAL_IPCW_H

#include <stddef.h>

#include "util/err.h"

/* G_left[i] = G(time_i -). deaths_first = 1: survival::concordance's convention; 0: survfit's reverse KM. */
int lr_censoring_km_left(size_t n, const double *time, const int *event, int deaths_first, double *G_left,
                         lr_err *err);

typedef struct {
    double concordant, discordant, tied_risk; /* weighted pair counts */
    double cindex;                            /* NaN when no comparable pair */
} lr_uno_result;

int lr_uno_cindex(size_t n, const double *time, const int *event, const double *risk, double tau,
                  lr_uno_result *out, lr_err *err);

/* auc[n_times] at the given horizons. */
int lr_auc_cd(size_t n, const double *time, const int *event, const double *risk, size_t n_times,
              const double *horizons, double *auc, lr_err *err);

#endif
