#include "survival/cox.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "survival/sort_index.h"

void lr_cox_fit_free(lr_cox_fit *fit)
{
    free(fit->beta);
    *fit = (lr_cox_fit){0};
}

typedef struct {
    size_t n, p;
    const double *time, *X; /* X centred, [n*p] */
    const int *event;
    const size_t *order;    /* [n] ascending time */
    lr_ties ties;
    double *eta, *w;        /* [n] scratch */
    double *s1, *s2, *d1, *d2, *a; /* risk-set and death sums: [p], [p*p], [p], [p*p], [p] */
} cox_problem;

/* Log partial likelihood at beta, its gradient U[p] and information I[p*p] (either may be NULL). */
static double cox_loglik(cox_problem *c, const double *beta, double *U, double *I)
{
    size_t n = c->n, p = c->p;
    double shift = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double e = 0.0;
        for (size_t j = 0; j < p; j++) e += c->X[i * p + j] * beta[j];
        c->eta[i] = e;
        shift = fmax(shift, e);
    }
    for (size_t i = 0; i < n; i++) c->w[i] = exp(c->eta[i] - shift);
    if (U) memset(U, 0, p * sizeof *U);
    if (I) memset(I, 0, p * p * sizeof *I);
    memset(c->s1, 0, p * sizeof *c->s1);
    memset(c->s2, 0, p * p * sizeof *c->s2);
    double s0 = 0.0, ll = 0.0;
    for (size_t hi = n; hi > 0;) {
        size_t lo = hi - 1;
        while (lo > 0 && c->time[c->order[lo - 1]] == c->time[c->order[hi - 1]]) lo--;
        double d = 0.0, d0 = 0.0;
        memset(c->d1, 0, p * sizeof *c->d1);
        memset(c->d2, 0, p * p * sizeof *c->d2);
        for (size_t k = lo; k < hi; k++) { /* everyone at this time joins the risk set */
            size_t i = c->order[k];
            const double *x = c->X + i * p;
            double w = c->w[i];
            s0 += w;
            for (size_t a = 0; a < p; a++) {
                c->s1[a] += w * x[a];
                for (size_t b = 0; b < p; b++) c->s2[a * p + b] += w * x[a] * x[b];
            }
            if (!c->event[i]) continue;
            d += 1.0;
            d0 += w;
            ll += c->eta[i] - shift;
            for (size_t a = 0; a < p; a++) {
                c->d1[a] += w * x[a];
                if (U) U[a] += x[a];
                for (size_t b = 0; b < p; b++) c->d2[a * p + b] += w * x[a] * x[b];
            }
        }
        size_t steps = d > 0.0 ? (c->ties == LR_TIES_EFRON ? (size_t)d : 1) : 0;
        for (size_t k = 0; k < steps; k++) {
            double f = c->ties == LR_TIES_EFRON ? (double)k / d : 0.0, mult = c->ties == LR_TIES_EFRON ? 1.0 : d;
            double den = s0 - f * d0;
            ll -= mult * log(den);
            for (size_t a = 0; a < p; a++) c->a[a] = (c->s1[a] - f * c->d1[a]) / den;
            for (size_t a = 0; a < p; a++) {
                if (U) U[a] -= mult * c->a[a];
                if (I)
                    for (size_t b = 0; b < p; b++)
                        I[a * p + b] += mult * ((c->s2[a * p + b] - f * c->d2[a * p + b]) / den - c->a[a] * c->a[b]);
            }
        }
        hi = lo;
    }
    return ll;
}

/* Solves I·x = U (Cholesky); inverse into Iinv when non-NULL. Returns 0 or a GSL status. */
static int solve_information(size_t p, double *I, const double *U, double *x, double *Iinv)
{
    gsl_matrix_view m = gsl_matrix_view_array(I, p, p);
    gsl_vector_const_view u = gsl_vector_const_view_array(U, p);
    gsl_vector_view xv = gsl_vector_view_array(x, p);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int status = gsl_linalg_cholesky_decomp1(&m.matrix);
    if (!status) status = gsl_linalg_cholesky_solve(&m.matrix, &u.vector, &xv.vector);
    if (!status && Iinv) {
        status = gsl_linalg_cholesky_invert(&m.matrix);
        if (!status) memcpy(Iinv, I, p * p * sizeof *I);
    }
    gsl_set_error_handler(old);
    return status;
}

