/* Harrell's concordance index with R survival::concordance conventions:
 *  - a pair (i, j) is comparable when the earlier time is an event; an event tied in time with a
 *    censored observation is comparable (the event counts as earlier); two events at the same time
 *    are not comparable;
 *  - higher risk means shorter survival; tied risks count one half.
 * C = (concordant + tied_risk/2) / comparable, comparable = concordant + discordant + tied_risk.
 * O(n log n): a Fenwick tree over risk ranks, times processed from the largest down. */
#ifndef LR_SURVIVAL_CONCORDANCE_H
#define LR_SURVIVAL_CONCORDANCE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct {
    int64_t concordant, discordant, tied_risk, comparable;
    double cindex; /* NaN when no pair is comparable */
} lr_concordance;

/* event[i] is 0 or 1. Returns 0, or -1 (out of memory) with err set. */
int lr_harrell_cindex(size_t n, const double *time, const int *event, const double *risk, lr_concordance *out,
                      lr_err *err);

#endif
