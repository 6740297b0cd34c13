#include "survival/npll.h"

#include "survival/sort_index.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A sum of exponentials kept as exp(shift) * scaled, so it never overflows whatever η is. */
typedef struct {
    double shift, scaled; /* empty: shift = -inf, scaled = 0 */
} expsum;

static void expsum_add(expsum *acc, double shift, double scaled)
{
    if (scaled == 0.0) return;
    if (acc->scaled == 0.0) {
        acc->shift = shift;
        acc->scaled = scaled;
    } else if (shift > acc->shift) {
        acc->scaled = acc->scaled * exp(acc->shift - shift) + scaled;
        acc->shift = shift;
    } else {
        acc->scaled += scaled * exp(shift - acc->shift);
    }
}

/* acc expressed relative to `shift` (which must be >= acc->shift or acc empty). */
static double expsum_at(const expsum *acc, double shift)
{
    return acc->scaled == 0.0 ? 0.0 : acc->scaled * exp(acc->shift - shift);
}

/* Per distinct event time (in the order found: latest first), what the gradient pass needs. */
typedef struct {
    size_t lo, hi;      /* range in the time-sorted order */
    double shift;       /* M: denominators are exp(M) * (...) */
    double log_coef;    /* log Σ_k 1/denominator_k, relative to exp(-M) */
    double own_coef;    /* Efron: Σ_k (k/d)/denominator_k, relative to exp(-M), removed for the group's events */
} event_group;

int lr_ties_parse(const char *name, lr_ties *out)
{
    if (!strcmp(name, "breslow")) *out = LR_TIES_BRESLOW;
    else if (!strcmp(name, "efron")) *out = LR_TIES_EFRON;
    else return -1;
    return 0;
}

int lr_npll(size_t n, const double *time, const int *event, const double *eta, lr_ties ties,
            lr_npll_result *out, double *grad_sum, lr_err *err)
{
    *out = (lr_npll_result){0.0, 0.0, 0, 1};
    if (grad_sum) memset(grad_sum, 0, n * sizeof *grad_sum);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(eta[i])) return lr_fail(err, "npll: risk %zu is not finite (%g)", i, eta[i]);
    if (n == 0) return 0;
    size_t *order = lr_malloc(n, sizeof *order, err);      /* [n] ascending time */
    event_group *groups = lr_malloc(n, sizeof *groups, err); /* [<= n] */
    if (!order || !groups || lr_sort_index(n, time, order, err) != 0) {
        free(order);
        free(groups);
        return -1;
    }

    expsum risk_set = {-INFINITY, 0.0};
    size_t n_groups = 0;
    double loss = 0.0;
    for (size_t hi = n; hi > 0;) {
        size_t lo = hi - 1;
        while (lo > 0 && time[order[lo - 1]] == time[order[hi - 1]]) lo--;
        expsum dead = {-INFINITY, 0.0}; /* the events at this time */
        size_t d = 0;
        for (size_t k = lo; k < hi; k++) {
            size_t i = order[k];
            if (event[i]) {
                expsum_add(&dead, eta[i], 1.0);
                loss -= eta[i];
                d++;
            } else {
                expsum_add(&risk_set, eta[i], 1.0); /* censored at t are at risk at t */
            }
        }
        if (d > 0) {
            double shift = fmax(risk_set.shift, dead.shift);
            double others = expsum_at(&risk_set, shift), dsum = expsum_at(&dead, shift);
            double coef = 0.0, own = 0.0;
            if (ties == LR_TIES_BRESLOW) {
                double denom = others + dsum;
                loss += (double)d * (shift + log(denom));
                coef = (double)d / denom;
            } else {
                for (size_t k = 0; k < d; k++) {
                    double frac = (double)k / (double)d;
                    double denom = others + (1.0 - frac) * dsum; /* no cancellation: both terms >= 0 */
                    loss += shift + log(denom);
                    coef += 1.0 / denom;
                    own += frac / denom;
                }
            }
            groups[n_groups++] = (event_group){lo, hi, shift, log(coef), own};
            out->events += d;
        }
        expsum_add(&risk_set, dead.shift, dead.scaled);
        hi = lo;
    }
    out->sum = loss;
    out->no_events = out->events == 0;
    out->mean = out->events ? loss / (double)out->events : 0.0;
    if (out->no_events) out->sum = 0.0;

    if (grad_sum && out->events) {
        /* dL/dη_j = exp(η_j) Σ_{groups g at or before t_j} Σ_k 1/denom_gk  - δ_j  (- Efron own-group part).
         * The running sum over g is kept as a log so exp(η_j + log_cum) never overflows. */
        double log_cum = -INFINITY;
        size_t next = 0; /* first subject (sorted) not yet assigned */
        for (size_t g = n_groups; g-- > 0;) {
            const event_group *grp = &groups[g];
            /* subjects before this group's time belong to the previous cumulative sum */
            for (; next < grp->lo; next++) {
                size_t j = order[next];
                grad_sum[j] = (log_cum == -INFINITY ? 0.0 : exp(eta[j] + log_cum)) - event[j];
            }
            double term = grp->log_coef - grp->shift;
            log_cum = log_cum == -INFINITY ? term
                                           : fmax(log_cum, term) + log1p(exp(-fabs(log_cum - term)));
            for (; next < grp->hi; next++) {
                size_t j = order[next];
                grad_sum[j] = exp(eta[j] + log_cum) - event[j];
                if (event[j] && grp->own_coef > 0.0) grad_sum[j] -= exp(eta[j] - grp->shift) * grp->own_coef;
            }
        }
        for (; next < n; next++) {
            size_t j = order[next];
            grad_sum[j] = exp(eta[j] + log_cum) - event[j];
        }
    }
    free(order);
    free(groups);
    return 0;
}

int lr_npll_f(size_t n, const double *time, const int *event, const float *eta, lr_ties ties,
              lr_npll_result *out, float *grad_sum, lr_err *err)
{
    double *eta_d = lr_malloc(n, sizeof *eta_d, err);
    double *grad_d = grad_sum ? lr_malloc(n, sizeof *grad_d, err) : NULL;
    int rc = -1;
    if (!eta_d || (grad_sum && !grad_d)) goto done;
    for (size_t i = 0; i < n; i++) eta_d[i] = eta[i];
    if (lr_npll(n, time, event, eta_d, ties, out, grad_d, err) != 0) goto done;
    if (grad_sum)
        for (size_t i = 0; i < n; i++) grad_sum[i] = (float)grad_d[i];
    rc = 0;
done:
    free(eta_d);
    free(grad_d);
    return rc;
}
