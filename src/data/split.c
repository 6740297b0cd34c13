#include "data/split.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_sort.h>
#include <stdlib.h>

#include "util/rng.h"

int lr_split_role(int part, int fold, int folds)
{
    if (part == fold) return LR_ROLE_TEST;
    if (part == (fold + 1) % folds) return LR_ROLE_VALID;
    return LR_ROLE_TRAIN;
}

/* Part with the fewest patients; ties broken by a random rotation. */
static int smallest_part(const size_t *size, int folds, gsl_rng *r)
{
    int start = (int)gsl_rng_uniform_int(r, (unsigned long)folds), best = start;
    for (int k = 1; k < folds; k++) {
        int q = (start + k) % folds;
        if (size[q] < size[best]) best = q;
    }
    return best;
}

int lr_split_parts(const lr_cohort *c, int folds, uint64_t seed, int repeat, int *part, lr_err *err)
{
    size_t P = c->n_patients;
    if (repeat < 0) return lr_fail(err, "split: repeat %d < 0", repeat);
    if (folds < 2 || P < (size_t)folds) return lr_fail(err, "cannot split %zu patients into %d folds", P, folds);
    int16_t arm_min = c->arm[0], arm_max = c->arm[0];
    for (size_t p = 0; p < P; p++) {
        if (c->arm[p] < arm_min) arm_min = c->arm[p];
        if (c->arm[p] > arm_max) arm_max = c->arm[p];
    }
    size_t *idx = lr_malloc(P, sizeof *idx, err);
    double *key = lr_malloc(P, sizeof *key, err);
    size_t *order = lr_malloc(P, sizeof *order, err);
    size_t *members = lr_malloc(P, sizeof *members, err);
    size_t *size = lr_calloc((size_t)folds, sizeof *size, err);
    int *perm = lr_malloc((size_t)folds, sizeof *perm, err);
    /* repeat 0 is the stream every split used before repeated CV (id b = 0): its parts are unchanged */
    gsl_rng *r = lr_rng_stream(seed, "split", folds, repeat, 0);
    int rc = -1;
    if (!idx || !key || !order || !members || !size || !perm || !r) {
        lr_fail(err, "out of memory (split)");
        goto done;
    }
    /* Sort by (arm, event, time, index) via a composite order: time within stratum. */
    for (size_t p = 0; p < P; p++) key[p] = c->time_days[p];
    gsl_sort_index(order, key, 1, P);
    for (int arm = arm_min; arm <= arm_max; arm++) {
        for (int ev = 0; ev <= 1; ev++) {
            size_t n = 0;
            for (size_t k = 0; k < P; k++) {
                size_t p = order[k];
                if (c->arm[p] == arm && c->event[p] == ev) members[n++] = p;
            }
            size_t full = n - n % (size_t)folds;
            for (size_t b = 0; b < full; b += (size_t)folds) {
                for (int k = 0; k < folds; k++) perm[k] = k;
                gsl_ran_shuffle(r, perm, (size_t)folds, sizeof *perm);
                for (int k = 0; k < folds; k++) {
                    part[members[b + (size_t)k]] = perm[k];
                    size[perm[k]]++;
                }
            }
            for (size_t m = full; m < n; m++) {
                int q = smallest_part(size, folds, r);
                part[members[m]] = q;
                size[q]++;
            }
        }
    }
    rc = 0;
done:
    free(idx);
    free(key);
    free(order);
    free(members);
    free(size);
    free(perm);
    if (r) gsl_rng_free(r);
    return rc;
}
