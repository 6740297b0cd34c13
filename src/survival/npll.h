/* Negative Cox partial log-likelihood (NPLL) of a risk vector η, the loss that trains the lesion model.
 *
 *   Breslow:  L = Σ_events [ log Σ_{j: t_j >= t_i} exp η_j  -  η_i ]
 *   Efron:    for each distinct event time with d events D and risk set R,
 *             L += Σ_{k=0}^{d-1} log( Σ_R exp η - (k/d) Σ_D exp η )  -  Σ_D η
 *
 * equal to -loglik of R's coxph(Surv(t, e) ~ offset(eta), ties = "breslow"|"efron").
 * Stable for any η: subjects are processed from the latest time down with a running log-sum-exp of the
 * risk set, and the gradient accumulates Σ 1/denominator in the log domain. O(n log n) (one sort). */
#ifndef LR_SURVIVAL_NPLL_H
#define LR_SURVIVAL_NPLL_H

#include <stddef.h>

#include "util/err.h"

typedef enum { LR_TIES_BRESLOW = 0, LR_TIES_EFRON = 1 } lr_ties;

typedef struct {
    double sum;       /* L */
    double mean;      /* L / events (0 when there are no events) */
    size_t events;    /* number of observed events */
    int no_events;    /* 1 when the batch has no event: L = 0, gradient 0, nothing to learn from */
} lr_npll_result;

/* time[n] > 0 (any real works), event[n] in {0,1}, eta[n] finite.
 * grad_sum[n] (may be NULL) receives dL/dη of the SUM (divide by events for the mean).
 * Returns 0, or -1 with err set (out of memory, non-finite η). */
int lr_npll(size_t n, const double *time, const int *event, const double *eta, lr_ties ties,
            lr_npll_result *out, double *grad_sum, lr_err *err);

/* Single-precision η for the training loop: same as lr_npll in double internally; grad_sum in float. */
int lr_npll_f(size_t n, const double *time, const int *event, const float *eta, lr_ties ties,
              lr_npll_result *out, float *grad_sum, lr_err *err);

/* "breslow" / "efron" -> ties; -1 when unknown. */
int lr_ties_parse(const char *name, lr_ties *out);

#endif
