/* Orders and ranks for the O(n log n) concordance statistics (Harrell's and Uno's C): a fast stable index
 * sort of doubles (LSD radix on the IEEE bit pattern; gsl_sort_index is a heapsort over indices and
 * dominated n = 10^6 C-index time), dense ranks, and a Fenwick tree counting subjects by rank. */
#ifndef LR_SURVIVAL_SORT_INDEX_H
#define LR_SURVIVAL_SORT_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* order[n] = permutation sorting key ascending; equal keys keep their index order. Keys must not be NaN. */
int lr_sort_index(size_t n, const double *key, size_t *order, lr_err *err);

/* rank[i] = 1-based dense rank of key[i] (equal keys share a rank), given order from lr_sort_index.
 * Returns the number of distinct keys. */
size_t lr_dense_ranks(size_t n, const double *key, const size_t *order, size_t *rank);

/* Fenwick (binary indexed) tree of counts over positions 1..m in tree[m + 1] (zeroed by the caller):
 * add v at pos, and the sum over positions 1..pos, in O(log m). Inline: they are the inner loop. */
static inline void lr_fenwick_add(int64_t *tree, size_t m, size_t pos, int64_t v)
{
    for (; pos <= m; pos += pos & (~pos + 1)) tree[pos] += v;
}

static inline int64_t lr_fenwick_prefix(const int64_t *tree, size_t pos)
{
    int64_t s = 0;
    for (; pos > 0; pos -= pos & (~pos + 1)) s += tree[pos];
    return s;
}

#endif
