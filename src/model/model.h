/* The lesion prioritization model, its Table 2 variants, and the options of one training job.
 * Plain structs: experiment files are parsed in src/runner/config.c into lr_train_options (its key table
 * holds every default: lr_experiment_defaults). */
#ifndef LR_MODEL_MODEL_H
#define LR_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    LR_MODEL_PROPOSED,
    LR_MODEL_NO_FC,
    LR_MODEL_NO_SCALER,
    LR_MODEL_MEAN_LARGEST5,
    LR_MODEL_WHOLE_VOLUME,
    LR_MODEL_IMAGENET_RESNET50,
    LR_MODEL_RADIMAGENET_RESNET50,
    LR_MODEL_TOTAL_VOLUME,
    LR_MODEL_SUM_DIAMETERS,
    LR_MODEL_LESION_COUNT,
    LR_N_MODELS
} lr_model_kind;

/* "proposed", "no_fc", ... -> kind; -1 when unknown. */
int lr_model_parse(const char *name, lr_model_kind *kind);
const char *lr_model_name(lr_model_kind kind);
int lr_model_is_learned(lr_model_kind kind);
int lr_model_uses_resnet50(lr_model_kind kind);
/* Checkpoint rule of Table 2: 1 = best validation C (the starred ResNet50 rows), 0 = last epoch. */
int lr_model_selects_best(lr_model_kind kind);

#define LR_PATH_MAX 1024

typedef struct {
    /* optimisation */
    int epochs;              /* 30 as in the paper */
    int batch_annotations;   /* annotations per mini-batch (NPLL risk sets are within the batch) */
    int max_lesions;         /* per annotation; when more, the largest by volume are kept (paper: 40) */
    double lr, weight_decay;
    int ties;                /* lr_ties: 0 Breslow, 1 Efron */
    int eval_every;          /* evaluate C on every split every k epochs (and always at the last) */
    /* 2D scorer input */
    int width;               /* ResNet18 base width (paper 64) */
    double hu_min, hu_max;   /* HU window, mapped to [-1, 1] after clipping */
    /* size scaler */
    int scaler_hidden;       /* hidden units of the two hidden layers */
    /* augmentation (per lesion patch per step) */
    int augment;
    double aug_shift;        /* max shift as a fraction of the patch side */
    double aug_scale;        /* scale factor drawn in [1 - s, 1 + s] */
    double aug_rotate_deg;   /* rotation drawn in [-r, r] degrees */
    int aug_flip;            /* random horizontal and vertical flips */
    /* ResNet50 rows */
    int r50_width;
    char imagenet_weights[LR_PATH_MAX];    /* torchvision-layout HDF5, "" = none */
    char radimagenet_weights[LR_PATH_MAX];
    char pretrain_path[LR_PATH_MAX];       /* where the synthetic organ pretraining writes its weights */
    char pretrain_generic_path[LR_PATH_MAX]; /* where the formula-driven (fractal) pretraining writes its weights */
    int pretrain_patients, pretrain_epochs;
    uint64_t pretrain_seed;                /* cohort seed of the pretraining corpus (disjoint from the cohort) */
    /* whole volume */
    int wv_width;
    double wv_spacing_mm[3]; /* z, y, x */
    int wv_crop[3];          /* D, H, W */
    int wv_batch;            /* patients per mini-batch */
    int wv_augment;          /* augment volumes (with augment.*) when augment.enabled */
} lr_train_options;

#endif
