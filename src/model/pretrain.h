/* Pretraining for the two ResNet50 rows when no ImageNet/RadImageNet weights file is configured:
 * a ResNet50 learns to classify lesion organ on a synthetic corpus generated with a different seed
 * (disjoint from the cohort). Honest provenance: reports say "pretrained: synthetic organ task". */
#ifndef LR_MODEL_PRETRAIN_H
#define LR_MODEL_PRETRAIN_H

#include <stddef.h>

#include "model/model.h"
#include "util/err.h"

/* Makes sure o->pretrain_path holds weights for these settings (trains them when missing; reuses them
 * when present and made with the same settings; fails when present with other settings).
 * desc receives the provenance string. */
int lr_pretrain_organ_ensure(const lr_train_options *o, char *desc, size_t desc_size, lr_err *err);
/* 1 when o->pretrain_path exists and was made with these settings, 0 otherwise. */
int lr_pretrain_organ_current(const lr_train_options *o);
/* Train and write (temporary name + rename). verbose: progress lines on stdout. */
int lr_pretrain_organ_run(const lr_train_options *o, int verbose, lr_err *err);

#endif
