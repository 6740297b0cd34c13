/* A kept model: everything `predict` needs to score lesions of a new cohort with one trained job, with
 * nothing read from the training cohort — the selected checkpoint's values (CNN parameters, BN running
 * statistics, the head: scaler MLP, no_fc constant or mean_largest5 linear head), the architecture, the HU
 * window, lesion cap and patch size, and the size normalisation of the job's training lesions. A shard
 * carries it under /model (lr_kept_model_write_shard); merge copies it into the campaign file's /models rows
 * (data/campaign_schema.h); predict rebuilds the model from it (lr_kept_model_build). */
#ifndef LR_MODEL_KEPT_MODEL_H
#define LR_MODEL_KEPT_MODEL_H

#include <hdf5.h>
#include <stddef.h>

#include "model/lesion_model.h"
#include "util/err.h"

#define LR_KEPT_ARCH_WIDTH 16

typedef struct {
    lr_model_kind kind;
    char arch[LR_KEPT_ARCH_WIDTH]; /* lr_arch_name of the CNN */
    int width;                     /* the CNN's base width */
    int scaler_hidden;             /* size-scaler hidden units */
    int max_lesions;               /* lesions per annotation that enter its risk (the largest) */
    int patch_size;                /* 72 */
    double hu_window[2];           /* HU min, max, mapped to [-1, 1] */
    double size_normalisation[3];  /* mean and sd of ln v, mean v over the job's training lesions (mm³) */
    size_t n_params, n_buffers, n_head; /* values = params [n_params], buffers [n_buffers], head [n_head] */
} lr_kept_model;

/* The description of a trained model m under options o. */
void lr_kept_model_describe(const lr_lesion_model *m, const lr_train_options *o, lr_kept_model *k);
static inline size_t lr_kept_model_n_values(const lr_kept_model *k) { return k->n_params + k->n_buffers + k->n_head; }

/* Shard: /model/values float32 [n], /model/hu_window [2], /model/size_normalisation [3], attributes on /model. */
int lr_kept_model_write_shard(hid_t file, const lr_kept_model *k, const float *params, const float *buffers,
                              const float *head, lr_err *err);
/* 1 when the shard has a kept model (shards of this version, learned jobs that finished). */
int lr_kept_model_in_shard(hid_t file);
/* Reads the description, and the values into a new buffer when values is not NULL. */
int lr_kept_model_read_shard(hid_t file, lr_kept_model *k, float **values, lr_err *err);

/* Builds the lesion model of k (its CNN and head set from values [lr_kept_model_n_values]) and the options
 * scoring uses (o: the caller's defaults, with the CNN, scaler, window and lesion cap of k). Errors name
 * what differs when the values do not fit the architecture. */
int lr_kept_model_build(const lr_kept_model *k, const float *values, lr_train_options *o, lr_lesion_model *m,
                        lr_err *err);

#endif