int lr_cox_fit_model(size_t n, size_t p, const double *time, const int *event, const double *X, lr_ties ties,
                     lr_cox_fit *fit, lr_err *err)
{
    *fit = (lr_cox_fit){.p = p};
    if (p == 0) return lr_fail(err, "cox: no covariate");
    size_t events = 0;
    for (size_t i = 0; i < n; i++) events += event[i] != 0;
    if (events == 0) return lr_fail(err, "cox: no events among %zu subjects", n);
    for (size_t i = 0; i < n * p; i++)
        if (!isfinite(X[i])) return lr_fail(err, "cox: covariate value %zu is not finite", i);
    size_t scratch = 2 * n + n * p + 3 * p + 2 * p * p + 4 * p + 2 * p * p;
    double *mem = lr_calloc(scratch, sizeof *mem, err);
    size_t *order = lr_malloc(n, sizeof *order, err);
    fit->beta = lr_calloc(2 * p, sizeof *fit->beta, err);
    int rc = -1;
    if (!mem || !order || !fit->beta || lr_sort_index(n, time, order, err) != 0) goto done;
    fit->se = fit->beta + p;
    double *Xc = mem, *cursor = mem + n * p;
    cox_problem c = {.n = n, .p = p, .time = time, .X = Xc, .event = event, .order = order, .ties = ties};
    c.eta = cursor, cursor += n;
    c.w = cursor, cursor += n;
    c.s1 = cursor, cursor += p;
    c.s2 = cursor, cursor += p * p;
    c.d1 = cursor, cursor += p;
    c.d2 = cursor, cursor += p * p;
    c.a = cursor, cursor += p;
    double *U = cursor, *step = cursor + p, *trial = cursor + 2 * p;
    double *I = cursor + 3 * p, *Iinv = cursor + 3 * p + p * p;
    double *sd = Iinv; /* [p] covariate standard deviations, before Iinv is needed */
    for (size_t j = 0; j < p; j++) { /* centre each covariate */
        double mean = 0.0, ss = 0.0;
        for (size_t i = 0; i < n; i++) mean += X[i * p + j];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) {
            Xc[i * p + j] = X[i * p + j] - mean;
            ss += Xc[i * p + j] * Xc[i * p + j];
        }
        sd[j] = sqrt(ss / (double)n);
    }

    double *beta = fit->beta;
    double ll = cox_loglik(&c, beta, U, I);
    fit->loglik_null = ll;
    for (fit->iterations = 0; fit->iterations < 100; fit->iterations++) {
        if (solve_information(p, I, U, step, NULL) != 0) {
            lr_fail(err, "cox: information matrix is singular (constant covariate or separation)");
            goto done;
        }
        double ll_new = -INFINITY;
        for (int halving = 0; halving < 30; halving++) {
            for (size_t j = 0; j < p; j++) trial[j] = beta[j] + step[j];
            ll_new = cox_loglik(&c, trial, NULL, NULL);
            if (isfinite(ll_new) && ll_new >= ll - 1e-12 * fabs(ll)) break;
            for (size_t j = 0; j < p; j++) step[j] *= 0.5;
        }
        if (!isfinite(ll_new)) {
            lr_fail(err, "cox: partial likelihood is not finite");
            goto done;
        }
        memcpy(beta, trial, p * sizeof *beta);
        double change = fabs(ll_new - ll);
        ll = cox_loglik(&c, beta, U, I);
        if (change <= 1e-12 * fabs(ll) || change == 0.0) {
            fit->converged = 1;
            fit->iterations++;
            break;
        }
    }
    for (size_t j = 0; j < p; j++)
        if (!isfinite(beta[j]) || fabs(beta[j]) * sd[j] > 25.0) {
            lr_fail(err, "cox: coefficient %zu diverges (%g): separation, the hazard ratio is infinite", j, beta[j]);
            goto done;
        }
    if (!fit->converged) {
        lr_fail(err, "cox: Newton-Raphson did not converge in 100 iterations");
        goto done;
    }
    fit->loglik = ll;
    if (solve_information(p, I, U, step, Iinv) != 0) {
        lr_fail(err, "cox: information matrix is singular at the estimate");
        goto done;
    }
    for (size_t j = 0; j < p; j++) fit->se[j] = sqrt(Iinv[j * p + j]);
    rc = 0;
done:
    free(mem);
    free(order);
    return rc;
}
