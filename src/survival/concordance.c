#include "survival/concordance.h"

#include "survival/sort_index.h"
#include <math.h>
#include <stdlib.h>

int lr_harrell_cindex(size_t n, const double *time, const int *event, const double *risk, lr_concordance *out,
                      lr_err *err)
{
    *out = (lr_concordance){0, 0, 0, 0, NAN};
    if (n < 2) return 0;
    size_t *by_time = lr_malloc(n, sizeof *by_time, err);
    size_t *by_risk = lr_malloc(n, sizeof *by_risk, err);
    size_t *rank = lr_malloc(n, sizeof *rank, err);       /* 1-based dense rank of risk */
    int64_t *tree = lr_calloc(n + 1, sizeof *tree, err);
    int64_t *at_rank = lr_calloc(n + 1, sizeof *at_rank, err); /* inserted subjects per risk rank */
    int rc = -1;
    if (!by_time || !by_risk || !rank || !tree || !at_rank) goto done;
    if (lr_sort_index(n, time, by_time, err) != 0 || lr_sort_index(n, risk, by_risk, err) != 0) goto done;
    size_t m = lr_dense_ranks(n, risk, by_risk, rank);
    int64_t inserted = 0; /* subjects with time strictly greater than the current group (plus its censored) */
    size_t hi = n;        /* process groups of equal time from the largest down */
    while (hi > 0) {
        size_t lo = hi - 1;
        while (lo > 0 && time[by_time[lo - 1]] == time[by_time[hi - 1]]) lo--;
        for (size_t k = lo; k < hi; k++) {
            size_t i = by_time[k];
            if (!event[i]) {
                lr_fenwick_add(tree, m, rank[i], 1);
                at_rank[rank[i]]++;
                inserted++;
            }
        }
        for (size_t k = lo; k < hi; k++) {
            size_t i = by_time[k];
            if (!event[i]) continue;
            int64_t below = lr_fenwick_prefix(tree, rank[i] - 1);
            int64_t upto = below + at_rank[rank[i]];
            out->concordant += below;              /* later subject with lower risk */
            out->tied_risk += upto - below;
            out->discordant += inserted - upto;
        }
        for (size_t k = lo; k < hi; k++) {
            size_t i = by_time[k];
            if (event[i]) {
                lr_fenwick_add(tree, m, rank[i], 1);
                at_rank[rank[i]]++;
                inserted++;
            }
        }
        hi = lo;
    }
    out->comparable = out->concordant + out->discordant + out->tied_risk;
    if (out->comparable > 0)
        out->cindex = ((double)out->concordant + 0.5 * (double)out->tied_risk) / (double)out->comparable;
    rc = 0;
done:
    free(by_time);
    free(by_risk);
    free(rank);
    free(tree);
    free(at_rank);
    return rc;
}
