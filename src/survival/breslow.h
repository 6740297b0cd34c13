/* Breslow baseline cumulative hazard of a Cox model with a known linear predictor η (the lesion risk as
 * an offset), and survival probabilities S(t | η) = exp(−H₀(t)·e^η).
 *
 * Equal to R's −log S(t | η = 0) from survfit(coxph(Surv(time, event) ~ offset(eta), ties = ...), newdata):
 *   breslow (survfit ctype 1):  H₀(t) = Σ_{event times s <= t} d(s) / Σ_{j: t_j >= s} e^{η_j}
 *   efron   (ctype 2, coxph's default ties, so basehaz's default):
 *                               H₀(t) = Σ_s Σ_{k=0}^{d−1} 1 / (Σ_{R(s)} e^η − (k/d) Σ_{D(s)} e^η)
 * (R's basehaz(fit, centered = FALSE) of this offset-only model is that times e^{mean η}: survival 3.5 leaves the
 * offset centred, so exp(−basehaz·e^η) would be wrong by that factor; tests/gen_prognosis_refs.R checks it.)
 * Computed with every e^η scaled by e^{−max η} so that any η works. H₀ is a step function; beyond the
 * last follow-up time it is undefined and asking for it is an error. */
#ifndef LR_SURVIVAL_BRESLOW_H
#define LR_SURVIVAL_BRESLOW_H

#include <stddef.h>

#include "survival/npll.h"
#include "util/err.h"

typedef struct {
    size_t n_times;       /* distinct event times */
    double *time;         /* [n_times] ascending */
    double *log_cumhaz;   /* [n_times] log H₀ at and after time[k] (one allocation with time) */
    double last_followup; /* largest observed time */
} lr_baseline;

int lr_breslow_fit(size_t n, const double *time, const int *event, const double *eta, lr_ties ties,
                   lr_baseline *out, lr_err *err);
void lr_baseline_free(lr_baseline *b);

/* H₀(t): 0 before the first event time; error beyond the last follow-up or for t < 0. */
int lr_baseline_cumhaz(const lr_baseline *b, double t, double *cumhaz, lr_err *err);
/* S(t | η) for n_eta linear predictors; surv[k] = exp(−H₀(t) e^{η_k}) computed as exp(−exp(log H₀ + η)). */
int lr_baseline_surv(const lr_baseline *b, double t, size_t n_eta, const double *eta, double *surv, lr_err *err);

#endif
