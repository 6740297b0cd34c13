/* Fast stable index sort of doubles (LSD radix on the IEEE bit pattern), for the O(n log n)-or-better
 * survival statistics: gsl_sort_index is a heapsort over indices and dominated n = 10^6 C-index time. */
#ifndef LR_SURVIVAL_SORT_INDEX_H
#define LR_SURVIVAL_SORT_INDEX_H

#include <stddef.h>

#include "util/err.h"

/* order[n] = permutation sorting key ascending; equal keys keep their index order. Keys must not be NaN. */
int lr_sort_index(size_t n, const double *key, size_t *order, lr_err *err);

#endif
