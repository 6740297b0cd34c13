#include "survival/sort_index.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Monotone map double -> uint64: flip all bits of negatives, the sign bit of positives. */
static uint64_t ordered_bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return (u >> 63) ? ~u : u ^ UINT64_C(0x8000000000000000);
}

enum { DIGIT_BITS = 11, BUCKETS = 1 << DIGIT_BITS, PASSES = (64 + DIGIT_BITS - 1) / DIGIT_BITS };

static void insertion_sort(size_t n, const uint64_t *bits, size_t *order)
{
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = 1; i < n; i++) {
        size_t v = order[i], j = i;
        while (j > 0 && bits[order[j - 1]] > bits[v]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

int lr_sort_index(size_t n, const double *key, size_t *order, lr_err *err)
{
    uint64_t *bits = lr_malloc(2 * n, sizeof *bits, err);       /* [2][n] keys, ping-pong */
    size_t *idx = lr_malloc(n, sizeof *idx, err);               /* [n] the other index buffer */
    size_t *count = lr_malloc(BUCKETS, sizeof *count, err);     /* [BUCKETS] */
    if (!bits || !idx || !count) {
        free(bits);
        free(idx);
        free(count);
        return -1;
    }
    for (size_t i = 0; i < n; i++) bits[i] = ordered_bits(key[i]);
    if (n < 64) {
        insertion_sort(n, bits, order);
        goto done;
    }
    uint64_t *src_bits = bits, *dst_bits = bits + n;
    size_t *src_idx = order, *dst_idx = idx;
    for (size_t i = 0; i < n; i++) src_idx[i] = i;
    for (int pass = 0; pass < PASSES; pass++) {
        int shift = pass * DIGIT_BITS;
        memset(count, 0, BUCKETS * sizeof *count);
        for (size_t i = 0; i < n; i++) count[(src_bits[i] >> shift) & (BUCKETS - 1)]++;
        if (count[(src_bits[0] >> shift) & (BUCKETS - 1)] == n) continue; /* digit constant: skip */
        size_t sum = 0;
        for (size_t b = 0; b < BUCKETS; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t pos = count[(src_bits[i] >> shift) & (BUCKETS - 1)]++;
            dst_bits[pos] = src_bits[i];
            dst_idx[pos] = src_idx[i];
        }
        uint64_t *tb = src_bits;
        src_bits = dst_bits;
        dst_bits = tb;
        size_t *ti = src_idx;
        src_idx = dst_idx;
        dst_idx = ti;
    }
    if (src_idx != order) memcpy(order, src_idx, n * sizeof *order);
done:
    free(bits);
    free(idx);
    free(count);
    return 0;
}

size_t lr_dense_ranks(size_t n, const double *key, const size_t *order, size_t *rank)
{
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        if (k == 0 || key[order[k]] != key[order[k - 1]]) m++;
        rank[order[k]] = m;
    }
    return m;
}
