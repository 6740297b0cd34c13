/* Cross-validation split: F equal parts with matched joint survival x treatment distributions.
 *
 * Patients are grouped by (arm, event); within a group they are sorted by time and dealt in consecutive
 * blocks of F, each block's patients going to the F parts in a random order — so every part receives
 * one patient from each survival-time block of each arm x event stratum. The group remainders (fewer
 * than F patients) go to the parts with the fewest patients so far (ties broken at random), so part
 * sizes differ by at most one. Deterministic from (cohort, seed, F, repeat); every model uses the same split.
 * Repeated CV: repeat r draws its own random order from the stream (seed, "split", F, r); repeat 0 is the
 * one split of a campaign without repeats (the same parts as before repeats existed).
 * Fold k: test = part k, validation = part (k+1) mod F, training = the other parts. */
#ifndef LR_DATA_SPLIT_H
#define LR_DATA_SPLIT_H

#include <stdint.h>

#include "data/cohort.h"
#include "util/err.h"

enum { LR_ROLE_TRAIN = 0, LR_ROLE_VALID = 1, LR_ROLE_TEST = 2 };

/* part[P] receives each patient's part in [0, folds). */
int lr_split_parts(const lr_cohort *c, int folds, uint64_t seed, int repeat, int *part, lr_err *err);
/* The role (LR_ROLE_*) of a part in fold k. */
int lr_split_role(int part, int fold, int folds);

#endif
