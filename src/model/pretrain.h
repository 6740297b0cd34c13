/* Pretraining for the two ResNet50 rows when no ImageNet/RadImageNet weights file is configured, one task
 * per row so the rows differ in what their weights learned, not only in seeds:
 *   LR_PRETRAIN_FRACTAL  the "ImageNet" row: a generic, non-medical, natural-image-free classification task,
 *                        formula-driven images in the spirit of FractalDB (Kataoka et al., ACCV 2020): each
 *                        class is a random contractive iterated function system (2-4 affine maps, kept when
 *                        its attractor fills enough of the image), each image a chaos-game rendering of its
 *                        class's system with per-image parameter jitter, scale and shift (rotation and flips come from
 *                        the training augmentation, as FractalDB renders upright).
 *   LR_PRETRAIN_ORGAN    the "RadImageNet" row: the radiology task, classify lesion organ on a synthetic CT
 *                        corpus generated with a different seed (disjoint from the cohort).
 * Both train the same ResNet50 the same way (Adam, cross-entropy, the training patch pipeline) on a labelled
 * patch corpus held as an lr_cohort (patch = image, organ = class). Honest provenance: reports say which task,
 * never "ImageNet". */
#ifndef LR_MODEL_PRETRAIN_H
#define LR_MODEL_PRETRAIN_H

#include <stddef.h>

#include "data/cohort.h"
#include "model/model.h"
#include "util/err.h"

typedef enum { LR_PRETRAIN_ORGAN, LR_PRETRAIN_FRACTAL, LR_PRETRAIN_N_TASKS } lr_pretrain_task;

#define LR_FRACTAL_CLASSES 16
#define LR_FRACTAL_IMAGES_PER_PATIENT 12 /* corpus size = pretrain.patients x this (about the organ corpus') */

/* The task whose weights a model row loads when it has no weights file (kind: a ResNet50 row). */
lr_pretrain_task lr_pretrain_task_of(lr_model_kind kind);
const char *lr_pretrain_task_name(lr_pretrain_task t); /* "organ", "fractal" */
/* Where the task's weights live (o->pretrain_path or o->pretrain_generic_path). */
const char *lr_pretrain_path(const lr_train_options *o, lr_pretrain_task t);
/* The provenance string of the task's weights under these settings. */
void lr_pretrain_describe(const lr_train_options *o, lr_pretrain_task t, char *desc, size_t n);

/* Makes sure the task's weights exist for these settings (trains them when missing; reuses them when present
 * and made with the same settings; fails when present with other settings). desc receives the provenance. */
int lr_pretrain_ensure(const lr_train_options *o, lr_pretrain_task t, char *desc, size_t desc_size, lr_err *err);
/* 1 when the task's weights exist and were made with these settings, 0 otherwise. */
int lr_pretrain_current(const lr_train_options *o, lr_pretrain_task t);
/* Train and write (temporary name + rename). verbose: progress lines on stdout. */
int lr_pretrain_run(const lr_train_options *o, lr_pretrain_task t, int verbose, lr_err *err);

/* The formula-driven corpus: n images (72 x 72, values in [-1000, 1000] like HU so the CNN's window applies)
 * with class labels in /lesions/organ (organ names "fractal_00".."fractal_15"), deterministic in seed. */
int lr_fractal_corpus(uint64_t seed, size_t n, lr_cohort *c, lr_err *err);

#endif
