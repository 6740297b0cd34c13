#include "survival/ipcw.h"

#include "survival/sort_index.h"

#include <gsl/gsl_sort.h>
#include <math.h>
#include <stdlib.h>

int lr_censoring_km_left(size_t n, const double *time, const int *event, int deaths_first, double *G_left,
                         lr_err *err)
{
    size_t *order = lr_malloc(n, sizeof *order, err); /* [n] ascending time */
    if (!order || lr_sort_index(n, time, order, err) != 0) {
        free(order);
        return -1;
    }
    double G = 1.0;
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo + 1;
        while (hi < n && time[order[hi]] == time[order[lo]]) hi++;
        double censored = 0.0, deaths = 0.0, at_risk = (double)(n - lo);
        for (size_t k = lo; k < hi; k++) {
            G_left[order[k]] = G;
            if (event[order[k]]) deaths += 1.0;
            else censored += 1.0;
        }
        double denom = at_risk - (deaths_first ? deaths : 0.0);
        if (censored > 0.0 && denom > 0.0) G *= (denom - censored) / denom;
        lo = hi;
    }
    free(order);
    return 0;
}

int lr_uno_cindex(size_t n, const double *time, const int *event, const double *risk, double tau,
                  lr_uno_result *out, lr_err *err)
{
    *out = (lr_uno_result){0.0, 0.0, 0.0, NAN};
    if (n < 2) return 0;
    size_t *by_time = lr_malloc(n, sizeof *by_time, err);
    size_t *by_risk = lr_malloc(n, sizeof *by_risk, err);
    size_t *rank = lr_malloc(n, sizeof *rank, err);
    double *G_left = lr_malloc(n, sizeof *G_left, err);
    int64_t *tree = lr_calloc(n + 1, sizeof *tree, err); /* counts of later subjects by risk rank */
    int rc = -1;
    if (!by_time || !by_risk || !rank || !G_left || !tree) goto done;
    if (lr_censoring_km_left(n, time, event, 1, G_left, err) != 0) goto done;
    if (lr_sort_index(n, time, by_time, err) != 0 || lr_sort_index(n, risk, by_risk, err) != 0) goto done;
    size_t m = lr_dense_ranks(n, risk, by_risk, rank);
    double inserted = 0.0;
    for (size_t hi = n; hi > 0;) {
        size_t lo = hi - 1;
        while (lo > 0 && time[by_time[lo - 1]] == time[by_time[hi - 1]]) lo--;
        for (size_t k = lo; k < hi; k++) /* censored at this time are "later" than its events */
            if (!event[by_time[k]]) {
                lr_fenwick_add(tree, m, rank[by_time[k]], 1);
                inserted += 1.0;
            }
        double t = time[by_time[lo]];
        if (t <= tau) {
            for (size_t k = lo; k < hi; k++) {
                size_t i = by_time[k];
                if (!event[i]) continue;
                double w = 1.0 / (G_left[i] * G_left[i]);
                double below = (double)lr_fenwick_prefix(tree, rank[i] - 1);
                double upto = (double)lr_fenwick_prefix(tree, rank[i]);
                out->concordant += w * below;
                out->tied_risk += w * (upto - below);
                out->discordant += w * (inserted - upto);
            }
        }
        for (size_t k = lo; k < hi; k++)
            if (event[by_time[k]]) {
                lr_fenwick_add(tree, m, rank[by_time[k]], 1);
                inserted += 1.0;
            }
        hi = lo;
    }
    double total = out->concordant + out->discordant + out->tied_risk;
    if (total > 0.0) out->cindex = (out->concordant + 0.5 * out->tied_risk) / total;
    rc = 0;
done:
    free(by_time);
    free(by_risk);
    free(rank);
    free(G_left);
    free(tree);
    return rc;
}

/* Number of values in sorted[0..n) strictly below x, and equal to x. */
static void count_below_equal(const double *sorted, size_t n, double x, size_t *below, size_t *equal)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    *below = lo;
    hi = n;
    size_t start = lo;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] <= x) lo = mid + 1;
        else hi = mid;
    }
    *equal = lo - start;
}

int lr_auc_cd(size_t n, const double *time, const int *event, const double *risk, size_t n_times,
              const double *horizons, double *auc, lr_err *err)
{
    double *G_left = lr_malloc(n, sizeof *G_left, err);
    double *control_risk = lr_malloc(n, sizeof *control_risk, err); /* [<= n] sorted risks of controls */
    int rc = -1;
    if (!G_left || !control_risk) goto done;
    if (lr_censoring_km_left(n, time, event, 0, G_left, err) != 0) goto done;
    for (size_t h = 0; h < n_times; h++) {
        double t = horizons[h];
        size_t n_controls = 0;
        for (size_t j = 0; j < n; j++)
            if (time[j] > t) control_risk[n_controls++] = risk[j];
        gsl_sort(control_risk, 1, n_controls);
        double num = 0.0, den = 0.0;
        for (size_t i = 0; i < n && n_controls > 0; i++) {
            if (!(event[i] && time[i] <= t)) continue;
            size_t below, equal;
            count_below_equal(control_risk, n_controls, risk[i], &below, &equal);
            double w = 1.0 / G_left[i];
            num += w * ((double)below + 0.5 * (double)equal);
            den += w * (double)n_controls;
        }
        auc[h] = den > 0.0 ? num / den : NAN;
    }
    rc = 0;
done:
    free(G_left);
    free(control_risk);
    return rc;
}
